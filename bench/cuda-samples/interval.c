/*
 * interval (2_Concepts_and_Techniques): test_interval_newton<double>(interval_gpu<double> *buffer,
 * int *nresults, interval_gpu<double> i, int implementation_choice). Thread t looks for the roots of
 * f(x) = (x - 1)^2 - (t / THREADS) x in i by interval Newton steps, with bisection where a step gains
 * too little, pushing each small-enough interval onto its column of buffer (slot k at k * THREADS + t)
 * and their count into nresults[t]. Interval bounds round outwards as the GPU's __dadd_rd/_ru,
 * __dmul_rd/_ru and __ddiv_rd/_ru do: each is the round-to-nearest result moved one ulp outwards when
 * the exact result lies beyond it (the error-free transformations below tell which side it lies on).
 * The three implementations the sample chooses between (0 naive, 1 optimised, 2 recursive) visit the
 * intervals in their own orders.
 */
#include "kernels.h"

#include <math.h>
#include <stdbool.h>

#define THREADS_PER_BLOCK 64 /* interval.h: BLOCK_SIZE; thread_id = blockIdx.x * BLOCK_SIZE + threadIdx.x */
#define THREADS (1024 * THREADS_PER_BLOCK) /* interval.h: GRID_SIZE * BLOCK_SIZE, the stacks' stride */
#define DEPTH_RESULT 128
#define DEPTH_WORK 128

typedef struct {
    double lo, up;
} interval;

typedef struct {
    interval *buf;
    long long free_index, threads;
    bool overflow;
} result_stack;

/* ---- directed rounding -------------------------------------------------------------------------- */

/* s = a + b rounded to nearest, and the sign of the exact sum's excess over it (TwoSum). */
static double add_err(double a, double b, double *err)
{
    double s = a + b, bb = s - a;
    *err = isfinite(s) ? (a - (s - bb)) + (b - bb) : 0.0;
    return s;
}

static double down(double r, double err) { return err < 0 ? nextafter(r, -INFINITY) : r; }
static double up(double r, double err) { return err > 0 ? nextafter(r, INFINITY) : r; }

static double add_down(double a, double b) { double e, s = add_err(a, b, &e); return down(s, e); }
static double add_up(double a, double b) { double e, s = add_err(a, b, &e); return up(s, e); }
static double sub_down(double a, double b) { return add_down(a, -b); }
static double sub_up(double a, double b) { return add_up(a, -b); }

static double mul_err(double a, double b, double *err)
{
    double p = a * b;
    *err = isfinite(p) ? fma(a, b, -p) : 0.0;
    return p;
}

static double mul_down(double a, double b) { double e, p = mul_err(a, b, &e); return down(p, e); }
static double mul_up(double a, double b) { double e, p = mul_err(a, b, &e); return up(p, e); }

/* q = a / b; the exact quotient is q + r / b with r = a - q b, exact by fma. */
static double div_err(double a, double b, double *err)
{
    double q = a / b;
    double r = isfinite(q) && isfinite(b) && b != 0 ? fma(-q, b, a) : 0.0;
    *err = r == 0 ? 0.0 : (r > 0) == (b > 0) ? 1.0 : -1.0;
    return q;
}

static double div_down(double a, double b) { double e, q = div_err(a, b, &e); return down(q, e); }
static double div_up(double a, double b) { double e, q = div_err(a, b, &e); return up(q, e); }

/* ---- the sample's interval library (cuda_interval_lib.h) ---------------------------------------- */

static interval I1(double v) { return (interval){ v, v }; }
static interval I2(double l, double u) { return (interval){ l, u }; }
static interval empty_interval(void) { return (interval){ NAN, NAN }; }
static bool is_empty(interval x) { double h = x.lo + x.up; return h != h; }
static double width(interval x) { return is_empty(x) ? 0 : sub_up(x.up, x.lo); }
static double median(interval x) { return (x.lo + x.up) * .5; }
static interval add(interval x, interval y) { return I2(add_down(x.lo, y.lo), add_up(x.up, y.up)); }
static interval sub(interval x, interval y) { return I2(sub_down(x.lo, y.up), sub_up(x.up, y.lo)); }

static interval mul(interval x, interval y)
{
    return I2(fmin(fmin(mul_down(x.lo, y.lo), mul_down(x.lo, y.up)), fmin(mul_down(x.up, y.lo), mul_down(x.up, y.up))),
              fmax(fmax(mul_up(x.lo, y.lo), mul_up(x.lo, y.up)), fmax(mul_up(x.up, y.lo), mul_up(x.up, y.up))));
}

static interval square(interval x)
{
    if (x.lo >= 0)
        return I2(mul_down(x.lo, x.lo), mul_up(x.up, x.up));
    if (x.up <= 0)
        return I2(mul_down(x.up, x.up), mul_up(x.lo, x.lo));
    return I2(0, fmax(mul_up(x.lo, x.lo), mul_up(x.up, x.up)));
}

static interval intersect(interval x, interval y)
{
    double l = fmax(x.lo, y.lo), u = fmin(x.up, y.up);
    return l <= u ? I2(l, u) : empty_interval();
}

static interval div_non_zero(interval x, interval y)
{
    double xl, yl, xu, yu;
    if (y.up < 0) {
        xl = x.up;
        xu = x.lo;
    } else {
        xl = x.lo;
        xu = x.up;
    }
    if (x.up < 0) {
        yl = y.lo;
        yu = y.up;
    } else if (x.lo < 0) {
        if (y.up < 0)
            yl = yu = y.up;
        else
            yl = yu = y.lo;
    } else {
        yl = y.up;
        yu = y.lo;
    }
    return I2(div_down(xl, yl), div_up(xu, yu));
}

static interval div_positive(interval x, double yu)
{
    if (x.lo == 0 && x.up == 0)
        return x;
    if (x.up < 0)
        return I2(-INFINITY, div_up(x.up, yu));
    if (x.lo < 0)
        return I2(-INFINITY, INFINITY);
    return I2(div_down(x.lo, yu), INFINITY);
}

static interval div_negative(interval x, double yl)
{
    if (x.lo == 0 && x.up == 0)
        return x;
    if (x.up < 0)
        return I2(div_down(x.up, yl), INFINITY);
    if (x.lo < 0)
        return I2(-INFINITY, INFINITY);
    return I2(-INFINITY, div_up(x.lo, yl));
}

static interval div_zero_part1(interval x, interval y, bool *b)
{
    if (x.lo == 0 && x.up == 0) {
        *b = false;
        return x;
    }
    if (x.up < 0) {
        *b = true;
        return I2(-INFINITY, div_up(x.up, y.up));
    }
    if (x.lo < 0) {
        *b = false;
        return I2(-INFINITY, INFINITY);
    }
    *b = true;
    return I2(-INFINITY, div_up(x.lo, y.lo));
}

static interval div_zero_part2(interval x, interval y)
{
    return x.up < 0 ? I2(div_down(x.up, y.lo), INFINITY) : I2(div_down(x.lo, y.up), INFINITY);
}

static interval division_part1(interval x, interval y, bool *b)
{
    *b = false;
    if (y.lo <= 0 && y.up >= 0) {
        if (y.lo != 0)
            return y.up != 0 ? div_zero_part1(x, y, b) : div_negative(x, y.lo);
        return y.up != 0 ? div_positive(x, y.up) : empty_interval();
    }
    return div_non_zero(x, y);
}

/* ---- the solver (cuda_interval.h) ------------------------------------------------------------- */

static interval f(interval x, double alpha) { return add(square(sub(x, I1(1))), mul(I1(alpha), x)); }
static interval fd(interval x, double alpha) { return add(mul(I1(2), x), I1(alpha - 2)); }

static bool is_minimal(interval x, double alpha)
{
    const double epsilon_x = 1e-6f, epsilon_y = 1e-6f;
    return !is_empty(x) && (width(x) <= epsilon_x * fabs(median(x)) || width(f(x, alpha)) <= epsilon_y);
}

static bool should_bisect(interval x, interval x1, interval x2, double a)
{
    double wmax = a * width(x);
    return (!is_empty(x1) && width(x1) > wmax) || (!is_empty(x2) && width(x2) > wmax);
}

static void push_result(result_stack *r, interval v)
{
    if (r->free_index >= DEPTH_RESULT * r->threads) {
        r->overflow = true; /* past the buffer: a GPU would write outside it */
        return;
    }
    r->buf[r->free_index] = v;
    r->free_index += r->threads;
}

/* One Newton step from ix: part1, and part2 when has_part2, each possibly empty. */
static void newton_step(interval ix, double alpha, interval *part1, interval *part2, bool *has_part2)
{
    double x = median(ix);
    interval iq = f(I1(x), alpha), id = fd(ix, alpha);
    *part2 = empty_interval();
    *part1 = intersect(sub(I1(x), division_part1(iq, id, has_part2)), ix);
    if (*has_part2)
        *part2 = intersect(sub(I1(x), div_zero_part2(iq, id)), ix);
}

/* A step that gains too little (a part over .99 of ix's width) becomes a bisection of ix. */
static void bisect_if_slow(interval ix, interval *part1, interval *part2, bool *has_part2)
{
    if (should_bisect(ix, *part1, *part2, .99f)) {
        *part1 = I2(ix.lo, median(ix));
        *part2 = I2(median(ix), ix.up);
        *has_part2 = true;
    }
}

static void newton_naive(result_stack *r, interval ix0, double alpha)
{
    interval work[DEPTH_WORK];
    int tos = 0;
    work[tos++] = ix0;
    while (tos > 0) {
        interval ix = work[--tos];
        if (is_minimal(ix, alpha)) {
            push_result(r, ix);
            continue;
        }
        interval part1, part2;
        bool has_part2;
        newton_step(ix, alpha, &part1, &part2, &has_part2);
        bisect_if_slow(ix, &part1, &part2, &has_part2);
        if (!is_empty(part1) && tos < DEPTH_WORK)
            work[tos++] = part1;
        if (has_part2 && !is_empty(part2) && tos < DEPTH_WORK)
            work[tos++] = part2;
    }
}

static void newton_optimised(result_stack *r, interval ix0, double alpha)
{
    interval work[DEPTH_WORK], ix = ix0;
    int tos = 0;
    for (;;) {
        interval part1, part2;
        bool has_part2;
        newton_step(ix, alpha, &part1, &part2, &has_part2);
        if (is_minimal(part1, alpha)) {
            push_result(r, part1);
            part1 = empty_interval();
        }
        if (has_part2 && is_minimal(part2, alpha)) {
            push_result(r, part2);
            part2 = empty_interval();
        }
        bisect_if_slow(ix, &part1, &part2, &has_part2);
        if (!is_empty(part1)) {
            ix = part1;
            if (has_part2 && !is_empty(part2) && tos < DEPTH_WORK)
                work[tos++] = part2;
        } else if (has_part2 && !is_empty(part2)) {
            ix = part2;
        } else if (tos == 0) {
            break;
        } else {
            ix = work[--tos];
        }
    }
}

static void newton_recursive(result_stack *r, interval ix, double alpha)
{
    if (is_minimal(ix, alpha)) {
        push_result(r, ix);
        return;
    }
    interval part1, part2;
    bool has_part2;
    newton_step(ix, alpha, &part1, &part2, &has_part2);
    bisect_if_slow(ix, &part1, &part2, &has_part2);
    if (has_part2 && !is_empty(part2))
        newton_recursive(r, part2, alpha);
    if (!is_empty(part1))
        newton_recursive(r, part1, alpha);
}

static int interval_newton(const gpupool_emu_launch *l, void **params)
{
    interval domain = PARAM(interval, params, 2);
    int choice = PARAM(int, params, 3);
    interval *buffer = DEVICE(l, PARAM(CUdeviceptr, params, 0), (long long)THREADS * DEPTH_RESULT, sizeof(interval));
    int *nresults = DEVICE(l, PARAM(CUdeviceptr, params, 1), THREADS, sizeof(int));
    NEED(buffer);
    NEED(nresults);
    for (long long b = 0; b < (long long)grid_blocks(l); b++)
        for (long long t = 0; t < (long long)block_threads(l); t++) {
            long long id = b * THREADS_PER_BLOCK + t;
            if (t >= THREADS_PER_BLOCK || id >= THREADS)
                return CUDA_ERROR_ILLEGAL_ADDRESS; /* its stack column lies outside the buffers */
            double alpha = -(double)id / (double)THREADS;
            result_stack r = { buffer, id, THREADS, false };
            if (choice == 1)
                newton_optimised(&r, domain, alpha);
            else if (choice == 2)
                newton_recursive(&r, domain, alpha);
            else
                newton_naive(&r, domain, alpha);
            if (r.overflow)
                return CUDA_ERROR_ILLEGAL_ADDRESS;
            nresults[id] = (int)(r.free_index / THREADS);
        }
    return CUDA_SUCCESS;
}

const gpupool_emu_kernel interval_kernels[] = {
    KERNEL("_Z20test_interval_newtonIdEvP12interval_gpuIT_EPiS2_i", interval_newton, 8, 8, 16, 4),
};
const unsigned interval_kernel_count = COUNT(interval_kernels);
