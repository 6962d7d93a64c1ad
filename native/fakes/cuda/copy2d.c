/* Pitched copies: cuMemcpy2D, cuMemcpy2DUnaligned, cuMemcpy2DAsync (host <-> device <-> device). */
#include "emu.h"

#include <string.h>

typedef struct {
    emu_side side;
    uint64_t base;              /* address of the first byte copied */
    size_t pitch;
} plane;

/* CUDA arrays are not emulated, so an array side can never be valid. */
static CUresult side_of(CUmemorytype type, const void *host, CUdeviceptr device, emu_side *side, uint64_t *addr)
{
    switch (type) {
    case CU_MEMORYTYPE_HOST: *side = EMU_SIDE_HOST; *addr = (uint64_t)(uintptr_t)host; return CUDA_SUCCESS;
    case CU_MEMORYTYPE_DEVICE: *side = EMU_SIDE_DEVICE; *addr = device; return CUDA_SUCCESS;
    case CU_MEMORYTYPE_UNIFIED: *side = EMU_SIDE_UNIFIED; *addr = device; return CUDA_SUCCESS;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
}

static CUresult make_plane(CUmemorytype type, const void *host, CUdeviceptr device, size_t x, size_t y,
                           size_t pitch, size_t width, size_t height, plane *out)
{
    uint64_t addr, offset;
    CUresult rc = side_of(type, host, device, &out->side, &addr);
    if (rc != CUDA_SUCCESS)
        return rc;
    /* Rows may not overlap; a single row needs no pitch. */
    if ((pitch < width && height > 1) || __builtin_mul_overflow((uint64_t)y, (uint64_t)pitch, &offset) ||
        __builtin_add_overflow(offset, (uint64_t)x, &offset) || __builtin_add_overflow(addr, offset, &out->base))
        return CUDA_ERROR_INVALID_VALUE;
    out->pitch = pitch;
    return CUDA_SUCCESS;
}

/* Bytes from the first to the last byte of the copied rows. */
static bool extent(size_t pitch, size_t width, size_t height, size_t *out)
{
    size_t rows;
    return !__builtin_mul_overflow(height - 1, pitch, &rows) && !__builtin_add_overflow(rows, width, out);
}

static CUresult copy_2d(const CUDA_MEMCPY2D *p, CUstream hStream, bool async, bool per_thread)
{
    CUcontext ctx;
    struct CUstream_st *s;
    emu_pins pins = { .count = 0 };
    plane dst, src;
    size_t dst_len, src_len;
    void *to, *from;
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_begin_op(hStream, async, per_thread, &ctx, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    size_t w = p->WidthInBytes, h = p->Height;
    rc = make_plane(p->dstMemoryType, p->dstHost, p->dstDevice, p->dstXInBytes, p->dstY, p->dstPitch, w, h, &dst);
    if (rc == CUDA_SUCCESS)
        rc = make_plane(p->srcMemoryType, p->srcHost, p->srcDevice, p->srcXInBytes, p->srcY, p->srcPitch, w, h, &src);
    if (rc != CUDA_SUCCESS || w == 0 || h == 0)
        return emu_leave(rc);
    if (!extent(dst.pitch, w, h, &dst_len) || !extent(src.pitch, w, h, &src_len))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    rc = emu_resolve(ctx, dst.side, dst.base, dst_len, &to, &pins);
    if (rc == CUDA_SUCCESS)
        rc = emu_resolve(ctx, src.side, src.base, src_len, &from, &pins);
    if (rc != CUDA_SUCCESS) {
        emu_unpin_all(&pins);
        return emu_leave(rc);
    }
    uint64_t end = emu_enqueue(s, emu_copy_ns(w * h), false);
    emu_unlock();
    for (size_t row = 0; row < h; row++)
        memmove((char *)to + row * dst.pitch, (const char *)from + row * src.pitch, w);
    return emu_finish_op(&pins, end, !async);
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
