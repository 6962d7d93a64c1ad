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

/* Lock held: the context ends; what it flushed and nobody took goes with it. */
void emu_printf_release(CUcontext ctx)
{
    emu_printf_flush(ctx);
    if (ctx->printf_flushed > 0)
        __atomic_sub_fetch(&g_ready, ctx->printf_flushed, __ATOMIC_RELEASE);
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
