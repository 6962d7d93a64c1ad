/*
 * 2D and 3D copies through the local transport's shared memory (issue 13): cuMemcpy2D,
 * cuMemcpy2DAsync, cuMemcpy3D and cuMemcpy3DAsync between pitched host boxes (pinned: cuMemAllocHost;
 * or pageable: malloc) and pitched device memory or a CUDA array, host and device boxes at offsets
 * inside larger pitched buffers, every byte of the box checked and every byte around it (the host
 * rows' gaps, the planes' spare rows) checked untouched.
 *
 *   shared_box_copies pinned|pageable WIDTH HEIGHT DEPTH
 *
 * Prints one line per kind of copy, then PASS.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <string.h>

#include "cuda_check.h"

static unsigned char pattern(size_t i, unsigned salt) { return (unsigned char)((i * 131u) ^ (i >> 11) ^ (salt * 29u) ^ 0x5a); }

static int g_pinned;

static unsigned char *host_alloc(size_t n)
{
    void *p = NULL;
    if (g_pinned)
        CHECK(cuMemAllocHost(&p, n));
    else
        p = malloc(n);
    if (p == NULL)
        exit(2);
    return p;
}

static void host_free(void *p)
{
    if (g_pinned)
        CHECK(cuMemFreeHost(p));
    else
        free(p);
}

/* A host box inside a buffer: rows `pitch` apart, planes `rows` rows apart, the box at (x, y, z). */
typedef struct {
    unsigned char *buf;
    size_t bytes, pitch, rows, x, y, z;
} host_box;

static host_box box_alloc(size_t w, size_t h, size_t d)
{
    host_box b = { .pitch = w + 37, .rows = h + 3, .x = 5, .y = 1, .z = 1 };
    b.bytes = b.pitch * b.rows * (d + 2);
    b.buf = host_alloc(b.bytes);
    return b;
}

static size_t at(const host_box *b, size_t x, size_t y, size_t z) { return ((b->z + z) * b->rows + b->y + y) * b->pitch + b->x + x; }

/* The box filled with the pattern, everything around it with `around`. */
static void box_fill(host_box *b, size_t w, size_t h, size_t d, unsigned salt, unsigned char around)
{
    memset(b->buf, around, b->bytes);
    for (size_t z = 0; z < d; z++)
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++)
                b->buf[at(b, x, y, z)] = pattern((z * h + y) * w + x, salt);
}

/* The box holds the pattern and every other byte is still `around` (the box is then overwritten with it). */
static void box_check(host_box *b, size_t w, size_t h, size_t d, unsigned salt, unsigned char around, const char *what)
{
    for (size_t z = 0; z < d; z++)
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++) {
                unsigned char want = pattern((z * h + y) * w + x, salt), got = b->buf[at(b, x, y, z)];
                if (got != want) {
                    fprintf(stderr, "FAIL %s: byte (%zu, %zu, %zu) is %u, not %u\n", what, x, y, z, got, want);
                    exit(1);
                }
                b->buf[at(b, x, y, z)] = around;
            }
    for (size_t i = 0; i < b->bytes; i++) {
        if (b->buf[i] != around) {
            fprintf(stderr, "FAIL %s: byte %zu outside the box was written\n", what, i);
            exit(1);
        }
    }
}

static CUDA_MEMCPY3D to_device(const host_box *h, CUdeviceptr dev, size_t dpitch, size_t dheight, size_t w, size_t hh, size_t d)
{
    CUDA_MEMCPY3D m = { .srcMemoryType = CU_MEMORYTYPE_HOST, .srcHost = h->buf, .srcXInBytes = h->x, .srcY = h->y, .srcZ = h->z,
                        .srcPitch = h->pitch, .srcHeight = h->rows, .dstMemoryType = CU_MEMORYTYPE_DEVICE, .dstDevice = dev,
                        .dstXInBytes = 3, .dstY = 2, .dstZ = 1, .dstPitch = dpitch, .dstHeight = dheight,
                        .WidthInBytes = w, .Height = hh, .Depth = d };
    return m;
}

static CUDA_MEMCPY3D to_host(const host_box *h, CUdeviceptr dev, size_t dpitch, size_t dheight, size_t w, size_t hh, size_t d)
{
    CUDA_MEMCPY3D m = { .dstMemoryType = CU_MEMORYTYPE_HOST, .dstHost = h->buf, .dstXInBytes = h->x, .dstY = h->y, .dstZ = h->z,
                        .dstPitch = h->pitch, .dstHeight = h->rows, .srcMemoryType = CU_MEMORYTYPE_DEVICE, .srcDevice = dev,
                        .srcXInBytes = 3, .srcY = 2, .srcZ = 1, .srcPitch = dpitch, .srcHeight = dheight,
                        .WidthInBytes = w, .Height = hh, .Depth = d };
    return m;
}

static CUDA_MEMCPY2D plane_of(const CUDA_MEMCPY3D *m)
{
    CUDA_MEMCPY2D p = { .srcXInBytes = m->srcXInBytes, .srcY = m->srcY, .srcMemoryType = m->srcMemoryType, .srcHost = m->srcHost,
                        .srcDevice = m->srcDevice, .srcArray = m->srcArray, .srcPitch = m->srcPitch,
                        .dstXInBytes = m->dstXInBytes, .dstY = m->dstY, .dstMemoryType = m->dstMemoryType, .dstHost = m->dstHost,
                        .dstDevice = m->dstDevice, .dstArray = m->dstArray, .dstPitch = m->dstPitch,
                        .WidthInBytes = m->WidthInBytes, .Height = m->Height };
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    g_pinned = strcmp(argv[1], "pinned") == 0;
    size_t w = strtoull(argv[2], NULL, 10), h = strtoull(argv[3], NULL, 10), d = strtoull(argv[4], NULL, 10);
    open_device();
    CUstream stream;
    CHECK(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
    /* Device memory: pitched, the box 3 bytes, 2 rows and 1 plane in. */
    size_t dpitch = w + 3 + 11, dheight = h + 2 + 1;
    CUdeviceptr dev;
    CHECK(cuMemAlloc(&dev, dpitch * dheight * (d + 1)));
    host_box src = box_alloc(w, h, d), dst = box_alloc(w, h, d);

    /* 3D, synchronous and asynchronous */
    box_fill(&src, w, h, d, 1, 0x11);
    CUDA_MEMCPY3D up = to_device(&src, dev, dpitch, dheight, w, h, d), down = to_host(&dst, dev, dpitch, dheight, w, h, d);
    CHECK(cuMemcpy3D(&up));
    box_fill(&dst, 0, 0, 0, 0, 0x22);
    CHECK(cuMemcpy3D(&down));
    box_check(&dst, w, h, d, 1, 0x22, "cuMemcpy3D");
    printf("3D ok\n");

    box_fill(&src, w, h, d, 2, 0x33);
    CHECK(cuMemcpy3DAsync(&up, stream));
    if (!g_pinned) /* pageable: the source was taken when the call returned */
        memset(src.buf, 0xee, src.bytes);
    box_fill(&dst, 0, 0, 0, 0, 0x44);
    CHECK(cuMemcpy3DAsync(&down, stream));
    CHECK(cuStreamSynchronize(stream));
    box_check(&dst, w, h, d, 2, 0x44, "cuMemcpy3DAsync");
    printf("3D async ok\n");

    /* 2D: the first plane, synchronous and asynchronous */
    CUDA_MEMCPY2D up2 = plane_of(&up), down2 = plane_of(&down);
    up2.srcY = up.srcZ * src.rows + up.srcY; /* a 2D copy has no z: the plane's rows */
    down2.dstY = down.dstZ * dst.rows + down.dstY;
    up2.dstY = up.dstZ * dheight + up.dstY;
    down2.srcY = down.srcZ * dheight + down.srcY;
    box_fill(&src, w, h, 1, 3, 0x55);
    CHECK(cuMemcpy2D(&up2));
    box_fill(&dst, 0, 0, 0, 0, 0x66);
    CHECK(cuMemcpy2D(&down2));
    box_check(&dst, w, h, 1, 3, 0x66, "cuMemcpy2D");
    box_fill(&src, w, h, 1, 4, 0x77);
    CHECK(cuMemcpy2DAsync(&up2, stream));
    box_fill(&dst, 0, 0, 0, 0, 0x78);
    CHECK(cuMemcpy2DAsync(&down2, stream));
    CHECK(cuStreamSynchronize(stream));
    box_check(&dst, w, h, 1, 4, 0x78, "cuMemcpy2DAsync");
    printf("2D ok\n");

    /* A CUDA array (one byte per element) as the device side: a 2D copy that names it, and a 3D one */
    CUDA_ARRAY3D_DESCRIPTOR desc = { .Width = w + 2, .Height = h + 1, .Depth = d, .Format = CU_AD_FORMAT_UNSIGNED_INT8, .NumChannels = 1 };
    CUarray array;
    CHECK(cuArray3DCreate(&array, &desc));
    CUDA_MEMCPY3D aup = up, adown = down;
    aup.dstMemoryType = CU_MEMORYTYPE_ARRAY, aup.dstArray = array, aup.dstDevice = 0, aup.dstXInBytes = 2, aup.dstY = 1, aup.dstZ = 0;
    adown.srcMemoryType = CU_MEMORYTYPE_ARRAY, adown.srcArray = array, adown.srcDevice = 0, adown.srcXInBytes = 2, adown.srcY = 1, adown.srcZ = 0;
    aup.dstPitch = aup.dstHeight = adown.srcPitch = adown.srcHeight = 0;
    box_fill(&src, w, h, d, 5, 0x99);
    CHECK(cuMemcpy3D(&aup));
    box_fill(&dst, 0, 0, 0, 0, 0x9a);
    CHECK(cuMemcpy3D(&adown));
    box_check(&dst, w, h, d, 5, 0x9a, "cuMemcpy3D with an array");
    CUDA_MEMCPY2D aup2 = plane_of(&aup), adown2 = plane_of(&adown);
    aup2.srcY = up2.srcY, adown2.dstY = down2.dstY;
    box_fill(&src, w, h, 1, 6, 0xab);
    CHECK(cuMemcpy2D(&aup2));
    box_fill(&dst, 0, 0, 0, 0, 0xac);
    CHECK(cuMemcpy2D(&adown2));
    box_check(&dst, w, h, 1, 6, 0xac, "cuMemcpy2D with an array");
    printf("array ok\n");
    CHECK(cuArrayDestroy(array));

    host_free(src.buf);
    host_free(dst.buf);
    CHECK(cuMemFree(dev));
    CHECK(cuStreamDestroy(stream));
    CHECK(cuDevicePrimaryCtxRelease(0));
    printf("PASS\n");
    return 0;
}
