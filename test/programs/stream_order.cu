// Stream order across devices (simpleMultiGPU's pattern): per device, an async host-to-device copy, a
// kernel and an async device-to-host copy, all on the device's stream, issued device after device
// before any is waited for. Every round's bytes are checked: a kernel that ran before the copy in
// front of it on its stream had landed leaves the copied input unscaled.
// Usage: stream_order [rounds [floats per device [pinned]]]
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cudart_check.h"

__global__ void scale(float *p, float s, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] *= s;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 50;
    int count = 0;
    CHECK(cudaGetDeviceCount(&count));
    const int n = argc > 2 ? atoi(argv[2]) : 1 << 16;
    const bool pinned = argc > 3 && atoi(argv[3]) != 0;
    std::vector<float *> dev(count), in(count), out(count);
    std::vector<cudaStream_t> streams(count);
    for (int d = 0; d < count; d++) {
        CHECK(cudaSetDevice(d));
        CHECK(cudaStreamCreate(&streams[d]));
        // Stream-ordered allocations: each daemon hands out the same addresses.
        CHECK(cudaMallocAsync(&dev[d], n * sizeof(float), streams[d]));
        CHECK(cudaStreamSynchronize(streams[d]));
        if (pinned) {
            CHECK(cudaMallocHost(&in[d], n * sizeof(float)));
            CHECK(cudaMallocHost(&out[d], n * sizeof(float)));
        } else {
            in[d] = (float *)malloc(n * sizeof(float));
            out[d] = (float *)malloc(n * sizeof(float));
        }
    }
    int bad_rounds = 0;
    for (int round = 0; round < rounds; round++) {
        for (int d = 0; d < count; d++) {
            for (int i = 0; i < n; i++)
                in[d][i] = (float)(round * 7 + d * 3 + i % 1000);
            // A copy goes to its stream's device whichever device is current (CUDA programming guide,
            // "Stream and Event Behavior"); a kernel needs its stream's device current.
            CHECK(cudaSetDevice(0));
            CHECK(cudaMemcpyAsync(dev[d], in[d], n * sizeof(float), cudaMemcpyHostToDevice, streams[d]));
            CHECK(cudaSetDevice(d));
            scale<<<(n + 255) / 256, 256, 0, streams[d]>>>(dev[d], 2.0f, n);
            CHECK(cudaGetLastError());
            CHECK(cudaSetDevice(0));
            CHECK(cudaMemcpyAsync(out[d], dev[d], n * sizeof(float), cudaMemcpyDeviceToHost, streams[d]));
        }
        for (int d = 0; d < count; d++) {
            CHECK(cudaSetDevice(d));
            CHECK(cudaStreamSynchronize(streams[d]));
            int bad = 0;
            for (int i = 0; i < n; i++)
                bad += out[d][i] != in[d][i] * 2.0f;
            if (bad > 0) {
                bad_rounds++;
                printf("round %d device %d: %d of %d wrong (first: %g, want %g)\n", round, d, bad, n, out[d][0], in[d][0] * 2.0f);
            }
        }
    }
    printf("%d devices, %d rounds, %d wrong\n", count, rounds, bad_rounds);
    printf(bad_rounds == 0 ? "PASS\n" : "FAIL\n");
    return bad_rounds == 0 ? 0 : 1;
}
