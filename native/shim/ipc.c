/*
 * Inter-process handles (CUDA IPC, shareable memory and pool handles) name memory by what only the
 * daemon's host can open: a file descriptor or a driver handle of the daemon's process. A job under
 * gpupool runs on another host, or at least in another process than the memory's owner, so none can
 * work over the wire. Each answers CUDA_ERROR_NOT_SUPPORTED and says so in one line, once, naming the
 * call; frameworks fall back on this error (PyTorch shares tensors between processes through the host
 * instead), and looking them up must succeed, since PyTorch's driver table asserts they exist.
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "call.h"
#include "gp_shim_decls.h"
#include "shim.h"

static CUresult no_ipc(const char *call)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    static const char *said[16];
    static int count;
    int seen = 0;
    /* Racing threads may both print: one line more is harmless, a lock on this path is not needed. */
    for (int i = 0; i < count && i < 16; i++)
        seen |= said[i] == call;
    if (!seen) {
        if (count < 16)
            said[count++] = call;
        fprintf(stderr, "gpupool: %s is not supported: an IPC handle names memory only the daemon's host can open, "
                        "and this job reaches its card over the network; it returned CUDA_ERROR_NOT_SUPPORTED\n",
                call);
    }
    return CUDA_ERROR_NOT_SUPPORTED;
}

CUresult gp_local_cuIpcGetMemHandle_v4010(CUipcMemHandle *pHandle, CUdeviceptr dptr)
{
    (void)pHandle, (void)dptr;
    return no_ipc("cuIpcGetMemHandle");
}

CUresult gp_local_cuIpcOpenMemHandle_v11000(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags)
{
    (void)pdptr, (void)handle, (void)Flags;
    return no_ipc("cuIpcOpenMemHandle");
}

CUresult gp_local_cuIpcCloseMemHandle_v4010(CUdeviceptr dptr)
{
    (void)dptr;
    return no_ipc("cuIpcCloseMemHandle");
}

CUresult gp_local_cuIpcGetEventHandle_v4010(CUipcEventHandle *pHandle, CUevent event)
{
    (void)pHandle, (void)event;
    return no_ipc("cuIpcGetEventHandle");
}

CUresult gp_local_cuIpcOpenEventHandle_v4010(CUevent *phEvent, CUipcEventHandle handle)
{
    (void)phEvent, (void)handle;
    return no_ipc("cuIpcOpenEventHandle");
}

CUresult gp_local_cuMemExportToShareableHandle_v10020(void *shareableHandle, CUmemGenericAllocationHandle handle,
                                                      CUmemAllocationHandleType handleType, unsigned long long flags)
{
    (void)shareableHandle, (void)handle, (void)handleType, (void)flags;
    return no_ipc("cuMemExportToShareableHandle");
}

CUresult gp_local_cuMemImportFromShareableHandle_v10020(CUmemGenericAllocationHandle *handle, void *osHandle,
                                                        CUmemAllocationHandleType shHandleType)
{
    (void)handle, (void)osHandle, (void)shHandleType;
    return no_ipc("cuMemImportFromShareableHandle");
}

CUresult gp_local_cuMemPoolExportToShareableHandle_v11020(void *handle_out, CUmemoryPool pool, CUmemAllocationHandleType handleType,
                                                          unsigned long long flags)
{
    (void)handle_out, (void)pool, (void)handleType, (void)flags;
    return no_ipc("cuMemPoolExportToShareableHandle");
}

CUresult gp_local_cuMemPoolImportFromShareableHandle_v11020(CUmemoryPool *pool_out, void *handle, CUmemAllocationHandleType handleType,
                                                            unsigned long long flags)
{
    (void)pool_out, (void)handle, (void)handleType, (void)flags;
    return no_ipc("cuMemPoolImportFromShareableHandle");
}

CUresult gp_local_cuMemPoolExportPointer_v11020(CUmemPoolPtrExportData *shareData_out, CUdeviceptr ptr)
{
    (void)shareData_out, (void)ptr;
    return no_ipc("cuMemPoolExportPointer");
}

CUresult gp_local_cuMemPoolImportPointer_v11020(CUdeviceptr *ptr_out, CUmemoryPool pool, CUmemPoolPtrExportData *shareData)
{
    (void)ptr_out, (void)pool, (void)shareData;
    return no_ipc("cuMemPoolImportPointer");
}
