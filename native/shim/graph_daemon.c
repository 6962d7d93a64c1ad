/*
 * Graphs of the job that live on the daemon too: those with conditional nodes. Kernels set a
 * conditional from device code (cudaGraphSetConditional), which on a card only the card's own graph
 * honours, so such a graph must be a driver graph on the daemon; yet the program builds it as any
 * graph, node by node or by capture, naming nodes and body graphs as handles of this process.
 *
 * So the job keeps building it here (graph.c, capture_graph.c) and the daemon holds a twin: created
 * when the graph gets its first conditional handle (cuGraphConditionalHandleCreate, answered by the
 * daemon's driver on the twin, since kernels take the handle's value as a parameter). The first
 * instantiation sends every node, in dependency order, bodies of conditionals in their place, in one
 * frame (the cuGraphAddNode op, src/protocol/frames.ts `graph_nodes`); the daemon adds them to the
 * twin with the driver, which makes the bodies, and instantiates the twin. Launches of that executable
 * graph are one message each, as a captured graph's. A node the daemon cannot hold (host work, copies
 * naming the job's memory, allocations) is refused by name, at that instantiation. A graph changed
 * after it was sent is refused likewise: the twin holds what was sent.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "client.h"
#include "custom.h"
#include "gp_frames.h"
#include "gp_ops.h"
#include "gp_shim_decls.h"
#include "graph.h"
#include "shim.h"

static __thread int tls_twin;

/* cuGraphCreate goes to the daemon only while this file makes a twin. */
int gp_graph_twin_wanted(void) { return tls_twin; }

int gp_graph_on_daemon(CUgraph hGraph)
{
    graph *g = gp_graph_object(hGraph, OBJ_GRAPH);
    return g != NULL && gp_graph_root(g)->twin != NULL;
}

/* The handles the daemon made, and the twin each belongs to: a conditional node names one of its graph's. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handle_note {
    CUgraphConditionalHandle value;
    CUgraph twin;
} *g_handles;
static size_t g_nhandles, g_caphandles;

void gp_graph_note_conditional(CUgraphConditionalHandle value, CUgraph twin)
{
    pthread_mutex_lock(&g_lock);
    if (g_nhandles == g_caphandles) {
        size_t cap = g_caphandles ? g_caphandles * 2 : 16;
        struct handle_note *grown = realloc(g_handles, cap * sizeof *grown);
        if (grown != NULL) {
            g_handles = grown;
            g_caphandles = cap;
        }
    }
    if (g_nhandles < g_caphandles)
        g_handles[g_nhandles++] = (struct handle_note){ value, twin };
    pthread_mutex_unlock(&g_lock);
}

/* The twin is destroyed: its handles with it. */
void gp_graph_forget_conditionals(CUgraph twin)
{
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_nhandles;)
        if (g_handles[i].twin == twin)
            g_handles[i] = g_handles[--g_nhandles];
        else
            i++;
    pthread_mutex_unlock(&g_lock);
}

static int handle_of(CUgraphConditionalHandle value, CUgraph twin)
{
    int found = 0;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_nhandles && !found; i++)
        found = g_handles[i].value == value && g_handles[i].twin == twin;
    pthread_mutex_unlock(&g_lock);
    return found;
}

/* A graph of this process gets its twin on the daemon, which the call then names; others go as they are. */
CUresult gp_graph_twin_of(CUgraph *hGraph)
{
    graph *g = gp_graph_object(*hGraph, OBJ_GRAPH);
    if (g == NULL)
        return CUDA_SUCCESS; /* a captured graph (the daemon's), or none: the daemon answers */
    if (g->parent != NULL) {
        gp_error("cuGraphConditionalHandleCreate on a conditional's body graph is not carried by gpupool (create the handle "
                 "on the graph at the top); it returned CUDA_ERROR_NOT_SUPPORTED");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    if (g->twin == NULL) {
        CUresult edited = gp_capture_graph_edited(*hGraph); /* a capture's record: the capture is the job's from here */
        if (edited != CUDA_SUCCESS)
            return edited;
        tls_twin = 1;
        CUresult rc = gp_fwd_cuGraphCreate_v10000(&g->twin, 0);
        tls_twin = 0;
        if (rc != CUDA_SUCCESS) {
            g->twin = NULL;
            return rc;
        }
    }
    *hGraph = g->twin;
    return CUDA_SUCCESS;
}

CUresult gp_graph_set_conditional(node *n, CUDA_CONDITIONAL_NODE_PARAMS *p)
{
    if (p == NULL || p->size == 0 || (p->type == CU_GRAPH_COND_TYPE_IF && p->size > 2) ||
        (p->type == CU_GRAPH_COND_TYPE_WHILE && p->size != 1) ||
        (p->type != CU_GRAPH_COND_TYPE_IF && p->type != CU_GRAPH_COND_TYPE_WHILE && p->type != CU_GRAPH_COND_TYPE_SWITCH))
        return CUDA_ERROR_INVALID_VALUE;
    graph *root = gp_graph_root(n->owner);
    if (root->twin == NULL || !handle_of(p->handle, root->twin))
        return CUDA_ERROR_INVALID_VALUE; /* no handle of this graph's (the driver's answer too) */
    n->bodies = calloc(p->size, sizeof *n->bodies);
    if (n->bodies == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    n->nbodies = p->size;
    for (unsigned i = 0; i < p->size; i++) {
        CUresult rc = gp_graph_create_local((CUgraph *)&n->bodies[i], 0);
        if (rc != CUDA_SUCCESS)
            return rc; /* the node is freed, with the bodies made so far */
        n->bodies[i]->parent = n;
    }
    n->cond = p->handle;
    n->cond_type = p->type;
    p->phGraph_out = (CUgraph *)n->bodies; /* valid as long as the node, as the driver's */
    return CUDA_SUCCESS;
}

size_t gp_graph_node_total(const graph *g)
{
    size_t total = g->count;
    for (size_t i = 0; i < g->count; i++)
        for (unsigned b = 0; b < g->nodes[i]->nbodies; b++)
            total += gp_graph_node_total(g->nodes[i]->bodies[b]);
    return total;
}

/* ---- the frame -------------------------------------------------------------------------------- */

/* The nodes in an order where each comes after its dependencies (Kahn's, on the nodes' marks). */
static node **ordered(const graph *g)
{
    node **order = malloc((g->count ? g->count : 1) * sizeof *order);
    if (order == NULL)
        return NULL;
    size_t done = 0;
    for (size_t i = 0; i < g->count; i++)
        g->nodes[i]->mark = 0;
    /* A graph holds few nodes: quadratic passes are fine. */
    while (done < g->count) {
        size_t before = done;
        for (size_t i = 0; i < g->count; i++) {
            node *n = g->nodes[i];
            if (n->mark)
                continue;
            int ready = 1;
            for (size_t d = 0; d < n->ndeps && ready; d++)
                ready = n->deps[d]->mark != 0;
            if (ready) {
                n->mark = 1;
                order[done++] = n;
            }
        }
        if (done == before) { /* a cycle: the driver refuses one at instantiation */
            free(order);
            return NULL;
        }
    }
    return order;
}

static size_t index_in(node *const *order, size_t count, const node *n)
{
    for (size_t i = 0; i < count; i++)
        if (order[i] == n)
            return i;
    return 0;
}

static int device_side(CUmemorytype type, CUdeviceptr ptr)
{
    return type == CU_MEMORYTYPE_DEVICE || (type == CU_MEMORYTYPE_UNIFIED && gp_alloc_server(ptr, 1) >= 0);
}

/* What the daemon can hold of a node, or why not (a name for the message); NULL: it can. */
static const char *refused(const node *n)
{
    switch (n->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL:
    case CU_GRAPH_NODE_TYPE_MEMSET:
    case CU_GRAPH_NODE_TYPE_EMPTY:
    case CU_GRAPH_NODE_TYPE_CONDITIONAL:
        return NULL;
    case CU_GRAPH_NODE_TYPE_MEMCPY: {
        const CUDA_MEMCPY3D *c = &n->copy;
        int linear = c->Height <= 1 && c->Depth <= 1 && c->srcY == 0 && c->dstY == 0 && c->srcZ == 0 && c->dstZ == 0;
        return device_side(c->srcMemoryType, c->srcDevice) && device_side(c->dstMemoryType, c->dstDevice) && linear
                   ? NULL
                   : "a memcpy node that names host memory, an array or more than one row";
    }
    case CU_GRAPH_NODE_TYPE_HOST: return "a host node";
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC: return "a memory allocation node";
    case CU_GRAPH_NODE_TYPE_MEM_FREE: return "a memory free node";
    default: return "this kind of node";
    }
}

/*
 * One record per node, each a flat array (the call's arrays nest only so deep): [graph, type,
 * ndeps, deps..., what the type carries]. Graph 0 is the twin; a conditional's bodies take the next
 * graph numbers, and every graph's nodes come together, after the node that made it (breadth first).
 */
static CUresult put_node(gp_call *c, uint32_t graph_no, const node *n, node *const *order, size_t count, int server, uint32_t *next_graph)
{
    const char *why = refused(n);
    if (why != NULL) {
        gp_error("cuGraphInstantiate: %s in a graph with conditional nodes is not carried by gpupool (such a graph runs on the "
                 "daemon, which holds device work only); it returned CUDA_ERROR_NOT_SUPPORTED",
                 why);
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    static const uint32_t payload[] = { [CU_GRAPH_NODE_TYPE_KERNEL] = 9, [CU_GRAPH_NODE_TYPE_MEMSET] = 6, [CU_GRAPH_NODE_TYPE_MEMCPY] = 3,
                                        [CU_GRAPH_NODE_TYPE_EMPTY] = 0, [CU_GRAPH_NODE_TYPE_CONDITIONAL] = 3 };
    const void *real = n->fn;
    if (n->type == CU_GRAPH_NODE_TYPE_KERNEL) {
        CUresult rc = gp_kernel_for_server(n->fn, server, &real);
        if (rc != CUDA_SUCCESS)
            return rc;
        if (gp_handle_server(real) != server)
            return CUDA_ERROR_INVALID_HANDLE; /* a function of another daemon's context */
    }
    gp_put_array(c, (uint32_t)(3 + n->ndeps + payload[n->type]));
    gp_put_uint(c, graph_no);
    gp_put_uint(c, (uint64_t)n->type);
    gp_put_uint(c, n->ndeps);
    for (size_t d = 0; d < n->ndeps; d++)
        gp_put_uint(c, index_in(order, count, n->deps[d]));
    switch (n->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL:
        gp_put_uint(c, gp_handle_id(real));
        for (int i = 0; i < 3; i++)
            gp_put_uint(c, n->grid[i]);
        for (int i = 0; i < 3; i++)
            gp_put_uint(c, n->block[i]);
        gp_put_uint(c, n->shared);
        gp_put_bin(c, n->params, n->params_len);
        break;
    case CU_GRAPH_NODE_TYPE_MEMSET: {
        const CUDA_MEMSET_NODE_PARAMS *m = &n->memset;
        gp_put_uint(c, m->dst);
        gp_put_uint(c, m->pitch);
        gp_put_uint(c, m->value);
        gp_put_uint(c, m->elementSize);
        gp_put_uint(c, m->width);
        gp_put_uint(c, m->height);
        break;
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY:
        gp_put_uint(c, n->copy.dstDevice + n->copy.dstXInBytes);
        gp_put_uint(c, n->copy.srcDevice + n->copy.srcXInBytes);
        gp_put_uint(c, n->copy.WidthInBytes);
        break;
    case CU_GRAPH_NODE_TYPE_CONDITIONAL:
        gp_put_uint(c, n->cond);
        gp_put_uint(c, (uint64_t)n->cond_type);
        gp_put_uint(c, n->nbodies);
        *next_graph += n->nbodies;
        break;
    default: /* empty */
        break;
    }
    return CUDA_SUCCESS;
}

/* Every graph, g first, breadth first; their nodes in dependency order. */
static CUresult put_graphs(gp_call *c, const graph *g, int server)
{
    size_t total = gp_graph_node_total(g), ngraphs = 1;
    const graph **queue = malloc(sizeof *queue);
    if (queue == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    queue[0] = g;
    gp_put_array(c, (uint32_t)total);
    CUresult rc = CUDA_SUCCESS;
    uint32_t next_graph = 1;
    for (size_t q = 0; q < ngraphs && rc == CUDA_SUCCESS; q++) {
        const graph *at = queue[q];
        node **order = ordered(at);
        if (order == NULL) {
            rc = at->count > 0 ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_OUT_OF_MEMORY;
            break;
        }
        for (size_t i = 0; i < at->count && rc == CUDA_SUCCESS; i++) {
            const node *n = order[i];
            rc = put_node(c, (uint32_t)q, n, order, at->count, server, &next_graph);
            if (rc == CUDA_SUCCESS && n->nbodies > 0) {
                const graph **grown = realloc(queue, (ngraphs + n->nbodies) * sizeof *queue);
                if (grown == NULL) {
                    rc = CUDA_ERROR_OUT_OF_MEMORY;
                    break;
                }
                queue = grown;
                for (unsigned b = 0; b < n->nbodies; b++)
                    queue[ngraphs++] = n->bodies[b];
            }
        }
        free(order);
    }
    free(queue);
    return rc;
}

/* The graph's nodes sent to its twin, once; the call then instantiates the twin. */
CUresult gp_graph_build(CUgraph *hGraph)
{
    graph *g = gp_graph_object(*hGraph, OBJ_GRAPH);
    if (g == NULL || g->parent != NULL || g->twin == NULL)
        return CUDA_ERROR_INVALID_VALUE; /* a body is instantiated with its graph only */
    size_t total = gp_graph_node_total(g);
    if (g->sent != 0 && g->sent != total) {
        gp_error("cuGraphInstantiate: a graph with conditional nodes changed after its first instantiation is not carried by "
                 "gpupool (its twin on the daemon holds what was sent); it returned CUDA_ERROR_NOT_SUPPORTED");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    if (g->sent == 0 && total > 0) {
        gp_call *c = gp_call_begin(GP_OP_cuGraphAddNode_v12030, GP_MODE_SYNC);
        CUresult rc = gp_route_handle(c, g->twin);
        if (rc == CUDA_SUCCESS) {
            const gp_frame_graph_nodes frame = { .graph = gp_handle_id(g->twin) };
            GP_PUT_FRAME(c, graph_nodes, &frame);
            rc = put_graphs(c, g, gp_handle_server(g->twin));
            /* A node refused midway leaves the frame short: it is never sent. */
            if (rc == CUDA_SUCCESS)
                rc = gp_call_finish(c);
        }
        gp_call_end(c);
        if (rc != CUDA_SUCCESS)
            return rc;
        g->sent = total;
    }
    *hGraph = g->twin;
    return CUDA_SUCCESS;
}
