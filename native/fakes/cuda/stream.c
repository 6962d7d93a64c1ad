/*
 * Streams: user streams, the legacy default stream (NULL, CU_STREAM_LEGACY) of each context and
 * the per-thread default streams (CU_STREAM_PER_THREAD, and NULL in the _ptsz/_ptds entry points).
 * Their ordering lives in the time model (timeline.c).
 */
#include "emu.h"

#include <stdlib.h>

#define EMU_PRIORITY_LEAST 0
#define EMU_PRIORITY_GREATEST (-5)

void emu_stream_init(struct CUstream_st *s, CUcontext ctx, emu_stream_kind kind, unsigned flags, int priority)
{
    emu_list_init(&s->link);
    s->ctx = ctx;
    s->kind = kind;
    s->flags = flags;
    s->priority = priority;
    s->tail_ns = 0;
    s->id = emu_new_id();
}

/* The calling thread's default stream in ctx, created on first use; freed with the context. */
static CUresult per_thread_stream(CUcontext ctx, struct CUstream_st **out)
{
    pthread_t self = pthread_self();
    EMU_FOR_EACH (pos, &ctx->streams) {
        struct CUstream_st *s = EMU_CONTAINER(pos, struct CUstream_st, link);
        if (s->kind == EMU_STREAM_PER_THREAD && pthread_equal(s->owner, self)) {
            *out = s;
            return CUDA_SUCCESS;
        }
    }
    struct CUstream_st *s = calloc(1, sizeof *s);
    if (s == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    emu_stream_init(s, ctx, EMU_STREAM_PER_THREAD, 0, 0);
    s->owner = self;
    emu_list_add(&ctx->streams, &s->link);
    *out = s;
    return CUDA_SUCCESS;
}

static CUresult special_stream(CUcontext ctx, CUstream h, bool per_thread, struct CUstream_st **out)
{
    if (h == CU_STREAM_PER_THREAD || (h == NULL && per_thread))
        return per_thread_stream(ctx, out);
    *out = &ctx->legacy;
    return CUDA_SUCCESS;
}

static bool is_special(CUstream h)
{
    return h == NULL || h == CU_STREAM_LEGACY || h == CU_STREAM_PER_THREAD;
}

CUresult emu_stream_lookup(CUstream hStream, bool per_thread, struct CUstream_st **out)
{
    CUcontext ctx;
    if (is_special(hStream)) {
        CUresult rc = emu_current_usable(&ctx);
        return rc != CUDA_SUCCESS ? rc : special_stream(ctx, hStream, per_thread, out);
    }
    if (!emu_handle_is(hStream, EMU_H_STREAM))
        return CUDA_ERROR_INVALID_HANDLE;
    *out = hStream;
    return hStream->ctx->sticky;
}

/* Locked with *s set on success. */
static CUresult enter_stream(CUstream hStream, bool per_thread, struct CUstream_st **s)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = emu_stream_lookup(hStream, per_thread, s);
    return rc == CUDA_SUCCESS ? rc : emu_leave(rc);
}

static void free_stream(struct CUstream_st *s)
{
    emu_list_del(&s->link);
    if (s->kind == EMU_STREAM_USER) {
        emu_handle_remove(s);
        emu_g.stats.streams--;
    }
    free(s);
}

void emu_free_ctx_streams(CUcontext ctx)
{
    EMU_FOR_EACH_SAFE (pos, &ctx->streams)
        free_stream(EMU_CONTAINER(pos, struct CUstream_st, link));
}

/* ---- creation and destruction --------------------------------------------------------------- */

CUresult CUDAAPI cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags, int priority)
{
    CUcontext ctx;
    if (phStream == NULL || (flags & ~(unsigned)CU_STREAM_NON_BLOCKING) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    /* Out-of-range priorities are clamped, as the real driver does. */
    if (priority > EMU_PRIORITY_LEAST)
        priority = EMU_PRIORITY_LEAST;
    if (priority < EMU_PRIORITY_GREATEST)
        priority = EMU_PRIORITY_GREATEST;
    struct CUstream_st *s = calloc(1, sizeof *s);
    if (s == NULL || !emu_handle_add(s, EMU_H_STREAM)) {
        free(s);
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    }
    emu_stream_init(s, ctx, EMU_STREAM_USER, flags, priority);
    emu_list_add(&ctx->streams, &s->link);
    emu_g.stats.streams++;
    *phStream = s;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuStreamCreate(CUstream *phStream, unsigned int Flags)
{
    return cuStreamCreateWithPriority(phStream, Flags, 0);
}

/* Pending work is not waited for: like the real driver, destroy returns at once. */
CUresult CUDAAPI cuStreamDestroy_v2(CUstream hStream)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hStream, EMU_H_STREAM))
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    rc = hStream->ctx->sticky;
    if (rc == CUDA_SUCCESS)
        free_stream(hStream);
    return emu_leave(rc);
}

CUresult CUDAAPI cuStreamDestroy(CUstream hStream)
{
    return cuStreamDestroy_v2(hStream);
}

/* ---- synchronisation ------------------------------------------------------------------------ */

static CUresult stream_synchronize(CUstream hStream, bool per_thread)
{
    struct CUstream_st *s;
    CUresult rc = enter_stream(hStream, per_thread, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    uint64_t ready = emu_stream_ready_at(s);
    emu_printf_flush(s->ctx);
    emu_unlock();
    emu_sleep_until(ready);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamSynchronize(CUstream hStream)
{
    return stream_synchronize(hStream, false);
}

CUresult CUDAAPI cuStreamSynchronize_ptsz(CUstream hStream)
{
    return stream_synchronize(hStream, true);
}

static CUresult stream_query(CUstream hStream, bool per_thread)
{
    struct CUstream_st *s;
    CUresult rc = enter_stream(hStream, per_thread, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    return emu_leave(emu_now_ns() >= emu_stream_ready_at(s) ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY);
}

CUresult CUDAAPI cuStreamQuery(CUstream hStream)
{
    return stream_query(hStream, false);
}

CUresult CUDAAPI cuStreamQuery_ptsz(CUstream hStream)
{
    return stream_query(hStream, true);
}

/* Later work on the stream starts no earlier than the event's recorded work ends. */
static CUresult stream_wait_event(CUstream hStream, CUevent hEvent, unsigned flags, bool per_thread)
{
    struct CUstream_st *s;
    if ((flags & ~(unsigned)CU_EVENT_WAIT_EXTERNAL) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_stream(hStream, per_thread, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hEvent, EMU_H_EVENT))
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    if (hEvent->recorded && hEvent->time_ns > s->tail_ns)
        s->tail_ns = hEvent->time_ns;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
    return stream_wait_event(hStream, hEvent, Flags, false);
}

CUresult CUDAAPI cuStreamWaitEvent_ptsz(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
    return stream_wait_event(hStream, hEvent, Flags, true);
}

/* ---- getters -------------------------------------------------------------------------------- */

typedef enum { Q_PRIORITY, Q_FLAGS, Q_CTX, Q_ID, Q_DEVICE } stream_query_kind;

static CUresult stream_get(CUstream hStream, bool per_thread, stream_query_kind what, void *out)
{
    struct CUstream_st *s;
    if (out == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_stream(hStream, per_thread, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    switch (what) {
    case Q_PRIORITY: *(int *)out = s->priority; break;
    case Q_FLAGS: *(unsigned *)out = s->flags; break;
    case Q_CTX: *(CUcontext *)out = s->ctx; break;
    case Q_ID: *(unsigned long long *)out = s->id; break;
    case Q_DEVICE: *(CUdevice *)out = s->ctx->dev->ordinal; break;
    }
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuStreamGetPriority(CUstream hStream, int *priority)
{
    return stream_get(hStream, false, Q_PRIORITY, priority);
}

CUresult CUDAAPI cuStreamGetPriority_ptsz(CUstream hStream, int *priority)
{
    return stream_get(hStream, true, Q_PRIORITY, priority);
}

CUresult CUDAAPI cuStreamGetFlags(CUstream hStream, unsigned int *flags)
{
    return stream_get(hStream, false, Q_FLAGS, flags);
}

CUresult CUDAAPI cuStreamGetFlags_ptsz(CUstream hStream, unsigned int *flags)
{
    return stream_get(hStream, true, Q_FLAGS, flags);
}

CUresult CUDAAPI cuStreamGetCtx(CUstream hStream, CUcontext *pctx)
{
    return stream_get(hStream, false, Q_CTX, pctx);
}

CUresult CUDAAPI cuStreamGetCtx_ptsz(CUstream hStream, CUcontext *pctx)
{
    return stream_get(hStream, true, Q_CTX, pctx);
}

/* No green contexts here: *pGreenCtx is always NULL. */
static CUresult stream_get_ctx_v2(CUstream hStream, CUcontext *pCtx, CUgreenCtx *pGreenCtx, bool per_thread)
{
    if (pGreenCtx == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = stream_get(hStream, per_thread, Q_CTX, pCtx);
    if (rc == CUDA_SUCCESS)
        *pGreenCtx = NULL;
    return rc;
}

CUresult CUDAAPI cuStreamGetCtx_v2(CUstream hStream, CUcontext *pCtx, CUgreenCtx *pGreenCtx)
{
    return stream_get_ctx_v2(hStream, pCtx, pGreenCtx, false);
}

CUresult CUDAAPI cuStreamGetCtx_v2_ptsz(CUstream hStream, CUcontext *pCtx, CUgreenCtx *pGreenCtx)
{
    return stream_get_ctx_v2(hStream, pCtx, pGreenCtx, true);
}

CUresult CUDAAPI cuStreamGetId(CUstream hStream, unsigned long long *streamId)
{
    return stream_get(hStream, false, Q_ID, streamId);
}

CUresult CUDAAPI cuStreamGetId_ptsz(CUstream hStream, unsigned long long *streamId)
{
    return stream_get(hStream, true, Q_ID, streamId);
}

CUresult CUDAAPI cuStreamGetDevice(CUstream hStream, CUdevice *device)
{
    return stream_get(hStream, false, Q_DEVICE, device);
}

CUresult CUDAAPI cuStreamGetDevice_ptsz(CUstream hStream, CUdevice *device)
{
    return stream_get(hStream, true, Q_DEVICE, device);
}

/*
 * Host functions: the stream's earlier work has already run (kernels run eagerly), so the function runs
 * at the modelled end of that work, on the calling thread, before the call returns. Later work on the
 * stream cannot start before it, as on a GPU.
 */
static CUresult host_func(CUstream hStream, CUhostFn fn, CUstreamCallback callback, void *userData, bool per_thread)
{
    CUresult rc = stream_synchronize(hStream, per_thread);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (fn != NULL)
        fn(userData);
    else
        callback(hStream, CUDA_SUCCESS, userData);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData)
{
    return fn == NULL ? CUDA_ERROR_INVALID_VALUE : host_func(hStream, fn, NULL, userData, false);
}

CUresult CUDAAPI cuLaunchHostFunc_ptsz(CUstream hStream, CUhostFn fn, void *userData)
{
    return fn == NULL ? CUDA_ERROR_INVALID_VALUE : host_func(hStream, fn, NULL, userData, true);
}

CUresult CUDAAPI cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void *userData, unsigned int flags)
{
    return callback == NULL || flags != 0 ? CUDA_ERROR_INVALID_VALUE : host_func(hStream, NULL, callback, userData, false);
}

CUresult CUDAAPI cuStreamAddCallback_ptsz(CUstream hStream, CUstreamCallback callback, void *userData,
                                          unsigned int flags)
{
    return callback == NULL || flags != 0 ? CUDA_ERROR_INVALID_VALUE : host_func(hStream, NULL, callback, userData, true);
}

/*
 * Stream attributes: the ones cuda.h names for streams are kept as set (none changes the time model);
 * the priority is the stream's own.
 */
static bool stream_attr_valid(CUstreamAttrID attr)
{
    switch (attr) {
    case CU_STREAM_ATTRIBUTE_ACCESS_POLICY_WINDOW:
    case CU_STREAM_ATTRIBUTE_SYNCHRONIZATION_POLICY:
    case CU_STREAM_ATTRIBUTE_PRIORITY:
    case CU_STREAM_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
    case CU_STREAM_ATTRIBUTE_MEM_SYNC_DOMAIN:
        return true;
    default:
        return false;
    }
}

static CUresult stream_attribute(CUstream hStream, CUstreamAttrID attr, CUstreamAttrValue *get, const CUstreamAttrValue *set,
                                 bool per_thread)
{
    struct CUstream_st *s;
    if ((get == NULL && set == NULL) || !stream_attr_valid(attr))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_stream(hStream, per_thread, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (set != NULL) {
        s->attrs[attr] = *set;
        if (attr == CU_STREAM_ATTRIBUTE_PRIORITY)
            s->priority = set->priority;
    } else {
        *get = s->attrs[attr];
        if (attr == CU_STREAM_ATTRIBUTE_PRIORITY)
            get->priority = s->priority;
    }
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuStreamGetAttribute(CUstream hStream, CUstreamAttrID attr, CUstreamAttrValue *value_out)
{
    return stream_attribute(hStream, attr, value_out, NULL, false);
}

CUresult CUDAAPI cuStreamGetAttribute_ptsz(CUstream hStream, CUstreamAttrID attr, CUstreamAttrValue *value_out)
{
    return stream_attribute(hStream, attr, value_out, NULL, true);
}

CUresult CUDAAPI cuStreamSetAttribute(CUstream hStream, CUstreamAttrID attr, const CUstreamAttrValue *value)
{
    return value == NULL ? CUDA_ERROR_INVALID_VALUE : stream_attribute(hStream, attr, NULL, value, false);
}

CUresult CUDAAPI cuStreamSetAttribute_ptsz(CUstream hStream, CUstreamAttrID attr, const CUstreamAttrValue *value)
{
    return value == NULL ? CUDA_ERROR_INVALID_VALUE : stream_attribute(hStream, attr, NULL, value, true);
}
