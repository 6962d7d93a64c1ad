/*
 * CPU implementations of the kernels of the cuda-samples the conformance run checks on the emulated
 * driver (bench/cuda-samples/run.js, docs/compatibility.md), under their nvcc names, written from each
 * kernel's documented effect (docs/emulator.md, "Kernels: the CPU-implementation ABI"). A sample whose
 * kernels are not here fails its launch with CUDA_ERROR_NO_BINARY_FOR_GPU, never silently.
 */
#include "gpupool_emu.h"

#include <string.h>

#define COUNT(a) (unsigned)(sizeof(a) / sizeof((a)[0]))

/* Parameter i as a T (kernel parameters arrive as pointers to their values). */
#define PARAM(T, params, i) (*(const T *)(params)[i])

static size_t grid_threads(const gpupool_emu_launch *l)
{
    return (size_t)l->grid[0] * l->block[0] * l->grid[1] * l->block[1] * l->grid[2] * l->block[2];
}

/* Elements [0, n) of a float or int array at ptr, or NULL when they are not the context's memory. */
static void *elements(const gpupool_emu_launch *l, CUdeviceptr ptr, long long n, size_t size)
{
    return n <= 0 ? NULL : l->memory(l, ptr, (size_t)n * size);
}

/* min(n, threads): the "if (i < n)" guard over a 1-D grid. */
static long long guarded(const gpupool_emu_launch *l, int n)
{
    size_t t = grid_threads(l);
    return n < 0 ? 0 : (size_t)n < t ? n : (long long)t;
}

/* vectorAdd (0_Introduction/vectorAdd), VecAdd_kernel (vectorAddDrv, vectorAddMMAP): C = A + B. */
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
 * MatrixMulCUDA<BLOCK>(float *C, float *A, float *B, int wA, int wB) (matrixMul): C = A * B, one
 * BLOCK x BLOCK tile of C per block; A is (grid.y * BLOCK) x wA, B is wA x wB.
 */
static int matrix_mul_sized(const gpupool_emu_launch *l, void **params, long long wA, long long wB)
{
    long long hA = (long long)l->grid[1] * l->block[1], wC = (long long)l->grid[0] * l->block[0];
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
    return matrix_mul_sized(l, params, PARAM(int, params, 3), PARAM(int, params, 4));
}

/* matrixMul_bs<BLOCK>_64bit(float *C, float *A, float *B, size_t wA, size_t wB) (matrixMulDrv). */
static int matrix_mul64(const gpupool_emu_launch *l, void **params)
{
    return matrix_mul_sized(l, params, (long long)PARAM(size_t, params, 3), (long long)PARAM(size_t, params, 4));
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

static const size_t ptr3_int[] = { 8, 8, 8, 4 };
static const size_t ptr_int[] = { 8, 4 };
static const size_t ptr[] = { 8 };
static const size_t ptr2_int[] = { 8, 8, 4 };
static const size_t ptr3_int2[] = { 8, 8, 8, 4, 4 };
static const size_t ptr3_size2[] = { 8, 8, 8, 8, 8 };

static const gpupool_emu_kernel g_kernels[] = {
    { "_Z9vectorAddPKfS0_Pfi", COUNT(ptr3_int), ptr3_int, 0, vector_add },
    { "VecAdd_kernel", COUNT(ptr3_int), ptr3_int, 0, vector_add },
    { "_Z16increment_kernelPii", COUNT(ptr_int), ptr_int, 0, increment },
    { "_Z6squarePii", COUNT(ptr_int), ptr_int, 0, square },
    { "_Z9incKernelPii", COUNT(ptr_int), ptr_int, 0, inc },
    { "_Z10init_arrayPiS_i", COUNT(ptr2_int), ptr2_int, 0, init_array },
    { "_Z10testKernelPi", COUNT(ptr), ptr, 0, atomics },
    { "_Z12reduceKernelPfS_i", COUNT(ptr2_int), ptr2_int, 0, reduce },
    { "_Z13MatrixMulCUDAILi16EEvPfS0_S0_ii", COUNT(ptr3_int2), ptr3_int2, 0, matrix_mul },
    { "_Z13MatrixMulCUDAILi32EEvPfS0_S0_ii", COUNT(ptr3_int2), ptr3_int2, 0, matrix_mul },
    { "matrixMul_bs8_64bit", COUNT(ptr3_size2), ptr3_size2, 0, matrix_mul64 },
    { "matrixMul_bs16_64bit", COUNT(ptr3_size2), ptr3_size2, 0, matrix_mul64 },
    { "matrixMul_bs32_64bit", COUNT(ptr3_size2), ptr3_size2, 0, matrix_mul64 },
};

const gpupool_emu_kernel *gpupool_emu_kernels(unsigned *count)
{
    *count = COUNT(g_kernels);
    return g_kernels;
}
