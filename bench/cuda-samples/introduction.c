/*
 * CPU implementations of the kernels of the cuda-samples the conformance run checks on the emulated
 * driver (bench/cuda-samples/run.js, docs/compatibility.md), under their nvcc names, written from each
 * kernel's documented effect (docs/emulator.md, "Kernels: the CPU-implementation ABI"). A sample whose
 * kernels are not here fails its launch with CUDA_ERROR_NO_BINARY_FOR_GPU, never silently.
 */
#include "kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Elements [0, n) of a float or int array at ptr, or NULL when they are not the context's memory. */
static void *elements(const gpupool_emu_launch *l, CUdeviceptr ptr, long long n, size_t size)
{
    return DEVICE(l, ptr, n, size);
}

/* min(n, threads): the "if (i < n)" guard over a 1-D grid. */
static long long guarded(const gpupool_emu_launch *l, int n)
{
    size_t t = grid_threads(l);
    return n < 0 ? 0 : (size_t)n < t ? n : (long long)t;
}

/* vectorAdd (0_Introduction/vectorAdd), VecAdd_kernel (vectorAddDrv, vectorAddMMAP), vectorAddGPU
 * (streamOrderedAllocation): C = A + B. */
static int vector_add(const gpupool_emu_launch *l, void **params)
{
    long long n = guarded(l, PARAM(int, params, 3));
    if (n == 0)
        return CUDA_SUCCESS;
    const float *a = elements(l, PARAM(CUdeviceptr, params, 0), n, sizeof(float));
    const float *b = elements(l, PARAM(CUdeviceptr, params, 1), n, sizeof(float));
    float *c = elements(l, PARAM(CUdeviceptr, params, 2), n, sizeof(float));
    if (a == NULL || b == NULL || c == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (long long i = 0; i < n; i++)
        c[i] = a[i] + b[i];
    return CUDA_SUCCESS;
}

/* increment_kernel(int *g_data, int inc_value) (asyncAPI): every thread adds to its element, unguarded. */
static int increment(const gpupool_emu_launch *l, void **params)
{
    long long n = (long long)grid_threads(l);
    int *data = elements(l, PARAM(CUdeviceptr, params, 0), n, sizeof(int));
    if (data == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (long long i = 0; i < n; i++)
        data[i] += PARAM(int, params, 1);
    return CUDA_SUCCESS;
}

/* The guarded elements of (int *array, int count), each through f. */
static int each_int(const gpupool_emu_launch *l, void **params, int (*f)(int))
{
    long long n = guarded(l, PARAM(int, params, 1));
    int *a = elements(l, PARAM(CUdeviceptr, params, 0), n, sizeof(int));
    if (n > 0 && a == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (long long i = 0; i < n; i++)
        a[i] = f(a[i]);
    return CUDA_SUCCESS;
}

static int squared(int v) { return v * v; }
static int plus_one(int v) { return v + 1; }

/* square(int *array, int count) (simpleOccupancy): array[i] *= array[i]. */
static int square(const gpupool_emu_launch *l, void **params) { return each_int(l, params, squared); }

/* incKernel(int *data, int N) (simpleCallback): data[i]++. */
static int inc(const gpupool_emu_launch *l, void **params) { return each_int(l, params, plus_one); }

/* incKernel(int *g_out, int *g_in, int N, int inner_reps) (simpleMultiCopy): out[i] = in[i] + 1, guarded. */
static int inc_copy(const gpupool_emu_launch *l, void **params)
{
    long long n = guarded(l, PARAM(int, params, 2));
    if (n == 0 || PARAM(int, params, 3) <= 0)
        return CUDA_SUCCESS;
    int *out = elements(l, PARAM(CUdeviceptr, params, 0), n, sizeof(int));
    const int *in = elements(l, PARAM(CUdeviceptr, params, 1), n, sizeof(int));
    NEED(out);
    NEED(in);
    for (long long i = 0; i < n; i++)
        out[i] = in[i] + 1;
    return CUDA_SUCCESS;
}

/*
 * kernel_A / kernel_B(clock_t *d_o, clock_t clock_count) (simpleHyperQ): one thread spins until
 * clock_count cycles passed and stores how many did; the spin is modelled device time at 1 GHz (the
 * emulator's kernels take their modelled time on their stream, so streams overlap as on a GPU).
 */
static int spin_clocks(const gpupool_emu_launch *l, void **params)
{
    long long cycles = PARAM(long long, params, 1);
    long long *out = elements(l, PARAM(CUdeviceptr, params, 0), 1, sizeof(long long));
    NEED(out);
    *out = cycles > 0 ? cycles : 0;
    ((gpupool_emu_launch *)l)->device_ns = (unsigned long long)*out;
    return CUDA_SUCCESS;
}

/* sum(clock_t *d_clocks, int N) (simpleHyperQ): d_clocks[0] = the sum of d_clocks[0, N). */
static int sum_clocks(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(int, params, 1);
    long long *c = elements(l, PARAM(CUdeviceptr, params, 0), n > 1 ? n : 1, sizeof(long long));
    NEED(c);
    long long sum = 0;
    for (long long i = 0; i < n; i++)
        sum += c[i];
    c[0] = sum;
    return CUDA_SUCCESS;
}

/* reduceKernel(float *result, float *input, int N) (simpleMultiGPU): thread t sums input[t::threads]. */
static int reduce(const gpupool_emu_launch *l, void **params)
{
    long long threads = (long long)grid_threads(l), n = PARAM(int, params, 2);
    float *result = elements(l, PARAM(CUdeviceptr, params, 0), threads, sizeof(float));
    const float *input = elements(l, PARAM(CUdeviceptr, params, 1), n, sizeof(float));
    if (result == NULL || (n > 0 && input == NULL))
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (long long t = 0; t < threads; t++) {
        float sum = 0;
        for (long long pos = t; pos < n; pos += threads)
            sum += input[pos];
        result[t] = sum;
    }
    return CUDA_SUCCESS;
}

/*
 * MatrixMulCUDA<BLOCK>(float *C, float *A, float *B, int wA, int wB) (matrixMul; the MatrixMul* kernels of
 * globalToShmemAsyncCopy, the same product by other copy schemes): C = A * B, one
 * BLOCK x BLOCK tile of C per block; A is (grid.y * BLOCK) x wA, B is wA x wB.
 */
static int matrix_mul_sized(const gpupool_emu_launch *l, void **params, long long hA, long long wA, long long wB)
{
    long long wC = (long long)l->grid[0] * l->block[0];
    if (wC > wB)
        wC = wB;
    float *c = elements(l, PARAM(CUdeviceptr, params, 0), hA * wB, sizeof(float));
    const float *a = elements(l, PARAM(CUdeviceptr, params, 1), hA * wA, sizeof(float));
    const float *b = elements(l, PARAM(CUdeviceptr, params, 2), wA * wB, sizeof(float));
    if (c == NULL || a == NULL || b == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    /* Row by row, k outer: B is read along its rows (the CPU's caches; samples multiply often). */
    for (long long r = 0; r < hA; r++) {
        float *row = c + r * wB;
        for (long long col = 0; col < wC; col++)
            row[col] = 0;
        for (long long k = 0; k < wA; k++) {
            float x = a[r * wA + k];
            const float *brow = b + k * wB;
            for (long long col = 0; col < wC; col++)
                row[col] += x * brow[col];
        }
    }
    return CUDA_SUCCESS;
}

static int matrix_mul(const gpupool_emu_launch *l, void **params)
{
    return matrix_mul_sized(l, params, (long long)l->grid[1] * l->block[1], PARAM(int, params, 3), PARAM(int, params, 4));
}

/*
 * MatrixMulAsyncCopyMultiStageSharedState<BLOCK> (globalToShmemAsyncCopy): its blocks are BLOCK x
 * (BLOCK + 2) threads, the last two rows producers; each block still computes one BLOCK x BLOCK tile.
 */
static int matrix_mul_shared_state(const gpupool_emu_launch *l, void **params)
{
    return matrix_mul_sized(l, params, (long long)l->grid[1] * l->block[0], PARAM(int, params, 3), PARAM(int, params, 4));
}

/* matrixMul_bs<BLOCK>_64bit(float *C, float *A, float *B, size_t wA, size_t wB) (matrixMulDrv, and with
 * int widths, matrixMul_bs<BLOCK>_32bit, matrixMulDynlinkJIT). */
static int matrix_mul64(const gpupool_emu_launch *l, void **params)
{
    return matrix_mul_sized(l, params, (long long)l->grid[1] * l->block[1], (long long)PARAM(size_t, params, 3),
                            (long long)PARAM(size_t, params, 4));
}

/* init_array(int *g_data, int *factor, int num_iterations) (simpleStreams): each element += *factor, n times. */
static int init_array(const gpupool_emu_launch *l, void **params)
{
    long long n = (long long)grid_threads(l);
    int *data = elements(l, PARAM(CUdeviceptr, params, 0), n, sizeof(int));
    const int *factor = elements(l, PARAM(CUdeviceptr, params, 1), 1, sizeof(int));
    if (data == NULL || factor == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (long long i = 0; i < n; i++)
        data[i] += *factor * PARAM(int, params, 2);
    return CUDA_SUCCESS;
}

/*
 * testKernel(int *g_odata) (simpleAtomicIntrinsics): every thread applies the eleven atomics of the
 * sample to g_odata[0..10]; here the threads take turns in tid order, one valid order of the atomics.
 */
static int atomics(const gpupool_emu_launch *l, void **params)
{
    long long n = (long long)grid_threads(l);
    int *o = elements(l, PARAM(CUdeviceptr, params, 0), 11, sizeof(int));
    if (o == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    unsigned *u = (unsigned *)o;
    for (long long t = 0; t < n; t++) {
        int tid = (int)t;
        o[0] += 10;
        o[1] -= 10;
        o[2] = tid;
        o[3] = o[3] > tid ? o[3] : tid;
        o[4] = o[4] < tid ? o[4] : tid;
        u[5] = u[5] >= 17 ? 0 : u[5] + 1;
        u[6] = (u[6] == 0 || u[6] > 137) ? 137 : u[6] - 1;
        if (o[7] == tid - 1)
            o[7] = tid;
        o[8] &= 2 * tid + 7;
        o[9] |= (int)(1u << (tid & 31));
        o[10] ^= tid;
    }
    return CUDA_SUCCESS;
}

/*
 * testKernel(T *g_idata, T *g_odata) (template, simpleTemplates<float>/<int>): each block scales
 * elements [0, blockDim.x) by blockDim.x through shared memory (every block writes the same values).
 */
#define SCALE_BY_THREADS(NAME, T)                                                                  \
    static int NAME(const gpupool_emu_launch *l, void **params)                                    \
    {                                                                                              \
        long long n = l->block[0];                                                                 \
        const T *in = elements(l, PARAM(CUdeviceptr, params, 0), n, sizeof(T));                    \
        T *out = elements(l, PARAM(CUdeviceptr, params, 1), n, sizeof(T));                         \
        NEED(in);                                                                                  \
        NEED(out);                                                                                 \
        for (long long t = 0; t < n; t++)                                                          \
            out[t] = (T)n * in[t];                                                                 \
        return CUDA_SUCCESS;                                                                       \
    }
SCALE_BY_THREADS(scale_by_threads_f, float)
SCALE_BY_THREADS(scale_by_threads_i, int)

/*
 * timedReduction(const float *input, float *output, clock_t *timer) (clock): every block finds the
 * minimum of input[0, 2 * blockDim.x) and stamps its start and end in clock ticks (the emulated SM's
 * clock: nanoseconds of the host's monotonic clock).
 */
static int timed_reduction(const gpupool_emu_launch *l, void **params)
{
    long long blocks = l->grid[0], n = 2LL * l->block[0];
    const float *in = elements(l, PARAM(CUdeviceptr, params, 0), n, sizeof(float));
    float *out = elements(l, PARAM(CUdeviceptr, params, 1), blocks, sizeof(float));
    long long *timer = elements(l, PARAM(CUdeviceptr, params, 2), 2 * blocks, sizeof(long long));
    NEED(in);
    NEED(out);
    NEED(timer);
    for (long long b = 0; b < blocks; b++) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        timer[b] = ts.tv_sec * 1000000000LL + ts.tv_nsec;
        /* The tree of the kernel: shared[t] = min(shared[t], shared[t + d]) for d = blockDim.x ... 1. */
        float m = in[0];
        for (long long i = 1; i < n; i++)
            if (in[i] < m)
                m = in[i];
        out[b] = m;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        timer[b + blocks] = ts.tv_sec * 1000000000LL + ts.tv_nsec + 1;
    }
    return CUDA_SUCCESS;
}

/*
 * scalarProductKernel_native / _intrinsics(const half2 *a, const half2 *b, float *results, size_t size)
 * (fp16ScalarProduct): each thread accumulates a[i] * b[i] + value in half precision, from
 * i = threadIdx.x + blockDim.x + blockIdx.x (sic) by the grid's stride; the block adds its values in
 * shared memory (strides 64 ... 1, as the kernel's unrolled tree) and stores low + high as a float.
 */
typedef struct { _Float16 x, y; } half2;

static int fp16_scalar_product(const gpupool_emu_launch *l, void **params)
{
    long long size = (long long)PARAM(size_t, params, 3), blocks = l->grid[0], threads = l->block[0];
    long long stride = blocks * threads;
    if (threads < 128)
        return CUDA_ERROR_INVALID_VALUE; /* the kernel's tree reads 128 values */
    const half2 *a = elements(l, PARAM(CUdeviceptr, params, 0), size, sizeof(half2));
    const half2 *b = elements(l, PARAM(CUdeviceptr, params, 1), size, sizeof(half2));
    float *results = elements(l, PARAM(CUdeviceptr, params, 2), blocks, sizeof(float));
    NEED(results);
    if (size > 0 && (a == NULL || b == NULL))
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    half2 *v = malloc((size_t)threads * sizeof *v);
    if (v == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (long long blk = 0; blk < blocks; blk++) {
        for (long long t = 0; t < threads; t++) {
            half2 value = { 0, 0 };
            for (long long i = t + threads + blk; i < size; i += stride) {
                /* fused: the product of two halves is exact in a float, one rounding to half */
                value.x = (_Float16)fmaf((float)a[i].x, (float)b[i].x, (float)value.x);
                value.y = (_Float16)fmaf((float)a[i].y, (float)b[i].y, (float)value.y);
            }
            v[t] = value;
        }
        for (long long s = 64; s > 0; s /= 2)
            for (long long t = 0; t < s; t++) {
                v[t].x = (_Float16)((float)v[t].x + (float)v[t + s].x);
                v[t].y = (_Float16)((float)v[t].y + (float)v[t + s].y);
            }
        results[blk] = (float)v[0].x + (float)v[0].y;
    }
    free(v);
    return CUDA_SUCCESS;
}

/* The warps of a 1-D block voting on pred(t): any (all = 0) or all (all = 1) of the warp's lanes. */
static int warp_vote(const unsigned *pred, long long lanes, long long t, int all)
{
    long long first = t - t % 32, last = first + 32 < lanes ? first + 32 : lanes;
    for (long long i = first; i < last; i++)
        if ((pred[i] != 0) != all)
            return !all;
    return all;
}

/* VoteAnyKernel1 / VoteAllKernel2(unsigned *input, unsigned *result, int size) (simpleVoteIntrinsics). */
static int vote(const gpupool_emu_launch *l, void **params, int all)
{
    long long n = l->block[0];
    const unsigned *in = elements(l, PARAM(CUdeviceptr, params, 0), n, sizeof(unsigned));
    unsigned *out = elements(l, PARAM(CUdeviceptr, params, 1), n, sizeof(unsigned));
    NEED(in);
    NEED(out);
    unsigned *r = malloc((size_t)n * sizeof *r);
    if (r == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (long long t = 0; t < n; t++)
        r[t] = (unsigned)warp_vote(in, n, t, all);
    memcpy(out, r, (size_t)n * sizeof *r);
    free(r);
    return CUDA_SUCCESS;
}

static int vote_any(const gpupool_emu_launch *l, void **params) { return vote(l, params, 0); }
static int vote_all(const gpupool_emu_launch *l, void **params) { return vote(l, params, 1); }

/*
 * VoteAnyKernel3(bool *info, int warp_size): thread t writes info[3t] = any(t' >= 1.5 warps) over its
 * warp, info[3t + 1] = (t >= 1.5 warps), and info[3t + 2] = true when all of its warp are.
 */
static int vote_any3(const gpupool_emu_launch *l, void **params)
{
    long long n = l->block[0], half = (PARAM(int, params, 1) * 3) / 2;
    unsigned char *info = elements(l, PARAM(CUdeviceptr, params, 0), 3 * n, 1);
    NEED(info);
    unsigned *pred = malloc((size_t)n * sizeof *pred);
    if (pred == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (long long t = 0; t < n; t++)
        pred[t] = t >= half;
    for (long long t = 0; t < n; t++) {
        info[3 * t] = (unsigned char)warp_vote(pred, n, t, 0);
        info[3 * t + 1] = (unsigned char)pred[t];
        if (warp_vote(pred, n, t, 1))
            info[3 * t + 2] = 1;
    }
    free(pred);
    return CUDA_SUCCESS;
}

static const size_t ptr3_int[] = { 8, 8, 8, 4 };
static const size_t ptr_int[] = { 8, 4 };
static const size_t ptr[] = { 8 };
static const size_t ptr2_int[] = { 8, 8, 4 };
static const size_t ptr3_int2[] = { 8, 8, 8, 4, 4 };
static const size_t ptr3_size2[] = { 8, 8, 8, 8, 8 };

const gpupool_emu_kernel introduction_kernels[] = {
    { "_Z9vectorAddPKfS0_Pfi", COUNT(ptr3_int), ptr3_int, 0, vector_add },
    /* vectorAdd_nvrtc's: the same kernel, extern "C", compiled by NVRTC in the job. */
    { "vectorAdd", COUNT(ptr3_int), ptr3_int, 0, vector_add },
    { "VecAdd_kernel", COUNT(ptr3_int), ptr3_int, 0, vector_add },
    KERNEL("_Z12vectorAddGPUPKfS0_Pfi", vector_add, 8, 8, 8, 4),
    { "_Z16increment_kernelPii", COUNT(ptr_int), ptr_int, 0, increment },
    { "_Z6squarePii", COUNT(ptr_int), ptr_int, 0, square },
    { "_Z9incKernelPii", COUNT(ptr_int), ptr_int, 0, inc },
    KERNEL("_Z9incKernelPiS_ii", inc_copy, 8, 8, 4, 4),
    KERNEL("_Z8kernel_APll", spin_clocks, 8, 8),
    KERNEL("_Z8kernel_BPll", spin_clocks, 8, 8),
    KERNEL("_Z3sumPli", sum_clocks, 8, 4),
    { "_Z10init_arrayPiS_i", COUNT(ptr2_int), ptr2_int, 0, init_array },
    { "_Z10testKernelPi", COUNT(ptr), ptr, 0, atomics },
    /* simpleAtomicIntrinsics_nvrtc's, extern "C" (simpleAssert_nvrtc's testKernel is asserts.c's). */
    { "testKernel", COUNT(ptr), ptr, 0, atomics },
    { "_Z12reduceKernelPfS_i", COUNT(ptr2_int), ptr2_int, 0, reduce },
    { "_Z13MatrixMulCUDAILi16EEvPfS0_S0_ii", COUNT(ptr3_int2), ptr3_int2, 0, matrix_mul },
    { "_Z13MatrixMulCUDAILi32EEvPfS0_S0_ii", COUNT(ptr3_int2), ptr3_int2, 0, matrix_mul },
    /* matrixMul_nvrtc's, extern "C". */
    { "matrixMulCUDA_block16", COUNT(ptr3_int2), ptr3_int2, 0, matrix_mul },
    { "matrixMulCUDA_block32", COUNT(ptr3_int2), ptr3_int2, 0, matrix_mul },
    KERNEL("_Z14MatrixMulNaiveILi16EEvPfS0_S0_ii", matrix_mul, 8, 8, 8, 4, 4),
    KERNEL("_Z24MatrixMulNaiveLargeChunkILi16EEvPfS0_S0_ii", matrix_mul, 8, 8, 8, 4, 4),
    KERNEL("_Z28MatrixMulAsyncCopyLargeChunkILi16EEvPfPKfS2_ii", matrix_mul, 8, 8, 8, 4, 4),
    KERNEL("_Z28MatrixMulAsyncCopyMultiStageILi16EEvPfPKfS2_ii", matrix_mul, 8, 8, 8, 4, 4),
    KERNEL("_Z29MatrixMulAsyncCopySingleStageILi16EEvPfPKfS2_ii", matrix_mul, 8, 8, 8, 4, 4),
    KERNEL("_Z37MatrixMulAsyncCopyLargeChunkAWBarrierILi16EEvPfPKfS2_ii", matrix_mul, 8, 8, 8, 4, 4),
    KERNEL("_Z38MatrixMulAsyncCopyMultiStageLargeChunkILi16EEvPfPKfS2_ii", matrix_mul, 8, 8, 8, 4, 4),
    KERNEL("_Z39MatrixMulAsyncCopyMultiStageSharedStateILi16EEvPfPKfS2_ii", matrix_mul_shared_state, 8, 8, 8, 4, 4),
    KERNEL("matrixMul_bs16_32bit", matrix_mul, 8, 8, 8, 4, 4),
    KERNEL("matrixMul_bs32_32bit", matrix_mul, 8, 8, 8, 4, 4),
    { "matrixMul_bs8_64bit", COUNT(ptr3_size2), ptr3_size2, 0, matrix_mul64 },
    { "matrixMul_bs16_64bit", COUNT(ptr3_size2), ptr3_size2, 0, matrix_mul64 },
    { "matrixMul_bs32_64bit", COUNT(ptr3_size2), ptr3_size2, 0, matrix_mul64 },
    KERNEL("_Z10testKernelPfS_", scale_by_threads_f, 8, 8),
    KERNEL("_Z10testKernelIfEvPT_S1_", scale_by_threads_f, 8, 8),
    KERNEL("_Z10testKernelIiEvPT_S1_", scale_by_threads_i, 8, 8),
    KERNEL("_Z17kernelAddConstantPii", increment, 8, 4),
    KERNEL("_Z14timedReductionPKfPfPl", timed_reduction, 8, 8, 8),
    KERNEL("timedReduction", timed_reduction, 8, 8, 8), /* clock_nvrtc's, extern "C" */
    KERNEL("_Z26scalarProductKernel_nativePK7__half2S1_Pfm", fp16_scalar_product, 8, 8, 8, 8),
    KERNEL("_Z30scalarProductKernel_intrinsicsPK7__half2S1_Pfm", fp16_scalar_product, 8, 8, 8, 8),
    KERNEL("_Z14VoteAnyKernel1PjS_i", vote_any, 8, 8, 4),
    KERNEL("_Z14VoteAllKernel2PjS_i", vote_all, 8, 8, 4),
    KERNEL("_Z14VoteAnyKernel3Pbi", vote_any3, 8, 4),
};
const unsigned introduction_kernel_count = COUNT(introduction_kernels);
