/*
 * CPU kernels of the cuda-samples that use dynamic parallelism (3_CUDA_Features/cdp*): kernels that
 * launch kernels. A device-side launch is queued and run after its parent's grid, with a launch
 * descriptor of its own (native/fakes/cuda/gpupool_emu_device_launch.h; docs/emulator.md,
 * "Device-side launches").
 */
#include "kernels.h"

#include "gpupool_emu_device_launch.h"

#include <stdlib.h>
#include <string.h>

/* ---- cdpSimplePrint ---------------------------------------------------------------------------- */

typedef struct {
    int max_depth, depth, thread, parent_uid;
} print_args;

/*
 * cdp_kernel(max_depth, depth, thread, parent_uid): each block takes a unique id from g_uids
 * (atomicAdd by thread 0), thread 0 prints the block's line (print_info), and, below max_depth, every
 * thread launches cdp_kernel<<<gridDim.x, blockDim.x>>>(max_depth, depth + 1, threadIdx.x, uid).
 */
static int print_body(device_launches *q, const gpupool_emu_launch *l, const void *raw)
{
    const print_args *a = raw;
    int *uids = l->global(l, "g_uids", NULL);
    NEED(uids);
    if (a->depth < 0 || a->depth > 10)
        return CUDA_ERROR_ILLEGAL_ADDRESS; /* print_info's char buffer[32] holds at most depth 10 */
    for (unsigned b = 0; b < l->grid[0]; b++) {
        int uid = (*uids)++;
        if (a->depth == 0) {
            l->printf(l, "BLOCK %d launched by the host\n", uid);
        } else {
            char prefix[32] = "";
            for (int i = 0; i < a->depth; i++)
                strcat(prefix, "|  ");
            l->printf(l, "%sBLOCK %d launched by thread %d of block %d\n", prefix, uid, a->thread, a->parent_uid);
        }
        if (a->depth + 1 >= a->max_depth)
            continue;
        for (unsigned t = 0; t < l->block[0]; t++) {
            print_args child = { a->max_depth, a->depth + 1, (int)t, uid };
            int rc = device_launch_1d(q, print_body, l->grid[0], l->block[0], &child, sizeof child);
            if (rc != CUDA_SUCCESS)
                return rc;
        }
    }
    return CUDA_SUCCESS;
}

static int cdp_print(const gpupool_emu_launch *l, void **params)
{
    print_args a = { PARAM(int, params, 0), PARAM(int, params, 1), PARAM(int, params, 2), PARAM(int, params, 3) };
    return run_with_children(l, print_body, &a);
}

/* ---- cdpSimpleQuicksort ------------------------------------------------------------------------ */

enum { SIMPLE_MAX_DEPTH = 16, SIMPLE_INSERTION_SORT = 32 };

typedef struct {
    CUdeviceptr data;
    int left, right, depth;
} simple_qsort_args;

/* selection_sort(data, left, right): the sample's, for short or deep ranges. */
static void selection_sort(unsigned *data, int left, int right)
{
    for (int i = left; i <= right; ++i) {
        unsigned min_val = data[i];
        int min_idx = i;
        for (int j = i + 1; j <= right; ++j)
            if (data[j] < min_val) {
                min_idx = j;
                min_val = data[j];
            }
        if (i != min_idx) {
            data[min_idx] = data[i];
            data[i] = min_val;
        }
    }
}

/*
 * cdp_simple_quicksort(data, left, right, depth), one thread: partitions [left, right] around the
 * middle element and launches itself <<<1, 1>>> on each side (each in a stream of its own), or
 * selection-sorts the range below depth 16 or at 32 elements or fewer.
 */
static int simple_qsort_body(device_launches *q, const gpupool_emu_launch *l, const void *raw)
{
    const simple_qsort_args *a = raw;
    if (a->right < a->left)
        return CUDA_SUCCESS;
    if (a->left < 0)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    unsigned *data = DEVICE(l, a->data, (long long)a->right + 1, sizeof(unsigned));
    NEED(data);
    if (a->depth >= SIMPLE_MAX_DEPTH || a->right - a->left <= SIMPLE_INSERTION_SORT) {
        selection_sort(data, a->left, a->right);
        return CUDA_SUCCESS;
    }
    long long lp = a->left, rp = a->right;
    unsigned pivot = data[(a->left + a->right) / 2];
    while (lp <= rp) {
        unsigned lval = data[lp], rval = data[rp];
        while (lval < pivot)
            lval = data[++lp];
        while (rval > pivot)
            rval = data[--rp];
        if (lp <= rp) {
            data[lp++] = rval;
            data[rp--] = lval;
        }
    }
    int rc = CUDA_SUCCESS;
    if (a->left < rp) {
        simple_qsort_args left = { a->data, a->left, (int)rp, a->depth + 1 };
        rc = device_launch_1d(q, simple_qsort_body, 1, 1, &left, sizeof left);
    }
    if (rc == CUDA_SUCCESS && lp < a->right) {
        simple_qsort_args right = { a->data, (int)lp, a->right, a->depth + 1 };
        rc = device_launch_1d(q, simple_qsort_body, 1, 1, &right, sizeof right);
    }
    return rc;
}

static int cdp_simple_quicksort(const gpupool_emu_launch *l, void **params)
{
    simple_qsort_args a = { PARAM(CUdeviceptr, params, 0), PARAM(int, params, 1), PARAM(int, params, 2),
                            PARAM(int, params, 3) };
    return run_with_children(l, simple_qsort_body, &a);
}

/* ---- cdpAdvancedQuicksort --------------------------------------------------------------------- */

enum { QSORT_BLOCKSIZE_SHIFT = 9, BITONICSORT_LEN = 1024, QSORT_MAXDEPTH = 16 };

/* qsortAtomicData_t (128-byte aligned; its first 16 bytes used) and qsortRingbuf_t, as laid out on the card. */
typedef struct {
    unsigned lt_offset, gt_offset, sorted_count, index;
} qsort_atomic;
typedef struct {
    unsigned head, tail, count, max, stacksize;
    CUdeviceptr stackbase;
} qsort_ringbuf;
enum { QSORT_ATOMIC_BYTES = 128 };

typedef struct {
    CUdeviceptr indata, outdata;
    unsigned offset, len;
    CUdeviceptr atomic, ringbuf;
    unsigned source_is_indata, depth;
} qsort_args;

typedef struct {
    CUdeviceptr indata, outdata;
    unsigned offset, len;
} bitonic_args;

typedef struct {
    CUdeviceptr indata, outdata, backbuf;
    unsigned offset, len;
} big_bitonic_args;

typedef struct {
    CUdeviceptr dst, src;
    size_t bytes;
} device_copy_args;

/* bfind.u32: the index of the highest set bit (0xffffffff for 0). */
static unsigned highest_bit(unsigned word)
{
    return word == 0 ? 0xffffffffu : 31u - (unsigned)__builtin_clz(word);
}

/* cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream) from the device: in stream order. */
static int device_copy_body(device_launches *q, const gpupool_emu_launch *l, const void *raw)
{
    (void)q;
    const device_copy_args *a = raw;
    if (a->bytes == 0)
        return CUDA_SUCCESS;
    void *dst = DEVICE(l, a->dst, a->bytes, 1), *src = DEVICE(l, a->src, a->bytes, 1);
    NEED(dst);
    NEED(src);
    memmove(dst, src, a->bytes);
    return CUDA_SUCCESS;
}

/*
 * bitonicsort(indata, outdata, offset, len), one block of a power of two threads (at most 1024, its
 * shared sortbuf): indata[offset, offset + len) padded with 0xffffffff to blockDim.x, sorted by the
 * bitonic network (stride k doubling, j halving; ascending where (i & k) == 0), the first len written
 * to outdata + offset.
 */
static int bitonic_body(device_launches *q, const gpupool_emu_launch *l, const void *raw)
{
    (void)q;
    const bitonic_args *a = raw;
    unsigned n = l->block[0];
    if (n == 0 || n > BITONICSORT_LEN || (n & (n - 1)) != 0 || a->len > n)
        return CUDA_ERROR_ILLEGAL_ADDRESS; /* partners outside sortbuf[1024] */
    if (a->len == 0)
        return CUDA_SUCCESS;
    unsigned *in = DEVICE(l, a->indata, (size_t)a->offset + a->len, sizeof(unsigned));
    unsigned *out = DEVICE(l, a->outdata, (size_t)a->offset + a->len, sizeof(unsigned));
    NEED(in);
    NEED(out);
    unsigned buf[BITONICSORT_LEN];
    for (unsigned i = 0; i < n; i++)
        buf[i] = i < a->len ? in[a->offset + i] : 0xffffffffu;
    for (unsigned k = 2; k <= n; k *= 2)
        for (unsigned j = k >> 1; j > 0; j >>= 1)
            for (unsigned i = 0; i < n; i++) {
                unsigned p = i ^ j;
                if (p <= i)
                    continue;
                int ascending = (i & k) == 0;
                if (ascending ? buf[i] > buf[p] : buf[i] < buf[p]) {
                    unsigned t = buf[i];
                    buf[i] = buf[p];
                    buf[p] = t;
                }
            }
    for (unsigned i = 0; i < a->len; i++)
        out[a->offset + i] = buf[i];
    return CUDA_SUCCESS;
}

/*
 * big_bitonicsort(indata, outdata, backbuf, offset, len), one block: the bitonic network over len
 * rounded up to a power of two, elements past len kept in backbuf + offset (padded with 0xffffffff),
 * sorted in place in indata, then copied to outdata when that differs.
 */
static int big_bitonic_body(device_launches *q, const gpupool_emu_launch *l, const void *raw)
{
    (void)q;
    const big_bitonic_args *a = raw;
    if (a->len == 0)
        return CUDA_SUCCESS;
    unsigned len2 = 1u << (highest_bit(a->len - 1u) + 1);
    unsigned *in = DEVICE(l, a->indata, (size_t)a->offset + a->len, sizeof(unsigned));
    unsigned *out = DEVICE(l, a->outdata, (size_t)a->offset + a->len, sizeof(unsigned));
    unsigned *back = len2 > a->len ? DEVICE(l, a->backbuf, (size_t)a->offset + len2 - a->len, sizeof(unsigned)) : in;
    NEED(in);
    NEED(out);
    NEED(back);
#define BIG_AT(v) (*((v) < a->len ? &in[a->offset + (v)] : &back[a->offset + (v) - a->len]))
    for (unsigned v = a->len; v < len2; v++)
        BIG_AT(v) = 0xffffffffu;
    for (unsigned k = 2; k <= len2; k *= 2)
        for (unsigned j = k >> 1; j > 0; j >>= 1)
            for (unsigned v = 0; v < len2; v++) {
                unsigned p = v ^ j;
                if (p <= v)
                    continue;
                unsigned mine = BIG_AT(v), theirs = BIG_AT(p);
                if ((v & k) == 0 ? mine > theirs : mine < theirs) {
                    BIG_AT(p) = mine;
                    BIG_AT(v) = theirs;
                }
            }
#undef BIG_AT
    if (a->outdata != a->indata)
        memmove(out + a->offset, in + a->offset, (size_t)a->len * sizeof(unsigned));
    return CUDA_SUCCESS;
}

/* ringbufAlloc: the next qsortAtomicData of the ring, or NULL when the ring is full. */
static qsort_atomic *ring_alloc(const gpupool_emu_launch *l, qsort_ringbuf *ring, CUdeviceptr *device)
{
    if (ring->stacksize == 0 || (ring->stacksize & (ring->stacksize - 1)) != 0)
        return NULL;
    if (ring->head - ring->tail >= ring->stacksize)
        return NULL; /* nothing frees a slot while one grid runs: the sample's spin gives up */
    unsigned index = ring->head++;
    *device = ring->stackbase + (CUdeviceptr)(index & (ring->stacksize - 1)) * QSORT_ATOMIC_BYTES;
    qsort_atomic *slot = DEVICE(l, *device, 1, sizeof(qsort_atomic));
    if (slot != NULL)
        slot->index = index;
    return slot;
}

/* ringbufFree: the tail moves up once every slot below the highest freed index is free. */
static void ring_free(qsort_ringbuf *ring, const qsort_atomic *slot)
{
    unsigned index = slot->index;
    unsigned count = ++ring->count;
    unsigned max = ring->max;
    if (ring->max < index + 1)
        ring->max = index + 1;
    if (max < index + 1)
        max = index + 1;
    if (max == count && ring->tail < count)
        ring->tail = count;
}

static int qsort_body(device_launches *q, const gpupool_emu_launch *l, const void *raw);

/* One side of a partition: a qsort_warp of its own, or a bitonic sort, as qsort_warp decides. */
static int qsort_side(device_launches *q, const gpupool_emu_launch *l, const qsort_args *a, qsort_ringbuf *ring,
                      unsigned *in, const unsigned *out, unsigned side_offset, unsigned side_len, const char *failure)
{
    CUdeviceptr final = a->source_is_indata ? a->indata : a->outdata;
    if (side_len > BITONICSORT_LEN) {
        if (a->depth >= QSORT_MAXDEPTH) {
            big_bitonic_args b = { a->outdata, final, a->indata, side_offset, side_len };
            return device_launch_1d(q, big_bitonic_body, 1, BITONICSORT_LEN, &b, sizeof b);
        }
        CUdeviceptr atomic;
        qsort_atomic *slot = ring_alloc(l, ring, &atomic);
        if (slot == NULL) {
            l->printf(l, "%s", failure);
            return CUDA_SUCCESS;
        }
        slot->lt_offset = slot->gt_offset = slot->sorted_count = 0;
        unsigned blocks = (side_len + ((1u << QSORT_BLOCKSIZE_SHIFT) - 1)) >> QSORT_BLOCKSIZE_SHIFT;
        qsort_args child = { a->outdata, a->indata, side_offset, side_len, atomic, a->ringbuf, !a->source_is_indata,
                             a->depth + 1 };
        return device_launch_1d(q, qsort_body, blocks, 1u << QSORT_BLOCKSIZE_SHIFT, &child, sizeof child);
    }
    if (side_len > 1) {
        bitonic_args b = { a->outdata, final, side_offset, side_len };
        return device_launch_1d(q, bitonic_body, 1, 1u << (highest_bit(side_len - 1u) + 1), &b, sizeof b);
    }
    if (a->source_is_indata && side_len == 1)
        in[side_offset] = out[side_offset];
    return CUDA_SUCCESS;
}

/*
 * qsort_warp(indata, outdata, offset, len, atomicData, ringbuf, source_is_indata, depth): thread
 * threadIdx.x + (blockIdx.x << 9) takes element offset + thread_id (threads past len return); each
 * warp splits its elements around indata[offset + len / 2] (strictly greater, or greater-or-equal
 * when none is greater), reserves room for each side with atomics on atomicData (the lesser from
 * the front, the greater from the back) and writes them, in lane order, to outdata. The warp whose
 * elements complete the count frees atomicData from the ring and launches each side (qsort_side).
 */
static int qsort_body(device_launches *q, const gpupool_emu_launch *l, const void *raw)
{
    const qsort_args *a = raw;
    if (a->len == 0)
        return CUDA_SUCCESS;
    unsigned *in = DEVICE(l, a->indata, (size_t)a->offset + a->len, sizeof(unsigned));
    unsigned *out = DEVICE(l, a->outdata, (size_t)a->offset + a->len, sizeof(unsigned));
    qsort_atomic *atomic = DEVICE(l, a->atomic, 1, sizeof(qsort_atomic));
    qsort_ringbuf *ring = DEVICE(l, a->ringbuf, 1, sizeof(qsort_ringbuf));
    NEED(in);
    NEED(out);
    NEED(atomic);
    NEED(ring);
    unsigned pivot = in[a->offset + a->len / 2];
    for (unsigned b = 0; b < l->grid[0]; b++)
        for (unsigned w = 0; w < l->block[0]; w += 32) {
            unsigned data[32], lanes = 0;
            for (unsigned lane = 0; lane < 32 && w + lane < l->block[0]; lane++) {
                unsigned long long tid = (unsigned long long)(w + lane) + ((unsigned long long)b << QSORT_BLOCKSIZE_SHIFT);
                if (tid >= a->len)
                    break; /* the active threads of a warp are its first lanes */
                data[lanes++] = in[a->offset + tid];
            }
            if (lanes == 0)
                continue;
            unsigned gt_mask = 0, lt_mask;
            for (unsigned r = 0; r < lanes; r++)
                gt_mask |= (unsigned)(data[r] > pivot) << r;
            if (gt_mask == 0)
                for (unsigned r = 0; r < lanes; r++)
                    gt_mask |= (unsigned)(data[r] >= pivot) << r;
            lt_mask = ~gt_mask & (lanes == 32 ? 0xffffffffu : (1u << lanes) - 1);
            unsigned gt_count = (unsigned)__builtin_popcount(gt_mask), lt_count = (unsigned)__builtin_popcount(lt_mask);
            unsigned lt_offset = 0, gt_offset = 0;
            if (lt_count > 0) {
                lt_offset = atomic->lt_offset;
                atomic->lt_offset += lt_count;
            }
            if (gt_count > 0) {
                gt_offset = a->len - (atomic->gt_offset + gt_count);
                atomic->gt_offset += gt_count;
            }
            for (unsigned r = 0; r < lanes; r++) {
                int greater = (gt_mask >> r) & 1;
                unsigned below = (greater ? gt_mask : lt_mask) & ((1u << r) - 1);
                unsigned at = (unsigned)__builtin_popcount(below) + (greater ? gt_offset : lt_offset);
                if (at >= a->len)
                    return CUDA_ERROR_ILLEGAL_ADDRESS; /* counters left over from elsewhere */
                out[a->offset + at] = data[r];
            }
            atomic->sorted_count += lt_count + gt_count;
            if (atomic->sorted_count != a->len)
                continue;
            unsigned lt_len = atomic->lt_offset, gt_len = atomic->gt_offset;
            ring_free(ring, atomic);
            if (lt_len == 0) {
                if (a->source_is_indata) {
                    device_copy_args c = { a->indata + (CUdeviceptr)a->offset * sizeof(unsigned),
                                           a->outdata + (CUdeviceptr)a->offset * sizeof(unsigned),
                                           (size_t)gt_len * sizeof(unsigned) };
                    return device_launch_1d(q, device_copy_body, 1, 1, &c, sizeof c);
                }
                return CUDA_SUCCESS;
            }
            int rc = qsort_side(q, l, a, ring, in, out, a->offset, lt_len,
                                "Stack-allocation error. Failing left child launch.\n");
            if (rc == CUDA_SUCCESS)
                rc = qsort_side(q, l, a, ring, in, out, a->offset + lt_len, gt_len,
                                "Stack allocation error! Failing right-side launch.\n");
            return rc;
        }
    return CUDA_SUCCESS;
}

static int cdp_qsort_warp(const gpupool_emu_launch *l, void **params)
{
    qsort_args a = { PARAM(CUdeviceptr, params, 0), PARAM(CUdeviceptr, params, 1), PARAM(unsigned, params, 2),
                     PARAM(unsigned, params, 3),    PARAM(CUdeviceptr, params, 4), PARAM(CUdeviceptr, params, 5),
                     PARAM(unsigned, params, 6),    PARAM(unsigned, params, 7) };
    return run_with_children(l, qsort_body, &a);
}

static int cdp_bitonicsort(const gpupool_emu_launch *l, void **params)
{
    bitonic_args a = { PARAM(CUdeviceptr, params, 0), PARAM(CUdeviceptr, params, 1), PARAM(unsigned, params, 2),
                       PARAM(unsigned, params, 3) };
    return run_with_children(l, bitonic_body, &a);
}

static int cdp_big_bitonicsort(const gpupool_emu_launch *l, void **params)
{
    big_bitonic_args a = { PARAM(CUdeviceptr, params, 0), PARAM(CUdeviceptr, params, 1), PARAM(CUdeviceptr, params, 2),
                           PARAM(unsigned, params, 3), PARAM(unsigned, params, 4) };
    return run_with_children(l, big_bitonic_body, &a);
}

/* ---- cdpQuadtree ------------------------------------------------------------------------------ */

/* Quadtree_node as laid out on the card (float2 members align the box at 8), Points, Parameters. */
typedef struct {
    int id, pad;
    float min_x, min_y, max_x, max_y;
    int begin, end;
} quad_node;
typedef struct {
    CUdeviceptr x, y;
} quad_points;
typedef struct {
    int point_selector, num_nodes_at_this_level, depth, max_depth, min_points_per_node;
} quad_params;
typedef struct {
    CUdeviceptr nodes, points;
    quad_params params;
} quad_args;

/* The quadrant build_quadtree_kernel puts a point in: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right. */
static int quadrant(float x, float y, float cx, float cy)
{
    if (y >= cy)
        return x < cx ? 0 : x >= cx ? 1 : -1;
    if (y < cy)
        return x < cx ? 2 : x >= cx ? 3 : -1;
    return -1; /* NaN: counted in no quadrant, as the sample's predicates count it */
}

/*
 * build_quadtree_kernel<128>(nodes, points, params), one block per node of the level: a node deeper
 * than max_depth or with at most min_points_per_node points is a leaf (its points copied back to
 * points[0] when they are in points[1]); otherwise its points move from points[selector] to the other
 * buffer grouped by quadrant around the box's centre, in their order within each quadrant (the warps'
 * ballots and prefix sums place them so), the last thread fills in the four children one level down
 * (nodes + num_nodes_at_this_level - (id & ~3) + 4 * id) and launches the kernel on them <<<4, 128>>>.
 */
static int quad_body(device_launches *q, const gpupool_emu_launch *l, const void *raw)
{
    const quad_args *a = raw;
    const quad_params *pr = &a->params;
    quad_points *pts = DEVICE(l, a->points, 2, sizeof(quad_points));
    NEED(pts);
    for (unsigned b = 0; b < l->grid[0]; b++) {
        quad_node *node = DEVICE(l, a->nodes + (CUdeviceptr)b * sizeof(quad_node), 1, sizeof(quad_node));
        NEED(node);
        int begin = node->begin, end = node->end, n = end - begin;
        int leaf = pr->depth >= pr->max_depth || n <= pr->min_points_per_node;
        if (n > 0 && (begin < 0 || pr->point_selector < 0 || pr->point_selector > 1))
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        if (leaf) {
            if (pr->point_selector == 1 && n > 0) {
                float *x0 = DEVICE(l, pts[0].x, end, sizeof(float)), *y0 = DEVICE(l, pts[0].y, end, sizeof(float));
                float *x1 = DEVICE(l, pts[1].x, end, sizeof(float)), *y1 = DEVICE(l, pts[1].y, end, sizeof(float));
                NEED(x0);
                NEED(y0);
                NEED(x1);
                NEED(y1);
                for (int it = begin; it < end; it++) {
                    x0[it] = x1[it];
                    y0[it] = y1[it];
                }
            }
            continue;
        }
        const quad_points *in = &pts[pr->point_selector], *out = &pts[(pr->point_selector + 1) % 2];
        float *ix = DEVICE(l, in->x, end, sizeof(float)), *iy = DEVICE(l, in->y, end, sizeof(float));
        float *ox = DEVICE(l, out->x, end, sizeof(float)), *oy = DEVICE(l, out->y, end, sizeof(float));
        NEED(ix);
        NEED(iy);
        NEED(ox);
        NEED(oy);
        float cx = 0.5f * (node->min_x + node->max_x), cy = 0.5f * (node->min_y + node->max_y);
        int counts[4] = { 0, 0, 0, 0 }, at[4];
        for (int it = begin; it < end; it++) {
            int quad = quadrant(ix[it], iy[it], cx, cy);
            if (quad >= 0)
                counts[quad]++;
        }
        at[0] = begin;
        for (int k = 1; k < 4; k++)
            at[k] = at[k - 1] + counts[k - 1];
        int ends[4];
        for (int k = 0; k < 4; k++)
            ends[k] = at[k] + counts[k];
        for (int it = begin; it < end; it++) {
            int quad = quadrant(ix[it], iy[it], cx, cy);
            if (quad < 0)
                continue;
            ox[at[quad]] = ix[it];
            oy[at[quad]] = iy[it];
            at[quad]++;
        }
        CUdeviceptr children_at = a->nodes + (CUdeviceptr)((long long)pr->num_nodes_at_this_level - (node->id & ~3) + 4LL * node->id) * sizeof(quad_node);
        quad_node *children = DEVICE(l, children_at, 4, sizeof(quad_node));
        NEED(children);
        const float box[4][4] = { { node->min_x, cy, cx, node->max_y },
                                  { cx, cy, node->max_x, node->max_y },
                                  { node->min_x, node->min_y, cx, cy },
                                  { cx, node->min_y, node->max_x, cy } };
        for (int k = 0; k < 4; k++) {
            children[k].id = 4 * node->id + k;
            children[k].min_x = box[k][0];
            children[k].min_y = box[k][1];
            children[k].max_x = box[k][2];
            children[k].max_y = box[k][3];
            children[k].begin = k == 0 ? begin : ends[k - 1];
            children[k].end = ends[k];
        }
        quad_args child = { children_at, a->points,
                            { (pr->point_selector + 1) % 2, 4 * pr->num_nodes_at_this_level, pr->depth + 1, pr->max_depth,
                              pr->min_points_per_node } };
        int rc = device_launch(q, quad_body, (const unsigned[3]){ 4, 1, 1 }, l->block, l->shared_bytes, &child, sizeof child);
        if (rc != CUDA_SUCCESS)
            return rc;
    }
    return CUDA_SUCCESS;
}

static int cdp_build_quadtree(const gpupool_emu_launch *l, void **params)
{
    quad_args a = { PARAM(CUdeviceptr, params, 0), PARAM(CUdeviceptr, params, 1), PARAM(quad_params, params, 2) };
    return run_with_children(l, quad_body, &a);
}

/*
 * Thrust's kernels in cdpQuadtree (CUB's for_each static_kernel: blocks of 256 threads, 2 items each,
 * item i of thread t of block b being b * 512 + i * 256 + t). The fill of a device_vector<float>:
 * functor { float *items; float value; } sets items[idx].
 */
static int thrust_fill_float(const gpupool_emu_launch *l, void **params)
{
    unsigned long long n = PARAM(unsigned long long, params, 0);
    const unsigned char *op = params[1];
    CUdeviceptr items;
    float value;
    memcpy(&items, op, sizeof items);
    memcpy(&value, op + 8, sizeof value);
    if (n == 0)
        return CUDA_SUCCESS;
    float *dst = DEVICE(l, items, n, sizeof(float));
    NEED(dst);
    for (unsigned long long i = 0; i < n; i++)
        dst[i] = value;
    return CUDA_SUCCESS;
}

/* Random_generator::hash, the sample's integer hash of a thread's seed. */
static unsigned quad_hash(unsigned a)
{
    a = (a + 0x7ed55d16u) + (a << 12);
    a = (a ^ 0xc761c23cu) ^ (a >> 19);
    a = (a + 0x165667b1u) + (a << 5);
    a = (a + 0xd3a2646cu) ^ (a << 9);
    a = (a + 0xfd7046c5u) + (a << 3);
    a = (a ^ 0xb55a4f09u) ^ (a >> 16);
    return a;
}

/* thrust::default_random_engine (minstd_rand: x = 48271 x mod 2^31 - 1) drawn through
 * uniform_real_distribution<float> on [0, 1): (x - min) / (1 + (max - min)) in float. */
static float minstd_uniform(unsigned *x)
{
    *x = (unsigned)((unsigned long long)*x * 48271u % 2147483647u);
    float r = (float)(*x - 1u);
    r /= 1.0f + (float)(2147483646u - 1u);
    return r;
}

/*
 * thrust::generate over the zip of x and y with Random_generator: op_wrapper_t { zip_iterator { float
 * *x, *y }; generate_f { Random_generator { int count } } }, each thread its own copy of the generator.
 * A call seeds minstd_rand with hash(blockIdx.x * blockDim.x + threadIdx.x + count), adds the grid's
 * threads to count, and draws x, then y (make_tuple's arguments in order).
 */
static int thrust_generate_points(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(long long, params, 0);
    const unsigned char *op = params[1];
    CUdeviceptr xs, ys;
    int count0;
    memcpy(&xs, op, sizeof xs);
    memcpy(&ys, op + 8, sizeof ys);
    memcpy(&count0, op + 16, sizeof count0);
    if (n <= 0)
        return CUDA_SUCCESS;
    float *x = DEVICE(l, xs, n, sizeof(float)), *y = DEVICE(l, ys, n, sizeof(float));
    NEED(x);
    NEED(y);
    const unsigned block = l->block[0], per_thread = 2, tile = block * per_thread;
    const unsigned grid_threads_x = block * l->grid[0];
    for (unsigned b = 0; b < l->grid[0]; b++)
        for (unsigned t = 0; t < block; t++) {
            int count = count0;
            for (unsigned item = 0; item < per_thread; item++) {
                long long idx = (long long)b * tile + (long long)item * block + t;
                if (idx >= n)
                    break;
                unsigned seed = quad_hash(b * block + t + (unsigned)count);
                count += (int)grid_threads_x;
                unsigned state = seed % 2147483647u == 0 ? 1u : seed % 2147483647u;
                x[idx] = minstd_uniform(&state);
                y[idx] = minstd_uniform(&state);
            }
        }
    return CUDA_SUCCESS;
}

const gpupool_emu_kernel cdp_kernels[] = {
    KERNEL("_Z10cdp_kerneliiii", cdp_print, 4, 4, 4, 4),
    KERNEL("_Z20cdp_simple_quicksortPjiii", cdp_simple_quicksort, 8, 4, 4, 4),
    KERNEL("_Z10qsort_warpPjS_jjP17qsortAtomicData_tP14qsortRingbuf_tjj", cdp_qsort_warp, 8, 8, 4, 4, 8, 8, 4, 4),
    KERNEL("_Z11bitonicsortPjS_jj", cdp_bitonicsort, 8, 8, 4, 4),
    KERNEL("_Z15big_bitonicsortPjS_S_jj", cdp_big_bitonicsort, 8, 8, 8, 4, 4),
    KERNEL("_Z21build_quadtree_kernelILi128EEvP13Quadtree_nodeP6Points10Parameters", cdp_build_quadtree, 8, 8, 20),
    KERNEL("_ZN3cub17CUB_300001_SM_8006detail8for_each13static_kernelINS2_12policy_hub_t12policy_500_tEmN6thrust23THRUST_300001_SM_800_NS8cuda_cub20__uninitialized_fill7functorINS7_10device_ptrIfEEfEEEEvT0_T1_",
           thrust_fill_float, 8, 16),
    KERNEL("_ZN3cub17CUB_300001_SM_8006detail8for_each13static_kernelINS2_12policy_hub_t12policy_500_tElNS2_12op_wrapper_tIlN6thrust23THRUST_300001_SM_800_NS8cuda_cub10generate_fI16Random_generatorEENS8_12zip_iteratorIN4cuda3std3__45tupleIJNS8_6detail15normal_iteratorINS8_10device_ptrIfEEEESM_EEEEEEEEEvT0_T1_",
           thrust_generate_points, 8, 24),
};
const unsigned cdp_kernel_count = COUNT(cdp_kernels);
