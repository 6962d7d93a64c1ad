/*
 * Per-context queries and settings: device, flags, limits, configs, synchronisation.
 *
 * Getters that only describe the context (device, flags, id) answer even when it holds a sticky
 * error or is a primary context made inactive by a reset, as the real driver's do.
 */
#include "emu.h"

#define EMU_CTX_API_VERSION 3020   /* what every context created through the _v2+ API reports */
#define EMU_PRIORITY_LEAST 0
#define EMU_PRIORITY_GREATEST (-5)

typedef enum {
    DESCRIBE,                   /* any context whose description is still known; no sticky error */
    USE,                        /* a live context, and its sticky error */
} ctx_mode;

static CUresult described(CUcontext ctx)
{
    if (emu_handle_is(ctx, EMU_H_CONTEXT))
        return CUDA_SUCCESS;
    return emu_handle_is(ctx, EMU_H_DEAD_CONTEXT) ? CUDA_ERROR_CONTEXT_IS_DESTROYED : CUDA_ERROR_INVALID_CONTEXT;
}

/* Locked on success. ctx NULL means the current context. */
static CUresult enter_ctx_arg(CUcontext *ctx, ctx_mode mode)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (mode == DESCRIBE)
        rc = *ctx == NULL ? emu_current_described(ctx) : described(*ctx);
    else
        rc = *ctx == NULL ? emu_current(ctx) : emu_ctx_check(*ctx);
    if (rc == CUDA_SUCCESS && mode == USE)
        rc = (*ctx)->sticky;
    return rc == CUDA_SUCCESS ? rc : emu_leave(rc);
}

CUresult CUDAAPI cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx)
{
    if (device == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_ctx_arg(&ctx, DESCRIBE);
    if (rc != CUDA_SUCCESS)
        return rc;
    *device = ctx->dev->ordinal;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuCtxGetDevice(CUdevice *device)
{
    return cuCtxGetDevice_v2(device, NULL);
}

CUresult CUDAAPI cuCtxGetId(CUcontext ctx, unsigned long long *ctxId)
{
    if (ctxId == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_ctx_arg(&ctx, DESCRIBE);
    if (rc != CUDA_SUCCESS)
        return rc;
    *ctxId = ctx->id;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuCtxGetApiVersion(CUcontext ctx, unsigned int *version)
{
    if (version == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_ctx_arg(&ctx, USE);
    if (rc != CUDA_SUCCESS)
        return rc;
    *version = EMU_CTX_API_VERSION;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuCtxGetFlags(unsigned int *flags)
{
    CUcontext ctx = NULL;
    if (flags == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_ctx_arg(&ctx, DESCRIBE);
    if (rc != CUDA_SUCCESS)
        return rc;
    *flags = ctx->flags;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuCtxSetFlags(unsigned int flags)
{
    CUcontext ctx;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_ctx_flags_valid(flags))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    ctx->flags = flags;
    if (ctx->primary)
        ctx->dev->primary_flags = flags;
    return emu_leave(CUDA_SUCCESS);
}

/* Sleeps (unlocked) until everything enqueued in the context is done, as modelled. */
CUresult CUDAAPI cuCtxSynchronize_v2(CUcontext ctx)
{
    CUresult rc = enter_ctx_arg(&ctx, USE);
    if (rc != CUDA_SUCCESS)
        return rc;
    uint64_t ready = emu_ctx_ready_at(ctx);
    emu_printf_flush(ctx);
    emu_unlock();
    emu_sleep_until(ready);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSynchronize(void)
{
    return cuCtxSynchronize_v2(NULL);
}

/* ---- limits --------------------------------------------------------------------------------- */

static bool limit_query_only(CUlimit limit)
{
    return limit == CU_LIMIT_SHMEM_SIZE || limit == CU_LIMIT_CIG_ENABLED;
}

CUresult CUDAAPI cuCtxGetLimit(size_t *pvalue, CUlimit limit)
{
    CUcontext ctx = NULL;
    if (pvalue == NULL || (unsigned)limit >= EMU_LIMIT_COUNT)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_ctx_arg(&ctx, USE);
    if (rc != CUDA_SUCCESS)
        return rc;
    *pvalue = limit == CU_LIMIT_SHMEM_SIZE
                  ? (size_t)emu_device_attribute(ctx->dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
                  : ctx->limits[limit];
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuCtxSetLimit(CUlimit limit, size_t value)
{
    CUcontext ctx;
    if ((unsigned)limit >= EMU_LIMIT_COUNT)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (limit_query_only(limit))
        return emu_leave(CUDA_ERROR_NOT_PERMITTED);
    if (limit == CU_LIMIT_MAX_L2_FETCH_GRANULARITY && value > 128)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    /* The heap is made at the first device malloc: its size is fixed from then, as on a GPU. */
    if (limit == CU_LIMIT_MALLOC_HEAP_SIZE && emu_heap_made(ctx) && value != ctx->limits[limit])
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    ctx->limits[limit] = value;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority)
{
    CUcontext ctx = NULL;
    CUresult rc = enter_ctx_arg(&ctx, USE);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (leastPriority != NULL)
        *leastPriority = EMU_PRIORITY_LEAST;
    if (greatestPriority != NULL)
        *greatestPriority = EMU_PRIORITY_GREATEST;
    return emu_leave(CUDA_SUCCESS);
}

/* ---- cache and shared-memory configuration: stored, no effect on the model ------------------ */

CUresult CUDAAPI cuCtxGetCacheConfig(CUfunc_cache *pconfig)
{
    CUcontext ctx;
    if (pconfig == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    *pconfig = ctx->cache_config;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuCtxSetCacheConfig(CUfunc_cache config)
{
    CUcontext ctx;
    if ((unsigned)config > CU_FUNC_CACHE_PREFER_EQUAL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    ctx->cache_config = config;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuCtxGetSharedMemConfig(CUsharedconfig *pConfig)
{
    CUcontext ctx;
    if (pConfig == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    *pConfig = ctx->shared_config;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuCtxSetSharedMemConfig(CUsharedconfig config)
{
    CUcontext ctx;
    if ((unsigned)config > CU_SHARED_MEM_CONFIG_EIGHT_BYTE_BANK_SIZE)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    ctx->shared_config = config;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuCtxResetPersistingL2Cache(void)
{
    CUcontext ctx;
    CUresult rc = emu_enter_ctx(&ctx);
    return rc != CUDA_SUCCESS ? rc : emu_leave(CUDA_SUCCESS);
}
