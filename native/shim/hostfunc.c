/*
 * Host functions on streams (cuLaunchHostFunc, cuStreamAddCallback). They are the program's code, so
 * they run here, in the job's process: each is marked on its stream by an event recorded on the
 * daemon, and one worker thread runs them one at a time, in the order they were enqueued, each once
 * the daemon says its event completed (the stream reached it). A stream or context synchronisation
 * returns only after the host functions enqueued before it have run, as the driver's does.
 *
 * What differs from a local driver: work enqueued on the stream after a host function may start
 * before the function returns (the daemon's stream is not held while the client runs it), and
 * cuStreamQuery/cuEventSynchronize do not wait for host functions.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "call.h"
#include "client.h"
#include "gp_shim_decls.h"
#include "shim.h"

typedef struct host_func {
    struct host_func *next;
    CUevent event;
    CUcontext ctx;
    CUstream stream;
    CUhostFn fn;                 /* cuLaunchHostFunc */
    CUstreamCallback callback;   /* cuStreamAddCallback */
    void *data;
} host_func;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_queued = PTHREAD_COND_INITIALIZER, g_ran = PTHREAD_COND_INITIALIZER;
static host_func *g_head, *g_tail;
static unsigned long long g_enqueued, g_completed;
static int g_worker_started;

/* The daemon's answer for the event, asked with a growing pause (50 us to 2 ms) while not ready. */
static CUresult wait_for(CUevent event)
{
    struct timespec pause = {0, 50 * 1000};
    for (;;) {
        CUresult rc = gp_fwd_cuEventQuery_v2000(event);
        if (rc != CUDA_ERROR_NOT_READY)
            return rc;
        nanosleep(&pause, NULL);
        if (pause.tv_nsec < 2 * 1000 * 1000)
            pause.tv_nsec *= 2;
    }
}

static void *worker(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&g_lock);
    for (;;) {
        while (g_head == NULL)
            pthread_cond_wait(&g_queued, &g_lock);
        host_func *h = g_head;
        pthread_mutex_unlock(&g_lock);
        gp_set_current(h->ctx); /* the event's context, for the calls this thread makes */
        CUresult status = wait_for(h->event);
        if (h->fn != NULL)
            h->fn(h->data);
        else
            h->callback(h->stream, status, h->data);
        (void)gp_fwd_cuEventDestroy_v4000(h->event);
        pthread_mutex_lock(&g_lock);
        g_head = h->next;
        if (g_head == NULL)
            g_tail = NULL;
        g_completed++;
        pthread_cond_broadcast(&g_ran);
        free(h);
    }
    return NULL;
}

static CUresult enqueue(CUstream stream, CUhostFn fn, CUstreamCallback callback, void *data, int per_thread)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (fn == NULL && callback == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    /* In a capture: a host node of the job's capture (a callback is no node kind: the driver refuses it too). */
    int taken = 0;
    gp_capture_op op = { .call = fn != NULL ? "cuLaunchHostFunc" : "cuStreamAddCallback", .type = CU_GRAPH_NODE_TYPE_HOST, .host = { fn, data } };
    CUresult refused = CUDA_SUCCESS;
    if (fn != NULL)
        refused = gp_capture_take(stream, &op, &taken);
    else if (gp_capture_id(stream) != 0)
        refused = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (refused != CUDA_SUCCESS || taken)
        return refused;
    host_func *h = calloc(1, sizeof *h);
    if (h == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *h = (host_func){NULL, NULL, gp_tls_context(), stream, fn, callback, data};
    CUresult rc = gp_fwd_cuEventCreate_v2000(&h->event, CU_EVENT_DISABLE_TIMING);
    if (rc == CUDA_SUCCESS) {
        rc = per_thread ? gp_fwd_cuEventRecord_v7000_ptsz(h->event, stream) : gp_fwd_cuEventRecord_v2000(h->event, stream);
        if (rc != CUDA_SUCCESS)
            (void)gp_fwd_cuEventDestroy_v4000(h->event);
    }
    if (rc != CUDA_SUCCESS) {
        free(h);
        return rc;
    }
    pthread_mutex_lock(&g_lock);
    if (!g_worker_started) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&thread, &attr, worker, NULL) == 0)
            g_worker_started = 1;
        pthread_attr_destroy(&attr);
        if (!g_worker_started) {
            pthread_mutex_unlock(&g_lock);
            (void)gp_fwd_cuEventDestroy_v4000(h->event);
            free(h);
            return CUDA_ERROR_OPERATING_SYSTEM;
        }
    }
    if (g_tail != NULL)
        g_tail->next = h;
    else
        g_head = h;
    g_tail = h;
    g_enqueued++;
    pthread_cond_signal(&g_queued);
    pthread_mutex_unlock(&g_lock);
    return CUDA_SUCCESS;
}

void gp_host_funcs_drain(void)
{
    pthread_mutex_lock(&g_lock);
    unsigned long long ticket = g_enqueued;
    /* Not from the worker itself: a host function may not synchronise (the driver forbids it too). */
    while (g_completed < ticket)
        pthread_cond_wait(&g_ran, &g_lock);
    pthread_mutex_unlock(&g_lock);
}

CUresult gp_local_cuLaunchHostFunc_v10000(CUstream hStream, CUhostFn fn, void *userData)
{
    return fn == NULL ? CUDA_ERROR_INVALID_VALUE : enqueue(hStream, fn, NULL, userData, 0);
}

CUresult gp_local_cuLaunchHostFunc_v10000_ptsz(CUstream hStream, CUhostFn fn, void *userData)
{
    return fn == NULL ? CUDA_ERROR_INVALID_VALUE : enqueue(hStream, fn, NULL, userData, 1);
}

/* flags is reserved and must be 0. */
CUresult gp_local_cuStreamAddCallback_v5000(CUstream hStream, CUstreamCallback callback, void *userData, unsigned int flags)
{
    return callback == NULL || flags != 0 ? CUDA_ERROR_INVALID_VALUE : enqueue(hStream, NULL, callback, userData, 0);
}

CUresult gp_local_cuStreamAddCallback_v7000_ptsz(CUstream hStream, CUstreamCallback callback, void *userData,
                                                 unsigned int flags)
{
    return callback == NULL || flags != 0 ? CUDA_ERROR_INVALID_VALUE : enqueue(hStream, NULL, callback, userData, 1);
}
