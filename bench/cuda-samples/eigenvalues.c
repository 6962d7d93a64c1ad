/*
 * CPU kernels of eigenvalues (2_Concepts_and_Techniques; see kernels.c): the eigenvalues of a symmetric
 * tridiagonal matrix by bisection, each kernel from its source (bisect_kernel_*.cuh, bisect_util.cu) and
 * in its float arithmetic. bisectKernel (matrices of up to 512 rows, --matrix-size) bisects until every
 * interval holds one eigenvalue. Larger matrices (the default, 2048) take three steps:
 *   - bisectKernelLarge: the Gerschgorin interval bisected, all intervals at once, round by round (the
 *     first child of a split in its parent's place, the second appended, as the kernel's compaction
 *     does), until more than one block's 256 threads would be needed; then the intervals holding one
 *     eigenvalue listed apart from those holding several, and the latter grouped into blocks of at most
 *     256 eigenvalues (the kernel's scans form the blocks by a tree; these are formed in interval
 *     order: any such blocking gives the same eigenvalues);
 *   - bisectKernelLarge_OneIntervals: each one-eigenvalue interval bisected until it converges;
 *   - bisectKernelLarge_MultIntervals: each block's intervals bisected round by round until each holds
 *     one converged eigenvalue (a cluster that converges whole split by its count).
 * The sample compares the eigenvalues with its reference file.
 */
#include "kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define MAX_THREADS_BLOCK 256
#define MAX_THREADS_BLOCK_SMALL_MATRIX 512
#define MIN_ABS_INTERVAL 5.0e-37f
/* Bisection of float intervals converges in a few hundred rounds; a matrix of NaNs never would (a GPU
 * would spin until its watchdog): the launch then fails as a timed-out one does. */
#define MAX_ROUNDS 10000

typedef struct {
    float left, right;
    unsigned left_count, right_count;
} interval;

typedef struct {
    const float *d, *s; /* s[k]: the off-diagonal before row k (s[0] is the matrix's padding) */
    unsigned n;
} matrix;

/* computeMidpoint */
static float midpoint(float left, float right)
{
    return (left < 0.0f) == (right < 0.0f) ? left + (right - left) * 0.5f : (left + right) * 0.5f;
}

/* computeNumSmallerEigenvalsLarge: the Sturm count of x. */
static unsigned smaller(const matrix *m, float x)
{
    float delta = 1.0f;
    unsigned count = 0;
    for (unsigned k = 0; k < m->n; k++) {
        delta = m->d[k] - x - (m->s[k] * m->s[k]) / delta;
        count += delta < 0 ? 1 : 0;
    }
    return count;
}

/* storeInterval: an interval small enough collapses to its midpoint. */
static interval stored(float left, float right, unsigned lc, unsigned rc, float precision)
{
    interval i = { left, right, lc, rc };
    float t0 = fabsf(right - left), t1 = fmaxf(fabsf(left), fabsf(right)) * precision;
    if (t0 <= fmaxf(MIN_ABS_INTERVAL, t1))
        i.left = i.right = midpoint(left, right);
    return i;
}

/*
 * One round over list[0 .. *count): each interval not yet converged split at its midpoint into its
 * non-empty halves (storeNonEmptyIntervals; a second one appended); a converged interval kept, or, in
 * the multi-interval kernel (split_clusters), a converged cluster split by its count
 * (storeIntervalConverged). Returns whether anything was still to do (subdivideActiveInterval).
 */
static int round_of(const matrix *m, interval *list, unsigned *count, float precision, int split_clusters)
{
    unsigned active = *count, appended = 0;
    int busy = 0;
    for (unsigned t = 0; t < active; t++)
        if (list[t].left != list[t].right || (split_clusters && list[t].right_count - list[t].left_count > 1))
            busy = 1;
    if (!busy)
        return 0;
    for (unsigned t = 0; t < active; t++) {
        interval i = list[t];
        if (i.left != i.right) {
            float mid = midpoint(i.left, i.right);
            unsigned mc = smaller(m, mid);
            if (mid == i.left || mid == i.right) {
                /* Adjacent floats that the precision test never accepts (near 0): a GPU would loop. */
                list[t].left = list[t].right = mid;
            } else if (mc != i.left_count && mc != i.right_count) {
                list[t] = stored(i.left, mid, i.left_count, mc, precision);
                list[active + appended++] = (interval){ mid, i.right, mc, i.right_count };
            } else if (mc != i.left_count) {
                list[t] = stored(i.left, mid, i.left_count, mc, precision);
            } else {
                list[t] = stored(mid, i.right, mc, i.right_count, precision);
            }
        } else if (split_clusters && i.right_count - i.left_count > 1) {
            unsigned mc = i.left_count + ((i.right_count - i.left_count) >> 1);
            list[t].right_count = mc;
            list[active + appended++] = (interval){ i.left, i.right, mc, i.right_count };
        }
    }
    *count = active + appended;
    return 1;
}

static unsigned ceil_pow2(unsigned x)
{
    unsigned p = 1;
    while (p < x)
        p <<= 1;
    return p;
}

/* The matrix's diagonal and off-diagonal (g_s points one past the padding element). */
static int matrix_of(const gpupool_emu_launch *l, void **params, matrix *m)
{
    m->n = PARAM(unsigned, params, 2);
    if (m->n == 0 || m->n > (1u << 24))
        return CUDA_ERROR_INVALID_VALUE;
    CUdeviceptr s = PARAM(CUdeviceptr, params, 1);
    m->d = DEVICE(l, PARAM(CUdeviceptr, params, 0), (long long)m->n, sizeof(float));
    m->s = s < sizeof(float) ? NULL : DEVICE(l, s - sizeof(float), (long long)m->n, sizeof(float));
    return m->d && m->s ? CUDA_SUCCESS : CUDA_ERROR_ILLEGAL_ADDRESS;
}

/*
 * bisectKernelLarge(g_d, g_s, n, lg, ug, lg_eig_count, ug_eig_count, epsilon, g_num_one,
 * g_num_blocks_mult, g_left_one, g_right_one, g_pos_one, g_left_mult, g_right_mult, g_left_count_mult,
 * g_right_count_mult, g_blocks_mult, g_blocks_mult_sum), one block of 256 threads.
 */
static int bisect_large(const gpupool_emu_launch *l, void **params)
{
    matrix m;
    int rc = matrix_of(l, params, &m);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (grid_blocks(l) != 1 || block_threads(l) != MAX_THREADS_BLOCK)
        return CUDA_ERROR_INVALID_VALUE;
    float precision = PARAM(float, params, 7);
    long long n = m.n;
    unsigned *num_one = DEVICE(l, PARAM(CUdeviceptr, params, 8), 1, sizeof(unsigned));
    unsigned *num_blocks = DEVICE(l, PARAM(CUdeviceptr, params, 9), 1, sizeof(unsigned));
    float *left_one = DEVICE(l, PARAM(CUdeviceptr, params, 10), n, sizeof(float));
    float *right_one = DEVICE(l, PARAM(CUdeviceptr, params, 11), n, sizeof(float));
    unsigned *pos_one = DEVICE(l, PARAM(CUdeviceptr, params, 12), n, sizeof(unsigned));
    float *left_mult = DEVICE(l, PARAM(CUdeviceptr, params, 13), n, sizeof(float));
    float *right_mult = DEVICE(l, PARAM(CUdeviceptr, params, 14), n, sizeof(float));
    unsigned *lc_mult = DEVICE(l, PARAM(CUdeviceptr, params, 15), n, sizeof(unsigned));
    unsigned *rc_mult = DEVICE(l, PARAM(CUdeviceptr, params, 16), n, sizeof(unsigned));
    unsigned *blocks = DEVICE(l, PARAM(CUdeviceptr, params, 17), n, sizeof(unsigned));
    unsigned *blocks_sum = DEVICE(l, PARAM(CUdeviceptr, params, 18), n, sizeof(unsigned));
    if (!num_one || !num_blocks || !left_one || !right_one || !pos_one || !left_mult || !right_mult || !lc_mult || !rc_mult ||
        !blocks || !blocks_sum)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    interval list[2 * MAX_THREADS_BLOCK + 1];
    unsigned count = 1;
    list[0] = (interval){ PARAM(float, params, 3), PARAM(float, params, 4), PARAM(unsigned, params, 5), PARAM(unsigned, params, 6) };
    /* Stop once the intervals need more than one block of threads (num_threads_compaction > blockDim). */
    for (unsigned rounds = 0; round_of(&m, list, &count, precision, 0) && ceil_pow2(count) <= MAX_THREADS_BLOCK; rounds++)
        if (rounds == MAX_ROUNDS)
            return CUDA_ERROR_LAUNCH_TIMEOUT;
    unsigned ones = 0, mults = 0, nblocks = 0, in_block = 0, eigen = 0;
    for (unsigned t = 0; t < count; t++) {
        unsigned multiplicity = list[t].right_count - list[t].left_count;
        if (multiplicity > n || list[t].right_count > n)
            return CUDA_ERROR_ILLEGAL_ADDRESS; /* counts past the matrix: the kernel would write out of range */
        if (multiplicity == 1) {
            left_one[ones] = list[t].left;
            right_one[ones] = list[t].right;
            pos_one[ones++] = list[t].right_count;
            continue;
        }
        if (nblocks == 0 || in_block + multiplicity > MAX_THREADS_BLOCK) {
            blocks[nblocks] = mults;
            blocks_sum[nblocks++] = eigen;
            in_block = 0;
        }
        left_mult[mults] = list[t].left;
        right_mult[mults] = list[t].right;
        lc_mult[mults] = list[t].left_count;
        rc_mult[mults++] = list[t].right_count;
        in_block += multiplicity;
        eigen += multiplicity;
    }
    if (nblocks > 0 && nblocks < n) {
        blocks[nblocks] = mults;
        blocks_sum[nblocks] = eigen;
    }
    *num_one = ones;
    *num_blocks = nblocks;
    return CUDA_SUCCESS;
}

/* bisectKernelLarge_OneIntervals(g_d, g_s, n, num_intervals, g_left, g_right, g_pos, precision) */
static int bisect_one(const gpupool_emu_launch *l, void **params)
{
    matrix m;
    int rc = matrix_of(l, params, &m);
    if (rc != CUDA_SUCCESS)
        return rc;
    long long count = PARAM(unsigned, params, 3);
    if ((size_t)count > grid_threads(l))
        count = (long long)grid_threads(l);
    if (count == 0)
        return CUDA_SUCCESS;
    float precision = PARAM(float, params, 7);
    float *lefts = DEVICE(l, PARAM(CUdeviceptr, params, 4), count, sizeof(float));
    const float *rights = DEVICE(l, PARAM(CUdeviceptr, params, 5), count, sizeof(float));
    const unsigned *pos = DEVICE(l, PARAM(CUdeviceptr, params, 6), count, sizeof(unsigned));
    NEED(lefts);
    NEED(rights);
    NEED(pos);
    for (long long t = 0; t < count; t++) {
        float left = lefts[t], right = rights[t];
        for (unsigned rounds = 0;; rounds++) {
            if (rounds == MAX_ROUNDS)
                return CUDA_ERROR_LAUNCH_TIMEOUT;
            float mid = midpoint(left, right);
            /* Adjacent floats that the precision test never accepts (near 0): a GPU would loop. */
            int stuck = mid == left || mid == right;
            if (smaller(&m, mid) == pos[t])
                right = mid;
            else
                left = mid;
            float t0 = right - left, t1 = fmaxf(fabsf(right), fabsf(left)) * precision;
            if (t0 < fminf(precision, t1) || stuck) {
                left = right = midpoint(left, right);
                break;
            }
        }
        lefts[t] = left;
    }
    return CUDA_SUCCESS;
}

/*
 * bisectKernelLarge_MultIntervals(g_d, g_s, n, blocks_mult, blocks_mult_sum, g_left, g_right,
 * g_left_count, g_right_count, g_lambda, g_pos, precision): one thread block per block of intervals.
 */
static int bisect_mult(const gpupool_emu_launch *l, void **params)
{
    matrix m;
    int rc = matrix_of(l, params, &m);
    if (rc != CUDA_SUCCESS)
        return rc;
    long long n = m.n, nblocks = (long long)grid_blocks(l);
    if (block_threads(l) != MAX_THREADS_BLOCK || nblocks >= n)
        return CUDA_ERROR_INVALID_VALUE;
    float precision = PARAM(float, params, 11);
    const unsigned *blocks = DEVICE(l, PARAM(CUdeviceptr, params, 3), nblocks + 1, sizeof(unsigned));
    const unsigned *blocks_sum = DEVICE(l, PARAM(CUdeviceptr, params, 4), nblocks + 1, sizeof(unsigned));
    const float *lefts = DEVICE(l, PARAM(CUdeviceptr, params, 5), n, sizeof(float));
    const float *rights = DEVICE(l, PARAM(CUdeviceptr, params, 6), n, sizeof(float));
    const unsigned *lcs = DEVICE(l, PARAM(CUdeviceptr, params, 7), n, sizeof(unsigned));
    const unsigned *rcs = DEVICE(l, PARAM(CUdeviceptr, params, 8), n, sizeof(unsigned));
    float *lambda = DEVICE(l, PARAM(CUdeviceptr, params, 9), n, sizeof(float));
    unsigned *pos = DEVICE(l, PARAM(CUdeviceptr, params, 10), n, sizeof(unsigned));
    if (!blocks || !blocks_sum || !lefts || !rights || !lcs || !rcs || !lambda || !pos)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    for (long long b = 0; b < nblocks; b++) {
        unsigned start = blocks[b], end = blocks[b + 1], out = blocks_sum[b];
        if (end < start || end > n || end - start > MAX_THREADS_BLOCK)
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        interval list[2 * MAX_THREADS_BLOCK];
        unsigned count = end - start, eigen = 0;
        for (unsigned t = 0; t < count; t++) {
            list[t] = (interval){ lefts[start + t], rights[start + t], lcs[start + t], rcs[start + t] };
            eigen += list[t].right_count - list[t].left_count;
        }
        /* A block holds at most one thread's worth of eigenvalues; each round at most doubles the list. */
        if (eigen > MAX_THREADS_BLOCK || out > n || eigen > n - out)
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        for (unsigned rounds = 0; round_of(&m, list, &count, precision, 1); rounds++)
            if (count > MAX_THREADS_BLOCK)
                return CUDA_ERROR_ILLEGAL_ADDRESS;
            else if (rounds == MAX_ROUNDS)
                return CUDA_ERROR_LAUNCH_TIMEOUT;
        for (unsigned t = 0; t < count; t++) {
            lambda[out + t] = list[t].left;
            pos[out + t] = list[t].right_count;
        }
    }
    return CUDA_SUCCESS;
}

/*
 * bisectKernel(g_d, g_s, n, g_left, g_right, g_left_count, g_right_count, lg, ug, lg_eig_count,
 * ug_eig_count, epsilon) (matrices of up to 512 rows, one block of 512 threads): the Gerschgorin
 * interval bisected round by round until each interval holds one converged eigenvalue; thread t's
 * interval's left end and count written (the sample places eigenvalue left[t] at left_count[t]).
 */
static int bisect_small(const gpupool_emu_launch *l, void **params)
{
    matrix m;
    int rc = matrix_of(l, params, &m);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (grid_blocks(l) != 1 || block_threads(l) > MAX_THREADS_BLOCK_SMALL_MATRIX || m.n > block_threads(l))
        return CUDA_ERROR_INVALID_VALUE;
    long long n = m.n;
    float *lefts = DEVICE(l, PARAM(CUdeviceptr, params, 3), n, sizeof(float));
    unsigned *left_counts = DEVICE(l, PARAM(CUdeviceptr, params, 5), n, sizeof(unsigned));
    NEED(lefts);
    NEED(left_counts);
    interval list[2 * MAX_THREADS_BLOCK_SMALL_MATRIX];
    unsigned count = 1;
    list[0] = (interval){ PARAM(float, params, 7), PARAM(float, params, 8), PARAM(unsigned, params, 9), PARAM(unsigned, params, 10) };
    for (unsigned rounds = 0; round_of(&m, list, &count, PARAM(float, params, 11), 1); rounds++)
        if (count > MAX_THREADS_BLOCK_SMALL_MATRIX)
            return CUDA_ERROR_ILLEGAL_ADDRESS; /* counts the matrix does not have: shared memory overrun */
        else if (rounds == MAX_ROUNDS)
            return CUDA_ERROR_LAUNCH_TIMEOUT;
    for (unsigned t = 0; t < count && t < m.n; t++) {
        lefts[t] = list[t].left;
        left_counts[t] = list[t].left_count;
    }
    return CUDA_SUCCESS;
}

const gpupool_emu_kernel eigenvalues_kernels[] = {
    KERNEL("_Z12bisectKernelPfS_jS_S_PjS0_ffjjf", bisect_small, 8, 8, 4, 8, 8, 8, 8, 4, 4, 4, 4, 4),
    KERNEL("_Z17bisectKernelLargePfS_jffjjfPjS0_S_S_S0_S_S_S0_S0_S0_S0_", bisect_large, 8, 8, 4, 4, 4, 4, 4, 4, 8, 8, 8, 8, 8,
           8, 8, 8, 8, 8, 8),
    KERNEL("_Z30bisectKernelLarge_OneIntervalsPfS_jjS_S_Pjf", bisect_one, 8, 8, 4, 4, 8, 8, 8, 4),
    KERNEL("_Z31bisectKernelLarge_MultIntervalsPfS_jPjS0_S_S_S0_S0_S_S0_f", bisect_mult, 8, 8, 4, 8, 8, 8, 8, 8, 8, 8, 8, 4),
};
const unsigned eigenvalues_kernel_count = COUNT(eigenvalues_kernels);
