/*
 * cuGetProcAddress: how cudart finds every driver entry point. A request names an API version (the
 * one its caller was written against) and whether it wants the per-thread-default-stream variant;
 * the answer is the newest variant not newer than that version. Each entry is checked at compile
 * time against cudaTypedefs.h's PFN_<name>_v<version>[_ptds|_ptsz] type for that version.
 *
 * Return codes as the real driver gives them (observed with driver 580 / CUDA 13.0, and as cuda.h
 * documents): _v2 answers CUDA_SUCCESS with *pfn NULL and the reason in *symbolStatus for a name it
 * does not know or a version too old for it; a version newer than the driver's is
 * CUDA_ERROR_INVALID_VALUE; a negative version means the newest. The 4-argument cuGetProcAddress
 * (CUDA 11.3) answers CUDA_ERROR_NOT_FOUND instead and leaves *pfn alone.
 */
#include "emu.h"

#include <cudaProfilerTypedefs.h>
#include <cudaTypedefs.h>
#include <limits.h>
#include <string.h>

typedef struct {
    const char *name;
    int version;                /* first API version this variant answers */
    bool per_thread;            /* the _ptds/_ptsz variant */
    void *fn;
} proc_entry;

#define TYPED(sym, type) ((void *)(1 ? (sym) : (type)0)) /* mismatching types do not compile */
#define P(name, ver, sym) { #name, ver, false, TYPED(sym, PFN_##name##_v##ver) }
#define PTDS(name, ver, sym) { #name, ver, true, TYPED(sym, PFN_##name##_v##ver##_ptds) }
#define PTSZ(name, ver, sym) { #name, ver, true, TYPED(sym, PFN_##name##_v##ver##_ptsz) }

static const proc_entry g_procs[] = {
    /* initialisation, errors, versions */
    P(cuInit, 2000, cuInit),
    P(cuDriverGetVersion, 2020, cuDriverGetVersion),
    P(cuGetErrorString, 6000, cuGetErrorString),
    P(cuGetErrorName, 6000, cuGetErrorName),
    P(cuGetProcAddress, 11030, cuGetProcAddress),
    P(cuGetProcAddress, 12000, cuGetProcAddress_v2),
    /* devices */
    P(cuDeviceGet, 2000, cuDeviceGet),
    P(cuDeviceGetCount, 2000, cuDeviceGetCount),
    P(cuDeviceGetName, 2000, cuDeviceGetName),
    P(cuDeviceGetUuid, 9020, cuDeviceGetUuid),
    P(cuDeviceGetUuid, 11040, cuDeviceGetUuid_v2),
    P(cuDeviceTotalMem, 3020, cuDeviceTotalMem_v2),
    P(cuDeviceGetAttribute, 2000, cuDeviceGetAttribute),
    P(cuDeviceGetProperties, 2000, cuDeviceGetProperties),
    P(cuDeviceComputeCapability, 2000, cuDeviceComputeCapability),
    P(cuDeviceGetPCIBusId, 4010, cuDeviceGetPCIBusId),
    P(cuDeviceGetByPCIBusId, 4010, cuDeviceGetByPCIBusId),
    P(cuDeviceGetDefaultMemPool, 11020, cuDeviceGetDefaultMemPool),
    P(cuDeviceCanAccessPeer, 4000, cuDeviceCanAccessPeer),
    /* primary contexts */
    P(cuDevicePrimaryCtxRetain, 7000, cuDevicePrimaryCtxRetain),
    P(cuDevicePrimaryCtxRelease, 7000, cuDevicePrimaryCtxRelease),
    P(cuDevicePrimaryCtxRelease, 11000, cuDevicePrimaryCtxRelease_v2),
    P(cuDevicePrimaryCtxSetFlags, 7000, cuDevicePrimaryCtxSetFlags),
    P(cuDevicePrimaryCtxSetFlags, 11000, cuDevicePrimaryCtxSetFlags_v2),
    P(cuDevicePrimaryCtxGetState, 7000, cuDevicePrimaryCtxGetState),
    P(cuDevicePrimaryCtxReset, 7000, cuDevicePrimaryCtxReset),
    P(cuDevicePrimaryCtxReset, 11000, cuDevicePrimaryCtxReset_v2),
    /* contexts */
    P(cuCtxCreate, 2000, cuCtxCreate),
    P(cuCtxCreate, 3020, cuCtxCreate_v2),
    P(cuCtxCreate, 11040, cuCtxCreate_v3),
    P(cuCtxCreate, 12050, cuCtxCreate_v4),
    P(cuCtxDestroy, 2000, cuCtxDestroy),
    P(cuCtxDestroy, 4000, cuCtxDestroy_v2),
    P(cuCtxPushCurrent, 2000, cuCtxPushCurrent),
    P(cuCtxPushCurrent, 4000, cuCtxPushCurrent_v2),
    P(cuCtxPopCurrent, 2000, cuCtxPopCurrent),
    P(cuCtxPopCurrent, 4000, cuCtxPopCurrent_v2),
    P(cuCtxSetCurrent, 4000, cuCtxSetCurrent),
    P(cuCtxGetCurrent, 4000, cuCtxGetCurrent),
    P(cuCtxGetDevice, 2000, cuCtxGetDevice),
    P(cuCtxGetDevice, 13000, cuCtxGetDevice_v2),
    P(cuCtxGetFlags, 7000, cuCtxGetFlags),
    P(cuCtxSetFlags, 12010, cuCtxSetFlags),
    P(cuCtxGetId, 12000, cuCtxGetId),
    P(cuCtxSynchronize, 2000, cuCtxSynchronize),
    P(cuCtxSynchronize, 13000, cuCtxSynchronize_v2),
    P(cuCtxSetLimit, 3010, cuCtxSetLimit),
    P(cuCtxGetLimit, 3010, cuCtxGetLimit),
    P(cuCtxGetCacheConfig, 3020, cuCtxGetCacheConfig),
    P(cuCtxSetCacheConfig, 3020, cuCtxSetCacheConfig),
    P(cuCtxGetSharedMemConfig, 4020, cuCtxGetSharedMemConfig),
    P(cuCtxSetSharedMemConfig, 4020, cuCtxSetSharedMemConfig),
    P(cuCtxGetApiVersion, 3020, cuCtxGetApiVersion),
    P(cuCtxGetStreamPriorityRange, 5050, cuCtxGetStreamPriorityRange),
    P(cuCtxResetPersistingL2Cache, 11000, cuCtxResetPersistingL2Cache),
    /* modules */
    P(cuModuleLoad, 2000, cuModuleLoad),
    P(cuModuleLoadData, 2000, cuModuleLoadData),
    P(cuModuleLoadDataEx, 2010, cuModuleLoadDataEx),
    P(cuModuleLoadFatBinary, 2000, cuModuleLoadFatBinary),
    P(cuModuleUnload, 2000, cuModuleUnload),
    P(cuModuleGetFunction, 2000, cuModuleGetFunction),
    P(cuModuleGetGlobal, 3020, cuModuleGetGlobal_v2),
    P(cuModuleGetLoadingMode, 11070, cuModuleGetLoadingMode),
    P(cuModuleGetFunctionCount, 12040, cuModuleGetFunctionCount),
    P(cuModuleEnumerateFunctions, 12040, cuModuleEnumerateFunctions),
    /* libraries and kernels */
    P(cuLibraryLoadData, 12000, cuLibraryLoadData),
    P(cuLibraryLoadFromFile, 12000, cuLibraryLoadFromFile),
    P(cuLibraryUnload, 12000, cuLibraryUnload),
    P(cuLibraryGetKernel, 12000, cuLibraryGetKernel),
    P(cuLibraryGetKernelCount, 12040, cuLibraryGetKernelCount),
    P(cuLibraryEnumerateKernels, 12040, cuLibraryEnumerateKernels),
    P(cuLibraryGetModule, 12000, cuLibraryGetModule),
    P(cuLibraryGetGlobal, 12000, cuLibraryGetGlobal),
    P(cuLibraryGetManaged, 12000, cuLibraryGetManaged),
    P(cuKernelGetFunction, 12000, cuKernelGetFunction),
    P(cuKernelGetLibrary, 12050, cuKernelGetLibrary),
    P(cuKernelGetAttribute, 12000, cuKernelGetAttribute),
    P(cuKernelSetAttribute, 12000, cuKernelSetAttribute),
    P(cuKernelSetCacheConfig, 12000, cuKernelSetCacheConfig),
    P(cuKernelGetName, 12030, cuKernelGetName),
    P(cuKernelGetParamInfo, 12040, cuKernelGetParamInfo),
    /* functions */
    P(cuFuncGetAttribute, 2020, cuFuncGetAttribute),
    P(cuStreamGetAttribute, 11000, cuStreamGetAttribute),
    PTSZ(cuStreamGetAttribute, 11000, cuStreamGetAttribute_ptsz),
    P(cuStreamSetAttribute, 11000, cuStreamSetAttribute),
    PTSZ(cuStreamSetAttribute, 11000, cuStreamSetAttribute_ptsz),
    P(cuProfilerStart, 4000, cuProfilerStart),
    P(cuProfilerStop, 4000, cuProfilerStop),
    P(cuLaunchHostFunc, 10000, cuLaunchHostFunc),
    PTSZ(cuLaunchHostFunc, 10000, cuLaunchHostFunc_ptsz),
    P(cuStreamAddCallback, 5000, cuStreamAddCallback),
    PTSZ(cuStreamAddCallback, 7000, cuStreamAddCallback_ptsz),
    P(cuOccupancyMaxActiveBlocksPerMultiprocessor, 6050, cuOccupancyMaxActiveBlocksPerMultiprocessor),
    P(cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags, 7000, cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags),
    P(cuFuncSetAttribute, 9000, cuFuncSetAttribute),
    P(cuFuncSetCacheConfig, 3000, cuFuncSetCacheConfig),
    P(cuFuncSetSharedMemConfig, 4020, cuFuncSetSharedMemConfig),
    P(cuFuncGetName, 12030, cuFuncGetName),
    P(cuFuncGetParamInfo, 12040, cuFuncGetParamInfo),
    P(cuFuncGetModule, 11000, cuFuncGetModule),
    P(cuFuncIsLoaded, 12040, cuFuncIsLoaded),
    P(cuFuncLoad, 12040, cuFuncLoad),
    /* memory */
    P(cuMemGetInfo, 3020, cuMemGetInfo_v2),
    P(cuMemAlloc, 3020, cuMemAlloc_v2),
    P(cuMemAllocPitch, 3020, cuMemAllocPitch_v2),
    P(cuMemFree, 3020, cuMemFree_v2),
    P(cuMemGetAddressRange, 3020, cuMemGetAddressRange_v2),
    P(cuMemAllocHost, 3020, cuMemAllocHost_v2),
    P(cuMemFreeHost, 2000, cuMemFreeHost),
    P(cuMemHostAlloc, 2020, cuMemHostAlloc),
    P(cuMemHostGetDevicePointer, 3020, cuMemHostGetDevicePointer_v2),
    P(cuMemHostGetFlags, 2030, cuMemHostGetFlags),
    P(cuMemHostRegister, 6050, cuMemHostRegister_v2),
    P(cuMemHostUnregister, 4000, cuMemHostUnregister),
    P(cuMemAllocManaged, 6000, cuMemAllocManaged),
    P(cuPointerGetAttribute, 4000, cuPointerGetAttribute),
    P(cuPointerGetAttributes, 7000, cuPointerGetAttributes),
    /* arrays */
    P(cuArrayCreate, 3020, cuArrayCreate_v2),
    P(cuArrayGetDescriptor, 3020, cuArrayGetDescriptor_v2),
    P(cuArray3DCreate, 3020, cuArray3DCreate_v2),
    P(cuArray3DGetDescriptor, 3020, cuArray3DGetDescriptor_v2),
    P(cuArrayDestroy, 2000, cuArrayDestroy),
    P(cuMipmappedArrayCreate, 5000, cuMipmappedArrayCreate),
    P(cuMipmappedArrayGetLevel, 5000, cuMipmappedArrayGetLevel),
    P(cuMipmappedArrayDestroy, 5000, cuMipmappedArrayDestroy),
    P(cuMemcpyHtoA, 3020, cuMemcpyHtoA_v2),
    PTDS(cuMemcpyHtoA, 7000, cuMemcpyHtoA_v2_ptds),
    P(cuMemcpyAtoH, 3020, cuMemcpyAtoH_v2),
    PTDS(cuMemcpyAtoH, 7000, cuMemcpyAtoH_v2_ptds),
    P(cuMemcpyAtoD, 3020, cuMemcpyAtoD_v2),
    PTDS(cuMemcpyAtoD, 7000, cuMemcpyAtoD_v2_ptds),
    P(cuMemcpyDtoA, 3020, cuMemcpyDtoA_v2),
    PTDS(cuMemcpyDtoA, 7000, cuMemcpyDtoA_v2_ptds),
    P(cuMemcpyAtoA, 3020, cuMemcpyAtoA_v2),
    PTDS(cuMemcpyAtoA, 7000, cuMemcpyAtoA_v2_ptds),
    /* stream-ordered allocation and memory pools */
    P(cuMemAllocAsync, 11020, cuMemAllocAsync),
    PTSZ(cuMemAllocAsync, 11020, cuMemAllocAsync_ptsz),
    P(cuMemAllocFromPoolAsync, 11020, cuMemAllocFromPoolAsync),
    PTSZ(cuMemAllocFromPoolAsync, 11020, cuMemAllocFromPoolAsync_ptsz),
    P(cuMemFreeAsync, 11020, cuMemFreeAsync),
    PTSZ(cuMemFreeAsync, 11020, cuMemFreeAsync_ptsz),
    P(cuMemPoolCreate, 11020, cuMemPoolCreate),
    P(cuMemPoolDestroy, 11020, cuMemPoolDestroy),
    P(cuMemPoolTrimTo, 11020, cuMemPoolTrimTo),
    P(cuMemPoolSetAttribute, 11020, cuMemPoolSetAttribute),
    P(cuMemPoolGetAttribute, 11020, cuMemPoolGetAttribute),
    P(cuDeviceGetMemPool, 11020, cuDeviceGetMemPool),
    P(cuDeviceSetMemPool, 11020, cuDeviceSetMemPool),
    /* virtual memory management */
    P(cuMemAddressReserve, 10020, cuMemAddressReserve),
    P(cuMemAddressFree, 10020, cuMemAddressFree),
    P(cuMemCreate, 10020, cuMemCreate),
    P(cuMemRelease, 10020, cuMemRelease),
    P(cuMemMap, 10020, cuMemMap),
    P(cuMemUnmap, 10020, cuMemUnmap),
    P(cuMemSetAccess, 10020, cuMemSetAccess),
    P(cuMemGetAccess, 10020, cuMemGetAccess),
    P(cuMemGetAllocationGranularity, 10020, cuMemGetAllocationGranularity),
    P(cuMemGetAllocationPropertiesFromHandle, 10020, cuMemGetAllocationPropertiesFromHandle),
    /* copies */
    P(cuMemcpy, 4000, cuMemcpy),
    PTDS(cuMemcpy, 7000, cuMemcpy_ptds),
    P(cuMemcpyAsync, 4000, cuMemcpyAsync),
    PTSZ(cuMemcpyAsync, 7000, cuMemcpyAsync_ptsz),
    P(cuMemcpyHtoD, 3020, cuMemcpyHtoD_v2),
    PTDS(cuMemcpyHtoD, 7000, cuMemcpyHtoD_v2_ptds),
    P(cuMemcpyDtoH, 3020, cuMemcpyDtoH_v2),
    PTDS(cuMemcpyDtoH, 7000, cuMemcpyDtoH_v2_ptds),
    P(cuMemcpyDtoD, 3020, cuMemcpyDtoD_v2),
    PTDS(cuMemcpyDtoD, 7000, cuMemcpyDtoD_v2_ptds),
    P(cuMemcpyHtoDAsync, 3020, cuMemcpyHtoDAsync_v2),
    PTSZ(cuMemcpyHtoDAsync, 7000, cuMemcpyHtoDAsync_v2_ptsz),
    P(cuMemcpyDtoHAsync, 3020, cuMemcpyDtoHAsync_v2),
    PTSZ(cuMemcpyDtoHAsync, 7000, cuMemcpyDtoHAsync_v2_ptsz),
    P(cuMemcpyDtoDAsync, 3020, cuMemcpyDtoDAsync_v2),
    PTSZ(cuMemcpyDtoDAsync, 7000, cuMemcpyDtoDAsync_v2_ptsz),
    P(cuMemcpy2D, 3020, cuMemcpy2D_v2),
    PTDS(cuMemcpy2D, 7000, cuMemcpy2D_v2_ptds),
    P(cuMemcpy2DUnaligned, 3020, cuMemcpy2DUnaligned_v2),
    PTDS(cuMemcpy2DUnaligned, 7000, cuMemcpy2DUnaligned_v2_ptds),
    P(cuMemcpy2DAsync, 3020, cuMemcpy2DAsync_v2),
    PTSZ(cuMemcpy2DAsync, 7000, cuMemcpy2DAsync_v2_ptsz),
    /* texture and surface objects (texture.c) */
    P(cuTexObjectCreate, 5000, cuTexObjectCreate),
    P(cuTexObjectDestroy, 5000, cuTexObjectDestroy),
    P(cuTexObjectGetResourceDesc, 5000, cuTexObjectGetResourceDesc),
    P(cuTexObjectGetTextureDesc, 5000, cuTexObjectGetTextureDesc),
    P(cuSurfObjectCreate, 5000, cuSurfObjectCreate),
    P(cuSurfObjectDestroy, 5000, cuSurfObjectDestroy),
    P(cuSurfObjectGetResourceDesc, 5000, cuSurfObjectGetResourceDesc),
    /* JIT linking (link.c) */
    P(cuLinkCreate, 6050, cuLinkCreate_v2),
    P(cuLinkAddData, 6050, cuLinkAddData_v2),
    P(cuLinkAddFile, 6050, cuLinkAddFile_v2),
    P(cuLinkComplete, 5050, cuLinkComplete),
    P(cuLinkDestroy, 5050, cuLinkDestroy),
    P(cuMemcpy3D, 3020, cuMemcpy3D_v2),
    PTDS(cuMemcpy3D, 7000, cuMemcpy3D_v2_ptds),
    P(cuMemcpy3DAsync, 3020, cuMemcpy3DAsync_v2),
    PTSZ(cuMemcpy3DAsync, 7000, cuMemcpy3DAsync_v2_ptsz),
    /* memsets */
    P(cuMemsetD8, 3020, cuMemsetD8_v2),
    PTDS(cuMemsetD8, 7000, cuMemsetD8_v2_ptds),
    P(cuMemsetD16, 3020, cuMemsetD16_v2),
    PTDS(cuMemsetD16, 7000, cuMemsetD16_v2_ptds),
    P(cuMemsetD32, 3020, cuMemsetD32_v2),
    PTDS(cuMemsetD32, 7000, cuMemsetD32_v2_ptds),
    P(cuMemsetD2D8, 3020, cuMemsetD2D8_v2),
    PTDS(cuMemsetD2D8, 7000, cuMemsetD2D8_v2_ptds),
    P(cuMemsetD2D16, 3020, cuMemsetD2D16_v2),
    PTDS(cuMemsetD2D16, 7000, cuMemsetD2D16_v2_ptds),
    P(cuMemsetD2D32, 3020, cuMemsetD2D32_v2),
    PTDS(cuMemsetD2D32, 7000, cuMemsetD2D32_v2_ptds),
    P(cuMemsetD8Async, 3020, cuMemsetD8Async),
    PTSZ(cuMemsetD8Async, 7000, cuMemsetD8Async_ptsz),
    P(cuMemsetD16Async, 3020, cuMemsetD16Async),
    PTSZ(cuMemsetD16Async, 7000, cuMemsetD16Async_ptsz),
    P(cuMemsetD32Async, 3020, cuMemsetD32Async),
    PTSZ(cuMemsetD32Async, 7000, cuMemsetD32Async_ptsz),
    P(cuMemsetD2D8Async, 3020, cuMemsetD2D8Async),
    PTSZ(cuMemsetD2D8Async, 7000, cuMemsetD2D8Async_ptsz),
    P(cuMemsetD2D16Async, 3020, cuMemsetD2D16Async),
    PTSZ(cuMemsetD2D16Async, 7000, cuMemsetD2D16Async_ptsz),
    P(cuMemsetD2D32Async, 3020, cuMemsetD2D32Async),
    PTSZ(cuMemsetD2D32Async, 7000, cuMemsetD2D32Async_ptsz),
    /* streams */
    P(cuStreamCreate, 2000, cuStreamCreate),
    P(cuStreamCreateWithPriority, 5050, cuStreamCreateWithPriority),
    P(cuStreamDestroy, 2000, cuStreamDestroy),
    P(cuStreamDestroy, 4000, cuStreamDestroy_v2),
    P(cuStreamGetPriority, 5050, cuStreamGetPriority),
    PTSZ(cuStreamGetPriority, 7000, cuStreamGetPriority_ptsz),
    P(cuStreamGetFlags, 5050, cuStreamGetFlags),
    PTSZ(cuStreamGetFlags, 7000, cuStreamGetFlags_ptsz),
    P(cuStreamGetCtx, 9020, cuStreamGetCtx),
    PTSZ(cuStreamGetCtx, 9020, cuStreamGetCtx_ptsz),
    P(cuStreamGetCtx, 12050, cuStreamGetCtx_v2),
    PTSZ(cuStreamGetCtx, 12050, cuStreamGetCtx_v2_ptsz),
    P(cuStreamGetId, 12000, cuStreamGetId),
    PTSZ(cuStreamGetId, 12000, cuStreamGetId_ptsz),
    P(cuStreamGetDevice, 12080, cuStreamGetDevice),
    PTSZ(cuStreamGetDevice, 12080, cuStreamGetDevice_ptsz),
    P(cuStreamWaitEvent, 3020, cuStreamWaitEvent),
    PTSZ(cuStreamWaitEvent, 7000, cuStreamWaitEvent_ptsz),
    P(cuStreamQuery, 2000, cuStreamQuery),
    PTSZ(cuStreamQuery, 7000, cuStreamQuery_ptsz),
    P(cuStreamSynchronize, 2000, cuStreamSynchronize),
    PTSZ(cuStreamSynchronize, 7000, cuStreamSynchronize_ptsz),
    /* events */
    P(cuEventCreate, 2000, cuEventCreate),
    P(cuEventRecord, 2000, cuEventRecord),
    PTSZ(cuEventRecord, 7000, cuEventRecord_ptsz),
    P(cuEventRecordWithFlags, 11010, cuEventRecordWithFlags),
    PTSZ(cuEventRecordWithFlags, 11010, cuEventRecordWithFlags_ptsz),
    P(cuEventQuery, 2000, cuEventQuery),
    P(cuEventSynchronize, 2000, cuEventSynchronize),
    P(cuEventDestroy, 2000, cuEventDestroy),
    P(cuEventDestroy, 4000, cuEventDestroy_v2),
    P(cuEventElapsedTime, 2000, cuEventElapsedTime),
    P(cuEventElapsedTime, 12080, cuEventElapsedTime_v2),
    /* launches */
    P(cuLaunchKernel, 4000, cuLaunchKernel),
    PTSZ(cuLaunchKernel, 7000, cuLaunchKernel_ptsz),
    P(cuLaunchKernelEx, 11060, cuLaunchKernelEx),
    PTSZ(cuLaunchKernelEx, 11060, cuLaunchKernelEx_ptsz),
    P(cuOccupancyMaxActiveClusters, 11070, cuOccupancyMaxActiveClusters),
    /* stream capture and graphs (graph.c) */
    P(cuStreamBeginCapture, 10010, cuStreamBeginCapture_v2),
    PTSZ(cuStreamBeginCapture, 10010, cuStreamBeginCapture_v2_ptsz),
    P(cuStreamEndCapture, 10000, cuStreamEndCapture),
    PTSZ(cuStreamEndCapture, 10000, cuStreamEndCapture_ptsz),
    P(cuStreamIsCapturing, 10000, cuStreamIsCapturing),
    PTSZ(cuStreamIsCapturing, 10000, cuStreamIsCapturing_ptsz),
    P(cuGraphGetNodes, 10000, cuGraphGetNodes),
    P(cuGraphInstantiateWithFlags, 11040, cuGraphInstantiateWithFlags),
    P(cuGraphLaunch, 10000, cuGraphLaunch),
    PTSZ(cuGraphLaunch, 10000, cuGraphLaunch_ptsz),
    P(cuGraphUpload, 11010, cuGraphUpload),
    PTSZ(cuGraphUpload, 11010, cuGraphUpload_ptsz),
    P(cuGraphDestroy, 10000, cuGraphDestroy),
    P(cuGraphExecDestroy, 10000, cuGraphExecDestroy),
    P(cuGraphExecUpdate, 12000, cuGraphExecUpdate_v2),
    /* graphs built node by node, conditional nodes (graph_cond.c) */
    P(cuGraphCreate, 10000, cuGraphCreate),
    P(cuGraphAddNode, 12030, cuGraphAddNode_v2),
    P(cuGraphConditionalHandleCreate, 12030, cuGraphConditionalHandleCreate),
    P(cuLaunchCooperativeKernel, 9000, cuLaunchCooperativeKernel),
    PTSZ(cuLaunchCooperativeKernel, 9000, cuLaunchCooperativeKernel_ptsz),
};

/* The newest variant of name in the requested class not newer than version. */
static const proc_entry *best(const char *name, int version, bool per_thread, bool *known)
{
    const proc_entry *pick = NULL;
    for (size_t i = 0; i < sizeof g_procs / sizeof g_procs[0]; i++) {
        const proc_entry *e = &g_procs[i];
        if (strcmp(e->name, name) != 0)
            continue;
        *known = true;
        if (e->per_thread == per_thread && e->version <= version && (pick == NULL || e->version > pick->version))
            pick = e;
    }
    return pick;
}

static CUresult lookup(const char *symbol, int cudaVersion, cuuint64_t flags, const proc_entry **out,
                       CUdriverProcAddressQueryResult *status)
{
    const cuuint64_t known_flags = CU_GET_PROC_ADDRESS_LEGACY_STREAM | CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
    if (symbol == NULL || (flags & ~known_flags) != 0 || cudaVersion > emu_driver_version())
        return CUDA_ERROR_INVALID_VALUE;
    int version = cudaVersion < 0 ? INT_MAX : cudaVersion;
    bool known = false, per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    const proc_entry *e = per_thread ? best(symbol, version, true, &known) : NULL;
    /* Calls that take no stream have no per-thread variant: the plain one serves both. */
    if (e == NULL)
        e = best(symbol, version, false, &known);
    *out = e;
    *status = e != NULL ? CU_GET_PROC_ADDRESS_SUCCESS
              : known   ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
                        : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return CUDA_SUCCESS;
}

/* Works before cuInit: cudart fetches cuInit itself through it. */
CUresult CUDAAPI cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                                     CUdriverProcAddressQueryResult *symbolStatus)
{
    const proc_entry *e;
    CUdriverProcAddressQueryResult status;
    if (pfn == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = lookup(symbol, cudaVersion, flags, &e, &status);
    if (rc != CUDA_SUCCESS)
        return rc;
    *pfn = e != NULL ? e->fn : NULL;
    if (symbolStatus != NULL)
        *symbolStatus = status;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
    const proc_entry *e;
    CUdriverProcAddressQueryResult status;
    if (pfn == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = lookup(symbol, cudaVersion, flags, &e, &status);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (e == NULL)
        return CUDA_ERROR_NOT_FOUND;
    *pfn = e->fn;
    return CUDA_SUCCESS;
}
