/*
 * Memory quotas as a job sees them (docs/operations.md, "Memory quotas"), on device 0.
 * Usage: quota [wait]
 * Prints "cuInit NAME" and exits 3 when cuInit fails (a refused handshake). Otherwise prints
 * "device I BUS" for each device (its PCI address), "totalMem N" (cuDeviceTotalMem) and
 * "meminfo free F total T" (cuMemGetInfo). With `wait` it then
 * prints "ready" and holds its session until a line (or EOF) on stdin, and exits 0. Without, it
 * allocates 64 MiB blocks until CUDA_ERROR_OUT_OF_MEMORY ("allocated N bytes in K blocks, then
 * NAME"), tries a cuMemAllocPitch past the quota ("pitch past quota: NAME"), frees one block and
 * allocates it again ("after free: NAME"), frees that too and allocates a small pitched block ("pitch
 * within quota: NAME"), and prints PASS when each came out as a quota should make it.
 */
#include "cuda_check.h"
#include <stdio.h>
#include <string.h>

#define STEP ((size_t)64 << 20)
#define MAX_BLOCKS 4096

static const char *name_of(CUresult rc)
{
    const char *name = NULL;
    cuGetErrorName(rc, &name);
    return name ? name : "?";
}

int main(int argc, char **argv)
{
    int wait = argc > 1 && strcmp(argv[1], "wait") == 0;
    CUresult rc = cuInit(0);
    if (rc != CUDA_SUCCESS) {
        printf("cuInit %s\n", name_of(rc));
        return 3;
    }
    /* Which cards the daemons gave: their PCI addresses tell them apart. */
    int count = 0;
    CHECK(cuDeviceGetCount(&count));
    for (int i = 0; i < count; i++) {
        CUdevice d;
        char bus[32];
        CHECK(cuDeviceGet(&d, i));
        CHECK(cuDeviceGetPCIBusId(bus, sizeof bus, d));
        printf("device %d %s\n", i, bus);
    }
    CUdevice dev;
    CUcontext ctx;
    CHECK(cuDeviceGet(&dev, 0));
    size_t total_mem = 0, free_bytes = 0, total_bytes = 0;
    CHECK(cuDeviceTotalMem(&total_mem, dev));
    printf("totalMem %zu\n", total_mem);
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    CHECK(cuMemGetInfo(&free_bytes, &total_bytes));
    printf("meminfo free %zu total %zu\n", free_bytes, total_bytes);
    fflush(stdout);
    if (wait) {
        printf("ready\n");
        fflush(stdout);
        char line[64];
        (void)!fgets(line, sizeof line, stdin);
        return 0;
    }

    static CUdeviceptr blocks[MAX_BLOCKS];
    int n = 0;
    for (rc = CUDA_SUCCESS; n < MAX_BLOCKS;) {
        rc = cuMemAlloc(&blocks[n], STEP);
        if (rc != CUDA_SUCCESS)
            break;
        n++;
    }
    printf("allocated %zu bytes in %d blocks, then %s\n", (size_t)n * STEP, n, name_of(rc));
    int ok = rc == CUDA_ERROR_OUT_OF_MEMORY && (size_t)n * STEP <= total_mem;

    CUdeviceptr pitched = 0;
    size_t pitch = 0;
    CUresult past = cuMemAllocPitch(&pitched, &pitch, 1 << 20, 64, 4);
    printf("pitch past quota: %s\n", name_of(past));
    ok = ok && past == CUDA_ERROR_OUT_OF_MEMORY;

    CHECK(cuMemGetInfo(&free_bytes, &total_bytes));
    printf("full: free %zu total %zu\n", free_bytes, total_bytes);

    CUresult again = CUDA_ERROR_UNKNOWN;
    if (n > 0) {
        CHECK(cuMemFree(blocks[n - 1]));
        again = cuMemAlloc(&blocks[n - 1], STEP);
    }
    printf("after free: %s\n", name_of(again));
    ok = ok && again == CUDA_SUCCESS;

    CUresult within = CUDA_ERROR_UNKNOWN;
    if (n > 0) {
        CHECK(cuMemFree(blocks[n - 1]));
        within = cuMemAllocPitch(&pitched, &pitch, 4096, 1024, 4);
        if (within == CUDA_SUCCESS)
            CHECK(cuMemFree(pitched));
    }
    printf("pitch within quota: %s\n", name_of(within));
    ok = ok && within == CUDA_SUCCESS;

    for (int i = 0; i < n - 1; i++)
        CHECK(cuMemFree(blocks[i]));
    CHECK(cuDevicePrimaryCtxRelease(dev));
    printf("%s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
