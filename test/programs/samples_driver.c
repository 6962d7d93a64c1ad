/*
 * The driver-API surface NVIDIA's cuda-samples use that gpupool once lacked (issue 11), run unmodified
 * through gpupool: CUDA 13's cuCtxCreate (_v4), the profiler's markers, occupancy (the potential block
 * size with a callback that runs here, and a library kernel used as a function), a card that does not
 * claim to map host memory, the legacy unversioned symbols a dlopen-based loader asks for, and a call
 * gpupool does not carry, fetched through cuGetProcAddress and used twice.
 * Usage: samples_driver KERNELS.fatbin
 */
#define _GNU_SOURCE
#include "cuda_check.h"
#include "expect.h"
#include <cudaProfiler.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int callback_calls;

/* Dynamic shared memory by block size, as a sample's callback would give it. */
static size_t smem_for(int block_size)
{
    callback_calls++;
    return (size_t)block_size * sizeof(float);
}

static void never_logged(void *data, CUlogLevel level, char *message, size_t length)
{
    (void)data, (void)level, (void)message, (void)length;
    fprintf(stderr, "a driver log callback was called\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s KERNELS.fatbin\n", argv[0]);
        return 2;
    }
    CHECK(cuInit(0));
    CUdevice dev;
    CHECK(cuDeviceGet(&dev, 0));

    /* cuda.h 13 maps cuCtxCreate to cuCtxCreate_v4. */
    CUcontext ctx = NULL, current = NULL;
    CHECK(cuCtxCreate(&ctx, NULL, 0, dev));
    CHECK(cuCtxGetCurrent(&current));
    expect(ctx != NULL && current == ctx, "cuCtxCreate_v4 makes a current context");
    CUdeviceptr probe;
    CHECK(cuMemAlloc(&probe, 4096));
    CHECK(cuMemFree(probe));
    CUexecAffinityParam affinity = {.type = CU_EXEC_AFFINITY_TYPE_SM_COUNT, .param.smCount.val = 1};
    CUctxCreateParams params = {.execAffinityParams = &affinity, .numExecAffinityParams = 1};
    CUcontext refused = NULL;
    expect(cuCtxCreate(&refused, &params, 0, dev) == CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY && refused == NULL,
           "cuCtxCreate_v4 with execution affinity is refused");

    expect(cuProfilerStart() == CUDA_SUCCESS && cuProfilerStop() == CUDA_SUCCESS, "cuProfilerStart/Stop");
    expect(cuCtxResetPersistingL2Cache() == CUDA_SUCCESS, "cuCtxResetPersistingL2Cache");

    /* cuBLAS registers one when it makes a handle: kept, never called (the driver's log is the daemon's). */
    CUlogsCallbackHandle logs = NULL;
    expect(cuLogsRegisterCallback(never_logged, NULL, &logs) == CUDA_SUCCESS && logs != NULL &&
               cuLogsUnregisterCallback(logs) == CUDA_SUCCESS &&
               cuLogsRegisterCallback(NULL, NULL, &logs) == CUDA_ERROR_INVALID_VALUE,
           "cuLogsRegisterCallback/Unregister");

    int can_map = -1;
    CHECK(cuDeviceGetAttribute(&can_map, CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY, dev));
    void *host = NULL;
    CUdeviceptr mapped = 0;
    CHECK(cuMemHostAlloc(&host, 4096, CU_MEMHOSTALLOC_DEVICEMAP));
    expect(can_map == 0 && cuMemHostGetDevicePointer(&mapped, host, 0) == CUDA_ERROR_NOT_SUPPORTED,
           "CAN_MAP_HOST_MEMORY 0 and no device pointer for host memory");
    CHECK(cuMemFreeHost(host));

    /* Occupancy of a module's function and of a library's kernel used as a function (cudart does so). */
    size_t size = 0;
    void *image = read_file(argv[1], &size);
    CUmodule module;
    CUfunction vadd;
    CHECK(cuModuleLoadData(&module, image));
    CHECK(cuModuleGetFunction(&vadd, module, "_Z4vaddPKfS0_Pfi"));
    int blocks = -1, max_threads = 0, sms = 0, per_sm = 0;
    CHECK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, vadd, 256, 0));
    CHECK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
    CHECK(cuDeviceGetAttribute(&per_sm, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR, dev));
    expect(blocks > 0 && blocks * 256 <= per_sm, "cuOccupancyMaxActiveBlocksPerMultiprocessor");
    int min_grid = 0, block_size = 0;
    CHECK(cuOccupancyMaxPotentialBlockSize(&min_grid, &block_size, vadd, smem_for, 0, 0));
    int at_best = 0;
    CHECK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&at_best, vadd, block_size, smem_for(block_size)));
    expect(block_size > 0 && block_size % 32 == 0 && callback_calls > 0 && min_grid == at_best * sms,
           "cuOccupancyMaxPotentialBlockSize with a callback");
    printf("potential block size %d, min grid %d, %d callbacks\n", block_size, min_grid, callback_calls);
    int limited = 0;
    CHECK(cuOccupancyMaxPotentialBlockSizeWithFlags(&min_grid, &limited, vadd, NULL, 0, 96, CU_OCCUPANCY_DEFAULT));
    expect(limited > 0 && limited <= 96, "cuOccupancyMaxPotentialBlockSizeWithFlags under a limit");

    CUlibrary library;
    CUkernel kernel;
    CHECK(cuLibraryLoadData(&library, image, NULL, NULL, 0, NULL, NULL, 0));
    CHECK(cuLibraryGetKernel(&kernel, library, "_Z4vaddPKfS0_Pfi"));
    int kernel_blocks = -1;
    CHECK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&kernel_blocks, (CUfunction)kernel, 256, 0));
    CHECK(cuFuncGetAttribute(&max_threads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, (CUfunction)kernel));
    expect(kernel_blocks == blocks && max_threads > 0, "a library kernel as a CUfunction");

    /* Module and library variables: the copies to them are the session's, and a kernel reads them. */
    CUdeviceptr coeffs = 0, calls = 0, lib_coeffs = 0;
    size_t coeffs_size = 0, calls_size = 0;
    CHECK(cuModuleGetGlobal(&coeffs, &coeffs_size, module, "poly_coeffs"));
    CHECK(cuModuleGetGlobal(&calls, NULL, module, "poly_calls"));
    CHECK(cuModuleGetGlobal(NULL, &calls_size, module, "poly_calls"));
    const float c[4] = {3.0f, 1.0f, 0.0f, 0.0f};
    CHECK(cuMemcpyHtoD(coeffs, c, sizeof c));
    float x[64], y[64];
    for (int i = 0; i < 64; i++)
        x[i] = (float)i;
    CUdeviceptr dx, dy;
    CHECK(cuMemAlloc(&dx, sizeof x));
    CHECK(cuMemAlloc(&dy, sizeof y));
    CHECK(cuMemcpyHtoD(dx, x, sizeof x));
    CUfunction poly;
    CHECK(cuModuleGetFunction(&poly, module, "_Z4polyPKfPfi"));
    int n = 64;
    void *args[] = {&dx, &dy, &n};
    CHECK(cuLaunchKernel(poly, 1, 1, 1, 64, 1, 1, 0, NULL, args, NULL));
    CHECK(cuMemcpyDtoH(y, dy, sizeof y));
    unsigned launched = 0;
    CHECK(cuMemcpyDtoH(&launched, calls, sizeof launched));
    expect(coeffs_size == sizeof c && calls_size == sizeof(unsigned) && y[10] == 13.0f && launched == 1,
           "cuModuleGetGlobal: a kernel reads what the host wrote");
    expect(cuMemcpyHtoD(coeffs + sizeof(float), c, sizeof c) == CUDA_ERROR_INVALID_VALUE,
           "a copy past a module variable is refused");
    expect(cuModuleGetGlobal(&calls, NULL, module, "no_such_variable") == CUDA_ERROR_NOT_FOUND,
           "an unknown variable is CUDA_ERROR_NOT_FOUND");
    size_t lib_size = 0;
    CHECK(cuLibraryGetGlobal(&lib_coeffs, &lib_size, library, "poly_coeffs"));
    CHECK(cuMemcpyHtoD(lib_coeffs, c, sizeof c));
    expect(lib_size == sizeof c && lib_coeffs != coeffs, "cuLibraryGetGlobal: the library's own variable");
    CHECK(cuMemFree(dx));
    CHECK(cuMemFree(dy));

    CHECK(cuLibraryUnload(library));
    CHECK(cuModuleUnload(module));
    expect(cuMemcpyHtoD(coeffs, c, sizeof c) != CUDA_SUCCESS, "an unloaded module's variable is no longer the program's");
    free(image);

    /* The legacy unversioned symbols, as cuda-samples' dynlink loader finds them. */
    void *lib = dlopen("libcuda.so.1", RTLD_NOW);
    typedef CUresult (*create_fn)(CUcontext *, unsigned, CUdevice);
    typedef CUresult (*destroy_fn)(CUcontext);
    create_fn legacy_create = lib ? (create_fn)dlsym(lib, "cuCtxCreate") : NULL;
    destroy_fn legacy_destroy = lib ? (destroy_fn)dlsym(lib, "cuCtxDestroy") : NULL;
    CUcontext old = NULL;
    expect(legacy_create != NULL && legacy_destroy != NULL && dlsym(lib, "cuCtxAttach") != NULL &&
               legacy_create(&old, 0, dev) == CUDA_SUCCESS && legacy_destroy(old) == CUDA_SUCCESS,
           "legacy cuCtxCreate/cuCtxDestroy by dlsym");

    /* A call gpupool does not carry is still handed out, and says so when used. */
    typedef CUresult (*luid_fn)(char *, unsigned int *, CUdevice);
    void *fn = NULL;
    CUdriverProcAddressQueryResult status;
    CHECK(cuGetProcAddress("cuDeviceGetLuid", &fn, 13000, CU_GET_PROC_ADDRESS_DEFAULT, &status));
    char luid[8];
    unsigned mask;
    expect(fn != NULL && status == CU_GET_PROC_ADDRESS_SUCCESS &&
               ((luid_fn)fn)(luid, &mask, dev) == CUDA_ERROR_NOT_SUPPORTED &&
               ((luid_fn)fn)(luid, &mask, dev) == CUDA_ERROR_NOT_SUPPORTED,
           "a call not carried answers CUDA_ERROR_NOT_SUPPORTED");

    CHECK(cuCtxDestroy(ctx));
    if (failures == 0)
        printf("PASS\n");
    return failures == 0 ? 0 : 1;
}
