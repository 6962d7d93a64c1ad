/*
 * CUDA graphs, as far as stream capture needs them: a user stream's capture records its kernel
 * launches (their parameters copied), memsets and copies between device addresses into a graph; an
 * instantiated graph replays them, in order, on the stream it is launched on, each as the call would
 * run it (time model, kernel libraries, no-op mode). A copy with a host side on a capturing stream is
 * refused (CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED) and invalidates the capture: under gpupool its host
 * side is the daemon's staging memory, gone by the time the graph runs. Other work issued to a
 * capturing stream (events, stream waits) runs at once, as before. The legacy and per-thread default
 * streams cannot capture.
 */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

typedef struct emu_graph emu_graph;

typedef struct {
    emu_graph graph;               /* its own copy of the nodes */
} emu_graph_exec;

static void free_nodes(emu_graph *g)
{
    for (size_t i = 0; i < g->count; i++) {
        emu_graph_node_release_cond(&g->nodes[i]);
        free(g->nodes[i].params);
        free(g->nodes[i].offsets);
    }
    free(g->nodes);
    g->nodes = NULL;
    g->count = g->cap = 0;
}

void emu_graph_free_nodes(emu_graph *g) { free_nodes(g); }

static bool copy_node(emu_graph_node *to, const emu_graph_node *from)
{
    size_t bytes = from->bytes;
    *to = *from;
    to->params = malloc(bytes ? bytes : 1);
    to->offsets = malloc(from->count > 0 ? (size_t)from->count * sizeof *to->offsets : 1);
    if (to->params == NULL || to->offsets == NULL) {
        free(to->params);
        free(to->offsets);
        return false;
    }
    memcpy(to->params, from->params, bytes);
    if (from->count > 0)
        memcpy(to->offsets, from->offsets, (size_t)from->count * sizeof *to->offsets);
    if (!emu_graph_node_copy_cond(to, from)) {
        free(to->params);
        free(to->offsets);
        return false;
    }
    return true;
}

static bool push_node(emu_graph *g, emu_graph_node *n)
{
    if (g->count == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        emu_graph_node *grown = realloc(g->nodes, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        g->nodes = grown;
        g->cap = cap;
    }
    g->nodes[g->count++] = *n;
    return true;
}

/* The parameters' bytes: up to the end of the last one. */
static size_t params_end(const emu_entry *e, int count)
{
    size_t end = 0, off, sz;
    for (int i = 0; i < count; i++)
        if (emu_param_layout(e, (size_t)i, &off, &sz) == CUDA_SUCCESS && off + sz > end)
            end = off + sz;
    return end;
}

CUresult emu_graph_capture_launch(emu_graph *g, const void *f, const unsigned grid[3], const unsigned block[3], unsigned shared,
                                  const emu_entry *e, void **argv)
{
    int count = emu_param_count(e);
    if (count < 0)
        count = 0;
    size_t bytes = params_end(e, count);
    emu_graph_node n = { .f = f, .grid = { grid[0], grid[1], grid[2] }, .block = { block[0], block[1], block[2] }, .shared = shared,
                         .params = malloc(bytes ? bytes : 1), .bytes = bytes,
                         .offsets = malloc(count > 0 ? (size_t)count * sizeof(size_t) : 1), .count = count, .kind = EMU_NODE_LAUNCH };
    if (n.params == NULL || n.offsets == NULL) {
        free(n.params);
        free(n.offsets);
        g->invalid = true;
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    for (int i = 0; i < count; i++) {
        size_t off = 0, sz = 0;
        emu_param_layout(e, (size_t)i, &off, &sz);
        n.offsets[i] = off;
        memcpy(n.params + off, argv[i], sz);
    }
    if (!push_node(g, &n)) {
        free(n.params);
        free(n.offsets);
        g->invalid = true;
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    return CUDA_SUCCESS;
}

/* A node with no parameters of a launch, of that kind (lock held). */
static CUresult push_plain(emu_graph *g, emu_graph_node *n)
{
    n->params = malloc(1);
    n->offsets = malloc(1);
    if (n->params == NULL || n->offsets == NULL || !push_node(g, n)) {
        free(n->params);
        free(n->offsets);
        g->invalid = true;
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    return CUDA_SUCCESS;
}

/* A node with no parameters of a launch (an empty node), at the end of g (lock held). */
CUresult emu_graph_push_plain(emu_graph *g, emu_graph_node *n) { return push_plain(g, n); }

/* Copies of from's nodes appended to to (lock held); false: no memory (to keeps what it got). */
bool emu_graph_copy_nodes(emu_graph *to, const emu_graph *from)
{
    for (size_t i = 0; i < from->count; i++) {
        emu_graph_node n;
        if (!copy_node(&n, &from->nodes[i]))
            return false;
        if (!push_node(to, &n)) {
            emu_graph_node_release_cond(&n);
            free(n.params);
            free(n.offsets);
            return false;
        }
    }
    return true;
}

CUresult emu_graph_capture_memset(emu_graph *g, unsigned elem, CUdeviceptr dst, size_t pitch, unsigned value, size_t width, size_t height)
{
    emu_graph_node n = { .kind = EMU_NODE_MEMSET, .dst = dst, .pitch = pitch, .width = width, .height = height, .value = value, .elem = elem };
    return push_plain(g, &n);
}

CUresult emu_graph_capture_copy(emu_graph *g, CUdeviceptr dst, CUdeviceptr src, size_t bytes)
{
    emu_graph_node n = { .kind = EMU_NODE_COPY, .dst = dst, .src = src, .width = bytes };
    return push_plain(g, &n);
}

/* A captured memset or copy run again, as its Async call (lock not held). */
static CUresult run_plain(const emu_graph_node *n, CUstream s, bool per_thread)
{
    if (n->kind == EMU_NODE_COPY)
        return (per_thread ? cuMemcpyDtoDAsync_v2_ptsz : cuMemcpyDtoDAsync_v2)(n->dst, n->src, n->width, s);
    switch (n->elem) {
    case 1: return (per_thread ? cuMemsetD2D8Async_ptsz : cuMemsetD2D8Async)(n->dst, n->pitch, (unsigned char)n->value, n->width, n->height, s);
    case 2: return (per_thread ? cuMemsetD2D16Async_ptsz : cuMemsetD2D16Async)(n->dst, n->pitch, (unsigned short)n->value, n->width, n->height, s);
    default: return (per_thread ? cuMemsetD2D32Async_ptsz : cuMemsetD2D32Async)(n->dst, n->pitch, n->value, n->width, n->height, s);
    }
}

/* Locks and resolves the stream a capture call names, when its out-parameter is there (locked on success). */
static CUresult capture_stream(CUstream hStream, bool per_thread, const void *out, CUcontext *ctx, struct CUstream_st **s)
{
    return out == NULL ? CUDA_ERROR_INVALID_VALUE : emu_begin_op(hStream, true, per_thread, ctx, s);
}

static CUresult begin_capture(CUstream hStream, CUstreamCaptureMode mode, bool per_thread)
{
    CUcontext ctx;
    struct CUstream_st *s;
    if (mode != CU_STREAM_CAPTURE_MODE_GLOBAL && mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL && mode != CU_STREAM_CAPTURE_MODE_RELAXED)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = capture_stream(hStream, per_thread, &mode, &ctx, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (s->kind != EMU_STREAM_USER)
        return emu_leave(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    if (s->capture != NULL)
        return emu_leave(CUDA_ERROR_ILLEGAL_STATE);
    s->capture = calloc(1, sizeof *s->capture);
    if (s->capture == NULL || !emu_handle_add(s->capture, EMU_H_GRAPH)) {
        free(s->capture);
        s->capture = NULL;
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    }
    s->capture->ctx = ctx;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode) { return begin_capture(hStream, mode, false); }
CUresult CUDAAPI cuStreamBeginCapture_v2_ptsz(CUstream hStream, CUstreamCaptureMode mode) { return begin_capture(hStream, mode, true); }

static void graph_free(emu_graph *g)
{
    emu_handle_remove(g);
    free_nodes(g);
    emu_graph_release_extras(g);
    free(g);
}

static CUresult end_capture(CUstream hStream, CUgraph *phGraph, bool per_thread)
{
    CUcontext ctx;
    struct CUstream_st *s;
    CUresult rc = capture_stream(hStream, per_thread, phGraph, &ctx, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    emu_graph *g = s->capture;
    if (g == NULL)
        return emu_leave(CUDA_ERROR_ILLEGAL_STATE);
    s->capture = NULL;
    if (g->invalid) {
        graph_free(g);
        *phGraph = NULL;
        return emu_leave(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    }
    *phGraph = (CUgraph)g;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuStreamEndCapture(CUstream hStream, CUgraph *phGraph) { return end_capture(hStream, phGraph, false); }
CUresult CUDAAPI cuStreamEndCapture_ptsz(CUstream hStream, CUgraph *phGraph) { return end_capture(hStream, phGraph, true); }

static CUresult capturing(CUstream hStream, CUstreamCaptureStatus *status, bool per_thread)
{
    CUcontext ctx;
    struct CUstream_st *s;
    CUresult rc = capture_stream(hStream, per_thread, status, &ctx, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    *status = s->capture == NULL ? CU_STREAM_CAPTURE_STATUS_NONE
              : s->capture->invalid ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
                                    : CU_STREAM_CAPTURE_STATUS_ACTIVE;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *status) { return capturing(hStream, status, false); }
CUresult CUDAAPI cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus *status) { return capturing(hStream, status, true); }

CUresult CUDAAPI cuGraphDestroy(CUgraph hGraph)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hGraph, EMU_H_GRAPH) || ((emu_graph *)hGraph)->body)
        return emu_leave(CUDA_ERROR_INVALID_VALUE); /* a body goes with its conditional node */
    graph_free((emu_graph *)hGraph);
    return emu_leave(CUDA_SUCCESS);
}

/* The executable graph is a copy: the graph may be destroyed or captured into again meanwhile. */
CUresult CUDAAPI cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags)
{
    (void)flags; /* auto-free-on-launch, upload, device launch, priority: nothing to do here */
    if (phGraphExec == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hGraph, EMU_H_GRAPH))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    const emu_graph *g = (const emu_graph *)hGraph;
    emu_graph_exec *x = calloc(1, sizeof *x);
    if (x == NULL)
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    x->graph.ctx = g->ctx;
    bool ok = true;
    for (size_t i = 0; ok && i < g->count; i++) {
        emu_graph_node n;
        ok = copy_node(&n, &g->nodes[i]);
        if (ok && !(ok = push_node(&x->graph, &n)))
            emu_graph_node_release_cond(&n);
    }
    /* Its handles, whose defaults each launch assigns. */
    if (ok && g->nconds > 0 && (ok = (x->graph.conds = malloc(g->nconds * sizeof *x->graph.conds)) != NULL)) {
        for (size_t i = 0; i < g->nconds; i++) {
            x->graph.conds[i] = g->conds[i];
            g->conds[i]->refs++;
        }
        x->graph.nconds = g->nconds;
    }
    if (!ok || !emu_handle_add(x, EMU_H_GRAPH_EXEC)) {
        free_nodes(&x->graph);
        emu_graph_release_extras(&x->graph);
        free(x);
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    }
    *phGraphExec = (CUgraphExec)x;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuGraphExecDestroy(CUgraphExec hGraphExec)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hGraphExec, EMU_H_GRAPH_EXEC))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    emu_graph_exec *x = (emu_graph_exec *)hGraphExec;
    emu_handle_remove(x);
    free_nodes(&x->graph);
    emu_graph_release_extras(&x->graph);
    free(x);
    return emu_leave(CUDA_SUCCESS);
}

/*
 * Each node runs as its launch would, in order, on hStream. The nodes are copied first, so that a
 * cuGraphExecDestroy racing with the launch frees nothing the launch still reads.
 */
static CUresult graph_launch(CUgraphExec hGraphExec, CUstream hStream, bool per_thread)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hGraphExec, EMU_H_GRAPH_EXEC))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    const emu_graph *g = &((const emu_graph_exec *)hGraphExec)->graph;
    emu_graph run = { .ctx = g->ctx };
    bool ok = true;
    for (size_t i = 0; ok && i < g->count; i++) {
        emu_graph_node n;
        ok = copy_node(&n, &g->nodes[i]);
        if (ok && !(ok = push_node(&run, &n)))
            emu_graph_node_release_cond(&n);
    }
    /* A launch starts by giving the handles that ask for it their default (the kernels run eagerly,
     * so stream order is call order). */
    for (size_t i = 0; ok && i < g->nconds; i++)
        if (g->conds[i]->flags & CU_GRAPH_COND_ASSIGN_DEFAULT)
            g->conds[i]->value = g->conds[i]->dflt;
    emu_leave(CUDA_SUCCESS);
    if (ok)
        rc = emu_graph_run(&run, hStream, per_thread);
    emu_lock();
    free_nodes(&run);
    emu_unlock();
    return ok ? rc : CUDA_ERROR_OUT_OF_MEMORY;
}

/* Runs a memset, copy or launch node (lock not held). */
CUresult emu_graph_run_node(const emu_graph_node *n, CUstream s, bool per_thread)
{
    switch (n->kind) {
    case EMU_NODE_LAUNCH: return emu_launch_node(n, s, per_thread);
    case EMU_NODE_MEMSET:
    case EMU_NODE_COPY: return run_plain(n, s, per_thread);
    default: return CUDA_SUCCESS;
    }
}

CUresult CUDAAPI cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream) { return graph_launch(hGraphExec, hStream, false); }
CUresult CUDAAPI cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream) { return graph_launch(hGraphExec, hStream, true); }

/* Nothing to move to a card whose memory is this process's: the graph is ready as it is. */
static CUresult graph_upload(CUgraphExec hGraphExec)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    return emu_leave(emu_handle_is(hGraphExec, EMU_H_GRAPH_EXEC) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE);
}

CUresult CUDAAPI cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream)
{
    (void)hStream;
    return graph_upload(hGraphExec);
}

CUresult CUDAAPI cuGraphUpload_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
    (void)hStream;
    return graph_upload(hGraphExec);
}

/*
 * The executable graph takes the graph's nodes: same count and, node by node, the same context's
 * kernels (the driver lets a kernel node change its function within one context), with new grids and
 * parameters. Otherwise it is left as it was and resultInfo says why.
 */
CUresult CUDAAPI cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphExecUpdateResultInfo *resultInfo)
{
    if (resultInfo == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hGraphExec, EMU_H_GRAPH_EXEC) || !emu_handle_is(hGraph, EMU_H_GRAPH))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    memset(resultInfo, 0, sizeof *resultInfo);
    emu_graph_exec *x = (emu_graph_exec *)hGraphExec;
    const emu_graph *g = (const emu_graph *)hGraph;
    if (g->ctx != x->graph.ctx) {
        resultInfo->result = CU_GRAPH_EXEC_UPDATE_ERROR_NOT_SUPPORTED;
        return emu_leave(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
    }
    if (g->count != x->graph.count) {
        resultInfo->result = CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
        return emu_leave(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
    }
    for (size_t i = 0; i < g->count; i++)
        if (g->nodes[i].kind != x->graph.nodes[i].kind) {
            resultInfo->result = CU_GRAPH_EXEC_UPDATE_ERROR_NODE_TYPE_CHANGED;
            return emu_leave(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
        }
    emu_graph fresh = { .ctx = g->ctx };
    bool ok = true;
    for (size_t i = 0; ok && i < g->count; i++) {
        emu_graph_node n;
        ok = copy_node(&n, &g->nodes[i]);
        if (ok && !(ok = push_node(&fresh, &n))) {
            free(n.params);
            free(n.offsets);
        }
    }
    if (!ok) {
        free_nodes(&fresh);
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    }
    free_nodes(&x->graph);
    x->graph.nodes = fresh.nodes;
    x->graph.count = fresh.count;
    x->graph.cap = fresh.cap;
    resultInfo->result = CU_GRAPH_EXEC_UPDATE_SUCCESS;
    return emu_leave(CUDA_SUCCESS);
}

/* Counting only: the nodes of a captured graph are no handles of their own here. */
CUresult CUDAAPI cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes)
{
    if (numNodes == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(hGraph, EMU_H_GRAPH))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if (nodes != NULL)
        return emu_leave(CUDA_ERROR_NOT_SUPPORTED);
    *numNodes = ((const emu_graph *)hGraph)->count;
    return emu_leave(CUDA_SUCCESS);
}
