/*
 * cuMemsetD8/D16/D32 and their 2D, Async and _ptds/_ptsz forms, on device memory of the current
 * context. Like the real driver's, the synchronous forms do not wait for the modelled end: a memset
 * of device memory is asynchronous with respect to the host.
 */
#include "emu.h"

#include <string.h>

typedef struct {
    unsigned elem;              /* 1, 2 or 4 bytes */
    bool async, per_thread;
} set_kind;

static void fill_row(void *row, unsigned elem, unsigned value, size_t count)
{
    if (elem == 1) {
        memset(row, (int)(value & 0xffu), count);
    } else if (elem == 2) {
        uint16_t v = (uint16_t)value, *p = row;
        for (size_t i = 0; i < count; i++)
            p[i] = v;
    } else {
        uint32_t *p = row;
        for (size_t i = 0; i < count; i++)
            p[i] = value;
    }
}

/* Byte extent of height rows of width elements, or false when it overflows or rows overlap. */
static bool set_extent(set_kind k, size_t pitch, size_t width, size_t height, size_t *row_bytes, size_t *len)
{
    size_t rows;
    if (__builtin_mul_overflow(width, (size_t)k.elem, row_bytes))
        return false;
    if (height > 1 && pitch < *row_bytes)
        return false;
    return !__builtin_mul_overflow(height - 1, pitch, &rows) && !__builtin_add_overflow(rows, *row_bytes, len);
}

static CUresult memset_2d(set_kind k, CUdeviceptr dst, size_t pitch, unsigned value, size_t width, size_t height,
                          CUstream hStream)
{
    CUcontext ctx;
    struct CUstream_st *s;
    emu_pins pins = { .count = 0 };
    size_t row_bytes, len;
    void *to;
    CUresult rc = emu_begin_op(hStream, k.async, k.per_thread, &ctx, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (dst % k.elem != 0 || (height > 1 && pitch % k.elem != 0))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if (width == 0 || height == 0)
        return emu_leave(CUDA_SUCCESS);
    if (!set_extent(k, pitch, width, height, &row_bytes, &len))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if (s->capture != NULL)
        return emu_leave(emu_graph_capture_memset(s->capture, k.elem, dst, pitch, value, width, height));
    rc = emu_resolve(ctx, EMU_SIDE_DEVICE, dst, len, &to, &pins);
    if (rc != CUDA_SUCCESS)
        return emu_leave(rc);
    uint64_t end = emu_enqueue(s, emu_copy_ns(row_bytes * height), false);
    emu_unlock();
    for (size_t row = 0; row < height; row++)
        fill_row((char *)to + row * pitch, k.elem, value, width);
    return emu_finish_op(&pins, end, false);
}

static CUresult memset_1d(set_kind k, CUdeviceptr dst, unsigned value, size_t count, CUstream hStream)
{
    return memset_2d(k, dst, count * k.elem, value, count, 1, hStream);
}

#define SYNC(elem) ((set_kind){ elem, false, false })
#define SYNC_PT(elem) ((set_kind){ elem, false, true })
#define ASYNC(elem) ((set_kind){ elem, true, false })
#define ASYNC_PT(elem) ((set_kind){ elem, true, true })

CUresult CUDAAPI cuMemsetD8_v2(CUdeviceptr dstDevice, unsigned char uc, size_t N)
{
    return memset_1d(SYNC(1), dstDevice, uc, N, NULL);
}

CUresult CUDAAPI cuMemsetD8_v2_ptds(CUdeviceptr dstDevice, unsigned char uc, size_t N)
{
    return memset_1d(SYNC_PT(1), dstDevice, uc, N, NULL);
}

CUresult CUDAAPI cuMemsetD16_v2(CUdeviceptr dstDevice, unsigned short us, size_t N)
{
    return memset_1d(SYNC(2), dstDevice, us, N, NULL);
}

CUresult CUDAAPI cuMemsetD16_v2_ptds(CUdeviceptr dstDevice, unsigned short us, size_t N)
{
    return memset_1d(SYNC_PT(2), dstDevice, us, N, NULL);
}

CUresult CUDAAPI cuMemsetD32_v2(CUdeviceptr dstDevice, unsigned int ui, size_t N)
{
    return memset_1d(SYNC(4), dstDevice, ui, N, NULL);
}

CUresult CUDAAPI cuMemsetD32_v2_ptds(CUdeviceptr dstDevice, unsigned int ui, size_t N)
{
    return memset_1d(SYNC_PT(4), dstDevice, ui, N, NULL);
}

CUresult CUDAAPI cuMemsetD2D8_v2(CUdeviceptr dstDevice, size_t dstPitch, unsigned char uc, size_t Width, size_t Height)
{
    return memset_2d(SYNC(1), dstDevice, dstPitch, uc, Width, Height, NULL);
}

CUresult CUDAAPI cuMemsetD2D8_v2_ptds(CUdeviceptr dstDevice, size_t dstPitch, unsigned char uc, size_t Width,
                                      size_t Height)
{
    return memset_2d(SYNC_PT(1), dstDevice, dstPitch, uc, Width, Height, NULL);
}

CUresult CUDAAPI cuMemsetD2D16_v2(CUdeviceptr dstDevice, size_t dstPitch, unsigned short us, size_t Width,
                                  size_t Height)
{
    return memset_2d(SYNC(2), dstDevice, dstPitch, us, Width, Height, NULL);
}

CUresult CUDAAPI cuMemsetD2D16_v2_ptds(CUdeviceptr dstDevice, size_t dstPitch, unsigned short us, size_t Width,
                                       size_t Height)
{
    return memset_2d(SYNC_PT(2), dstDevice, dstPitch, us, Width, Height, NULL);
}

CUresult CUDAAPI cuMemsetD2D32_v2(CUdeviceptr dstDevice, size_t dstPitch, unsigned int ui, size_t Width, size_t Height)
{
    return memset_2d(SYNC(4), dstDevice, dstPitch, ui, Width, Height, NULL);
}

CUresult CUDAAPI cuMemsetD2D32_v2_ptds(CUdeviceptr dstDevice, size_t dstPitch, unsigned int ui, size_t Width,
                                       size_t Height)
{
    return memset_2d(SYNC_PT(4), dstDevice, dstPitch, ui, Width, Height, NULL);
}

CUresult CUDAAPI cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream)
{
    return memset_1d(ASYNC(1), dstDevice, uc, N, hStream);
}

CUresult CUDAAPI cuMemsetD8Async_ptsz(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream)
{
    return memset_1d(ASYNC_PT(1), dstDevice, uc, N, hStream);
}

CUresult CUDAAPI cuMemsetD16Async(CUdeviceptr dstDevice, unsigned short us, size_t N, CUstream hStream)
{
    return memset_1d(ASYNC(2), dstDevice, us, N, hStream);
}

CUresult CUDAAPI cuMemsetD16Async_ptsz(CUdeviceptr dstDevice, unsigned short us, size_t N, CUstream hStream)
{
    return memset_1d(ASYNC_PT(2), dstDevice, us, N, hStream);
}

CUresult CUDAAPI cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream)
{
    return memset_1d(ASYNC(4), dstDevice, ui, N, hStream);
}

CUresult CUDAAPI cuMemsetD32Async_ptsz(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream)
{
    return memset_1d(ASYNC_PT(4), dstDevice, ui, N, hStream);
}

CUresult CUDAAPI cuMemsetD2D8Async(CUdeviceptr dstDevice, size_t dstPitch, unsigned char uc, size_t Width,
                                   size_t Height, CUstream hStream)
{
    return memset_2d(ASYNC(1), dstDevice, dstPitch, uc, Width, Height, hStream);
}

CUresult CUDAAPI cuMemsetD2D8Async_ptsz(CUdeviceptr dstDevice, size_t dstPitch, unsigned char uc, size_t Width,
                                        size_t Height, CUstream hStream)
{
    return memset_2d(ASYNC_PT(1), dstDevice, dstPitch, uc, Width, Height, hStream);
}

CUresult CUDAAPI cuMemsetD2D16Async(CUdeviceptr dstDevice, size_t dstPitch, unsigned short us, size_t Width,
                                    size_t Height, CUstream hStream)
{
    return memset_2d(ASYNC(2), dstDevice, dstPitch, us, Width, Height, hStream);
}

CUresult CUDAAPI cuMemsetD2D16Async_ptsz(CUdeviceptr dstDevice, size_t dstPitch, unsigned short us, size_t Width,
                                         size_t Height, CUstream hStream)
{
    return memset_2d(ASYNC_PT(2), dstDevice, dstPitch, us, Width, Height, hStream);
}

CUresult CUDAAPI cuMemsetD2D32Async(CUdeviceptr dstDevice, size_t dstPitch, unsigned int ui, size_t Width,
                                    size_t Height, CUstream hStream)
{
    return memset_2d(ASYNC(4), dstDevice, dstPitch, ui, Width, Height, hStream);
}

CUresult CUDAAPI cuMemsetD2D32Async_ptsz(CUdeviceptr dstDevice, size_t dstPitch, unsigned int ui, size_t Width,
                                         size_t Height, CUstream hStream)
{
    return memset_2d(ASYNC_PT(4), dstDevice, dstPitch, ui, Width, Height, hStream);
}
