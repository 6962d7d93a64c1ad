/* Contexts: creation, destruction, the per-thread current-context stack, primary contexts. */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

/* A thread's binding remembers the context's id, so a destroyed context whose memory was reused by
 * a new one reads as destroyed rather than as the newcomer. */
typedef struct {
    CUcontext ctx;
    unsigned long long id;
} ctx_ref;

static _Thread_local ctx_ref t_stack[EMU_CTX_STACK_MAX];
static _Thread_local unsigned t_depth;

static const size_t g_default_limits[EMU_LIMIT_COUNT] = {
    [CU_LIMIT_STACK_SIZE] = 1024,
    [CU_LIMIT_PRINTF_FIFO_SIZE] = 1 << 20,
    [CU_LIMIT_MALLOC_HEAP_SIZE] = 8 << 20,
    [CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH] = 2,
    [CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT] = 2048,
    [CU_LIMIT_MAX_L2_FETCH_GRANULARITY] = 64,
};

/* ---- lookup --------------------------------------------------------------------------------- */

bool emu_ctx_valid(CUcontext ctx)
{
    return emu_handle_is(ctx, EMU_H_CONTEXT) && ctx->active;
}

static bool ref_valid(const ctx_ref *ref)
{
    return emu_ctx_valid(ref->ctx) && ref->ctx->id == ref->id;
}

CUresult emu_ctx_check(CUcontext ctx)
{
    if (emu_ctx_valid(ctx))
        return CUDA_SUCCESS;
    if (emu_handle_is(ctx, EMU_H_DEAD_CONTEXT) || emu_handle_is(ctx, EMU_H_CONTEXT))
        return CUDA_ERROR_CONTEXT_IS_DESTROYED;
    return CUDA_ERROR_INVALID_CONTEXT;
}

CUresult emu_current_described(CUcontext *out)
{
    if (t_depth == 0)
        return CUDA_ERROR_INVALID_CONTEXT;
    const ctx_ref *ref = &t_stack[t_depth - 1];
    if (!emu_handle_is(ref->ctx, EMU_H_CONTEXT) || ref->ctx->id != ref->id)
        return CUDA_ERROR_CONTEXT_IS_DESTROYED;
    *out = ref->ctx;
    return CUDA_SUCCESS;
}

CUresult emu_current(CUcontext *out)
{
    if (t_depth == 0)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (!ref_valid(&t_stack[t_depth - 1]))
        return CUDA_ERROR_CONTEXT_IS_DESTROYED;
    *out = t_stack[t_depth - 1].ctx;
    return CUDA_SUCCESS;
}

CUresult emu_current_usable(CUcontext *out)
{
    CUresult rc = emu_current(out);
    return rc != CUDA_SUCCESS ? rc : (*out)->sticky;
}

CUresult emu_enter_ctx(CUcontext *out)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = emu_current_usable(out);
    return rc == CUDA_SUCCESS ? rc : emu_leave(rc);
}

/* ---- lifetime ------------------------------------------------------------------------------- */

bool emu_ctx_flags_valid(unsigned flags)
{
    unsigned sched = flags & CU_CTX_SCHED_MASK;
    return (flags & ~(unsigned)CU_CTX_FLAGS_MASK) == 0 &&
           (sched == CU_CTX_SCHED_AUTO || sched == CU_CTX_SCHED_SPIN || sched == CU_CTX_SCHED_YIELD ||
            sched == CU_CTX_SCHED_BLOCKING_SYNC);
}

/* (Re)initialises a context that owns nothing yet. */
static void activate(CUcontext ctx, emu_device *dev, unsigned flags, bool primary)
{
    ctx->dev = dev;
    ctx->flags = flags;
    ctx->primary = primary;
    ctx->active = true;
    ctx->sticky = CUDA_SUCCESS;
    memcpy(ctx->limits, g_default_limits, sizeof ctx->limits);
    ctx->cache_config = CU_FUNC_CACHE_PREFER_NONE;
    ctx->shared_config = CU_SHARED_MEM_CONFIG_DEFAULT_BANK_SIZE;
    emu_list_init(&ctx->streams);
    emu_list_init(&ctx->events);
    emu_list_init(&ctx->modules);
    emu_list_init(&ctx->allocs);
    emu_list_init(&ctx->host_allocs);
    emu_list_init(&ctx->arrays);
    emu_list_init(&ctx->mipmaps);
    emu_stream_init(&ctx->legacy, ctx, EMU_STREAM_LEGACY, 0, 0);
    emu_list_add(&emu_g.contexts, &ctx->link);
    emu_g.stats.contexts++;
}

CUresult emu_ctx_create(emu_device *dev, unsigned flags, bool primary, CUcontext *out)
{
    CUcontext ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    if (!emu_handle_add(ctx, EMU_H_CONTEXT)) {
        free(ctx);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    ctx->id = emu_new_id();
    activate(ctx, dev, flags, primary);
    *out = ctx;
    return CUDA_SUCCESS;
}

void emu_ctx_release_all(CUcontext ctx)
{
    emu_printf_release(ctx);
    emu_free_ctx_textures(ctx);
    emu_free_ctx_modules(ctx);
    emu_free_ctx_events(ctx);
    emu_free_ctx_streams(ctx);
    emu_heap_release(ctx);
    emu_free_ctx_memory(ctx);
    emu_list_del(&ctx->link);
    emu_g.stats.contexts--;
    ctx->active = false;
    ctx->sticky = CUDA_SUCCESS;
    if (ctx->primary)
        return; /* the handle outlives resets: cuDevicePrimaryCtxRetain hands out the same one */
    /* Remembered as destroyed (until the address is reused), so a late use reads as such. */
    emu_handle_add(ctx, EMU_H_DEAD_CONTEXT);
    free(ctx);
}

void emu_ctx_push(CUcontext ctx)
{
    t_stack[t_depth++] = (ctx_ref){ ctx, ctx->id };
}

/* What a thread may bind: a live context, an inactive primary one (usable again once retained), or
 * a destroyed one (bound with id 0, which no context has: its calls read as destroyed), as the real
 * driver lets a thread bind a destroyed context. */
static bool bindable(CUcontext ctx, ctx_ref *ref)
{
    if (emu_handle_is(ctx, EMU_H_CONTEXT))
        *ref = (ctx_ref){ ctx, ctx->id };
    else if (emu_handle_is(ctx, EMU_H_DEAD_CONTEXT))
        *ref = (ctx_ref){ ctx, 0 };
    else
        return false;
    return true;
}

/* ---- cuCtxCreate / cuCtxDestroy ------------------------------------------------------------- */

static CUresult create_and_push(CUcontext *pctx, unsigned flags, CUdevice dev)
{
    emu_device *device;
    if (pctx == NULL || !emu_ctx_flags_valid(flags))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_device_get(dev, &device);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (t_depth == EMU_CTX_STACK_MAX)
        return CUDA_ERROR_OUT_OF_MEMORY;
    rc = emu_ctx_create(device, flags, false, pctx);
    if (rc == CUDA_SUCCESS)
        emu_ctx_push(*pctx);
    return rc;
}

CUresult CUDAAPI cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *ctxCreateParams, unsigned int flags,
                                CUdevice dev)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (ctxCreateParams != NULL && ctxCreateParams->numExecAffinityParams > 0)
        return emu_leave(CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY);
    if (ctxCreateParams != NULL && ctxCreateParams->cigParams != NULL)
        return emu_leave(CUDA_ERROR_NOT_SUPPORTED);
    return emu_leave(create_and_push(pctx, flags, dev));
}

CUresult CUDAAPI cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                                unsigned int flags, CUdevice dev)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (numParams > 0 && paramsArray != NULL)
        return emu_leave(CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY);
    return emu_leave(create_and_push(pctx, flags, dev));
}

CUresult CUDAAPI cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    CUresult rc = emu_enter();
    return rc != CUDA_SUCCESS ? rc : emu_leave(create_and_push(pctx, flags, dev));
}

CUresult CUDAAPI cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    return cuCtxCreate_v2(pctx, flags, dev);
}

CUresult CUDAAPI cuCtxDestroy_v2(CUcontext ctx)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (ctx == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    rc = emu_ctx_check(ctx);
    if (rc != CUDA_SUCCESS)
        return emu_leave(rc);
    /* A primary context is only ever released or reset through its device. */
    if (ctx->primary)
        return emu_leave(CUDA_ERROR_INVALID_CONTEXT);
    if (t_depth > 0 && t_stack[t_depth - 1].ctx == ctx)
        t_depth--;
    emu_ctx_release_all(ctx);
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuCtxDestroy(CUcontext ctx)
{
    return cuCtxDestroy_v2(ctx);
}

/* ---- the current-context stack -------------------------------------------------------------- */

CUresult CUDAAPI cuCtxPushCurrent_v2(CUcontext ctx)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    ctx_ref ref;
    if (!bindable(ctx, &ref))
        return emu_leave(CUDA_ERROR_INVALID_CONTEXT);
    if (t_depth == EMU_CTX_STACK_MAX)
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    t_stack[t_depth++] = ref;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuCtxPushCurrent(CUcontext ctx)
{
    return cuCtxPushCurrent_v2(ctx);
}

CUresult CUDAAPI cuCtxPopCurrent_v2(CUcontext *pctx)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (t_depth == 0)
        return emu_leave(CUDA_ERROR_INVALID_CONTEXT);
    t_depth--;
    if (pctx != NULL)
        *pctx = t_stack[t_depth].ctx;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuCtxPopCurrent(CUcontext *pctx)
{
    return cuCtxPopCurrent_v2(pctx);
}

CUresult CUDAAPI cuCtxSetCurrent(CUcontext ctx)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (ctx == NULL) {
        if (t_depth > 0)
            t_depth--;
        return emu_leave(CUDA_SUCCESS);
    }
    ctx_ref ref;
    if (!bindable(ctx, &ref))
        return emu_leave(CUDA_ERROR_INVALID_CONTEXT);
    if (t_depth == 0)
        t_depth = 1;
    t_stack[t_depth - 1] = ref;
    return emu_leave(CUDA_SUCCESS);
}

/* A binding to a context destroyed since is still reported: the thread still has it bound. */
CUresult CUDAAPI cuCtxGetCurrent(CUcontext *pctx)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (pctx == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    *pctx = t_depth > 0 ? t_stack[t_depth - 1].ctx : NULL;
    return emu_leave(CUDA_SUCCESS);
}

/* ---- primary contexts ----------------------------------------------------------------------- */

CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
    emu_device *device;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (pctx == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    rc = emu_device_get(dev, &device);
    if (rc != CUDA_SUCCESS)
        return emu_leave(rc);
    if (device->primary == NULL)
        rc = emu_ctx_create(device, device->primary_flags, true, &device->primary);
    else if (!device->primary->active)
        activate(device->primary, device, device->primary_flags, true);
    if (rc != CUDA_SUCCESS)
        return emu_leave(rc);
    device->primary_refs++;
    *pctx = device->primary;
    return emu_leave(CUDA_SUCCESS);
}

/* Frees what the primary context owns. Its retain count is kept, as the real driver keeps it: a
 * retainer still releases once, and the next retain reactivates the same handle. */
static CUresult reset_primary(emu_device *device)
{
    if (device->primary != NULL && device->primary->active)
        emu_ctx_release_all(device->primary);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
    emu_device *device;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = emu_device_get(dev, &device);
    if (rc != CUDA_SUCCESS)
        return emu_leave(rc);
    if (device->primary_refs == 0)
        return emu_leave(CUDA_ERROR_INVALID_CONTEXT);
    /* The last release resets the context: everything it owns is freed. */
    if (--device->primary_refs == 0)
        reset_primary(device);
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease(CUdevice dev)
{
    return cuDevicePrimaryCtxRelease_v2(dev);
}

CUresult CUDAAPI cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
    emu_device *device;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = emu_device_get(dev, &device);
    return emu_leave(rc != CUDA_SUCCESS ? rc : reset_primary(device));
}

CUresult CUDAAPI cuDevicePrimaryCtxReset(CUdevice dev)
{
    return cuDevicePrimaryCtxReset_v2(dev);
}

CUresult CUDAAPI cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
    emu_device *device;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (flags == NULL || active == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    rc = emu_device_get(dev, &device);
    if (rc != CUDA_SUCCESS)
        return emu_leave(rc);
    *flags = device->primary_flags;
    *active = device->primary != NULL && device->primary->active;
    return emu_leave(CUDA_SUCCESS);
}

static CUresult set_primary_flags(CUdevice dev, unsigned flags, bool refuse_active)
{
    emu_device *device;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = emu_device_get(dev, &device);
    if (rc != CUDA_SUCCESS)
        return emu_leave(rc);
    if (!emu_ctx_flags_valid(flags))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    bool active = device->primary != NULL && device->primary->active;
    if (active && refuse_active)
        return emu_leave(CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE);
    device->primary_flags = flags;
    if (active)
        device->primary->flags = flags;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags)
{
    return set_primary_flags(dev, flags, false);
}

/* The pre-11.0 variant refused to change an active primary context. */
CUresult CUDAAPI cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags)
{
    return set_primary_flags(dev, flags, true);
}
