// Prints what an unmodified CUDA program learns about its devices through the runtime: run it on
// the stand-in libcuda.so.1 (run-probe.sh) and compare with the devices that library describes.
// Stops short of memory allocation. Exit status: 0 when every runtime call succeeded.
#include <cstdio>
#include <cuda_runtime.h>

static int failures = 0;

static bool ok(cudaError_t err, const char *what)
{
    if (err == cudaSuccess)
        return true;
    std::printf("%s failed: %d %s\n", what, (int)err, cudaGetErrorName(err));
    failures++;
    return false;
}

static void print_device(int dev)
{
    cudaDeviceProp p;
    if (!ok(cudaGetDeviceProperties(&p, dev), "cudaGetDeviceProperties"))
        return;
    std::printf("device %d: %s\n", dev, p.name);
    std::printf("  totalGlobalMem %zu\n", p.totalGlobalMem);
    std::printf("  compute capability %d.%d, %d SMs, warp %d, %d threads/block, L2 %d\n", p.major,
                p.minor, p.multiProcessorCount, p.warpSize, p.maxThreadsPerBlock, p.l2CacheSize);
    std::printf("  uuid ");
    for (int i = 0; i < 16; i++)
        std::printf("%02x", (unsigned char)p.uuid.bytes[i]);
    std::printf("\n  pci %04x:%02x:%02x\n", p.pciDomainID, p.pciBusID, p.pciDeviceID);

    char bus_id[32];
    if (ok(cudaDeviceGetPCIBusId(bus_id, sizeof bus_id, dev), "cudaDeviceGetPCIBusId")) {
        int found = -1;
        ok(cudaDeviceGetByPCIBusId(&found, bus_id), "cudaDeviceGetByPCIBusId");
        std::printf("  bus id %s -> device %d\n", bus_id, found);
    }
}

int main()
{
    int driver = 0, runtime = 0, count = 0;
    ok(cudaDriverGetVersion(&driver), "cudaDriverGetVersion");
    ok(cudaRuntimeGetVersion(&runtime), "cudaRuntimeGetVersion");
    std::printf("driver %d\n", driver);
    if (!ok(cudaGetDeviceCount(&count), "cudaGetDeviceCount"))
        return 1;
    std::printf("devices %d\n", count);
    for (int dev = 0; dev < count; dev++)
        print_device(dev);

    // Context creation: the first call that needs a context makes cudart retain the primary one.
    int last = count - 1, current = -1;
    ok(cudaSetDevice(last), "cudaSetDevice");
    ok(cudaFree(nullptr), "cudaFree(nullptr)");
    ok(cudaGetDevice(&current), "cudaGetDevice");
    ok(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    std::printf("current device %d\n", current);
    std::printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
