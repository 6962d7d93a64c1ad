/*
 * CPU kernels of the tensor-core GEMM samples of 3_CUDA_Features (cudaTensorCoreGemm, tf32-, bf16-,
 * dmma- and immaTensorCoreGemm; see kernels.c): D = alpha * A * B + beta * C with A row-major M x K,
 * B column-major K x N, C and D row-major M x N, as each sample's wmma kernels compute it. The
 * compute_* kernels take the sizes from the sample's constants (M_TILES ...), the simple_wmma_* kernels
 * as parameters. The inputs are widened (half, bfloat16, tf32-rounded float, uint8) and every dot
 * product accumulated in float (double, int for dmma and imma) as a tensor core's accumulator is.
 */
#include "kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum element { HALF, BF16, TF32, F64, U8 };

static const size_t element_bytes[] = { [HALF] = 2, [BF16] = 2, [TF32] = 4, [F64] = 8, [U8] = 1 };

static double widen(const void *p, size_t i, enum element e)
{
    switch (e) {
    case HALF:
        return (double)((const _Float16 *)p)[i];
    case BF16: {
        uint32_t bits = (uint32_t)((const uint16_t *)p)[i] << 16;
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    case TF32: { /* __float_to_tf32: 10 mantissa bits, rounded to nearest, ties away from zero */
        uint32_t bits;
        float f = ((const float *)p)[i];
        memcpy(&bits, &f, sizeof bits);
        if ((bits & 0x7f800000U) != 0x7f800000U)
            bits = (bits + 0x1000U) & 0xffffe000U;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    case F64:
        return ((const double *)p)[i];
    case U8:
        return ((const uint8_t *)p)[i];
    }
    return 0;
}

/*
 * The product for accumulator type T, blocked as BLAS libraries block it so that one CPU core runs at
 * its vector units' pace (the 8192-wide samples are 0.5 to 1.1 TFLOP): B is widened and packed
 * KC x NR micro-panels at a time (one stays in L1 while it is used), A in MC x KC blocks of MR-row
 * micro-panels (in L2), and an MR x NR tile of D accumulated in vector registers over KC products;
 * each tile's sums then added into D. Every sum stays in T (float for the half, bf16 and tf32
 * kernels, double for dmma, int32 for imma), as a tensor core's accumulator does; the order of the
 * sums is a tensor core's own either way. Widening is exact for each input type, and the products are
 * fused into the sums (-std=c11 turns contraction off; a tensor core's multiply-add is fused, and
 * bf16, tf32 and half products are exact in float either way).
 */
#define KC 256
#define MC 96
#define NC 2048
#define MR 6
#define NR 32 /* elements: 1 to 4 vectors of 64 bytes */
#define GEMM(NAME, T)                                                                              \
    typedef T NAME##_vec __attribute__((vector_size(64), aligned(4)));                              \
    enum { NAME##_lanes = 64 / sizeof(T), NAME##_nv = NR / NAME##_lanes };                          \
    /* dst (MR x NR) += the products of the kc rows of a (MR-wide) and b (NR-wide) micro-panels */  \
    __attribute__((optimize("fp-contract=fast"))) static void NAME##_tile(size_t kc, const T *restrict a, const T *restrict b, T *restrict dst,  \
                            size_t ld, size_t rows, size_t cols)                                   \
    {                                                                                              \
        NAME##_vec acc[MR][NAME##_nv];                                                             \
        memset(acc, 0, sizeof acc);                                                                \
        for (size_t p = 0; p < kc; p++) {                                                          \
            NAME##_vec bv[NAME##_nv];                                                              \
            memcpy(bv, b + p * NR, sizeof bv);                                                     \
            for (int r = 0; r < MR; r++) {                                                         \
                T x = a[p * MR + r];                                                               \
                for (int v = 0; v < NAME##_nv; v++)                                                \
                    acc[r][v] += x * bv[v];                                                        \
            }                                                                                      \
        }                                                                                          \
        T out[MR][NR];                                                                             \
        memcpy(out, acc, sizeof out);                                                              \
        for (size_t r = 0; r < rows; r++)                                                          \
            for (size_t c = 0; c < cols; c++)                                                      \
                dst[r * ld + c] += out[r][c];                                                      \
    }                                                                                              \
    static int NAME(const void *a, enum element ea, const void *b, const T *c, T *d, T alpha, T beta, \
                    size_t m, size_t n, size_t k)                                                  \
    {                                                                                              \
        size_t mp = (MC + MR - 1) / MR * MR, np = (NC + NR - 1) / NR * NR;                         \
        T *ap = aligned_alloc(64, mp * KC * sizeof(T)), *bp = aligned_alloc(64, np * KC * sizeof(T)); \
        if (ap == NULL || bp == NULL) {                                                            \
            free(ap);                                                                              \
            free(bp);                                                                              \
            return CUDA_ERROR_OUT_OF_MEMORY;                                                       \
        }                                                                                          \
        /* D is summed in place: a C that overlaps it is read from a copy. */                      \
        T *c_copy = NULL;                                                                          \
        if ((uintptr_t)c < (uintptr_t)(d + m * n) && (uintptr_t)d < (uintptr_t)(c + m * n)) {     \
            if ((c_copy = malloc(m * n * sizeof(T))) == NULL) {                                    \
                free(ap);                                                                          \
                free(bp);                                                                          \
                return CUDA_ERROR_OUT_OF_MEMORY;                                                   \
            }                                                                                      \
            memcpy(c_copy, c, m * n * sizeof(T));                                                  \
            c = c_copy;                                                                            \
        }                                                                                          \
        memset(d, 0, m * n * sizeof(T));                                                           \
        for (size_t j0 = 0; j0 < n; j0 += NC) {                                                    \
            size_t nc = n - j0 < NC ? n - j0 : NC;                                                 \
            for (size_t p0 = 0; p0 < k; p0 += KC) {                                                \
                size_t kc = k - p0 < KC ? k - p0 : KC;                                             \
                /* B is column-major: column j's kc values are contiguous. */                      \
                for (size_t jr = 0; jr < nc; jr += NR)                                             \
                    for (size_t jj = 0; jj < NR; jj++)                                             \
                        for (size_t p = 0; p < kc; p++)                                            \
                            bp[jr * kc + p * NR + jj] =                                            \
                                jr + jj < nc ? (T)widen(b, (j0 + jr + jj) * k + p0 + p, ea) : (T)0; \
                for (size_t i0 = 0; i0 < m; i0 += MC) {                                            \
                    size_t mc = m - i0 < MC ? m - i0 : MC;                                         \
                    for (size_t ir = 0; ir < mc; ir += MR)                                         \
                        for (size_t p = 0; p < kc; p++)                                            \
                            for (size_t r = 0; r < MR; r++)                                        \
                                ap[ir * kc + p * MR + r] =                                         \
                                    ir + r < mc ? (T)widen(a, (i0 + ir + r) * k + p0 + p, ea) : (T)0; \
                    for (size_t jr = 0; jr < nc; jr += NR)                                         \
                        for (size_t ir = 0; ir < mc; ir += MR)                                     \
                            NAME##_tile(kc, ap + ir * kc, bp + jr * kc, d + (i0 + ir) * n + j0 + jr, n, \
                                        mc - ir < MR ? mc - ir : MR, nc - jr < NR ? nc - jr : NR); \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        for (size_t i = 0; i < m * n; i++)                                                         \
            d[i] = alpha * d[i] + beta * c[i];                                                     \
        free(ap);                                                                                  \
        free(bp);                                                                                  \
        free(c_copy);                                                                              \
        return CUDA_SUCCESS;                                                                       \
    }
GEMM(gemm_float, float)
GEMM(gemm_double, double)
GEMM(gemm_int, int32_t)

/* The device memory of a GEMM's four matrices, or NULL in *ok. */
static int matrices(const gpupool_emu_launch *l, void **params, enum element e, size_t acc_bytes, size_t m, size_t n,
                    size_t k, const void **a, const void **b, const void **c, void **d)
{
    *a = DEVICE(l, PARAM(CUdeviceptr, params, 0), (long long)(m * k), element_bytes[e]);
    *b = DEVICE(l, PARAM(CUdeviceptr, params, 1), (long long)(k * n), element_bytes[e]);
    *c = DEVICE(l, PARAM(CUdeviceptr, params, 2), (long long)(m * n), acc_bytes);
    *d = DEVICE(l, PARAM(CUdeviceptr, params, 3), (long long)(m * n), acc_bytes);
    return *a && *b && *c && *d ? CUDA_SUCCESS : CUDA_ERROR_ILLEGAL_ADDRESS;
}

/* compute_*(A, B, C, D, alpha, beta) with the sample's sizes, or simple_wmma_*(..., m, n, k, alpha, beta). */
static int gemm(const gpupool_emu_launch *l, void **params, enum element e, size_t m, size_t n, size_t k, int sized)
{
    size_t acc = e == F64 ? sizeof(double) : e == U8 ? sizeof(int32_t) : sizeof(float);
    unsigned at = 4;
    if (sized) {
        int mi = PARAM(int, params, 4), ni = PARAM(int, params, 5), ki = PARAM(int, params, 6);
        /* Past 2^24 a side, the matrices' byte counts could wrap (no device holds such matrices). */
        if (mi <= 0 || ni <= 0 || ki <= 0 || mi > (1 << 24) || ni > (1 << 24) || ki > (1 << 24))
            return CUDA_ERROR_INVALID_VALUE;
        m = (size_t)mi, n = (size_t)ni, k = (size_t)ki;
        at = 7;
    }
    const void *a, *b, *c;
    void *d;
    if (matrices(l, params, e, acc, m, n, k, &a, &b, &c, &d) != CUDA_SUCCESS)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    if (e == F64)
        return gemm_double(a, e, b, c, d, PARAM(double, params, at), PARAM(double, params, at + 1), m, n, k);
    if (e == U8)
        return gemm_int(a, e, b, c, d, PARAM(int, params, at), PARAM(int, params, at + 1), m, n, k);
    return gemm_float(a, e, b, c, d, PARAM(float, params, at), PARAM(float, params, at + 1), m, n, k);
}

/* The samples' sizes: M_TILES x M ... (each sample's #defines). */
static int half_gemm(const gpupool_emu_launch *l, void **p) { return gemm(l, p, HALF, 4096, 4096, 4096, 0); }
static int half_gemm_sized(const gpupool_emu_launch *l, void **p) { return gemm(l, p, HALF, 0, 0, 0, 1); }
static int tf32_gemm(const gpupool_emu_launch *l, void **p) { return gemm(l, p, TF32, 8192, 8192, 4096, 0); }
static int tf32_gemm_sized(const gpupool_emu_launch *l, void **p) { return gemm(l, p, TF32, 0, 0, 0, 1); }
static int bf16_gemm(const gpupool_emu_launch *l, void **p) { return gemm(l, p, BF16, 8192, 8192, 8192, 0); }
static int bf16_gemm_sized(const gpupool_emu_launch *l, void **p) { return gemm(l, p, BF16, 0, 0, 0, 1); }
static int f64_gemm(const gpupool_emu_launch *l, void **p) { return gemm(l, p, F64, 8192, 8192, 4096, 0); }
static int f64_gemm_sized(const gpupool_emu_launch *l, void **p) { return gemm(l, p, F64, 0, 0, 0, 1); }
static int u8_gemm(const gpupool_emu_launch *l, void **p) { return gemm(l, p, U8, 4096, 4096, 4096, 0); }
static int u8_gemm_sized(const gpupool_emu_launch *l, void **p) { return gemm(l, p, U8, 0, 0, 0, 1); }

const gpupool_emu_kernel gemm_kernels[] = {
    KERNEL("_Z12compute_gemmPK6__halfS1_PKfPfff", half_gemm, 8, 8, 8, 8, 4, 4),
    KERNEL("_Z16simple_wmma_gemmP6__halfS0_PfS1_iiiff", half_gemm_sized, 8, 8, 8, 8, 4, 4, 4, 4, 4),
    KERNEL("_Z16compute_tf32gemmPKfS0_S0_Pfff", tf32_gemm, 8, 8, 8, 8, 4, 4),
    KERNEL("_Z27compute_tf32gemm_async_copyPKfS0_S0_Pfff", tf32_gemm, 8, 8, 8, 8, 4, 4),
    KERNEL("_Z20simple_wmma_tf32gemmPfS_S_S_iiiff", tf32_gemm_sized, 8, 8, 8, 8, 4, 4, 4, 4, 4),
    KERNEL("_Z16compute_bf16gemmPK13__nv_bfloat16S1_PKfPfff", bf16_gemm, 8, 8, 8, 8, 4, 4),
    KERNEL("_Z27compute_bf16gemm_async_copyPK13__nv_bfloat16S1_PKfPfff", bf16_gemm, 8, 8, 8, 8, 4, 4),
    KERNEL("_Z20simple_wmma_bf16gemmP13__nv_bfloat16S0_PfS1_iiiff", bf16_gemm_sized, 8, 8, 8, 8, 4, 4, 4, 4, 4),
    KERNEL("_Z13compute_dgemmPKdS0_S0_Pddd", f64_gemm, 8, 8, 8, 8, 8, 8),
    KERNEL("_Z24compute_dgemm_async_copyPKdS0_S0_Pddd", f64_gemm, 8, 8, 8, 8, 8, 8),
    KERNEL("_Z27compute_dgemm_cg_async_copyPKdS0_S0_Pddd", f64_gemm, 8, 8, 8, 8, 8, 8),
    KERNEL("_Z16simple_wmma_gemmPdS_S_S_iiidd", f64_gemm_sized, 8, 8, 8, 8, 4, 4, 4, 8, 8),
    KERNEL("_Z17compute_gemm_immaPKhS0_PKiPiii", u8_gemm, 8, 8, 8, 8, 4, 4),
    KERNEL("_Z21simple_wmma_gemm_immaPKhS0_PKiPiiiiii", u8_gemm_sized, 8, 8, 8, 8, 4, 4, 4, 4, 4),
};
const unsigned gemm_kernel_count = COUNT(gemm_kernels);
