/*
 * CPU kernels of the cuda-samples that sample textures, write surfaces or print from the device (see
 * kernels.c), through the emulator's launch->texture_view (then the inline fetches of
 * gpupool_emu_texture.h), launch->surface and launch->printf (docs/emulator.md). Each from the sample's own kernel source.
 */
#include "kernels.h"

#include <math.h>
#include <stdint.h>

typedef unsigned long long texture_object;

/* The texture object resolved once for the launch (gpupool_emu_texture.h), or the launch's failure (a
 * texture that is not the context's): its texels are then read by inline fetches, not one call each. */
#define VIEW(l, tex, view)                                                                         \
    do {                                                                                           \
        int rc_ = (l)->texture_view((l), (tex), &(view));                                          \
        if (rc_ != CUDA_SUCCESS)                                                                   \
            return rc_;                                                                            \
    } while (0)

/*
 * transformKernel(float *out, int width, int height, float theta, tex) (simpleTexture, simpleTextureDrv;
 * simpleSurfaceWrite's has the same name and parameters and, for its square image, the same
 * coordinates): out[y][x] = tex2D(tex, rotated normalised coordinates of (x, y) by theta).
 */
static int rotate_sample(const gpupool_emu_launch *l, void **params)
{
    long long w = PARAM(int, params, 1), h = PARAM(int, params, 2);
    float theta = PARAM(float, params, 3);
    texture_object tex = PARAM(texture_object, params, 4);
    long long cols = (long long)l->grid[0] * l->block[0], rows = (long long)l->grid[1] * l->block[1];
    if (cols > w || rows > h)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    float *out = DEVICE(l, PARAM(CUdeviceptr, params, 0), w * h, sizeof(float));
    NEED(out);
    gpupool_emu_texture_view view;
    VIEW(l, tex, view);
    for (long long y = 0; y < rows; y++)
        for (long long x = 0; x < cols; x++) {
            float u = (float)x - (float)w / 2, v = (float)y - (float)h / 2;
            float tu = u * cosf(theta) - v * sinf(theta), tv = v * cosf(theta) + u * sinf(theta);
            tu /= (float)w;
            tv /= (float)h;
            out[y * w + x] = gpupool_emu_tex1f(&view, tu + 0.5f, tv + 0.5f, 0);
        }
    return CUDA_SUCCESS;
}

/* surfaceWriteKernel(float *in, int width, int height, surface) (simpleSurfaceWrite): each element
 * written to the surface at (x * 4 bytes, y). */
static int surface_write(const gpupool_emu_launch *l, void **params)
{
    long long w = PARAM(int, params, 1), h = PARAM(int, params, 2);
    texture_object surf = PARAM(texture_object, params, 3);
    long long cols = (long long)l->grid[0] * l->block[0], rows = (long long)l->grid[1] * l->block[1];
    if (cols > w || rows > h)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    float *in = DEVICE(l, PARAM(CUdeviceptr, params, 0), w * h, sizeof(float));
    NEED(in);
    for (long long y = 0; y < rows; y++)
        for (long long x = 0; x < cols; x++) {
            int rc = l->surface(l, surf, (size_t)x * 4, (size_t)y, 0, &in[y * w + x], sizeof(float), 1);
            if (rc != CUDA_SUCCESS)
                return rc;
        }
    return CUDA_SUCCESS;
}

/* shiftPitchLinear / shiftArray(float *out, int pitch, int width, int height, int shiftX, int shiftY,
 * tex) (simplePitchLinearTexture): out[y * pitch + x] = tex2D(tex, (x + sx) / width, (y + sy) / height). */
static int shift_sample(const gpupool_emu_launch *l, void **params)
{
    long long pitch = PARAM(int, params, 1), w = PARAM(int, params, 2), h = PARAM(int, params, 3);
    int sx = PARAM(int, params, 4), sy = PARAM(int, params, 5);
    texture_object tex = PARAM(texture_object, params, 6);
    long long cols = (long long)l->grid[0] * l->block[0], rows = (long long)l->grid[1] * l->block[1];
    if (cols > pitch || rows <= 0)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    float *out = DEVICE(l, PARAM(CUdeviceptr, params, 0), rows * pitch, sizeof(float));
    NEED(out);
    gpupool_emu_texture_view view;
    VIEW(l, tex, view);
    for (long long y = 0; y < rows; y++)
        for (long long x = 0; x < cols; x++)
            out[y * pitch + x] = gpupool_emu_tex1f(&view, (float)(x + sx) / (float)w, (float)(y + sy) / (float)h, 0);
    return CUDA_SUCCESS;
}

/* d_render(uint *out, uint imageW, uint imageH, float w, tex) (simpleTexture3D): the slice at depth w
 * of the 3D texture, scaled to 0 ... 255. */
static int render_slice(const gpupool_emu_launch *l, void **params)
{
    long long iw = PARAM(unsigned, params, 1), ih = PARAM(unsigned, params, 2);
    float depth = PARAM(float, params, 3);
    texture_object tex = PARAM(texture_object, params, 4);
    long long cols = (long long)l->grid[0] * l->block[0], rows = (long long)l->grid[1] * l->block[1];
    if (cols > iw)
        cols = iw;
    if (rows > ih)
        rows = ih;
    if (cols <= 0 || rows <= 0)
        return CUDA_SUCCESS;
    uint32_t *out = DEVICE(l, PARAM(CUdeviceptr, params, 0), iw * ih, sizeof(uint32_t));
    NEED(out);
    gpupool_emu_texture_view view;
    VIEW(l, tex, view);
    for (long long y = 0; y < rows; y++)
        for (long long x = 0; x < cols; x++)
            out[y * iw + x] = (uint32_t)(gpupool_emu_tex1f(&view, (float)x / (float)iw, (float)y / (float)ih, depth) * 255);
    return CUDA_SUCCESS;
}

/*
 * convolutionRowsKernel / convolutionColumnsKernel(float *dst, int imageW, int imageH, tex)
 * (convolutionTexture): dst = the texture convolved along rows (columns) with the module's 17
 * __constant__ c_Kernel taps, the kernel's unrolled order: tap i (texel at offset 8 - i) added last
 * to first.
 */
static int convolution_texture(const gpupool_emu_launch *l, void **params, int rows)
{
    long long w = PARAM(int, params, 1), h = PARAM(int, params, 2);
    texture_object tex = PARAM(texture_object, params, 3);
    size_t taps_bytes = 0;
    const float *taps = l->global(l, "c_Kernel", &taps_bytes);
    if (taps == NULL || taps_bytes < 17 * sizeof(float))
        return CUDA_ERROR_INVALID_IMAGE;
    if (w <= 0 || h <= 0)
        return CUDA_SUCCESS;
    float *dst = DEVICE(l, PARAM(CUdeviceptr, params, 0), w * h, sizeof(float));
    NEED(dst);
    gpupool_emu_texture_view view;
    VIEW(l, tex, view);
    for (long long iy = 0; iy < h; iy++)
        for (long long ix = 0; ix < w; ix++) {
            float x = (float)ix + 0.5f, y = (float)iy + 0.5f, sum = 0;
            for (int i = 0; i <= 16; i++) {
                float off = (float)(8 - i);
                sum = gpupool_emu_tex1f(&view, rows ? x + off : x, rows ? y : y + off, 0) * taps[i] + sum;
            }
            dst[iy * w + ix] = sum;
        }
    return CUDA_SUCCESS;
}

static int convolution_texture_rows(const gpupool_emu_launch *l, void **p) { return convolution_texture(l, p, 1); }
static int convolution_texture_columns(const gpupool_emu_launch *l, void **p) { return convolution_texture(l, p, 0); }

/*
 * transformKernel(float *out, int width, int height, int layer, tex) (simpleLayeredTexture):
 * out[layer][y][x] = layer - tex2DLayered(tex, (x + 0.5) / width, (y + 0.5) / height, layer).
 */
static int layered_sample(const gpupool_emu_launch *l, void **params)
{
    long long w = PARAM(int, params, 1), h = PARAM(int, params, 2);
    int layer = PARAM(int, params, 3);
    texture_object tex = PARAM(texture_object, params, 4);
    long long cols = (long long)l->grid[0] * l->block[0], rows = (long long)l->grid[1] * l->block[1];
    if (cols > w || rows > h || layer < 0)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    float *out = DEVICE(l, PARAM(CUdeviceptr, params, 0), (layer + 1) * w * h, sizeof(float));
    NEED(out);
    gpupool_emu_texture_view view;
    VIEW(l, tex, view);
    float texel[4];
    for (long long y = 0; y < rows; y++)
        for (long long x = 0; x < cols; x++) {
            gpupool_emu_tex_layered(&view, ((float)x + 0.5f) / (float)w, ((float)y + 0.5f) / (float)h, layer, texel);
            out[layer * w * h + y * w + x] = -texel[0] + (float)layer;
        }
    return CUDA_SUCCESS;
}

/*
 * transformKernel(float *out, int width, tex) (simpleCubemapTexture): for each face, the direction
 * through texel (x, y) of that face as the sample builds it, out[face][y][x] = -texCubemap(tex, dir).
 */
static int cubemap_sample(const gpupool_emu_launch *l, void **params)
{
    long long w = PARAM(int, params, 1);
    texture_object tex = PARAM(texture_object, params, 2);
    long long cols = (long long)l->grid[0] * l->block[0], rows = (long long)l->grid[1] * l->block[1];
    if (cols > w || rows > w)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    float *out = DEVICE(l, PARAM(CUdeviceptr, params, 0), 6 * w * w, sizeof(float));
    NEED(out);
    gpupool_emu_texture_view view;
    VIEW(l, tex, view);
    float texel[4];
    for (long long y = 0; y < rows; y++)
        for (long long x = 0; x < cols; x++) {
            float u = (((float)x + 0.5f) / (float)w) * 2.f - 1.f, v = (((float)y + 0.5f) / (float)w) * 2.f - 1.f;
            const float dir[6][3] = { { 1, -v, -u }, { -1, -v, u }, { u, 1, v }, { u, -1, -v }, { u, -v, 1 }, { -u, -v, -1 } };
            for (int face = 0; face < 6; face++) {
                gpupool_emu_tex_cubemap(&view, dir[face][0], dir[face][1], dir[face][2], texel);
                out[face * w * w + y * w + x] = -texel[0];
            }
        }
    return CUDA_SUCCESS;
}

/*
 * cgkernel() (simpleCooperativeGroups): each block sums its threads' ranks, then each 16-thread tile
 * its own, through shared memory; thread 0 of the block and of each tile print the sums.
 */
static int cg_sums(const gpupool_emu_launch *l, void **params)
{
    (void)params;
    long long n = (long long)block_threads(l);
    for (size_t b = 0; b < grid_blocks(l); b++) {
        long long sum = 0; /* the tree of sumReduction adds every rank once */
        for (long long rank = 0; rank < n; rank++)
            sum += rank;
        l->printf(l, " Sum of all ranks 0..%d in threadBlockGroup is %d (expected %d)\n\n", (int)n - 1, (int)sum,
                  (int)((n - 1) * n / 2));
        l->printf(l, " Now creating %d groups, each of size 16 threads:\n\n", (int)n / 16);
        for (long long tile = 0; tile + 16 <= n; tile += 16) {
            int tile_sum = 0;
            for (int rank = 0; rank < 16; rank++)
                tile_sum += rank;
            l->printf(l, "   Sum of all ranks 0..15 in this tiledPartition16 group is %d (expected %d)\n", tile_sum,
                      15 * 16 / 2);
        }
    }
    return CUDA_SUCCESS;
}

/*
 * testKernel(int val) (simplePrintf): every thread prints its block's and its own linear index and val,
 * blocks and threads in order (a GPU's order among them is its own). simpleAssert's kernel has the same
 * name and parameters (testKernel(int N), asserting gtid < N): asserts.c keys it by its image.
 */
static int print_values(const gpupool_emu_launch *l, void **params)
{
    int val = PARAM(int, params, 0);
    for (unsigned bz = 0; bz < l->grid[2]; bz++)
    for (unsigned by = 0; by < l->grid[1]; by++)
        for (unsigned bx = 0; bx < l->grid[0]; bx++)
            for (unsigned tz = 0; tz < l->block[2]; tz++)
                for (unsigned ty = 0; ty < l->block[1]; ty++)
                    for (unsigned tx = 0; tx < l->block[0]; tx++)
                        l->printf(l, "[%d, %d]:\t\tValue is:%d\n", (int)(by * l->grid[0] + bx),
                                  (int)(tz * l->block[0] * l->block[1] + ty * l->block[0] + tx), val);
    return CUDA_SUCCESS;
}

const gpupool_emu_kernel texture_kernels[] = {
    KERNEL("_Z15transformKernelPfiify", rotate_sample, 8, 4, 4, 4, 8),
    KERNEL("transformKernel", rotate_sample, 8, 4, 4, 4, 8),
    KERNEL("_Z18surfaceWriteKernelPfiiy", surface_write, 8, 4, 4, 8),
    KERNEL("_Z16shiftPitchLinearPfiiiiiy", shift_sample, 8, 4, 4, 4, 4, 4, 8),
    KERNEL("_Z10shiftArrayPfiiiiiy", shift_sample, 8, 4, 4, 4, 4, 4, 8),
    KERNEL("_Z15transformKernelPfiiiy", layered_sample, 8, 4, 4, 4, 8),
    KERNEL("_Z15transformKernelPfiy", cubemap_sample, 8, 4, 8),
    KERNEL("_Z8d_renderPjjjfy", render_slice, 8, 4, 4, 4, 8),
    KERNEL("_Z21convolutionRowsKernelPfiiy", convolution_texture_rows, 8, 4, 4, 8),
    KERNEL("_Z24convolutionColumnsKernelPfiiy", convolution_texture_columns, 8, 4, 4, 8),
    KERNEL0("_Z8cgkernelv", cg_sums),
    KERNEL("_Z10testKerneli", print_values, 4),
};
const unsigned texture_kernel_count = COUNT(texture_kernels);
