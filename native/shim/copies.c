/*
 * Host-to-device and device-to-host copies of any size (docs/protocol.md, "Limits"). A program copies
 * what it likes; a message to the daemon is bounded (compute.maxMessageBytes), so a copy travels in
 * slices of at most GP_COPY_SLICE bytes, each its own frame. The slices are pipelined: all but the
 * last go without waiting (fire-and-forget, or deferred replies written in place by the receiver
 * thread) and a synchronous copy waits only for its last slice, whose reply comes after the others'.
 * An error of an earlier slice is the daemon's deferred error, which answers the last slice instead
 * (docs/protocol.md, "Modes"), so the copy returns the first failure as one call would.
 */
#include "call.h"
#include "gp_ops.h"
#include "gp_shim_decls.h"
#include "shim.h"
#include "shm.h"

static size_t slice_len(size_t left) { return left < GP_COPY_SLICE ? left : GP_COPY_SLICE; }

/* The stream of an async op ends the frame; then the call goes. */
static CUresult send_frame(gp_call *c, int has_stream, CUstream stream)
{
    CUresult rc = CUDA_SUCCESS;
    if (has_stream && (rc = gp_route_handle(c, stream)) == CUDA_SUCCESS)
        gp_put_handle(c, stream);
    if (rc == CUDA_SUCCESS)
        rc = gp_call_finish(c);
    gp_call_end(c);
    return rc;
}

/* One slice of a host-to-device copy: [dst, src bin, ByteCount] (and the stream of an async op). */
static CUresult htod_frame(uint32_t op, int mode, CUdeviceptr dst, const void *src, size_t n, int has_stream, CUstream stream)
{
    gp_call *c = gp_call_begin(op, mode);
    gp_route_dptr(c, (uint64_t)dst);
    gp_put_uint(c, (uint64_t)dst);
    gp_put_bin_ref(c, src, n);
    gp_put_uint(c, (uint64_t)n);
    return send_frame(c, has_stream, stream);
}

/* One slice of a device-to-host copy: [has dst, src, ByteCount] (and the stream); the reply's bin lands at dst. */
static CUresult dtoh_frame(uint32_t op, int mode, void *dst, CUdeviceptr src, size_t n, int has_stream, CUstream stream)
{
    gp_call *c = gp_call_begin(op, mode);
    gp_expect_out(c, dst, n);
    gp_put_bool(c, dst != NULL);
    gp_route_dptr(c, (uint64_t)src);
    gp_put_uint(c, (uint64_t)src);
    gp_put_uint(c, (uint64_t)n);
    return send_frame(c, has_stream, stream);
}

/*
 * `mode` is the op's own; a synchronous copy's slices before the last travel without waiting for a
 * reply (host-to-device: none; device-to-host: deferred, so that the data still comes back).
 */
static CUresult htod(uint32_t op, int mode, CUdeviceptr dst, const void *src, size_t n, int has_stream, CUstream stream)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (has_stream) {
        int taken = 0;
        gp_capture_op op = { .call = "cuMemcpyHtoDAsync", .type = CU_GRAPH_NODE_TYPE_MEMCPY,
                             .copy = { .srcMemoryType = CU_MEMORYTYPE_HOST, .srcHost = src, .dstMemoryType = CU_MEMORYTYPE_DEVICE,
                                       .dstDevice = dst, .WidthInBytes = n, .Height = 1, .Depth = 1 } };
        CUresult rc = gp_capture_take(stream, &op, &taken);
        if (rc != CUDA_SUCCESS || taken)
            return rc;
    }
    CUresult shared_rc;
    if (gp_shm_htod(op, dst, src, n, has_stream, stream, &shared_rc))
        return shared_rc;
    const unsigned char *from = src;
    size_t done = 0;
    do {
        size_t k = slice_len(n - done);
        int last = done + k == n;
        CUresult rc = htod_frame(op, last ? mode : GP_MODE_ASYNC, dst + done, from ? from + done : NULL, k, has_stream, stream);
        if (rc != CUDA_SUCCESS)
            return rc;
        done += k;
    } while (done < n);
    return CUDA_SUCCESS;
}

static CUresult dtoh(uint32_t op, int mode, void *dst, CUdeviceptr src, size_t n, int has_stream, CUstream stream)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (has_stream) {
        int taken = 0;
        gp_capture_op op = { .call = "cuMemcpyDtoHAsync", .type = CU_GRAPH_NODE_TYPE_MEMCPY,
                             .copy = { .srcMemoryType = CU_MEMORYTYPE_DEVICE, .srcDevice = src, .dstMemoryType = CU_MEMORYTYPE_HOST,
                                       .dstHost = dst, .WidthInBytes = n, .Height = 1, .Depth = 1 } };
        CUresult rc = gp_capture_take(stream, &op, &taken);
        if (rc != CUDA_SUCCESS || taken)
            return rc;
    }
    CUresult shared_rc;
    if (gp_shm_dtoh(op, dst, src, n, has_stream, stream, &shared_rc))
        return shared_rc;
    unsigned char *to = dst;
    size_t done = 0;
    do {
        size_t k = slice_len(n - done);
        int last = done + k == n;
        CUresult rc = dtoh_frame(op, last ? mode : GP_MODE_DEFERRED, to ? to + done : NULL, src + done, k, has_stream, stream);
        if (rc != CUDA_SUCCESS)
            return rc;
        done += k;
    } while (done < n);
    return CUDA_SUCCESS;
}

CUresult gp_fwd_cuMemcpyHtoD_v3020(CUdeviceptr_v2 dst, const void *src, size_t n)
{
    return htod(GP_OP_cuMemcpyHtoD_v3020, GP_MODE_SYNC, dst, src, n, 0, NULL);
}

CUresult gp_fwd_cuMemcpyHtoD_v7000_ptsz(CUdeviceptr_v2 dst, const void *src, size_t n)
{
    return htod(GP_OP_cuMemcpyHtoD_v7000_ptsz, GP_MODE_SYNC, dst, src, n, 0, NULL);
}

CUresult gp_fwd_cuMemcpyHtoDAsync_v3020(CUdeviceptr_v2 dst, const void *src, size_t n, CUstream s)
{
    return htod(GP_OP_cuMemcpyHtoDAsync_v3020, GP_MODE_ASYNC, dst, src, n, 1, s);
}

CUresult gp_fwd_cuMemcpyHtoDAsync_v7000_ptsz(CUdeviceptr_v2 dst, const void *src, size_t n, CUstream s)
{
    return htod(GP_OP_cuMemcpyHtoDAsync_v7000_ptsz, GP_MODE_ASYNC, dst, src, n, 1, s);
}

CUresult gp_fwd_cuMemcpyDtoH_v3020(void *dst, CUdeviceptr_v2 src, size_t n)
{
    return dtoh(GP_OP_cuMemcpyDtoH_v3020, GP_MODE_SYNC, dst, src, n, 0, NULL);
}

CUresult gp_fwd_cuMemcpyDtoH_v7000_ptsz(void *dst, CUdeviceptr_v2 src, size_t n)
{
    return dtoh(GP_OP_cuMemcpyDtoH_v7000_ptsz, GP_MODE_SYNC, dst, src, n, 0, NULL);
}

CUresult gp_fwd_cuMemcpyDtoHAsync_v3020(void *dst, CUdeviceptr_v2 src, size_t n, CUstream s)
{
    return dtoh(GP_OP_cuMemcpyDtoHAsync_v3020, GP_MODE_DEFERRED, dst, src, n, 1, s);
}

CUresult gp_fwd_cuMemcpyDtoHAsync_v7000_ptsz(void *dst, CUdeviceptr_v2 src, size_t n, CUstream s)
{
    return dtoh(GP_OP_cuMemcpyDtoHAsync_v7000_ptsz, GP_MODE_DEFERRED, dst, src, n, 1, s);
}
