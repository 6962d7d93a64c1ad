/*
 * Stream-ordered allocation: memory pools (each card's default one, made at first use, and those of
 * cuMemPoolCreate), cuMemAllocAsync / cuMemAllocFromPoolAsync / cuMemFreeAsync, and the pools'
 * attributes.
 *
 * An allocation is device memory of the stream's context, like cuMemAlloc's, made and freed at once
 * (work runs eagerly, so stream order holds). Bytes freed into a pool stay counted against its card as
 * the pool's cache, up to the pool's release threshold (default 0); allocations take from the cache
 * first; cuMemPoolTrimTo and a lower threshold give it back. The cache is trimmed at the free itself,
 * not at the next synchronisation as on a GPU. Lock held.
 */
#include "emu.h"

#include <stdlib.h>

static struct CUmemPoolHandle_st *new_pool(emu_device *dev, bool is_default)
{
    struct CUmemPoolHandle_st *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    if (!emu_handle_add(pool, EMU_H_POOL)) {
        free(pool);
        return NULL;
    }
    pool->dev = dev;
    pool->is_default = is_default;
    for (int i = 0; i < 3; i++)
        pool->reuse[i] = 1;
    emu_list_add(&emu_g.pools, &pool->link);
    if (!is_default)
        emu_g.stats.mem_pools++;
    return pool;
}

static struct CUmemPoolHandle_st *default_pool(emu_device *dev)
{
    if (dev->default_pool == NULL)
        dev->default_pool = new_pool(dev, true);
    return dev->default_pool;
}

static struct CUmemPoolHandle_st *current_pool(emu_device *dev)
{
    if (dev->current_pool == NULL)
        dev->current_pool = default_pool(dev);
    return dev->current_pool;
}

static struct CUmemPoolHandle_st *pool_of(CUmemoryPool pool)
{
    return emu_handle_is(pool, EMU_H_POOL) ? pool : NULL;
}

/* Keeps what the pool reserves (handed out plus cached) within keep, or what is handed out. */
static void shrink_cache(struct CUmemPoolHandle_st *pool, uint64_t keep)
{
    uint64_t cache = keep > pool->used ? keep - pool->used : 0;
    if (pool->cached <= cache)
        return;
    uint64_t give = pool->cached - cache;
    pool->cached = cache;
    pool->dev->used_mem -= give;
    emu_g.stats.pool_cached_bytes -= give;
}

static void free_pool(struct CUmemPoolHandle_st *pool)
{
    shrink_cache(pool, 0);
    emu_list_del(&pool->link);
    emu_handle_remove(pool);
    if (!pool->is_default)
        emu_g.stats.mem_pools--;
    free(pool);
}

void emu_pool_note_free(struct CUmemPoolHandle_st *pool, size_t bytes)
{
    pool->used -= bytes;
    pool->allocations--;
    pool->cached += bytes;
    pool->dev->used_mem += bytes;
    emu_g.stats.pool_cached_bytes += bytes;
    shrink_cache(pool, pool->destroyed ? 0 : pool->threshold);
    if (pool->destroyed && pool->allocations == 0)
        free_pool(pool);
}

void emu_free_pools(void)
{
    EMU_FOR_EACH_SAFE (pos, &emu_g.pools)
        free_pool(EMU_CONTAINER(pos, struct CUmemPoolHandle_st, link));
    for (int i = 0; i < emu_g.device_count; i++)
        emu_g.devices[i].default_pool = emu_g.devices[i].current_pool = NULL;
}

static CUresult pool_alloc(struct CUmemPoolHandle_st *pool, CUcontext ctx, size_t bytes, CUdeviceptr *out)
{
    emu_alloc *a;
    if (bytes == 0 || pool->dev != ctx->dev)
        return CUDA_ERROR_INVALID_VALUE;
    if (pool->max_size != 0 && (bytes > pool->max_size || pool->used > pool->max_size - bytes))
        return CUDA_ERROR_OUT_OF_MEMORY;
    /* Cached bytes are reused first: they are already counted against the card. */
    uint64_t take = pool->cached < bytes ? pool->cached : bytes;
    pool->cached -= take;
    pool->dev->used_mem -= take;
    emu_g.stats.pool_cached_bytes -= take;
    CUresult rc = emu_alloc_device_kind(ctx, bytes, EMU_MEM_POOL, &a);
    if (rc != CUDA_SUCCESS) {
        pool->cached += take;
        pool->dev->used_mem += take;
        emu_g.stats.pool_cached_bytes += take;
        return rc;
    }
    a->pool = pool;
    pool->used += bytes;
    pool->allocations++;
    if (pool->used > pool->used_high)
        pool->used_high = pool->used;
    if (pool->used + pool->cached > pool->reserved_high)
        pool->reserved_high = pool->used + pool->cached;
    *out = (CUdeviceptr)a->start;
    return CUDA_SUCCESS;
}

/* ---- allocation ----------------------------------------------------------------------------- */

/* pool NULL: the current pool of the stream's card. */
static CUresult alloc_async(CUdeviceptr *dptr, size_t bytes, CUmemoryPool hPool, CUstream hStream, bool per_thread)
{
    CUcontext ctx;
    struct CUstream_st *s;
    if (dptr == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_begin_op(hStream, true, per_thread, &ctx, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    struct CUmemPoolHandle_st *pool = hPool != NULL ? pool_of(hPool) : current_pool(ctx->dev);
    if (pool == NULL || pool->destroyed)
        return emu_leave(hPool != NULL ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_OUT_OF_MEMORY);
    return emu_leave(pool_alloc(pool, ctx, bytes, dptr));
}

CUresult CUDAAPI cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    return alloc_async(dptr, bytesize, NULL, hStream, false);
}

CUresult CUDAAPI cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    return alloc_async(dptr, bytesize, NULL, hStream, true);
}

CUresult CUDAAPI cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream)
{
    return pool == NULL ? CUDA_ERROR_INVALID_VALUE : alloc_async(dptr, bytesize, pool, hStream, false);
}

CUresult CUDAAPI cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream)
{
    return pool == NULL ? CUDA_ERROR_INVALID_VALUE : alloc_async(dptr, bytesize, pool, hStream, true);
}

/* Only stream-ordered allocations, of the stream's card (cuMemFree takes the others). */
static CUresult free_async(CUdeviceptr dptr, CUstream hStream, bool per_thread)
{
    CUcontext ctx;
    struct CUstream_st *s;
    CUresult rc = emu_begin_op(hStream, true, per_thread, &ctx, &s);
    if (rc != CUDA_SUCCESS || dptr == 0)
        return rc != CUDA_SUCCESS ? rc : emu_leave(CUDA_SUCCESS);
    emu_alloc *a = emu_find_device(dptr, 0);
    if (a == NULL || a->start != dptr || a->kind != EMU_MEM_POOL || a->ctx->dev != ctx->dev)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    emu_release_alloc(a);
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
    return free_async(dptr, hStream, false);
}

CUresult CUDAAPI cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
{
    return free_async(dptr, hStream, true);
}

/* ---- pools ---------------------------------------------------------------------------------- */

CUresult CUDAAPI cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *poolProps)
{
    emu_device *dev;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (pool == NULL || poolProps == NULL || poolProps->allocType != CU_MEM_ALLOCATION_TYPE_PINNED ||
        poolProps->location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
        emu_device_get(poolProps->location.id, &dev) != CUDA_SUCCESS)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if (poolProps->handleTypes != CU_MEM_HANDLE_TYPE_NONE)
        return emu_leave(CUDA_ERROR_NOT_SUPPORTED);
    struct CUmemPoolHandle_st *p = new_pool(dev, false);
    if (p == NULL)
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    p->max_size = poolProps->maxSize;
    *pool = p;
    return emu_leave(CUDA_SUCCESS);
}

/* A pool with allocations outstanding goes when the last is freed; they stay valid until then. */
CUresult CUDAAPI cuMemPoolDestroy(CUmemoryPool pool)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    struct CUmemPoolHandle_st *p = pool_of(pool);
    if (p == NULL || p->is_default)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if (p->dev->current_pool == p)
        p->dev->current_pool = default_pool(p->dev);
    if (p->allocations == 0) {
        free_pool(p);
    } else {
        p->destroyed = true;
        emu_handle_remove(p);
        shrink_cache(p, 0);
    }
    return emu_leave(CUDA_SUCCESS);
}

/* Which CU_MEMPOOL_ATTR_REUSE_* flag attr is, or -1. */
static int reuse_flag(CUmemPool_attribute attr)
{
    return attr >= CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES && attr <= CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES
               ? (int)(attr - CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES)
               : -1;
}

/* Locked with the pool on success; value: a pointer the call needs (INVALID_VALUE when NULL). */
static CUresult enter_pool(CUmemoryPool pool, const void *value, struct CUmemPoolHandle_st **out)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    *out = pool_of(pool);
    return *out != NULL && value != NULL ? CUDA_SUCCESS : emu_leave(CUDA_ERROR_INVALID_VALUE);
}

CUresult CUDAAPI cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)
{
    struct CUmemPoolHandle_st *p;
    CUresult rc = enter_pool(pool, pool, &p);
    if (rc != CUDA_SUCCESS)
        return rc;
    shrink_cache(p, minBytesToKeep);
    return emu_leave(CUDA_SUCCESS);
}

/* The cuuint64_t attributes. The high-water marks can only be reset, to what is current. */
static CUresult set_size_attribute(struct CUmemPoolHandle_st *p, CUmemPool_attribute attr, cuuint64_t v)
{
    switch (attr) {
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
        p->threshold = v;
        shrink_cache(p, p->threshold);
        return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
        if (v != 0)
            return CUDA_ERROR_INVALID_VALUE;
        if (attr == CU_MEMPOOL_ATTR_USED_MEM_HIGH)
            p->used_high = p->used;
        else
            p->reserved_high = p->used + p->cached;
        return CUDA_SUCCESS;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
}

static CUresult get_size_attribute(const struct CUmemPoolHandle_st *p, CUmemPool_attribute attr, cuuint64_t *v)
{
    switch (attr) {
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: *v = p->threshold; return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT: *v = p->used + p->cached; return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH: *v = p->reserved_high; return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_USED_MEM_CURRENT: *v = p->used; return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH: *v = p->used_high; return CUDA_SUCCESS;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
}

/* The reuse flags are ints, the rest cuuint64_t. */
static CUresult pool_attribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value, bool set)
{
    struct CUmemPoolHandle_st *p;
    CUresult rc = enter_pool(pool, value, &p);
    if (rc != CUDA_SUCCESS)
        return rc;
    int flag = reuse_flag(attr);
    if (flag >= 0) {
        if (set)
            p->reuse[flag] = *(const int *)value != 0;
        else
            *(int *)value = p->reuse[flag];
        return emu_leave(CUDA_SUCCESS);
    }
    return emu_leave(set ? set_size_attribute(p, attr, *(const cuuint64_t *)value) : get_size_attribute(p, attr, value));
}

CUresult CUDAAPI cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
    return pool_attribute(pool, attr, value, true);
}

CUresult CUDAAPI cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
    return pool_attribute(pool, attr, value, false);
}

/* ---- a card's pools ------------------------------------------------------------------------- */

static CUresult device_pool(CUdevice dev, CUmemoryPool *out, bool current)
{
    emu_device *device;
    CUresult rc = emu_enter_device(dev, out, &device);
    if (rc != CUDA_SUCCESS)
        return rc;
    *out = current ? current_pool(device) : default_pool(device);
    return emu_leave(*out != NULL ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY);
}

CUresult CUDAAPI cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev)
{
    return device_pool(dev, pool_out, false);
}

CUresult CUDAAPI cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev)
{
    return device_pool(dev, pool, true);
}

CUresult CUDAAPI cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool)
{
    emu_device *device;
    CUresult rc = emu_enter_device(dev, pool, &device);
    if (rc != CUDA_SUCCESS)
        return rc;
    struct CUmemPoolHandle_st *p = pool_of(pool);
    if (p == NULL || p->dev != device)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    device->current_pool = p;
    return emu_leave(CUDA_SUCCESS);
}
