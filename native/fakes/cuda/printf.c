/*
 * Device printf: what a CPU kernel prints (launch->printf) goes into its context's FIFO, as a GPU's
 * printf does, and leaves it only at the points where a real driver flushes that FIFO (the start of
 * a launch, context/stream/event synchronisation, blocking copies, module unload, context
 * destruction). Flushed output is written to the process's stdout, as the driver's is, unless a
 * daemon took it over (gpupoolEmuPrintfCapture): then each context keeps it until the daemon takes
 * it (gpupoolEmuPrintfTake) and sends it to the job that owns the context (docs/emulator.md).
 */
#include "emu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool g_capture;
/* What destroyed contexts flushed and the daemon has not taken yet (capture mode), by the context's
 * address: the daemon takes it right after the call that destroyed the context. */
typedef struct orphan {
    struct orphan *next;
    const void *ctx;
    char *buf;
    size_t len;
} orphan;
static orphan *g_orphans;
/* Flushed bytes not yet taken, over every context: the daemon's check after each call is this load. */
static size_t g_ready;

/* Lock held. */
void emu_printf_flush(CUcontext ctx)
{
    if (ctx == NULL || ctx->printf_len == ctx->printf_flushed)
        return;
    if (g_capture) {
        __atomic_add_fetch(&g_ready, ctx->printf_len - ctx->printf_flushed, __ATOMIC_RELEASE);
        ctx->printf_flushed = ctx->printf_len;
        return;
    }
    fwrite(ctx->printf_buf, 1, ctx->printf_len, stdout);
    fflush(stdout);
    ctx->printf_len = ctx->printf_flushed = 0;
}

/* Lock held: the context ends, flushing its FIFO as a driver does; what nobody took yet is kept for the
 * daemon under the context's address (capture mode), or goes with it when that fails. */
void emu_printf_release(CUcontext ctx)
{
    emu_printf_flush(ctx);
    orphan *o = ctx->printf_flushed > 0 ? malloc(sizeof *o) : NULL;
    if (o != NULL) {
        *o = (orphan){ g_orphans, ctx, ctx->printf_buf, ctx->printf_flushed };
        g_orphans = o;
        ctx->printf_buf = NULL;
    } else if (ctx->printf_flushed > 0) {
        __atomic_sub_fetch(&g_ready, ctx->printf_flushed, __ATOMIC_RELEASE);
    }
    free(ctx->printf_buf);
    ctx->printf_buf = NULL;
    ctx->printf_len = ctx->printf_flushed = ctx->printf_cap = 0;
}

/* Lock held. Appends, up to the context's CU_LIMIT_PRINTF_FIFO_SIZE of unflushed output: beyond it a
 * GPU's FIFO loses output too. */
void emu_printf_append(CUcontext ctx, const char *text, size_t n)
{
    size_t fifo = ctx->limits[CU_LIMIT_PRINTF_FIFO_SIZE], pending = ctx->printf_len - ctx->printf_flushed;
    if (pending >= fifo)
        return;
    if (n > fifo - pending)
        n = fifo - pending;
    if (ctx->printf_len + n > ctx->printf_cap) {
        size_t cap = ctx->printf_cap == 0 ? 4096 : ctx->printf_cap;
        while (cap < ctx->printf_len + n)
            cap *= 2;
        char *grown = realloc(ctx->printf_buf, cap);
        if (grown == NULL)
            return;
        ctx->printf_buf = grown;
        ctx->printf_cap = cap;
    }
    memcpy(ctx->printf_buf + ctx->printf_len, text, n);
    ctx->printf_len += n;
}

GPUPOOL_EMU_EXPORT void gpupoolEmuPrintfCapture(void)
{
    emu_lock();
    g_capture = true;
    emu_unlock();
}

GPUPOOL_EMU_EXPORT size_t gpupoolEmuPrintfTake(CUcontext ctx, void *buf, size_t cap)
{
    if (__atomic_load_n(&g_ready, __ATOMIC_ACQUIRE) == 0 || buf == NULL || cap == 0)
        return 0;
    size_t n = 0;
    emu_lock();
    for (orphan **p = &g_orphans; *p != NULL; p = &(*p)->next) {
        orphan *o = *p;
        if (o->ctx != ctx)
            continue;
        n = o->len < cap ? o->len : cap;
        memcpy(buf, o->buf, n);
        memmove(o->buf, o->buf + n, o->len - n);
        o->len -= n;
        __atomic_sub_fetch(&g_ready, n, __ATOMIC_RELEASE);
        if (o->len == 0) {
            *p = o->next;
            free(o->buf);
            free(o);
        }
        emu_unlock();
        return n;
    }
    if (emu_handle_is(ctx, EMU_H_CONTEXT) && ctx->printf_flushed > 0) {
        n = ctx->printf_flushed < cap ? ctx->printf_flushed : cap;
        memcpy(buf, ctx->printf_buf, n);
        memmove(ctx->printf_buf, ctx->printf_buf + n, ctx->printf_len - n);
        ctx->printf_len -= n;
        ctx->printf_flushed -= n;
        __atomic_sub_fetch(&g_ready, n, __ATOMIC_RELEASE);
    }
    emu_unlock();
    return n;
}
