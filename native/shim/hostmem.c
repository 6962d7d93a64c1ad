/*
 * Pinned host memory is memory of the client's own machine: it never travels. Pages are page-aligned
 * so that a later zero-copy path could hand them to the kernel as they are.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "call.h"
#include "gp_shim_decls.h"
#include "shim.h"

static CUresult host_alloc(void **pp, size_t bytesize)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (pp == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (posix_memalign(pp, 4096, bytesize ? bytesize : 1) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuMemAllocHost_v3020(void **pp, size_t bytesize) { return host_alloc(pp, bytesize); }

CUresult gp_local_cuMemHostAlloc_v2020(void **pp, size_t bytesize, unsigned int Flags)
{
    (void)Flags; /* portable/mapped/write-combined change nothing for memory that stays on this host */
    return host_alloc(pp, bytesize);
}

CUresult gp_local_cuMemFreeHost_v2000(void *p)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    free(p);
    return CUDA_SUCCESS;
}

/* A remote device cannot map this machine's memory: CAN_MAP_HOST_MEMORY is 0 (devices.c). */
CUresult gp_local_cuMemHostGetDevicePointer_v3020(CUdeviceptr *pdptr, void *p, unsigned int Flags)
{
    (void)pdptr, (void)p, (void)Flags;
    gp_not_carried_once("cuMemHostGetDevicePointer_v2");
    return CUDA_ERROR_NOT_SUPPORTED;
}

CUresult gp_local_cuMemHostRegister_v6050(void *p, size_t bytesize, unsigned int Flags)
{
    (void)p, (void)bytesize, (void)Flags;
    return gp_initialized() ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

CUresult gp_local_cuMemHostUnregister_v4000(void *p)
{
    (void)p;
    return gp_initialized() ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

/*
 * Managed memory is host memory too, at its device address: a card on another machine cannot provide
 * it. Said once, with the way out, since frameworks fall back to other allocators on this error.
 */
CUresult gp_local_cuMemAllocManaged_v6000(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
    static int said;
    (void)dptr, (void)bytesize, (void)flags;
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        fprintf(stderr, "gpupool: cuMemAllocManaged is not supported: managed memory must be addressable by this host, "
                        "and the card is on the daemon's; it returned CUDA_ERROR_NOT_SUPPORTED (allocate device memory "
                        "and copy instead)\n");
    return CUDA_ERROR_NOT_SUPPORTED;
}
