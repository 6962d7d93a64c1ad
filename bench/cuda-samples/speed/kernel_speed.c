/*
 * How fast the conformance run's heaviest CPU kernels run on this host (bench/cuda-samples/speed.js):
 * the tensor-core GEMMs of gemm.c (GFLOP/s per CPU-second, so that a loaded machine's waiting is not
 * counted) and the inline texture fetches of gpupool_emu_texture.h (ns per fetch over a 3072 x 3072
 * float texture, as convolutionTexture samples it). Prints one JSON object; exits 1 when a checked
 * element of a product is off by more than float accumulation allows.
 *
 *   kernel_speed [gemm size, default 2048] [texture side, default 3072]
 */
#include "../gemm.c"

#include <math.h>
#include <stdio.h>
#include <time.h>

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double g_worst; /* the largest relative error of a checked element of D, over every GEMM */

/* D = A B + C for n x n x n in the element type e; GFLOP/s per CPU-second. 97 elements of D are
 * checked against the product in double (g_worst). */
static double gemm_rate(enum element e, size_t n)
{
    size_t acc = e == F64 ? sizeof(double) : e == U8 ? sizeof(int32_t) : sizeof(float);
    unsigned char *a = malloc(n * n * element_bytes[e]), *b = malloc(n * n * element_bytes[e]);
    void *c = calloc(n * n, acc), *d = malloc(n * n * acc);
    if (a == NULL || b == NULL || c == NULL || d == NULL)
        return -1;
    /* Small values of every type (bf16 0x3f80 + i: 1.0 ... 1.5; half: the same bits read as half). */
    for (size_t i = 0; i < n * n * element_bytes[e]; i++)
        a[i] = b[i] = (unsigned char)(e == BF16 || e == HALF ? (i & 1 ? 0x3c : i % 64) : e == U8 ? i % 5 : 0);
    if (e == TF32)
        for (size_t i = 0; i < n * n; i++)
            ((float *)a)[i] = ((float *)b)[i] = (float)(i % 7) / 3.0f;
    if (e == F64)
        for (size_t i = 0; i < n * n; i++)
            ((double *)a)[i] = ((double *)b)[i] = (double)(i % 7) / 3.0;
    double t0 = cpu_seconds();
    int rc = e == F64  ? gemm_double(a, e, b, c, d, 1.0, 1.0, n, n, n)
             : e == U8 ? gemm_int(a, e, b, c, d, 1, 1, n, n, n)
                       : gemm_float(a, e, b, c, d, 1.0f, 1.0f, n, n, n);
    double t = cpu_seconds() - t0;
    for (size_t probe = 0; probe < 97; probe++) {
        size_t i = probe * 7919 % n, j = probe * 104729 % n;
        double want = 0, got = e == F64 ? ((double *)d)[i * n + j] : e == U8 ? ((int32_t *)d)[i * n + j] : ((float *)d)[i * n + j];
        for (size_t p = 0; p < n; p++)
            want += widen(a, i * n + p, e) * widen(b, j * n + p, e);
        double err = fabs(got - want) / (fabs(want) + 1);
        g_worst = err > g_worst ? err : g_worst;
    }
    free(a);
    free(b);
    free(c);
    free(d);
    return rc == CUDA_SUCCESS ? 2.0 * (double)n * (double)n * (double)n / t / 1e9 : -1;
}

/* ns per fetch of a 17-tap row convolution at offset (texel centres when 0), filtering as asked, over a
 * square float texture of g_side texels a side. */
static long g_side = 3072;

static double fetch_ns(int linear, float offset)
{
    const long w = g_side, h = g_side;
    float *image = malloc((size_t)(w * h) * sizeof(float)), *out = malloc((size_t)(w * h) * sizeof(float));
    if (image == NULL || out == NULL)
        return -1;
    for (long i = 0; i < w * h; i++)
        image[i] = (float)(i % 16);
    gpupool_emu_texture_view v = {
        .base = (const unsigned char *)image, .extent = { (size_t)w, (size_t)h, 1 }, .layers = 1,
        .pitch = (size_t)w * sizeof(float), .slice = (size_t)(w * h) * sizeof(float), .elem = sizeof(float),
        .format = CU_AD_FORMAT_FLOAT, .channels = 1, .dims = 2, .linear = linear,
        .address = { CU_TR_ADDRESS_MODE_CLAMP, CU_TR_ADDRESS_MODE_CLAMP, CU_TR_ADDRESS_MODE_CLAMP },
    };
    double t0 = cpu_seconds();
    for (long y = 0; y < h; y++)
        for (long x = 0; x < w; x++) {
            float sum = 0;
            for (int k = -8; k <= 8; k++)
                sum += gpupool_emu_tex1f(&v, (float)x + 0.5f + offset + (float)k, (float)y + 0.5f, 0);
            out[y * w + x] = sum;
        }
    double t = cpu_seconds() - t0;
    volatile float sink = out[w * h / 2];
    (void)sink;
    free(image);
    free(out);
    return t / (double)(w * h * 17) * 1e9;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 2048;
    if (argc > 2)
        g_side = strtol(argv[2], NULL, 10);
    if (n == 0 || g_side <= 0)
        return 2;
    double tf32 = gemm_rate(TF32, n), bf16 = gemm_rate(BF16, n), half = gemm_rate(HALF, n), f64 = gemm_rate(F64, n), u8 = gemm_rate(U8, n);
    printf("{\"gemmSize\": %zu, \"textureSide\": %ld, \"gflopsPerCpuSecond\": {\"tf32\": %.1f, \"bf16\": %.1f, \"half\": %.1f, \"f64\": %.1f, "
           "\"u8\": %.1f}, \"gemmWorstRelativeError\": %.3g, \"nsPerFetch\": {\"point\": %.2f, \"linearAtCentres\": %.2f, "
           "\"linearBetween\": %.2f}}\n",
           n, g_side, tf32, bf16, half, f64, u8, g_worst, fetch_ns(0, 0.0f), fetch_ns(1, 0.0f), fetch_ns(1, 0.25f));
    /* A product off by more than float accumulation allows is a broken kernel, not a slow one. */
    return g_worst < 1e-4 ? 0 : 1;
}
