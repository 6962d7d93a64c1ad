// Launches what the daemon cannot run: a kernel no kernel library implements (the emulator's
// CUDA_ERROR_NO_BINARY_FOR_GPU, cudart's cudaErrorNoKernelImageForDevice), then `poke` at an address
// outside every allocation (cudaErrorIllegalAddress). A launch's error may come from the launch
// itself or from the next synchronisation (the client library sends launches asynchronously): each
// is printed as "NAME: ERROR (CODE)", the first error of the launch and its synchronisation, followed
// by a later call's result. Exits 3, the program's own status, once both launches were tried.
#include <cstdint>
#include <cstdio>

__global__ void mystery(float *p)
{
    p[threadIdx.x] = 42.0f;
}

// The name and signature of the emulator's test kernel: it writes 0xdeadbeef at addr.
__global__ void poke(unsigned long long addr)
{
    if (blockIdx.x == 0 && threadIdx.x == 0)
        *(volatile unsigned *)addr = 0xdeadbeefu;
}

static void report(const char *what, cudaError_t e)
{
    printf("%s: %s (%d)\n", what, cudaGetErrorName(e), (int)e);
    fflush(stdout);
}

// The launch's error, or else its synchronisation's; the runtime's last error is cleared after.
static cudaError_t launch_error()
{
    cudaError_t launch = cudaGetLastError();
    cudaError_t sync = cudaDeviceSynchronize();
    cudaGetLastError();
    return launch != cudaSuccess ? launch : sync;
}

int main()
{
    float *p = nullptr;
    cudaError_t e = cudaMalloc(&p, 1024 * sizeof(float));
    report("cudaMalloc", e);
    if (e != cudaSuccess)
        return 2;

    mystery<<<1, 32>>>(p);
    report("mystery", launch_error());
    // Not sticky: the device still works.
    report("after mystery", cudaMemset(p, 0, 1024 * sizeof(float)));

    poke<<<1, 1>>>((unsigned long long)(uintptr_t)p + (1ull << 30));
    report("poke", launch_error());
    // Sticky: a later call reports it too.
    report("after poke", cudaMemset(p, 0, 1024 * sizeof(float)));
    return 3;
}
