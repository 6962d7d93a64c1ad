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
 * Graphs captured from streams stay on the daemon: each call that takes either kind answers an
 * object of this file and forwards any other handle. Handles are pointers of this process: another
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

enum { OBJ_GRAPH = 0x67726170, OBJ_NODE, OBJ_EXEC };

typedef struct graph graph;
typedef struct node node;

struct node {
    int kind; /* OBJ_NODE: first, as in every object (lookup) */
    graph *owner;
    CUgraphNodeType type;
    node **deps;
    size_t ndeps, cap_deps;
    size_t mark; /* topological sort: remaining dependencies */
    /* kernel */
    CUfunction fn;
    unsigned grid[3], block[3], shared;
    unsigned char *params;
    size_t params_len;
    /* memcpy, memset, host */
    CUDA_MEMCPY3D copy;
    CUDA_MEMSET_NODE_PARAMS memset;
    CUDA_HOST_NODE_PARAMS host;
    /* memory allocation and free */
    graph_mem *mem;
    CUDA_MEM_ALLOC_NODE_PARAMS alloc;
    CUdeviceptr freed;
};

struct graph {
    int kind; /* OBJ_GRAPH */
    node **nodes;
    size_t count, cap;
};

typedef struct {
    int kind;            /* OBJ_EXEC */
    graph *g;            /* a private copy, nodes in dependency order, registered nowhere */
    const void **origin; /* per node, the instantiated graph's node: compared, never read */
    int host_writes;     /* a host node or a copy into host memory: host-reading copies wait (above) */
} exec;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_objects; /* tsearch tree of every live graph, node and executable graph */

static int by_address(const void *a, const void *b) { return a < b ? -1 : a > b; }

static int add_object(void *o)
{
    pthread_mutex_lock(&g_lock);
    void *r = tsearch(o, &g_objects, by_address);
    pthread_mutex_unlock(&g_lock);
    return r != NULL;
}

static void remove_object(void *o)
{
    pthread_mutex_lock(&g_lock);
    tdelete(o, &g_objects, by_address);
    pthread_mutex_unlock(&g_lock);
}

/* o, when it is an object of this file of that kind; NULL otherwise (never dereferenced before). */
static void *object(const void *o, int kind)
{
    if (o == NULL)
        return NULL;
    pthread_mutex_lock(&g_lock);
    void *r = tfind(o, &g_objects, by_address);
    pthread_mutex_unlock(&g_lock);
    return r != NULL && *(const int *)o == kind ? (void *)o : NULL;
}

int gp_graph_is_local(CUgraph g) { return object(g, OBJ_GRAPH) != NULL; }
int gp_graph_exec_is_local(CUgraphExec x) { return object(x, OBJ_EXEC) != NULL; }

/* ---- nodes ------------------------------------------------------------------------------------ */

static void node_free(node *n)
{
    if (n->mem != NULL)
        gp_graph_mem_release(n->mem);
    free(n->deps);
    free(n->params);
    free(n);
}

static void graph_free(graph *g, int registered)
{
    for (size_t i = 0; i < g->count; i++) {
        if (registered)
            remove_object(g->nodes[i]);
        node_free(g->nodes[i]);
    }
    if (registered)
        remove_object(g);
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
    graph *g = object(hGraph, OBJ_GRAPH);
    if (out == NULL || (ndeps > 0 && deps == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    if (g == NULL)
        return hGraph == NULL ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_INVALID_HANDLE;
    node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    n->kind = OBJ_NODE;
    n->owner = g;
    n->type = type;
    CUresult rc = CUDA_SUCCESS;
    for (size_t i = 0; i < ndeps && rc == CUDA_SUCCESS; i++) {
        node *d = object(deps[i], OBJ_NODE);
        rc = d == NULL || d->owner != g ? CUDA_ERROR_INVALID_VALUE : add_dep(n, d);
    }
    *made = n;
    return rc;
}

/* The node joins its graph and the caller gets it; on a failure of the caller's it is freed. */
static CUresult finish_node(CUresult rc, node *n, CUgraphNode *out)
{
    if (rc == CUDA_SUCCESS && (rc = push_node(n->owner, n)) == CUDA_SUCCESS && !add_object(n)) {
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

static CUresult set_kernel_v2(node *n, const CUDA_KERNEL_NODE_PARAMS_v2 *p)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    const unsigned grid[3] = { p->gridDimX, p->gridDimY, p->gridDimZ }, block[3] = { p->blockDimX, p->blockDimY, p->blockDimZ };
    return set_kernel(n, p->func, p->kern, grid, block, p->sharedMemBytes, p->kernelParams, p->extra);
}

static CUresult set_memset(node *n, const CUDA_MEMSET_NODE_PARAMS *p)
{
    if (p == NULL || (p->elementSize != 1 && p->elementSize != 2 && p->elementSize != 4) || p->width == 0 || p->height == 0 ||
        (p->height > 1 && p->pitch < p->width * p->elementSize))
        return CUDA_ERROR_INVALID_VALUE;
    n->memset = *p;
    return CUDA_SUCCESS;
}

static CUresult set_copy(node *n, const CUDA_MEMCPY3D *p)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    n->copy = *p;
    return CUDA_SUCCESS;
}

static CUresult set_host(node *n, const CUDA_HOST_NODE_PARAMS *p)
{
    if (p == NULL || p->fn == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    n->host = *p;
    return CUDA_SUCCESS;
}

/* ---- graphs ----------------------------------------------------------------------------------- */

CUresult gp_local_cuGraphCreate_v10000(CUgraph *phGraph, unsigned int flags)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (phGraph == NULL || flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    graph *g = calloc(1, sizeof *g);
    if (g == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    g->kind = OBJ_GRAPH;
    if (!add_object(g)) {
        free(g);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *phGraph = (CUgraph)g;
    return CUDA_SUCCESS;
}

CUresult gp_graph_destroy(CUgraph hGraph)
{
    graph *g = object(hGraph, OBJ_GRAPH);
    if (g == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    graph_free(g, 1);
    return CUDA_SUCCESS;
}

CUresult gp_local_cuGraphAddKernelNode_v12000(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                                              const CUDA_KERNEL_NODE_PARAMS_v2 *p)
{
    node *n = NULL;
    CUresult rc = new_node(out, hGraph, deps, ndeps, CU_GRAPH_NODE_TYPE_KERNEL, &n);
    return finish_node(rc == CUDA_SUCCESS ? set_kernel_v2(n, p) : rc, n, out);
}

CUresult gp_local_cuGraphAddMemcpyNode_v10000(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                                              const CUDA_MEMCPY3D *p, CUcontext ctx)
{
    (void)ctx; /* the launch stream's context runs it */
    node *n = NULL;
    CUresult rc = new_node(out, hGraph, deps, ndeps, CU_GRAPH_NODE_TYPE_MEMCPY, &n);
    return finish_node(rc == CUDA_SUCCESS ? set_copy(n, p) : rc, n, out);
}

CUresult gp_local_cuGraphAddMemsetNode_v10000(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                                              const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx)
{
    (void)ctx;
    node *n = NULL;
    CUresult rc = new_node(out, hGraph, deps, ndeps, CU_GRAPH_NODE_TYPE_MEMSET, &n);
    return finish_node(rc == CUDA_SUCCESS ? set_memset(n, p) : rc, n, out);
}

CUresult gp_local_cuGraphAddHostNode_v10000(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                                            const CUDA_HOST_NODE_PARAMS *p)
{
    node *n = NULL;
    CUresult rc = new_node(out, hGraph, deps, ndeps, CU_GRAPH_NODE_TYPE_HOST, &n);
    return finish_node(rc == CUDA_SUCCESS ? set_host(n, p) : rc, n, out);
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
    node *n = object(hNode, OBJ_NODE);
    if (n == NULL || p == NULL || n->type != CU_GRAPH_NODE_TYPE_MEM_ALLOC)
        return CUDA_ERROR_INVALID_VALUE;
    *p = n->alloc;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuGraphMemFreeNodeGetParams_v11040(CUgraphNode hNode, CUdeviceptr *dptr)
{
    node *n = object(hNode, OBJ_NODE);
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
        const CUDA_KERNEL_NODE_PARAMS_v3 *k = &p->kernel;
        const CUDA_KERNEL_NODE_PARAMS_v2 v2 = { k->func, k->gridDimX, k->gridDimY, k->gridDimZ, k->blockDimX, k->blockDimY, k->blockDimZ,
                                                k->sharedMemBytes, k->kernelParams, k->extra, k->kern, k->ctx };
        return gp_local_cuGraphAddKernelNode_v12000(out, hGraph, deps, ndeps, &v2);
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY:
        return gp_local_cuGraphAddMemcpyNode_v10000(out, hGraph, deps, ndeps, &p->memcpy.copyParams, p->memcpy.copyCtx);
    case CU_GRAPH_NODE_TYPE_MEMSET: {
        const CUDA_MEMSET_NODE_PARAMS_v2 *m = &p->memset;
        const CUDA_MEMSET_NODE_PARAMS v1 = { m->dst, m->pitch, m->value, m->elementSize, m->width, m->height };
        return gp_local_cuGraphAddMemsetNode_v10000(out, hGraph, deps, ndeps, &v1, m->ctx);
    }
    case CU_GRAPH_NODE_TYPE_HOST: {
        const CUDA_HOST_NODE_PARAMS v1 = { p->host.fn, p->host.userData };
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
    default:
        gp_error("cuGraphAddNode: %s nodes are not carried by gpupool; it returned CUDA_ERROR_NOT_SUPPORTED", type_name(p->type));
        return CUDA_ERROR_NOT_SUPPORTED;
    }
}

CUresult gp_local_cuGraphAddNode_v12020(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps, CUgraphNodeParams *p)
{
    return add_node(out, hGraph, deps, NULL, ndeps, p);
}

CUresult gp_local_cuGraphAddNode_v12030(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, const CUgraphEdgeData *edges,
                                        size_t ndeps, CUgraphNodeParams *p)
{
    return add_node(out, hGraph, deps, edges, ndeps, p);
}

static CUresult add_dependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to, const CUgraphEdgeData *edges, size_t count)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    graph *g = object(hGraph, OBJ_GRAPH);
    if (g == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (count > 0 && (from == NULL || to == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < count; i++) {
        node *a = object(from[i], OBJ_NODE), *b = object(to[i], OBJ_NODE);
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
    graph *g = object(hGraph, OBJ_GRAPH);
    return g == NULL ? CUDA_ERROR_INVALID_VALUE : list(g->nodes, g->count, NULL, nodes, numNodes);
}

static int is_root(const node *n) { return n->ndeps == 0; }

CUresult gp_local_cuGraphGetRootNodes_v10000(CUgraph hGraph, CUgraphNode *roots, size_t *numRoots)
{
    graph *g = object(hGraph, OBJ_GRAPH);
    if (g == NULL)
        return hGraph != NULL && !gp_graph_is_local(hGraph) ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
    return list(g->nodes, g->count, is_root, roots, numRoots);
}

static CUresult node_dependencies(CUgraphNode hNode, CUgraphNode *deps, CUgraphEdgeData *edges, size_t *count)
{
    node *n = object(hNode, OBJ_NODE);
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
    node *n = object(hNode, OBJ_NODE);
    if (n == NULL || type == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *type = n->type;
    return CUDA_SUCCESS;
}

static node *kernel_node(CUgraphNode hNode)
{
    node *n = object(hNode, OBJ_NODE);
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
    return n == NULL ? CUDA_ERROR_INVALID_VALUE : set_kernel_v2(n, p);
}

/* The first kernel parameters (CUDA 10): no kernel handle or context. */
static CUDA_KERNEL_NODE_PARAMS_v2 from_v1(const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
    return (CUDA_KERNEL_NODE_PARAMS_v2){ p->func, p->gridDimX, p->gridDimY, p->gridDimZ, p->blockDimX, p->blockDimY, p->blockDimZ,
                                         p->sharedMemBytes, p->kernelParams, p->extra, NULL, NULL };
}

CUresult gp_local_cuGraphAddKernelNode_v10000(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                                              const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    const CUDA_KERNEL_NODE_PARAMS_v2 v2 = from_v1(p);
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
    const CUDA_KERNEL_NODE_PARAMS_v2 v2 = from_v1(p);
    return gp_local_cuGraphKernelNodeSetParams_v12000(hNode, &v2);
}

/* A graph's copy: nodes and edges; registered when it is the caller's (cuGraphClone), not an exec's. */
static CUresult clone_graph(const graph *from, graph **out, int registered)
{
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
        int ok = add_object(g);
        for (size_t i = 0; ok && i < g->count; i++)
            ok = add_object(g->nodes[i]);
        if (!ok) {
            graph_free(g, 1);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
    }
    if (rc != CUDA_SUCCESS) {
        graph_free(g, 0);
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
    graph *g = object(original, OBJ_GRAPH), *copy;
    if (g == NULL) {
        if (original != NULL)
            gp_error("cuGraphClone of a captured graph is not carried by gpupool (captured graphs stay on the daemon); "
                     "it returned CUDA_ERROR_NOT_SUPPORTED");
        return original != NULL ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
    }
    CUresult rc = clone_graph(g, &copy, 1);
    if (rc == CUDA_SUCCESS)
        *phGraphClone = (CUgraph)copy;
    return rc;
}

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
    graph *g = object(hGraph, OBJ_GRAPH);
    if (g == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    exec *x = calloc(1, sizeof *x);
    if (x == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    x->kind = OBJ_EXEC;
    CUresult rc = clone_graph(g, &x->g, 0);
    if (rc != CUDA_SUCCESS) {
        free(x);
        return rc;
    }
    x->origin = malloc((g->count ? g->count : 1) * sizeof *x->origin);
    rc = x->origin == NULL ? CUDA_ERROR_OUT_OF_MEMORY : order(x->g, g, x->origin);
    for (size_t i = 0; rc == CUDA_SUCCESS && i < x->g->count; i++)
        x->host_writes |= writes_host(x->g->nodes[i]);
    if (rc == CUDA_SUCCESS && !add_object(x))
        rc = CUDA_ERROR_OUT_OF_MEMORY;
    if (rc != CUDA_SUCCESS) {
        graph_free(x->g, 0);
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
    if (!gp_graph_is_local(hGraph)) {
        /* The daemon's captured graphs: flags as cuGraphInstantiateWithFlags carries them. */
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
    exec *x = object(hGraphExec, OBJ_EXEC);
    if (x == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    remove_object(x);
    graph_free(x->g, 0);
    free(x->origin);
    free(x);
    return CUDA_SUCCESS;
}

/* The executable graph's node instantiated from hNode, of that type. */
static node *exec_node(CUgraphExec hGraphExec, CUgraphNode hNode, CUgraphNodeType type)
{
    exec *x = object(hGraphExec, OBJ_EXEC);
    if (x == NULL || hNode == NULL)
        return NULL;
    for (size_t i = 0; i < x->g->count; i++)
        if (x->origin[i] == (const void *)hNode)
            return x->g->nodes[i]->type == type ? x->g->nodes[i] : NULL;
    return NULL;
}

CUresult gp_local_cuGraphExecKernelNodeSetParams_v12000(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v2 *p)
{
    node *n = exec_node(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_KERNEL);
    return n == NULL ? CUDA_ERROR_INVALID_VALUE : set_kernel_v2(n, p);
}

CUresult gp_local_cuGraphExecKernelNodeSetParams_v10010(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    const CUDA_KERNEL_NODE_PARAMS_v2 v2 = from_v1(p);
    return gp_local_cuGraphExecKernelNodeSetParams_v12000(hGraphExec, hNode, &v2);
}

CUresult gp_local_cuGraphExecMemsetNodeSetParams_v10020(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_MEMSET_NODE_PARAMS *p,
                                                        CUcontext ctx)
{
    (void)ctx;
    node *n = exec_node(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_MEMSET);
    return n == NULL ? CUDA_ERROR_INVALID_VALUE : set_memset(n, p);
}

CUresult gp_local_cuGraphExecMemcpyNodeSetParams_v10020(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_MEMCPY3D *p, CUcontext ctx)
{
    (void)ctx;
    exec *x = object(hGraphExec, OBJ_EXEC);
    node *n = exec_node(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_MEMCPY);
    CUresult rc = n == NULL ? CUDA_ERROR_INVALID_VALUE : set_copy(n, p);
    if (rc == CUDA_SUCCESS)
        x->host_writes |= writes_host(n);
    return rc;
}

CUresult gp_local_cuGraphExecHostNodeSetParams_v10020(CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_HOST_NODE_PARAMS *p)
{
    node *n = exec_node(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_HOST);
    return n == NULL ? CUDA_ERROR_INVALID_VALUE : set_host(n, p);
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
    exec *x = object(hGraphExec, OBJ_EXEC);
    graph *g = object(hGraph, OBJ_GRAPH);
    if (x == NULL || g == NULL) {
        /* One of the daemon's and one of the client's: they cannot share a topology. */
        resultInfo->result = CU_GRAPH_EXEC_UPDATE_ERROR_NOT_SUPPORTED;
        return hGraphExec == NULL || hGraph == NULL ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE;
    }
    graph *fresh;
    exec probe = { 0 };
    CUresult rc = clone_graph(g, &fresh, 0);
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
    graph_free(fresh, 0);
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
    exec *x = object(hGraphExec, OBJ_EXEC);
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
