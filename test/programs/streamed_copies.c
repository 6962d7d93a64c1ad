/*
 * What cuda-samples' simpleStreams does in its streamed phase (issue 12, item 0): COPIES asynchronous
 * device-to-host copies of MIB MiB each, round robin on 4 streams, into cuMemHostRegister'ed memory,
 * one synchronize at the end; then every byte is checked.
 *
 *   streamed_copies [COPIES [MIB]]     (default 400 copies of 16 MiB)
 *
 * Prints PASS and the bytes copied.
 */
#include <stdint.h>
#include <string.h>

#include "cuda_check.h"

#define STREAMS 4

int main(int argc, char **argv)
{
    int copies = argc > 1 ? atoi(argv[1]) : 400;
    size_t bytes = (size_t)(argc > 2 ? atoi(argv[2]) : 16) << 20;
    open_device();
    CUdeviceptr src[STREAMS];
    CUstream streams[STREAMS];
    unsigned char *host = malloc(bytes * STREAMS);
    if (host == NULL)
        return 2;
    CHECK(cuMemHostRegister(host, bytes * STREAMS, CU_MEMHOSTREGISTER_PORTABLE));
    for (int s = 0; s < STREAMS; s++) {
        CHECK(cuMemAlloc(&src[s], bytes));
        CHECK(cuMemsetD8(src[s], (unsigned char)(0x11 * (s + 1)), bytes));
        CHECK(cuStreamCreate(&streams[s], CU_STREAM_NON_BLOCKING));
    }
    memset(host, 0, bytes * STREAMS);
    for (int i = 0; i < copies; i++)
        CHECK(cuMemcpyDtoHAsync(host + (size_t)(i % STREAMS) * bytes, src[i % STREAMS], bytes, streams[i % STREAMS]));
    CHECK(cuCtxSynchronize());
    for (int s = 0; s < STREAMS && s < copies; s++) {
        for (size_t b = 0; b < bytes; b++) {
            if (host[(size_t)s * bytes + b] != (unsigned char)(0x11 * (s + 1))) {
                fprintf(stderr, "FAIL stream %d byte %zu is %u\n", s, b, host[(size_t)s * bytes + b]);
                return 1;
            }
        }
    }
    CHECK(cuMemHostUnregister(host));
    printf("PASS %llu bytes\n", (unsigned long long)bytes * (unsigned long long)copies);
    return 0;
}
