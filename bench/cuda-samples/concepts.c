/*
 * CPU kernels of 2_Concepts_and_Techniques (see kernels.c), each from the sample's own kernel source.
 * Where a kernel's result depends on its summation order (float reductions), the order is the
 * kernel's: the samples compare against a CPU sum within a tolerance made for that order.
 */
#include "kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * scalarProdGPU(float *d_C, float *d_A, float *d_B, int vectorN, int elementN) (scalarProd): per vector,
 * 1024 accumulators each summing A*B at stride 1024, then a tree over the accumulators.
 */
#define ACCUM_N 1024
static int scalar_prod(const gpupool_emu_launch *l, void **params)
{
    long long vectors = PARAM(int, params, 3), n = PARAM(int, params, 4);
    float *c = DEVICE(l, PARAM(CUdeviceptr, params, 0), vectors, sizeof(float));
    const float *a = DEVICE(l, PARAM(CUdeviceptr, params, 1), vectors * n, sizeof(float));
    const float *b = DEVICE(l, PARAM(CUdeviceptr, params, 2), vectors * n, sizeof(float));
    if (vectors <= 0)
        return CUDA_SUCCESS;
    NEED(c);
    NEED(a);
    NEED(b);
    float acc[ACCUM_N];
    for (long long v = 0; v < vectors; v++) {
        long long base = v * n, end = base + n;
        for (long long i = 0; i < ACCUM_N; i++) {
            float sum = 0;
            for (long long pos = base + i; pos < end; pos += ACCUM_N)
                sum += a[pos] * b[pos];
            acc[i] = sum;
        }
        for (long long stride = ACCUM_N / 2; stride > 0; stride >>= 1)
            for (long long i = 0; i < stride; i++)
                acc[i] += acc[stride + i];
        c[v] = acc[0];
    }
    return CUDA_SUCCESS;
}

/* sequence_gpu(int *d_ptr, int length) (inlinePTX): each guarded element gets its thread's lane id. */
static int sequence(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(int, params, 1), threads = (long long)grid_threads(l);
    if (n > threads)
        n = threads;
    int *d = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(int));
    if (n <= 0)
        return CUDA_SUCCESS;
    NEED(d);
    long long per_block = (long long)l->block[0];
    for (long long i = 0; i < n; i++)
        d[i] = (int)((i % per_block) % 32);
    return CUDA_SUCCESS;
}

/*
 * shfl_scan_test(int *data, int width, int *partial_sums) (shfl_scan): an inclusive scan of each
 * block's elements (warp scans by shuffles, then the warps' sums); the block's total goes to
 * partial_sums[block] when partial_sums is not NULL.
 */
static int shfl_scan(const gpupool_emu_launch *l, void **params)
{
    long long blocks = l->grid[0], bs = l->block[0];
    int *data = DEVICE(l, PARAM(CUdeviceptr, params, 0), blocks * bs, sizeof(int));
    CUdeviceptr partial_ptr = PARAM(CUdeviceptr, params, 2);
    int *partial = partial_ptr ? DEVICE(l, partial_ptr, blocks, sizeof(int)) : NULL;
    NEED(data);
    if (partial_ptr && partial == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (long long b = 0; b < blocks; b++) {
        int *x = data + b * bs;
        unsigned sum = 0; /* a GPU's int additions wrap */
        for (long long t = 0; t < bs; t++)
            x[t] = (int)(sum += (unsigned)x[t]);
        if (partial)
            partial[b] = x[bs - 1];
    }
    return CUDA_SUCCESS;
}

/* uniform_add(int *data, int *partial_sums, int len): data[id] += partial_sums[block] for id <= len. */
static int uniform_add(const gpupool_emu_launch *l, void **params)
{
    long long blocks = l->grid[0], bs = l->block[0], len = PARAM(int, params, 2);
    long long n = blocks * bs < len + 1 ? blocks * bs : len + 1;
    if (n <= 0)
        return CUDA_SUCCESS;
    int *data = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(int));
    const int *partial = DEVICE(l, PARAM(CUdeviceptr, params, 1), (n + bs - 1) / bs, sizeof(int));
    NEED(data);
    NEED(partial);
    for (long long i = 0; i < n; i++)
        data[i] = (int)((unsigned)data[i] + (unsigned)partial[i / bs]);
    return CUDA_SUCCESS;
}

/*
 * shfl_intimage_rows(const uint4 *img, uint4 *integral_image): block b takes row b of the 8-bit image
 * (blockDim.x * 16 bytes) and writes its inclusive prefix sums as 32-bit values.
 */
static int intimage_rows(const gpupool_emu_launch *l, void **params)
{
    long long rows = l->grid[0], width = 16LL * l->block[0];
    const unsigned char *img = DEVICE(l, PARAM(CUdeviceptr, params, 0), rows * width, 1);
    uint32_t *out = DEVICE(l, PARAM(CUdeviceptr, params, 1), rows * width, sizeof(uint32_t));
    NEED(img);
    NEED(out);
    for (long long r = 0; r < rows; r++) {
        uint32_t sum = 0;
        for (long long c = 0; c < width; c++)
            out[r * width + c] = sum += img[r * width + c];
    }
    return CUDA_SUCCESS;
}

/*
 * shfl_vertical_shfl(unsigned *img, int width, int height): each thread's column (x of the grid) gets
 * its inclusive prefix sums down 135 steps of blockDim.y rows (the kernel's fixed count; height unused).
 */
static int vertical_scan(const gpupool_emu_launch *l, void **params)
{
    long long width = PARAM(int, params, 1), cols = (long long)l->grid[0] * l->block[0];
    long long rows = 135LL * l->block[1];
    uint32_t *img = DEVICE(l, PARAM(CUdeviceptr, params, 0), rows * width, sizeof(uint32_t));
    NEED(img);
    if (cols > width)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (long long c = 0; c < cols; c++) {
        uint32_t sum = 0;
        for (long long r = 0; r < rows; r++)
            img[r * width + c] = sum += img[r * width + c];
    }
    return CUDA_SUCCESS;
}

/*
 * reduceBlock<blockSize> of threadFenceReduction: each warp adds its threads' sums by a tree of
 * strides 16 ... 1, then thread 0 adds the warps' results in order.
 */
static float warp_tree_sum(float *s, long long threads)
{
    for (long long w = 0; w < threads; w += 32)
        for (long long i = 16; i > 0; i >>= 1)
            for (long long v = 0; v < i && w + v + i < threads; v++)
                s[w + v] += s[w + v + i];
    float beta = 0;
    for (long long w = 0; w < threads; w += 32)
        beta += s[w];
    return beta;
}

/*
 * reduceMultiPass<blockSize, nIsPow2>(const float *in, float *out, unsigned n): block b sums
 * in[b * 2 * blockSize + t] and in[... + blockSize] at the grid's stride per thread, then the block's
 * tree, into out[b]. Every block's input is read before any output is written (the sample reduces
 * in place, where a GPU's blocks race the same way).
 */
static int reduce_blocks(const gpupool_emu_launch *l, void **params, unsigned bs, int pow2)
{
    long long blocks = l->grid[0], threads = l->block[0];
    unsigned long long n = PARAM(unsigned, params, 2), grid_size = 2ULL * bs * blocks;
    const float *in = n ? DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(float)) : NULL;
    float *out = DEVICE(l, PARAM(CUdeviceptr, params, 1), blocks, sizeof(float));
    NEED(out);
    if (n && in == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    if (threads != bs)
        return CUDA_ERROR_INVALID_VALUE; /* the template is instantiated for its block size */
    float *s = malloc((size_t)(threads + blocks) * sizeof(float));
    if (s == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    float *sums = s + threads;
    for (long long b = 0; b < blocks; b++) {
        for (long long t = 0; t < threads; t++) {
            float my = 0;
            for (unsigned long long i = (unsigned long long)b * 2 * bs + t; i < n; i += grid_size) {
                my += in[i];
                if (pow2 || i + bs < n)
                    my += in[i + bs];
            }
            s[t] = my;
        }
        sums[b] = warp_tree_sum(s, threads);
    }
    memcpy(out, sums, (size_t)blocks * sizeof(float));
    free(s);
    return CUDA_SUCCESS;
}

/*
 * reduceSinglePass<blockSize, nIsPow2>: reduceMultiPass, then the last block to retire (the
 * retirementCount ticket) sums out[0, gridDim.x) the same way into out[0] and resets the ticket.
 */
static int reduce_single_pass(const gpupool_emu_launch *l, void **params, unsigned bs, int pow2)
{
    int rc = reduce_blocks(l, params, bs, pow2);
    long long blocks = l->grid[0], threads = l->block[0];
    if (rc != CUDA_SUCCESS || blocks <= 1)
        return rc;
    float *out = DEVICE(l, PARAM(CUdeviceptr, params, 1), blocks, sizeof(float));
    unsigned *ticket = l->global(l, "retirementCount", NULL);
    NEED(out);
    float *s = malloc((size_t)threads * sizeof(float));
    if (s == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (long long t = 0; t < threads; t++) {
        float my = 0;
        for (long long i = t; i < blocks; i += bs)
            my += out[i];
        s[t] = my;
    }
    out[0] = warp_tree_sum(s, threads);
    free(s);
    if (ticket)
        *ticket = 0;
    return CUDA_SUCCESS;
}

#define REDUCE_SIZES(X) X(512) X(256) X(128) X(64) X(32) X(16) X(8) X(4) X(2) X(1)
#define REDUCE_FNS(BS)                                                                                  \
    static int multi_##BS##_1(const gpupool_emu_launch *l, void **p) { return reduce_blocks(l, p, BS, 1); } \
    static int multi_##BS##_0(const gpupool_emu_launch *l, void **p) { return reduce_blocks(l, p, BS, 0); } \
    static int single_##BS##_1(const gpupool_emu_launch *l, void **p) { return reduce_single_pass(l, p, BS, 1); } \
    static int single_##BS##_0(const gpupool_emu_launch *l, void **p) { return reduce_single_pass(l, p, BS, 0); }
REDUCE_SIZES(REDUCE_FNS)
#define REDUCE_ENTRIES(BS)                                                                              \
    KERNEL("_Z15reduceMultiPassILj" #BS "ELb1EEvPKfPfj", multi_##BS##_1, 8, 8, 4),                      \
    KERNEL("_Z15reduceMultiPassILj" #BS "ELb0EEvPKfPfj", multi_##BS##_0, 8, 8, 4),                      \
    KERNEL("_Z16reduceSinglePassILj" #BS "ELb1EEvPKfPfj", single_##BS##_1, 8, 8, 4),                    \
    KERNEL("_Z16reduceSinglePassILj" #BS "ELb0EEvPKfPfj", single_##BS##_0, 8, 8, 4),

const gpupool_emu_kernel concepts_kernels[] = {
    KERNEL("_Z13scalarProdGPUPfS_S_ii", scalar_prod, 8, 8, 8, 4, 4),
    KERNEL("_Z12sequence_gpuPii", sequence, 8, 4),
    KERNEL("_Z14shfl_scan_testPiiS_", shfl_scan, 8, 4, 8),
    KERNEL("_Z11uniform_addPiS_i", uniform_add, 8, 8, 4),
    KERNEL("_Z18shfl_intimage_rowsPK5uint4PS_", intimage_rows, 8, 8),
    KERNEL("_Z18shfl_vertical_shflPjii", vertical_scan, 8, 4, 4),
    REDUCE_SIZES(REDUCE_ENTRIES)
};
const unsigned concepts_kernel_count = COUNT(concepts_kernels);
