/*
 * CUDA arrays and mipmapped arrays: device memory of a context, sized from the descriptor
 * (native/common/array_bytes.h) and counted against the card; and the linear copies to, from and
 * between arrays (cuMemcpyHtoA, AtoH, AtoD, DtoA, AtoA), which treat any array as its bytes in
 * row-major order (a GPU's layout is opaque; pitched and 3D copies: copy2d.c). Lock held.
 */
#include "emu.h"

#include "../../common/array_bytes.h"

#include <stdlib.h>
#include <string.h>

#define EMU_ARRAY_FLAGS                                                                                        \
    (CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_SURFACE_LDST | CUDA_ARRAY3D_CUBEMAP | CUDA_ARRAY3D_TEXTURE_GATHER |   \
     CUDA_ARRAY3D_DEPTH_TEXTURE | CUDA_ARRAY3D_COLOR_ATTACHMENT)

/* The memory of one array of the descriptor, or the error the descriptor earns. */
static CUresult array_size(const CUDA_ARRAY3D_DESCRIPTOR_v2 *d, size_t *bytes)
{
    if ((d->Flags & ~(unsigned)EMU_ARRAY_FLAGS) != 0)
        return CUDA_ERROR_NOT_SUPPORTED; /* sparse, deferred mapping, video: not emulated */
    bool layered = (d->Flags & CUDA_ARRAY3D_LAYERED) != 0;
    if (d->Depth != 0 && d->Height == 0 && !layered)
        return CUDA_ERROR_INVALID_VALUE;
    if ((d->Flags & CUDA_ARRAY3D_CUBEMAP) != 0 &&
        (d->Width != d->Height || (layered ? d->Depth % 6 != 0 || d->Depth == 0 : d->Depth != 6)))
        return CUDA_ERROR_INVALID_VALUE;
    return gp_array_bytes(d->Width, d->Height, d->Depth, d->Format, d->NumChannels, bytes) == 0
               ? CUDA_SUCCESS
               : CUDA_ERROR_INVALID_VALUE;
}

static struct CUarray_st *new_array(CUcontext ctx, const CUDA_ARRAY3D_DESCRIPTOR_v2 *desc, size_t bytes,
                                    struct CUmipmappedArray_st *mipmap)
{
    struct CUarray_st *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->host = emu_map_memory(bytes, &a->map_bytes);
    if (a->host == NULL || !emu_handle_add(a, EMU_H_ARRAY)) {
        emu_unmap_memory(a->host, a->map_bytes);
        free(a);
        return NULL;
    }
    emu_list_init(&a->link);
    a->ctx = ctx;
    a->mipmap = mipmap;
    a->desc = *desc;
    a->bytes = bytes;
    return a;
}

/* Its memory goes now, or after the copy that still uses it. */
static void drop_array(struct CUarray_st *a)
{
    emu_handle_remove(a);
    emu_list_del(&a->link);
    a->ctx = NULL;
    if (a->pins > 0) {
        a->dead = true;
        return;
    }
    emu_unmap_memory(a->host, a->map_bytes);
    free(a);
}

static void destroy_array(struct CUarray_st *a)
{
    a->ctx->dev->used_mem -= a->bytes;
    emu_g.stats.arrays--;
    emu_g.stats.array_bytes -= a->bytes;
    drop_array(a);
}

static void destroy_mipmap(struct CUmipmappedArray_st *m)
{
    m->ctx->dev->used_mem -= m->bytes;
    emu_g.stats.mipmapped_arrays--;
    emu_g.stats.array_bytes -= m->bytes;
    for (unsigned l = 0; l < m->levels; l++)
        if (m->level[l] != NULL)
            drop_array(m->level[l]);
    emu_handle_remove(m);
    emu_list_del(&m->link);
    free(m->level);
    free(m);
}

void emu_free_ctx_arrays(CUcontext ctx)
{
    EMU_FOR_EACH_SAFE (pos, &ctx->arrays)
        destroy_array(EMU_CONTAINER(pos, struct CUarray_st, link));
    EMU_FOR_EACH_SAFE (pos, &ctx->mipmaps)
        destroy_mipmap(EMU_CONTAINER(pos, struct CUmipmappedArray_st, link));
}

/* ---- arrays --------------------------------------------------------------------------------- */

static CUresult create_array(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR_v2 *desc)
{
    CUcontext ctx;
    size_t bytes = 0;
    if (pHandle == NULL || desc == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    if ((rc = array_size(desc, &bytes)) != CUDA_SUCCESS)
        return emu_leave(rc);
    if (!emu_device_fits(ctx->dev, bytes))
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    struct CUarray_st *a = new_array(ctx, desc, bytes, NULL);
    if (a == NULL)
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    emu_list_add(&ctx->arrays, &a->link);
    ctx->dev->used_mem += bytes;
    emu_g.stats.arrays++;
    emu_g.stats.array_bytes += bytes;
    *pHandle = a;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuArrayCreate_v2(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR_v2 *pAllocateArray)
{
    if (pAllocateArray == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUDA_ARRAY3D_DESCRIPTOR_v2 desc = { .Width = pAllocateArray->Width,
                                        .Height = pAllocateArray->Height,
                                        .Format = pAllocateArray->Format,
                                        .NumChannels = pAllocateArray->NumChannels };
    return create_array(pHandle, &desc);
}

CUresult CUDAAPI cuArray3DCreate_v2(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR_v2 *pAllocateArray)
{
    return create_array(pHandle, pAllocateArray);
}

/* Locked with the array on success. */
static CUresult enter_array(CUarray hArray, struct CUarray_st **out)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hArray, EMU_H_ARRAY))
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    *out = hArray;
    return CUDA_SUCCESS;
}

/* A mipmapped array's levels go with it, not on their own. */
CUresult CUDAAPI cuArrayDestroy(CUarray hArray)
{
    struct CUarray_st *a;
    CUresult rc = enter_array(hArray, &a);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (a->mipmap != NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    destroy_array(a);
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuArray3DGetDescriptor_v2(CUDA_ARRAY3D_DESCRIPTOR_v2 *pArrayDescriptor, CUarray hArray)
{
    struct CUarray_st *a;
    CUresult rc = enter_array(hArray, &a);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (pArrayDescriptor == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    *pArrayDescriptor = a->desc;
    return emu_leave(CUDA_SUCCESS);
}

/* The 2D descriptor of any array (a 3D one's depth left out). */
CUresult CUDAAPI cuArrayGetDescriptor_v2(CUDA_ARRAY_DESCRIPTOR_v2 *pArrayDescriptor, CUarray hArray)
{
    CUDA_ARRAY3D_DESCRIPTOR_v2 d;
    CUresult rc = cuArray3DGetDescriptor_v2(pArrayDescriptor != NULL ? &d : NULL, hArray);
    if (rc == CUDA_SUCCESS) {
        pArrayDescriptor->Width = d.Width;
        pArrayDescriptor->Height = d.Height;
        pArrayDescriptor->Format = d.Format;
        pArrayDescriptor->NumChannels = d.NumChannels;
    }
    return rc;
}

/* ---- mipmapped arrays ----------------------------------------------------------------------- */

/* 1 + floor(log2) of the largest dimension: the level whose every dimension is 1 is the last. */
static unsigned max_levels(const CUDA_ARRAY3D_DESCRIPTOR_v2 *d)
{
    size_t largest = d->Width;
    if (d->Height > largest)
        largest = d->Height;
    if ((d->Flags & CUDA_ARRAY3D_LAYERED) == 0 && d->Depth > largest)
        largest = d->Depth;
    unsigned n = 1;
    while (largest >>= 1)
        n++;
    return n;
}

CUresult CUDAAPI cuMipmappedArrayCreate(CUmipmappedArray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pMipmappedArrayDesc,
                                        unsigned int numMipmapLevels)
{
    CUcontext ctx;
    size_t total = 0;
    const CUDA_ARRAY3D_DESCRIPTOR_v2 *d = pMipmappedArrayDesc;
    if (pHandle == NULL || d == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    if ((rc = array_size(d, &total)) != CUDA_SUCCESS)
        return emu_leave(rc);
    bool layered = (d->Flags & CUDA_ARRAY3D_LAYERED) != 0;
    if (numMipmapLevels == 0 || numMipmapLevels > max_levels(d) ||
        gp_mipmap_bytes(d->Width, d->Height, d->Depth, layered, d->Format, d->NumChannels, numMipmapLevels, &total) != 0)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if (!emu_device_fits(ctx->dev, total))
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    struct CUmipmappedArray_st *m = calloc(1, sizeof *m);
    if (m == NULL || (m->level = calloc(numMipmapLevels, sizeof *m->level)) == NULL || !emu_handle_add(m, EMU_H_MIPMAP)) {
        if (m != NULL)
            free(m->level);
        free(m);
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    }
    emu_list_init(&m->link);
    emu_list_add(&ctx->mipmaps, &m->link);
    m->ctx = ctx;
    m->levels = numMipmapLevels;
    m->bytes = total;
    ctx->dev->used_mem += total;
    emu_g.stats.mipmapped_arrays++;
    emu_g.stats.array_bytes += total;
    /* Layers (the depth of a layered array) are not halved. */
    for (unsigned l = 0; l < numMipmapLevels; l++) {
        CUDA_ARRAY3D_DESCRIPTOR_v2 ld = *d;
        size_t bytes = 0;
        ld.Width = gp_mip_extent(d->Width, l);
        ld.Height = gp_mip_extent(d->Height, l);
        ld.Depth = layered ? d->Depth : gp_mip_extent(d->Depth, l);
        gp_array_bytes(ld.Width, ld.Height, ld.Depth, ld.Format, ld.NumChannels, &bytes);
        if ((m->level[l] = new_array(ctx, &ld, bytes, m)) == NULL) {
            destroy_mipmap(m);
            return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
        }
    }
    *pHandle = m;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuMipmappedArrayGetLevel(CUarray *pLevelArray, CUmipmappedArray hMipmappedArray, unsigned int level)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hMipmappedArray, EMU_H_MIPMAP))
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    if (pLevelArray == NULL || level >= hMipmappedArray->levels)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    *pLevelArray = hMipmappedArray->level[level];
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuMipmappedArrayDestroy(CUmipmappedArray hMipmappedArray)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hMipmappedArray, EMU_H_MIPMAP))
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    destroy_mipmap(hMipmappedArray);
    return emu_leave(CUDA_SUCCESS);
}

/* ---- linear copies to, from and between arrays ------------------------------------------------ */

void emu_array_pin(struct CUarray_st *a)
{
    a->pins++;
}

void emu_array_unpin(struct CUarray_st *a)
{
    if (--a->pins == 0 && a->dead) {
        emu_unmap_memory(a->host, a->map_bytes);
        free(a);
    }
}

/* One end of a linear copy: bytes of an array from an offset, or memory at an address on a side. */
typedef struct {
    CUarray array;              /* NULL: addr on side */
    size_t offset;
    emu_side side;
    uint64_t addr;
} linear_end;

#define ARRAY_END(a, off) ((linear_end){ .array = (a), .offset = (off) })
#define MEMORY_END(s, p) ((linear_end){ .side = (s), .addr = (p) })

/* Lock held: the host memory behind an end; an array end's array is pinned into *array. */
static CUresult resolve_end(CUcontext ctx, const linear_end *e, size_t bytes, void **host, struct CUarray_st **array, emu_pins *pins)
{
    *array = NULL;
    if (e->array == NULL)
        return emu_resolve(ctx, e->side, e->addr, bytes, host, pins);
    if (!emu_handle_is(e->array, EMU_H_ARRAY))
        return CUDA_ERROR_INVALID_HANDLE;
    struct CUarray_st *a = e->array;
    if (a->ctx != ctx || e->offset > a->bytes || bytes > a->bytes - e->offset)
        return CUDA_ERROR_INVALID_VALUE;
    *host = (char *)a->host + e->offset;
    *array = a;
    return CUDA_SUCCESS;
}

/* Synchronous, on the default stream of the current context; an array must be one of it. */
static CUresult copy_linear(linear_end dst, linear_end src, size_t bytes, bool per_thread)
{
    CUcontext ctx;
    struct CUstream_st *s;
    emu_pins pins = { .count = 0 };
    struct CUarray_st *da, *sa;
    void *to, *from;
    CUresult rc = emu_begin_op(NULL, false, per_thread, &ctx, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    /* An array end is checked even for no bytes, as the driver checks its handle. */
    rc = resolve_end(ctx, &dst, bytes, &to, &da, &pins);
    if (rc == CUDA_SUCCESS)
        rc = resolve_end(ctx, &src, bytes, &from, &sa, &pins);
    if (rc != CUDA_SUCCESS || bytes == 0) {
        emu_unpin_all(&pins);
        return emu_leave(rc);
    }
    if (da != NULL)
        emu_array_pin(da);
    if (sa != NULL)
        emu_array_pin(sa);
    uint64_t end = emu_enqueue(s, emu_copy_ns(bytes), false);
    emu_unlock();
    memmove(to, from, bytes);
    emu_lock();
    if (da != NULL)
        emu_array_unpin(da);
    if (sa != NULL)
        emu_array_unpin(sa);
    emu_unlock();
    return emu_finish_op(&pins, end, true);
}

#define ADDR(p) ((uint64_t)(uintptr_t)(p))

CUresult CUDAAPI cuMemcpyHtoA_v2(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount)
{
    return copy_linear(ARRAY_END(dstArray, dstOffset), MEMORY_END(EMU_SIDE_HOST, ADDR(srcHost)), ByteCount, false);
}

CUresult CUDAAPI cuMemcpyHtoA_v2_ptds(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount)
{
    return copy_linear(ARRAY_END(dstArray, dstOffset), MEMORY_END(EMU_SIDE_HOST, ADDR(srcHost)), ByteCount, true);
}

CUresult CUDAAPI cuMemcpyAtoH_v2(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount)
{
    return copy_linear(MEMORY_END(EMU_SIDE_HOST, ADDR(dstHost)), ARRAY_END(srcArray, srcOffset), ByteCount, false);
}

CUresult CUDAAPI cuMemcpyAtoH_v2_ptds(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount)
{
    return copy_linear(MEMORY_END(EMU_SIDE_HOST, ADDR(dstHost)), ARRAY_END(srcArray, srcOffset), ByteCount, true);
}

CUresult CUDAAPI cuMemcpyAtoD_v2(CUdeviceptr dstDevice, CUarray srcArray, size_t srcOffset, size_t ByteCount)
{
    return copy_linear(MEMORY_END(EMU_SIDE_DEVICE, dstDevice), ARRAY_END(srcArray, srcOffset), ByteCount, false);
}

CUresult CUDAAPI cuMemcpyAtoD_v2_ptds(CUdeviceptr dstDevice, CUarray srcArray, size_t srcOffset, size_t ByteCount)
{
    return copy_linear(MEMORY_END(EMU_SIDE_DEVICE, dstDevice), ARRAY_END(srcArray, srcOffset), ByteCount, true);
}

CUresult CUDAAPI cuMemcpyDtoA_v2(CUarray dstArray, size_t dstOffset, CUdeviceptr srcDevice, size_t ByteCount)
{
    return copy_linear(ARRAY_END(dstArray, dstOffset), MEMORY_END(EMU_SIDE_DEVICE, srcDevice), ByteCount, false);
}

CUresult CUDAAPI cuMemcpyDtoA_v2_ptds(CUarray dstArray, size_t dstOffset, CUdeviceptr srcDevice, size_t ByteCount)
{
    return copy_linear(ARRAY_END(dstArray, dstOffset), MEMORY_END(EMU_SIDE_DEVICE, srcDevice), ByteCount, true);
}

CUresult CUDAAPI cuMemcpyAtoA_v2(CUarray dstArray, size_t dstOffset, CUarray srcArray, size_t srcOffset, size_t ByteCount)
{
    return copy_linear(ARRAY_END(dstArray, dstOffset), ARRAY_END(srcArray, srcOffset), ByteCount, false);
}

CUresult CUDAAPI cuMemcpyAtoA_v2_ptds(CUarray dstArray, size_t dstOffset, CUarray srcArray, size_t srcOffset, size_t ByteCount)
{
    return copy_linear(ARRAY_END(dstArray, dstOffset), ARRAY_END(srcArray, srcOffset), ByteCount, true);
}
