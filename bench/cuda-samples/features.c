/*
 * CPU kernels of 3_CUDA_Features (see kernels.c), each from the sample's own kernel source. Atomics
 * are applied in thread order, one of the orders a GPU may take; the samples check order-free results.
 */
#include "kernels.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One int at device address base + index, or NULL (scattered writes of atomics-placed results). */
static int *int_at(const gpupool_emu_launch *l, CUdeviceptr base, long long index)
{
    return index < 0 ? NULL : l->memory(l, base + (CUdeviceptr)index * sizeof(int), sizeof(int));
}

/* memcpy_kernel(int *dst, int *src, size_t n) (StreamPriorities): n / sizeof(int) ints, grid-stride. */
static int memcpy_kernel(const gpupool_emu_launch *l, void **params)
{
    long long n = (long long)(PARAM(size_t, params, 2) / sizeof(int));
    if (n == 0)
        return CUDA_SUCCESS;
    int *dst = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(int));
    const int *src = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(int));
    NEED(dst);
    NEED(src);
    memmove(dst, src, (size_t)n * sizeof(int));
    return CUDA_SUCCESS;
}

/* filter_arr(int *dst, int *nres, const int *src, int n) (warpAggregatedAtomicsCG): the positive
 * elements appended at *nres (the warp-aggregated atomicAdd). */
static int filter_arr(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(int, params, 3);
    CUdeviceptr dst = PARAM(CUdeviceptr, params, 0);
    int *nres = DEVICE(l, PARAM(CUdeviceptr, params, 1), 1, sizeof(int));
    const int *src = DEVICE(l, PARAM(CUdeviceptr, params, 2), n, sizeof(int));
    NEED(nres);
    if (n <= 0)
        return CUDA_SUCCESS;
    NEED(src);
    for (long long i = 0; i < n; i++) {
        if (src[i] <= 0)
            continue;
        int *d = int_at(l, dst, (*nres)++);
        NEED(d);
        *d = src[i];
    }
    return CUDA_SUCCESS;
}

/* mapToBuckets(const int *src, int *indicesBuckets, int *bucketCounters, int srcSize, int buckets):
 * index i goes to indicesBuckets[bucketCounters[src[i]]++] when src[i] < buckets. */
static int map_to_buckets(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(int, params, 3), buckets = PARAM(int, params, 4);
    const int *src = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(int));
    CUdeviceptr indices = PARAM(CUdeviceptr, params, 1);
    int *counters = DEVICE(l, PARAM(CUdeviceptr, params, 2), buckets, sizeof(int));
    if (n <= 0)
        return CUDA_SUCCESS;
    NEED(src);
    for (long long i = 0; i < n; i++) {
        if (src[i] >= buckets)
            continue;
        if (counters == NULL || src[i] < 0)
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        int *d = int_at(l, indices, counters[src[i]]++);
        NEED(d);
        *d = (int)i;
    }
    return CUDA_SUCCESS;
}

/* calculateMaxInEachBuckets(const int *src, const int *values, int *bucketsMax, int srcSize, int
 * buckets): atomicMax of values[i] into bucketsMax[src[i]]. */
static int max_in_buckets(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(int, params, 3), buckets = PARAM(int, params, 4);
    const int *src = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(int));
    const int *values = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(int));
    int *max = DEVICE(l, PARAM(CUdeviceptr, params, 2), buckets, sizeof(int));
    if (n <= 0)
        return CUDA_SUCCESS;
    NEED(src);
    NEED(values);
    for (long long i = 0; i < n; i++) {
        if (src[i] >= buckets)
            continue;
        if (max == NULL || src[i] < 0)
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        if (values[i] > max[src[i]])
            max[src[i]] = values[i];
    }
    return CUDA_SUCCESS;
}

/* oddEvenCountAndSumCG(int *in, int *numOfOdds, int *sums, unsigned size) (binaryPartitionCG): adds
 * the count of odd elements, the sum of the odd ones into sums[0] and of the even ones into sums[1]. */
static int odd_even(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(unsigned, params, 3);
    const int *in = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(int));
    int *odds = DEVICE(l, PARAM(CUdeviceptr, params, 1), 1, sizeof(int));
    int *sums = DEVICE(l, PARAM(CUdeviceptr, params, 2), 2, sizeof(int));
    NEED(odds);
    NEED(sums);
    if (n <= 0)
        return CUDA_SUCCESS;
    NEED(in);
    for (long long i = 0; i < n; i++) {
        int odd = in[i] & 1;
        *odds += odd;
        sums[!odd] = (int)((unsigned)sums[!odd] + (unsigned)in[i]);
    }
    return CUDA_SUCCESS;
}

/*
 * reduce(float *in, double *out, size_t inSize, size_t outSize) (simpleCudaGraphs): per block, each
 * thread's grid-stride sum in double, a tree of strides 16 ... 1 in each warp, then the warps' results
 * in order, into out[block] for blocks < outSize.
 */
static int graphs_reduce(const gpupool_emu_launch *l, void **params)
{
    long long n = (long long)PARAM(size_t, params, 2), outs = (long long)PARAM(size_t, params, 3);
    long long blocks = l->grid[0], threads = l->block[0], stride = blocks * threads;
    const float *in = n ? DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(float)) : NULL;
    long long written = blocks < outs ? blocks : outs;
    double *out = written > 0 ? DEVICE(l, PARAM(CUdeviceptr, params, 1), written, sizeof(double)) : NULL;
    if ((n && in == NULL) || (written > 0 && out == NULL))
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    double *s = malloc((size_t)threads * sizeof *s);
    if (s == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (long long b = 0; b < written; b++) {
        for (long long t = 0; t < threads; t++) {
            double sum = 0;
            for (long long i = b * threads + t; i < n; i += stride)
                sum += (double)in[i];
            s[t] = sum;
        }
        out[b] = warp_tree_sum_double(s, threads);
    }
    free(s);
    return CUDA_SUCCESS;
}

/*
 * reduceFinal(double *in, double *result, size_t inSize): one block; grid-stride sums per thread, a
 * shared-memory tree down to 64 values, the second warp folded into the first, then shuffles down.
 */
static int graphs_reduce_final(const gpupool_emu_launch *l, void **params)
{
    long long n = (long long)PARAM(size_t, params, 2), threads = l->block[0];
    long long stride = (long long)l->grid[0] * threads;
    const double *in = n ? DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(double)) : NULL;
    double *result = DEVICE(l, PARAM(CUdeviceptr, params, 1), 1, sizeof(double));
    NEED(result);
    if (n && in == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    if (threads < 32)
        return CUDA_ERROR_INVALID_VALUE;
    double *s = calloc((size_t)threads, sizeof *s);
    if (s == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (long long t = 0; t < threads; t++)
        for (long long i = t; i < n; i += stride)
            s[t] += in[i];
    for (long long half = 256; half >= 64; half /= 2)
        if (threads >= 2 * half)
            for (long long t = 0; t < half; t++)
                s[t] += s[t + half];
    if (threads >= 64)
        for (long long t = 0; t < 32; t++)
            s[t] += s[t + 32];
    for (long long off = 16; off > 0; off /= 2)
        for (long long t = 0; t < off; t++)
            s[t] += s[t + off];
    *result = s[0];
    free(s);
    return CUDA_SUCCESS;
}

/* squareArray / negateArray(const float *in, float *out, int n) (graphMemoryNodes), guarded. */
static int map_floats(const gpupool_emu_launch *l, void **params, int negate)
{
    long long n = PARAM(int, params, 2), threads = (long long)grid_threads(l);
    if (n > threads)
        n = threads;
    if (n <= 0)
        return CUDA_SUCCESS;
    const float *in = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(float));
    float *out = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(float));
    NEED(in);
    NEED(out);
    for (long long i = 0; i < n; i++)
        out[i] = negate ? in[i] * -1 : in[i] * in[i];
    return CUDA_SUCCESS;
}

static int square_array(const gpupool_emu_launch *l, void **params) { return map_floats(l, params, 0); }
static int negate_array(const gpupool_emu_launch *l, void **params) { return map_floats(l, params, 1); }

/*
 * validateGPU(float *d_negSquare, negSquareArrays ref, bool *failed) (graphMemoryNodes): sets *failed
 * where (d - ref)^2 / ref^2 exceeds 1e-3 (ALLOWABLE_VARIANCE). The struct by value: input, square,
 * negSquare pointers, int numElements (then padding), size_t bytes, size_t numBlocks.
 */
struct neg_square_arrays {
    CUdeviceptr input, square, neg_square;
    int count;
    size_t bytes, blocks;
};

static int validate_gpu(const gpupool_emu_launch *l, void **params)
{
    const struct neg_square_arrays *ref = (const struct neg_square_arrays *)params[1];
    long long n = ref->count, threads = (long long)grid_threads(l);
    if (n > threads)
        n = threads;
    unsigned char *failed = DEVICE(l, PARAM(CUdeviceptr, params, 2), 1, 1);
    NEED(failed);
    if (n <= 0)
        return CUDA_SUCCESS;
    const float *d = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(float));
    const float *r = DEVICE(l, ref->neg_square, n, sizeof(float));
    NEED(d);
    NEED(r);
    for (long long i = 0; i < n; i++) {
        float diff = d[i] - r[i], rr = r[i] * r[i];
        diff *= diff;
        if (diff / rr > 1.0e-3f)
            *failed = 1;
    }
    return CUDA_SUCCESS;
}

/* clockBlock(clock_t clock_count) (graphMemoryFootprint): spins clock_count cycles, modelled at 1 GHz. */
static int clock_block(const gpupool_emu_launch *l, void **params)
{
    long long cycles = PARAM(long long, params, 0);
    ((gpupool_emu_launch *)l)->device_ns = cycles > 0 ? (unsigned long long)cycles : 0;
    return CUDA_SUCCESS;
}

/*
 * newdelete: Vector<int> objects on the device heap (new in a kernel). Here a vector lives in the
 * kernel library's memory and the device pointer the sample keeps (Container<int> **g_container)
 * holds its address; only addresses this library handed out are used again, so a made-up one fails
 * the launch instead of reaching the daemon's memory.
 */
struct device_vector {
    int *data;
    int capacity, top;
    struct device_vector *next; /* the live vectors */
};

static struct device_vector *g_vectors;
static pthread_mutex_t g_vectors_lock = PTHREAD_MUTEX_INITIALIZER;

/* The live vector *slot names, or NULL; with g_vectors_lock held. */
static struct device_vector *vector_at(const gpupool_emu_launch *l, CUdeviceptr slot_ptr)
{
    uint64_t *slot = DEVICE(l, slot_ptr, 1, sizeof(uint64_t));
    if (slot == NULL)
        return NULL;
    for (struct device_vector *v = g_vectors; v != NULL; v = v->next)
        if ((uint64_t)(uintptr_t)v == *slot)
            return v;
    return NULL;
}

/* vectorCreate(Container<int> **g_container, int max_size). */
static int vector_create(const gpupool_emu_launch *l, void **params)
{
    int capacity = PARAM(int, params, 1);
    uint64_t *slot = DEVICE(l, PARAM(CUdeviceptr, params, 0), 1, sizeof(uint64_t));
    NEED(slot);
    struct device_vector *v = calloc(1, sizeof *v);
    if (v == NULL || capacity < 0 || (v->data = calloc((size_t)capacity + 1, sizeof(int))) == NULL) {
        free(v);
        return CUDA_ERROR_OUT_OF_MEMORY; /* the device heap's malloc failing */
    }
    v->capacity = capacity;
    v->top = -1;
    pthread_mutex_lock(&g_vectors_lock);
    v->next = g_vectors;
    g_vectors = v;
    pthread_mutex_unlock(&g_vectors_lock);
    *slot = (uint64_t)(uintptr_t)v;
    return CUDA_SUCCESS;
}

/* containerFill(Container<int> **c): thread 0 of each block pushes its block's index. */
static int container_fill(const gpupool_emu_launch *l, void **params)
{
    pthread_mutex_lock(&g_vectors_lock);
    struct device_vector *v = vector_at(l, PARAM(CUdeviceptr, params, 0));
    int rc = CUDA_SUCCESS;
    for (long long b = 0; v != NULL && b < (long long)grid_blocks(l) && rc == CUDA_SUCCESS; b++) {
        if (v->top + 1 >= v->capacity)
            rc = CUDA_ERROR_ILLEGAL_ADDRESS; /* past the vector's storage */
        else
            v->data[++v->top] = (int)b;
    }
    pthread_mutex_unlock(&g_vectors_lock);
    return v == NULL ? CUDA_ERROR_ILLEGAL_ADDRESS : rc;
}

/* containerConsume(Container<int> **c, int *d_result): every thread pops into d_result[idx], -1 when
 * the vector is empty. */
static int container_consume(const gpupool_emu_launch *l, void **params)
{
    long long n = (long long)grid_threads(l);
    int *result = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(int));
    NEED(result);
    pthread_mutex_lock(&g_vectors_lock);
    struct device_vector *v = vector_at(l, PARAM(CUdeviceptr, params, 0));
    for (long long i = 0; v != NULL && i < n; i++)
        result[i] = v->top >= 0 ? v->data[v->top--] : -1;
    pthread_mutex_unlock(&g_vectors_lock);
    return v == NULL ? CUDA_ERROR_ILLEGAL_ADDRESS : CUDA_SUCCESS;
}

/* containerDelete(Container<int> **c): delete *c. */
static int container_delete(const gpupool_emu_launch *l, void **params)
{
    pthread_mutex_lock(&g_vectors_lock);
    struct device_vector *v = vector_at(l, PARAM(CUdeviceptr, params, 0));
    for (struct device_vector **p = &g_vectors; v != NULL && *p != NULL; p = &(*p)->next)
        if (*p == v) {
            *p = v->next;
            break;
        }
    pthread_mutex_unlock(&g_vectors_lock);
    if (v == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    free(v->data);
    free(v);
    return CUDA_SUCCESS;
}

/* placementNew / complexVector(int *d_result): a vector in shared memory per block; the even threads
 * push threadIdx.x / 2, then every thread pops into d_result[threadIdx.x] (-1 when empty). */
static int shared_vector(const gpupool_emu_launch *l, void **params)
{
    long long threads = l->block[0];
    int *result = DEVICE(l, PARAM(CUdeviceptr, params, 0), threads, sizeof(int));
    NEED(result);
    if (threads > 1024)
        return CUDA_ERROR_ILLEGAL_ADDRESS; /* past the kernel's 1024-element buffer */
    int data[1024], top;
    for (long long b = 0; b < (long long)grid_blocks(l); b++) {
        top = -1;
        for (long long t = 0; t < threads; t += 2)
            data[++top] = (int)(t >> 1);
        for (long long t = 0; t < threads; t++)
            result[t] = top >= 0 ? data[top--] : -1;
    }
    return CUDA_SUCCESS;
}

/* saxpy(float a, const float4 *x, const float4 *y, float4 *z, size_t n) (cudaCompressibleMemory):
 * z = a * x + y over n float4s. */
static int saxpy4(const gpupool_emu_launch *l, void **params)
{
    float a = PARAM(float, params, 0);
    long long n = 4 * (long long)PARAM(size_t, params, 4);
    if (n == 0)
        return CUDA_SUCCESS;
    const float *x = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(float));
    const float *y = DEVICE(l, PARAM(CUdeviceptr, params, 2), n, sizeof(float));
    float *z = DEVICE(l, PARAM(CUdeviceptr, params, 3), n, sizeof(float));
    NEED(x);
    NEED(y);
    NEED(z);
    for (long long i = 0; i < n; i++)
        z[i] = a * x[i] + y[i];
    return CUDA_SUCCESS;
}

/* init(float4 *x, float4 *y, float val, size_t n) (cudaCompressibleMemory): x = y = val. */
static int init4(const gpupool_emu_launch *l, void **params)
{
    float val = PARAM(float, params, 2);
    long long n = 4 * (long long)PARAM(size_t, params, 3);
    if (n == 0)
        return CUDA_SUCCESS;
    float *x = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(float));
    float *y = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(float));
    NEED(x);
    NEED(y);
    for (long long i = 0; i < n; i++)
        x[i] = y[i] = val;
    return CUDA_SUCCESS;
}

/* myKernel(int *data) (ptxjit, linked at run time): data[tid] = tid over the grid. */
static int thread_ids(const gpupool_emu_launch *l, void **params)
{
    long long n = (long long)grid_threads(l);
    int *data = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(int));
    NEED(data);
    for (long long i = 0; i < n; i++)
        data[i] = (int)i;
    return CUDA_SUCCESS;
}

/* memMapIpc_kernel(char *ptr, int sz, char val) (memMapIPCDrv): ptr[0, sz) = val. */
static int fill_bytes(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(int, params, 1);
    if (n <= 0)
        return CUDA_SUCCESS;
    char *p = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, 1);
    NEED(p);
    memset(p, PARAM(char, params, 2), (size_t)n);
    return CUDA_SUCCESS;
}

const gpupool_emu_kernel features_kernels[] = {
    KERNEL("_Z13memcpy_kernelPiS_m", memcpy_kernel, 8, 8, 8),
    KERNEL("_Z10filter_arrPiS_PKii", filter_arr, 8, 8, 8, 4),
    KERNEL("_Z12mapToBucketsPKiPiS1_ii", map_to_buckets, 8, 8, 8, 4, 4),
    KERNEL("_Z25calculateMaxInEachBucketsPKiS0_Piii", max_in_buckets, 8, 8, 8, 4, 4),
    KERNEL("_Z20oddEvenCountAndSumCGPiS_S_j", odd_even, 8, 8, 8, 4),
    KERNEL("_Z6reducePfPdmm", graphs_reduce, 8, 8, 8, 8),
    KERNEL("_Z11reduceFinalPdS_m", graphs_reduce_final, 8, 8, 8),
    KERNEL("_Z11squareArrayPKfPfi", square_array, 8, 8, 4),
    KERNEL("_Z11negateArrayPKfPfi", negate_array, 8, 8, 4),
    KERNEL("_Z11validateGPUPf15negSquareArraysPb", validate_gpu, 8, 48, 8),
    KERNEL("_Z10clockBlockl", clock_block, 8),
    KERNEL("_Z12vectorCreatePP9ContainerIiEi", vector_create, 8, 4),
    KERNEL("_Z13containerFillPP9ContainerIiE", container_fill, 8),
    KERNEL("_Z16containerConsumePP9ContainerIiEPi", container_consume, 8, 8),
    KERNEL("_Z15containerDeletePP9ContainerIiE", container_delete, 8),
    KERNEL("_Z12placementNewPi", shared_vector, 8),
    KERNEL("_Z13complexVectorPi", shared_vector, 8),
    KERNEL("_Z5saxpyfPK6float4S1_PS_m", saxpy4, 4, 8, 8, 8, 8),
    KERNEL("_Z4initP6float4S0_fm", init4, 8, 8, 4, 8),
    KERNEL("myKernel", thread_ids, 8),
    KERNEL("memMapIpc_kernel", fill_bytes, 8, 4, 1),
};
const unsigned features_kernel_count = COUNT(features_kernels);
