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
    if (numClusters == NULL || config == NULL || func == NULL || (config->numAttrs > 0 && config->attrs == NULL) ||
        config->numAttrs > GP_FRAME_CLUSTERS_ATTRS_MAX)
        return CUDA_ERROR_INVALID_VALUE;
    int server = gp_handle_server(config->hStream) >= 0 ? gp_handle_server(config->hStream) : gp_context_server(gp_tls_context());
    const void *real = func;
    CUresult rc = gp_kernel_for_server(func, server >= 0 ? server : 0, &real);
    if (rc != CUDA_SUCCESS)
        return rc;
    gp_call *c = gp_call_begin(GP_OP_cuOccupancyMaxActiveClusters_v11070, GP_MODE_SYNC);
    if ((rc = gp_route_handle(c, real)) == CUDA_SUCCESS && (rc = gp_route_handle(c, config->hStream)) == CUDA_SUCCESS) {
        gp_frame_clusters frame = {
            .fn = gp_handle_id(real),
            .grid = { config->gridDimX, config->gridDimY, config->gridDimZ },
            .block = { config->blockDimX, config->blockDimY, config->blockDimZ },
            .shared = config->sharedMemBytes,
            .stream = gp_handle_id(config->hStream),
        };
        gp_attrs_to_frame(config->attrs, config->numAttrs, frame.attrs, &frame.attrs_count);
        GP_PUT_FRAME(c, clusters, &frame);
        rc = gp_call_finish(c);
        if (rc == CUDA_SUCCESS)
            *numClusters = (int)gp_get_int(c);
    }
    gp_call_end(c);
    return rc;
}
