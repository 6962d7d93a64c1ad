/*
 * Copies of the sizes given, in bytes, around the thresholds of the socket path (a frame's 7-, 16- and
 * 64-bit lengths, the readers' 64 KiB buffers and 256 KiB reads, the 16 MiB slice), from host
 * addresses 1 and 3 bytes off alignment to device addresses 5 bytes off: each way synchronously and
 * asynchronously, every byte checked. Then a burst of small asynchronous copies that share one
 * message (each frame masked from where the one before it ended), read back whole; then the same
 * copies back in a burst with a large one after them.
 *
 *   wire_copies BYTES [BYTES...]
 *
 * Prints one line per size ("1048577 ok") and PASS.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <string.h>

#include "cuda_check.h"

static unsigned char pattern(size_t i, unsigned salt) { return (unsigned char)((i * 167u) ^ (i >> 9) ^ (salt * 29u)); }

static void fill(unsigned char *buf, size_t n, unsigned salt)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern(i, salt);
}

/* buf against the pattern, rebuilt in `expect` (n bytes of scratch). */
static void check(const unsigned char *buf, unsigned char *expect, size_t n, unsigned salt, const char *what)
{
    fill(expect, n, salt);
    if (memcmp(buf, expect, n) == 0)
        return;
    size_t i = 0;
    while (buf[i] == expect[i])
        i++;
    fprintf(stderr, "FAIL %s of %zu bytes: byte %zu is %u, not %u\n", what, n, i, buf[i], expect[i]);
    exit(1);
}

int main(int argc, char **argv)
{
    CUstream stream;
    open_device();
    CHECK(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
    for (int a = 1; a < argc; a++) {
        size_t n = (size_t)strtoull(argv[a], NULL, 10);
        size_t off = a % 2 ? 1 : 3;
        unsigned char *block = malloc(n + 8), *host = block + off, *expect = malloc(n);
        CUdeviceptr base, dptr;
        if (block == NULL || expect == NULL)
            return 2;
        CHECK(cuMemAlloc(&base, n + 16));
        dptr = base + 5;
        for (unsigned async = 0; async < 2; async++) {
            unsigned salt = (unsigned)a * 2 + async;
            fill(host, n, salt);
            if (async) {
                CHECK(cuMemcpyHtoDAsync(dptr, host, n, stream));
                CHECK(cuStreamSynchronize(stream));
            } else {
                CHECK(cuMemcpyHtoD(dptr, host, n));
            }
            memset(host, 0, n);
            if (async) {
                CHECK(cuMemcpyDtoHAsync(host, dptr, n, stream));
                CHECK(cuStreamSynchronize(stream));
            } else {
                CHECK(cuMemcpyDtoH(host, dptr, n));
            }
            check(host, expect, n, salt, async ? "async copy" : "copy");
        }
        printf("%zu ok\n", n);
        CHECK(cuMemFree(base));
        free(block);
        free(expect);
    }
    /* 300 copies of 1 to 300 bytes, back to back, then the whole read back in one copy. */
    size_t total = 300 * 301 / 2;
    unsigned char *host = malloc(total), *back = malloc(total), *expect = malloc(total);
    CUdeviceptr dptr;
    if (host == NULL || back == NULL || expect == NULL)
        return 2;
    CHECK(cuMemAlloc(&dptr, total));
    fill(host, total, 7);
    for (size_t k = 1, at = 0; k <= 300; at += k, k++)
        CHECK(cuMemcpyHtoDAsync(dptr + at, host + at, k, stream));
    CHECK(cuStreamSynchronize(stream));
    CHECK(cuMemcpyDtoH(back, dptr, total));
    check(back, expect, total, 7, "burst of small copies");
    printf("burst ok\n");
    /* The same small copies back, and a large one after them, queued together: the large reply ends a
     * message that holds the small ones' replies before it (the client reads it straight into place). */
    size_t large = ((size_t)1 << 20) + 3;
    unsigned char *big = malloc(large), *big_expect = malloc(large);
    CUdeviceptr big_dptr;
    if (big == NULL || big_expect == NULL)
        return 2;
    CHECK(cuMemAlloc(&big_dptr, large));
    fill(big, large, 11);
    CHECK(cuMemcpyHtoD(big_dptr, big, large));
    memset(back, 0, total);
    memset(big, 0, large);
    for (size_t k = 1, at = 0; k <= 300; at += k, k++)
        CHECK(cuMemcpyDtoHAsync(back + at, dptr + at, k, stream));
    CHECK(cuMemcpyDtoHAsync(big, big_dptr, large, stream));
    CHECK(cuStreamSynchronize(stream));
    check(back, expect, total, 7, "burst of small copies back");
    check(big, big_expect, large, 11, "large copy after a burst");
    printf("burst back ok\n");
    CHECK(cuMemFree(big_dptr));
    CHECK(cuMemFree(dptr));
    free(big), free(big_expect), free(host), free(back), free(expect);
    puts("PASS");
    return 0;
}
