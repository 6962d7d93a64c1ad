/*
 * CPU implementations of the kernels of test_kernels.cu, under their nvcc mangled names, for the
 * emulated CUDA driver (docs/emulator.md). Load with GPUPOOL_EMU_KERNELS=<path of this library>.
 *
 * Each kernel computes what its CUDA version would: thread i of the x dimension handles element i
 * (the y and z dimensions only repeat the same work, as in the .cu code).
 */
#include "../gpupool_emu.h"
#include "../gpupool_emu_device_launch.h"

#include <signal.h>
#include <stdint.h>
#include <string.h>

/* Threads along x: the elements a 1-D grid covers. */
static size_t threads_x(const gpupool_emu_launch *l)
{
    return (size_t)l->grid[0] * l->block[0];
}

/* min(n, threads), for the "if (i < n)" guard of the CUDA code. */
static size_t covered(const gpupool_emu_launch *l, long long n)
{
    if (n <= 0)
        return 0;
    size_t t = threads_x(l);
    return (unsigned long long)n < t ? (size_t)n : t;
}

static CUdeviceptr ptr_param(void **params, int i)
{
    CUdeviceptr p;
    memcpy(&p, params[i], sizeof p);
    return p;
}

static int int_param(void **params, int i)
{
    int v;
    memcpy(&v, params[i], sizeof v);
    return v;
}

static float float_param(void **params, int i)
{
    float v;
    memcpy(&v, params[i], sizeof v);
    return v;
}

/* __global__ void vadd(const float *a, const float *b, float *c, int n) */
static int vadd(const gpupool_emu_launch *l, void **params)
{
    size_t n = covered(l, int_param(params, 3)), bytes = n * sizeof(float);
    if (n == 0)
        return CUDA_SUCCESS;
    const float *a = l->memory(l, ptr_param(params, 0), bytes);
    const float *b = l->memory(l, ptr_param(params, 1), bytes);
    float *c = l->memory(l, ptr_param(params, 2), bytes);
    if (a == NULL || b == NULL || c == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (size_t i = 0; i < n; i++)
        c[i] = a[i] + b[i];
    return CUDA_SUCCESS;
}

/* __global__ void saxpy(float a, const float *x, float *y, int n) */
static int saxpy(const gpupool_emu_launch *l, void **params)
{
    float a = float_param(params, 0);
    size_t n = covered(l, int_param(params, 3)), bytes = n * sizeof(float);
    if (n == 0)
        return CUDA_SUCCESS;
    const float *x = l->memory(l, ptr_param(params, 1), bytes);
    float *y = l->memory(l, ptr_param(params, 2), bytes);
    if (x == NULL || y == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (size_t i = 0; i < n; i++)
        y[i] = a * x[i] + y[i];
    return CUDA_SUCCESS;
}

/* __global__ void fill_u32(unsigned *p, unsigned v, size_t n) */
static int fill_u32(const gpupool_emu_launch *l, void **params)
{
    unsigned v;
    size_t n;
    memcpy(&v, params[1], sizeof v);
    memcpy(&n, params[2], sizeof n);
    size_t t = threads_x(l);
    n = n < t ? n : t;
    if (n == 0)
        return CUDA_SUCCESS;
    unsigned *p = l->memory(l, ptr_param(params, 0), n * sizeof(unsigned));
    if (p == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (size_t i = 0; i < n; i++)
        p[i] = v;
    return CUDA_SUCCESS;
}

/* __global__ void scale(float *p, float s, int n) */
static int scale(const gpupool_emu_launch *l, void **params)
{
    float s = float_param(params, 1);
    size_t n = covered(l, int_param(params, 2));
    if (n == 0)
        return CUDA_SUCCESS;
    float *p = l->memory(l, ptr_param(params, 0), n * sizeof(float));
    if (p == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (size_t i = 0; i < n; i++)
        p[i] *= s;
    return CUDA_SUCCESS;
}

/* __global__ void poke(unsigned long long addr): one 4-byte store through a raw address. */
static int poke(const gpupool_emu_launch *l, void **params)
{
    uint32_t *p = l->memory(l, ptr_param(params, 0), sizeof *p);
    if (p == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    *p = 0xdeadbeefu;
    return CUDA_SUCCESS;
}

/* __global__ void spin(int n): no effect; its duration is GPUPOOL_EMU_KERNEL_NS. */
static int spin(const gpupool_emu_launch *l, void **params)
{
    (void)l;
    (void)params;
    return CUDA_SUCCESS;
}

/* __global__ void spin_ns(unsigned long long ns): takes ns of modelled device time. */
static int spin_ns(const gpupool_emu_launch *l, void **params)
{
    ((gpupool_emu_launch *)l)->device_ns = *(const unsigned long long *)params[0];
    return CUDA_SUCCESS;
}

/*
 * __global__ void fault_process(int): a kernel that takes down the process running it (the supervision
 * tests' crash inside a kernel, test/compute/worker-process.test.ts); on a GPU it traps.
 */
static int fault_process(const gpupool_emu_launch *l, void **params)
{
    (void)l;
    (void)params;
    raise(SIGSEGV);
    return CUDA_ERROR_LAUNCH_FAILED;
}

/*
 * __constant__ float poly_coeffs[4]; __device__ unsigned poly_calls;
 * __global__ void poly(const float *x, float *y, int n): the module's variables through launch->global.
 */
static int poly(const gpupool_emu_launch *l, void **params)
{
    size_t n = covered(l, int_param(params, 2)), bytes = n * sizeof(float), have = 0;
    const float *c = l->global(l, "poly_coeffs", &have);
    unsigned *calls = l->global(l, "poly_calls", NULL);
    if (c == NULL || have < 4 * sizeof(float) || calls == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    const float *x = n ? l->memory(l, ptr_param(params, 0), bytes) : NULL;
    float *y = n ? l->memory(l, ptr_param(params, 1), bytes) : NULL;
    if (n && (x == NULL || y == NULL))
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (size_t i = 0; i < n; i++)
        y[i] = c[0] + x[i] * (c[1] + x[i] * (c[2] + x[i] * c[3]));
    (*calls)++;
    return CUDA_SUCCESS;
}

/* __global__ void greet(int round): a printf per thread, blocks in order, threads in order. */
static int greet(const gpupool_emu_launch *l, void **params)
{
    int round = int_param(params, 0);
    for (unsigned b = 0; b < l->grid[0]; b++)
        for (unsigned t = 0; t < l->block[0]; t++)
            l->printf(l, "round %d: block %u thread %u\n", round, b, t);
    return CUDA_SUCCESS;
}

static unsigned long long u64_param(void **params, int i)
{
    unsigned long long v;
    memcpy(&v, params[i], sizeof v);
    return v;
}

/* Threads of the grid along x and y: the elements a 2-D launch covers. */
static size_t threads_y(const gpupool_emu_launch *l)
{
    return (size_t)l->grid[1] * l->block[1];
}

/* __global__ void tex_sample(cudaTextureObject_t tex, float *out, int w, int h, float dx, float dy, int norm) */
static int tex_sample(const gpupool_emu_launch *l, void **params)
{
    unsigned long long tex = u64_param(params, 0);
    int w = int_param(params, 2), h = int_param(params, 3), norm = int_param(params, 6);
    float dx = float_param(params, 4), dy = float_param(params, 5);
    size_t cw = w > 0 && (size_t)w < threads_x(l) ? (size_t)w : threads_x(l), ch = h > 0 && (size_t)h < threads_y(l) ? (size_t)h : threads_y(l);
    if (w <= 0 || h <= 0)
        return CUDA_SUCCESS;
    float *out = l->memory(l, ptr_param(params, 1), (size_t)w * (size_t)h * sizeof(float));
    if (out == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (size_t y = 0; y < ch; y++)
        for (size_t x = 0; x < cw; x++) {
            float u = (float)x + dx, v = (float)y + dy, texel[4];
            if (norm) {
                u /= (float)w;
                v /= (float)h;
            }
            int rc = l->texture(l, tex, u, v, 0.0f, texel);
            if (rc != CUDA_SUCCESS)
                return rc;
            out[y * (size_t)w + x] = texel[0];
        }
    return CUDA_SUCCESS;
}

/* __global__ void tex_lod(cudaTextureObject_t tex, float *out, const float *lods, int n): thread i samples
 * the middle of a mipmapped texture at level of detail lods[i]. */
static int tex_lod(const gpupool_emu_launch *l, void **params)
{
    unsigned long long tex = u64_param(params, 0);
    size_t n = covered(l, int_param(params, 3));
    if (n == 0)
        return CUDA_SUCCESS;
    float *out = l->memory(l, ptr_param(params, 1), n * sizeof(float));
    const float *lods = l->memory(l, ptr_param(params, 2), n * sizeof(float));
    if (out == NULL || lods == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (size_t i = 0; i < n; i++) {
        float texel[4];
        int rc = l->texture_lod(l, tex, 0.5f, 0.5f, 0.0f, lods[i], texel);
        if (rc != CUDA_SUCCESS)
            return rc;
        out[i] = texel[0];
    }
    return CUDA_SUCCESS;
}

/* __global__ void tex_uint2(cudaTextureObject_t tex, unsigned *out): the texel at (0.5, 0.5) as uint2. */
static int tex_uint2(const gpupool_emu_launch *l, void **params)
{
    uint32_t texel[4];
    unsigned *out = l->memory(l, ptr_param(params, 1), 2 * sizeof(unsigned));
    if (out == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    int rc = l->texture_lod(l, u64_param(params, 0), 0.5f, 0.5f, 0.0f, 0.0f, texel);
    if (rc == CUDA_SUCCESS)
        memcpy(out, texel, 2 * sizeof(unsigned));
    return rc;
}

/* __global__ void surf_fill(cudaSurfaceObject_t surf, int w, int h) */
static int surf_fill(const gpupool_emu_launch *l, void **params)
{
    unsigned long long surf = u64_param(params, 0);
    int w = int_param(params, 1), h = int_param(params, 2);
    for (size_t y = 0; h > 0 && y < (size_t)h && y < threads_y(l); y++)
        for (size_t x = 0; w > 0 && x < (size_t)w && x < threads_x(l); x++) {
            float v = (float)x + 1000.0f * (float)y;
            int rc = l->surface(l, surf, x * sizeof v, y, 0, &v, sizeof v, 1);
            if (rc != CUDA_SUCCESS)
                return rc;
        }
    return CUDA_SUCCESS;
}

/*
 * __global__ void grid_sum(const int *in, int *out, int n), launched cooperatively: phase 1, each block
 * adds its elements (i = block, then steps of the grid's blocks) into out[1 + block]; grid.sync();
 * phase 2, the grid's thread 0 adds the blocks' sums into out[0]. A grid-wide barrier is the boundary
 * between two passes over every block (docs/emulator.md, "Cooperative launches").
 */
static int grid_sum(const gpupool_emu_launch *l, void **params)
{
    int n = int_param(params, 2);
    unsigned blocks = l->grid[0];
    const int *in = n > 0 ? l->memory(l, ptr_param(params, 0), (size_t)n * sizeof(int)) : NULL;
    int *out = l->memory(l, ptr_param(params, 1), ((size_t)blocks + 1) * sizeof(int));
    if (out == NULL || (n > 0 && in == NULL))
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (unsigned b = 0; b < blocks; b++) {
        int sum = 0;
        for (long long i = b; i < n; i += blocks)
            sum += in[i];
        out[1 + b] = sum;
    }
    int total = 0;
    for (unsigned b = 0; b < blocks; b++)
        total += out[1 + b];
    out[0] = total;
    return CUDA_SUCCESS;
}

/*
 * test/programs/device_assert.cu's greet(int round), which asserts threadIdx.x < round: a kernel of
 * the same name and parameters as greet above, told apart by the __assertfail its image calls
 * ("_Z5greeti@__assertfail"). Each failing thread prints the message a GPU prints, and the launch
 * fails with CUDA_ERROR_ASSERT, which leaves the context unusable.
 */
static int greet_asserting(const gpupool_emu_launch *l, void **params)
{
    int round = int_param(params, 0);
    int failed = 0;
    for (unsigned b = 0; b < l->grid[0]; b++)
        for (unsigned t = 0; t < l->block[0]; t++)
            if (!(t < (unsigned)round)) {
                l->printf(l, "device_assert.cu:16: void greet(int): block: [%u,0,0], thread: [%u,0,0] Assertion `threadIdx.x < (unsigned)round` failed.\n", b, t);
                failed = 1;
            }
    return failed ? CUDA_ERROR_ASSERT : CUDA_SUCCESS;
}

/* __global__ void tex_layers(cudaTextureObject_t tex, float *out, int w, int h, int layers): through the
 * launch's texture view and the inline fetches (tex_sample goes through launch->texture). */
static int tex_layers(const gpupool_emu_launch *l, void **params)
{
    int w = int_param(params, 2), h = int_param(params, 3), layers = int_param(params, 4);
    if (w <= 0 || h <= 0 || layers <= 0)
        return CUDA_SUCCESS;
    float *out = l->memory(l, ptr_param(params, 1), (size_t)w * (size_t)h * (size_t)layers * sizeof(float));
    gpupool_emu_texture_view view;
    int rc = l->texture_view(l, u64_param(params, 0), &view);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (out == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    float texel[4];
    for (int layer = 0; layer < layers; layer++)
        for (size_t y = 0; y < (size_t)h && y < threads_y(l); y++)
            for (size_t x = 0; x < (size_t)w && x < threads_x(l); x++) {
                gpupool_emu_tex_layered(&view, (float)x + 0.5f, (float)y + 0.5f, layer, texel);
                out[((size_t)layer * (size_t)h + y) * (size_t)w + x] = texel[0];
            }
    return CUDA_SUCCESS;
}

/* __global__ void tex_cube(cudaTextureObject_t tex, float *out, int w) */
static int tex_cube(const gpupool_emu_launch *l, void **params)
{
    int w = int_param(params, 2);
    if (w <= 0)
        return CUDA_SUCCESS;
    float *out = l->memory(l, ptr_param(params, 1), 6 * (size_t)w * (size_t)w * sizeof(float));
    gpupool_emu_texture_view view;
    int rc = l->texture_view(l, u64_param(params, 0), &view);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (out == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    float texel[4];
    for (size_t y = 0; y < (size_t)w && y < threads_y(l); y++)
        for (size_t x = 0; x < (size_t)w && x < threads_x(l); x++) {
            float s = 3.0f * (((float)x + 0.5f) / (float)w * 2.0f - 1.0f), t = 3.0f * (((float)y + 0.5f) / (float)w * 2.0f - 1.0f);
            const float dir[6][3] = { { 3, -t, -s }, { -3, -t, s }, { s, 3, t }, { s, -3, -t }, { s, -t, 3 }, { -s, -t, -3 } };
            for (size_t face = 0; face < 6; face++) {
                gpupool_emu_tex_cubemap(&view, dir[face][0], dir[face][1], dir[face][2], texel);
                out[(face * (size_t)w + y) * (size_t)w + x] = texel[0];
            }
        }
    return CUDA_SUCCESS;
}

/*
 * test/programs/device_launch.cu's kernels, which launch kernels (dynamic parallelism): each child grid
 * is queued and runs after the grid that launched it (gpupool_emu_device_launch.h).
 *
 * cdp_tree(unsigned *blocks_at, int depth, int max_depth): thread 0 of each block adds 1 to
 * blocks_at[depth] and, below max_depth, launches cdp_tree<<<2, blockDim.x>>>(blocks_at, depth + 1, ...).
 */
typedef struct {
    CUdeviceptr blocks_at;
    int depth, max_depth;
} cdp_tree_args;

static int cdp_tree_grid(device_launches *q, const gpupool_emu_launch *l, const void *raw)
{
    const cdp_tree_args *a = raw;
    unsigned *at = a->depth >= 0 ? l->memory(l, a->blocks_at + (CUdeviceptr)a->depth * sizeof(unsigned), sizeof(unsigned)) : NULL;
    if (at == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (unsigned b = 0; b < l->grid[0] * l->grid[1] * l->grid[2]; b++) {
        (*at)++;
        if (a->depth + 1 >= a->max_depth)
            continue;
        cdp_tree_args child = { a->blocks_at, a->depth + 1, a->max_depth };
        int rc = device_launch_1d(q, cdp_tree_grid, 2, l->block[0], &child, sizeof child);
        if (rc != CUDA_SUCCESS)
            return rc;
    }
    return CUDA_SUCCESS;
}

static int cdp_tree(const gpupool_emu_launch *l, void **params)
{
    cdp_tree_args a = { ptr_param(params, 0), int_param(params, 1), int_param(params, 2) };
    return run_with_children(l, cdp_tree_grid, &a);
}

/* cdp_chain(int *values, int i, int n): values[i] = i == 0 ? 1 : 2 * values[i - 1]; below n, launches
 * cdp_chain<<<1, 1>>>(values, i + 1, n). */
typedef struct {
    CUdeviceptr values;
    int i, n;
} cdp_chain_args;

static int cdp_chain_grid(device_launches *q, const gpupool_emu_launch *l, const void *raw)
{
    const cdp_chain_args *a = raw;
    int *values = a->i >= 0 ? l->memory(l, a->values, ((size_t)a->i + 1) * sizeof(int)) : NULL;
    if (values == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    values[a->i] = a->i == 0 ? 1 : 2 * values[a->i - 1];
    if (a->i + 1 >= a->n)
        return CUDA_SUCCESS;
    cdp_chain_args child = { a->values, a->i + 1, a->n };
    return device_launch_1d(q, cdp_chain_grid, 1, 1, &child, sizeof child);
}

static int cdp_chain(const gpupool_emu_launch *l, void **params)
{
    cdp_chain_args a = { ptr_param(params, 0), int_param(params, 1), int_param(params, 2) };
    return run_with_children(l, cdp_chain_grid, &a);
}

static const size_t vadd_params[] = { 8, 8, 8, 4 };
static const size_t grid_sum_params[] = { 8, 8, 4 };
static const size_t poly_params[] = { 8, 8, 4 };
static const size_t saxpy_params[] = { 4, 8, 8, 4 };
static const size_t fill_u32_params[] = { 8, 4, 8 };
static const size_t scale_params[] = { 8, 4, 4 };
static const size_t poke_params[] = { 8 };
static const size_t spin_params[] = { 4 };
static const size_t spin_ns_params[] = { 8 };
static const size_t fault_process_params[] = { 4 };
/* Conditional nodes (test/programs/graph_conditional.cu), one thread each:
 * cond_set(const int *v, cudaGraphConditionalHandle h): h takes *v;
 * cond_countdown(int *v, h): *v -= 1, then h takes *v;
 * add_int(int *p, int x): *p += x. */
static int cond_set(const gpupool_emu_launch *l, void **params)
{
    const int *v = l->memory(l, ptr_param(params, 0), sizeof *v);
    return v == NULL ? CUDA_ERROR_ILLEGAL_ADDRESS : l->set_conditional(l, (unsigned long long)ptr_param(params, 1), (unsigned)*v);
}

static int cond_countdown(const gpupool_emu_launch *l, void **params)
{
    int *v = l->memory(l, ptr_param(params, 0), sizeof *v);
    if (v == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    *v -= 1;
    return l->set_conditional(l, (unsigned long long)ptr_param(params, 1), (unsigned)*v);
}

static int add_int(const gpupool_emu_launch *l, void **params)
{
    int *p = l->memory(l, ptr_param(params, 0), sizeof *p);
    if (p == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    *p += int_param(params, 1);
    return CUDA_SUCCESS;
}

/* The device heap (test/programs/device_heap.cu):
 * heap_fill(int **slots, int n, int base): thread i takes n ints from the heap, all base + i, into slots[i];
 * heap_sum(int **slots, int n, long long *sums): thread i sums slots[i]'s block into sums[i] and frees it;
 * heap_take(size_t bytes, unsigned long long *got): *got = whether bytes could be had (freed again). */
static int heap_fill(const gpupool_emu_launch *l, void **params)
{
    size_t threads = (size_t)l->grid[0] * l->block[0];
    int n = int_param(params, 1), base = int_param(params, 2);
    CUdeviceptr *slots = l->memory(l, ptr_param(params, 0), threads * sizeof *slots);
    if (slots == NULL || n < 0)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (size_t i = 0; i < threads; i++) {
        slots[i] = l->heap_alloc(l, (size_t)n * sizeof(int));
        int *p = slots[i] != 0 ? l->memory(l, slots[i], (size_t)n * sizeof(int)) : NULL;
        for (int k = 0; p != NULL && k < n; k++)
            p[k] = base + (int)i;
    }
    return CUDA_SUCCESS;
}

static int heap_sum(const gpupool_emu_launch *l, void **params)
{
    size_t threads = (size_t)l->grid[0] * l->block[0];
    int n = int_param(params, 1);
    CUdeviceptr *slots = l->memory(l, ptr_param(params, 0), threads * sizeof *slots);
    long long *sums = l->memory(l, ptr_param(params, 2), threads * sizeof *sums);
    if (slots == NULL || sums == NULL || n < 0)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (size_t i = 0; i < threads; i++) {
        const int *p = slots[i] != 0 ? l->memory(l, slots[i], (size_t)n * sizeof(int)) : NULL;
        if (slots[i] != 0 && p == NULL)
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        sums[i] = 0;
        for (int k = 0; p != NULL && k < n; k++)
            sums[i] += p[k];
        int rc = l->heap_free(l, slots[i]);
        if (rc != CUDA_SUCCESS)
            return rc;
    }
    return CUDA_SUCCESS;
}

static int heap_take(const gpupool_emu_launch *l, void **params)
{
    unsigned long long *got = l->memory(l, ptr_param(params, 1), sizeof *got);
    if (got == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    CUdeviceptr p = l->heap_alloc(l, (size_t)ptr_param(params, 0));
    *got = p != 0;
    return l->heap_free(l, p);
}

static const size_t greet_params[] = { 4 };
static const size_t heap_fill_params[] = { 8, 4, 4 };
static const size_t heap_sum_params[] = { 8, 4, 8 };
static const size_t heap_take_params[] = { 8, 8 };
static const size_t cond_params[] = { 8, 8 };
static const size_t add_int_params[] = { 8, 4 };
static const size_t tex_sample_params[] = { 8, 8, 4, 4, 4, 4, 4 };
static const size_t surf_fill_params[] = { 8, 4, 4 };
static const size_t tex_lod_params[] = { 8, 8, 8, 4 };
static const size_t tex_uint2_params[] = { 8, 8 };
static const size_t tex_layers_params[] = { 8, 8, 4, 4, 4 };
static const size_t tex_cube_params[] = { 8, 8, 4 };
static const size_t cdp_tree_params[] = { 8, 4, 4 };
static const size_t cdp_chain_params[] = { 8, 4, 4 };

#define COUNT(a) (unsigned)(sizeof(a) / sizeof((a)[0]))

static const gpupool_emu_kernel g_kernels[] = {
    { "_Z4vaddPKfS0_Pfi", COUNT(vadd_params), vadd_params, 0, vadd },
    { "_Z5saxpyfPKfPfi", COUNT(saxpy_params), saxpy_params, 0, saxpy },
    { "_Z8fill_u32Pjjm", COUNT(fill_u32_params), fill_u32_params, 0, fill_u32 },
    { "_Z5scalePffi", COUNT(scale_params), scale_params, 0, scale },
    { "_Z4pokey", COUNT(poke_params), poke_params, 0, poke },
    { "_Z4spini", COUNT(spin_params), spin_params, 0, spin },
    { "_Z7spin_nsy", COUNT(spin_ns_params), spin_ns_params, 0, spin_ns },
    { "_Z13fault_processi", COUNT(fault_process_params), fault_process_params, 0, fault_process },
    { "_Z4polyPKfPfi", COUNT(poly_params), poly_params, 0, poly },
    { "_Z5greeti", COUNT(greet_params), greet_params, 0, greet },
    { "_Z5greeti@__assertfail", COUNT(greet_params), greet_params, 0, greet_asserting },
    { "_Z8grid_sumPKiPii", COUNT(grid_sum_params), grid_sum_params, 0, grid_sum },
    { "_Z10tex_sampleyPfiiffi", COUNT(tex_sample_params), tex_sample_params, 0, tex_sample },
    { "_Z9surf_fillyii", COUNT(surf_fill_params), surf_fill_params, 0, surf_fill },
    { "_Z7tex_lodyPfPKfi", COUNT(tex_lod_params), tex_lod_params, 0, tex_lod },
    { "_Z9tex_uint2yPj", COUNT(tex_uint2_params), tex_uint2_params, 0, tex_uint2 },
    { "_Z10tex_layersyPfiii", COUNT(tex_layers_params), tex_layers_params, 0, tex_layers },
    { "_Z8tex_cubeyPfi", COUNT(tex_cube_params), tex_cube_params, 0, tex_cube },
    { "_Z8cond_setPKiy", COUNT(cond_params), cond_params, 0, cond_set },
    { "_Z14cond_countdownPiy", COUNT(cond_params), cond_params, 0, cond_countdown },
    { "_Z7add_intPii", COUNT(add_int_params), add_int_params, 0, add_int },
    { "_Z8cdp_treePjii", COUNT(cdp_tree_params), cdp_tree_params, 0, cdp_tree },
    { "_Z9cdp_chainPiii", COUNT(cdp_chain_params), cdp_chain_params, 0, cdp_chain },
    { "_Z9heap_fillPPiii", COUNT(heap_fill_params), heap_fill_params, 0, heap_fill },
    { "_Z8heap_sumPPiiPx", COUNT(heap_sum_params), heap_sum_params, 0, heap_sum },
    { "_Z9heap_takemPy", COUNT(heap_take_params), heap_take_params, 0, heap_take },
};

const gpupool_emu_kernel *gpupool_emu_kernels(unsigned *count)
{
    *count = COUNT(g_kernels);
    return g_kernels;
}
