// A CUDA runtime program built by nvcc (static cudart by default, or -cudart shared), run unmodified
// through gpupool: device properties, memory, a kernel on every device, streams and events, and an
// error a real driver gives. Its kernels carry the names the emulator's test kernels implement.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

__global__ void vadd(const float *a, const float *b, float *c, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        c[i] = a[i] + b[i];
}

__global__ void scale(float *p, float s, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] *= s;
}

static int failures = 0;

#include "cudart_check.h"

static void run_on(int device)
{
    CHECK(cudaSetDevice(device));
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, device));
    printf("device %d: %s, %zu MiB, sm_%d%d, %d SMs, pci %04x:%02x:%02x\n", device, prop.name, prop.totalGlobalMem >> 20, prop.major,
           prop.minor, prop.multiProcessorCount, prop.pciDomainID, prop.pciBusID, prop.pciDeviceID);
    const int n = 1 << 18;
    std::vector<float> a(n), b(n), c(n);
    for (int i = 0; i < n; i++) {
        a[i] = (float)i;
        b[i] = 1.0f;
    }
    float *da, *db, *dc;
    CHECK(cudaMalloc(&da, n * sizeof(float)));
    CHECK(cudaMalloc(&db, n * sizeof(float)));
    CHECK(cudaMalloc(&dc, n * sizeof(float)));
    CHECK(cudaMemcpy(da, a.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(db, b.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    cudaStream_t stream;
    cudaEvent_t start, stop;
    CHECK(cudaStreamCreate(&stream));
    CHECK(cudaEventCreate(&start));
    CHECK(cudaEventCreate(&stop));
    CHECK(cudaEventRecord(start, stream));
    vadd<<<(n + 255) / 256, 256, 0, stream>>>(da, db, dc, n);
    CHECK(cudaGetLastError());
    scale<<<(n + 255) / 256, 256, 0, stream>>>(dc, 2.0f, n);
    CHECK(cudaEventRecord(stop, stream));
    CHECK(cudaMemcpyAsync(c.data(), dc, n * sizeof(float), cudaMemcpyDeviceToHost, stream));
    CHECK(cudaStreamSynchronize(stream));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += c[i] != 2.0f * ((float)i + 1.0f);
    if (bad) {
        fprintf(stderr, "FAIL: device %d: %d wrong results\n", device, bad);
        failures++;
    }
    CHECK(cudaMemset(dc, 0, n * sizeof(float)));
    CHECK(cudaMemcpy(c.data(), dc, n * sizeof(float), cudaMemcpyDeviceToHost));
    if (c[n / 2] != 0.0f) {
        fprintf(stderr, "FAIL: device %d: memset\n", device);
        failures++;
    }
    printf("device %d: kernels ok, %.3f ms\n", device, ms);
    CHECK(cudaEventDestroy(start));
    CHECK(cudaEventDestroy(stop));
    CHECK(cudaStreamDestroy(stream));
    CHECK(cudaFree(da));
    CHECK(cudaFree(db));
    CHECK(cudaFree(dc));
}

int main()
{
    int count = 0;
    CHECK(cudaGetDeviceCount(&count));
    printf("devices %d\n", count);
    for (int d = 0; d < count; d++)
        run_on(d);
    if (count > 1) {
        // A copy between two devices, which may sit on two different hosts.
        const int n = 4096;
        std::vector<int> in(n), out(n, 0);
        for (int i = 0; i < n; i++)
            in[i] = i * 7;
        int *p0, *p1;
        CHECK(cudaSetDevice(0));
        CHECK(cudaMalloc(&p0, n * sizeof(int)));
        CHECK(cudaMemcpy(p0, in.data(), n * sizeof(int), cudaMemcpyHostToDevice));
        CHECK(cudaSetDevice(count - 1));
        CHECK(cudaMalloc(&p1, n * sizeof(int)));
        CHECK(cudaMemcpyPeer(p1, count - 1, p0, 0, n * sizeof(int)));
        CHECK(cudaMemcpy(out.data(), p1, n * sizeof(int), cudaMemcpyDeviceToHost));
        if (memcmp(in.data(), out.data(), n * sizeof(int)) != 0) {
            fprintf(stderr, "FAIL: copy from device 0 to device %d\n", count - 1);
            failures++;
        } else {
            printf("copy device 0 -> device %d ok\n", count - 1);
        }
    }
    float *nowhere;
    cudaError_t e = cudaMalloc(&nowhere, (size_t)1 << 60);
    if (e != cudaErrorMemoryAllocation) {
        fprintf(stderr, "FAIL: a huge cudaMalloc gave %d, not cudaErrorMemoryAllocation\n", e);
        failures++;
    }
    printf("%s\n", failures == 0 ? "PASS" : "FAIL");
    return failures == 0 ? 0 : 1;
}
