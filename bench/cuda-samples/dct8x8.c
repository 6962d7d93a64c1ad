/*
 * CPU kernels of dct8x8 (2_Concepts_and_Techniques; see kernels.c): 8x8 block-wise forward and inverse
 * DCTs three ways and the quantizations between them, each from the sample's kernel source. The sample
 * compares each result with its CPU gold versions by PSNR.
 *   - CUDAkernel1DCT/IDCT: each block read through the texture, then two products with the module's
 *     __constant__ DCTv8matrix (multiply-adds fused, in the kernel's order, as nvcc compiles them);
 *   - CUDAkernel2DCT/IDCT: the butterfly of CUDAsubroutineInplace(I)DCTvector over each block's rows,
 *     then its columns, in float;
 *   - CUDAkernelShortDCT/IDCT: the 16-bit fixed-point butterflies over each block's columns, then its
 *     rows, every intermediate stored as a short as the kernel's shared block does;
 *   - CUDAkernelQuantizationFloat/Short: each coefficient rounded to a multiple of the module's Q table.
 */
#include "kernels.h"

#include <math.h>
#include <stdint.h>

#define B 8

/* The grid's extent in pixels, checked against the image the pointer must hold. */
static int extent(const gpupool_emu_launch *l, unsigned bw, unsigned bh, long long *w, long long *h)
{
    *w = (long long)l->grid[0] * bw;
    *h = (long long)l->grid[1] * bh;
    return l->grid[2] == 1 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* ---- kernel 1: matrix products through the texture -------------------------------------------- */

/* CUDAkernel1DCT / CUDAkernel1IDCT(float *Dst, int ImgWidth, int OffsetXBlocks, int OffsetYBlocks, tex) */
static int dct1(const gpupool_emu_launch *l, void **params, int inverse)
{
    long long stride = PARAM(int, params, 1);
    int ox = PARAM(int, params, 2), oy = PARAM(int, params, 3);
    size_t bytes = 0;
    const float *m = l->global(l, "DCTv8matrix", &bytes);
    if (m == NULL || bytes < B * B * sizeof(float))
        return CUDA_ERROR_INVALID_IMAGE;
    if (l->block[0] != B || l->block[1] != B || l->block[2] != 1 || ox < 0 || oy < 0)
        return CUDA_ERROR_INVALID_VALUE;
    long long w, h;
    if (extent(l, B, B, &w, &h) != CUDA_SUCCESS)
        return CUDA_ERROR_INVALID_VALUE;
    long long x0 = (long long)ox * B, y0 = (long long)oy * B;
    if (x0 + w > stride)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    float *dst = DEVICE(l, PARAM(CUdeviceptr, params, 0), (y0 + h) * stride, sizeof(float));
    NEED(dst);
    gpupool_emu_texture_view view;
    int rc = l->texture_view(l, PARAM(unsigned long long, params, 4), &view);
    if (rc != CUDA_SUCCESS)
        return rc;
    for (long long by = y0; by < y0 + h; by += B)
        for (long long bx = x0; bx < x0 + w; bx += B) {
            float a[B][B], t[B][B];
            for (int ty = 0; ty < B; ty++)
                for (int tx = 0; tx < B; tx++)
                    a[ty][tx] = gpupool_emu_tex1f(&view, (float)(bx + tx) + 0.5f, (float)(by + ty) + 0.5f, 0);
            /* DCT: t = M^T a, out = t M; IDCT: t = M a, out = t M^T (M row-major in DCTv8matrix). */
            for (int ty = 0; ty < B; ty++)
                for (int tx = 0; tx < B; tx++) {
                    float e = 0;
                    for (int i = 0; i < B; i++)
                        e = fmaf(inverse ? m[ty * B + i] : m[i * B + ty], a[i][tx], e);
                    t[ty][tx] = e;
                }
            for (int ty = 0; ty < B; ty++)
                for (int tx = 0; tx < B; tx++) {
                    float e = 0;
                    for (int i = 0; i < B; i++)
                        e = fmaf(t[ty][i], inverse ? m[tx * B + i] : m[i * B + tx], e);
                    dst[(by + ty) * stride + bx + tx] = e;
                }
        }
    return CUDA_SUCCESS;
}

static int dct1_forward(const gpupool_emu_launch *l, void **p) { return dct1(l, p, 0); }
static int dct1_inverse(const gpupool_emu_launch *l, void **p) { return dct1(l, p, 1); }

/* ---- kernel 2: float butterflies -------------------------------------------------------------- */

#define C_a 1.387039845322148f
#define C_b 1.306562964876377f
#define C_c 1.175875602419359f
#define C_d 0.785694958387102f
#define C_e 0.541196100146197f
#define C_f 0.275899379282943f
#define C_norm 0.3535533905932737f

/* CUDAsubroutineInplaceDCTvector */
static void dct_vector(float *v, long long step)
{
    float x0 = v[0], x1 = v[step], x2 = v[2 * step], x3 = v[3 * step], x4 = v[4 * step], x5 = v[5 * step], x6 = v[6 * step],
          x7 = v[7 * step];
    float X07P = x0 + x7, X16P = x1 + x6, X25P = x2 + x5, X34P = x3 + x4;
    float X07M = x0 - x7, X61M = x6 - x1, X25M = x2 - x5, X43M = x4 - x3;
    float X07P34PP = X07P + X34P, X07P34PM = X07P - X34P, X16P25PP = X16P + X25P, X16P25PM = X16P - X25P;
    v[0] = C_norm * (X07P34PP + X16P25PP);
    v[2 * step] = C_norm * (C_b * X07P34PM + C_e * X16P25PM);
    v[4 * step] = C_norm * (X07P34PP - X16P25PP);
    v[6 * step] = C_norm * (C_e * X07P34PM - C_b * X16P25PM);
    v[step] = C_norm * (C_a * X07M - C_c * X61M + C_d * X25M - C_f * X43M);
    v[3 * step] = C_norm * (C_c * X07M + C_f * X61M - C_a * X25M + C_d * X43M);
    v[5 * step] = C_norm * (C_d * X07M + C_a * X61M + C_f * X25M - C_c * X43M);
    v[7 * step] = C_norm * (C_f * X07M + C_d * X61M + C_c * X25M + C_a * X43M);
}

/* CUDAsubroutineInplaceIDCTvector */
static void idct_vector(float *v, long long step)
{
    float y0 = v[0], y1 = v[step], y2 = v[2 * step], y3 = v[3 * step], y4 = v[4 * step], y5 = v[5 * step], y6 = v[6 * step],
          y7 = v[7 * step];
    float Y04P = y0 + y4, Y2b6eP = C_b * y2 + C_e * y6;
    float Y04P2b6ePP = Y04P + Y2b6eP, Y04P2b6ePM = Y04P - Y2b6eP;
    float Y7f1aP3c5dPP = C_f * y7 + C_a * y1 + C_c * y3 + C_d * y5;
    float Y7a1fM3d5cMP = C_a * y7 - C_f * y1 + C_d * y3 - C_c * y5;
    float Y04M = y0 - y4, Y2e6bM = C_e * y2 - C_b * y6;
    float Y04M2e6bMP = Y04M + Y2e6bM, Y04M2e6bMM = Y04M - Y2e6bM;
    float Y1c7dM3f5aPM = C_c * y1 - C_d * y7 - C_f * y3 - C_a * y5;
    float Y1d7cP3a5fMM = C_d * y1 + C_c * y7 - C_a * y3 + C_f * y5;
    v[0] = C_norm * (Y04P2b6ePP + Y7f1aP3c5dPP);
    v[7 * step] = C_norm * (Y04P2b6ePP - Y7f1aP3c5dPP);
    v[4 * step] = C_norm * (Y04P2b6ePM + Y7a1fM3d5cMP);
    v[3 * step] = C_norm * (Y04P2b6ePM - Y7a1fM3d5cMP);
    v[step] = C_norm * (Y04M2e6bMP + Y1c7dM3f5aPM);
    v[5 * step] = C_norm * (Y04M2e6bMM - Y1d7cP3a5fMM);
    v[2 * step] = C_norm * (Y04M2e6bMM + Y1d7cP3a5fMM);
    v[6 * step] = C_norm * (Y04M2e6bMP - Y1c7dM3f5aPM);
}

/* CUDAkernel2DCT / CUDAkernel2IDCT(float *dst, float *src, int ImgStride): blocks of 32 x 16 pixels
 * (threads 8 x 4 x 2), each 8x8 block transformed along its rows, then its columns. */
static int dct2(const gpupool_emu_launch *l, void **params, int inverse)
{
    long long stride = PARAM(int, params, 2), w, h;
    if (l->block[0] != 8 || l->block[1] != 4 || l->block[2] != 2 || extent(l, 32, 16, &w, &h) != CUDA_SUCCESS)
        return CUDA_ERROR_INVALID_VALUE;
    if (w > stride)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    float *dst = DEVICE(l, PARAM(CUdeviceptr, params, 0), h * stride, sizeof(float));
    const float *src = DEVICE(l, PARAM(CUdeviceptr, params, 1), h * stride, sizeof(float));
    NEED(dst);
    NEED(src);
    void (*vector)(float *, long long) = inverse ? idct_vector : dct_vector;
    for (long long by = 0; by < h; by += B)
        for (long long bx = 0; bx < w; bx += B) {
            float blk[B * B];
            for (int y = 0; y < B; y++)
                for (int x = 0; x < B; x++)
                    blk[y * B + x] = src[(by + y) * stride + bx + x];
            for (int y = 0; y < B; y++)
                vector(blk + y * B, 1);
            for (int x = 0; x < B; x++)
                vector(blk + x, B);
            for (int y = 0; y < B; y++)
                for (int x = 0; x < B; x++)
                    dst[(by + y) * stride + bx + x] = blk[y * B + x];
        }
    return CUDA_SUCCESS;
}

static int dct2_forward(const gpupool_emu_launch *l, void **p) { return dct2(l, p, 0); }
static int dct2_inverse(const gpupool_emu_launch *l, void **p) { return dct2(l, p, 1); }

/* ---- the short kernels: 16-bit fixed point -------------------------------------------------- */

#define SIN_1_4 0x5A82
#define COS_1_4 0x5A82
#define SIN_1_8 0x30FC
#define COS_1_8 0x7642
#define OSIN_1_16 0x063E
#define OSIN_3_16 0x11C7
#define OSIN_5_16 0x1A9B
#define OSIN_7_16 0x1F63
#define OCOS_1_16 0x1F63
#define OCOS_3_16 0x1A9B
#define OCOS_5_16 0x11C7
#define OCOS_7_16 0x063E

static short unfixh(int x) { return (short)((x + 0x8000) >> 16); }
static int unfixo(int x) { return (x + 0x1000) >> 13; }

/* CUDAshortInplaceDCT (both of its forms compute this over 8 shorts step apart) */
static void short_dct(short *v, long long step)
{
    int in0 = v[0], in1 = v[step], in2 = v[2 * step], in3 = v[3 * step], in4 = v[4 * step], in5 = v[5 * step],
        in6 = v[6 * step], in7 = v[7 * step];
    int tmp0 = in7 + in0, tmp1 = in6 + in1, tmp2 = in5 + in2, tmp3 = in4 + in3;
    int tmp4 = in3 - in4, tmp5 = in2 - in5, tmp6 = in1 - in6, tmp7 = in0 - in7;
    int tmp10 = tmp3 + tmp0, tmp11 = tmp2 + tmp1, tmp12 = tmp1 - tmp2, tmp13 = tmp0 - tmp3;
    int tmp16 = unfixo((tmp6 + tmp5) * SIN_1_4), tmp15 = unfixo((tmp6 - tmp5) * COS_1_4);
    tmp4 <<= 2;
    tmp7 <<= 2;
    int tmp14 = tmp4 + tmp15, tmp25 = tmp4 - tmp15, tmp26 = tmp7 - tmp16, tmp17 = tmp7 + tmp16;
    v[0] = unfixh((tmp10 + tmp11) * SIN_1_4);
    v[2 * step] = unfixh(tmp13 * COS_1_8 + tmp12 * SIN_1_8);
    v[4 * step] = unfixh((tmp10 - tmp11) * COS_1_4);
    v[6 * step] = unfixh(tmp13 * SIN_1_8 - tmp12 * COS_1_8);
    v[step] = unfixh(tmp17 * OCOS_1_16 + tmp14 * OSIN_1_16);
    v[3 * step] = unfixh(tmp26 * OCOS_3_16 - tmp25 * OSIN_3_16);
    v[5 * step] = unfixh(tmp26 * OCOS_5_16 + tmp25 * OSIN_5_16);
    v[7 * step] = unfixh(tmp17 * OCOS_7_16 - tmp14 * OSIN_7_16);
}

/* CUDAshortInplaceIDCT */
static void short_idct(short *v, long long step)
{
    int in0 = v[0], in1 = v[step], in2 = v[2 * step], in3 = v[3 * step], in4 = v[4 * step], in5 = v[5 * step],
        in6 = v[6 * step], in7 = v[7 * step];
    int tmp10 = (in0 + in4) * COS_1_4, tmp11 = (in0 - in4) * COS_1_4;
    int tmp12 = in2 * SIN_1_8 - in6 * COS_1_8, tmp13 = in6 * SIN_1_8 + in2 * COS_1_8;
    int tmp20 = tmp10 + tmp13, tmp21 = tmp11 + tmp12, tmp22 = tmp11 - tmp12, tmp23 = tmp10 - tmp13;
    int tmp30 = unfixo((in3 + in5) * COS_1_4), tmp31 = unfixo((in3 - in5) * COS_1_4);
    in1 <<= 2;
    in7 <<= 2;
    int tmp40 = in1 + tmp30, tmp41 = in7 + tmp31, tmp42 = in1 - tmp30, tmp43 = in7 - tmp31;
    int tmp50 = tmp40 * OCOS_1_16 + tmp41 * OSIN_1_16, tmp51 = tmp40 * OSIN_1_16 - tmp41 * OCOS_1_16;
    int tmp52 = tmp42 * OCOS_5_16 + tmp43 * OSIN_5_16, tmp53 = tmp42 * OSIN_5_16 - tmp43 * OCOS_5_16;
    v[0] = unfixh(tmp20 + tmp50);
    v[step] = unfixh(tmp21 + tmp53);
    v[2 * step] = unfixh(tmp22 + tmp52);
    v[3 * step] = unfixh(tmp23 + tmp51);
    v[4 * step] = unfixh(tmp23 - tmp51);
    v[5 * step] = unfixh(tmp22 - tmp52);
    v[6 * step] = unfixh(tmp21 - tmp53);
    v[7 * step] = unfixh(tmp20 - tmp50);
}

/* CUDAkernelShortDCT / CUDAkernelShortIDCT(short *SrcDst, int ImgStride): blocks of 32 x 32 pixels
 * (threads 8 x 4 x 4), in place, each 8x8 block transformed along its columns, then its rows. */
static int dct_short(const gpupool_emu_launch *l, void **params, int inverse)
{
    long long stride = PARAM(int, params, 1), w, h;
    if (l->block[0] != 8 || l->block[1] != 4 || l->block[2] != 4 || extent(l, 32, 32, &w, &h) != CUDA_SUCCESS)
        return CUDA_ERROR_INVALID_VALUE;
    if (w > stride)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    short *img = DEVICE(l, PARAM(CUdeviceptr, params, 0), h * stride, sizeof(short));
    NEED(img);
    void (*vector)(short *, long long) = inverse ? short_idct : short_dct;
    for (long long by = 0; by < h; by += B)
        for (long long bx = 0; bx < w; bx += B) {
            short *blk = img + by * stride + bx;
            for (int x = 0; x < B; x++)
                vector(blk + x, stride);
            for (int y = 0; y < B; y++)
                vector(blk + y * stride, 1);
        }
    return CUDA_SUCCESS;
}

static int dct_short_forward(const gpupool_emu_launch *l, void **p) { return dct_short(l, p, 0); }
static int dct_short_inverse(const gpupool_emu_launch *l, void **p) { return dct_short(l, p, 1); }

/* ---- quantization ---------------------------------------------------------------------------- */

/* CUDAkernelQuantizationFloat / Short(T *SrcDst, int Stride): one 8x8 block per thread block. */
static int quantize(const gpupool_emu_launch *l, void **params, int as_short)
{
    long long stride = PARAM(int, params, 1), w, h;
    size_t bytes = 0;
    const short *q = l->global(l, "Q", &bytes);
    if (q == NULL || bytes < B * B * sizeof(short))
        return CUDA_ERROR_INVALID_IMAGE;
    if (l->block[0] != B || l->block[1] != B || l->block[2] != 1 || extent(l, B, B, &w, &h) != CUDA_SUCCESS)
        return CUDA_ERROR_INVALID_VALUE;
    if (w > stride)
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    void *data = DEVICE(l, PARAM(CUdeviceptr, params, 0), h * stride, as_short ? sizeof(short) : sizeof(float));
    NEED(data);
    for (long long y = 0; y < h; y++)
        for (long long x = 0; x < w; x++) {
            short quant = q[(y % B) * B + x % B];
            if (!as_short) {
                float *c = (float *)data + y * stride + x;
                *c = roundf(*c / (float)quant) * (float)quant;
                continue;
            }
            short *c = (short *)data + y * stride + x, coef = *c;
            if (coef < 0)
                coef = (short)-(short)((short)(-coef + (quant >> 1)) / quant);
            else
                coef = (short)((short)(coef + (quant >> 1)) / quant);
            *c = (short)(coef * quant);
        }
    return CUDA_SUCCESS;
}

static int quantize_float(const gpupool_emu_launch *l, void **p) { return quantize(l, p, 0); }
static int quantize_short(const gpupool_emu_launch *l, void **p) { return quantize(l, p, 1); }

const gpupool_emu_kernel dct8x8_kernels[] = {
    KERNEL("_Z14CUDAkernel1DCTPfiiiy", dct1_forward, 8, 4, 4, 4, 8),
    KERNEL("_Z15CUDAkernel1IDCTPfiiiy", dct1_inverse, 8, 4, 4, 4, 8),
    KERNEL("_Z14CUDAkernel2DCTPfS_i", dct2_forward, 8, 8, 4),
    KERNEL("_Z15CUDAkernel2IDCTPfS_i", dct2_inverse, 8, 8, 4),
    KERNEL("_Z18CUDAkernelShortDCTPsi", dct_short_forward, 8, 4),
    KERNEL("_Z19CUDAkernelShortIDCTPsi", dct_short_inverse, 8, 4),
    KERNEL("_Z27CUDAkernelQuantizationFloatPfi", quantize_float, 8, 4),
    KERNEL("_Z27CUDAkernelQuantizationShortPsi", quantize_short, 8, 4),
};
const unsigned dct8x8_kernel_count = COUNT(dct8x8_kernels);
