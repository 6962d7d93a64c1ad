/*
 * The driver's log callbacks (cuLogsRegisterCallback, CUDA 12.9). cuBLAS 13 registers one when it
 * creates a handle. The driver whose messages these callbacks would carry runs in the daemon's process,
 * and its log is the daemon's, never a job's; this process has no driver log of its own. A
 * registration is therefore kept, answered with a handle, and never called, as a driver that logs
 * nothing answers; unregistering frees it.
 */
#include "gp_shim_decls.h"
#include "shim.h"

#include <stdlib.h>

struct gp_logs_callback {
    CUlogsCallback fn;
    void *user_data;
};

CUresult gp_local_cuLogsRegisterCallback_v12090(CUlogsCallback callbackFunc, void *userData, CUlogsCallbackHandle *callback)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!callbackFunc || !callback)
        return CUDA_ERROR_INVALID_VALUE;
    struct gp_logs_callback *registered = malloc(sizeof *registered);
    if (!registered)
        return CUDA_ERROR_OUT_OF_MEMORY;
    registered->fn = callbackFunc;
    registered->user_data = userData;
    *callback = (CUlogsCallbackHandle)registered;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuLogsUnregisterCallback_v12090(CUlogsCallbackHandle callback)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!callback)
        return CUDA_ERROR_INVALID_VALUE;
    free(callback);
    return CUDA_SUCCESS;
}
