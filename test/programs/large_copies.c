/*
 * Copies larger than a message may be (issue 12, item 9): for each size in MiB, a host-to-device and
 * a device-to-host copy of the whole buffer, synchronous and asynchronous (a size ending in `s`: only
 * synchronous, in `a`: only asynchronous), every byte checked. One host buffer serves both ways (its
 * pattern is recomputed, not kept), so the program holds the size once on the host.
 *
 *   large_copies MIB[s|a] [MIB[s|a]...]
 *
 * Prints one line per copy ("htod 1024 MiB 812 ms") and PASS.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cuda_check.h"

static unsigned char pattern(size_t i, unsigned salt) { return (unsigned char)((i * 131u) ^ (i >> 20) ^ salt); }

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void fill(unsigned char *buf, size_t n, unsigned salt)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern(i, salt);
}

static void check(const unsigned char *buf, size_t n, unsigned salt, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != pattern(i, salt)) {
            fprintf(stderr, "FAIL %s: byte %zu is %u, not %u\n", what, i, buf[i], pattern(i, salt));
            exit(1);
        }
    }
}

int main(int argc, char **argv)
{
    CUstream stream;
    open_device();
    CHECK(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
    for (int a = 1; a < argc; a++) {
        char *mode = NULL;
        size_t n = (size_t)strtoull(argv[a], &mode, 10) << 20;
        unsigned char *host = malloc(n);
        CUdeviceptr dptr;
        if (host == NULL)
            return 2;
        CHECK(cuMemAlloc(&dptr, n));
        for (unsigned async = 0; async < 2; async++) {
            if ((*mode == 's' && async) || (*mode == 'a' && !async))
                continue;
            unsigned salt = (unsigned)a * 2 + async;
            fill(host, n, salt);
            double t0 = now_ms();
            if (async) {
                CHECK(cuMemcpyHtoDAsync(dptr, host, n, stream));
                CHECK(cuStreamSynchronize(stream));
            } else {
                CHECK(cuMemcpyHtoD(dptr, host, n));
            }
            double t1 = now_ms();
            memset(host, 0, n);
            double t2 = now_ms();
            if (async) {
                CHECK(cuMemcpyDtoHAsync(host, dptr, n, stream));
                CHECK(cuStreamSynchronize(stream));
            } else {
                CHECK(cuMemcpyDtoH(host, dptr, n));
            }
            double t3 = now_ms();
            check(host, n, salt, async ? "async device-to-host" : "device-to-host");
            printf("htod%s %zu MiB %.0f ms\n", async ? "-async" : "", n >> 20, t1 - t0);
            printf("dtoh%s %zu MiB %.0f ms\n", async ? "-async" : "", n >> 20, t3 - t2);
        }
        CHECK(cuMemFree(dptr));
        free(host);
    }
    CHECK(cuDevicePrimaryCtxRelease(0));
    printf("PASS\n");
    return 0;
}
