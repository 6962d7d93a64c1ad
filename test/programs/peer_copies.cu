// Peer copies between two devices with no peer path (one card on each of two daemons), as
// p2pBandwidthLatencyTest makes them: peer access is refused as a driver refuses it for such cards,
// and cudaMemcpyPeerAsync keeps its stream's order (a kernel queued before it on the stream has run
// when the copy reads). Every byte that arrives is checked.
// Usage: peer_copies [rounds [floats]]
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cudart_check.h"

__global__ void scale(float *p, float s, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] *= s;
}

static int expect_error(cudaError_t got, cudaError_t want, const char *what)
{
    cudaGetLastError(); // the runtime keeps the last error: the next check must not see this one
    if (got == want)
        return 0;
    printf("%s: %s (%d), want %s (%d)\n", what, cudaGetErrorString(got), got, cudaGetErrorString(want), want);
    return 1;
}

int main(int argc, char **argv)
{
    const int rounds = argc > 1 ? atoi(argv[1]) : 4;
    const int n = argc > 2 ? atoi(argv[2]) : (1 << 18) + 3;
    const size_t bytes = (size_t)n * sizeof(float);
    int count = 0;
    CHECK(cudaGetDeviceCount(&count));
    if (count != 2) {
        printf("want 2 devices, have %d\n", count);
        return 1;
    }
    int wrong = 0;
    for (int d = 0; d < 2; d++) {
        int can = -1;
        CHECK(cudaDeviceCanAccessPeer(&can, d, 1 - d));
        if (can != 0) {
            printf("cudaDeviceCanAccessPeer(%d, %d) = %d, want 0\n", d, 1 - d, can);
            wrong++;
        }
        CHECK(cudaSetDevice(d));
        wrong += expect_error(cudaDeviceEnablePeerAccess(1 - d, 0), cudaErrorPeerAccessUnsupported, "cudaDeviceEnablePeerAccess");
        wrong += expect_error(cudaDeviceDisablePeerAccess(1 - d), cudaErrorPeerAccessNotEnabled, "cudaDeviceDisablePeerAccess");
    }

    float *buf[2], *in, *out;
    cudaStream_t stream[2];
    for (int d = 0; d < 2; d++) {
        CHECK(cudaSetDevice(d));
        CHECK(cudaStreamCreateWithFlags(&stream[d], cudaStreamNonBlocking));
        CHECK(cudaMalloc(&buf[d], bytes));
    }
    CHECK(cudaHostAlloc(&in, bytes, cudaHostAllocPortable));
    CHECK(cudaHostAlloc(&out, bytes, cudaHostAllocPortable));
    const int blocks = (n + 255) / 256;
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < n; i++)
            in[i] = (float)(round * 5 + i % 4099);
        // Device 0's stream: doubled, then to device 1, nothing waited for in between (the input goes in
        // before: what is checked is the peer copy's place after the kernel).
        CHECK(cudaSetDevice(0));
        CHECK(cudaMemcpy(buf[0], in, bytes, cudaMemcpyHostToDevice));
        scale<<<blocks, 256, 0, stream[0]>>>(buf[0], 2.0f, n);
        CHECK(cudaGetLastError());
        CHECK(cudaMemcpyPeerAsync(buf[1], 1, buf[0], 0, bytes, stream[0]));
        CHECK(cudaStreamSynchronize(stream[0]));
        // Device 1's stream: tripled, back to device 0 (overwriting the doubled input), then out.
        CHECK(cudaSetDevice(1));
        scale<<<blocks, 256, 0, stream[1]>>>(buf[1], 3.0f, n);
        CHECK(cudaGetLastError());
        CHECK(cudaMemcpyPeerAsync(buf[0], 0, buf[1], 1, bytes, stream[1]));
        CHECK(cudaStreamSynchronize(stream[1]));
        CHECK(cudaSetDevice(0));
        memset(out, 0xab, bytes);
        CHECK(cudaMemcpyAsync(out, buf[0], bytes, cudaMemcpyDeviceToHost, stream[0]));
        CHECK(cudaStreamSynchronize(stream[0]));
        int bad = 0;
        for (int i = 0; i < n; i++)
            bad += out[i] != in[i] * 6.0f;
        if (bad > 0) {
            wrong++;
            printf("round %d: %d of %d wrong (first: %g, want %g)\n", round, bad, n, out[0], in[0] * 6.0f);
        }
    }
    printf("%d rounds of %d floats, %d wrong\n", rounds, n, wrong);
    return wrong == 0 ? 0 : 1;
}
