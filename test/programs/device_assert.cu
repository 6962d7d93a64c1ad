// A device-side assert through gpupool (issue 11, simpleAssert): the launch fails with
// cudaErrorAssert at the next synchronisation, the assert's message reaches the job's stdout as a
// GPU prints it, and the context is unusable afterwards. Its kernel has the name and parameters of
// the emulator's test kernel greet(int) (device_printf.cu): the emulator tells the two apart by the
// __assertfail this image calls (test/compute/cuda-surface.test.ts checks the output).
#include <cassert>
#include <cstdio>

#include "expect.h"

#include <cuda_runtime.h>

// The message's file and line are this assert's: the CPU version prints the same.
__global__ void greet(int round)
{
    assert(threadIdx.x < (unsigned)round);
}

int main()
{
    greet<<<2, 3>>>(3);
    expect(cudaDeviceSynchronize() == cudaSuccess, "a launch whose asserts hold succeeds");

    greet<<<2, 3>>>(2);
    printf("host: before cudaDeviceSynchronize\n");
    fflush(stdout);
    cudaError_t e = cudaDeviceSynchronize();
    printf("host: after cudaDeviceSynchronize\n");
    expect(e == cudaErrorAssert, "a failed assert is cudaErrorAssert at the synchronisation");
    void *p = NULL;
    expect(cudaMalloc(&p, 16) == cudaErrorAssert, "the context is unusable afterwards");
    if (failures == 0)
        printf("PASS\n");
    return failures == 0 ? 0 : 1;
}
