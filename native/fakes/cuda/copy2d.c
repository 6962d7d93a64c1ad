/*
 * Pitched copies: cuMemcpy2D, cuMemcpy2DUnaligned, cuMemcpy2DAsync and cuMemcpy3D, cuMemcpy3DAsync,
 * between host memory, device memory and CUDA arrays. A 2D copy is a 3D copy of depth 1. An array is
 * its bytes in row-major order (array.c): rows of Width elements, Height rows (0: 1) per plane, Depth
 * planes (0: 1); a copy must lie inside it.
 */
#include "emu.h"

#include "../../common/array_bytes.h"
#include "../../common/memcpy2d_as_3d.h"

#include <string.h>

typedef struct {
    emu_side side;
    struct CUarray_st *array;   /* an array side, pinned while the copy runs; NULL otherwise */
    uint64_t base;              /* linear side: address of the first byte copied */
    char *host;                 /* array side: host memory of the first byte copied */
    size_t pitch, height;       /* bytes between rows; rows between planes */
} box;

static CUresult array_side(CUcontext ctx, CUarray array, size_t x, size_t y, size_t z, size_t w, size_t h, size_t d, box *out)
{
    if (!emu_handle_is(array, EMU_H_ARRAY))
        return CUDA_ERROR_INVALID_HANDLE;
    struct CUarray_st *a = array;
    int block = 0;
    size_t elem = gp_array_element_bytes(a->desc.Format, a->desc.NumChannels, &block), row, rows, planes;
    if (a->ctx != ctx || elem == 0 || block || __builtin_mul_overflow(a->desc.Width, elem, &row))
        return CUDA_ERROR_INVALID_VALUE;
    rows = a->desc.Height == 0 ? 1 : a->desc.Height;
    planes = a->desc.Depth == 0 ? 1 : a->desc.Depth;
    if (x > row || w > row - x || y > rows || h > rows - y || z > planes || d > planes - z)
        return CUDA_ERROR_INVALID_VALUE;
    out->array = a;
    out->pitch = row;
    out->height = rows;
    out->host = (char *)a->host + (z * rows + y) * row + x;
    return CUDA_SUCCESS;
}

static CUresult linear_side(CUmemorytype type, const void *host, CUdeviceptr device, size_t x, size_t y, size_t z,
                            size_t pitch, size_t height, size_t w, size_t h, size_t d, box *out)
{
    uint64_t addr, offset;
    switch (type) {
    case CU_MEMORYTYPE_HOST: out->side = EMU_SIDE_HOST; addr = (uint64_t)(uintptr_t)host; break;
    case CU_MEMORYTYPE_DEVICE: out->side = EMU_SIDE_DEVICE; addr = device; break;
    case CU_MEMORYTYPE_UNIFIED: out->side = EMU_SIDE_UNIFIED; addr = device; break;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
    /* Rows may not overlap (a single row needs no pitch), nor planes (a single plane needs no height). */
    if ((pitch < w && (h > 1 || d > 1)) || (height < h && d > 1) || __builtin_mul_overflow((uint64_t)z, (uint64_t)height, &offset) ||
        __builtin_add_overflow(offset, (uint64_t)y, &offset) || __builtin_mul_overflow(offset, (uint64_t)pitch, &offset) ||
        __builtin_add_overflow(offset, (uint64_t)x, &offset) || __builtin_add_overflow(addr, offset, &out->base))
        return CUDA_ERROR_INVALID_VALUE;
    out->pitch = pitch;
    out->height = height;
    return CUDA_SUCCESS;
}

/* Bytes from the first to the last byte copied on a linear side. */
static bool extent(const box *b, size_t w, size_t h, size_t d, size_t *out)
{
    size_t rows;
    return !__builtin_mul_overflow(d - 1, b->height, &rows) && !__builtin_add_overflow(rows, h - 1, &rows) &&
           !__builtin_mul_overflow(rows, b->pitch, &rows) && !__builtin_add_overflow(rows, w, out);
}

/* Lock held: the host memory behind a side. */
static CUresult resolve(CUcontext ctx, box *b, size_t w, size_t h, size_t d, void **host, emu_pins *pins)
{
    if (b->array != NULL) {
        *host = b->host;
        return CUDA_SUCCESS;
    }
    size_t len;
    if (!extent(b, w, h, d, &len))
        return CUDA_ERROR_INVALID_VALUE;
    return emu_resolve(ctx, b->side, b->base, len, host, pins);
}

#define SIDE(p, s, w, h, d)                                                                                            \
    ((p)->s##MemoryType == CU_MEMORYTYPE_ARRAY                                                                         \
         ? array_side(ctx, (p)->s##Array, (p)->s##XInBytes, (p)->s##Y, (p)->s##Z, w, h, d, &s)                         \
         : linear_side((p)->s##MemoryType, (p)->s##Host, (p)->s##Device, (p)->s##XInBytes, (p)->s##Y, (p)->s##Z,       \
                       (p)->s##Pitch, (p)->s##Height, w, h, d, &s))

static CUresult copy_3d(const CUDA_MEMCPY3D *p, CUstream hStream, bool async, bool per_thread)
{
    CUcontext ctx;
    struct CUstream_st *s;
    emu_pins pins = { .count = 0 };
    box dst = { 0 }, src = { 0 };
    void *to, *from;
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_begin_op(hStream, async, per_thread, &ctx, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    size_t w = p->WidthInBytes, h = p->Height, d = p->Depth;
    /* Mipmap levels other than 0 and the reserved fields are not emulated. */
    if (p->srcLOD != 0 || p->dstLOD != 0 || p->reserved0 != NULL || p->reserved1 != NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if (w == 0 || h == 0 || d == 0)
        return emu_leave(CUDA_SUCCESS);
    rc = SIDE(p, dst, w, h, d);
    if (rc == CUDA_SUCCESS)
        rc = SIDE(p, src, w, h, d);
    if (rc == CUDA_SUCCESS)
        rc = resolve(ctx, &dst, w, h, d, &to, &pins);
    if (rc == CUDA_SUCCESS)
        rc = resolve(ctx, &src, w, h, d, &from, &pins);
    if (rc != CUDA_SUCCESS) {
        emu_unpin_all(&pins);
        return emu_leave(rc);
    }
    if (dst.array != NULL)
        emu_array_pin(dst.array);
    if (src.array != NULL)
        emu_array_pin(src.array);
    uint64_t end = emu_enqueue(s, emu_copy_ns(w * h * d), false);
    emu_unlock();
    for (size_t z = 0; z < d; z++)
        for (size_t y = 0; y < h; y++)
            memmove((char *)to + (z * dst.height + y) * dst.pitch, (const char *)from + (z * src.height + y) * src.pitch, w);
    emu_lock();
    if (dst.array != NULL)
        emu_array_unpin(dst.array);
    if (src.array != NULL)
        emu_array_unpin(src.array);
    emu_unlock();
    return emu_finish_op(&pins, end, !async);
}

static CUresult copy_2d(const CUDA_MEMCPY2D *p, CUstream hStream, bool async, bool per_thread)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUDA_MEMCPY3D m = gp_memcpy2d_as_3d(p);
    return copy_3d(&m, hStream, async, per_thread);
}

CUresult CUDAAPI cuMemcpy2D_v2(const CUDA_MEMCPY2D *pCopy)
{
    return copy_2d(pCopy, NULL, false, false);
}

CUresult CUDAAPI cuMemcpy2D_v2_ptds(const CUDA_MEMCPY2D *pCopy)
{
    return copy_2d(pCopy, NULL, false, true);
}

/* Alignment constraints do not exist here, so the unaligned variant is the same copy. */
CUresult CUDAAPI cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *pCopy)
{
    return copy_2d(pCopy, NULL, false, false);
}

CUresult CUDAAPI cuMemcpy2DUnaligned_v2_ptds(const CUDA_MEMCPY2D *pCopy)
{
    return copy_2d(pCopy, NULL, false, true);
}

CUresult CUDAAPI cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *pCopy, CUstream hStream)
{
    return copy_2d(pCopy, hStream, true, false);
}

CUresult CUDAAPI cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D *pCopy, CUstream hStream)
{
    return copy_2d(pCopy, hStream, true, true);
}

CUresult CUDAAPI cuMemcpy3D_v2(const CUDA_MEMCPY3D *pCopy)
{
    return copy_3d(pCopy, NULL, false, false);
}

CUresult CUDAAPI cuMemcpy3D_v2_ptds(const CUDA_MEMCPY3D *pCopy)
{
    return copy_3d(pCopy, NULL, false, true);
}

CUresult CUDAAPI cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D *pCopy, CUstream hStream)
{
    return copy_3d(pCopy, hStream, true, false);
}

CUresult CUDAAPI cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D *pCopy, CUstream hStream)
{
    return copy_3d(pCopy, hStream, true, true);
}
