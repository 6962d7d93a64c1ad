/*
 * What copies and memsets share: turning each side's address into host memory with its bounds
 * checked, and the lock/stream/time-model steps around moving the bytes.
 *
 * A range on the device side must lie inside one live allocation of the operation's context (or one
 * pinned host block); anything else is CUDA_ERROR_INVALID_VALUE, so no byte outside that allocation
 * is ever touched.
 * A host-side address inside a device range is refused the same way rather than dereferenced.
 */
#include "emu.h"

/* Device memory of ctx, or pinned host memory, which unified addressing maps at its own address. */
static CUresult resolve_device(CUcontext ctx, uint64_t addr, size_t bytes, void **host, emu_pins *pins)
{
    emu_alloc *a = emu_find_device(addr, bytes);
    if (a != NULL && a->ctx != ctx)
        return CUDA_ERROR_INVALID_VALUE;
    if (a == NULL)
        a = emu_find_host((const void *)(uintptr_t)addr, bytes);
    if (a == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    emu_pin(a);
    pins->items[pins->count++] = a;
    *host = emu_host_of(a, addr);
    return CUDA_SUCCESS;
}

CUresult emu_resolve(CUcontext ctx, emu_side side, uint64_t addr, size_t bytes, void **host, emu_pins *pins)
{
    bool device_range = emu_is_device_address(addr);
    if (side == EMU_SIDE_DEVICE || (side == EMU_SIDE_UNIFIED && device_range))
        return resolve_device(ctx, addr, bytes, host, pins);
    if (addr == 0 || device_range)
        return CUDA_ERROR_INVALID_VALUE;
    *host = (void *)(uintptr_t)addr;
    return CUDA_SUCCESS;
}

/* As on the real driver, an operation on a stream runs in the stream's context, whichever context
 * is current; NULL and the special handles name a stream of the current context. */
CUresult emu_begin_op(CUstream hStream, bool async, bool per_thread, CUcontext *ctx, struct CUstream_st **s)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = emu_stream_lookup(async ? hStream : NULL, per_thread, s);
    if (rc != CUDA_SUCCESS)
        return emu_leave(rc);
    *ctx = (*s)->ctx;
    /* A blocking copy (or memset) is one of the driver's printf flush points. */
    if (!async)
        emu_printf_flush(*ctx);
    return CUDA_SUCCESS;
}

void emu_unpin_all(emu_pins *pins)
{
    for (unsigned i = 0; i < pins->count; i++)
        emu_unpin(pins->items[i]);
    pins->count = 0;
}

CUresult emu_finish_op(emu_pins *pins, uint64_t end_ns, bool wait)
{
    emu_lock();
    emu_unpin_all(pins);
    emu_unlock();
    if (wait)
        emu_sleep_until(end_ns);
    return CUDA_SUCCESS;
}
