/*
 * The structs of the virtual-memory and memory-pool calls name a device inside them
 * (CUmemLocation.id): the client's ordinal, which its daemon knows under another number. The stubs
 * (cuda-api.ts `before`/`after`) send a copy with the daemon's ordinal, routed to that daemon, and
 * translate the daemon's answer back. Pointers inside the structs (Windows handle metadata) travel
 * as NULL: nothing of this host's memory means anything to the daemon.
 */
#include <string.h>

#include "call.h"
#include "client.h"
#include "shim.h"

/* A device location's id to the daemon's ordinal; the call goes to that daemon. Other location types
 * travel as they are (the daemon refuses what it does not carry). */
static CUresult location_to_remote(gp_call *c, CUmemLocation *loc)
{
    if (loc->type != CU_MEM_LOCATION_TYPE_DEVICE)
        return CUDA_SUCCESS;
    int remote = 0;
    CUresult rc = gp_route_device(c, loc->id, &remote);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (gp_device_get(loc->id)->server != gp_call_server(c))
        return CUDA_ERROR_INVALID_DEVICE; /* a device of another daemon than the call's */
    loc->id = remote;
    return CUDA_SUCCESS;
}

CUresult gp_prop_to_remote(gp_call *c, const CUmemAllocationProp **prop, CUmemAllocationProp *copy)
{
    if (*prop == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *copy = **prop;
    copy->win32HandleMetaData = NULL;
    *prop = copy;
    return location_to_remote(c, &copy->location);
}

CUresult gp_pool_props_to_remote(gp_call *c, const CUmemPoolProps **props, CUmemPoolProps *copy)
{
    if (*props == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *copy = **props;
    copy->win32SecurityAttributes = NULL;
    *props = copy;
    return location_to_remote(c, &copy->location);
}

CUresult gp_access_to_remote(gp_call *c, CUdeviceptr ptr, const CUmemAccessDesc **desc, size_t count,
                             CUmemAccessDesc copy[GP_MAX_ACCESS_DESCS])
{
    if (*desc == NULL || count == 0 || count > GP_MAX_ACCESS_DESCS)
        return CUDA_ERROR_INVALID_VALUE;
    gp_route_dptr(c, (uint64_t)ptr);
    memcpy(copy, *desc, count * sizeof *copy);
    *desc = copy;
    for (size_t i = 0; i < count; i++) {
        CUresult rc = location_to_remote(c, &copy[i].location);
        if (rc != CUDA_SUCCESS)
            return rc;
    }
    return CUDA_SUCCESS;
}

void gp_prop_from_remote(gp_call *c, CUmemAllocationProp *prop)
{
    if (prop == NULL || prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
        return;
    prop->location.id = gp_device_global(gp_call_server(c), prop->location.id);
}
