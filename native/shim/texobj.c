/*
 * Texture and surface objects: the resource they view travels in a CUDA_RESOURCE_DESC, which names an
 * array or mipmapped array by handle or device memory by address. The client rewrites a handle to the
 * daemon's id in a copy (the daemon turns it back into its own array, docs/protocol.md, "Structs") and
 * routes the call to the daemon holding the resource; a description coming back names the array by id,
 * which becomes the client's handle again. The object itself is the driver's value (kernels take it
 * as a parameter) and is routed by the current context.
 */
#include <string.h>

#include "call.h"
#include "client.h"
#include "shim.h"

CUresult gp_res_desc_to_remote(gp_call *c, const CUDA_RESOURCE_DESC **desc, CUDA_RESOURCE_DESC *copy)
{
    if (*desc == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *copy = **desc;
    *desc = copy;
    CUresult rc = CUDA_SUCCESS;
    switch (copy->resType) {
    case CU_RESOURCE_TYPE_ARRAY:
        rc = gp_route_handle(c, copy->res.array.hArray);
        copy->res.array.hArray = (CUarray)(uintptr_t)gp_handle_id(copy->res.array.hArray);
        break;
    case CU_RESOURCE_TYPE_MIPMAPPED_ARRAY:
        rc = gp_route_handle(c, copy->res.mipmap.hMipmappedArray);
        copy->res.mipmap.hMipmappedArray = (CUmipmappedArray)(uintptr_t)gp_handle_id(copy->res.mipmap.hMipmappedArray);
        break;
    case CU_RESOURCE_TYPE_LINEAR:
    case CU_RESOURCE_TYPE_PITCH2D:
        /* devPtr is the first member of both. */
        gp_route_dptr(c, copy->res.linear.devPtr);
        break;
    default:
        break;
    }
    return rc;
}

void gp_res_desc_from_remote(gp_call *c, CUDA_RESOURCE_DESC *desc)
{
    if (desc == NULL)
        return;
    if (desc->resType == CU_RESOURCE_TYPE_ARRAY)
        desc->res.array.hArray = gp_tag_handle(gp_call_server(c), (uint64_t)(uintptr_t)desc->res.array.hArray);
    else if (desc->resType == CU_RESOURCE_TYPE_MIPMAPPED_ARRAY)
        desc->res.mipmap.hMipmappedArray = gp_tag_handle(gp_call_server(c), (uint64_t)(uintptr_t)desc->res.mipmap.hMipmappedArray);
}
