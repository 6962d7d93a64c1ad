/*
 * A driver-API program in the style of NVIDIA's cuda-samples, run unmodified through gpupool:
 * device query, memory in every direction, memsets, streams, events, a module from a fatbin, launches
 * with kernelParams and with `extra`, and the errors a real driver gives for bad calls.
 * Usage: driver_api KERNELS.fatbin [device]
 */
#include "cuda_check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;



#define EXPECT(cond, ...)                      \
    do {                                       \
        if (!(cond)) {                         \
            fprintf(stderr, "FAIL: " __VA_ARGS__); \
            fprintf(stderr, "\n");             \
            failures++;                        \
        }                                      \
    } while (0)


int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s KERNELS.fatbin [device]\n", argv[0]);
        return 2;
    }
    int ordinal = argc > 2 ? atoi(argv[2]) : 0;
    CHECK(cuInit(0));
    int count = 0, version = 0;
    CHECK(cuDeviceGetCount(&count));
    CHECK(cuDriverGetVersion(&version));
    printf("devices %d driver %d\n", count, version);
    for (int i = 0; i < count; i++) {
        CUdevice d;
        char name[256], bus[32];
        size_t total;
        int major, minor, sms;
        CHECK(cuDeviceGet(&d, i));
        CHECK(cuDeviceGetName(name, sizeof name, d));
        CHECK(cuDeviceTotalMem(&total, d));
        CHECK(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d));
        CHECK(cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d));
        CHECK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d));
        CHECK(cuDeviceGetPCIBusId(bus, sizeof bus, d));
        printf("device %d: %s, %zu bytes, sm_%d%d, %d SMs, %s\n", i, name, total, major, minor, sms, bus);
    }
    CUdevice dev;
    CHECK(cuDeviceGet(&dev, ordinal));
    /* The primary context's state follows this process's own retains, releases and flags. */
    unsigned state_flags = 1;
    int active = 1;
    CHECK(cuDevicePrimaryCtxGetState(dev, &state_flags, &active));
    EXPECT(state_flags == 0 && active == 0, "primary context before any retain: flags %u, active %d", state_flags, active);
    CHECK(cuDevicePrimaryCtxSetFlags(dev, CU_CTX_SCHED_BLOCKING_SYNC));
    CUcontext ctx;
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuDevicePrimaryCtxGetState(dev, &state_flags, &active));
    EXPECT(state_flags == CU_CTX_SCHED_BLOCKING_SYNC && active == 1, "primary context retained: flags %u, active %d", state_flags, active);
    EXPECT(cuDevicePrimaryCtxGetState(dev, NULL, &active) == CUDA_ERROR_INVALID_VALUE, "cuDevicePrimaryCtxGetState(NULL flags)");
    EXPECT(cuDevicePrimaryCtxGetState(count, &state_flags, &active) == CUDA_ERROR_INVALID_DEVICE, "cuDevicePrimaryCtxGetState(no such device)");
    CHECK(cuCtxSetCurrent(ctx));

    /* memory: host -> device -> device -> host, memsets, and a pitched allocation */
    enum { N = 1 << 16 };
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float)), *c = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) {
        a[i] = (float)i;
        b[i] = 2.0f * (float)i;
    }
    CUdeviceptr da, db, dc, dd;
    CHECK(cuMemAlloc(&da, N * sizeof(float)));
    CHECK(cuMemAlloc(&db, N * sizeof(float)));
    CHECK(cuMemAlloc(&dc, N * sizeof(float)));
    CHECK(cuMemAlloc(&dd, N * sizeof(float)));
    CHECK(cuMemcpyHtoD(da, a, N * sizeof(float)));
    CHECK(cuMemcpyHtoD(db, b, N * sizeof(float)));
    CHECK(cuMemcpyDtoD(dd, da, N * sizeof(float)));
    memset(c, 0, N * sizeof(float));
    CHECK(cuMemcpyDtoH(c, dd, N * sizeof(float)));
    EXPECT(memcmp(a, c, N * sizeof(float)) == 0, "device-to-device copy");
    CHECK(cuMemsetD32(dd, 0x3f800000u, N)); /* 1.0f */
    CHECK(cuMemcpyDtoH(c, dd, N * sizeof(float)));
    EXPECT(c[0] == 1.0f && c[N - 1] == 1.0f, "memsetD32");
    CHECK(cuMemsetD8(dd, 0, N * sizeof(float)));
    CHECK(cuMemcpyDtoH(c, dd, N * sizeof(float)));
    EXPECT(c[7] == 0.0f, "memsetD8");
    size_t free_mem = 0, total_mem = 0;
    CHECK(cuMemGetInfo(&free_mem, &total_mem));
    EXPECT(free_mem > 0 && free_mem <= total_mem, "cuMemGetInfo %zu of %zu", free_mem, total_mem);
    CUdeviceptr pitched;
    size_t pitch = 0;
    CHECK(cuMemAllocPitch(&pitched, &pitch, 1000, 8, 4));
    EXPECT(pitch >= 1000, "pitch %zu", pitch);
    CHECK(cuMemFree(pitched));

    /* a module from a real fatbin, and launches */
    void *image = read_file(argv[1], NULL);
    CUmodule module;
    CUfunction vadd, saxpy;
    CHECK(cuModuleLoadData(&module, image));
    CHECK(cuModuleGetFunction(&vadd, module, "_Z4vaddPKfS0_Pfi"));
    CHECK(cuModuleGetFunction(&saxpy, module, "_Z5saxpyfPKfPfi"));
    int n = N;
    void *params[] = { &da, &db, &dc, &n };
    CHECK(cuLaunchKernel(vadd, (N + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
    CHECK(cuCtxSynchronize());
    CHECK(cuMemcpyDtoH(c, dc, N * sizeof(float)));
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += c[i] != 3.0f * (float)i;
    EXPECT(bad == 0, "vadd: %d wrong", bad);

    /* streams, events, async copies and a launch through `extra` */
    CUstream stream;
    CUevent start, stop;
    CHECK(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
    CHECK(cuEventCreate(&start, CU_EVENT_DEFAULT));
    CHECK(cuEventCreate(&stop, CU_EVENT_DEFAULT));
    CHECK(cuEventRecord(start, stream));
    CHECK(cuMemcpyHtoDAsync(dc, b, N * sizeof(float), stream));
    /*
     * saxpy(float a, const float *x, float *y, int n) laid out as the CUDA ABI does: a@0, x@8, y@16,
     * n@24, 28 bytes. A real driver wants CU_LAUNCH_PARAM_BUFFER_SIZE to be exactly that.
     */
    unsigned char packed[28];
    float alpha = 0.5f;
    int count_n = N;
    memset(packed, 0, sizeof packed);
    memcpy(packed + 0, &alpha, sizeof alpha);
    memcpy(packed + 8, &da, sizeof da);
    memcpy(packed + 16, &dc, sizeof dc);
    memcpy(packed + 24, &count_n, sizeof count_n);
    size_t packed_size = sizeof packed;
    void *extra[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, packed, CU_LAUNCH_PARAM_BUFFER_SIZE, &packed_size, CU_LAUNCH_PARAM_END };
    CHECK(cuLaunchKernel(saxpy, (N + 255) / 256, 1, 1, 256, 1, 1, 0, stream, NULL, extra));
    memset(c, 0, N * sizeof(float));
    CHECK(cuMemcpyDtoHAsync(c, dc, N * sizeof(float), stream));
    CHECK(cuEventRecord(stop, stream));
    CHECK(cuStreamSynchronize(stream));
    CHECK(cuEventSynchronize(stop));
    float ms = -1;
    CHECK(cuEventElapsedTime(&ms, start, stop));
    EXPECT(ms >= 0.0f, "elapsed %f", ms);
    bad = 0;
    for (int i = 0; i < N; i++)
        bad += c[i] != 0.5f * (float)i + 2.0f * (float)i;
    EXPECT(bad == 0, "saxpy through extra + async copies: %d wrong", bad);
    CHECK(cuStreamQuery(stream));
    printf("stream work took %.3f ms\n", ms);

    /* the errors a real driver gives */
    CUdeviceptr nowhere;
    EXPECT(cuMemAlloc(&nowhere, (size_t)1 << 60) == CUDA_ERROR_OUT_OF_MEMORY, "huge allocation is OUT_OF_MEMORY");
    CUfunction missing;
    EXPECT(cuModuleGetFunction(&missing, module, "no_such_kernel") == CUDA_ERROR_NOT_FOUND, "unknown kernel is NOT_FOUND");
    EXPECT(cuStreamSynchronize((CUstream)(uintptr_t)0xdead0000beefull) == CUDA_ERROR_INVALID_HANDLE, "forged stream is INVALID_HANDLE");
    CUdevice nodev;
    EXPECT(cuDeviceGet(&nodev, count) == CUDA_ERROR_INVALID_DEVICE, "device past the count is INVALID_DEVICE");

    CHECK(cuEventDestroy(start));
    CHECK(cuEventDestroy(stop));
    CHECK(cuStreamDestroy(stream));
    CHECK(cuModuleUnload(module));
    CHECK(cuMemFree(da));
    CHECK(cuMemFree(db));
    CHECK(cuMemFree(dc));
    CHECK(cuMemFree(dd));
    CHECK(cuDevicePrimaryCtxRelease(dev));
    CHECK(cuDevicePrimaryCtxGetState(dev, &state_flags, &active));
    EXPECT(state_flags == CU_CTX_SCHED_BLOCKING_SYNC && active == 0, "primary context released: flags %u, active %d", state_flags, active);
    /* Everything freed, so that a run under LeakSanitizer reports only what the libraries leak. */
    free(image);
    free(a);
    free(b);
    free(c);
    printf("%s\n", failures == 0 ? "PASS" : "FAIL");
    return failures == 0 ? 0 : 1;
}
