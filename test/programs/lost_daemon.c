/*
 * Loses its daemon in the middle of a job: initialises, allocates, prints "ready", then blocks until
 * a line arrives on stdin (the test stops the daemon meanwhile) and makes more calls, printing each
 * result's name. The client library must answer them with CUDA_ERROR_DEVICE_UNAVAILABLE, never hang
 * or crash. Exits 0 when every later call gave CUDA_ERROR_DEVICE_UNAVAILABLE, 1 otherwise, 2 when
 * the set-up itself failed. With --hold it prints "holding" and waits for a second line before it
 * exits: the test can then watch what the daemon sees of a client that is still alive.
 * Usage: lost_daemon [--hold]
 */
#include <cuda.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *name_of(CUresult rc)
{
    const char *name = NULL;
    return cuGetErrorName(rc, &name) == CUDA_SUCCESS && name ? name : "?";
}

#define SETUP(call)                                                             \
    do {                                                                        \
        CUresult rc_ = (call);                                                  \
        if (rc_ != CUDA_SUCCESS) {                                              \
            fprintf(stderr, "setup: %s -> %s\n", #call, name_of(rc_));          \
            return 2;                                                           \
        }                                                                       \
    } while (0)

int main(int argc, char **argv)
{
    int hold = argc > 1 && strcmp(argv[1], "--hold") == 0;
    CUdevice dev;
    CUcontext ctx;
    CUdeviceptr first, second = 0;
    static char host[1 << 16];
    SETUP(cuInit(0));
    SETUP(cuDeviceGet(&dev, 0));
    SETUP(cuDevicePrimaryCtxRetain(&ctx, dev));
    SETUP(cuCtxSetCurrent(ctx));
    SETUP(cuMemAlloc(&first, sizeof host));
    SETUP(cuMemcpyHtoD(first, host, sizeof host));
    printf("ready %d\n", (int)getpid());
    fflush(stdout);

    char line[64];
    if (fgets(line, sizeof line, stdin) == NULL)
        fprintf(stderr, "stdin closed\n");

    CUresult alloc = cuMemAlloc(&second, 4096);
    printf("cuMemAlloc %s\n", name_of(alloc));
    CUresult sync = cuCtxSynchronize();
    printf("cuCtxSynchronize %s\n", name_of(sync));
    memset(host, 0x5a, sizeof host);
    CUresult copy = cuMemcpyHtoD(first, host, sizeof host);
    printf("cuMemcpyHtoD %s\n", name_of(copy));
    fflush(stdout);
    int lost = alloc == CUDA_ERROR_DEVICE_UNAVAILABLE && sync == CUDA_ERROR_DEVICE_UNAVAILABLE && copy == CUDA_ERROR_DEVICE_UNAVAILABLE;
    printf("%s\n", lost ? "all unavailable" : "unexpected results");
    if (hold) {
        printf("holding\n");
        fflush(stdout);
        if (fgets(line, sizeof line, stdin) == NULL)
            fprintf(stderr, "stdin closed\n");
    }
    return lost ? 0 : 1;
}
