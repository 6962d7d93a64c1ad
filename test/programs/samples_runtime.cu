// The runtime-API surface NVIDIA's cuda-samples use that gpupool once lacked (issue 11), built by nvcc
// and run unmodified through gpupool: occupancy (cudart's kernel handles), the profiler's markers,
// __constant__ and __device__ variables (cudaMemcpyToSymbol/FromSymbol, cudaGetSymbolAddress), host
// functions on streams (cudaStreamAddCallback, cudaLaunchHostFunc) in stream order, stream attributes
// and peer attributes (with two devices: run it with --gpus all).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_profiler_api.h>

// poly and its module variables are the emulator's test kernels, whose CPU versions run them.
#include "../../native/fakes/cuda/kernels/test_kernels.cu"
#include "cudart_check.h"
#include "expect.h"

static void occupancy()
{
    int blocks = 0, min_grid = 0, block = 0;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, poly, 128, 0));
    CHECK(cudaOccupancyMaxPotentialBlockSize(&min_grid, &block, poly, 0, 0));
    cudaFuncAttributes attr;
    CHECK(cudaFuncGetAttributes(&attr, poly));
    expect(blocks > 0 && block > 0 && min_grid > 0 && attr.maxThreadsPerBlock >= block, "occupancy of a runtime kernel");
}

static void variables()
{
    const int n = 1000;
    const float coeffs[4] = {1.0f, 2.0f, 0.5f, 0.25f};
    CHECK(cudaMemcpyToSymbol(poly_coeffs, coeffs, sizeof coeffs));
    unsigned zero = 0;
    CHECK(cudaMemcpyToSymbol(poly_calls, &zero, sizeof zero));
    std::vector<float> x(n), y(n);
    for (int i = 0; i < n; i++)
        x[i] = (float)(i % 17) * 0.125f;
    float *dx, *dy;
    CHECK(cudaMalloc(&dx, n * sizeof(float)));
    CHECK(cudaMalloc(&dy, n * sizeof(float)));
    CHECK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    for (int launch = 0; launch < 3; launch++)
        poly<<<(n + 127) / 128, 128>>>(dx, dy, n);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(y.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost));
    unsigned calls = 0;
    CHECK(cudaMemcpyFromSymbol(&calls, poly_calls, sizeof calls));
    float back[4] = {};
    CHECK(cudaMemcpyFromSymbol(back, poly_coeffs, sizeof back));
    bool right = true;
    for (int i = 0; i < n; i++) {
        float want = coeffs[0] + x[i] * (coeffs[1] + x[i] * (coeffs[2] + x[i] * coeffs[3]));
        right = right && y[i] == want;
    }
    expect(right, "a kernel reads __constant__ memory set by cudaMemcpyToSymbol");
    expect(calls == 3, "a __device__ counter read back by cudaMemcpyFromSymbol");
    expect(memcmp(back, coeffs, sizeof back) == 0, "__constant__ memory read back");
    void *addr = nullptr;
    size_t size = 0;
    CHECK(cudaGetSymbolAddress(&addr, poly_calls));
    CHECK(cudaGetSymbolSize(&size, poly_calls));
    CHECK(cudaMemset(addr, 0, size));
    CHECK(cudaMemcpyFromSymbol(&calls, poly_calls, sizeof calls));
    expect(size == sizeof(unsigned) && calls == 0, "cudaGetSymbolAddress and a memset of it");
    // Past the variable's end: refused, as the driver's own bounds would.
    expect(cudaMemcpyToSymbol(poly_coeffs, coeffs, sizeof coeffs, sizeof(float)) != cudaSuccess,
           "a copy past a variable's end is refused");
    cudaGetLastError();
    CHECK(cudaFree(dx));
    CHECK(cudaFree(dy));
}

// What each host function saw: its place in the order they ran, and the copy that preceded it.
struct HostCall {
    int order;
    float seen;
    const float *from;
    cudaError_t status;
};
static int host_calls = 0;

static void CUDART_CB host_func(void *arg)
{
    HostCall *c = (HostCall *)arg;
    c->order = host_calls++;
    c->seen = *c->from;
}

static void CUDART_CB stream_callback(cudaStream_t, cudaError_t status, void *arg)
{
    HostCall *c = (HostCall *)arg;
    c->status = status;
    host_func(arg);
}

static void host_functions()
{
    const int n = 1 << 16, rounds = 4;
    float *d, *h;
    CHECK(cudaMalloc(&d, n * sizeof(float)));
    CHECK(cudaMallocHost(&h, rounds * sizeof(float)));
    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream));
    HostCall calls[2 * rounds] = {};
    for (int r = 0; r < rounds; r++) {
        // Each round's host functions must see the copy enqueued before them on the stream.
        CHECK(cudaMemsetAsync(d, 0, n * sizeof(float), stream));
        float value = (float)(r + 1);
        CHECK(cudaMemcpyAsync(d + r, &value, sizeof value, cudaMemcpyHostToDevice, stream));
        CHECK(cudaMemcpyAsync(h + r, d + r, sizeof(float), cudaMemcpyDeviceToHost, stream));
        calls[2 * r] = {-1, 0, h + r, cudaErrorUnknown};
        calls[2 * r + 1] = {-1, 0, h + r, cudaErrorUnknown};
        CHECK(cudaLaunchHostFunc(stream, host_func, &calls[2 * r]));
        CHECK(cudaStreamAddCallback(stream, stream_callback, &calls[2 * r + 1], 0));
    }
    CHECK(cudaStreamSynchronize(stream));
    bool ordered = true, saw = true;
    for (int i = 0; i < 2 * rounds; i++) {
        ordered = ordered && calls[i].order == i;
        saw = saw && calls[i].seen == (float)(i / 2 + 1);
    }
    expect(host_calls == 2 * rounds, "every host function ran by cudaStreamSynchronize");
    expect(ordered, "host functions ran in stream order");
    expect(saw, "each host function saw the copy before it");
    expect(calls[1].status == cudaSuccess, "a stream callback gets the stream's status");
    // On the legacy default stream, then a device synchronisation.
    HostCall last = {-1, 0, h, cudaErrorUnknown};
    CHECK(cudaLaunchHostFunc(0, host_func, &last));
    CHECK(cudaDeviceSynchronize());
    expect(last.order == 2 * rounds, "a host function on the default stream, by cudaDeviceSynchronize");
    CHECK(cudaStreamDestroy(stream));
    CHECK(cudaFreeHost(h));
    CHECK(cudaFree(d));
}

static void stream_and_peer_attributes()
{
    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream));
    cudaStreamAttrValue set = {}, got = {};
    set.syncPolicy = cudaSyncPolicySpin;
    CHECK(cudaStreamSetAttribute(stream, cudaStreamAttributeSynchronizationPolicy, &set));
    CHECK(cudaStreamGetAttribute(stream, cudaStreamAttributeSynchronizationPolicy, &got));
    expect(got.syncPolicy == cudaSyncPolicySpin, "a stream attribute set and read back");
    CHECK(cudaStreamDestroy(stream));
    int count = 0, access = -1;
    CHECK(cudaGetDeviceCount(&count));
    if (count > 1) {
        CHECK(cudaDeviceGetP2PAttribute(&access, cudaDevP2PAttrAccessSupported, 0, 1));
        expect(access == 0, "no peer access between a job's devices");
    }
}

int main()
{
    CHECK(cudaSetDevice(0));
    CHECK(cudaProfilerStart());
    occupancy();
    variables();
    host_functions();
    stream_and_peer_attributes();
    CHECK(cudaProfilerStop());
    if (failures == 0)
        printf("PASS\n");
    return failures == 0 ? 0 : 1;
}
