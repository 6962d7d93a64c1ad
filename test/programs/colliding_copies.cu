/*
 * Copies between two devices of two daemons that hand out the same device addresses (two simulated
 * daemons on one fixture: the same UUIDs, so the same address ranges). Every copy's bytes are read
 * back and compared; a copy may be refused, never answer success with the wrong card's bytes.
 *
 *   colliding_copies          device 0 holds more memory than the client library could once step
 *                             over; device 1's memory must still come out apart from it, and
 *                             cuMemcpyPeer, cuMemcpyDtoD and cudaMemcpy (default kind) arrive intact
 *                             both ways
 *   colliding_copies forced   the quota leaves no room to ask again, so both devices hold the same
 *                             addresses: cuMemcpyPeer (it names the contexts) arrives intact both ways,
 *                             copies naming the addresses alone are refused and change nothing
 * Prints "<what> ok" per check and PASS at the end; exits 1 on any failure.
 */
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda.h>
#include <cuda_runtime.h>

#include "cudart_check.h"
#include "expect.h"

static const size_t N = 1 << 20;

typedef CUresult (*peer_fn)(CUdeviceptr, CUcontext, CUdeviceptr, CUcontext, size_t);
typedef CUresult (*dtod_fn)(CUdeviceptr, CUdeviceptr, size_t);
typedef CUresult (*current_fn)(CUcontext *);
static peer_fn memcpy_peer;
static dtod_fn memcpy_dtod;
static current_fn ctx_get_current;

template <typename F> static void entry(const char *name, F *fn)
{
    void *p = nullptr;
    CHECK(cudaGetDriverEntryPointByVersion(name, &p, 13000, cudaEnableDefault, nullptr));
    *fn = reinterpret_cast<F>(p);
}

/* The device's primary context, current once cudart has made it so. */
static CUcontext context_of(int dev)
{
    CHECK(cudaSetDevice(dev));
    CHECK(cudaFree(nullptr));
    CUcontext ctx = nullptr;
    if (ctx_get_current(&ctx) != CUDA_SUCCESS || ctx == nullptr) {
        fprintf(stderr, "FAIL: no current context on device %d\n", dev);
        exit(1);
    }
    return ctx;
}

static void fill(int dev, void *p, unsigned char seed)
{
    std::vector<unsigned char> host(N);
    for (size_t i = 0; i < N; i++)
        host[i] = (unsigned char)(seed + i * 7);
    CHECK(cudaSetDevice(dev));
    CHECK(cudaMemcpy(p, host.data(), N, cudaMemcpyHostToDevice));
}

/* Whether p on dev (read with dev current) holds fill(seed)'s bytes. */
static bool holds(int dev, const void *p, unsigned char seed)
{
    std::vector<unsigned char> host(N);
    CHECK(cudaSetDevice(dev));
    CHECK(cudaMemcpy(host.data(), p, N, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < N; i++)
        if (host[i] != (unsigned char)(seed + i * 7))
            return false;
    return true;
}

static CUdeviceptr dp(const void *p) { return (CUdeviceptr)(uintptr_t)p; }

static void apart(CUcontext c0, CUcontext c1)
{
    /* More allocations on device 0 than the client library once asked again for (16). */
    const int count = 40;
    std::vector<void *> a(count);
    CHECK(cudaSetDevice(0));
    for (int i = 0; i < count; i++)
        CHECK(cudaMalloc(&a[i], N));
    void *b = nullptr, *late = nullptr;
    CHECK(cudaSetDevice(1));
    CHECK(cudaMalloc(&b, N));
    /* And one more on device 0 after it, where device 1's memory now is. */
    CHECK(cudaSetDevice(0));
    CHECK(cudaMalloc(&late, N));
    bool overlaps = false;
    for (int i = 0; i < count; i++)
        overlaps |= (uintptr_t)b < (uintptr_t)a[i] + N && (uintptr_t)a[i] < (uintptr_t)b + N;
    overlaps |= (uintptr_t)b < (uintptr_t)late + N && (uintptr_t)late < (uintptr_t)b + N;
    printf("device 0 at %p..%p and %p, device 1 at %p\n", a[0], (char *)a[count - 1] + N, late, b);
    expect(!overlaps, "device 1's memory lies apart from device 0's");

    fill(0, a[0], 11);
    expect(memcpy_peer(dp(b), c1, dp(a[0]), c0, N) == CUDA_SUCCESS && holds(1, b, 11), "cuMemcpyPeer device 0 -> device 1");
    fill(1, b, 12);
    expect(memcpy_peer(dp(a[1]), c0, dp(b), c1, N) == CUDA_SUCCESS && holds(0, a[1], 12), "cuMemcpyPeer device 1 -> device 0");

    fill(0, a[2], 21);
    CHECK(cudaSetDevice(0));
    expect(memcpy_dtod(dp(b), dp(a[2]), N) == CUDA_SUCCESS && holds(1, b, 21), "cuMemcpyDtoD device 0 -> device 1");
    fill(1, b, 22);
    CHECK(cudaSetDevice(1));
    expect(memcpy_dtod(dp(late), dp(b), N) == CUDA_SUCCESS && holds(0, late, 22), "cuMemcpyDtoD device 1 -> device 0");

    fill(0, a[3], 31);
    CHECK(cudaSetDevice(1));
    expect(cudaMemcpy(b, a[3], N, cudaMemcpyDefault) == cudaSuccess && holds(1, b, 31), "cudaMemcpy default device 0 -> device 1");
    fill(1, b, 32);
    CHECK(cudaSetDevice(0));
    expect(cudaMemcpy(a[4], b, N, cudaMemcpyDefault) == cudaSuccess && holds(0, a[4], 32), "cudaMemcpy default device 1 -> device 0");
    /* Device 0's own memory still copies within device 0. */
    expect(cudaMemcpy(a[5], a[4], N, cudaMemcpyDefault) == cudaSuccess && holds(0, a[5], 32), "cudaMemcpy default within device 0");
}

static void forced(CUcontext c0, CUcontext c1)
{
    void *a = nullptr, *b = nullptr;
    CHECK(cudaSetDevice(0));
    CHECK(cudaMalloc(&a, N));
    CHECK(cudaSetDevice(1));
    CHECK(cudaMalloc(&b, N));
    printf("device 0 at %p, device 1 at %p\n", a, b);
    expect(a == b, "both devices hold the same address (no room under the quota to ask again)");

    fill(0, a, 41);
    fill(1, b, 42);
    expect(holds(0, a, 41) && holds(1, b, 42), "each device keeps its own bytes at the same address");
    expect(memcpy_peer(dp(b), c1, dp(a), c0, N) == CUDA_SUCCESS && holds(1, b, 41), "cuMemcpyPeer device 0 -> device 1");
    fill(1, b, 43);
    expect(memcpy_peer(dp(a), c0, dp(b), c1, N) == CUDA_SUCCESS && holds(0, a, 43), "cuMemcpyPeer device 1 -> device 0");

    fill(0, a, 44);
    fill(1, b, 45);
    CHECK(cudaSetDevice(0));
    CUresult rc = memcpy_dtod(dp(b), dp(a), N);
    expect(rc == CUDA_ERROR_INVALID_VALUE && holds(0, a, 44) && holds(1, b, 45), "cuMemcpyDtoD between the same addresses is refused");
    CHECK(cudaSetDevice(1));
    cudaError_t e = cudaMemcpy(b, a, N, cudaMemcpyDefault);
    (void)cudaGetLastError();
    expect(e != cudaSuccess && holds(0, a, 44) && holds(1, b, 45), "cudaMemcpy default between the same addresses is refused");
}

int main(int argc, char **argv)
{
    entry("cuMemcpyPeer", &memcpy_peer);
    entry("cuMemcpyDtoD", &memcpy_dtod);
    entry("cuCtxGetCurrent", &ctx_get_current);
    int count = 0;
    CHECK(cudaGetDeviceCount(&count));
    if (count != 2) {
        fprintf(stderr, "FAIL: %d devices, 2 wanted\n", count);
        return 1;
    }
    CUcontext c0 = context_of(0), c1 = context_of(1);
    if (argc > 1 && strcmp(argv[1], "forced") == 0)
        forced(c0, c1);
    else
        apart(c0, c1);
    if (failures == 0)
        printf("PASS\n");
    return failures == 0 ? 0 : 1;
}
