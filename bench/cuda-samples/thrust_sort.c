/*
 * CPU kernels of CUB's radix sort (see kernels.c), as Thrust's sort and sort_by_key launch them for
 * 32-bit keys (CCCL 3.0, built for sm_80: the kernels' names carry CUB_300001_SM_800): below one tile,
 * one DeviceRadixSortSingleTileKernel; above it, the onesweep sort: DeviceRadixSortHistogramKernel
 * counts every pass's digits, DeviceRadixSortExclusiveSumKernel scans them (one block per pass),
 * and one DeviceRadixSortOnesweepKernel per 8-bit pass scatters the keys (and values) stably by their
 * digit into the double buffer's other half; the host flips the buffer's selector after each launch,
 * as on a GPU. Each kernel is written as its whole launch: the decoupled look-back that lets a GPU's
 * blocks scatter at once (the lookback array) is not kept, since no later kernel reads it.
 */
#include "kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RADIX_BITS 8 /* every sm_80 policy's ONESWEEP_RADIX_BITS, which sizes the histogram and scan too */
#define RADIX_DIGITS (1 << RADIX_BITS)

typedef enum { KEY_UINT, KEY_FLOAT } key_kind;

/*
 * A key's bits in the order radix sort compares them (CUB's twiddling): a float's sign bit flipped,
 * or all its bits when negative; -0.0 counts as +0.0, so that equal keys keep their order.
 */
static uint32_t ordered(uint32_t bits, key_kind kind)
{
    if (kind == KEY_UINT)
        return bits;
    uint32_t twiddled = (bits & 0x80000000u) ? ~bits : bits ^ 0x80000000u;
    return twiddled == 0x7fffffffu ? 0x80000000u : twiddled;
}

static uint32_t digit(uint32_t key, key_kind kind, int bit, int bits)
{
    return (ordered(key, kind) >> bit) & ((1u << bits) - 1);
}

static int passes(int begin_bit, int end_bit)
{
    return (end_bit - begin_bit + RADIX_BITS - 1) / RADIX_BITS;
}

/* DeviceRadixSortHistogramKernel(bins, keys, num_items, begin_bit, end_bit, decomposer): adds each
 * pass's digit counts to bins[pass * 256 + digit] (the host zeroed them; blocks add atomically). */
static int histogram(const gpupool_emu_launch *l, void **params, key_kind kind)
{
    unsigned long long n = PARAM(unsigned long long, params, 2);
    int begin = PARAM(int, params, 3), end = PARAM(int, params, 4), count = passes(begin, end);
    if (begin < 0 || end > 32 || begin > end)
        return CUDA_ERROR_INVALID_VALUE;
    unsigned long long *bins = DEVICE(l, PARAM(CUdeviceptr, params, 0), count * RADIX_DIGITS, sizeof(unsigned long long));
    const uint32_t *keys = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(uint32_t));
    if (count == 0 || n == 0)
        return CUDA_SUCCESS;
    NEED(bins);
    NEED(keys);
    for (unsigned long long i = 0; i < n; i++)
        for (int p = 0, bit = begin; p < count; p++, bit += RADIX_BITS)
            bins[p * RADIX_DIGITS + digit(keys[i], kind, bit, end - bit < RADIX_BITS ? end - bit : RADIX_BITS)]++;
    return CUDA_SUCCESS;
}

static int histogram_uint(const gpupool_emu_launch *l, void **p) { return histogram(l, p, KEY_UINT); }
static int histogram_float(const gpupool_emu_launch *l, void **p) { return histogram(l, p, KEY_FLOAT); }

/* DeviceRadixSortExclusiveSumKernel(bins): block b turns pass b's 256 counts into their starts. */
static int exclusive_sum(const gpupool_emu_launch *l, void **params)
{
    size_t blocks = grid_blocks(l);
    unsigned long long *bins = DEVICE(l, PARAM(CUdeviceptr, params, 0), blocks * RADIX_DIGITS, sizeof(unsigned long long));
    NEED(bins);
    for (size_t b = 0; b < blocks; b++) {
        unsigned long long sum = 0;
        for (int d = 0; d < RADIX_DIGITS; d++) {
            unsigned long long c = bins[b * RADIX_DIGITS + d];
            bins[b * RADIX_DIGITS + d] = sum;
            sum += c;
        }
    }
    return CUDA_SUCCESS;
}

/*
 * DeviceRadixSortOnesweepKernel(lookback, ctrs, bins_out, bins_in, keys_out, keys_in, values_out,
 * values_in, num_items, current_bit, num_bits, decomposer): one pass over one portion (2^28 items at
 * most). Each item goes to bins_in[its digit] plus the number of earlier items of that digit, in the
 * whole array's output buffer; bins_out (the next portion's starts, when there is one) gets where this
 * portion's digits end; each block takes its tile from ctrs with an atomic increment.
 */
static int onesweep(const gpupool_emu_launch *l, void **params, key_kind kind, size_t value_bytes)
{
    int n = PARAM(int, params, 8), bit = PARAM(int, params, 9), bits = PARAM(int, params, 10);
    if (n < 0 || bit < 0 || bits < 1 || bits > RADIX_BITS || bit + bits > 32)
        return CUDA_ERROR_INVALID_VALUE;
    int *ctrs = DEVICE(l, PARAM(CUdeviceptr, params, 1), 1, sizeof(int));
    const unsigned long long *bins_in = DEVICE(l, PARAM(CUdeviceptr, params, 3), RADIX_DIGITS, sizeof(unsigned long long));
    CUdeviceptr bins_out_ptr = PARAM(CUdeviceptr, params, 2);
    unsigned long long *bins_out = bins_out_ptr != 0 ? DEVICE(l, bins_out_ptr, RADIX_DIGITS, sizeof(unsigned long long)) : NULL;
    const uint32_t *keys_in = DEVICE(l, PARAM(CUdeviceptr, params, 5), n, sizeof(uint32_t));
    NEED(ctrs);
    NEED(bins_in);
    if (bins_out_ptr != 0)
        NEED(bins_out);
    if (n == 0)
        return CUDA_SUCCESS;
    NEED(keys_in);
    const unsigned char *values_in = value_bytes ? DEVICE(l, PARAM(CUdeviceptr, params, 7), n, value_bytes) : NULL;
    if (value_bytes)
        NEED(values_in);
    unsigned long long *to = malloc((size_t)n * sizeof *to), next[RADIX_DIGITS], end = 0;
    if (to == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    memcpy(next, bins_in, sizeof next);
    for (int i = 0; i < n; i++) {
        to[i] = next[digit(keys_in[i], kind, bit, bits)]++;
        if (to[i] + 1 > end)
            end = to[i] + 1;
    }
    uint32_t *keys_out = DEVICE(l, PARAM(CUdeviceptr, params, 4), end, sizeof(uint32_t));
    unsigned char *values_out = value_bytes ? DEVICE(l, PARAM(CUdeviceptr, params, 6), end, value_bytes) : NULL;
    if (keys_out == NULL || (value_bytes && values_out == NULL)) {
        free(to);
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    }
    for (int i = 0; i < n; i++) {
        keys_out[to[i]] = keys_in[i];
        if (value_bytes)
            memcpy(values_out + to[i] * value_bytes, values_in + (size_t)i * value_bytes, value_bytes);
    }
    free(to);
    if (bins_out != NULL)
        memcpy(bins_out, next, sizeof next);
    *ctrs += (int)grid_blocks(l);
    return CUDA_SUCCESS;
}

static int onesweep_uint(const gpupool_emu_launch *l, void **p) { return onesweep(l, p, KEY_UINT, 0); }
static int onesweep_uint_pairs(const gpupool_emu_launch *l, void **p) { return onesweep(l, p, KEY_UINT, 4); }
static int onesweep_float(const gpupool_emu_launch *l, void **p) { return onesweep(l, p, KEY_FLOAT, 0); }
static int onesweep_float_pairs(const gpupool_emu_launch *l, void **p) { return onesweep(l, p, KEY_FLOAT, 4); }

/*
 * DeviceRadixSortSingleTileKernel(keys_in, keys_out, values_in, values_out, num_items, begin_bit,
 * end_bit, decomposer): one block sorts its one tile by bits [begin_bit, end_bit) of each key, stably
 * (its blocked-to-striped radix sort keeps equal keys in order), into the buffers' other half.
 */
static int single_tile(const gpupool_emu_launch *l, void **params, key_kind kind, size_t value_bytes)
{
    unsigned long long n = PARAM(unsigned long long, params, 4);
    int begin = PARAM(int, params, 5), end = PARAM(int, params, 6);
    if (begin < 0 || end > 32 || begin > end)
        return CUDA_ERROR_INVALID_VALUE;
    if (n == 0)
        return CUDA_SUCCESS;
    const uint32_t *keys_in = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    uint32_t *keys_out = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(uint32_t));
    const unsigned char *values_in = value_bytes ? DEVICE(l, PARAM(CUdeviceptr, params, 2), n, value_bytes) : NULL;
    unsigned char *values_out = value_bytes ? DEVICE(l, PARAM(CUdeviceptr, params, 3), n, value_bytes) : NULL;
    NEED(keys_in);
    NEED(keys_out);
    if (value_bytes && (values_in == NULL || values_out == NULL))
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    /* Least significant digit first, each pass a stable counting sort of the items' indices. */
    uint32_t *order = malloc(n * sizeof *order), *spare = malloc(n * sizeof *spare);
    if (order == NULL || spare == NULL) {
        free(order);
        free(spare);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    for (int bit = begin; bit < end; bit += RADIX_BITS) {
        int bits = end - bit < RADIX_BITS ? end - bit : RADIX_BITS;
        unsigned long long start[RADIX_DIGITS] = { 0 }, sum = 0;
        for (uint32_t i = 0; i < n; i++)
            start[digit(keys_in[order[i]], kind, bit, bits)]++;
        for (int d = 0; d < RADIX_DIGITS; d++) {
            unsigned long long c = start[d];
            start[d] = sum;
            sum += c;
        }
        for (uint32_t i = 0; i < n; i++)
            spare[start[digit(keys_in[order[i]], kind, bit, bits)]++] = order[i];
        uint32_t *t = order;
        order = spare;
        spare = t;
    }
    for (uint32_t i = 0; i < n; i++) {
        keys_out[i] = keys_in[order[i]];
        if (value_bytes)
            memcpy(values_out + (size_t)i * value_bytes, values_in + (size_t)order[i] * value_bytes, value_bytes);
    }
    free(order);
    free(spare);
    return CUDA_SUCCESS;
}

static int single_tile_uint(const gpupool_emu_launch *l, void **p) { return single_tile(l, p, KEY_UINT, 0); }
static int single_tile_uint_pairs(const gpupool_emu_launch *l, void **p) { return single_tile(l, p, KEY_UINT, 4); }
static int single_tile_float(const gpupool_emu_launch *l, void **p) { return single_tile(l, p, KEY_FLOAT, 0); }
static int single_tile_float_pairs(const gpupool_emu_launch *l, void **p) { return single_tile(l, p, KEY_FLOAT, 4); }

/* The kernels' names: CUB's namespace, then each kernel over policy_hub<Key, Value, Offset>. */
#define CUB "_ZN3cub17CUB_300001_SM_8006detail10radix_sort"
#define P8 sizeof(CUdeviceptr)
/* identity_decomposer_t, an empty struct: one byte of parameter space. */
#define DECOMPOSER 1

#define HISTOGRAM(hub, key, tail, run)                                                             \
    KERNEL(CUB "30DeviceRadixSortHistogramKernelINS1_5radix10policy_hubI" hub "E10Policy1000ELNS0_9SortOrderE0E" key \
           "yNS1_21identity_decomposer_tEEEvPT2_PKT1_" tail "_iiT3_",                              \
           run, P8, P8, 8, 4, 4, DECOMPOSER)
#define EXCLUSIVE_SUM(hub)                                                                         \
    KERNEL(CUB "33DeviceRadixSortExclusiveSumKernelINS1_5radix10policy_hubI" hub "E10Policy1000EyEEvPT0_", exclusive_sum, P8)
#define ONESWEEP(hub, kv, subs, run)                                                               \
    KERNEL(CUB "29DeviceRadixSortOnesweepKernelINS1_5radix10policy_hubI" hub "E10Policy1000ELNS0_9SortOrderE0E" kv \
           "yiiNS1_21identity_decomposer_tEEEvPT5_" subs "_T4_iiT6_",                              \
           run, P8, P8, P8, P8, P8, P8, P8, P8, 4, 4, 4, DECOMPOSER)
#define SINGLE_TILE(hub, kv, subs, run)                                                            \
    KERNEL(CUB "31DeviceRadixSortSingleTileKernelINS1_5radix10policy_hubI" hub "E10Policy1000ELNS0_9SortOrderE0E" kv \
           "yNS1_21identity_decomposer_tEEEvPKT1_" subs "_T3_iiT4_",                               \
           run, P8, P8, P8, P8, 8, 4, 4, DECOMPOSER)

/* The substitutions' numbers shift by one when the value type is cub::NullType (keys only). */
#define PAIRS_ONESWEEP "SB_PT3_PKSC_PT1_PKSG_PT2_PKSK"
#define KEYS_ONESWEEP "SC_PT3_PKSD_PT1_PKSH_PT2_PKSL"
#define PAIRS_TILE "PSA_PKT2_PSE"
#define KEYS_TILE "PSB_PKT2_PSF"

const gpupool_emu_kernel thrust_sort_kernels[] = {
    /* unsigned int keys, unsigned int values (particles, radixSortThrust) */
    HISTOGRAM("jjy", "j", "SA", histogram_uint),
    EXCLUSIVE_SUM("jjy"),
    ONESWEEP("jjy", "jj", PAIRS_ONESWEEP, onesweep_uint_pairs),
    SINGLE_TILE("jjy", "jj", PAIRS_TILE, single_tile_uint_pairs),
    /* unsigned int keys alone */
    HISTOGRAM("jNS0_8NullTypeEy", "j", "SB", histogram_uint),
    EXCLUSIVE_SUM("jNS0_8NullTypeEy"),
    ONESWEEP("jNS0_8NullTypeEy", "jS6_", KEYS_ONESWEEP, onesweep_uint),
    SINGLE_TILE("jNS0_8NullTypeEy", "jS6_", KEYS_TILE, single_tile_uint),
    /* float keys, unsigned int values */
    HISTOGRAM("fjy", "f", "SA", histogram_float),
    EXCLUSIVE_SUM("fjy"),
    ONESWEEP("fjy", "fj", PAIRS_ONESWEEP, onesweep_float_pairs),
    SINGLE_TILE("fjy", "fj", PAIRS_TILE, single_tile_float_pairs),
    /* float keys, float values */
    HISTOGRAM("ffy", "f", "SA", histogram_float),
    EXCLUSIVE_SUM("ffy"),
    ONESWEEP("ffy", "ff", PAIRS_ONESWEEP, onesweep_float_pairs),
    SINGLE_TILE("ffy", "ff", PAIRS_TILE, single_tile_float_pairs),
    /* float keys alone */
    HISTOGRAM("fNS0_8NullTypeEy", "f", "SB", histogram_float),
    EXCLUSIVE_SUM("fNS0_8NullTypeEy"),
    ONESWEEP("fNS0_8NullTypeEy", "fS6_", KEYS_ONESWEEP, onesweep_float),
    SINGLE_TILE("fNS0_8NullTypeEy", "fS6_", KEYS_TILE, single_tile_float),
};
const unsigned thrust_sort_kernel_count = COUNT(thrust_sort_kernels);
