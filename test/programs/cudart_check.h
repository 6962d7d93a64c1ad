/* What the runtime-API test programs share: a cudart call that must succeed, else the program names it and exits. */
#ifndef GPUPOOL_CUDART_CHECK_H
#define GPUPOOL_CUDART_CHECK_H

#include <cstdio>
#include <cstdlib>

#include <cuda_runtime.h>

#define CHECK(call)                                                                                              \
    do {                                                                                                         \
        cudaError_t e_ = (call);                                                                                 \
        if (e_ != cudaSuccess) {                                                                                 \
            fprintf(stderr, "FAIL %s:%d %s -> %s (%d)\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_), e_); \
            exit(1);                                                                                             \
        }                                                                                                        \
    } while (0)

#endif
