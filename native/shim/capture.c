/*
 * Stream capture (CUDA graphs) is not carried, so no stream is ever capturing. Frameworks' caching
 * allocators ask on every allocation (cudaStreamIsCapturing, cudaStreamGetCaptureInfo), and cudart
 * turns a missing entry point into cudaErrorCallRequiresNewerDriver: these answers keep them going.
 */
#define _GNU_SOURCE
#include <stddef.h>

#include "call.h"
#include "gp_shim_decls.h"
#include "shim.h"

static __thread CUstreamCaptureMode tls_capture_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;

static CUresult not_capturing(CUstreamCaptureStatus *status)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (status == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *status = CU_STREAM_CAPTURE_STATUS_NONE;
    return CUDA_SUCCESS;
}

/* Everything a capture would describe is empty. */
static CUresult no_capture(CUstreamCaptureStatus *status, cuuint64_t *id, CUgraph *graph, const CUgraphNode **deps,
                           const CUgraphEdgeData **edges, size_t *count)
{
    CUresult rc = not_capturing(status);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (id)
        *id = 0;
    if (graph)
        *graph = NULL;
    if (deps)
        *deps = NULL;
    if (edges)
        *edges = NULL;
    if (count)
        *count = 0;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuStreamIsCapturing_v10000(CUstream s, CUstreamCaptureStatus *st) { (void)s; return not_capturing(st); }
CUresult gp_local_cuStreamIsCapturing_v10000_ptsz(CUstream s, CUstreamCaptureStatus *st) { (void)s; return not_capturing(st); }

CUresult gp_local_cuStreamGetCaptureInfo_v10010(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id)
{
    (void)s;
    return no_capture(st, id, NULL, NULL, NULL, NULL);
}

CUresult gp_local_cuStreamGetCaptureInfo_v10010_ptsz(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id)
{
    (void)s;
    return no_capture(st, id, NULL, NULL, NULL, NULL);
}

CUresult gp_local_cuStreamGetCaptureInfo_v11030(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *g, const CUgraphNode **d, size_t *n)
{
    (void)s;
    return no_capture(st, id, g, d, NULL, n);
}

CUresult gp_local_cuStreamGetCaptureInfo_v11030_ptsz(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *g, const CUgraphNode **d,
                                                     size_t *n)
{
    (void)s;
    return no_capture(st, id, g, d, NULL, n);
}

CUresult gp_local_cuStreamGetCaptureInfo_v12030(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *g, const CUgraphNode **d,
                                                const CUgraphEdgeData **e, size_t *n)
{
    (void)s;
    return no_capture(st, id, g, d, e, n);
}

CUresult gp_local_cuStreamGetCaptureInfo_v12030_ptsz(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *g, const CUgraphNode **d,
                                                     const CUgraphEdgeData **e, size_t *n)
{
    (void)s;
    return no_capture(st, id, g, d, e, n);
}

/* The thread's capture mode is kept (a program may set and restore it) though nothing captures. */
CUresult gp_local_cuThreadExchangeStreamCaptureMode_v10010(CUstreamCaptureMode *mode)
{
    if (mode == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUstreamCaptureMode previous = tls_capture_mode;
    tls_capture_mode = *mode;
    *mode = previous;
    return CUDA_SUCCESS;
}

/* A client's devices never map each other's memory: peer copies travel through the client library. */
CUresult gp_local_cuDeviceCanAccessPeer_v4000(int *canAccessPeer, CUdevice dev, CUdevice peerDev)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (canAccessPeer == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (gp_device_get(dev) == NULL || gp_device_get(peerDev) == NULL)
        return CUDA_ERROR_INVALID_DEVICE;
    *canAccessPeer = 0;
    return CUDA_SUCCESS;
}
