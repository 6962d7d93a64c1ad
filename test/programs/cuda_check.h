/*
 * What the C test programs and the benchmarks share: a driver call that must succeed (else the
 * program says which, with CUDA's own error name, and exits), and reading a kernel image from a file.
 * CHECK_PREFIX and CHECK_EXIT may be defined before including this to suit the program.
 */
#ifndef GPUPOOL_CUDA_CHECK_H
#define GPUPOOL_CUDA_CHECK_H

#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef CHECK_PREFIX
#define CHECK_PREFIX "FAIL"
#endif
#ifndef CHECK_EXIT
#define CHECK_EXIT 1
#endif

#define CHECK(call)                                                                                          \
    do {                                                                                                     \
        CUresult rc_ = (call);                                                                               \
        if (rc_ != CUDA_SUCCESS) {                                                                           \
            const char *name_ = NULL;                                                                        \
            cuGetErrorName(rc_, &name_);                                                                     \
            fprintf(stderr, CHECK_PREFIX " %s:%d %s -> %s\n", __FILE__, __LINE__, #call, name_ ? name_ : "?"); \
            exit(CHECK_EXIT);                                                                                \
        }                                                                                                    \
    } while (0)

/* cuInit, the primary context of device 0 made current. */
static inline CUcontext open_device(void)
{
    CUdevice dev;
    CUcontext ctx;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    return ctx;
}

/* The whole file, NUL-terminated (PTX is text); *size (if wanted) is its length. Exits if unreadable. */
static inline void *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "%s: cannot read\n", path);
        exit(2);
    }
    fclose(f);
    buf[n] = '\0';
    if (size)
        *size = (size_t)n;
    return buf;
}

#endif
