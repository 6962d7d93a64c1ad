/* Linear copies: cuMemcpy{HtoD,DtoH,DtoD}, unified cuMemcpy, their Async and _ptds/_ptsz forms. */
#include "emu.h"

#include <string.h>

typedef struct {
    emu_side dst_side, src_side;
    bool async, per_thread;
} copy_kind;

static CUresult copy_1d(copy_kind k, uint64_t dst, uint64_t src, size_t bytes, CUstream hStream)
{
    CUcontext ctx;
    struct CUstream_st *s;
    emu_pins pins = { .count = 0 };
    void *to, *from;
    CUresult rc = emu_begin_op(hStream, k.async, k.per_thread, &ctx, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (bytes == 0)
        return emu_leave(CUDA_SUCCESS);
    if (s->capture != NULL) {
        bool device = (k.dst_side == EMU_SIDE_DEVICE || (k.dst_side == EMU_SIDE_UNIFIED && emu_is_device_address(dst))) &&
                      (k.src_side == EMU_SIDE_DEVICE || (k.src_side == EMU_SIDE_UNIFIED && emu_is_device_address(src)));
        if (device)
            return emu_leave(emu_graph_capture_copy(s->capture, dst, src, bytes));
        s->capture->invalid = true;
        return emu_leave(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    }
    rc = emu_resolve(ctx, k.dst_side, dst, bytes, &to, &pins);
    if (rc == CUDA_SUCCESS)
        rc = emu_resolve(ctx, k.src_side, src, bytes, &from, &pins);
    if (rc != CUDA_SUCCESS) {
        emu_unpin_all(&pins);
        return emu_leave(rc);
    }
    uint64_t end = emu_enqueue(s, emu_copy_ns(bytes), false);
    emu_unlock();
    memmove(to, from, bytes);
    return emu_finish_op(&pins, end, !k.async);
}

#define H EMU_SIDE_HOST
#define D EMU_SIDE_DEVICE
#define U EMU_SIDE_UNIFIED
#define ADDR(p) ((uint64_t)(uintptr_t)(p))

/* ---- synchronous ---------------------------------------------------------------------------- */

CUresult CUDAAPI cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)
{
    return copy_1d((copy_kind){ D, H, false, false }, dstDevice, ADDR(srcHost), ByteCount, NULL);
}

CUresult CUDAAPI cuMemcpyHtoD_v2_ptds(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)
{
    return copy_1d((copy_kind){ D, H, false, true }, dstDevice, ADDR(srcHost), ByteCount, NULL);
}

CUresult CUDAAPI cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
    return copy_1d((copy_kind){ H, D, false, false }, ADDR(dstHost), srcDevice, ByteCount, NULL);
}

CUresult CUDAAPI cuMemcpyDtoH_v2_ptds(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
    return copy_1d((copy_kind){ H, D, false, true }, ADDR(dstHost), srcDevice, ByteCount, NULL);
}

CUresult CUDAAPI cuMemcpyDtoD_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
{
    return copy_1d((copy_kind){ D, D, false, false }, dstDevice, srcDevice, ByteCount, NULL);
}

CUresult CUDAAPI cuMemcpyDtoD_v2_ptds(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
{
    return copy_1d((copy_kind){ D, D, false, true }, dstDevice, srcDevice, ByteCount, NULL);
}

/* Unified addressing: each pointer's side is found by looking it up. */
CUresult CUDAAPI cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
{
    return copy_1d((copy_kind){ U, U, false, false }, dst, src, ByteCount, NULL);
}

CUresult CUDAAPI cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
{
    return copy_1d((copy_kind){ U, U, false, true }, dst, src, ByteCount, NULL);
}

/* ---- asynchronous --------------------------------------------------------------------------- */

CUresult CUDAAPI cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, CUstream hStream)
{
    return copy_1d((copy_kind){ D, H, true, false }, dstDevice, ADDR(srcHost), ByteCount, hStream);
}

CUresult CUDAAPI cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
                                           CUstream hStream)
{
    return copy_1d((copy_kind){ D, H, true, true }, dstDevice, ADDR(srcHost), ByteCount, hStream);
}

CUresult CUDAAPI cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream)
{
    return copy_1d((copy_kind){ H, D, true, false }, ADDR(dstHost), srcDevice, ByteCount, hStream);
}

CUresult CUDAAPI cuMemcpyDtoHAsync_v2_ptsz(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream)
{
    return copy_1d((copy_kind){ H, D, true, true }, ADDR(dstHost), srcDevice, ByteCount, hStream);
}

CUresult CUDAAPI cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                                      CUstream hStream)
{
    return copy_1d((copy_kind){ D, D, true, false }, dstDevice, srcDevice, ByteCount, hStream);
}

CUresult CUDAAPI cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                                           CUstream hStream)
{
    return copy_1d((copy_kind){ D, D, true, true }, dstDevice, srcDevice, ByteCount, hStream);
}

CUresult CUDAAPI cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream)
{
    return copy_1d((copy_kind){ U, U, true, false }, dst, src, ByteCount, hStream);
}

CUresult CUDAAPI cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream)
{
    return copy_1d((copy_kind){ U, U, true, true }, dst, src, ByteCount, hStream);
}
