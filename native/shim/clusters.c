/*
 * cuOccupancyMaxActiveClusters: how many clusters of a kernel fit the card at once. cuBLAS asks while
 * it creates a handle on a card with clusters (compute capability 9.0 and later). Its configuration
 * holds a pointer to launch attributes, so it travels as a hand-encoded frame (docs/protocol.md), as
 * cuLaunchKernelEx's configuration does, without parameters.
 */
#define _GNU_SOURCE
#include "call.h"
#include "client.h"
#include "custom.h"
#include "gp_ops.h"
#include "gp_shim_decls.h"
#include "shim.h"

CUresult gp_fwd_cuOccupancyMaxActiveClusters_v11070(int *numClusters, CUfunction func, const CUlaunchConfig *config)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (numClusters == NULL || config == NULL || func == NULL || (config->numAttrs > 0 && config->attrs == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    int server = gp_handle_server(config->hStream) >= 0 ? gp_handle_server(config->hStream) : gp_context_server(gp_tls_context());
    const void *real = func;
    CUresult rc = gp_kernel_for_server(func, server >= 0 ? server : 0, &real);
    if (rc != CUDA_SUCCESS)
        return rc;
    gp_call *c = gp_call_begin(GP_OP_cuOccupancyMaxActiveClusters_v11070, GP_MODE_SYNC);
    if ((rc = gp_route_handle(c, real)) == CUDA_SUCCESS && (rc = gp_route_handle(c, config->hStream)) == CUDA_SUCCESS) {
        gp_put_handle(c, real);
        gp_put_uint(c, config->gridDimX);
        gp_put_uint(c, config->gridDimY);
        gp_put_uint(c, config->gridDimZ);
        gp_put_uint(c, config->blockDimX);
        gp_put_uint(c, config->blockDimY);
        gp_put_uint(c, config->blockDimZ);
        gp_put_uint(c, config->sharedMemBytes);
        gp_put_handle(c, config->hStream);
        gp_put_array(c, config->numAttrs);
        for (unsigned i = 0; i < config->numAttrs; i++) {
            gp_put_array(c, 2);
            gp_put_int(c, config->attrs[i].id);
            gp_put_bin(c, &config->attrs[i].value, sizeof config->attrs[i].value);
        }
        rc = gp_call_finish(c);
        if (rc == CUDA_SUCCESS)
            *numClusters = (int)gp_get_int(c);
    }
    gp_call_end(c);
    return rc;
}
