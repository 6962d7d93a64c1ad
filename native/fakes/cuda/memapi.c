/* Allocation entry points: device memory, pitched memory, pinned host memory, memory info. */
#include "emu.h"

#define EMU_PITCH_ALIGN 512u
#define EMU_HOST_ALLOC_FLAGS (CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_WRITECOMBINED)

CUresult CUDAAPI cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    CUcontext ctx;
    if (dptr == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    return rc != CUDA_SUCCESS ? rc : emu_leave(emu_alloc_device(ctx, bytesize, dptr));
}

/* Rows are padded to 512 bytes, the pitch alignment recent GPUs report. */
CUresult CUDAAPI cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height,
                                    unsigned int ElementSizeBytes)
{
    CUcontext ctx;
    size_t pitch, bytes;
    if (dptr == NULL || pPitch == NULL || WidthInBytes == 0 || Height == 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16)
        return CUDA_ERROR_INVALID_VALUE;
    if (__builtin_add_overflow(WidthInBytes, EMU_PITCH_ALIGN - 1, &pitch))
        return CUDA_ERROR_INVALID_VALUE;
    pitch -= pitch % EMU_PITCH_ALIGN;
    if (__builtin_mul_overflow(pitch, Height, &bytes))
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = emu_alloc_device(ctx, bytes, dptr);
    if (rc == CUDA_SUCCESS)
        *pPitch = pitch;
    return emu_leave(rc);
}

/* Unified addressing: an allocation of any context may be freed while another one is current.
 * Freeing 0 is a no-op, as on the real driver. */
CUresult CUDAAPI cuMemFree_v2(CUdeviceptr dptr)
{
    CUcontext ctx;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    return emu_leave(dptr == 0 ? CUDA_SUCCESS : emu_free_device(dptr));
}

/* Free memory counts every context of the process on the card, less the fixture's reserve. */
CUresult CUDAAPI cuMemGetInfo_v2(size_t *free, size_t *total)
{
    CUcontext ctx;
    if (free == NULL || total == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    const emu_device *dev = ctx->dev;
    *total = (size_t)dev->total_mem;
    *free = (size_t)(dev->total_mem - dev->reserved_mem - dev->used_mem);
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
    CUcontext ctx;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    const emu_alloc *a = emu_find_device(dptr, 1);
    if (a == NULL)
        return emu_leave(CUDA_ERROR_NOT_FOUND);
    if (pbase != NULL)
        *pbase = (CUdeviceptr)a->start;
    if (psize != NULL)
        *psize = a->bytes;
    return emu_leave(CUDA_SUCCESS);
}

/* Managed memory is not emulated (CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY is 0): gpupool cannot carry it,
 * since the client's host could not dereference it (docs/operations.md, "Memory quotas"). */
CUresult CUDAAPI cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    (void)bytesize;
    (void)flags;
    return emu_leave(dptr == NULL ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_SUPPORTED);
}

/* ---- pinned host memory: ordinary host memory, owned by the context ------------------------- */

CUresult CUDAAPI cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
    CUcontext ctx;
    if (pp == NULL || (Flags & ~(unsigned)EMU_HOST_ALLOC_FLAGS) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    return rc != CUDA_SUCCESS ? rc : emu_leave(emu_alloc_host(ctx, bytesize, Flags, pp));
}

CUresult CUDAAPI cuMemAllocHost_v2(void **pp, size_t bytesize)
{
    return cuMemHostAlloc(pp, bytesize, 0);
}

CUresult CUDAAPI cuMemFreeHost(void *p)
{
    CUcontext ctx;
    CUresult rc = emu_enter_ctx(&ctx);
    return rc != CUDA_SUCCESS ? rc : emu_leave(emu_free_host(p));
}

CUresult CUDAAPI cuMemHostGetFlags(unsigned int *pFlags, void *p)
{
    CUcontext ctx;
    if (pFlags == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    const emu_alloc *a = emu_find_host(p, 0);
    if (a == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    *pFlags = a->host_flags;
    return emu_leave(CUDA_SUCCESS);
}

/* The caller's memory pinned in place (gpupoold registers the shared memory of its local jobs so): recorded
 * as pinned host memory, which copies and pointer queries then know, until cuMemHostUnregister or the
 * context's end. */
CUresult CUDAAPI cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags)
{
    CUcontext ctx;
    if ((Flags & ~(unsigned)(CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP | CU_MEMHOSTREGISTER_IOMEMORY | CU_MEMHOSTREGISTER_READ_ONLY)) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    return rc != CUDA_SUCCESS ? rc : emu_leave(emu_register_host(ctx, p, bytesize, Flags));
}

CUresult CUDAAPI cuMemHostUnregister(void *p)
{
    CUcontext ctx;
    CUresult rc = emu_enter_ctx(&ctx);
    return rc != CUDA_SUCCESS ? rc : emu_leave(emu_unregister_host(p));
}

/* Unified addressing: pinned host memory is mapped at its own address. */
CUresult CUDAAPI cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int Flags)
{
    CUcontext ctx;
    if (pdptr == NULL || Flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (emu_find_host(p, 0) == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    *pdptr = (CUdeviceptr)(uintptr_t)p;
    return emu_leave(CUDA_SUCCESS);
}
