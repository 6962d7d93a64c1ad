// Device printf through gpupool (issue 11): what a kernel prints reaches the job's own stdout, in
// order among the program's printf output, at each synchronisation that flushes a GPU's printf FIFO
// (cudaDeviceSynchronize, cudaStreamSynchronize, cudaEventSynchronize, a blocking cudaMemcpy, the
// context's destruction by cudaDeviceReset).
// Its kernel is one of the emulator's test kernels (native/fakes/cuda/kernels); the
// test (test/compute/cuda-surface.test.ts) checks where each line landed.
#include <cstdio>

#include "cudart_check.h"
// greet, as the emulator's CPU version implements it.
#include "../../native/fakes/cuda/kernels/test_kernels.cu"

int main()
{
    cudaStream_t stream;
    cudaEvent_t event;
    int *device, host = 0;
    CHECK(cudaStreamCreate(&stream));
    CHECK(cudaEventCreate(&event));
    CHECK(cudaMalloc(&device, sizeof host));

    greet<<<2, 2>>>(1);
    CHECK(cudaGetLastError());
    printf("host: before cudaDeviceSynchronize\n");
    CHECK(cudaDeviceSynchronize());
    printf("host: after cudaDeviceSynchronize\n");

    greet<<<1, 3, 0, stream>>>(2);
    CHECK(cudaStreamSynchronize(stream));
    printf("host: after cudaStreamSynchronize\n");

    greet<<<1, 2, 0, stream>>>(3);
    CHECK(cudaEventRecord(event, stream));
    CHECK(cudaEventSynchronize(event));
    printf("host: after cudaEventSynchronize\n");

    greet<<<1, 1>>>(4);
    CHECK(cudaMemcpy(&host, device, sizeof host, cudaMemcpyDeviceToHost));
    printf("host: after cudaMemcpy\n");

    CHECK(cudaFree(device));
    CHECK(cudaEventDestroy(event));
    CHECK(cudaStreamDestroy(stream));
    greet<<<1, 2>>>(5);
    CHECK(cudaGetLastError());
    CHECK(cudaDeviceReset());
    printf("host: after cudaDeviceReset\n");
    printf("PASS\n");
    return 0;
}
