/*
 * Graphs built node by node (graph.c): listing a graph's nodes, roots and edges, a node's type, and
 * its parameters read and set, in the graph and in an executable graph's copy.
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

/* The driver's listing: up to *count handles, the rest of the caller's array NULL, *count the total. */
static CUresult list(node *const *items, size_t total, int (*keep)(const node *), CUgraphNode *out, size_t *count)
{
    if (count == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    size_t n = 0;
    for (size_t i = 0; i < total; i++) {
        if (keep != NULL && !keep(items[i]))
            continue;
        if (out != NULL && n < *count)
            out[n] = (CUgraphNode)items[i];
        n++;
    }
    for (size_t i = n; out != NULL && i < *count; i++)
        out[i] = NULL;
    if (out == NULL || n < *count)
        *count = n;
    return CUDA_SUCCESS;
}

CUresult gp_graph_get_nodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes)
{
    graph *g = gp_graph_object(hGraph, OBJ_GRAPH);
    return g == NULL ? CUDA_ERROR_INVALID_VALUE : list(g->nodes, g->count, NULL, nodes, numNodes);
}

static int is_root(const node *n) { return n->ndeps == 0; }

CUresult gp_local_cuGraphGetRootNodes_v10000(CUgraph hGraph, CUgraphNode *roots, size_t *numRoots)
{
    graph *g = gp_graph_object(hGraph, OBJ_GRAPH);
    if (g == NULL)
        return hGraph != NULL && !gp_graph_is_local(hGraph) ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
    return list(g->nodes, g->count, is_root, roots, numRoots);
}

static CUresult node_dependencies(CUgraphNode hNode, CUgraphNode *deps, CUgraphEdgeData *edges, size_t *count)
{
    node *n = gp_graph_object(hNode, OBJ_NODE);
    if (n == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (edges != NULL && deps != NULL && count != NULL)
        memset(edges, 0, *count * sizeof *edges);
    return list(n->deps, n->ndeps, NULL, deps, count);
}

CUresult gp_local_cuGraphNodeGetDependencies_v10000(CUgraphNode hNode, CUgraphNode *deps, size_t *count)
{
    return node_dependencies(hNode, deps, NULL, count);
}

CUresult gp_local_cuGraphNodeGetDependencies_v12030(CUgraphNode hNode, CUgraphNode *deps, CUgraphEdgeData *edges, size_t *count)
{
    return node_dependencies(hNode, deps, edges, count);
}

CUresult gp_local_cuGraphNodeGetType_v10000(CUgraphNode hNode, CUgraphNodeType *type)
{
    node *n = gp_graph_object(hNode, OBJ_NODE);
    if (n == NULL || type == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *type = n->type;
    return CUDA_SUCCESS;
}

/* A node the program changes: a capture whose record holds it becomes the job's first (capture_graph.c). */
static CUresult edited(const node *n) { return n == NULL ? CUDA_ERROR_INVALID_VALUE : gp_capture_graph_edited((CUgraph)n->owner); }

static node *kernel_node(CUgraphNode hNode)
{
    node *n = gp_graph_object(hNode, OBJ_NODE);
    return n != NULL && n->type == CU_GRAPH_NODE_TYPE_KERNEL ? n : NULL;
}

/* The parameters come back as one buffer (`extra`), which the node owns, as the driver's do. */
CUresult gp_local_cuGraphKernelNodeGetParams_v12000(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS_v2 *p)
{
    node *n = kernel_node(hNode);
    if (n == NULL || p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    static __thread size_t len;
    static __thread void *extra[5];
    len = n->params_len;
    extra[0] = CU_LAUNCH_PARAM_BUFFER_POINTER, extra[1] = n->params, extra[2] = CU_LAUNCH_PARAM_BUFFER_SIZE, extra[3] = &len;
    extra[4] = CU_LAUNCH_PARAM_END;
    *p = (CUDA_KERNEL_NODE_PARAMS_v2){ n->fn, n->grid[0], n->grid[1], n->grid[2], n->block[0], n->block[1], n->block[2],
                                       n->shared, NULL, extra, NULL, NULL };
    return CUDA_SUCCESS;
}

CUresult gp_local_cuGraphKernelNodeSetParams_v12000(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v2 *p)
{
    node *n = kernel_node(hNode);
    CUresult rc = edited(n);
    return rc != CUDA_SUCCESS ? rc : gp_graph_set_kernel(n, p);
}


CUresult gp_local_cuGraphAddKernelNode_v10000(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                                              const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    const CUDA_KERNEL_NODE_PARAMS_v2 v2 = gp_graph_kernel_params_v2(p);
    return gp_local_cuGraphAddKernelNode_v12000(out, hGraph, deps, ndeps, &v2);
}

CUresult gp_local_cuGraphKernelNodeGetParams_v10000(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
    CUDA_KERNEL_NODE_PARAMS_v2 v2;
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = gp_local_cuGraphKernelNodeGetParams_v12000(hNode, &v2);
    if (rc == CUDA_SUCCESS)
        *p = (CUDA_KERNEL_NODE_PARAMS_v1){ v2.func, v2.gridDimX, v2.gridDimY, v2.gridDimZ, v2.blockDimX, v2.blockDimY, v2.blockDimZ,
                                           v2.sharedMemBytes, v2.kernelParams, v2.extra };
    return rc;
}

CUresult gp_local_cuGraphKernelNodeSetParams_v10000(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    const CUDA_KERNEL_NODE_PARAMS_v2 v2 = gp_graph_kernel_params_v2(p);
    return gp_local_cuGraphKernelNodeSetParams_v12000(hNode, &v2);
}

/* A node of that type, or NULL. */
static node *typed(CUgraphNode hNode, CUgraphNodeType type)
{
    node *n = gp_graph_object(hNode, OBJ_NODE);
    return n != NULL && n->type == type ? n : NULL;
}

CUresult gp_local_cuGraphHostNodeGetParams_v10000(CUgraphNode hNode, CUDA_HOST_NODE_PARAMS *p)
{
    node *n = typed(hNode, CU_GRAPH_NODE_TYPE_HOST);
    if (n == NULL || p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *p = n->host;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuGraphHostNodeSetParams_v10000(CUgraphNode hNode, const CUDA_HOST_NODE_PARAMS *p)
{
    node *n = typed(hNode, CU_GRAPH_NODE_TYPE_HOST);
    CUresult rc = edited(n);
    return rc != CUDA_SUCCESS ? rc : gp_graph_set_host(n, p);
}

CUresult gp_local_cuGraphMemcpyNodeGetParams_v10000(CUgraphNode hNode, CUDA_MEMCPY3D *p)
{
    node *n = typed(hNode, CU_GRAPH_NODE_TYPE_MEMCPY);
    if (n == NULL || p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *p = n->copy;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuGraphMemcpyNodeSetParams_v10000(CUgraphNode hNode, const CUDA_MEMCPY3D *p)
{
    node *n = typed(hNode, CU_GRAPH_NODE_TYPE_MEMCPY);
    CUresult rc = edited(n);
    return rc != CUDA_SUCCESS ? rc : gp_graph_set_copy(n, p);
}

CUresult gp_local_cuGraphMemsetNodeGetParams_v10000(CUgraphNode hNode, CUDA_MEMSET_NODE_PARAMS *p)
{
    node *n = typed(hNode, CU_GRAPH_NODE_TYPE_MEMSET);
    if (n == NULL || p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *p = n->memset;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuGraphMemsetNodeSetParams_v10000(CUgraphNode hNode, const CUDA_MEMSET_NODE_PARAMS *p)
{
    node *n = typed(hNode, CU_GRAPH_NODE_TYPE_MEMSET);
    CUresult rc = edited(n);
    return rc != CUDA_SUCCESS ? rc : gp_graph_set_memset(n, p);
}

/* The generic form, for the node kinds whose parameters may change (not an allocation's or a free's). */
CUresult gp_graph_set_params(node *n, const CUgraphNodeParams *p)
{
    if (n == NULL || p == NULL || p->type != n->type)
        return CUDA_ERROR_INVALID_VALUE;
    switch (p->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
        const CUDA_KERNEL_NODE_PARAMS_v2 v2 = gp_graph_kernel_of(p);
        return gp_graph_set_kernel(n, &v2);
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY:
        return gp_graph_set_copy(n, &p->memcpy.copyParams);
    case CU_GRAPH_NODE_TYPE_MEMSET: {
        const CUDA_MEMSET_NODE_PARAMS v1 = gp_graph_memset_of(p);
        return gp_graph_set_memset(n, &v1);
    }
    case CU_GRAPH_NODE_TYPE_HOST: {
        const CUDA_HOST_NODE_PARAMS v1 = gp_graph_host_of(p);
        return gp_graph_set_host(n, &v1);
    }
    case CU_GRAPH_NODE_TYPE_EMPTY:
        return CUDA_SUCCESS;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult gp_local_cuGraphNodeSetParams_v12020(CUgraphNode hNode, CUgraphNodeParams *p)
{
    node *n = gp_graph_object(hNode, OBJ_NODE);
    CUresult rc = edited(n);
    return rc != CUDA_SUCCESS ? rc : gp_graph_set_params(n, p);
}

static int depends_on(const node *n, const node *on)
{
    for (size_t i = 0; i < n->ndeps; i++)
        if (n->deps[i] == on)
            return 1;
    return 0;
}

static CUresult dependents(CUgraphNode hNode, CUgraphNode *out, CUgraphEdgeData *edges, size_t *count)
{
    node *n = gp_graph_object(hNode, OBJ_NODE);
    if (n == NULL || count == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    size_t found = 0;
    for (size_t i = 0; i < n->owner->count; i++) {
        if (!depends_on(n->owner->nodes[i], n))
            continue;
        if (out != NULL && found < *count) {
            out[found] = (CUgraphNode)n->owner->nodes[i];
            if (edges != NULL)
                memset(&edges[found], 0, sizeof edges[found]);
        }
        found++;
    }
    for (size_t i = found; out != NULL && i < *count; i++)
        out[i] = NULL;
    if (out == NULL || found < *count)
        *count = found;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuGraphNodeGetDependentNodes_v10000(CUgraphNode hNode, CUgraphNode *out, size_t *count)
{
    return dependents(hNode, out, NULL, count);
}

CUresult gp_local_cuGraphNodeGetDependentNodes_v12030(CUgraphNode hNode, CUgraphNode *out, CUgraphEdgeData *edges, size_t *count)
{
    return dependents(hNode, out, edges, count);
}

/* Every edge as from[i] -> to[i], in the order the nodes and their dependencies were added. */
static CUresult edges_of(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, CUgraphEdgeData *edges, size_t *count)
{
    graph *g = gp_graph_object(hGraph, OBJ_GRAPH);
    if (g == NULL || count == NULL || (from == NULL) != (to == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    size_t found = 0;
    for (size_t i = 0; i < g->count; i++)
        for (size_t d = 0; d < g->nodes[i]->ndeps; d++, found++)
            if (from != NULL && found < *count) {
                from[found] = (CUgraphNode)g->nodes[i]->deps[d];
                to[found] = (CUgraphNode)g->nodes[i];
                if (edges != NULL)
                    memset(&edges[found], 0, sizeof edges[found]);
            }
    for (size_t i = found; from != NULL && i < *count; i++)
        from[i] = to[i] = NULL;
    if (from == NULL || found < *count)
        *count = found;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuGraphGetEdges_v10000(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, size_t *count)
{
    return edges_of(hGraph, from, to, NULL, count);
}

CUresult gp_local_cuGraphGetEdges_v12030(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, CUgraphEdgeData *edges, size_t *count)
{
    return edges_of(hGraph, from, to, edges, count);
}
