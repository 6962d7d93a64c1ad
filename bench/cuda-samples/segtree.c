/*
 * CPU kernels of 2_Concepts_and_Techniques/segmentationTreeThrust (see kernels.c): the sample's own
 * nine kernels (kernels.cuh), then the Thrust/CUB kernels its algorithms launch (CCCL 3.0, sm_80), each
 * per the types the sample uses and each as its whole launch. Where CUB splits one algorithm into an
 * initialising kernel and a sweep with decoupled look-back (scan, scan by key, select, unique by key,
 * adjacent difference), the sweep does the whole algorithm and the first kernel writes only what the
 * host reads back (the selected count's zero); the tile states are never read by anything else. Merge
 * sort's block sort sorts everything, stably, into both the output and the ping-pong buffer, so that
 * its partition and merge passes, whatever their number, have nothing left to do. Thrust picks 32- or
 * 64-bit offsets by the input's size; both instantiations are here.
 */
#include "kernels.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- The sample's kernels (one thread per vertex or edge; tid < count guards them all) ---- */

static int add_scalar(const gpupool_emu_launch *l, void **params)
{
    int scalar = PARAM(int, params, 1);
    uint32_t n = PARAM(uint32_t, params, 2);
    if (n == 0)
        return CUDA_SUCCESS;
    uint32_t *array = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    NEED(array);
    for (uint32_t i = 0; i < n && i < grid_threads(l); i++)
        array[i] += (uint32_t)scalar;
    return CUDA_SUCCESS;
}

/* flags[offsets[v]] = 1 for every vertex v: the first edge of each vertex starts a segment. */
static int mark_segments(const gpupool_emu_launch *l, void **params)
{
    uint32_t n = PARAM(uint32_t, params, 2);
    if (n == 0)
        return CUDA_SUCCESS;
    const uint32_t *offsets = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    NEED(offsets);
    for (uint32_t i = 0; i < n && i < grid_threads(l); i++) {
        uint32_t *flag = DEVICE(l, PARAM(CUdeviceptr, params, 1) + (CUdeviceptr)offsets[i] * 4, 1, sizeof(uint32_t));
        NEED(flag);
        *flag = 1;
    }
    return CUDA_SUCCESS;
}

/* verticesMapping[clustered[v]] = newIDs[v]. */
static int get_vertices_mapping(const gpupool_emu_launch *l, void **params)
{
    uint32_t n = PARAM(uint32_t, params, 3);
    if (n == 0)
        return CUDA_SUCCESS;
    const uint32_t *clustered = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    const uint32_t *new_ids = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(uint32_t));
    NEED(clustered);
    NEED(new_ids);
    for (uint32_t i = 0; i < n && i < grid_threads(l); i++) {
        uint32_t *to = DEVICE(l, PARAM(CUdeviceptr, params, 2) + (CUdeviceptr)clustered[i] * 4, 1, sizeof(uint32_t));
        NEED(to);
        *to = new_ids[i];
    }
    return CUDA_SUCCESS;
}

/* Each vertex's successor: the minimum edge its segment's scan ended with. */
static int get_successors(const gpupool_emu_launch *l, void **params)
{
    uint32_t n = PARAM(uint32_t, params, 3), edges = PARAM(uint32_t, params, 4);
    if (n == 0)
        return CUDA_SUCCESS;
    const uint32_t *offsets = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    const uint32_t *min_scanned = DEVICE(l, PARAM(CUdeviceptr, params, 1), edges, sizeof(uint32_t));
    uint32_t *successors = DEVICE(l, PARAM(CUdeviceptr, params, 2), n, sizeof(uint32_t));
    NEED(offsets);
    NEED(min_scanned);
    NEED(successors);
    for (uint32_t i = 0; i < n && i < grid_threads(l); i++) {
        uint32_t at = i < n - 1 ? offsets[i + 1] - 1 : edges - 1;
        if (at >= edges)
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        successors[i] = min_scanned[at];
    }
    return CUDA_SUCCESS;
}

/*
 * Two vertices that are each other's successor: the smaller becomes its own. Threads race on a GPU,
 * but each pair is written by one of its two threads only and no thread reads a vertex another pair
 * writes (successors of a 2-cycle point inside it), so thread order gives the GPU's result.
 */
static int remove_cycles(const gpupool_emu_launch *l, void **params)
{
    uint32_t n = PARAM(uint32_t, params, 1);
    if (n == 0)
        return CUDA_SUCCESS;
    uint32_t *s = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    NEED(s);
    for (uint32_t i = 0; i < n && i < grid_threads(l); i++) {
        uint32_t successor = s[i];
        if (successor >= n)
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        if (s[successor] == i) {
            if (i < successor)
                s[i] = i;
            else
                s[successor] = successor;
        }
    }
    return CUDA_SUCCESS;
}

/* Each vertex's representative: follow successors to the root (a vertex that is its own). */
static int get_representatives(const gpupool_emu_launch *l, void **params)
{
    uint32_t n = PARAM(uint32_t, params, 2);
    if (n == 0)
        return CUDA_SUCCESS;
    const uint32_t *s = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    uint32_t *representatives = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(uint32_t));
    NEED(s);
    NEED(representatives);
    for (uint32_t i = 0; i < n && i < grid_threads(l); i++) {
        uint32_t successor = s[i], steps = 0;
        if (successor >= n)
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        uint32_t next = s[successor];
        while (successor != next) {
            if (next >= n || ++steps > n)
                return CUDA_ERROR_ILLEGAL_ADDRESS; /* a cycle the GPU would spin on forever */
            successor = next;
            next = s[next];
        }
        representatives[i] = successor;
    }
    return CUDA_SUCCESS;
}

/* An edge whose two ends map to one new vertex becomes UINT_MAX. */
static int invalidate_loops(const gpupool_emu_launch *l, void **params)
{
    uint32_t n = PARAM(uint32_t, params, 3);
    if (n == 0)
        return CUDA_SUCCESS;
    const uint32_t *starts = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    uint32_t *edges = DEVICE(l, PARAM(CUdeviceptr, params, 2), n, sizeof(uint32_t));
    NEED(starts);
    NEED(edges);
    CUdeviceptr mapping = PARAM(CUdeviceptr, params, 1);
    for (uint32_t i = 0; i < n && i < grid_threads(l); i++) {
        const uint32_t *from = DEVICE(l, mapping + (CUdeviceptr)starts[i] * 4, 1, sizeof(uint32_t));
        const uint32_t *to = DEVICE(l, mapping + (CUdeviceptr)edges[i] * 4, 1, sizeof(uint32_t));
        NEED(from);
        NEED(to);
        if (*from == *to)
            edges[i] = UINT32_MAX;
    }
    return CUDA_SUCCESS;
}

/* New startpoints (dead edges pushed past every live one) and the surviving edges' ids. */
static int calculate_edges_info(const gpupool_emu_launch *l, void **params)
{
    uint32_t n = PARAM(uint32_t, params, 6), new_vertices = PARAM(uint32_t, params, 7);
    if (n == 0)
        return CUDA_SUCCESS;
    const uint32_t *starts = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    const uint32_t *edges = DEVICE(l, PARAM(CUdeviceptr, params, 2), n, sizeof(uint32_t));
    uint32_t *new_starts = DEVICE(l, PARAM(CUdeviceptr, params, 4), n, sizeof(uint32_t));
    uint32_t *survived = DEVICE(l, PARAM(CUdeviceptr, params, 5), n, sizeof(uint32_t));
    NEED(starts);
    NEED(edges);
    NEED(new_starts);
    NEED(survived);
    for (uint32_t i = 0; i < n && i < grid_threads(l); i++) {
        const uint32_t *mapped = DEVICE(l, PARAM(CUdeviceptr, params, 1) + (CUdeviceptr)starts[i] * 4, 1, sizeof(uint32_t));
        NEED(mapped);
        bool live = edges[i] < UINT32_MAX;
        new_starts[i] = live ? *mapped : new_vertices + *mapped;
        survived[i] = live ? i : UINT32_MAX;
    }
    return CUDA_SUCCESS;
}

/* The surviving edges, their endpoints renumbered, with their weights. */
static int make_new_edges(const gpupool_emu_launch *l, void **params)
{
    uint32_t n = PARAM(uint32_t, params, 6);
    if (n == 0)
        return CUDA_SUCCESS;
    const uint32_t *survived = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    uint32_t *new_edges = DEVICE(l, PARAM(CUdeviceptr, params, 4), n, sizeof(uint32_t));
    float *new_weights = DEVICE(l, PARAM(CUdeviceptr, params, 5), n, sizeof(float));
    NEED(survived);
    NEED(new_edges);
    NEED(new_weights);
    for (uint32_t i = 0; i < n && i < grid_threads(l); i++) {
        const uint32_t *edge = DEVICE(l, PARAM(CUdeviceptr, params, 2) + (CUdeviceptr)survived[i] * 4, 1, sizeof(uint32_t));
        const float *weight = DEVICE(l, PARAM(CUdeviceptr, params, 3) + (CUdeviceptr)survived[i] * 4, 1, sizeof(float));
        NEED(edge);
        NEED(weight);
        const uint32_t *mapped = DEVICE(l, PARAM(CUdeviceptr, params, 1) + (CUdeviceptr)*edge * 4, 1, sizeof(uint32_t));
        NEED(mapped);
        new_edges[i] = *mapped;
        new_weights[i] = *weight;
    }
    return CUDA_SUCCESS;
}

/* ---- Thrust and CUB ---- */

/* A count parameter: 32 bits in the narrow instantiations, 64 in the wide; negative counts fail. */
static long long count_param(void **params, int i, bool wide)
{
    return wide ? PARAM(long long, params, i) : (long long)PARAM(int32_t, params, i);
}

/* A kernel whose work another launch of its algorithm does whole (see the header). */
static int nothing(const gpupool_emu_launch *l, void **params)
{
    (void)l;
    (void)params;
    return CUDA_SUCCESS;
}

/* for_each's static_kernel(num_items, op) with thrust::fill's functor {device_ptr<unsigned>, int}. */
static int fill_uint(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(long long, params, 0);
    const unsigned char *op = params[1];
    CUdeviceptr items;
    int32_t value;
    memcpy(&items, op, 8);
    memcpy(&value, op + 8, 4);
    if (n <= 0)
        return CUDA_SUCCESS;
    uint32_t *to = DEVICE(l, items, n, sizeof(uint32_t));
    NEED(to);
    for (long long i = 0; i < n; i++)
        to[i] = (uint32_t)value;
    return CUDA_SUCCESS;
}

/* The same with thrust::sequence's tabulate functor {device_ptr<unsigned>, {init, step}}. */
static int sequence_uint(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(long long, params, 0);
    const unsigned char *op = params[1];
    CUdeviceptr items;
    uint32_t init, step;
    memcpy(&items, op, 8);
    memcpy(&init, op + 8, 4);
    memcpy(&step, op + 12, 4);
    if (n <= 0)
        return CUDA_SUCCESS;
    uint32_t *to = DEVICE(l, items, n, sizeof(uint32_t));
    NEED(to);
    for (long long i = 0; i < n; i++)
        to[i] = init + step * (uint32_t)i;
    return CUDA_SUCCESS;
}

/*
 * DeviceScanKernel(d_in, d_out, tile_state, start_tile, plus, NullType init, num_items): the inclusive
 * sum of unsigned ints. start_tile is not 0 only when the grid could not hold every tile (more than
 * 2^31 tiles); that split is refused rather than guessed.
 */
static int scan_sum(const gpupool_emu_launch *l, void **params, bool wide)
{
    long long n = count_param(params, 6, wide);
    if (PARAM(int, params, 3) != 0)
        return CUDA_ERROR_NOT_SUPPORTED;
    if (n <= 0)
        return CUDA_SUCCESS;
    const uint32_t *in = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    uint32_t *out = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(uint32_t));
    NEED(in);
    NEED(out);
    uint32_t sum = 0;
    for (long long i = 0; i < n; i++)
        out[i] = sum += in[i];
    return CUDA_SUCCESS;
}

static int scan_sum32(const gpupool_emu_launch *l, void **p) { return scan_sum(l, p, false); }
static int scan_sum64(const gpupool_emu_launch *l, void **p) { return scan_sum(l, p, true); }

/*
 * DeviceScanByKeyKernel(d_keys, d_keys_prev, d_in, d_out, tile_state, start_tile, greater_equal<unsigned>,
 * minimum<tuple<float, unsigned>>, NullType, num_items): thrust::inclusive_scan_by_key of (weight, edge)
 * pairs, zipped (two device pointers, in order), by unsigned keys: item i continues its predecessor's
 * segment when equal(key[i - 1], key[i]), as CUB's head flags ask; the minimum is the tuple's
 * lexicographic one (the left one on ties).
 */
static int scan_by_key_min(const gpupool_emu_launch *l, void **params, bool wide)
{
    long long n = count_param(params, 9, wide);
    if (PARAM(int, params, 5) != 0)
        return CUDA_ERROR_NOT_SUPPORTED;
    if (n <= 0)
        return CUDA_SUCCESS;
    const CUdeviceptr *in = params[2], *out = params[3];
    const uint32_t *keys = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    const float *weights = DEVICE(l, in[0], n, sizeof(float));
    const uint32_t *edges = DEVICE(l, in[1], n, sizeof(uint32_t));
    float *out_weights = DEVICE(l, out[0], n, sizeof(float));
    uint32_t *out_edges = DEVICE(l, out[1], n, sizeof(uint32_t));
    NEED(keys);
    NEED(weights);
    NEED(edges);
    NEED(out_weights);
    NEED(out_edges);
    float w = 0;
    uint32_t e = 0;
    for (long long i = 0; i < n; i++) {
        if (i == 0 || !(keys[i - 1] >= keys[i]) || weights[i] < w || (!(w < weights[i]) && edges[i] < e)) {
            w = weights[i];
            e = edges[i];
        }
        out_weights[i] = w;
        out_edges[i] = e;
    }
    return CUDA_SUCCESS;
}

static int scan_by_key_min32(const gpupool_emu_launch *l, void **p) { return scan_by_key_min(l, p, false); }
static int scan_by_key_min64(const gpupool_emu_launch *l, void **p) { return scan_by_key_min(l, p, true); }

/* DeviceCompactInitKernel(tile_state, num_tiles, d_num_selected_out): the count starts at 0. */
static int compact_init(const gpupool_emu_launch *l, void **params, size_t bytes)
{
    void *count = DEVICE(l, PARAM(CUdeviceptr, params, 2), 1, bytes);
    NEED(count);
    memset(count, 0, bytes);
    return CUDA_SUCCESS;
}

static int compact_init32(const gpupool_emu_launch *l, void **p) { return compact_init(l, p, 4); }
static int compact_init64(const gpupool_emu_launch *l, void **p) { return compact_init(l, p, 8); }

/*
 * DeviceAdjacentDifferenceDifferenceKernel(d_in, first_tile_previous, d_out, not_equal_to<unsigned>,
 * num_items), reading left: out[0] = in[0], out[i] = (in[i] != in[i - 1]). The may-alias variant (in
 * place) reads the input whole before writing, which is what its init kernel's saved tile edges buy.
 */
static int difference_not_equal(const gpupool_emu_launch *l, void **params, bool wide)
{
    long long n = count_param(params, 4, wide);
    if (n <= 0)
        return CUDA_SUCCESS;
    const uint32_t *in = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
    uint32_t *out = DEVICE(l, PARAM(CUdeviceptr, params, 2), n, sizeof(uint32_t));
    NEED(in);
    NEED(out);
    uint32_t previous = in[0];
    out[0] = in[0];
    for (long long i = 1; i < n; i++) {
        uint32_t current = in[i];
        out[i] = current != previous;
        previous = current;
    }
    return CUDA_SUCCESS;
}

static int difference32(const gpupool_emu_launch *l, void **p) { return difference_not_equal(l, p, false); }
static int difference64(const gpupool_emu_launch *l, void **p) { return difference_not_equal(l, p, true); }

/* A (key, key) pair of the zipped sort, compared lexicographically (thrust::less of a tuple). */
typedef struct {
    uint32_t a, b;
} pair32;

static int pair_compare(const void *x, const void *y)
{
    const pair32 *p = x, *q = y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    return p->b < q->b ? -1 : p->b > q->b;
}

/*
 * DeviceMergeSortBlockSortKernel(ping, keys_in, items_in, keys_out, items_out, num_items, keys_buffer,
 * items_buffer, less, vsmem): thrust::sort of two zipped unsigned arrays (no items). Equal pairs are
 * indistinguishable, so an unstable sort gives the stable one's result. The sorted pairs go to the
 * output (two arrays) and to the buffer (pairs), where every merge pass would leave them.
 */
static int merge_block_sort(const gpupool_emu_launch *l, void **params, bool wide)
{
    long long n = count_param(params, 5, wide);
    if (n <= 0)
        return CUDA_SUCCESS;
    const CUdeviceptr *in = params[1], *out = params[3];
    const uint32_t *in_a = DEVICE(l, in[0], n, sizeof(uint32_t)), *in_b = DEVICE(l, in[1], n, sizeof(uint32_t));
    uint32_t *out_a = DEVICE(l, out[0], n, sizeof(uint32_t)), *out_b = DEVICE(l, out[1], n, sizeof(uint32_t));
    pair32 *buffer = DEVICE(l, PARAM(CUdeviceptr, params, 6), n, sizeof(pair32));
    NEED(in_a);
    NEED(in_b);
    NEED(out_a);
    NEED(out_b);
    NEED(buffer);
    pair32 *sorted = malloc((size_t)n * sizeof *sorted);
    if (sorted == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (long long i = 0; i < n; i++)
        sorted[i] = (pair32){ in_a[i], in_b[i] };
    qsort(sorted, (size_t)n, sizeof *sorted, pair_compare);
    for (long long i = 0; i < n; i++) {
        out_a[i] = sorted[i].a;
        out_b[i] = sorted[i].b;
    }
    memcpy(buffer, sorted, (size_t)n * sizeof *sorted);
    free(sorted);
    return CUDA_SUCCESS;
}

static int block_sort32(const gpupool_emu_launch *l, void **p) { return merge_block_sort(l, p, false); }
static int block_sort64(const gpupool_emu_launch *l, void **p) { return merge_block_sort(l, p, true); }

/*
 * thrust::find_if's reduction: items are (pred(ptr[i]), first_index + i) with pred "value >= bound"
 * (the sample's IsGreaterEqualThan), reduced by find_if's functor: the smallest index whose flag is true.
 * The zipped input: {device_ptr<unsigned>, bound (padded to 8)}, then counting_iterator<long>.
 */
typedef struct {
    bool found;
    long long index;
} found_t;

static found_t find_op(found_t lhs, found_t rhs)
{
    if (lhs.found && rhs.found)
        return (found_t){ true, lhs.index < rhs.index ? lhs.index : rhs.index };
    return lhs.found ? lhs : rhs;
}

static found_t found_read(const unsigned char *t)
{
    found_t f;
    f.found = t[0] != 0;
    memcpy(&f.index, t + 8, 8);
    return f;
}

static void found_write(unsigned char *t, found_t f)
{
    memset(t, 0, 16);
    t[0] = f.found;
    memcpy(t + 8, &f.index, 8);
}

/* Reduces items [begin, end) of the zipped input; *out is only written when the range is not empty. */
static int find_range(const gpupool_emu_launch *l, const unsigned char *zip, long long begin, long long end,
                      found_t *out)
{
    CUdeviceptr values;
    uint32_t bound;
    long long first_index;
    memcpy(&values, zip, 8);
    memcpy(&bound, zip + 8, 4);
    memcpy(&first_index, zip + 16, 8);
    if (end <= begin)
        return CUDA_SUCCESS;
    const uint32_t *v = DEVICE(l, values + (CUdeviceptr)begin * 4, end - begin, sizeof(uint32_t));
    NEED(v);
    for (long long i = begin; i < end; i++) {
        found_t item = { v[i - begin] >= bound, first_index + i };
        *out = i == begin ? item : find_op(*out, item);
    }
    return CUDA_SUCCESS;
}

/*
 * DeviceReduceKernel(d_in, d_out, num_items, GridEvenShare, op, identity): block b's partial, over
 * its even share of the tiles (CUB's rake mapping), in d_out[b]. The share's fields: total_tiles,
 * big_shares (ints), then big_share_items, normal_share_items, normal_base_offset, num_items (offsets).
 */
static int find_partials(const gpupool_emu_launch *l, void **params, bool wide)
{
    const unsigned char *share = params[3];
    int32_t total_tiles, big_shares;
    long long big = 0, normal = 0, base = 0, n = count_param(params, 2, wide);
    memcpy(&total_tiles, share, 4);
    memcpy(&big_shares, share + 4, 4);
    if (wide) {
        memcpy(&big, share + 8, 8);
        memcpy(&normal, share + 16, 8);
        memcpy(&base, share + 24, 8);
    } else {
        uint32_t v[3];
        memcpy(v, share + 8, sizeof v);
        big = v[0], normal = v[1], base = v[2];
    }
    size_t blocks = grid_blocks(l);
    unsigned char *out = DEVICE(l, PARAM(CUdeviceptr, params, 1), blocks, 16);
    NEED(out);
    for (size_t b = 0; b < blocks && (long long)b < total_tiles; b++) {
        long long begin, end;
        if ((long long)b < big_shares) {
            begin = (long long)b * big;
            end = begin + big;
        } else {
            begin = base + (long long)b * normal;
            end = begin + (n - begin < normal ? n - begin : normal);
        }
        found_t partial = { false, 0 };
        if (end > n || begin < 0)
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        int rc = find_range(l, params[0], begin, end, &partial);
        if (rc != CUDA_SUCCESS)
            return rc;
        if (end > begin)
            found_write(out + b * 16, partial);
    }
    return CUDA_SUCCESS;
}

static int find_partials32(const gpupool_emu_launch *l, void **p) { return find_partials(l, p, false); }
static int find_partials64(const gpupool_emu_launch *l, void **p) { return find_partials(l, p, true); }

/* DeviceReduceSingleTileKernel(d_in, d_out, num_items, op, init, identity) over the zipped input:
 * d_out[0] = op(init, the items' reduction). */
static int find_single(const gpupool_emu_launch *l, void **params, bool wide)
{
    long long n = count_param(params, 2, wide);
    unsigned char *out = DEVICE(l, PARAM(CUdeviceptr, params, 1), 1, 16);
    NEED(out);
    found_t result = found_read(params[4]), items = { false, 0 };
    if (n > 0) {
        int rc = find_range(l, params[0], 0, n, &items);
        if (rc != CUDA_SUCCESS)
            return rc;
        result = find_op(result, items);
    }
    found_write(out, result);
    return CUDA_SUCCESS;
}

static int find_single32(const gpupool_emu_launch *l, void **p) { return find_single(l, p, false); }
static int find_single64(const gpupool_emu_launch *l, void **p) { return find_single(l, p, true); }

/* The same over the first pass's partials (tuple<bool, long> pointers, int count). */
static int find_partials_single(const gpupool_emu_launch *l, void **params)
{
    int n = PARAM(int, params, 2);
    unsigned char *out = DEVICE(l, PARAM(CUdeviceptr, params, 1), 1, 16);
    NEED(out);
    found_t result = found_read(params[4]);
    if (n > 0) {
        const unsigned char *in = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, 16);
        NEED(in);
        for (int i = 0; i < n; i++)
            result = find_op(result, found_read(in + (size_t)i * 16));
    }
    found_write(out, result);
    return CUDA_SUCCESS;
}

/*
 * DeviceSelectSweepKernel(d_in counting_iterator<unsigned>, d_flags, d_out, d_num_selected (long *),
 * tile_state, identity, NullType, num_items, num_tiles, streaming_context, vsmem): thrust::copy_if with
 * a stencil: each index whose flag is not 0, in order, and their count. Streaming context: first and
 * last partition (bools), then the total and previous counts; inputs over 2^31 items come in several
 * partitions, which are refused rather than guessed.
 */
static int select_flagged(const gpupool_emu_launch *l, void **params)
{
    uint32_t first = PARAM(uint32_t, params, 0);
    int n = PARAM(int, params, 7);
    const unsigned char *context = params[9];
    if (!context[0] || !context[1])
        return CUDA_ERROR_NOT_SUPPORTED;
    long long *selected = DEVICE(l, PARAM(CUdeviceptr, params, 3), 1, sizeof(long long));
    NEED(selected);
    long long count = 0;
    if (n > 0) {
        const uint32_t *flags = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(uint32_t));
        NEED(flags);
        for (int i = 0; i < n; i++)
            count += flags[i] != 0;
        uint32_t *out = DEVICE(l, PARAM(CUdeviceptr, params, 2), count, sizeof(uint32_t));
        if (count > 0)
            NEED(out);
        for (int i = 0, k = 0; i < n; i++)
            if (flags[i] != 0)
                out[k++] = first + (uint32_t)i;
    }
    *selected = count;
    return CUDA_SUCCESS;
}

/*
 * DeviceUniqueByKeySweepKernel(d_keys, d_values counting_iterator<int>, d_keys_out (discarded),
 * d_values_out, d_num_selected, tile_state, equal_to, num_items, num_tiles, vsmem): the value of the
 * first item of each run of equal keys, and the runs' count (unsigned, or unsigned long when wide).
 */
static int unique_by_key(const gpupool_emu_launch *l, void **params, bool wide)
{
    int32_t first = PARAM(int32_t, params, 1);
    long long n = count_param(params, 7, wide);
    void *selected = DEVICE(l, PARAM(CUdeviceptr, params, 4), 1, wide ? 8 : 4);
    NEED(selected);
    unsigned long long count = 0;
    if (n > 0) {
        const uint32_t *keys = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(uint32_t));
        NEED(keys);
        for (long long i = 0; i < n; i++)
            count += i == 0 || keys[i] != keys[i - 1];
        int32_t *out = DEVICE(l, PARAM(CUdeviceptr, params, 3), count, sizeof(int32_t));
        NEED(out);
        for (long long i = 0, k = 0; i < n; i++)
            if (i == 0 || keys[i] != keys[i - 1])
                out[k++] = first + (int32_t)i;
    }
    if (wide)
        memcpy(selected, &count, 8);
    else {
        uint32_t c = (uint32_t)count;
        memcpy(selected, &c, 4);
    }
    return CUDA_SUCCESS;
}

static int unique_by_key32(const gpupool_emu_launch *l, void **p) { return unique_by_key(l, p, false); }
static int unique_by_key64(const gpupool_emu_launch *l, void **p) { return unique_by_key(l, p, true); }

#define P8 sizeof(CUdeviceptr)
#define CUB "_ZN3cub17CUB_300001_SM_8006detail"
#define THRUST "N6thrust23THRUST_300001_SM_800_NS"
/* The zipped (device_ptr<unsigned>, device_ptr<unsigned>) iterator both merge sort kernels name. */
#define ZIP_UU THRUST "12zip_iteratorIN4cuda3std3__45tupleIJNS6_10device_ptrIjEESD_EEEEEE9Policy600ESF_PNS0_8NullTypeESF_SJ_"

#define FIND_ZIP "ENSB_12zip_iteratorINS8_IJNSD_26transform_input_iterator_tIbNSB_10device_ptrIjEE18IsGreaterEqualThanIjEEENSB_17counting_iteratorIlNSB_11use_defaultESQ_SQ_EEEEEEE"
#define FIND_FUNCTOR THRUST "8cuda_cub9__find_if7functorIS9_EEE10Policy1000"
#define SCAN_BY_KEY(off) CUB "11scan_by_key21DeviceScanByKeyKernelINS2_10policy_hubIPjN4cuda3std3__45tupleIJfjEEESA_NS6_3__47minimumISA_EEE10Policy1000ES5_" THRUST "12zip_iteratorINS9_IJNSH_10device_ptrIfEENSJ_IjEEEEEEESN_NS0_24ReduceByKeyScanTileStateISA_iLb0EEENS8_13greater_equalIjEESD_NS0_8NullTypeE" off "SA_jEEvT0_PT9_T1_T2_T3_iT4_T5_T6_T7_"
#define SCAN_BY_KEY_INIT(off) CUB "11scan_by_key25DeviceScanByKeyInitKernelINS0_24ReduceByKeyScanTileStateIN4cuda3std3__45tupleIJfjEEEiLb0EEEPj" off "EEvT_T0_PNS7_15iterator_traitsISD_vE10value_typeET1_i"
#define UNIQUE_BY_KEY(sel, state) CUB "13unique_by_key28DeviceUniqueByKeySweepKernelINS2_10policy_hubIjiE10Policy1000E" THRUST "10device_ptrIjEENS8_17counting_iteratorIiNS8_11use_defaultESC_SC_EENS8_16discard_iteratorISC_EESA_" sel "NS0_13ScanTileStateI" state "Lb1EEEN4cuda3std3__48equal_toIjEE" state "NS2_11VSMemHelperEEEvT0_T1_T2_T3_T4_T5_T6_T7_iNS1_7vsmem_tE"
#define DIFFERENCE_INIT(off) CUB "19adjacent_difference34DeviceAdjacentDifferenceInitKernelINS2_19AgentDifferenceInitIPjj" off "Lb1EEES5_j" off "EEvT0_PT1_T2_i"
#define DIFFERENCE(alias, off) CUB "19adjacent_difference40DeviceAdjacentDifferenceDifferenceKernelINS2_10policy_hubIPjLb" alias "EE9Policy500ES5_S5_N4cuda3std3__412not_equal_toIjEE" off "jLb" alias "ELb1EEEvT0_PT4_T1_T2_T3_"
#define SCAN(off) CUB "4scan16DeviceScanKernelINS2_10policy_hubIjjj" off "N4cuda3std3__44plusIvEEE10Policy1000E" THRUST "10device_ptrIjEESF_NS0_13ScanTileStateIjLb1EEES9_NS0_8NullTypeE" off "jLb0ESI_EEvT0_T1_T2_iT3_T4_T5_"
#define REDUCE(off) CUB "6reduce18DeviceReduceKernelINS2_10policy_hubIN4cuda3std3__45tupleIJblEEE" off FIND_FUNCTOR FIND_ZIP off "SF_S9_NS7_10__identityEEEvT0_PT3_T1_NS0_13GridEvenShareISY_EET2_T4_"
#define REDUCE_TILE(off) CUB "6reduce28DeviceReduceSingleTileKernelINS2_10policy_hubIN4cuda3std3__45tupleIJblEEE" off FIND_FUNCTOR FIND_ZIP "PS9_" off "SF_S9_S9_NS7_10__identityEEEvT0_T1_T2_T3_T4_T6_"
#define REDUCE_PARTIALS(off) CUB "6reduce28DeviceReduceSingleTileKernelINS2_10policy_hubIN4cuda3std3__45tupleIJblEEE" off FIND_FUNCTOR "EPS9_SI_iSF_S9_S9_NS7_10__identityEEEvT0_T1_T2_T3_T4_T6_"
#define FOR_EACH(functor) CUB "8for_each13static_kernelINS2_12policy_hub_t12policy_500_tEl" THRUST "8cuda_cub" functor "EEvT0_T1_"

const gpupool_emu_kernel segtree_kernels[] = {
    KERNEL("_Z9addScalarPjij", add_scalar, P8, 4, 4),
    KERNEL("_Z12markSegmentsPKjPjj", mark_segments, P8, P8, 4),
    KERNEL("_Z18getVerticesMappingPKjS0_Pjj", get_vertices_mapping, P8, P8, P8, 4),
    KERNEL("_Z13getSuccessorsPKjS0_Pjjj", get_successors, P8, P8, P8, 4, 4),
    KERNEL("_Z12removeCyclesPjj", remove_cycles, P8, 4),
    KERNEL("_Z18getRepresentativesPKjPjj", get_representatives, P8, P8, 4),
    KERNEL("_Z15invalidateLoopsPKjS0_Pjj", invalidate_loops, P8, P8, P8, 4),
    KERNEL("_Z18calculateEdgesInfoPKjS0_S0_PKfPjS3_jj", calculate_edges_info, P8, P8, P8, P8, P8, P8, 4, 4),
    KERNEL("_Z12makeNewEdgesPKjS0_S0_PKfPjPfj", make_new_edges, P8, P8, P8, P8, P8, P8, 4),
    /* thrust::fill and thrust::sequence of unsigned ints */
    KERNEL(FOR_EACH("6__fill7functorINS7_10device_ptrIjEEiEE"), fill_uint, 8, 16),
    KERNEL(FOR_EACH("10__tabulate7functorINS7_10device_ptrIjEENS7_6system6detail7generic6detail22compute_sequence_valueIjvEElEE"),
           sequence_uint, 8, 16),
    /* thrust::inclusive_scan of unsigned ints */
    KERNEL(CUB "4scan20DeviceScanInitKernelINS0_13ScanTileStateIjLb1EEEEEvT_i", nothing, 8, 4),
    KERNEL(SCAN("j"), scan_sum32, P8, P8, 8, 4, 1, 1, 4),
    KERNEL(SCAN("m"), scan_sum64, P8, P8, 8, 4, 1, 1, 8),
    /* thrust::inclusive_scan_by_key of (float, unsigned) by unsigned flags */
    KERNEL(SCAN_BY_KEY_INIT("j"), nothing, 24, P8, P8, 4, 4),
    KERNEL(SCAN_BY_KEY_INIT("m"), nothing, 24, P8, P8, 8, 4),
    KERNEL(SCAN_BY_KEY("j"), scan_by_key_min32, P8, P8, 16, 16, 24, 4, 1, 1, 1, 4),
    KERNEL(SCAN_BY_KEY("m"), scan_by_key_min64, P8, P8, 16, 16, 24, 4, 1, 1, 1, 8),
    /* thrust::adjacent_difference of unsigned ints by not_equal_to, copying or in place */
    KERNEL(DIFFERENCE_INIT("i"), nothing, P8, P8, 4, 4),
    KERNEL(DIFFERENCE_INIT("l"), nothing, P8, P8, 8, 4),
    KERNEL(DIFFERENCE("0", "i"), difference32, P8, P8, P8, 1, 4),
    KERNEL(DIFFERENCE("0", "l"), difference64, P8, P8, P8, 1, 8),
    KERNEL(DIFFERENCE("1", "i"), difference32, P8, P8, P8, 1, 4),
    KERNEL(DIFFERENCE("1", "l"), difference64, P8, P8, P8, 1, 8),
    /* thrust::sort of two zipped unsigned arrays: merge sort */
    KERNEL(CUB "10merge_sort30DeviceMergeSortBlockSortKernelINS2_10policy_hubI" ZIP_UU "jNSA_4lessINSB_IJjjEEEEESL_SI_EEvbT0_T1_T2_T3_T4_PT6_PT7_T5_NS1_7vsmem_tE",
           block_sort32, 1, 16, P8, 16, P8, 4, P8, P8, 1, 8),
    KERNEL(CUB "10merge_sort30DeviceMergeSortBlockSortKernelINS2_10policy_hubI" ZIP_UU "mNSA_4lessINSB_IJjjEEEEESL_SI_EEvbT0_T1_T2_T3_T4_PT6_PT7_T5_NS1_7vsmem_tE",
           block_sort64, 1, 16, P8, 16, P8, 8, P8, P8, 1, 8),
    KERNEL(CUB "10merge_sort30DeviceMergeSortPartitionKernelI" THRUST "12zip_iteratorIN4cuda3std3__45tupleIJNS5_10device_ptrIjEESC_EEEEEjNS9_4lessINSA_IJjjEEEEESG_EEvbT_PT2_T0_SL_PSL_T1_SL_i",
           nothing, 1, 16, P8, 4, 4, P8, 1, 4, 4),
    KERNEL(CUB "10merge_sort30DeviceMergeSortPartitionKernelI" THRUST "12zip_iteratorIN4cuda3std3__45tupleIJNS5_10device_ptrIjEESC_EEEEEmNS9_4lessINSA_IJjjEEEEESG_EEvbT_PT2_T0_SL_PSL_T1_SL_i",
           nothing, 1, 16, P8, 8, 8, P8, 1, 8, 4),
    KERNEL(CUB "10merge_sort26DeviceMergeSortMergeKernelINS2_10policy_hubI" ZIP_UU "jNSA_4lessINSB_IJjjEEEEESL_SI_EEvbT2_T3_T4_PT6_PT7_T5_PSP_SP_NS1_7vsmem_tE",
           nothing, 1, 16, P8, 4, P8, P8, 1, P8, 4, 8),
    KERNEL(CUB "10merge_sort26DeviceMergeSortMergeKernelINS2_10policy_hubI" ZIP_UU "mNSA_4lessINSB_IJjjEEEEESL_SI_EEvbT2_T3_T4_PT6_PT7_T5_PSP_SP_NS1_7vsmem_tE",
           nothing, 1, 16, P8, 8, P8, P8, 1, P8, 8, 8),
    /* thrust::find_if of unsigned ints by the sample's IsGreaterEqualThan: a reduction */
    KERNEL(REDUCE("j"), find_partials32, 24, P8, 4, 40, 1, 1),
    KERNEL(REDUCE("y"), find_partials64, 24, P8, 8, 72, 1, 1),
    KERNEL(REDUCE_TILE("j"), find_single32, 24, P8, 4, 1, 16, 1),
    KERNEL(REDUCE_TILE("y"), find_single64, 24, P8, 8, 1, 16, 1),
    KERNEL(REDUCE_PARTIALS("j"), find_partials_single, P8, P8, 4, 1, 16, 1),
    KERNEL(REDUCE_PARTIALS("y"), find_partials_single, P8, P8, 4, 1, 16, 1),
    /* thrust::copy_if of a counting range by unsigned flags; thrust::unique_by_key_copy */
    KERNEL(CUB "4scan23DeviceCompactInitKernelINS0_13ScanTileStateIiLb1EEEPlEEvT_iT0_", compact_init64, 8, 4, P8),
    KERNEL(CUB "4scan23DeviceCompactInitKernelINS0_13ScanTileStateIjLb1EEEPjEEvT_iT0_", compact_init32, 8, 4, P8),
    KERNEL(CUB "4scan23DeviceCompactInitKernelINS0_13ScanTileStateIyLb1EEEPmEEvT_iT0_", compact_init64, 8, 4, P8),
    KERNEL(CUB "6select23DeviceSelectSweepKernelINS2_10policy_hubIjjiLb0ELNS0_10SelectImplE0EE10Policy1000E" THRUST "17counting_iteratorIjNS9_11use_defaultESB_SB_EENS9_10device_ptrIjEESE_PlNS0_13ScanTileStateIiLb1EEEN4cuda3std3__410__identityENS0_8NullTypeEiNS2_19streaming_context_tIlLb1EEELS5_0EEEvT0_T1_T2_T3_T4_T5_T6_T7_iT8_NS1_7vsmem_tE",
           select_flagged, 4, P8, P8, P8, 8, 1, 1, 4, 4, 40, 8),
    KERNEL(UNIQUE_BY_KEY("Pj", "j"), unique_by_key32, P8, 4, 16, P8, P8, 8, 1, 4, 4, 8),
    KERNEL(UNIQUE_BY_KEY("Pm", "y"), unique_by_key64, P8, 4, 16, P8, P8, 8, 1, 8, 4, 8),
    /* CUB's PTX-version probe (cudaFuncGetAttributes on it; never meant to do anything) */
    KERNEL0(CUB "11EmptyKernelIvEEvv", nothing),
};
const unsigned segtree_kernel_count = COUNT(segtree_kernels);
