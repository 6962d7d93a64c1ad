/* Peer attributes between a job's devices. */
#include "client.h"
#include "gp_shim_decls.h"
#include "shim.h"

/*
 * As cuDeviceCanAccessPeer answers (capture.c): a client's devices never map each other's memory (peer
 * copies travel through the client library), so no peer attribute is offered, between devices of one
 * daemon or of two.
 */
CUresult gp_local_cuDeviceGetP2PAttribute_v8000(int *value, CUdevice_P2PAttribute attrib, CUdevice srcDevice, CUdevice dstDevice)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (value == NULL || attrib < CU_DEVICE_P2P_ATTRIBUTE_PERFORMANCE_RANK ||
        attrib > CU_DEVICE_P2P_ATTRIBUTE_ONLY_PARTIAL_NATIVE_ATOMIC_SUPPORTED)
        return CUDA_ERROR_INVALID_VALUE;
    if (gp_device_get(srcDevice) == NULL || gp_device_get(dstDevice) == NULL)
        return CUDA_ERROR_INVALID_DEVICE;
    if (srcDevice == dstDevice)
        return CUDA_ERROR_INVALID_DEVICE; /* the driver refuses a device with itself */
    *value = 0;
    return CUDA_SUCCESS;
}

/* What cuDeviceCanAccessPeer's 0 promises: no context maps another's memory, as on cards with no peer path. */
static CUresult peer_context(CUcontext peer)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    CUcontext self = gp_tls_context();
    if (self == NULL)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (peer == NULL || gp_context_device(peer) < 0)
        return CUDA_ERROR_INVALID_CONTEXT;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuCtxEnablePeerAccess_v4000(CUcontext peerContext, unsigned int Flags)
{
    CUresult rc = peer_context(peerContext);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (Flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_ERROR_PEER_ACCESS_UNSUPPORTED;
}

CUresult gp_local_cuCtxDisablePeerAccess_v4000(CUcontext peerContext)
{
    CUresult rc = peer_context(peerContext);
    return rc != CUDA_SUCCESS ? rc : CUDA_ERROR_PEER_ACCESS_NOT_ENABLED;
}
