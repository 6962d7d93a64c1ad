/*
 * CPU kernels of 0_Introduction/mergeSort (see kernels.c), ported from the sample's kernels step by
 * step: within one synchronisation step every thread reads before any writes, so each step is run as
 * all reads, then all writes.
 */
#include "kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MS_SHARED_SIZE_LIMIT 1024U
#define SAMPLE_STRIDE 128U

static uint32_t umin(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t div_up(uint32_t a, uint32_t b) { return a % b == 0 ? a / b : a / b + 1; }
static uint32_t sample_count(uint32_t n) { return div_up(n, SAMPLE_STRIDE); }

static uint32_t next_pow2(uint32_t x)
{
    return x <= 1 ? 1 : 1U << (32 - __builtin_clz(x - 1));
}

/* binarySearchInclusive / Exclusive<sortDir>: how many of data[0, L) go before val. */
static uint32_t search(uint32_t val, const uint32_t *data, uint32_t len, uint32_t stride, unsigned dir, int inclusive)
{
    if (len == 0)
        return 0;
    uint32_t pos = 0;
    for (; stride > 0; stride >>= 1) {
        uint32_t next = umin(pos + stride, len), d = data[next - 1];
        int before = inclusive ? (dir ? d <= val : d >= val) : (dir ? d < val : d > val);
        if (before)
            pos = next;
    }
    return pos;
}

/* mergeSortSharedKernel<dir>(dk, dv, sk, sv, arrayLength): each block merge-sorts its 1024 elements
 * in runs of arrayLength, 512 threads each merging a pair of elements per stride. */
static int merge_sort_shared(const gpupool_emu_launch *l, void **params, unsigned dir)
{
    long long blocks = l->grid[0];
    uint32_t threads = l->block[0], length = PARAM(unsigned, params, 4);
    if (threads != MS_SHARED_SIZE_LIMIT / 2)
        return CUDA_ERROR_INVALID_VALUE;
    long long n = blocks * MS_SHARED_SIZE_LIMIT;
    uint32_t *dk = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, 4), *dv = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, 4);
    const uint32_t *sk = DEVICE(l, PARAM(CUdeviceptr, params, 2), n, 4), *sv = DEVICE(l, PARAM(CUdeviceptr, params, 3), n, 4);
    if (!dk || !dv || !sk || !sv)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    uint32_t key[MS_SHARED_SIZE_LIMIT], val[MS_SHARED_SIZE_LIMIT];
    uint32_t ka[MS_SHARED_SIZE_LIMIT / 2], va[MS_SHARED_SIZE_LIMIT / 2], kb[MS_SHARED_SIZE_LIMIT / 2],
        vb[MS_SHARED_SIZE_LIMIT / 2], pa[MS_SHARED_SIZE_LIMIT / 2], pb[MS_SHARED_SIZE_LIMIT / 2];
    for (long long b = 0; b < blocks; b++) {
        memcpy(key, sk + b * MS_SHARED_SIZE_LIMIT, sizeof key);
        memcpy(val, sv + b * MS_SHARED_SIZE_LIMIT, sizeof val);
        for (uint32_t stride = 1; stride < length && stride < MS_SHARED_SIZE_LIMIT; stride <<= 1) {
            for (uint32_t t = 0; t < threads; t++) {
                uint32_t lpos = t & (stride - 1), base = 2 * (t - lpos);
                ka[t] = key[base + lpos];
                va[t] = val[base + lpos];
                kb[t] = key[base + lpos + stride];
                vb[t] = val[base + lpos + stride];
                pa[t] = base + search(ka[t], key + base + stride, stride, stride, dir, 0) + lpos;
                pb[t] = base + search(kb[t], key + base, stride, stride, dir, 1) + lpos;
            }
            for (uint32_t t = 0; t < threads; t++) {
                key[pa[t]] = ka[t];
                val[pa[t]] = va[t];
                key[pb[t]] = kb[t];
                val[pb[t]] = vb[t];
            }
        }
        memcpy(dk + b * MS_SHARED_SIZE_LIMIT, key, sizeof key);
        memcpy(dv + b * MS_SHARED_SIZE_LIMIT, val, sizeof val);
    }
    return CUDA_SUCCESS;
}

/* The geometry of the merge of segment pair `pos` belongs to, as the kernels compute it. */
struct segment {
    uint32_t i, base, elements_a, elements_b, samples_a, samples_b;
};

static int segment_of(uint32_t pos, uint32_t stride, uint32_t n, struct segment *s)
{
    if (stride < SAMPLE_STRIDE || (stride & (stride - 1)) != 0)
        return 0;
    s->i = pos & (stride / SAMPLE_STRIDE - 1);
    s->base = (pos - s->i) * (2 * SAMPLE_STRIDE);
    if ((uint64_t)s->base + stride > n)
        return 0;
    s->elements_a = stride;
    s->elements_b = umin(stride, n - s->base - stride);
    s->samples_a = sample_count(s->elements_a);
    s->samples_b = sample_count(s->elements_b);
    return 1;
}

/* Element i of a uint array at base, when it is the context's memory. */
static uint32_t *at(const gpupool_emu_launch *l, CUdeviceptr base, uint64_t i)
{
    return l->memory(l, base + i * 4, 4);
}

/* generateSampleRanksKernel<dir>(ranksA, ranksB, srcKey, stride, N, threadCount). */
static int sample_ranks(const gpupool_emu_launch *l, void **params, unsigned dir)
{
    CUdeviceptr ranks_a = PARAM(CUdeviceptr, params, 0), ranks_b = PARAM(CUdeviceptr, params, 1);
    uint32_t stride = PARAM(unsigned, params, 3), n = PARAM(unsigned, params, 4), count = PARAM(unsigned, params, 5);
    const uint32_t *key = DEVICE(l, PARAM(CUdeviceptr, params, 2), n, 4);
    NEED(key);
    uint64_t threads = grid_threads(l);
    for (uint32_t pos = 0; pos < count && pos < threads; pos++) {
        struct segment s;
        if (!segment_of(pos, stride, n, &s))
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        const uint32_t *seg = key + s.base;
        uint64_t r = s.base / SAMPLE_STRIDE;
        if (s.i < s.samples_a) {
            uint32_t *a = at(l, ranks_a, r + s.i), *b = at(l, ranks_b, r + s.i);
            NEED(a);
            NEED(b);
            *a = s.i * SAMPLE_STRIDE;
            *b = search(seg[s.i * SAMPLE_STRIDE], seg + stride, s.elements_b, next_pow2(s.elements_b), dir, 0);
        }
        if (s.i < s.samples_b) {
            uint32_t *b = at(l, ranks_b, r + stride / SAMPLE_STRIDE + s.i), *a = at(l, ranks_a, r + stride / SAMPLE_STRIDE + s.i);
            NEED(a);
            NEED(b);
            *b = s.i * SAMPLE_STRIDE;
            *a = search(seg[stride + s.i * SAMPLE_STRIDE], seg, s.elements_a, next_pow2(s.elements_a), dir, 1);
        }
    }
    return CUDA_SUCCESS;
}

static int sample_ranks0(const gpupool_emu_launch *l, void **p) { return sample_ranks(l, p, 0); }
static int sample_ranks1(const gpupool_emu_launch *l, void **p) { return sample_ranks(l, p, 1); }

/* mergeRanksAndIndicesKernel(limits, ranks, stride, N, threadCount). */
static int merge_ranks(const gpupool_emu_launch *l, void **params)
{
    CUdeviceptr limits = PARAM(CUdeviceptr, params, 0), ranks_ptr = PARAM(CUdeviceptr, params, 1);
    uint32_t stride = PARAM(unsigned, params, 2), n = PARAM(unsigned, params, 3), count = PARAM(unsigned, params, 4);
    uint64_t threads = grid_threads(l);
    for (uint32_t pos = 0; pos < count && pos < threads; pos++) {
        struct segment s;
        if (!segment_of(pos, stride, n, &s))
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        uint64_t off = (uint64_t)(pos - s.i) * 2;
        const uint32_t *ranks = DEVICE(l, ranks_ptr + off * 4, s.samples_a + s.samples_b, 4);
        NEED(ranks);
        if (s.i < s.samples_a) {
            uint32_t dst = search(ranks[s.i], ranks + s.samples_a, s.samples_b, next_pow2(s.samples_b), 1, 0) + s.i;
            uint32_t *d = at(l, limits, off + dst);
            NEED(d);
            *d = ranks[s.i];
        }
        if (s.i < s.samples_b) {
            uint32_t dst = search(ranks[s.samples_a + s.i], ranks, s.samples_a, next_pow2(s.samples_a), 1, 1) + s.i;
            uint32_t *d = at(l, limits, off + dst);
            NEED(d);
            *d = ranks[s.samples_a + s.i];
        }
    }
    return CUDA_SUCCESS;
}

/* mergeElementaryIntervalsKernel<dir>(dk, dv, sk, sv, limitsA, limitsB, stride, N): block b merges
 * its pair of elementary intervals (at most SAMPLE_STRIDE elements each) into place. */
static int merge_intervals(const gpupool_emu_launch *l, void **params, unsigned dir)
{
    uint32_t stride = PARAM(unsigned, params, 6), n = PARAM(unsigned, params, 7);
    uint32_t *dk = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, 4), *dv = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, 4);
    const uint32_t *sk = DEVICE(l, PARAM(CUdeviceptr, params, 2), n, 4), *sv = DEVICE(l, PARAM(CUdeviceptr, params, 3), n, 4);
    CUdeviceptr limits_a = PARAM(CUdeviceptr, params, 4), limits_b = PARAM(CUdeviceptr, params, 5);
    if (!dk || !dv || !sk || !sv)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    if (stride < SAMPLE_STRIDE / 2 || (stride & (stride - 1)) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    uint32_t key[2 * SAMPLE_STRIDE], val[2 * SAMPLE_STRIDE], out_k[2 * SAMPLE_STRIDE], out_v[2 * SAMPLE_STRIDE];
    for (uint32_t b = 0; b < l->grid[0]; b++) {
        uint32_t interval = b & ((2 * stride) / SAMPLE_STRIDE - 1), base = (b - interval) * SAMPLE_STRIDE;
        if ((uint64_t)base + stride > n)
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        uint32_t elements_a = stride, elements_b = umin(stride, n - base - stride);
        uint32_t samples = sample_count(elements_a) + sample_count(elements_b);
        const uint32_t *la = at(l, limits_a, b), *lb = at(l, limits_b, b);
        const uint32_t *la1 = interval + 1 < samples ? at(l, limits_a, b + 1) : NULL;
        const uint32_t *lb1 = interval + 1 < samples ? at(l, limits_b, b + 1) : NULL;
        if (!la || !lb || (interval + 1 < samples && (!la1 || !lb1)))
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        uint32_t start_a = *la, start_b = *lb;
        uint32_t end_a = la1 ? *la1 : elements_a, end_b = lb1 ? *lb1 : elements_b;
        uint32_t len_a = end_a - start_a, len_b = end_b - start_b;
        if (len_a > SAMPLE_STRIDE || len_b > SAMPLE_STRIDE || (uint64_t)base + start_a + start_b + len_a + len_b > n ||
            (uint64_t)base + stride + start_b + len_b > n)
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        memcpy(key, sk + base + start_a, len_a * 4);
        memcpy(val, sv + base + start_a, len_a * 4);
        memcpy(key + SAMPLE_STRIDE, sk + base + stride + start_b, len_b * 4);
        memcpy(val + SAMPLE_STRIDE, sv + base + stride + start_b, len_b * 4);
        /* merge<dir>: A's elements go before B's equal ones. */
        for (uint32_t t = 0; t < len_a; t++) {
            uint32_t p = search(key[t], key + SAMPLE_STRIDE, len_b, SAMPLE_STRIDE, dir, 0) + t;
            out_k[p] = key[t];
            out_v[p] = val[t];
        }
        for (uint32_t t = 0; t < len_b; t++) {
            uint32_t p = search(key[SAMPLE_STRIDE + t], key, len_a, SAMPLE_STRIDE, dir, 1) + t;
            out_k[p] = key[SAMPLE_STRIDE + t];
            out_v[p] = val[SAMPLE_STRIDE + t];
        }
        memcpy(dk + base + start_a + start_b, out_k, (len_a + len_b) * 4);
        memcpy(dv + base + start_a + start_b, out_v, (len_a + len_b) * 4);
    }
    return CUDA_SUCCESS;
}

static int merge_sort_shared0(const gpupool_emu_launch *l, void **p) { return merge_sort_shared(l, p, 0); }
static int merge_sort_shared1(const gpupool_emu_launch *l, void **p) { return merge_sort_shared(l, p, 1); }
static int merge_intervals0(const gpupool_emu_launch *l, void **p) { return merge_intervals(l, p, 0); }
static int merge_intervals1(const gpupool_emu_launch *l, void **p) { return merge_intervals(l, p, 1); }

const gpupool_emu_kernel mergesort_kernels[] = {
    KERNEL("_Z21mergeSortSharedKernelILj0EEvPjS0_S0_S0_j", merge_sort_shared0, 8, 8, 8, 8, 4),
    KERNEL("_Z21mergeSortSharedKernelILj1EEvPjS0_S0_S0_j", merge_sort_shared1, 8, 8, 8, 8, 4),
    KERNEL("_Z25generateSampleRanksKernelILj0EEvPjS0_S0_jjj", sample_ranks0, 8, 8, 8, 4, 4, 4),
    KERNEL("_Z25generateSampleRanksKernelILj1EEvPjS0_S0_jjj", sample_ranks1, 8, 8, 8, 4, 4, 4),
    KERNEL("_Z26mergeRanksAndIndicesKernelPjS_jjj", merge_ranks, 8, 8, 4, 4, 4),
    KERNEL("_Z30mergeElementaryIntervalsKernelILj0EEvPjS0_S0_S0_S0_S0_jj", merge_intervals0, 8, 8, 8, 8, 8, 8, 4, 4),
    KERNEL("_Z30mergeElementaryIntervalsKernelILj1EEvPjS0_S0_S0_S0_S0_jj", merge_intervals1, 8, 8, 8, 8, 8, 8, 4, 4),
};
const unsigned mergesort_kernel_count = COUNT(mergesort_kernels);
