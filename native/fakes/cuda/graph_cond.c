/*
 * Graphs built node by node (cuGraphCreate, cuGraphAddNode) and their conditional nodes: what the
 * daemon builds when a job's graph holds conditionals (docs/emulator.md, "Graphs"). Nodes run in the
 * order they were added, which respects every dependency since a node can only depend on nodes added
 * before it. A conditional node is evaluated when a launch reaches it: kernels run eagerly, so the
 * handle holds what the kernels before it in stream order set (gpupool_emu_launch.set_conditional).
 * IF runs body 0 on a non-zero value (body 1, when there is one, on zero); WHILE runs body 0 as long
 * as the value is non-zero, read again after each pass; SWITCH runs body n for the value n, none past
 * the last. Handles keep their value between launches unless CU_GRAPH_COND_ASSIGN_DEFAULT asks each
 * launch of their graph to assign the default first; a handle made on a body graph is never reset.
 */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

typedef struct emu_graph emu_graph;

/* A CUgraphNode: the node's place in its graph (nodes are kept by value, in a growing array). */
typedef struct {
    emu_graph *graph;
    size_t index;
} node_ref;

void emu_cond_release(emu_cond *c)
{
    if (c != NULL && --c->refs == 0) {
        emu_handle_remove(c);
        free(c);
    }
}

static void body_free(emu_graph *b)
{
    if (b->registered)
        emu_handle_remove(b);
    emu_graph_free_nodes(b);
    emu_graph_release_extras(b);
    free(b);
}

void emu_graph_release_extras(emu_graph *g)
{
    for (size_t i = 0; i < g->nconds; i++)
        emu_cond_release(g->conds[i]);
    free(g->conds);
    g->conds = NULL;
    g->nconds = 0;
    for (size_t i = 0; i < g->nrefs; i++) {
        emu_handle_remove(g->refs[i]);
        free(g->refs[i]);
    }
    free(g->refs);
    g->refs = NULL;
    g->nrefs = 0;
}

void emu_graph_node_release_cond(emu_graph_node *n)
{
    if (n->kind != EMU_NODE_COND)
        return;
    for (unsigned i = 0; n->bodies != NULL && i < n->nbodies; i++)
        if (n->bodies[i] != NULL)
            body_free(n->bodies[i]);
    free(n->bodies);
    n->bodies = NULL;
    emu_cond_release(n->cond);
    n->cond = NULL;
}

bool emu_graph_node_copy_cond(emu_graph_node *to, const emu_graph_node *from)
{
    if (from->kind != EMU_NODE_COND)
        return true;
    to->bodies = calloc(from->nbodies, sizeof *to->bodies);
    if (to->bodies == NULL)
        return false;
    to->cond->refs++;
    for (unsigned i = 0; i < from->nbodies; i++) {
        emu_graph *b = calloc(1, sizeof *b);
        to->bodies[i] = b;
        if (b == NULL || (b->ctx = from->bodies[i]->ctx, !emu_graph_copy_nodes(b, from->bodies[i]))) {
            emu_graph_node_release_cond(to);
            return false;
        }
    }
    return true;
}

CUresult emu_cond_set(unsigned long long handle, unsigned value)
{
    emu_lock();
    emu_cond *c = (emu_cond *)(uintptr_t)handle;
    bool ok = emu_handle_is(c, EMU_H_COND);
    if (ok)
        c->value = value;
    emu_unlock();
    return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static unsigned cond_value(const emu_cond *c)
{
    emu_lock();
    unsigned v = c->value;
    emu_unlock();
    return v;
}

CUresult emu_graph_run(const emu_graph *g, CUstream stream, bool per_thread)
{
    CUresult rc = CUDA_SUCCESS;
    for (size_t i = 0; rc == CUDA_SUCCESS && i < g->count; i++) {
        const emu_graph_node *n = &g->nodes[i];
        if (n->kind != EMU_NODE_COND) {
            rc = emu_graph_run_node(n, stream, per_thread);
            continue;
        }
        unsigned v = cond_value(n->cond);
        switch (n->cond_type) {
        case CU_GRAPH_COND_TYPE_IF:
            if (v != 0)
                rc = emu_graph_run(n->bodies[0], stream, per_thread);
            else if (n->nbodies == 2)
                rc = emu_graph_run(n->bodies[1], stream, per_thread);
            break;
        case CU_GRAPH_COND_TYPE_WHILE:
            while (rc == CUDA_SUCCESS && v != 0) {
                rc = emu_graph_run(n->bodies[0], stream, per_thread);
                v = cond_value(n->cond);
            }
            break;
        default: /* CU_GRAPH_COND_TYPE_SWITCH */
            if (v < n->nbodies)
                rc = emu_graph_run(n->bodies[v], stream, per_thread);
            break;
        }
    }
    return rc;
}

static emu_graph *graph_new(CUcontext ctx, bool body)
{
    emu_graph *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->ctx = ctx;
    g->registered = true;
    g->body = body;
    if (!emu_handle_add(g, EMU_H_GRAPH)) {
        free(g);
        return NULL;
    }
    return g;
}

/* The context is the current one when there is one: what a launch of the graph runs in. */
CUresult CUDAAPI cuGraphCreate(CUgraph *phGraph, unsigned int flags)
{
    if (phGraph == NULL || flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    CUcontext ctx = NULL;
    if (emu_current(&ctx) != CUDA_SUCCESS)
        ctx = NULL;
    emu_graph *g = graph_new(ctx, false);
    if (g == NULL)
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    *phGraph = (CUgraph)g;
    return emu_leave(CUDA_SUCCESS);
}

static bool grow_ptrs(void ***items, size_t count)
{
    void **grown = realloc(*items, (count + 1) * sizeof **items);
    if (grown == NULL)
        return false;
    *items = grown;
    return true;
}

CUresult CUDAAPI cuGraphConditionalHandleCreate(CUgraphConditionalHandle *pHandle_out, CUgraph hGraph, CUcontext ctx,
                                                unsigned int defaultLaunchValue, unsigned int flags)
{
    if (pHandle_out == NULL || (flags & ~(unsigned)CU_GRAPH_COND_ASSIGN_DEFAULT) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hGraph, EMU_H_GRAPH))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if ((rc = emu_ctx_check(ctx)) != CUDA_SUCCESS)
        return emu_leave(rc);
    emu_graph *g = (emu_graph *)hGraph;
    emu_cond *c = calloc(1, sizeof *c);
    if (c == NULL || !grow_ptrs((void ***)&g->conds, g->nconds) || !emu_handle_add(c, EMU_H_COND)) {
        free(c);
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    }
    *c = (emu_cond){ .value = defaultLaunchValue, .dflt = defaultLaunchValue, .flags = flags, .ctx = ctx, .refs = 1 };
    g->conds[g->nconds++] = c;
    *pHandle_out = (CUgraphConditionalHandle)(uintptr_t)c;
    return emu_leave(CUDA_SUCCESS);
}

/* Lock held: the node just pushed at the end of g gets its handle. */
static CUresult name_last_node(emu_graph *g, CUgraphNode *out)
{
    node_ref *r = malloc(sizeof *r);
    if (r == NULL || !grow_ptrs(&g->refs, g->nrefs) || !emu_handle_add(r, EMU_H_GRAPH_NODE)) {
        free(r);
        emu_graph_node_release_cond(&g->nodes[g->count - 1]);
        free(g->nodes[--g->count].params);
        free(g->nodes[g->count].offsets);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *r = (node_ref){ g, g->count - 1 };
    g->refs[g->nrefs++] = r;
    *out = (CUgraphNode)r;
    return CUDA_SUCCESS;
}

static CUresult add_kernel(emu_graph *g, const CUDA_KERNEL_NODE_PARAMS_v3 *k)
{
    const void *f = k->func != NULL ? (const void *)k->func : (const void *)k->kern;
    CUcontext ctx = k->ctx != NULL ? k->ctx : g->ctx;
    if (f == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (k->extra != NULL)
        return CUDA_ERROR_NOT_SUPPORTED; /* parameters travel as kernelParams (the daemon's do) */
    if (ctx == NULL && emu_current(&ctx) != CUDA_SUCCESS)
        return CUDA_ERROR_INVALID_CONTEXT;
    emu_entry e;
    CUresult rc = emu_entry_of(f, ctx, &e);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (emu_param_count(&e) > 0 && k->kernelParams == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (g->ctx == NULL)
        g->ctx = ctx;
    const unsigned grid[3] = { k->gridDimX, k->gridDimY, k->gridDimZ }, block[3] = { k->blockDimX, k->blockDimY, k->blockDimZ };
    return emu_graph_capture_launch(g, f, grid, block, k->sharedMemBytes, &e, k->kernelParams);
}

static CUresult add_memset(emu_graph *g, const CUDA_MEMSET_NODE_PARAMS_v2 *m)
{
    if ((m->elementSize != 1 && m->elementSize != 2 && m->elementSize != 4) || m->width == 0 || m->height == 0 ||
        (m->height > 1 && m->pitch < m->width * m->elementSize))
        return CUDA_ERROR_INVALID_VALUE;
    size_t pitch = m->height > 1 ? m->pitch : m->width * m->elementSize;
    return emu_graph_capture_memset(g, m->elementSize, m->dst, pitch, m->value, m->width, m->height);
}

/* A copy between device addresses, one row: what a conditional's body may hold here. */
static CUresult add_copy(emu_graph *g, const CUDA_MEMCPY3D *c)
{
    if (c->srcMemoryType != CU_MEMORYTYPE_DEVICE || c->dstMemoryType != CU_MEMORYTYPE_DEVICE || c->Height > 1 || c->Depth > 1 ||
        c->srcXInBytes != 0 || c->dstXInBytes != 0 || c->srcY != 0 || c->dstY != 0 || c->srcZ != 0 || c->dstZ != 0)
        return CUDA_ERROR_NOT_SUPPORTED;
    return emu_graph_capture_copy(g, c->dstDevice, c->srcDevice, c->WidthInBytes);
}

static CUresult add_conditional(emu_graph *g, CUDA_CONDITIONAL_NODE_PARAMS *p)
{
    emu_cond *c = (emu_cond *)(uintptr_t)p->handle;
    if (!emu_handle_is(c, EMU_H_COND) || p->size == 0 ||
        (p->type == CU_GRAPH_COND_TYPE_IF && p->size > 2) || (p->type == CU_GRAPH_COND_TYPE_WHILE && p->size != 1) ||
        (p->type != CU_GRAPH_COND_TYPE_IF && p->type != CU_GRAPH_COND_TYPE_WHILE && p->type != CU_GRAPH_COND_TYPE_SWITCH))
        return CUDA_ERROR_INVALID_VALUE;
    CUcontext ctx = p->ctx != NULL ? p->ctx : c->ctx;
    if (ctx != c->ctx)
        return CUDA_ERROR_INVALID_VALUE;
    emu_graph_node n = { .kind = EMU_NODE_COND, .cond = c, .cond_type = p->type, .nbodies = p->size };
    n.bodies = calloc(p->size, sizeof *n.bodies);
    if (n.bodies == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    c->refs++;
    for (unsigned i = 0; i < p->size; i++)
        if ((n.bodies[i] = graph_new(ctx, true)) == NULL) {
            emu_graph_node_release_cond(&n);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
    CUgraph *bodies = (CUgraph *)n.bodies;
    CUresult rc = emu_graph_push_plain(g, &n);
    if (rc != CUDA_SUCCESS) {
        emu_graph_node_release_cond(&n);
        return rc;
    }
    p->phGraph_out = bodies; /* the driver's array, valid as long as the node */
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphAddNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                   const CUgraphEdgeData *dependencyData, size_t numDependencies, CUgraphNodeParams *nodeParams)
{
    if (phGraphNode == NULL || nodeParams == NULL || (numDependencies > 0 && dependencies == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hGraph, EMU_H_GRAPH))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    emu_graph *g = (emu_graph *)hGraph;
    for (size_t i = 0; i < numDependencies; i++) {
        const node_ref *d = (const node_ref *)dependencies[i];
        if (!emu_handle_is(d, EMU_H_GRAPH_NODE) || d->graph != g)
            return emu_leave(CUDA_ERROR_INVALID_VALUE);
        /* Ports and programmatic edges are a card's scheduling: only plain edges here. */
        if (dependencyData != NULL && (dependencyData[i].type != CU_GRAPH_DEPENDENCY_TYPE_DEFAULT || dependencyData[i].from_port != 0 ||
                                       dependencyData[i].to_port != 0))
            return emu_leave(CUDA_ERROR_NOT_SUPPORTED);
    }
    size_t before = g->count;
    switch (nodeParams->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: rc = add_kernel(g, &nodeParams->kernel); break;
    case CU_GRAPH_NODE_TYPE_MEMSET: rc = add_memset(g, &nodeParams->memset); break;
    case CU_GRAPH_NODE_TYPE_MEMCPY: rc = add_copy(g, &nodeParams->memcpy.copyParams); break;
    case CU_GRAPH_NODE_TYPE_EMPTY: {
        emu_graph_node n = { .kind = EMU_NODE_EMPTY };
        rc = emu_graph_push_plain(g, &n);
        break;
    }
    case CU_GRAPH_NODE_TYPE_CONDITIONAL: rc = add_conditional(g, &nodeParams->conditional); break;
    default: rc = CUDA_ERROR_NOT_SUPPORTED; break; /* host work, events, child graphs, allocations */
    }
    /* A failed push marks a captured graph invalid; a graph built node by node just refuses the node. */
    g->invalid = false;
    if (rc == CUDA_SUCCESS && g->count == before + 1)
        rc = name_last_node(g, phGraphNode);
    return emu_leave(rc);
}
