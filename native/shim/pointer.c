/*
 * cuPointerGetAttribute(s), answered from the client's own records: which daemon's allocation a device
 * address lies in (client.c) and which pinned or registered host block a host address lies in
 * (hostmem.c). Frameworks ask on every pinned copy (is this memory pinned? on which device?), so the
 * answers must not cost a round trip, and the client knows everything they say. Unknown addresses
 * are CUDA_ERROR_INVALID_VALUE for the single form and read as "not ours" for the plural one, as the
 * real driver has it.
 */
#define _GNU_SOURCE
#include <stdint.h>

#include "call.h"
#include "client.h"
#include "gp_shim_decls.h"
#include "hostmem.h"
#include "pointer_attrs.h"
#include "shim.h"

typedef struct {
    int device;          /* device memory (1) or host memory (0) */
    CUdeviceptr ptr, base;
    size_t size;
    CUcontext ctx;       /* device memory's context */
    unsigned host_flags; /* host memory's cuMemHostAlloc/Register flags */
} pointer_info;

static int lookup(CUdeviceptr ptr, pointer_info *out)
{
    *out = (pointer_info){ 0 };
    out->ptr = ptr;
    if (gp_alloc_range(ptr, &out->base, &out->size, &out->ctx) >= 0) {
        out->device = 1;
        return 1;
    }
    void *base;
    if (gp_host_block((const void *)(uintptr_t)ptr, &base, &out->size, &out->host_flags)) {
        out->base = (CUdeviceptr)(uintptr_t)base;
        return 1;
    }
    return 0;
}

/* Writes *data in the attribute's own type (cuda.h's documentation of CUpointer_attribute). */
static CUresult answer(const pointer_info *p, CUpointer_attribute attr, void *data)
{
    switch (attr) {
    case CU_POINTER_ATTRIBUTE_CONTEXT: *(CUcontext *)data = p->device ? p->ctx : NULL; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
        *(unsigned *)data = p->device ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
        /* Host memory is not mapped into a remote card's address space. */
        if (!p->device)
            return CUDA_ERROR_INVALID_VALUE;
        *(CUdeviceptr *)data = p->ptr;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
        if (p->device)
            return CUDA_ERROR_INVALID_VALUE;
        *(void **)data = (void *)(uintptr_t)p->ptr;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS: *(int *)data = 1; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID: *(unsigned long long *)data = (unsigned long long)p->base; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED: *(int *)data = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: {
        int dev = p->device ? gp_context_device(p->ctx) : -1;
        if (dev < 0 && p->device)
            return CUDA_ERROR_INVALID_VALUE;
        /* Host memory: the current context's device, as for portable pinned memory on one card. */
        if (dev < 0) {
            CUcontext cur = gp_current_context();
            dev = cur ? gp_context_device(cur) : 0;
        }
        *(int *)data = dev < 0 ? 0 : dev;
        return CUDA_SUCCESS;
    }
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE: *(int *)data = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR: *(CUdeviceptr *)data = p->base; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE: *(size_t *)data = p->size; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MAPPED: *(int *)data = 1; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES: *(unsigned long long *)data = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE: *(int *)data = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS: *(unsigned *)data = CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE: *(CUmemoryPool *)data = NULL; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE: *(int *)data = 0; return CUDA_SUCCESS;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult gp_local_cuPointerGetAttribute_v4000(void *data, CUpointer_attribute attribute, CUdeviceptr ptr)
{
    pointer_info info;
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (data == NULL || !lookup(ptr, &info))
        return CUDA_ERROR_INVALID_VALUE;
    return answer(&info, attribute, data);
}

CUresult gp_local_cuPointerGetAttributes_v7000(unsigned int numAttributes, CUpointer_attribute *attributes, void **data,
                                               CUdeviceptr ptr)
{
    pointer_info info;
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (numAttributes == 0 || attributes == NULL || data == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    int known = lookup(ptr, &info);
    for (unsigned i = 0; i < numAttributes; i++) {
        if (data[i] == NULL)
            return CUDA_ERROR_INVALID_VALUE;
        if (!known || answer(&info, attributes[i], data[i]) != CUDA_SUCCESS)
            gp_pointer_attribute_unknown(attributes[i], data[i]);
    }
    return CUDA_SUCCESS;
}
