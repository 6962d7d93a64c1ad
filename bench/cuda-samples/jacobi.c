/*
 * CPU kernels of 3_CUDA_Features/jacobiCudaGraphs (see kernels.c), from the sample's jacobi.cu: one
 * Jacobi iteration per launch over its N_ROWS x N_ROWS system, ROWS_PER_CTA rows per block. Shuffle
 * trees are applied as a warp applies them and atomics in thread order, one of the orders a GPU takes.
 */
#include "kernels.h"

#include <math.h>
#include <stdlib.h>

#define N_ROWS 512       /* jacobi.h */
#define ROWS_PER_CTA 8   /* jacobi.cu */

/* The sum a warp's shfl_down tree leaves in lane 0, of the `lanes` values at v (lanes a power of 2). */
static double shfl_tree(double *v, int lanes)
{
    for (int off = lanes / 2; off > 0; off /= 2)
        for (int t = 0; t < off; t++)
            v[t] += v[t + off];
    return v[0];
}

/*
 * JacobiMethod(const float *A, const double *b, float conv_threshold, double *x, double *x_new,
 * double *sum): each block's rows i get b[i] - A[i,:] . x (each thread's strided share, a warp tree per
 * warp, the warps subtracted in order), then x_new[i] = x[i] + that / A[i,i], and the block's sum of
 * |dx| (a tree over its 8 rows) is added to *sum.
 */
static int jacobi_method(const gpupool_emu_launch *l, void **params)
{
    long long blocks = l->grid[0], threads = l->block[0];
    const float *A = DEVICE(l, PARAM(CUdeviceptr, params, 0), (long long)N_ROWS * N_ROWS, sizeof(float));
    const double *b = DEVICE(l, PARAM(CUdeviceptr, params, 1), N_ROWS, sizeof(double));
    const double *x = DEVICE(l, PARAM(CUdeviceptr, params, 3), N_ROWS, sizeof(double));
    double *x_new = DEVICE(l, PARAM(CUdeviceptr, params, 4), N_ROWS, sizeof(double));
    double *sum = DEVICE(l, PARAM(CUdeviceptr, params, 5), 1, sizeof(double));
    NEED(A);
    NEED(b);
    NEED(x);
    NEED(x_new);
    NEED(sum);
    if (threads < ROWS_PER_CTA || threads % 32 != 0)
        return CUDA_ERROR_INVALID_VALUE;
    double *partial = malloc((size_t)threads * sizeof *partial);
    if (partial == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    /* Every block reads x before any writes x_new: the sample swaps x and x_new between launches. */
    for (long long blk = 0; blk < blocks; blk++) {
        double rest[ROWS_PER_CTA], dx[ROWS_PER_CTA];
        int rows = 0;
        for (long long i = blk * ROWS_PER_CTA; rows < ROWS_PER_CTA && i < N_ROWS; rows++, i++) {
            for (long long t = 0; t < threads; t++) {
                double s = 0.0;
                for (long long j = t; j < N_ROWS; j += threads)
                    s += (double)A[i * N_ROWS + j] * x[j];
                partial[t] = s;
            }
            rest[rows] = b[i];
            for (long long w = 0; w < threads; w += 32)
                rest[rows] += -shfl_tree(partial + w, 32);
        }
        for (int k = 0; k < ROWS_PER_CTA; k++)
            dx[k] = 0.0;
        for (int k = 0; k < rows; k++) {
            long long i = blk * ROWS_PER_CTA + k;
            dx[k] = rest[k] / A[i * N_ROWS + i];
            x_new[i] = x[i] + dx[k];
            dx[k] = fabs(dx[k]);
        }
        if (rows > 0)
            *sum += shfl_tree(dx, ROWS_PER_CTA);
    }
    free(partial);
    return CUDA_SUCCESS;
}

/* finalError(double *x, double *g_sum): adds sum |x[i] - 1| to *g_sum, a warp tree per warp, the warps' sums in order. */
static int final_error(const gpupool_emu_launch *l, void **params)
{
    long long blocks = l->grid[0], threads = l->block[0], stride = blocks * threads;
    const double *x = DEVICE(l, PARAM(CUdeviceptr, params, 0), N_ROWS, sizeof(double));
    double *g_sum = DEVICE(l, PARAM(CUdeviceptr, params, 1), 1, sizeof(double));
    NEED(x);
    NEED(g_sum);
    if (threads % 32 != 0)
        return CUDA_ERROR_INVALID_VALUE;
    double *partial = malloc((size_t)threads * sizeof *partial);
    if (partial == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (long long blk = 0; blk < blocks; blk++) {
        for (long long t = 0; t < threads; t++) {
            double s = 0.0;
            for (long long i = blk * threads + t; i < N_ROWS; i += stride)
                s += fabs(x[i] - 1.0);
            partial[t] = s;
        }
        double block = 0.0;
        for (long long w = 0; w < threads; w += 32)
            block += shfl_tree(partial + w, 32);
        *g_sum += block;
    }
    free(partial);
    return CUDA_SUCCESS;
}

const gpupool_emu_kernel jacobi_kernels[] = {
    KERNEL("_Z12JacobiMethodPKfPKdfPdS3_S3_", jacobi_method, 8, 8, 4, 8, 8, 8),
    KERNEL("_Z10finalErrorPdS_", final_error, 8, 8),
};
const unsigned jacobi_kernel_count = COUNT(jacobi_kernels);
