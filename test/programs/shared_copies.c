/*
 * Copies through the local transport's shared memory (issue 13): from and to pinned memory
 * (cuMemAllocHost, cuMemHostAlloc) and pageable memory (malloc), synchronous, asynchronous and
 * unified (cuMemcpy with host pointers), at unaligned host and device offsets, every byte checked
 * both ways. Asynchronous copies on one stream must keep their order: a later copy to the same
 * device memory wins, a device-to-host copy sees what the copies before it wrote, and a pageable
 * source may be overwritten as soon as its copy returned (CUDA's staging rule).
 *
 *   shared_copies pinned|pageable BYTES [BYTES...]
 *
 * Prints PASS.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <string.h>

#include "cuda_check.h"

static unsigned char pattern(size_t i, unsigned salt) { return (unsigned char)((i * 131u) ^ (i >> 13) ^ (salt * 29u) ^ 0x5a); }

static void fill(unsigned char *buf, size_t n, unsigned salt)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern(i, salt);
}

static void check(const unsigned char *buf, size_t n, unsigned salt, const char *what, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != pattern(i, salt)) {
            fprintf(stderr, "FAIL %s (%zu bytes): byte %zu is %u, not %u\n", what, size, i, buf[i], pattern(i, salt));
            exit(1);
        }
    }
}

static int g_pinned;

static unsigned char *host_alloc(size_t n, int which)
{
    void *p = NULL;
    if (!g_pinned)
        p = malloc(n);
    else if (which % 2 == 0)
        CHECK(cuMemAllocHost(&p, n));
    else
        CHECK(cuMemHostAlloc(&p, n, CU_MEMHOSTALLOC_PORTABLE));
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

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    g_pinned = strcmp(argv[1], "pinned") == 0;
    open_device();
    CUstream stream;
    CHECK(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
    for (int a = 2; a < argc; a++) {
        size_t n = (size_t)strtoull(argv[a], NULL, 10);
        /* Host side 3 bytes in, device side 5 bytes in: neither end aligned. */
        const size_t hoff = 3, doff = 5;
        unsigned char *src = host_alloc(n + hoff, a), *dst = host_alloc(n + hoff, a + 1);
        CUdeviceptr dev;
        CHECK(cuMemAlloc(&dev, n + doff));
        unsigned salt = (unsigned)a * 8;

        /* synchronous */
        fill(src + hoff, n, salt);
        CHECK(cuMemcpyHtoD(dev + doff, src + hoff, n));
        memset(dst, 0, n + hoff);
        CHECK(cuMemcpyDtoH(dst + hoff, dev + doff, n));
        check(dst + hoff, n, salt, "synchronous", n);

        /* unified addresses, as cudart's cudaMemcpy(Default) and PyTorch use them */
        fill(src + hoff, n, salt + 1);
        CHECK(cuMemcpy(dev + doff, (CUdeviceptr)(uintptr_t)(src + hoff), n));
        memset(dst, 0, n + hoff);
        CHECK(cuMemcpy((CUdeviceptr)(uintptr_t)(dst + hoff), dev + doff, n));
        check(dst + hoff, n, salt + 1, "unified", n);

        /* asynchronous, in stream order: the second copy to dev wins; the copy back sees it */
        fill(src + hoff, n, salt + 2);
        CHECK(cuMemcpyHtoDAsync(dev + doff, src + hoff, n, stream));
        unsigned char *second = host_alloc(n + hoff, a);
        if (!g_pinned) /* pageable: the source was taken when the call returned */
            memset(src, 0xee, n + hoff);
        fill(second + hoff, n, salt + 3);
        CHECK(cuMemcpyAsync(dev + doff, (CUdeviceptr)(uintptr_t)(second + hoff), n, stream));
        memset(dst, 0, n + hoff);
        CHECK(cuMemcpyDtoHAsync(dst + hoff, dev + doff, n, stream));
        CHECK(cuStreamSynchronize(stream));
        check(dst + hoff, n, salt + 3, "asynchronous", n);
        host_free(second);

        CHECK(cuMemFree(dev));
        host_free(src);
        host_free(dst);
    }
    CHECK(cuStreamDestroy(stream));
    CHECK(cuDevicePrimaryCtxRelease(0));
    printf("PASS\n");
    return 0;
}
