/*
 * A unit of load for the sharing tests and the pool-replay benchmark: it keeps a card busy with
 * spin_ns kernels (test_kernels.cu) of known device time, and reports what it got.
 *
 *   card_load KERNELS.fatbin train SECONDS KERNEL_US BATCH
 *       back-to-back batches of BATCH kernels, one synchronize per batch (a training loop)
 *   card_load KERNELS.fatbin serve SECONDS KERNEL_US BATCH THINK_US
 *       requests of BATCH kernels each, timed from the first launch to the synchronize that ends
 *       it, THINK_US apart (an inference service); THINK_US may be a list a:b:c, used in turn
 *
 * Prints one JSON line: kernels completed, the device time they asked for, wall time, and for serve
 * the latency of every request (sorted) in microseconds. Starts after "go" arrives on stdin when
 * GPUPOOL_LOAD_WAIT=1, so that several clients can start their measurement together. Runs on device
 * GPUPOOL_LOAD_DEVICE (default 0); holds GPUPOOL_LOAD_HOLD bytes of device memory while it runs
 * (default none), as a real job holds its weights.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cuda_check.h"

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s KERNELS.fatbin train|serve SECONDS KERNEL_US BATCH [THINK_US[:THINK_US...]]\n", argv[0]);
        return 2;
    }
    int serve = strcmp(argv[2], "serve") == 0;
    double seconds = atof(argv[3]);
    unsigned long long kernel_ns = strtoull(argv[4], NULL, 10) * 1000ull;
    int batch = atoi(argv[5]);
    static uint64_t thinks[4096];
    int n_thinks = 0;
    if (serve) {
        static char none[] = "0";
        char *list = argc > 6 ? argv[6] : none;
        for (char *t = strtok(list, ":"); t != NULL && n_thinks < 4096; t = strtok(NULL, ":"))
            thinks[n_thinks++] = strtoull(t, NULL, 10);
    }

    CUdevice dev;
    CUcontext ctx;
    CUmodule module;
    CUfunction spin;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, getenv("GPUPOOL_LOAD_DEVICE") ? atoi(getenv("GPUPOOL_LOAD_DEVICE")) : 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    void *image = read_file(argv[1], NULL);
    CHECK(cuModuleLoadData(&module, image));
    CHECK(cuModuleGetFunction(&spin, module, "_Z7spin_nsy"));
    void *params[] = { &kernel_ns };
    /* One kernel first: module loading and the first launch are not part of the measurement. */
    CHECK(cuLaunchKernel(spin, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
    CHECK(cuCtxSynchronize());
    CUdeviceptr held = 0;
    if (getenv("GPUPOOL_LOAD_HOLD") && strtoull(getenv("GPUPOOL_LOAD_HOLD"), NULL, 10) > 0)
        CHECK(cuMemAlloc(&held, (size_t)strtoull(getenv("GPUPOOL_LOAD_HOLD"), NULL, 10)));

    if (getenv("GPUPOOL_LOAD_WAIT") && strcmp(getenv("GPUPOOL_LOAD_WAIT"), "1") == 0) {
        printf("ready\n");
        fflush(stdout);
        char line[16];
        if (fgets(line, sizeof line, stdin) == NULL)
            return 3;
    }

    size_t cap = 1024, n = 0;
    uint64_t *lat = malloc(cap * sizeof *lat);
    unsigned long long kernels = 0;
    uint64_t start = now_us(), deadline = start + (uint64_t)(seconds * 1e6);
    while (now_us() < deadline) {
        uint64_t t0 = now_us();
        for (int i = 0; i < batch; i++)
            CHECK(cuLaunchKernel(spin, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
        CHECK(cuCtxSynchronize());
        kernels += (unsigned long long)batch;
        if (serve) {
            if (n == cap)
                lat = realloc(lat, (cap *= 2) * sizeof *lat);
            lat[n] = now_us() - t0;
            uint64_t think = thinks[n % (size_t)n_thinks];
            n++;
            if (think > 0) {
                struct timespec ts = { (time_t)(think / 1000000u), (long)(think % 1000000u) * 1000L };
                nanosleep(&ts, NULL);
            }
        }
    }
    uint64_t wall = now_us() - start;
    qsort(lat, n, sizeof *lat, cmp_u64);
    printf("{\"kernels\":%llu,\"device_us\":%llu,\"wall_us\":%llu,\"latency_us\":[", kernels, kernels * (kernel_ns / 1000ull),
           (unsigned long long)wall);
    for (size_t i = 0; i < n; i++)
        printf("%s%llu", i ? "," : "", (unsigned long long)lat[i]);
    printf("]}\n");
    free(lat);
    free(image);
    if (held)
        CHECK(cuMemFree(held));
    CHECK(cuModuleUnload(module));
    CHECK(cuDevicePrimaryCtxRelease(dev));
    return 0;
}
