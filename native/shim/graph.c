/*
 * CUDA graphs built node by node (cuGraphCreate, cuGraphAdd*Node, cuGraphClone), kept in the client
 * library. Their nodes may name the job's host memory (a memcpy node from or to pageable memory) and
 * its functions (host nodes), which a daemon on another host cannot reach; so the graph, its nodes and
 * its executable graphs are objects of this process, and a launch issues the nodes, in an order that
 * respects their dependencies, on the launch stream as the calls they stand for: a kernel node as
 * cuLaunchKernel (its parameters packed when the node is set, as the driver copies them then), a
 * memcpy node as cuMemcpy3DAsync, a memset node as cuMemsetD*Async, a host node as cuLaunchHostFunc
 * (run here when the daemon says the stream reached it, native/shim/hostfunc.c). One stream runs what
 * a card might run in parallel: the results are the same.
 *
 * A memcpy node reading host memory reads it when it is issued. Where the same executable graph has a
 * host node or a copy into host memory, the launch first waits for the stream's earlier work and host
 * functions, so that the copy reads what they wrote, as on a card. Allocation nodes get their memory
 * when they are added (graph_mem.c). Node kinds not carried (child graphs, events, conditionals, ...)
 * are refused by name with CUDA_ERROR_NOT_SUPPORTED.
 *
 * A stream capture whose first operation is host work becomes such a graph too (capture_graph.c);
 * one the daemon made stays there: each call that takes either kind answers an object of this file
 * and forwards any other handle. Handles are pointers of this process: another
 * process's are unknown here, forwarded, and refused by the daemon.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <search.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "client.h"
#include "custom.h"
#include "gp_shim_decls.h"
#include "graph.h"
#include "shim.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_objects; /* tsearch tree of every live graph, node and executable graph */

static int by_address(const void *a, const void *b) { return a < b ? -1 : a > b; }

int gp_graph_add_object(void *o)
{
    pthread_mutex_lock(&g_lock);
    void *r = tsearch(o, &g_objects, by_address);
    pthread_mutex_unlock(&g_lock);
    return r != NULL;
}

void gp_graph_remove_object(void *o)
{
    pthread_mutex_lock(&g_lock);
    tdelete(o, &g_objects, by_address);
    pthread_mutex_unlock(&g_lock);
}

/* o, when it is an object of this file of that kind; NULL otherwise (never dereferenced before). */
void *gp_graph_object(const void *o, int kind)
{
    if (o == NULL)
        return NULL;
    pthread_mutex_lock(&g_lock);
    void *r = tfind(o, &g_objects, by_address);
    pthread_mutex_unlock(&g_lock);
    return r != NULL && *(const int *)o == kind ? (void *)o : NULL;
}

int gp_graph_is_local(CUgraph g) { return gp_graph_object(g, OBJ_GRAPH) != NULL; }

int gp_graph_node_in(CUgraphNode n, CUgraph g)
{
    const node *o = gp_graph_object(n, OBJ_NODE);
    return o != NULL && (CUgraph)o->owner == g;
}
int gp_graph_exec_is_local(CUgraphExec x) { return gp_graph_object(x, OBJ_EXEC) != NULL; }

/* ---- nodes ------------------------------------------------------------------------------------ */

static void node_free(node *n)
{
    if (n->mem != NULL)
        gp_graph_mem_release(n->mem);
    for (unsigned i = 0; n->bodies != NULL && i < n->nbodies; i++)
        if (n->bodies[i] != NULL)
            gp_graph_free(n->bodies[i], 1);
    free(n->bodies);
    free(n->deps);
    free(n->params);
    free(n);
}

void gp_graph_free(graph *g, int registered)
{
    for (size_t i = 0; i < g->count; i++) {
        if (registered)
            gp_graph_remove_object(g->nodes[i]);
        node_free(g->nodes[i]);
    }
    if (registered)
        gp_graph_remove_object(g);
    free(g->nodes);
    free(g);
}

static CUresult add_dep(node *to, node *from)
{
    for (size_t i = 0; i < to->ndeps; i++)
        if (to->deps[i] == from)
            return CUDA_ERROR_INVALID_VALUE; /* the driver refuses a duplicate edge */
    if (to->ndeps == to->cap_deps) {
        size_t cap = to->cap_deps ? to->cap_deps * 2 : 4;
        node **grown = realloc(to->deps, cap * sizeof *grown);
        if (grown == NULL)
            return CUDA_ERROR_OUT_OF_MEMORY;
        to->deps = grown;
        to->cap_deps = cap;
    }
    to->deps[to->ndeps++] = from;
    return CUDA_SUCCESS;
}

static CUresult push_node(graph *g, node *n)
{
    if (g->count == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        node **grown = realloc(g->nodes, cap * sizeof *grown);
        if (grown == NULL)
            return CUDA_ERROR_OUT_OF_MEMORY;
        g->nodes = grown;
        g->cap = cap;
    }
    g->nodes[g->count++] = n;
    return CUDA_SUCCESS;
}

/* A new node of g after the dependencies (nodes of g), its kind's fields still to set. */
static CUresult new_node(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps, CUgraphNodeType type, node **made)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    graph *g = gp_graph_object(hGraph, OBJ_GRAPH);
    if (out == NULL || (ndeps > 0 && deps == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    if (g == NULL)
        return hGraph == NULL ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_INVALID_HANDLE;
    CUresult rc = gp_capture_graph_edited(hGraph);
    if (rc != CUDA_SUCCESS)
        return rc;
    node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    n->kind = OBJ_NODE;
    n->owner = g;
    n->type = type;
    for (size_t i = 0; i < ndeps && rc == CUDA_SUCCESS; i++) {
        node *d = gp_graph_object(deps[i], OBJ_NODE);
        rc = d == NULL || d->owner != g ? CUDA_ERROR_INVALID_VALUE : add_dep(n, d);
    }
    *made = n;
    return rc;
}

/* The node joins its graph and the caller gets it; on a failure of the caller's it is freed. */
static CUresult finish_node(CUresult rc, node *n, CUgraphNode *out)
{
    if (rc == CUDA_SUCCESS && (rc = push_node(n->owner, n)) == CUDA_SUCCESS && !gp_graph_add_object(n)) {
        n->owner->count--;
        rc = CUDA_ERROR_OUT_OF_MEMORY;
    }
    if (rc != CUDA_SUCCESS) {
        if (n != NULL)
            node_free(n);
        return rc;
    }
    *out = (CUgraphNode)n;
    return CUDA_SUCCESS;
}

static CUresult set_kernel(node *n, CUfunction fn, CUkernel kern, const unsigned grid[3], const unsigned block[3], unsigned shared,
                           void **kernelParams, void **extra)
{
    if (fn == NULL)
        fn = (CUfunction)kern; /* the launch takes a kernel wherever it takes a function */
    if (fn == NULL || (kernelParams != NULL && extra != NULL))
        return CUDA_ERROR_INVALID_VALUE;
    unsigned char *params;
    size_t len;
    CUresult rc = gp_pack_launch_params(fn, kernelParams, extra, &params, &len);
    if (rc != CUDA_SUCCESS)
        return rc;
    free(n->params);
    n->params = params;
    n->params_len = len;
    n->fn = fn;
    memcpy(n->grid, grid, sizeof n->grid);
    memcpy(n->block, block, sizeof n->block);
    n->shared = shared;
    return CUDA_SUCCESS;
}

CUresult gp_graph_set_kernel(node *n, const CUDA_KERNEL_NODE_PARAMS_v2 *p)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    const unsigned grid[3] = { p->gridDimX, p->gridDimY, p->gridDimZ }, block[3] = { p->blockDimX, p->blockDimY, p->blockDimZ };
    return set_kernel(n, p->func, p->kern, grid, block, p->sharedMemBytes, p->kernelParams, p->extra);
}

CUresult gp_graph_set_memset(node *n, const CUDA_MEMSET_NODE_PARAMS *p)
{
    if (p == NULL || (p->elementSize != 1 && p->elementSize != 2 && p->elementSize != 4) || p->width == 0 || p->height == 0 ||
        (p->height > 1 && p->pitch < p->width * p->elementSize))
        return CUDA_ERROR_INVALID_VALUE;
    n->memset = *p;
    return CUDA_SUCCESS;
}

CUresult gp_graph_set_copy(node *n, const CUDA_MEMCPY3D *p)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    n->copy = *p;
    return CUDA_SUCCESS;
}

CUresult gp_graph_set_host(node *n, const CUDA_HOST_NODE_PARAMS *p)
{
    if (p == NULL || p->fn == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    n->host = *p;
    return CUDA_SUCCESS;
}

/* ---- graphs ----------------------------------------------------------------------------------- */

CUresult gp_graph_create_local(CUgraph *phGraph, unsigned int flags)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (phGraph == NULL || flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    graph *g = calloc(1, sizeof *g);
    if (g == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    g->kind = OBJ_GRAPH;
    if (!gp_graph_add_object(g)) {
        free(g);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *phGraph = (CUgraph)g;
    return CUDA_SUCCESS;
}

CUresult gp_graph_destroy(CUgraph hGraph)
{
    graph *g = gp_graph_object(hGraph, OBJ_GRAPH);
    if (g == NULL || g->parent != NULL)
        return CUDA_ERROR_INVALID_VALUE; /* a body goes with its conditional node */
    if (g->twin != NULL) {
        (void)gp_fwd_cuGraphDestroy_v10000(g->twin);
        gp_graph_forget_conditionals(g->twin);
    }
    gp_graph_free(g, 1);
    return CUDA_SUCCESS;
}

CUresult gp_local_cuGraphAddKernelNode_v12000(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                                              const CUDA_KERNEL_NODE_PARAMS_v2 *p)
{
    node *n = NULL;
    CUresult rc = new_node(out, hGraph, deps, ndeps, CU_GRAPH_NODE_TYPE_KERNEL, &n);
    return finish_node(rc == CUDA_SUCCESS ? gp_graph_set_kernel(n, p) : rc, n, out);
}

CUresult gp_local_cuGraphAddMemcpyNode_v10000(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                                              const CUDA_MEMCPY3D *p, CUcontext ctx)
{
    (void)ctx; /* the launch stream's context runs it */
    node *n = NULL;
    CUresult rc = new_node(out, hGraph, deps, ndeps, CU_GRAPH_NODE_TYPE_MEMCPY, &n);
    return finish_node(rc == CUDA_SUCCESS ? gp_graph_set_copy(n, p) : rc, n, out);
}

CUresult gp_local_cuGraphAddMemsetNode_v10000(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                                              const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx)
{
    (void)ctx;
    node *n = NULL;
    CUresult rc = new_node(out, hGraph, deps, ndeps, CU_GRAPH_NODE_TYPE_MEMSET, &n);
    return finish_node(rc == CUDA_SUCCESS ? gp_graph_set_memset(n, p) : rc, n, out);
}

CUresult gp_local_cuGraphAddHostNode_v10000(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                                            const CUDA_HOST_NODE_PARAMS *p)
{
    node *n = NULL;
    CUresult rc = new_node(out, hGraph, deps, ndeps, CU_GRAPH_NODE_TYPE_HOST, &n);
    return finish_node(rc == CUDA_SUCCESS ? gp_graph_set_host(n, p) : rc, n, out);
}

CUresult gp_local_cuGraphAddEmptyNode_v10000(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps)
{
    node *n = NULL;
    CUresult rc = new_node(out, hGraph, deps, ndeps, CU_GRAPH_NODE_TYPE_EMPTY, &n);
    return finish_node(rc, n, out);
}

/*
 * The allocation's address is the node's from the start (graph_mem.c): the memory is the session's
 * from now, where the driver reserves only the address. Device memory of the current context only.
 */
CUresult gp_local_cuGraphAddMemAllocNode_v11040(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                                                CUDA_MEM_ALLOC_NODE_PARAMS *p)
{
    node *n = NULL;
    CUresult rc = new_node(out, hGraph, deps, ndeps, CU_GRAPH_NODE_TYPE_MEM_ALLOC, &n);
    if (rc == CUDA_SUCCESS && (p == NULL || p->bytesize == 0 || p->poolProps.allocType != CU_MEM_ALLOCATION_TYPE_PINNED ||
                               p->poolProps.handleTypes != CU_MEM_HANDLE_TYPE_NONE))
        rc = CUDA_ERROR_INVALID_VALUE;
    if (rc == CUDA_SUCCESS && (p->poolProps.location.type != CU_MEM_LOCATION_TYPE_DEVICE || p->accessDescCount > 0)) {
        gp_error("cuGraphAddMemAllocNode: allocation nodes outside the current device, or with peer access, are not carried by "
                 "gpupool; it returned CUDA_ERROR_NOT_SUPPORTED");
        rc = CUDA_ERROR_NOT_SUPPORTED;
    }
    if (rc == CUDA_SUCCESS && (rc = gp_graph_mem_alloc(p->bytesize, &n->mem, &p->dptr)) == CUDA_SUCCESS) {
        n->alloc = *p;
        n->alloc.accessDescs = NULL;
    }
    return finish_node(rc, n, out);
}

CUresult gp_local_cuGraphAddMemFreeNode_v11040(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps, CUdeviceptr dptr)
{
    node *n = NULL;
    CUresult rc = new_node(out, hGraph, deps, ndeps, CU_GRAPH_NODE_TYPE_MEM_FREE, &n);
    if (rc == CUDA_SUCCESS && (rc = gp_graph_mem_freed_by_node(dptr)) != CUDA_SUCCESS)
        gp_error("cuGraphAddMemFreeNode: only memory of a graph's allocation node is freed by a node in gpupool; "
                 "it returned CUDA_ERROR_INVALID_VALUE");
    if (n != NULL)
        n->freed = dptr;
    return finish_node(rc, n, out);
}

CUresult gp_local_cuGraphMemAllocNodeGetParams_v11040(CUgraphNode hNode, CUDA_MEM_ALLOC_NODE_PARAMS *p)
{
    node *n = gp_graph_object(hNode, OBJ_NODE);
    if (n == NULL || p == NULL || n->type != CU_GRAPH_NODE_TYPE_MEM_ALLOC)
        return CUDA_ERROR_INVALID_VALUE;
    *p = n->alloc;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuGraphMemFreeNodeGetParams_v11040(CUgraphNode hNode, CUdeviceptr *dptr)
{
    node *n = gp_graph_object(hNode, OBJ_NODE);
    if (n == NULL || dptr == NULL || n->type != CU_GRAPH_NODE_TYPE_MEM_FREE)
        return CUDA_ERROR_INVALID_VALUE;
    *dptr = n->freed;
    return CUDA_SUCCESS;
}

static const char *type_name(CUgraphNodeType t)
{
    switch (t) {
    case CU_GRAPH_NODE_TYPE_GRAPH: return "child graph";
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT: return "event wait";
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD: return "event record";
    case CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL: return "external semaphore signal";
    case CU_GRAPH_NODE_TYPE_EXT_SEMAS_WAIT: return "external semaphore wait";
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC: return "memory allocation";
    case CU_GRAPH_NODE_TYPE_MEM_FREE: return "memory free";
    case CU_GRAPH_NODE_TYPE_BATCH_MEM_OP: return "batch memory operation";
    case CU_GRAPH_NODE_TYPE_CONDITIONAL: return "conditional";
    default: return "unknown";
    }
}

static CUresult add_node(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, const CUgraphEdgeData *edges, size_t ndeps,
                         CUgraphNodeParams *p)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; edges != NULL && i < ndeps; i++)
        if (edges[i].from_port != 0 || edges[i].to_port != 0 || edges[i].type != CU_GRAPH_DEPENDENCY_TYPE_DEFAULT) {
            gp_error("cuGraphAddNode: edges other than full dependencies (programmatic ports) are not carried by gpupool; "
                     "it returned CUDA_ERROR_NOT_SUPPORTED");
            return CUDA_ERROR_NOT_SUPPORTED;
        }
    switch (p->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
        const CUDA_KERNEL_NODE_PARAMS_v2 v2 = gp_graph_kernel_of(p);
        return gp_local_cuGraphAddKernelNode_v12000(out, hGraph, deps, ndeps, &v2);
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY:
        return gp_local_cuGraphAddMemcpyNode_v10000(out, hGraph, deps, ndeps, &p->memcpy.copyParams, p->memcpy.copyCtx);
    case CU_GRAPH_NODE_TYPE_MEMSET: {
        const CUDA_MEMSET_NODE_PARAMS v1 = gp_graph_memset_of(p);
        return gp_local_cuGraphAddMemsetNode_v10000(out, hGraph, deps, ndeps, &v1, p->memset.ctx);
    }
    case CU_GRAPH_NODE_TYPE_HOST: {
        const CUDA_HOST_NODE_PARAMS v1 = gp_graph_host_of(p);
        return gp_local_cuGraphAddHostNode_v10000(out, hGraph, deps, ndeps, &v1);
    }
    case CU_GRAPH_NODE_TYPE_EMPTY:
        return gp_local_cuGraphAddEmptyNode_v10000(out, hGraph, deps, ndeps);
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC: {
        CUDA_MEM_ALLOC_NODE_PARAMS v1 = { p->alloc.poolProps, p->alloc.accessDescs, p->alloc.accessDescCount, p->alloc.bytesize, 0 };
        CUresult rc = gp_local_cuGraphAddMemAllocNode_v11040(out, hGraph, deps, ndeps, &v1);
        p->alloc.dptr = v1.dptr;
        return rc;
    }
    case CU_GRAPH_NODE_TYPE_MEM_FREE:
        return gp_local_cuGraphAddMemFreeNode_v11040(out, hGraph, deps, ndeps, p->free.dptr);
    case CU_GRAPH_NODE_TYPE_CONDITIONAL: {
        node *n = NULL;
        CUresult rc = new_node(out, hGraph, deps, ndeps, CU_GRAPH_NODE_TYPE_CONDITIONAL, &n);
        return finish_node(rc == CUDA_SUCCESS ? gp_graph_set_conditional(n, &p->conditional) : rc, n, out);
    }
    default:
        gp_error("cuGraphAddNode: %s nodes are not carried by gpupool; it returned CUDA_ERROR_NOT_SUPPORTED", type_name(p->type));
        return CUDA_ERROR_NOT_SUPPORTED;
    }
}

CUresult gp_local_cuGraphAddNode_v12020(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps, CUgraphNodeParams *p)
{
    return add_node(out, hGraph, deps, NULL, ndeps, p);
}

/* The op carries the nodes of a graph that lives on the daemon (graph_daemon.c); a program's call adds one here. */
CUresult gp_fwd_cuGraphAddNode_v12030(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, const CUgraphEdgeData *edges,
                                      size_t ndeps, CUgraphNodeParams *p)
{
    if (hGraph != NULL && gp_graph_object(hGraph, OBJ_GRAPH) == NULL) {
        gp_error("cuGraphAddNode to a captured graph is not carried by gpupool (captured graphs stay on the daemon); "
                 "it returned CUDA_ERROR_NOT_SUPPORTED");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    return add_node(out, hGraph, deps, edges, ndeps, p);
}

static CUresult add_dependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to, const CUgraphEdgeData *edges, size_t count)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    graph *g = gp_graph_object(hGraph, OBJ_GRAPH);
    if (g == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (count > 0 && (from == NULL || to == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult edited = gp_capture_graph_edited(hGraph);
    if (edited != CUDA_SUCCESS)
        return edited;
    for (size_t i = 0; i < count; i++) {
        node *a = gp_graph_object(from[i], OBJ_NODE), *b = gp_graph_object(to[i], OBJ_NODE);
        if (a == NULL || b == NULL || a->owner != g || b->owner != g || a == b)
            return CUDA_ERROR_INVALID_VALUE;
        if (edges != NULL && (edges[i].from_port != 0 || edges[i].to_port != 0 || edges[i].type != CU_GRAPH_DEPENDENCY_TYPE_DEFAULT))
            return CUDA_ERROR_NOT_SUPPORTED;
        CUresult rc = add_dep(b, a);
        if (rc != CUDA_SUCCESS)
            return rc;
    }
    return CUDA_SUCCESS;
}

CUresult gp_local_cuGraphAddDependencies_v10000(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to, size_t count)
{
    return add_dependencies(hGraph, from, to, NULL, count);
}

CUresult gp_local_cuGraphAddDependencies_v12030(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to, const CUgraphEdgeData *edges,
                                                size_t count)
{
    return add_dependencies(hGraph, from, to, edges, count);
}

/* Removes the edges from[i] -> to[i]; an edge that is not there is CUDA_ERROR_INVALID_VALUE. */
static CUresult remove_dependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to, const CUgraphEdgeData *edges, size_t count)
{
    graph *g = gp_graph_object(hGraph, OBJ_GRAPH);
    if (g == NULL || (count > 0 && (from == NULL || to == NULL)))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult edited = gp_capture_graph_edited(hGraph);
    if (edited != CUDA_SUCCESS)
        return edited;
    for (size_t i = 0; i < count; i++) {
        node *a = gp_graph_object(from[i], OBJ_NODE), *b = gp_graph_object(to[i], OBJ_NODE);
        if (a == NULL || b == NULL || a->owner != g || b->owner != g)
            return CUDA_ERROR_INVALID_VALUE;
        if (edges != NULL && (edges[i].from_port != 0 || edges[i].to_port != 0 || edges[i].type != CU_GRAPH_DEPENDENCY_TYPE_DEFAULT))
            return CUDA_ERROR_INVALID_VALUE;
        size_t d = 0;
        while (d < b->ndeps && b->deps[d] != a)
            d++;
        if (d == b->ndeps)
            return CUDA_ERROR_INVALID_VALUE;
        memmove(&b->deps[d], &b->deps[d + 1], (b->ndeps - d - 1) * sizeof *b->deps);
        b->ndeps--;
    }
    return CUDA_SUCCESS;
}

CUresult gp_local_cuGraphRemoveDependencies_v10000(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to, size_t count)
{
    return remove_dependencies(hGraph, from, to, NULL, count);
}

CUresult gp_local_cuGraphRemoveDependencies_v12030(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                                   const CUgraphEdgeData *edges, size_t count)
{
    return remove_dependencies(hGraph, from, to, edges, count);
}

/* The node and every edge to or from it leave its graph. */
CUresult gp_local_cuGraphDestroyNode_v10000(CUgraphNode hNode)
{
    node *n = gp_graph_object(hNode, OBJ_NODE);
    if (n == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    graph *g = n->owner;
    CUresult edited = gp_capture_graph_edited((CUgraph)g);
    if (edited != CUDA_SUCCESS)
        return edited;
    size_t at = 0;
    for (size_t i = 0; i < g->count; i++) {
        node *other = g->nodes[i];
        if (other == n)
            continue;
        size_t kept = 0;
        for (size_t d = 0; d < other->ndeps; d++)
            if (other->deps[d] != n)
                other->deps[kept++] = other->deps[d];
        other->ndeps = kept;
        g->nodes[at++] = other;
    }
    g->count = at;
    gp_graph_remove_object(n);
    node_free(n);
    return CUDA_SUCCESS;
}

/* A graph's copy: nodes and edges; registered when it is the caller's (cuGraphClone), not an exec's. */
CUresult gp_graph_clone(const graph *from, graph **out, int registered)
{
    /* A graph with conditionals lives on the daemon: its copies are the driver's, never made here. */
    for (size_t i = 0; i < from->count; i++)
        if (from->nodes[i]->type == CU_GRAPH_NODE_TYPE_CONDITIONAL) {
            gp_error("cuGraphClone of a graph with conditional nodes is not carried by gpupool; it returned CUDA_ERROR_NOT_SUPPORTED");
            return CUDA_ERROR_NOT_SUPPORTED;
        }
    graph *g = calloc(1, sizeof *g);
    if (g == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    g->kind = OBJ_GRAPH;
    g->nodes = calloc(from->count ? from->count : 1, sizeof *g->nodes);
    CUresult rc = g->nodes == NULL ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_SUCCESS;
    g->cap = from->count;
    for (size_t i = 0; i < from->count && rc == CUDA_SUCCESS; i++) {
        const node *src = from->nodes[i];
        node *n = malloc(sizeof *n);
        if (n == NULL) {
            rc = CUDA_ERROR_OUT_OF_MEMORY;
            break;
        }
        *n = *src;
        n->owner = g;
        n->bodies = NULL;
        n->nbodies = 0;
        n->deps = NULL;
        n->ndeps = n->cap_deps = 0;
        n->params = NULL;
        if (n->mem != NULL)
            gp_graph_mem_retain(n->mem);
        g->nodes[g->count++] = n;
        if (src->params != NULL && (n->params = malloc(src->params_len ? src->params_len : 1)) == NULL)
            rc = CUDA_ERROR_OUT_OF_MEMORY;
        else if (src->params != NULL)
            memcpy(n->params, src->params, src->params_len);
    }
    /* Edges: the same positions in the copy (a graph holds few nodes: quadratic is fine). */
    for (size_t i = 0; i < g->count && rc == CUDA_SUCCESS; i++)
        for (size_t d = 0; d < from->nodes[i]->ndeps && rc == CUDA_SUCCESS; d++)
            for (size_t j = 0; j < from->count; j++)
                if (from->nodes[j] == from->nodes[i]->deps[d]) {
                    rc = add_dep(g->nodes[i], g->nodes[j]);
                    break;
                }
    if (rc == CUDA_SUCCESS && registered) {
        int ok = gp_graph_add_object(g);
        for (size_t i = 0; ok && i < g->count; i++)
            ok = gp_graph_add_object(g->nodes[i]);
        if (!ok) {
            gp_graph_free(g, 1);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
    }
    if (rc != CUDA_SUCCESS) {
        gp_graph_free(g, 0);
        return rc;
    }
    *out = g;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuGraphClone_v10000(CUgraph *phGraphClone, CUgraph original)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (phGraphClone == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    graph *g = gp_graph_object(original, OBJ_GRAPH), *copy;
    if (g == NULL) {
        if (original != NULL)
            gp_error("cuGraphClone of a captured graph is not carried by gpupool (captured graphs stay on the daemon); "
                     "it returned CUDA_ERROR_NOT_SUPPORTED");
        return original != NULL ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
    }
    CUresult rc = gp_graph_clone(g, &copy, 1);
    if (rc == CUDA_SUCCESS)
        *phGraphClone = (CUgraph)copy;
    return rc;
}

