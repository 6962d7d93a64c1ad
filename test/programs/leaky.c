/*
 * Leaves everything behind: three device buffers, a stream, an event and a module, never freed.
 * Usage: leaky KERNELS.fatbin [--wait] | leaky --meminfo
 * Prints "ready PID free BYTES total BYTES" once it holds them (cuMemGetInfo of device 0, which counts
 * every allocation of the daemon's process); with --wait it then blocks reading one line from stdin
 * (the test kills it there), otherwise it exits 0 at once. The daemon must free the session either
 * way. --meminfo only prints "free BYTES total BYTES" for device 0 and exits: what another client
 * left behind shows there.
 */
#define CHECK_EXIT 2
#include "cuda_check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>




int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s KERNELS.fatbin [--wait] | %s --meminfo\n", argv[0], argv[0]);
        return 2;
    }
    int wait = argc > 2 && strcmp(argv[2], "--wait") == 0;
    CUdevice dev;
    CUcontext ctx;
    CUdeviceptr buffers[3];
    CUstream stream;
    CUevent event;
    CUmodule module;
    size_t free_bytes = 0, total_bytes = 0;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    if (strcmp(argv[1], "--meminfo") == 0) {
        CHECK(cuMemGetInfo(&free_bytes, &total_bytes));
        printf("free %zu total %zu\n", free_bytes, total_bytes);
        CHECK(cuDevicePrimaryCtxRelease(dev));
        return 0;
    }
    CHECK(cuMemAlloc(&buffers[0], 1 << 20));
    CHECK(cuMemAlloc(&buffers[1], 1 << 16));
    CHECK(cuMemAlloc(&buffers[2], 4096));
    CHECK(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
    CHECK(cuEventCreate(&event, CU_EVENT_DEFAULT));
    CHECK(cuModuleLoadData(&module, read_file(argv[1], NULL)));
    CHECK(cuEventRecord(event, stream));
    CHECK(cuStreamSynchronize(stream));
    CHECK(cuMemGetInfo(&free_bytes, &total_bytes));
    printf("ready %d free %zu total %zu\n", (int)getpid(), free_bytes, total_bytes);
    fflush(stdout);
    if (wait) {
        char line[64];
        if (fgets(line, sizeof line, stdin) == NULL)
            return 3;
    }
    exit(0); /* nothing freed, nothing unloaded, the primary context still retained */
}
