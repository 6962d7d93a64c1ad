/*
 * CPU kernels of 3_CUDA_Features/cdpBezierTessellation: a kernel per line that allocates the line's
 * vertices from the device heap (the device runtime's cudaMalloc: the emulator's heap_alloc) and
 * launches a child grid that fills them, then a kernel that frees them (heap_free). Child grids run
 * after their parent's (native/fakes/cuda/gpupool_emu_device_launch.h).
 */
#include "kernels.h"

#include "gpupool_emu_device_launch.h"

#include <math.h>

enum { MAX_TESSELLATION = 32 };

/* struct BezierLine { float2 CP[3]; float2 *vertexPos; int nVertices; } as nvcc lays it out. */
typedef struct {
    float cp[3][2];
    CUdeviceptr vertex_pos;
    int n_vertices;
    int pad;
} bezier_line;

typedef struct {
    int lidx;
    CUdeviceptr lines;
    int n_tess_points;
} positions_args;

static float length2(float x, float y) { return sqrtf(x * x + y * y); }

/*
 * computeBezierLinePositions(lidx, bLines, nTessPoints): thread idx < nTessPoints writes the point at
 * u = idx / (nTessPoints - 1) of line lidx's quadratic Bezier curve to its vertexPos[idx].
 */
static int positions_body(device_launches *q, const gpupool_emu_launch *l, const void *raw)
{
    (void)q;
    const positions_args *a = raw;
    bezier_line *line = DEVICE(l, a->lines + (CUdeviceptr)a->lidx * sizeof(bezier_line), 1, sizeof(bezier_line));
    NEED(line);
    size_t threads = grid_threads(l);
    for (size_t idx = 0; idx < threads && idx < (size_t)(a->n_tess_points > 0 ? a->n_tess_points : 0); idx++) {
        float u = (float)idx / (float)(a->n_tess_points - 1), omu = 1.0f - u;
        float b3u[3] = { omu * omu, 2.0f * u * omu, u * u };
        float pos[2] = { 0, 0 };
        for (int i = 0; i < 3; i++) {
            pos[0] = pos[0] + b3u[i] * line->cp[i][0];
            pos[1] = pos[1] + b3u[i] * line->cp[i][1];
        }
        float *out = DEVICE(l, line->vertex_pos + idx * 2 * sizeof(float), 2, sizeof(float));
        NEED(out);
        out[0] = pos[0];
        out[1] = pos[1];
    }
    return CUDA_SUCCESS;
}

static int bezier_positions(const gpupool_emu_launch *l, void **params)
{
    positions_args a = { PARAM(int, params, 0), PARAM(CUdeviceptr, params, 1), PARAM(int, params, 2) };
    return run_with_children(l, positions_body, &a);
}

typedef struct {
    CUdeviceptr lines;
    int n_lines;
} lines_args;

/*
 * computeBezierLinesCDP(bLines, nLines): thread lidx < nLines takes its line's curvature, the
 * distance of CP[1] from the middle of CP[0]..CP[2] over that chord's length, as
 * min(max(curvature * 16, 4), 32) points; a line with no vertices yet gets them from the device heap
 * (cudaMalloc), and the thread launches computeBezierLinePositions<<<ceil(n / 32), 32>>>.
 */
static int lines_body(device_launches *q, const gpupool_emu_launch *l, const void *raw)
{
    const lines_args *a = raw;
    size_t threads = grid_threads(l);
    for (size_t lidx = 0; lidx < threads && lidx < (size_t)(a->n_lines > 0 ? a->n_lines : 0); lidx++) {
        bezier_line *line = DEVICE(l, a->lines + lidx * sizeof(bezier_line), 1, sizeof(bezier_line));
        NEED(line);
        float mx = line->cp[1][0] - 0.5f * (line->cp[0][0] + line->cp[2][0]);
        float my = line->cp[1][1] - 0.5f * (line->cp[0][1] + line->cp[2][1]);
        float curvature = length2(mx, my) / length2(line->cp[2][0] - line->cp[0][0], line->cp[2][1] - line->cp[0][1]);
        int n = (int)(curvature * 16.0f);
        n = n < 4 ? 4 : n > MAX_TESSELLATION ? MAX_TESSELLATION : n;
        if (line->vertex_pos == 0) {
            line->n_vertices = n;
            line->vertex_pos = l->heap_alloc(l, (size_t)n * 2 * sizeof(float)); /* 0 when the heap is full, as cudaMalloc's NULL */
        }
        positions_args child = { (int)lidx, a->lines, line->n_vertices };
        int rc = device_launch_1d(q, positions_body, (unsigned)ceilf((float)line->n_vertices / 32.0f), 32, &child, sizeof child);
        if (rc != CUDA_SUCCESS)
            return rc;
    }
    return CUDA_SUCCESS;
}

static int bezier_lines(const gpupool_emu_launch *l, void **params)
{
    lines_args a = { PARAM(CUdeviceptr, params, 0), PARAM(int, params, 1) };
    return run_with_children(l, lines_body, &a);
}

/* freeVertexMem(bLines, nLines): thread lidx < nLines frees its line's vertices (cudaFree). */
static int bezier_free(const gpupool_emu_launch *l, void **params)
{
    CUdeviceptr lines = PARAM(CUdeviceptr, params, 0);
    int n_lines = PARAM(int, params, 1);
    size_t threads = grid_threads(l);
    for (size_t lidx = 0; lidx < threads && lidx < (size_t)(n_lines > 0 ? n_lines : 0); lidx++) {
        bezier_line *line = DEVICE(l, lines + lidx * sizeof(bezier_line), 1, sizeof(bezier_line));
        NEED(line);
        int rc = l->heap_free(l, line->vertex_pos);
        if (rc != CUDA_SUCCESS)
            return rc;
    }
    return CUDA_SUCCESS;
}

const gpupool_emu_kernel bezier_kernels[] = {
    KERNEL("_Z26computeBezierLinePositionsiP10BezierLinei", bezier_positions, 4, 8, 4),
    KERNEL("_Z21computeBezierLinesCDPP10BezierLinei", bezier_lines, 8, 4),
    KERNEL("_Z13freeVertexMemP10BezierLinei", bezier_free, 8, 4),
};
const unsigned bezier_kernel_count = COUNT(bezier_kernels);
