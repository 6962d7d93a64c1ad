/*
 * Stream capture's state, answered in the client: the client records which of its streams capture
 * (the origin, and the streams that joined it by an event wait), with an id of its own for each
 * capture; where the capture is made, daemon or job, is capture_graph.c's. Frameworks' caching
 * allocators ask on every allocation (cudaStreamIsCapturing, cudaStreamGetCaptureInfo), so the answer
 * must not cost a round trip. GetCaptureInfo answers the graph being built and the capture's
 * dependencies from the job's record of it, which the capture becomes only when the program edits
 * that graph (capture_graph.c); a default stream's capture (the daemon's alone) answers NULL and none.
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

/* A stream that joined the origin's capture (an event wait): the same id. */
void gp_note_capture_join(CUstream stream, CUstream origin)
{
    pthread_mutex_lock(&g_lock);
    cuuint64_t id = 0;
    for (size_t i = 0; i < g_capture_count; i++)
        if (g_captures[i].stream == origin)
            id = g_captures[i].id;
    if (id != 0 && g_capture_count < MAX_CAPTURES) {
        g_captures[g_capture_count].stream = stream;
        g_captures[g_capture_count++].id = id;
    }
    pthread_mutex_unlock(&g_lock);
}

/* The origin's capture ended: it and every stream that joined it capture no more. */
void gp_note_capture_end(CUstream origin)
{
    pthread_mutex_lock(&g_lock);
    cuuint64_t id = 0;
    for (size_t i = 0; i < g_capture_count; i++)
        if (g_captures[i].stream == origin)
            id = g_captures[i].id;
    for (size_t i = 0; i < g_capture_count;)
        if (id != 0 && g_captures[i].id == id)
            g_captures[i] = g_captures[--g_capture_count];
        else
            i++;
    pthread_mutex_unlock(&g_lock);
}

/* Whether any stream captures: the hooks of every stream operation ask first, without the lock. */
int gp_capturing(void) { return __atomic_load_n(&g_capture_count, __ATOMIC_RELAXED) != 0; }

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

/* Work a capture made in the job cannot hold as a node (capture_graph.c): refused by name. */
CUresult gp_refuse_in_client_capture(const char *call, CUstream stream)
{
    if (!gp_capture_in_client(stream))
        return CUDA_SUCCESS;
    gp_error("%s in a stream capture made in the job (it holds host work) is not carried by gpupool; it returned "
             "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", call);
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
}

cuuint64_t gp_capture_id(CUstream stream) { return capture_of(stream); }

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
    /* Answered from the job's record of the capture, which asking does not move (capture_graph.c). */
    if (*status == CU_STREAM_CAPTURE_STATUS_ACTIVE && (graph || deps) &&
        (rc = gp_capture_graph_info(stream, 0, graph, deps, edges, count)) != CUDA_ERROR_NOT_FOUND)
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
