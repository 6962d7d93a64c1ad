/*
 * Stream capture's state, answered in the client: capture is carried (cuStreamBeginCapture and
 * cuStreamEndCapture travel, the daemon's driver captures and replays), and the client records which
 * of its streams capture, with an id of its own for each capture. Frameworks' caching allocators ask
 * on every allocation (cudaStreamIsCapturing, cudaStreamGetCaptureInfo), so the answer must not cost a
 * round trip. The graph being built stays on the daemon until the capture ends: GetCaptureInfo answers
 * it, and the capture's dependencies, as NULL and none.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stddef.h>

#include "call.h"
#include "gp_shim_decls.h"
#include "shim.h"

static __thread CUstreamCaptureMode tls_capture_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;

#define MAX_CAPTURES 64

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    CUstream stream;
    cuuint64_t id;
} g_captures[MAX_CAPTURES];
static size_t g_capture_count;
static cuuint64_t g_next_id = 1;

void gp_note_capture(CUstream stream, int capturing)
{
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_capture_count; i++) {
        if (g_captures[i].stream == stream) {
            g_captures[i] = g_captures[--g_capture_count];
            break;
        }
    }
    if (capturing && g_capture_count < MAX_CAPTURES) {
        g_captures[g_capture_count].stream = stream;
        g_captures[g_capture_count++].id = g_next_id++;
    }
    pthread_mutex_unlock(&g_lock);
}

/* The capture's id, or 0 when the stream is not capturing. */
static cuuint64_t capture_of(CUstream stream)
{
    cuuint64_t id = 0;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_capture_count; i++)
        if (g_captures[i].stream == stream)
            id = g_captures[i].id;
    pthread_mutex_unlock(&g_lock);
    return id;
}

/*
 * Work that names the job's host memory or functions cannot join a capture made on the daemon: the
 * captured graph would name the daemon's staging buffers, or run the function at capture time. Refused
 * by name; graphs built node by node carry such nodes (native/shim/graph.c).
 */
CUresult gp_refuse_host_work_in_capture(const char *call, CUstream stream)
{
    if (capture_of(stream) == 0)
        return CUDA_SUCCESS;
    gp_error("%s: host memory and host functions in a stream capture are not carried by gpupool (the capture is made on the "
             "daemon); build the graph node by node instead (cuGraphAddMemcpyNode, cuGraphAddHostNode). It returned "
             "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", call);
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
}

static CUresult capture_status(CUstream stream, CUstreamCaptureStatus *status, cuuint64_t *id)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (status == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    cuuint64_t capture = capture_of(stream);
    *status = capture != 0 ? CU_STREAM_CAPTURE_STATUS_ACTIVE : CU_STREAM_CAPTURE_STATUS_NONE;
    if (id)
        *id = capture;
    return CUDA_SUCCESS;
}

static CUresult not_capturing(CUstream stream, CUstreamCaptureStatus *status) { return capture_status(stream, status, NULL); }

/* What the client knows of a capture: its status and id; the graph and dependencies stay on the daemon. */
static CUresult no_capture(CUstream stream, CUstreamCaptureStatus *status, cuuint64_t *id, CUgraph *graph, const CUgraphNode **deps,
                           const CUgraphEdgeData **edges, size_t *count)
{
    CUresult rc = capture_status(stream, status, id);
    if (rc != CUDA_SUCCESS)
        return rc;
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

CUresult gp_local_cuStreamIsCapturing_v10000(CUstream s, CUstreamCaptureStatus *st) { return not_capturing(s, st); }
CUresult gp_local_cuStreamIsCapturing_v10000_ptsz(CUstream s, CUstreamCaptureStatus *st) { return not_capturing(s, st); }

CUresult gp_local_cuStreamGetCaptureInfo_v10010(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id)
{
    return no_capture(s, st, id, NULL, NULL, NULL, NULL);
}

CUresult gp_local_cuStreamGetCaptureInfo_v10010_ptsz(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id)
{
    return no_capture(s, st, id, NULL, NULL, NULL, NULL);
}

CUresult gp_local_cuStreamGetCaptureInfo_v11030(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *g, const CUgraphNode **d, size_t *n)
{
    return no_capture(s, st, id, g, d, NULL, n);
}

CUresult gp_local_cuStreamGetCaptureInfo_v11030_ptsz(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *g, const CUgraphNode **d,
                                                     size_t *n)
{
    return no_capture(s, st, id, g, d, NULL, n);
}

CUresult gp_local_cuStreamGetCaptureInfo_v12030(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *g, const CUgraphNode **d,
                                                const CUgraphEdgeData **e, size_t *n)
{
    return no_capture(s, st, id, g, d, e, n);
}

CUresult gp_local_cuStreamGetCaptureInfo_v12030_ptsz(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *g, const CUgraphNode **d,
                                                     const CUgraphEdgeData **e, size_t *n)
{
    return no_capture(s, st, id, g, d, e, n);
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
