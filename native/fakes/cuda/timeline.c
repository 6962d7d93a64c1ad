/*
 * The time model (docs/emulator.md): every operation is scheduled on a virtual timeline at enqueue
 * time. It starts at the latest of now, its stream's previous end, what the stream implicitly waits
 * for (legacy default stream semantics) and, for kernels, the device's one compute engine being
 * free. Work itself runs eagerly; only its completion time is modelled.
 */
#include "emu.h"

#include <errno.h>
#include <math.h>
#include <time.h>

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

uint64_t emu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t emu_copy_ns(size_t bytes)
{
    return (uint64_t)ceil((double)bytes / emu_g.copy_bytes_per_ns);
}

/* A blocking stream (not CU_STREAM_NON_BLOCKING) waits for the legacy stream and vice versa. */
static bool blocking(const struct CUstream_st *s)
{
    return s->kind != EMU_STREAM_LEGACY && (s->flags & CU_STREAM_NON_BLOCKING) == 0;
}

/* What an operation enqueued now on s would wait for, before engines are considered. */
static uint64_t earliest_start(const struct CUstream_st *s)
{
    uint64_t t = s->tail_ns;
    const struct CUctx_st *ctx = s->ctx;
    if (s->kind == EMU_STREAM_LEGACY) {
        EMU_FOR_EACH (pos, &ctx->streams) {
            const struct CUstream_st *other = EMU_CONTAINER(pos, struct CUstream_st, link);
            if (blocking(other))
                t = max_u64(t, other->tail_ns);
        }
    } else if (blocking(s)) {
        t = max_u64(t, ctx->legacy.tail_ns);
    }
    return t;
}

uint64_t emu_enqueue(struct CUstream_st *s, uint64_t duration_ns, bool kernel)
{
    uint64_t start = max_u64(emu_now_ns(), earliest_start(s));
    emu_device *dev = s->ctx->dev;
    if (kernel)
        start = max_u64(start, dev->compute_free_ns);
    uint64_t end = start + duration_ns;
    if (kernel)
        dev->compute_free_ns = end;
    s->tail_ns = end;
    return end;
}

uint64_t emu_stream_ready_at(const struct CUstream_st *s)
{
    return s->kind == EMU_STREAM_LEGACY ? earliest_start(s) : s->tail_ns;
}

uint64_t emu_ctx_ready_at(const struct CUctx_st *ctx)
{
    uint64_t t = ctx->legacy.tail_ns;
    EMU_FOR_EACH (pos, &ctx->streams)
        t = max_u64(t, EMU_CONTAINER(pos, struct CUstream_st, link)->tail_ns);
    return t;
}

void emu_sleep_until(uint64_t t_ns)
{
    struct timespec ts = { (time_t)(t_ns / 1000000000ULL), (long)(t_ns % 1000000000ULL) };
    while (emu_now_ns() < t_ns && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}
