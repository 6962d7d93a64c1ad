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

/*
 * histogram256Kernel(uint *partial, uint *data, uint count) / histogram64Kernel(uint *partial, uint4
 * *data, uint count) (histogram): block b counts the bytes of the words at its grid-stride positions
 * into partial[b * bins ...]: all 256 byte values, or the top six bits of each byte for 64 bins.
 */
static int histogram_partial(const gpupool_emu_launch *l, void **params, unsigned bins, unsigned words_per_item)
{
    long long blocks = l->grid[0], threads = l->block[0], stride = blocks * threads;
    long long count = PARAM(unsigned, params, 2);
    uint32_t *partial = DEVICE(l, PARAM(CUdeviceptr, params, 0), blocks * bins, sizeof(uint32_t));
    const uint32_t *data = count ? DEVICE(l, PARAM(CUdeviceptr, params, 1), count * words_per_item, sizeof(uint32_t)) : NULL;
    NEED(partial);
    if (count && data == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (long long b = 0; b < blocks; b++) {
        uint32_t *h = partial + b * bins;
        memset(h, 0, bins * sizeof *h);
        for (long long t = 0; t < threads; t++)
            for (long long pos = b * threads + t; pos < count; pos += stride)
                for (unsigned w = 0; w < words_per_item; w++) {
                    uint32_t word = data[pos * words_per_item + w];
                    for (unsigned byte = 0; byte < 4; byte++) {
                        unsigned v = (word >> (8 * byte)) & 0xFFU;
                        h[bins == 256 ? v : v >> 2]++;
                    }
                }
    }
    return CUDA_SUCCESS;
}

static int histogram256(const gpupool_emu_launch *l, void **params) { return histogram_partial(l, params, 256, 1); }
static int histogram64(const gpupool_emu_launch *l, void **params) { return histogram_partial(l, params, 64, 4); }

/* mergeHistogram256Kernel / mergeHistogram64Kernel(uint *hist, uint *partial, uint count): bin b (the
 * block) is the sum of the partial histograms' bin b (bins = gridDim.x). */
static int histogram_merge(const gpupool_emu_launch *l, void **params)
{
    long long bins = l->grid[0], count = PARAM(unsigned, params, 2);
    uint32_t *hist = DEVICE(l, PARAM(CUdeviceptr, params, 0), bins, sizeof(uint32_t));
    const uint32_t *partial = count ? DEVICE(l, PARAM(CUdeviceptr, params, 1), count * bins, sizeof(uint32_t)) : NULL;
    NEED(hist);
    if (count && partial == NULL)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (long long b = 0; b < bins; b++) {
        uint32_t sum = 0;
        for (long long i = 0; i < count; i++)
            sum += partial[b + i * bins];
        hist[b] = sum;
    }
    return CUDA_SUCCESS;
}

/* An exclusive scan of src[0, n) into dst in segments of `segment` elements (uint arithmetic wraps);
 * dst may be src. */
static void scan_exclusive_segments(uint32_t *dst, const uint32_t *src, long long n, long long segment)
{
    for (long long base = 0; base < n; base += segment) {
        long long end = base + segment < n ? base + segment : n;
        uint32_t sum = 0;
        for (long long i = base; i < end; i++) {
            uint32_t v = src[i];
            dst[i] = sum;
            sum += v;
        }
    }
}

/* scanExclusiveShared(uint4 *dst, uint4 *src, uint size) (scan): the grid's 4 * threads elements,
 * scanned exclusively in segments of size. */
static int scan_shared(const gpupool_emu_launch *l, void **params)
{
    long long n = 4LL * (long long)grid_threads(l), size = PARAM(unsigned, params, 2);
    uint32_t *dst = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    const uint32_t *src = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(uint32_t));
    NEED(dst);
    NEED(src);
    if (size < 4 || size > 4LL * l->block[0])
        return CUDA_ERROR_INVALID_VALUE;
    scan_exclusive_segments(dst, src, n, size);
    return CUDA_SUCCESS;
}

/*
 * scanExclusiveShared2(uint *buf, uint *dst, uint *src, uint N, uint arrayLength): the last element of
 * each 4 * blockDim.x chunk's exclusive scan plus its input (the chunk's total), for chunks < N,
 * scanned exclusively in segments of arrayLength into buf.
 */
static int scan_shared2(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(unsigned, params, 3), segment = PARAM(unsigned, params, 4), chunk = 4LL * l->block[0];
    if (n <= 0)
        return CUDA_SUCCESS;
    if (segment <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    uint32_t *buf = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    const uint32_t *dst = DEVICE(l, PARAM(CUdeviceptr, params, 1), n * chunk, sizeof(uint32_t));
    const uint32_t *src = DEVICE(l, PARAM(CUdeviceptr, params, 2), n * chunk, sizeof(uint32_t));
    NEED(buf);
    NEED(dst);
    NEED(src);
    uint32_t *totals = malloc((size_t)n * sizeof *totals);
    if (totals == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (long long i = 0; i < n; i++)
        totals[i] = dst[chunk - 1 + chunk * i] + src[chunk - 1 + chunk * i];
    scan_exclusive_segments(buf, totals, n, segment);
    free(totals);
    return CUDA_SUCCESS;
}

/* uniformUpdate(uint4 *data, uint *buffer): each block's 4 * blockDim.x elements += buffer[block]. */
static int scan_uniform_update(const gpupool_emu_launch *l, void **params)
{
    long long blocks = l->grid[0], chunk = 4LL * l->block[0];
    uint32_t *data = DEVICE(l, PARAM(CUdeviceptr, params, 0), blocks * chunk, sizeof(uint32_t));
    const uint32_t *buffer = DEVICE(l, PARAM(CUdeviceptr, params, 1), blocks, sizeof(uint32_t));
    NEED(data);
    NEED(buffer);
    for (long long i = 0; i < blocks * chunk; i++)
        data[i] += buffer[i / chunk];
    return CUDA_SUCCESS;
}

/*
 * sortingNetworks: key-value comparator networks. Every comparator of one step touches its own pair,
 * so running a step's comparators one after another is what the GPU's threads do at once.
 */
#define SHARED_SIZE_LIMIT 1024U

static void comparator(uint32_t *ka, uint32_t *va, uint32_t *kb, uint32_t *vb, unsigned dir)
{
    if ((*ka > *kb) == (dir != 0)) {
        uint32_t t = *ka;
        *ka = *kb;
        *kb = t;
        t = *va;
        *va = *vb;
        *vb = t;
    }
}

/* The four arrays of a sort kernel (dst key, dst val, src key, src val), n elements each. */
struct sort_arrays {
    uint32_t *dk, *dv;
    const uint32_t *sk, *sv;
};

static int sort_arrays_of(const gpupool_emu_launch *l, void **params, long long n, struct sort_arrays *a)
{
    a->dk = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    a->dv = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(uint32_t));
    a->sk = DEVICE(l, PARAM(CUdeviceptr, params, 2), n, sizeof(uint32_t));
    a->sv = DEVICE(l, PARAM(CUdeviceptr, params, 3), n, sizeof(uint32_t));
    return a->dk && a->dv && a->sk && a->sv ? CUDA_SUCCESS : CUDA_ERROR_ILLEGAL_ADDRESS;
}

enum shared_sort { BITONIC_SORT, BITONIC_SORT1, BITONIC_MERGE, ODD_EVEN_SORT };

/*
 * The shared-memory kernels, each block on its SHARED_SIZE_LIMIT elements with SHARED_SIZE_LIMIT / 2
 * threads: bitonicSortShared(dk, dv, sk, sv, arrayLength, dir), bitonicSortShared1(dk, dv, sk, sv),
 * bitonicMergeShared(dk, dv, sk, sv, arrayLength, size, dir), oddEvenMergeSortShared(dk, dv, sk, sv,
 * arrayLength, dir).
 */
static int sort_shared(const gpupool_emu_launch *l, void **params, enum shared_sort kind)
{
    long long blocks = l->grid[0];
    unsigned threads = l->block[0];
    if (threads != SHARED_SIZE_LIMIT / 2)
        return CUDA_ERROR_INVALID_VALUE; /* the kernels are written for this block size */
    struct sort_arrays a;
    if (sort_arrays_of(l, params, blocks * SHARED_SIZE_LIMIT, &a) != CUDA_SUCCESS)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    unsigned length = kind == BITONIC_SORT1 ? SHARED_SIZE_LIMIT : PARAM(unsigned, params, 4);
    unsigned dir = kind == BITONIC_SORT || kind == ODD_EVEN_SORT ? PARAM(unsigned, params, 5)
                   : kind == BITONIC_MERGE                      ? PARAM(unsigned, params, 6)
                                                                 : 0;
    unsigned merge_size = kind == BITONIC_MERGE ? PARAM(unsigned, params, 5) : 0;
    if (length < 2 || (length & (length - 1)) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    uint32_t k[SHARED_SIZE_LIMIT], v[SHARED_SIZE_LIMIT];
    for (long long b = 0; b < blocks; b++) {
        size_t base = (size_t)b * SHARED_SIZE_LIMIT;
        memcpy(k, a.sk + base, sizeof k);
        memcpy(v, a.sv + base, sizeof v);
#define CMP(i, j, d) comparator(&k[i], &v[i], &k[j], &v[j], (d))
#define POS(t, stride) (2 * (t) - ((t) & ((stride) - 1)))
        if (kind == BITONIC_SORT || kind == BITONIC_SORT1) {
            unsigned limit = kind == BITONIC_SORT ? length : SHARED_SIZE_LIMIT;
            for (unsigned size = 2; size < limit; size <<= 1)
                for (unsigned stride = size / 2; stride > 0; stride >>= 1)
                    for (unsigned t = 0; t < threads; t++) {
                        unsigned ddd = kind == BITONIC_SORT ? dir ^ ((t & (size / 2)) != 0) : (t & (size / 2)) != 0;
                        CMP(POS(t, stride), POS(t, stride) + stride, ddd);
                    }
            unsigned last = kind == BITONIC_SORT ? dir : (unsigned)(b & 1);
            for (unsigned stride = limit / 2; stride > 0; stride >>= 1)
                for (unsigned t = 0; t < threads; t++)
                    CMP(POS(t, stride), POS(t, stride) + stride, last);
        } else if (kind == BITONIC_MERGE) {
            for (unsigned stride = SHARED_SIZE_LIMIT / 2; stride > 0; stride >>= 1)
                for (unsigned t = 0; t < threads; t++) {
                    unsigned comparator_i = ((unsigned)b * threads + t) & (length / 2 - 1);
                    unsigned ddd = dir ^ ((comparator_i & (merge_size / 2)) != 0);
                    CMP(POS(t, stride), POS(t, stride) + stride, ddd);
                }
        } else {
            for (unsigned size = 2; size <= length; size <<= 1) {
                unsigned stride = size / 2;
                for (unsigned t = 0; t < threads; t++)
                    CMP(POS(t, stride), POS(t, stride) + stride, dir);
                for (stride >>= 1; stride > 0; stride >>= 1)
                    for (unsigned t = 0; t < threads; t++)
                        if ((t & (size / 2 - 1)) >= stride)
                            CMP(POS(t, stride) - stride, POS(t, stride), dir);
            }
        }
#undef CMP
#undef POS
        memcpy(a.dk + base, k, sizeof k);
        memcpy(a.dv + base, v, sizeof v);
    }
    return CUDA_SUCCESS;
}

static int bitonic_sort_shared(const gpupool_emu_launch *l, void **p) { return sort_shared(l, p, BITONIC_SORT); }
static int bitonic_sort_shared1(const gpupool_emu_launch *l, void **p) { return sort_shared(l, p, BITONIC_SORT1); }
static int bitonic_merge_shared(const gpupool_emu_launch *l, void **p) { return sort_shared(l, p, BITONIC_MERGE); }
static int odd_even_sort_shared(const gpupool_emu_launch *l, void **p) { return sort_shared(l, p, ODD_EVEN_SORT); }

/* One comparator of a global merge step: src pair (i, j) compared into dst. */
static void compare_global(const struct sort_arrays *a, size_t i, size_t j, unsigned dir)
{
    uint32_t ka = a->sk[i], va = a->sv[i], kb = a->sk[j], vb = a->sv[j];
    comparator(&ka, &va, &kb, &vb, dir);
    a->dk[i] = ka;
    a->dv[i] = va;
    a->dk[j] = kb;
    a->dv[j] = vb;
}

/* bitonicMergeGlobal / oddEvenMergeGlobal(dk, dv, sk, sv, arrayLength, size, stride, dir): one
 * comparator per thread of the grid, over the grid's 2 * threads elements. */
static int merge_global(const gpupool_emu_launch *l, void **params, int odd_even)
{
    long long threads = (long long)grid_threads(l);
    unsigned length = PARAM(unsigned, params, 4), size = PARAM(unsigned, params, 5);
    unsigned stride = PARAM(unsigned, params, 6), dir = PARAM(unsigned, params, 7);
    if (stride == 0 || (stride & (stride - 1)) != 0 || length < 2 || size < 2)
        return CUDA_ERROR_INVALID_VALUE;
    struct sort_arrays a;
    if (sort_arrays_of(l, params, 2 * threads, &a) != CUDA_SUCCESS)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (long long g = 0; g < threads; g++) {
        size_t pos = 2 * (size_t)g - ((size_t)g & (stride - 1));
        if (!odd_even) {
            unsigned comparator_i = (unsigned)g & (length / 2 - 1);
            compare_global(&a, pos, pos + stride, dir ^ ((comparator_i & (size / 2)) != 0));
        } else if (stride < size / 2) {
            if (((unsigned)g & (size / 2 - 1)) >= stride)
                compare_global(&a, pos - stride, pos, dir);
        } else {
            compare_global(&a, pos, pos + stride, dir);
        }
    }
    return CUDA_SUCCESS;
}

static int bitonic_merge_global(const gpupool_emu_launch *l, void **p) { return merge_global(l, p, 0); }
static int odd_even_merge_global(const gpupool_emu_launch *l, void **p) { return merge_global(l, p, 1); }

/*
 * reduction's kernels (reduce0 ... reduce7, cg_reduce, multi_warp_cg_reduce<T>(T *in, T *out, unsigned
 * n)): block b sums the elements of its chunks into out[b]. A chunk is blockDim.x elements (one per
 * thread) or 2 * blockDim.x (two per thread); the first chunk is b's, and the grid-striding kernels
 * take every gridDim.x-th one after it. All blocks read before any writes (the sample reduces in place).
 */
enum chunking { ONE_CHUNK, GRID_STRIDE, POW2_RUNTIME };

#define REDUCE_CHUNKS(T, c)                                                                            \
    static int reduce_##c(const gpupool_emu_launch *l, void **params, int per_thread, enum chunking how) \
    {                                                                                                  \
        long long blocks = l->grid[0], bd = l->block[0], n = PARAM(unsigned, params, 2);               \
        if (how == POW2_RUNTIME) {                                                                     \
            per_thread = (n & (n - 1)) == 0 ? 2 : 1;                                                   \
            how = GRID_STRIDE;                                                                         \
        }                                                                                              \
        long long chunk = per_thread * bd, stride = chunk * blocks;                                    \
        const T *in = n ? DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(T)) : NULL;               \
        T *out = DEVICE(l, PARAM(CUdeviceptr, params, 1), blocks, sizeof(T));                          \
        NEED(out);                                                                                     \
        if (n && in == NULL)                                                                           \
            return CUDA_ERROR_ILLEGAL_ADDRESS;                                                         \
        T *sums = malloc((size_t)blocks * sizeof(T));                                                  \
        if (sums == NULL)                                                                              \
            return CUDA_ERROR_OUT_OF_MEMORY;                                                           \
        for (long long b = 0; b < blocks; b++) {                                                       \
            T sum = 0;                                                                                 \
            for (long long start = b * chunk; start < n; start += stride) {                            \
                for (long long i = start; i < start + chunk && i < n; i++)                             \
                    sum += in[i];                                                                      \
                if (how == ONE_CHUNK)                                                                  \
                    break;                                                                             \
            }                                                                                          \
            sums[b] = sum;                                                                             \
        }                                                                                              \
        memcpy(out, sums, (size_t)blocks * sizeof(T));                                                 \
        free(sums);                                                                                    \
        return CUDA_SUCCESS;                                                                           \
    }                                                                                                  \
    static int reduce_a_##c(const gpupool_emu_launch *l, void **p) { return reduce_##c(l, p, 1, ONE_CHUNK); }    \
    static int reduce_b_##c(const gpupool_emu_launch *l, void **p) { return reduce_##c(l, p, 2, ONE_CHUNK); }    \
    static int reduce_c_##c(const gpupool_emu_launch *l, void **p) { return reduce_##c(l, p, 2, GRID_STRIDE); }  \
    static int reduce_d_##c(const gpupool_emu_launch *l, void **p) { return reduce_##c(l, p, 1, GRID_STRIDE); }  \
    static int reduce_m_##c(const gpupool_emu_launch *l, void **p) { return reduce_##c(l, p, 0, POW2_RUNTIME); }
REDUCE_CHUNKS(int, i)
REDUCE_CHUNKS(float, f)
REDUCE_CHUNKS(double, d)

#define REDUCTION_SIZED(c, N)                                                                          \
    KERNEL("_Z7reduce4I" #c "Lj" #N "EEvPT_S1_j", reduce_b_##c, 8, 8, 4),                              \
    KERNEL("_Z7reduce5I" #c "Lj" #N "EEvPT_S1_j", reduce_b_##c, 8, 8, 4),                              \
    KERNEL("_Z7reduce6I" #c "Lj" #N "ELb1EEvPT_S1_j", reduce_c_##c, 8, 8, 4),                          \
    KERNEL("_Z7reduce6I" #c "Lj" #N "ELb0EEvPT_S1_j", reduce_d_##c, 8, 8, 4),                          \
    KERNEL("_Z7reduce7I" #c "Lj" #N "ELb1EEvPKT_PS0_j", reduce_c_##c, 8, 8, 4),                        \
    KERNEL("_Z7reduce7I" #c "Lj" #N "ELb0EEvPKT_PS0_j", reduce_d_##c, 8, 8, 4),
#define REDUCTION_TYPE(c)                                                                              \
    KERNEL("_Z7reduce0I" #c "EvPT_S1_j", reduce_a_##c, 8, 8, 4),                                       \
    KERNEL("_Z7reduce1I" #c "EvPT_S1_j", reduce_a_##c, 8, 8, 4),                                       \
    KERNEL("_Z7reduce2I" #c "EvPT_S1_j", reduce_a_##c, 8, 8, 4),                                       \
    KERNEL("_Z7reduce3I" #c "EvPT_S1_j", reduce_b_##c, 8, 8, 4),                                       \
    KERNEL("_Z9cg_reduceI" #c "EvPT_S1_j", reduce_d_##c, 8, 8, 4),                                     \
    KERNEL("_Z7reduce7I" #c "Lj1024ELb1EEvPKT_PS0_j", reduce_c_##c, 8, 8, 4),                          \
    KERNEL("_Z20multi_warp_cg_reduceI" #c "Lm1024ELm512EEvPT_S1_j", reduce_m_##c, 8, 8, 4),            \
    KERNEL("_Z20multi_warp_cg_reduceI" #c "Lm512ELm256EEvPT_S1_j", reduce_m_##c, 8, 8, 4),             \
    KERNEL("_Z20multi_warp_cg_reduceI" #c "Lm256ELm128EEvPT_S1_j", reduce_m_##c, 8, 8, 4),             \
    KERNEL("_Z20multi_warp_cg_reduceI" #c "Lm128ELm64EEvPT_S1_j", reduce_m_##c, 8, 8, 4),              \
    KERNEL("_Z20multi_warp_cg_reduceI" #c "Lm64ELm32EEvPT_S1_j", reduce_m_##c, 8, 8, 4),               \
    REDUCTION_SIZED(c, 512) REDUCTION_SIZED(c, 256) REDUCTION_SIZED(c, 128) REDUCTION_SIZED(c, 64)     \
    REDUCTION_SIZED(c, 32) REDUCTION_SIZED(c, 16) REDUCTION_SIZED(c, 8) REDUCTION_SIZED(c, 4)          \
    REDUCTION_SIZED(c, 2) REDUCTION_SIZED(c, 1)

/*
 * convolutionRowsKernel / convolutionColumnsKernel(float *dst, float *src, int imageW, int imageH,
 * int pitch) (convolutionSeparable): dst = src convolved along rows (columns) with the 17 taps of the
 * module's __constant__ c_Kernel, c_Kernel[R - j] * src[x + j], zero outside the image. Rows: blocks
 * of 16 x 4 threads, 8 results each along x; columns: 16 x 8 threads, 8 results each along y.
 */
#define CONV_RADIUS 8

static int convolution(const gpupool_emu_launch *l, void **params, int rows)
{
    long long w = PARAM(int, params, 2), h = PARAM(int, params, 3), pitch = PARAM(int, params, 4);
    long long cols_done = rows ? (long long)l->grid[0] * 8 * l->block[0] : (long long)l->grid[0] * l->block[0];
    long long rows_done = rows ? (long long)l->grid[1] * l->block[1] : (long long)l->grid[1] * 8 * l->block[1];
    size_t taps_bytes = 0;
    const float *taps = l->global(l, "c_Kernel", &taps_bytes);
    if (taps == NULL || taps_bytes < (2 * CONV_RADIUS + 1) * sizeof(float))
        return CUDA_ERROR_INVALID_IMAGE; /* not the sample's module */
    if (cols_done > w || rows_done > h || pitch < w || w <= 0 || h <= 0)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    float *dst = DEVICE(l, PARAM(CUdeviceptr, params, 0), (h - 1) * pitch + w, sizeof(float));
    const float *src = DEVICE(l, PARAM(CUdeviceptr, params, 1), (h - 1) * pitch + w, sizeof(float));
    NEED(dst);
    NEED(src);
    if (dst == src)
        return CUDA_ERROR_INVALID_VALUE; /* the sample never convolves in place */
    for (long long y = 0; y < rows_done; y++)
        for (long long x = 0; x < cols_done; x++) {
            float sum = 0;
            for (long long j = -CONV_RADIUS; j <= CONV_RADIUS; j++) {
                long long sx = rows ? x + j : x, sy = rows ? y : y + j;
                float v = sx >= 0 && sx < w && sy >= 0 && sy < h ? src[sy * pitch + sx] : 0;
                sum += taps[CONV_RADIUS - j] * v;
            }
            dst[y * pitch + x] = sum;
        }
    return CUDA_SUCCESS;
}

static int convolution_rows(const gpupool_emu_launch *l, void **params) { return convolution(l, params, 1); }
static int convolution_columns(const gpupool_emu_launch *l, void **params) { return convolution(l, params, 0); }

/* kernelFunction(int *input) (threadMigration): input[t] = 32 - t for each thread of the block. */
static int count_down(const gpupool_emu_launch *l, void **params)
{
    long long n = l->block[0];
    int *in = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(int));
    NEED(in);
    for (long long t = 0; t < n; t++)
        in[t] = (int)(32 - t);
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
    REDUCTION_TYPE(i) REDUCTION_TYPE(f) REDUCTION_TYPE(d)
    KERNEL("kernelFunction", count_down, 8),
    KERNEL("_Z21convolutionRowsKernelPfS_iii", convolution_rows, 8, 8, 4, 4, 4),
    KERNEL("_Z24convolutionColumnsKernelPfS_iii", convolution_columns, 8, 8, 4, 4, 4),
    KERNEL("_Z18histogram256KernelPjS_j", histogram256, 8, 8, 4),
    KERNEL("_Z17histogram64KernelPjP5uint4j", histogram64, 8, 8, 4),
    KERNEL("_Z23mergeHistogram256KernelPjS_j", histogram_merge, 8, 8, 4),
    KERNEL("_Z22mergeHistogram64KernelPjS_j", histogram_merge, 8, 8, 4),
    KERNEL("_Z19scanExclusiveSharedP5uint4S0_j", scan_shared, 8, 8, 4),
    KERNEL("_Z20scanExclusiveShared2PjS_S_jj", scan_shared2, 8, 8, 8, 4, 4),
    KERNEL("_Z13uniformUpdateP5uint4Pj", scan_uniform_update, 8, 8),
    KERNEL("_Z17bitonicSortSharedPjS_S_S_jj", bitonic_sort_shared, 8, 8, 8, 8, 4, 4),
    KERNEL("_Z18bitonicSortShared1PjS_S_S_", bitonic_sort_shared1, 8, 8, 8, 8),
    KERNEL("_Z18bitonicMergeGlobalPjS_S_S_jjjj", bitonic_merge_global, 8, 8, 8, 8, 4, 4, 4, 4),
    KERNEL("_Z18bitonicMergeSharedPjS_S_S_jjj", bitonic_merge_shared, 8, 8, 8, 8, 4, 4, 4),
    KERNEL("_Z22oddEvenMergeSortSharedPjS_S_S_jj", odd_even_sort_shared, 8, 8, 8, 8, 4, 4),
    KERNEL("_Z18oddEvenMergeGlobalPjS_S_S_jjjj", odd_even_merge_global, 8, 8, 8, 8, 4, 4, 4, 4),
};
const unsigned concepts_kernel_count = COUNT(concepts_kernels);
