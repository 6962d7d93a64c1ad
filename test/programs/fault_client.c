/*
 * A client for the fault tests: it keeps a daemon busy in a known way, so that the test can kill it,
 * its daemon or its network at the worst moment, and reports what its calls answered.
 *
 *   fault_client KERNELS.fatbin copy BYTES      HtoD copies of BYTES, back to back, for ever ("copy K")
 *   fault_client KERNELS.fatbin launch          bursts of 500 spin_ns(100 us) launches, each ended by a
 *                                               cuCtxSynchronize, for ever ("burst K")
 *   fault_client KERNELS.fatbin work            checked rounds (below), 100 per second, until a line
 *                                               arrives on stdin ("round K ok"; "done K" at the end)
 *   fault_client KERNELS.fatbin step            one checked round per line on stdin, until EOF
 *   fault_client KERNELS.fatbin block MS        one spin_ns kernel of MS milliseconds, then
 *                                               cuCtxSynchronize ("sync NAME AFTER_MS"), then waits for
 *                                               a line on stdin
 *
 * Every mode runs on device GPUPOOL_FAULT_DEVICE (default 0) and prints "ready PID" once it holds its
 * context and memory. A checked round copies x and y in, runs saxpy (y = 3x + y), copies y back and
 * compares every element; it prints "round K ok", or "round K CALL CUDA_ERROR_X" for the first call
 * that failed ("round K wrong" for a wrong result). work exits 1 at the first failed round; step goes
 * on. Exit status 2: the set-up failed.
 */
#define _POSIX_C_SOURCE 200809L
#define CHECK_EXIT 2
#include "cuda_check.h"
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROUND_N 65536

static CUfunction saxpy, spin;
static CUdeviceptr dx, dy;
static float hx[ROUND_N], hy[ROUND_N];

static const char *name_of(CUresult rc)
{
    const char *name = NULL;
    return cuGetErrorName(rc, &name) == CUDA_SUCCESS && name ? name : "?";
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Every line goes out at once: the test acts on it while the program runs on. */
#define SAY(...)                  \
    do {                          \
        printf(__VA_ARGS__);      \
        fflush(stdout);           \
    } while (0)

/* One checked round; returns 0 when it was right. */
static int round_once(unsigned long long k)
{
#define TRY(call)                                                   \
    do {                                                            \
        CUresult rc_ = (call);                                      \
        if (rc_ != CUDA_SUCCESS) {                                  \
            SAY("round %llu %s %s\n", k, #call, name_of(rc_));      \
            return 1;                                               \
        }                                                           \
    } while (0)
    for (int i = 0; i < ROUND_N; i++) {
        hx[i] = (float)(i % 1000) + (float)(k % 7);
        hy[i] = 2.0f;
    }
    float a = 3.0f;
    int n = ROUND_N;
    void *params[] = { &a, &dx, &dy, &n };
    TRY(cuMemcpyHtoD(dx, hx, sizeof hx));
    TRY(cuMemcpyHtoD(dy, hy, sizeof hy));
    TRY(cuLaunchKernel(saxpy, ROUND_N / 256, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
    TRY(cuMemcpyDtoH(hy, dy, sizeof hy));
#undef TRY
    for (int i = 0; i < ROUND_N; i++) {
        if (hy[i] != a * hx[i] + 2.0f) {
            SAY("round %llu wrong\n", k);
            return 1;
        }
    }
    SAY("round %llu ok\n", k);
    return 0;
}

static int line_waiting(void)
{
    struct pollfd p = { .fd = 0, .events = POLLIN };
    return poll(&p, 1, 0) > 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s KERNELS.fatbin copy BYTES | launch | work | step | block MS | crash\n", argv[0]);
        return 2;
    }
    const char *mode = argv[2];
    const char *device = getenv("GPUPOOL_FAULT_DEVICE");
    CUdevice dev;
    CUcontext ctx;
    CUmodule module;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, device ? atoi(device) : 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    CHECK(cuModuleLoadData(&module, read_file(argv[1], NULL)));
    CHECK(cuModuleGetFunction(&saxpy, module, "_Z5saxpyfPKfPfi"));
    CHECK(cuModuleGetFunction(&spin, module, "_Z7spin_nsy"));
    CHECK(cuMemAlloc(&dx, sizeof hx));
    CHECK(cuMemAlloc(&dy, sizeof hy));
    char line[64];

    if (strcmp(mode, "copy") == 0 && argc > 3) {
        size_t bytes = strtoull(argv[3], NULL, 10);
        char *host = malloc(bytes);
        CUdeviceptr big;
        if (host == NULL)
            return 2;
        memset(host, 0x5a, bytes);
        CHECK(cuMemAlloc(&big, bytes));
        SAY("ready %d\n", (int)getpid());
        for (unsigned long long k = 1;; k++) {
            CHECK(cuMemcpyHtoD(big, host, bytes));
            SAY("copy %llu\n", k);
        }
    }
    if (strcmp(mode, "launch") == 0) {
        unsigned long long ns = 100000;
        void *params[] = { &ns };
        SAY("ready %d\n", (int)getpid());
        for (unsigned long long k = 1;; k++) {
            for (int i = 0; i < 500; i++)
                CHECK(cuLaunchKernel(spin, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
            CHECK(cuCtxSynchronize());
            SAY("burst %llu\n", k);
        }
    }
    if (strcmp(mode, "work") == 0) {
        SAY("ready %d\n", (int)getpid());
        unsigned long long k = 0;
        while (!line_waiting()) {
            if (round_once(++k) != 0)
                return 1;
            struct timespec pause = { 0, 10 * 1000000L };
            nanosleep(&pause, NULL);
        }
        SAY("done %llu\n", k);
        return 0;
    }
    if (strcmp(mode, "step") == 0) {
        SAY("ready %d\n", (int)getpid());
        for (unsigned long long k = 1; fgets(line, sizeof line, stdin) != NULL; k++)
            round_once(k);
        return 0;
    }
    if (strcmp(mode, "crash") == 0) {
        /* A kernel that takes down the process running it: the session's worker (emulator only). */
        CUfunction fault;
        int unused = 0;
        void *params[] = { &unused };
        CHECK(cuModuleGetFunction(&fault, module, "_Z13fault_processi"));
        SAY("ready %d\n", (int)getpid());
        if (fgets(line, sizeof line, stdin) == NULL)
            return 2;
        CHECK(cuLaunchKernel(fault, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
        CUresult rc = cuCtxSynchronize();
        SAY("sync %s\n", name_of(rc));
        return 0;
    }
    if (strcmp(mode, "block") == 0 && argc > 3) {
        unsigned long long ns = strtoull(argv[3], NULL, 10) * 1000000ull;
        void *params[] = { &ns };
        SAY("ready %d\n", (int)getpid());
        uint64_t start = now_ms();
        CHECK(cuLaunchKernel(spin, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
        CUresult rc = cuCtxSynchronize();
        SAY("sync %s %llu\n", name_of(rc), (unsigned long long)(now_ms() - start));
        if (fgets(line, sizeof line, stdin) == NULL)
            fprintf(stderr, "stdin closed\n");
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
