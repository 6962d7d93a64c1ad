/*
 * CPU kernels of the cuda-samples that launch cooperative grids (cudaLaunchCooperativeKernel) and
 * synchronise them with grid.sync(). The emulator runs a whole grid in one call, so a grid-wide barrier
 * is the boundary between two passes over every block (docs/emulator.md, "Cooperative launches"): each
 * kernel below is written as the phases its grid.sync() calls separate.
 */
#include "kernels.h"

#include <math.h>
#include <stdlib.h>

/* Each thread's own sum of x[i] (float x float, as doubles when pair) over i = its grid rank, then
 * steps of the grid's size, in that order: the grid-stride loop, read in address order. */
static double *grid_stride_sums(size_t threads, const float *x, const float *y, long long n)
{
    double *sums = calloc(threads, sizeof *sums);
    if (sums == NULL)
        return NULL;
    size_t t = 0;
    for (long long i = 0; i < n; i++) {
        sums[t] += y != NULL ? (double)(x[i] * y[i]) : (double)x[i];
        if (++t == threads)
            t = 0;
    }
    return sums;
}

/* A block's values reduced as reduceBlockData does: a shuffle-down tree in each warp of 32, then warp
 * 0's tree over the warps' results. */
static double block_tree(double *s, long long threads)
{
    double warps[32];
    long long w = 0;
    for (long long first = 0; first < threads && w < 32; first += 32)
        warps[w++] = warp_tree_sum_double(s + first, threads - first < 32 ? threads - first : 32);
    return warp_tree_sum_double(warps, w);
}

/*
 * normVecByDotProductAWBarrier(float *vecA, float *vecB, double *partialResults, int size)
 * (simpleAWBarrier): each block's share of the dot product A.B; grid.sync(); block 0 sums the blocks'
 * shares and keeps its square root; grid.sync(); both vectors divided by it.
 */
static int norm_by_dot_product(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(int, params, 3);
    size_t blocks = grid_blocks(l), threads = block_threads(l), grid = grid_threads(l);
    float *a = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(float));
    float *b = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(float));
    double *partial = DEVICE(l, PARAM(CUdeviceptr, params, 2), (long long)blocks, sizeof(double));
    NEED(partial);
    if (n > 0 && (a == NULL || b == NULL))
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    double *sums = grid_stride_sums(grid, a, b, n > 0 ? n : 0);
    double *block = calloc(threads, sizeof *block);
    if (sums == NULL || block == NULL) {
        free(sums);
        free(block);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    for (size_t k = 0; k < blocks; k++) /* phase 1 */
        partial[k] = block_tree(sums + k * threads, (long long)threads);
    for (size_t t = 0; t < threads; t++) { /* phase 2: block 0 */
        block[t] = 0.0;
        for (size_t i = t; i < blocks; i += threads)
            block[t] += partial[i];
    }
    partial[0] = sqrt(block_tree(block, (long long)threads));
    const double final = partial[0]; /* phase 3 */
    for (long long i = 0; i < n; i++) {
        a[i] = (float)(a[i] / final);
        b[i] = (float)(b[i] / final);
    }
    free(sums);
    free(block);
    return CUDA_SUCCESS;
}

/*
 * reduceSinglePassMultiBlockCG(const float *g_idata, float *g_odata, unsigned n)
 * (reductionMultiBlockCG): each block's sum (as doubles: each thread's grid-stride sum, each warp's
 * total, the warps' totals in order) into g_odata[block] as a float; grid.sync(); the grid's thread 0
 * adds blocks 1.. to g_odata[0].
 */
static int reduce_multi_block(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(unsigned, params, 2);
    size_t blocks = grid_blocks(l), threads = block_threads(l), grid = grid_threads(l);
    const float *in = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(float));
    float *out = DEVICE(l, PARAM(CUdeviceptr, params, 1), (long long)blocks, sizeof(float));
    NEED(out);
    if (n > 0 && in == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    double *sums = grid_stride_sums(grid, in, NULL, n);
    if (sums == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (size_t k = 0; k < blocks; k++) /* phase 1 */
        out[k] = (float)warp_tree_sum_double(sums + k * threads, (long long)threads);
    for (size_t k = 1; k < blocks; k++) /* phase 2 */
        out[0] += out[k];
    free(sums);
    return CUDA_SUCCESS;
}

const gpupool_emu_kernel cooperative_kernels[] = {
    KERNEL("_Z28normVecByDotProductAWBarrierPfS_Pdi", norm_by_dot_product, 8, 8, 8, 4),
    KERNEL("reduceSinglePassMultiBlockCG", reduce_multi_block, 8, 8, 4),
};
const unsigned cooperative_kernel_count = COUNT(cooperative_kernels);
