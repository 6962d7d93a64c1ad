/* Events: markers on the modelled timeline; elapsed times are modelled milliseconds. */
#include "emu.h"

#include <stdlib.h>

#define EMU_EVENT_FLAGS (CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS)

static void free_event(struct CUevent_st *e)
{
    emu_list_del(&e->link);
    emu_handle_remove(e);
    emu_g.stats.events--;
    free(e);
}

void emu_free_ctx_events(CUcontext ctx)
{
    EMU_FOR_EACH_SAFE (pos, &ctx->events)
        free_event(EMU_CONTAINER(pos, struct CUevent_st, link));
}

/* Locked with the event's context usable on success. */
static CUresult enter_event(CUevent e)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(e, EMU_H_EVENT))
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    rc = e->ctx->sticky;
    return rc == CUDA_SUCCESS ? rc : emu_leave(rc);
}

CUresult CUDAAPI cuEventCreate(CUevent *phEvent, unsigned int Flags)
{
    CUcontext ctx;
    if (phEvent == NULL || (Flags & ~(unsigned)EMU_EVENT_FLAGS) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    /* An interprocess event must not record timing. */
    if ((Flags & CU_EVENT_INTERPROCESS) != 0 && (Flags & CU_EVENT_DISABLE_TIMING) == 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    struct CUevent_st *e = calloc(1, sizeof *e);
    if (e == NULL || !emu_handle_add(e, EMU_H_EVENT)) {
        free(e);
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    }
    e->ctx = ctx;
    e->flags = Flags;
    emu_list_add(&ctx->events, &e->link);
    emu_g.stats.events++;
    *phEvent = e;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuEventDestroy_v2(CUevent hEvent)
{
    CUresult rc = enter_event(hEvent);
    if (rc != CUDA_SUCCESS)
        return rc;
    free_event(hEvent);
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuEventDestroy(CUevent hEvent)
{
    return cuEventDestroy_v2(hEvent);
}

/* The event completes when everything enqueued on the stream before it has completed. */
static CUresult event_record(CUevent hEvent, CUstream hStream, unsigned flags, bool per_thread)
{
    struct CUstream_st *s;
    if ((flags & ~(unsigned)CU_EVENT_RECORD_EXTERNAL) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_event(hEvent);
    if (rc != CUDA_SUCCESS)
        return rc;
    /* NULL and the special handles name the current context's stream: it must be the event's. */
    rc = emu_stream_lookup(hStream, per_thread, &s);
    if (rc == CUDA_SUCCESS && s->ctx != hEvent->ctx)
        rc = CUDA_ERROR_INVALID_HANDLE;
    if (rc != CUDA_SUCCESS)
        return emu_leave(rc);
    hEvent->time_ns = emu_enqueue(s, 0, false);
    hEvent->recorded = true;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuEventRecord(CUevent hEvent, CUstream hStream)
{
    return event_record(hEvent, hStream, 0, false);
}

CUresult CUDAAPI cuEventRecord_ptsz(CUevent hEvent, CUstream hStream)
{
    return event_record(hEvent, hStream, 0, true);
}

CUresult CUDAAPI cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags)
{
    return event_record(hEvent, hStream, flags, false);
}

CUresult CUDAAPI cuEventRecordWithFlags_ptsz(CUevent hEvent, CUstream hStream, unsigned int flags)
{
    return event_record(hEvent, hStream, flags, true);
}

/* An event never recorded counts as complete, as on the real driver. */
CUresult CUDAAPI cuEventQuery(CUevent hEvent)
{
    CUresult rc = enter_event(hEvent);
    if (rc != CUDA_SUCCESS)
        return rc;
    bool done = !hEvent->recorded || emu_now_ns() >= hEvent->time_ns;
    return emu_leave(done ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY);
}

CUresult CUDAAPI cuEventSynchronize(CUevent hEvent)
{
    CUresult rc = enter_event(hEvent);
    if (rc != CUDA_SUCCESS)
        return rc;
    uint64_t ready = hEvent->recorded ? hEvent->time_ns : 0;
    emu_printf_flush(hEvent->ctx);
    emu_unlock();
    emu_sleep_until(ready);
    return CUDA_SUCCESS;
}

static bool timed(const struct CUevent_st *e)
{
    return e->recorded && (e->flags & CU_EVENT_DISABLE_TIMING) == 0;
}

CUresult CUDAAPI cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
    if (pMilliseconds == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_event(hStart);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hEnd, EMU_H_EVENT))
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    if (!timed(hStart) || !timed(hEnd) || hStart->ctx != hEnd->ctx)
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    uint64_t now = emu_now_ns();
    if (now < hStart->time_ns || now < hEnd->time_ns)
        return emu_leave(CUDA_ERROR_NOT_READY);
    double ns = (double)hEnd->time_ns - (double)hStart->time_ns;
    *pMilliseconds = (float)(ns / 1e6);
    return emu_leave(CUDA_SUCCESS);
}

/* The pre-12.8 entry point: same contract, same answer. */
CUresult CUDAAPI cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
    return cuEventElapsedTime_v2(pMilliseconds, hStart, hEnd);
}
