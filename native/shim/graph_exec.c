/*
 * Executable graphs of graphs built node by node (graph.c): instantiated as a private copy with the
 * nodes in dependency order, updated, and launched as the calls the nodes stand for on the stream.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "client.h"
#include "custom.h"
#include "gp_shim_decls.h"
#include "graph.h"
#include "shim.h"

/* ---- executable graphs ------------------------------------------------------------------------ */

static int writes_host(const node *n)
{
    if (n->type == CU_GRAPH_NODE_TYPE_HOST)
        return 1;
    return n->type == CU_GRAPH_NODE_TYPE_MEMCPY &&
           (n->copy.dstMemoryType == CU_MEMORYTYPE_HOST ||
            (n->copy.dstMemoryType == CU_MEMORYTYPE_UNIFIED && gp_alloc_server(n->copy.dstDevice, 1) < 0));
}

static int reads_host(const node *n)
{
    return n->type == CU_GRAPH_NODE_TYPE_MEMCPY &&
           (n->copy.srcMemoryType == CU_MEMORYTYPE_HOST ||
            (n->copy.srcMemoryType == CU_MEMORYTYPE_UNIFIED && gp_alloc_server(n->copy.srcDevice, 1) < 0));
}

/* The copy's nodes in an order that runs each after its dependencies (Kahn); a cycle is refused. */
static CUresult order(graph *g, const graph *from, const void **origin)
{
    size_t n = g->count, done = 0;
    node **sorted = malloc((n ? n : 1) * sizeof *sorted);
    const void **was = malloc((n ? n : 1) * sizeof *was);
    if (sorted == NULL || was == NULL) {
        free(sorted);
        free(was);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < n; i++)
        g->nodes[i]->mark = g->nodes[i]->ndeps;
    for (int progress = 1; progress && done < n;) {
        progress = 0;
        for (size_t i = 0; i < n; i++) {
            node *x = g->nodes[i];
            if (x->mark != 0)
                continue;
            x->mark = SIZE_MAX; /* placed */
            was[done] = from->nodes[i];
            sorted[done++] = x;
            progress = 1;
            for (size_t j = 0; j < n; j++)
                for (size_t d = 0; d < g->nodes[j]->ndeps; d++)
                    if (g->nodes[j]->deps[d] == x && g->nodes[j]->mark != SIZE_MAX)
                        g->nodes[j]->mark--;
        }
    }
    if (done < n) {
        free(sorted);
        free(was);
        return CUDA_ERROR_INVALID_VALUE;
    }
    memcpy(g->nodes, sorted, n * sizeof *sorted);
    memcpy(origin, was, n * sizeof *was);
    free(sorted);
    free(was);
    return CUDA_SUCCESS;
}

CUresult gp_graph_instantiate(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags)
{
    if (phGraphExec == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (flags & CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH) {
        gp_error("cuGraphInstantiate: device-launched graphs are not carried by gpupool; it returned CUDA_ERROR_NOT_SUPPORTED");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    graph *g = gp_graph_object(hGraph, OBJ_GRAPH);
    if (g == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    exec *x = calloc(1, sizeof *x);
    if (x == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    x->kind = OBJ_EXEC;
    CUresult rc = gp_graph_clone(g, &x->g, 0);
    if (rc != CUDA_SUCCESS) {
        free(x);
        return rc;
    }
    x->origin = malloc((g->count ? g->count : 1) * sizeof *x->origin);
    rc = x->origin == NULL ? CUDA_ERROR_OUT_OF_MEMORY : order(x->g, g, x->origin);
    for (size_t i = 0; rc == CUDA_SUCCESS && i < x->g->count; i++)
        x->host_writes |= writes_host(x->g->nodes[i]);
    if (rc == CUDA_SUCCESS && !gp_graph_add_object(x))
        rc = CUDA_ERROR_OUT_OF_MEMORY;
    if (rc != CUDA_SUCCESS) {
        gp_graph_free(x->g, 0);
        free(x->origin);
        free(x);
        return rc;
    }
    *phGraphExec = (CUgraphExec)x;
    return CUDA_SUCCESS;
}

static CUresult instantiate_with_params(CUgraphExec *phGraphExec, CUgraph hGraph, CUDA_GRAPH_INSTANTIATE_PARAMS *p)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (!gp_graph_is_local(hGraph) || gp_graph_on_daemon(hGraph)) {
        /* The daemon's captured graphs, and the job's that live there too (conditionals, graph_daemon.c):
         * flags as cuGraphInstantiateWithFlags carries them. */
        CUresult rc = gp_fwd_cuGraphInstantiateWithFlags_v11040(phGraphExec, hGraph, p->flags & ~(cuuint64_t)CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD);
        p->result_out = rc == CUDA_SUCCESS ? CUDA_GRAPH_INSTANTIATE_SUCCESS : CUDA_GRAPH_INSTANTIATE_ERROR;
        p->hErrNode_out = NULL;
        return rc;
    }
    CUresult rc = gp_graph_instantiate(phGraphExec, hGraph, p->flags & ~(cuuint64_t)CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD);
    p->result_out = rc == CUDA_SUCCESS ? CUDA_GRAPH_INSTANTIATE_SUCCESS
                    : rc == CUDA_ERROR_INVALID_VALUE ? CUDA_GRAPH_INSTANTIATE_INVALID_STRUCTURE
                                                     : CUDA_GRAPH_INSTANTIATE_ERROR;
    p->hErrNode_out = NULL;
    return rc;
}

CUresult gp_local_cuGraphInstantiateWithParams_v12000(CUgraphExec *phGraphExec, CUgraph hGraph, CUDA_GRAPH_INSTANTIATE_PARAMS *p)
{
    return instantiate_with_params(phGraphExec, hGraph, p);
}

CUresult gp_local_cuGraphInstantiateWithParams_v12000_ptsz(CUgraphExec *phGraphExec, CUgraph hGraph, CUDA_GRAPH_INSTANTIATE_PARAMS *p)
{
    return instantiate_with_params(phGraphExec, hGraph, p);
}

CUresult gp_graph_exec_destroy(CUgraphExec hGraphExec)
{
    exec *x = gp_graph_object(hGraphExec, OBJ_EXEC);
    if (x == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    gp_graph_remove_object(x);
    gp_graph_free(x->g, 0);
    free(x->origin);
    free(x);
    return CUDA_SUCCESS;
}

/* The executable graph's node instantiated from hNode, of that type. */
static node *exec_node(CUgraphExec hGraphExec, CUgraphNode hNode, CUgraphNodeType type)
{
    exec *x = gp_graph_object(hGraphExec, OBJ_EXEC);
    if (x == NULL || hNode == NULL)
        return NULL;
    for (size_t i = 0; i < x->g->count; i++)
        if (x->origin[i] == (const void *)hNode)
            return x->g->nodes[i]->type == type ? x->g->nodes[i] : NULL;
    return NULL;
}

CUresult gp_local_cuGraphExecNodeSetParams_v12020(CUgraphExec hGraphExec, CUgraphNode hNode, CUgraphNodeParams *p)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    exec *x = gp_graph_object(hGraphExec, OBJ_EXEC);
    node *n = exec_node(hGraphExec, hNode, p->type);
    CUresult rc = gp_graph_set_params(n, p);
    if (rc == CUDA_SUCCESS && n->type == CU_GRAPH_NODE_TYPE_MEMCPY)
        x->host_writes |= writes_host(n);
    return rc;
}

CUresult gp_local_cuGraphExecKernelNodeSetParams_v12000(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v2 *p)
{
    node *n = exec_node(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_KERNEL);
    return n == NULL ? CUDA_ERROR_INVALID_VALUE : gp_graph_set_kernel(n, p);
}

CUresult gp_local_cuGraphExecKernelNodeSetParams_v10010(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    const CUDA_KERNEL_NODE_PARAMS_v2 v2 = gp_graph_kernel_params_v2(p);
    return gp_local_cuGraphExecKernelNodeSetParams_v12000(hGraphExec, hNode, &v2);
}

CUresult gp_local_cuGraphExecMemsetNodeSetParams_v10020(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_MEMSET_NODE_PARAMS *p,
                                                        CUcontext ctx)
{
    (void)ctx;
    node *n = exec_node(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_MEMSET);
    return n == NULL ? CUDA_ERROR_INVALID_VALUE : gp_graph_set_memset(n, p);
}

CUresult gp_local_cuGraphExecMemcpyNodeSetParams_v10020(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_MEMCPY3D *p, CUcontext ctx)
{
    (void)ctx;
    exec *x = gp_graph_object(hGraphExec, OBJ_EXEC);
    node *n = exec_node(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_MEMCPY);
    CUresult rc = n == NULL ? CUDA_ERROR_INVALID_VALUE : gp_graph_set_copy(n, p);
    if (rc == CUDA_SUCCESS)
        x->host_writes |= writes_host(n);
    return rc;
}

CUresult gp_local_cuGraphExecHostNodeSetParams_v10020(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_HOST_NODE_PARAMS *p)
{
    node *n = exec_node(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_HOST);
    return n == NULL ? CUDA_ERROR_INVALID_VALUE : gp_graph_set_host(n, p);
}

/*
 * The executable graph takes the graph's parameters when both have the same nodes, of the same types,
 * with the same edges (in the order they were added); otherwise it stays as it was and resultInfo says why.
 */
CUresult gp_graph_exec_update(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphExecUpdateResultInfo *resultInfo)
{
    if (resultInfo == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    memset(resultInfo, 0, sizeof *resultInfo);
    exec *x = gp_graph_object(hGraphExec, OBJ_EXEC);
    graph *g = gp_graph_object(hGraph, OBJ_GRAPH);
    if (x == NULL || g == NULL) {
        /* One of the daemon's and one of the client's: they cannot share a topology. */
        resultInfo->result = CU_GRAPH_EXEC_UPDATE_ERROR_NOT_SUPPORTED;
        return hGraphExec == NULL || hGraph == NULL ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE;
    }
    graph *fresh;
    exec probe = { 0 };
    CUresult rc = gp_graph_clone(g, &fresh, 0);
    if (rc != CUDA_SUCCESS)
        return rc;
    probe.origin = malloc((g->count ? g->count : 1) * sizeof *probe.origin);
    rc = g->count != x->g->count ? CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE : probe.origin == NULL ? CUDA_ERROR_OUT_OF_MEMORY : order(fresh, g, probe.origin);
    resultInfo->result = CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
    for (size_t i = 0; rc == CUDA_SUCCESS && i < fresh->count; i++) {
        const node *a = fresh->nodes[i], *b = x->g->nodes[i];
        if (a->type != b->type) {
            resultInfo->result = CU_GRAPH_EXEC_UPDATE_ERROR_NODE_TYPE_CHANGED;
            rc = CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE;
        } else if (a->ndeps != b->ndeps) {
            rc = CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE;
        }
    }
    if (rc == CUDA_SUCCESS) {
        graph *old = x->g;
        x->g = fresh;
        memcpy(x->origin, probe.origin, g->count * sizeof *probe.origin);
        x->host_writes = 0;
        for (size_t i = 0; i < fresh->count; i++)
            x->host_writes |= writes_host(fresh->nodes[i]);
        fresh = old;
        resultInfo->result = CU_GRAPH_EXEC_UPDATE_SUCCESS;
    } else if (rc == CUDA_ERROR_OUT_OF_MEMORY) {
        resultInfo->result = CU_GRAPH_EXEC_UPDATE_ERROR;
    }
    gp_graph_free(fresh, 0);
    free(probe.origin);
    return rc;
}

/* ---- launch ----------------------------------------------------------------------------------- */

static CUresult issue(const node *n, CUstream s, int ptsz, int wait_host)
{
    switch (n->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
        size_t len = n->params_len;
        void *extra[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, n->params, CU_LAUNCH_PARAM_BUFFER_SIZE, &len, CU_LAUNCH_PARAM_END };
        return (ptsz ? gp_fwd_cuLaunchKernel_v7000_ptsz : gp_fwd_cuLaunchKernel_v4000)(n->fn, n->grid[0], n->grid[1], n->grid[2], n->block[0],
                                                                                        n->block[1], n->block[2], n->shared, s, NULL, extra);
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY:
        if (wait_host && reads_host(n)) {
            CUresult rc = (ptsz ? gp_fwd_cuStreamSynchronize_v7000_ptsz : gp_fwd_cuStreamSynchronize_v2000)(s);
            if (rc != CUDA_SUCCESS)
                return rc;
            gp_host_funcs_drain();
        }
        return (ptsz ? gp_fwd_cuMemcpy3DAsync_v7000_ptsz : gp_fwd_cuMemcpy3DAsync_v3020)(&n->copy, s);
    case CU_GRAPH_NODE_TYPE_MEMSET: {
        const CUDA_MEMSET_NODE_PARAMS *m = &n->memset;
        size_t pitch = m->height > 1 ? m->pitch : m->width * m->elementSize;
        switch (m->elementSize) {
        case 1: return (ptsz ? gp_fwd_cuMemsetD2D8Async_v7000_ptsz : gp_fwd_cuMemsetD2D8Async_v3020)(m->dst, pitch, (unsigned char)m->value, m->width, m->height, s);
        case 2: return (ptsz ? gp_fwd_cuMemsetD2D16Async_v7000_ptsz : gp_fwd_cuMemsetD2D16Async_v3020)(m->dst, pitch, (unsigned short)m->value, m->width, m->height, s);
        default: return (ptsz ? gp_fwd_cuMemsetD2D32Async_v7000_ptsz : gp_fwd_cuMemsetD2D32Async_v3020)(m->dst, pitch, m->value, m->width, m->height, s);
        }
    }
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC:
        gp_graph_mem_launched(n->mem); /* allocated when the node was added */
        return CUDA_SUCCESS;
    case CU_GRAPH_NODE_TYPE_HOST:
        return (ptsz ? gp_local_cuLaunchHostFunc_v10000_ptsz : gp_local_cuLaunchHostFunc_v10000)(s, n->host.fn, n->host.userData);
    default:
        return CUDA_SUCCESS; /* empty, and a free node: the memory is freed with the graph (graph_mem.c) */
    }
}

static CUresult launch(CUgraphExec hGraphExec, CUstream hStream, int ptsz)
{
    exec *x = gp_graph_object(hGraphExec, OBJ_EXEC);
    if (x == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = CUDA_SUCCESS;
    /* Another thread's cuGraphExecDestroy during a launch is the program's race, as with the driver. */
    for (size_t i = 0; i < x->g->count && rc == CUDA_SUCCESS; i++)
        rc = issue(x->g->nodes[i], hStream, ptsz, x->host_writes);
    return rc;
}

CUresult gp_fwd_cuGraphLaunch_v10000(CUgraphExec hGraph, CUstream hStream)
{
    return gp_graph_exec_is_local(hGraph) ? launch(hGraph, hStream, 0) : gp_std_cuGraphLaunch_v10000(hGraph, hStream);
}

CUresult gp_fwd_cuGraphLaunch_v10000_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
    return gp_graph_exec_is_local(hGraphExec) ? launch(hGraphExec, hStream, 1) : gp_std_cuGraphLaunch_v10000_ptsz(hGraphExec, hStream);
}

/* Nothing to upload ahead: a launch sends the nodes. */
CUresult gp_fwd_cuGraphUpload_v11010(CUgraphExec hGraph, CUstream hStream)
{
    return gp_graph_exec_is_local(hGraph) ? CUDA_SUCCESS : gp_std_cuGraphUpload_v11010(hGraph, hStream);
}

CUresult gp_fwd_cuGraphUpload_v11010_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
    return gp_graph_exec_is_local(hGraphExec) ? CUDA_SUCCESS : gp_std_cuGraphUpload_v11010_ptsz(hGraphExec, hStream);
}

