/*
 * cuPointerGetAttribute(s): what unified addressing says about a pointer. Device allocations of any
 * context and pinned host blocks are known; any other address is CUDA_ERROR_INVALID_VALUE.
 */
#include "emu.h"
#include "../../common/pointer_attrs.h"

typedef struct {
    const emu_alloc *alloc;
    bool device;
    uint64_t ptr;
} pointer_info;

static bool lookup(CUdeviceptr ptr, pointer_info *out)
{
    out->ptr = ptr;
    out->alloc = emu_find_device(ptr, 1);
    out->device = out->alloc != NULL;
    if (out->alloc == NULL)
        out->alloc = emu_find_host((const void *)(uintptr_t)ptr, 1);
    return out->alloc != NULL;
}

/* Writes *data in the attribute's own type. */
static CUresult answer(const pointer_info *p, CUpointer_attribute attr, void *data)
{
    const emu_alloc *a = p->alloc;
    switch (attr) {
    case CU_POINTER_ATTRIBUTE_CONTEXT: *(CUcontext *)data = a->ctx; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
        *(unsigned *)data = p->device ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER: *(CUdeviceptr *)data = p->ptr; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
        if (p->device)
            return CUDA_ERROR_INVALID_VALUE;
        *(void **)data = (void *)(uintptr_t)p->ptr;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS: *(int *)data = 1; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID: *(unsigned long long *)data = a->id; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED: *(int *)data = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: *(int *)data = a->ctx->dev->ordinal; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE: *(int *)data = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR: *(CUdeviceptr *)data = a->start; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE: *(size_t *)data = a->bytes; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MAPPED: *(int *)data = 1; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES: *(unsigned long long *)data = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE: *(int *)data = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS: *(unsigned *)data = CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE: *(CUmemoryPool *)data = a->pool; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID: *(unsigned long long *)data = a->id; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE: *(int *)data = 0; return CUDA_SUCCESS;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult CUDAAPI cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr)
{
    pointer_info info;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (data == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if (!lookup(ptr, &info))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    return emu_leave(answer(&info, attribute, data));
}

/* Unlike the single form, an unknown pointer is not an error: the attributes read as "not ours". */
CUresult CUDAAPI cuPointerGetAttributes(unsigned int numAttributes, CUpointer_attribute *attributes, void **data,
                                        CUdeviceptr ptr)
{
    pointer_info info;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (numAttributes == 0 || attributes == NULL || data == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    bool known = lookup(ptr, &info);
    for (unsigned i = 0; i < numAttributes; i++) {
        if (data[i] == NULL)
            return emu_leave(CUDA_ERROR_INVALID_VALUE);
        if (!known || answer(&info, attributes[i], data[i]) != CUDA_SUCCESS)
            gp_pointer_attribute_unknown(attributes[i], data[i]);
    }
    return emu_leave(CUDA_SUCCESS);
}
