/*
 * Where a stream capture is made: on the daemon (one cuGraphLaunch is then one message: PyTorch's
 * CUDA graphs) or in the job's process, as a graph built node by node (graph.c), when the capture
 * holds work only the job can do: a copy naming its host memory, a host function.
 *
 * cuStreamBeginCapture starts undecided: event records and waits that fork streams into the capture
 * are kept. Device work first (a launch, a memset, a device copy) starts the daemon's capture, replays
 * the kept records and waits into it, and goes on to the daemon, while the client keeps its own record
 * of the same operations as nodes. Host work, first or later, makes the capture the job's: a capture
 * the daemon had begun is ended there and its graph dropped, and the client's record goes on. So does
 * the program editing the record, which cuStreamGetCaptureInfo hands out as the capture's graph
 * (gp_capture_graph_edited: graphConditionalNodes adds a conditional node to it). From
 * then every operation on the capture's streams (the origin and those that joined it by waiting on an
 * event recorded in it) becomes a node after the stream's last ones, an event recorded in it stands
 * for the nodes before it, nothing runs until the graph is launched, and cuStreamEndCapture hands out
 * the job's graph. A capture with no host work ends on the daemon, and the client's record is dropped.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "client.h"
#include "gp_shim_decls.h"
#include "shim.h"

enum { UNDECIDED, ON_DAEMON, IN_CLIENT };

typedef struct {
    CUstream stream;
    CUgraphNode *tail; /* the nodes the stream's next operation depends on */
    size_t ntail;
} member;

typedef struct {
    CUevent event;
    CUgraphNode *nodes; /* what the record stood for */
    size_t count;
} marker;

typedef struct {
    int wait; /* 0: an event record, 1: a stream wait */
    CUevent event;
    CUstream stream;
    unsigned flags;
} kept;

typedef struct capture {
    struct capture *next;
    CUstream origin;
    int per_thread, state;
    CUstreamCaptureMode mode;
    CUgraph graph; /* the graph being built; ON_DAEMON, the client's record of what the daemon captured */
    int unrecorded; /* ON_DAEMON: an operation the record could not hold (a launch's attributes) */
    member *members;
    size_t nmembers;
    marker *markers;
    size_t nmarkers;
    kept *log; /* UNDECIDED: replayed into the daemon's capture */
    size_t nlog;
    int into; /* cuStreamBeginCaptureToGraph: the graph is the program's, kept at the end */
} capture;

/* Recursive: deciding for the daemon replays calls that come back through the hooks. */
static pthread_mutex_t g_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static capture *g_head;

static capture *capture_of_stream(CUstream s, member **m)
{
    for (capture *c = g_head; c != NULL; c = c->next)
        for (size_t i = 0; i < c->nmembers; i++)
            if (c->members[i].stream == s) {
                if (m != NULL)
                    *m = &c->members[i];
                return c;
            }
    return NULL;
}

static int grow(void **items, size_t count, size_t size)
{
    if (count != 0 && (count < 4 || (count & (count - 1)) != 0))
        return 1; /* room left: capacities are 4, 8, 16, ... */
    void *p = realloc(*items, (count ? count * 2 : 4) * size);
    if (p == NULL)
        return 0;
    *items = p;
    return 1;
}

static CUresult set_tail(member *m, const CUgraphNode *nodes, size_t count)
{
    CUgraphNode *copy = malloc((count ? count : 1) * sizeof *copy);
    if (copy == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    if (count > 0)
        memcpy(copy, nodes, count * sizeof *copy);
    free(m->tail);
    m->tail = copy;
    m->ntail = count;
    return CUDA_SUCCESS;
}

static CUresult add_member(capture *c, CUstream s, const CUgraphNode *tail, size_t ntail)
{
    if (!grow((void **)&c->members, c->nmembers, sizeof *c->members))
        return CUDA_ERROR_OUT_OF_MEMORY;
    member *m = &c->members[c->nmembers];
    *m = (member){ s, NULL, 0 };
    CUresult rc = set_tail(m, tail, ntail);
    if (rc == CUDA_SUCCESS) {
        c->nmembers++;
        if (s != c->origin)
            gp_note_capture_join(s, c->origin);
    }
    return rc;
}

static void capture_free(capture *c)
{
    for (capture **p = &g_head; *p != NULL; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    for (size_t i = 0; i < c->nmembers; i++)
        free(c->members[i].tail);
    for (size_t i = 0; i < c->nmarkers; i++)
        free(c->markers[i].nodes);
    gp_note_capture_end(c->origin);
    free(c->members);
    free(c->markers);
    free(c->log);
    free(c);
}

/*
 * Registers a capture of proto's origin once the daemon says the stream is the session's: its graph
 * made here unless proto names the program's, the origin's first dependencies deps.
 */
static CUresult start(const capture *proto, const CUgraphNode *deps, size_t ndeps)
{
    unsigned flags;
    CUresult rc = gp_fwd_cuStreamGetFlags_v5050(proto->origin, &flags);
    if (rc != CUDA_SUCCESS)
        return rc;
    capture *c = malloc(sizeof *c);
    if (c == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *c = *proto;
    int made = c->graph == NULL;
    pthread_mutex_lock(&g_lock);
    if (capture_of_stream(c->origin, NULL) != NULL)
        rc = CUDA_ERROR_ILLEGAL_STATE;
    else if ((!made || (rc = gp_graph_create_local(&c->graph, 0)) == CUDA_SUCCESS) && (rc = add_member(c, c->origin, deps, ndeps)) == CUDA_SUCCESS) {
        c->next = g_head;
        g_head = c;
        gp_note_capture(c->origin, 1);
    }
    if (rc != CUDA_SUCCESS) {
        if (made && c->graph != NULL)
            gp_graph_destroy(c->graph);
        free(c->members);
        free(c);
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static CUresult begin(CUstream s, CUstreamCaptureMode mode, int per_thread)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (s == NULL || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD) {
        /* A default stream: the daemon's driver says whether it captures (a per-thread one may). */
        CUresult rc = per_thread ? gp_std_cuStreamBeginCapture_v10010_ptsz(s, mode) : gp_std_cuStreamBeginCapture_v10010(s, mode);
        if (rc == CUDA_SUCCESS)
            gp_note_capture(s, 1);
        return rc;
    }
    if (mode != CU_STREAM_CAPTURE_MODE_GLOBAL && mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL && mode != CU_STREAM_CAPTURE_MODE_RELAXED)
        return CUDA_ERROR_INVALID_VALUE;
    return start(&(capture){ .origin = s, .per_thread = per_thread, .state = UNDECIDED, .mode = mode }, NULL, 0);
}

CUresult gp_fwd_cuStreamBeginCapture_v10010(CUstream s, CUstreamCaptureMode mode) { return begin(s, mode, 0); }
CUresult gp_fwd_cuStreamBeginCapture_v10010_ptsz(CUstream s, CUstreamCaptureMode mode) { return begin(s, mode, 1); }

/* Device work first: the daemon captures, from the kept records and waits on (lock held). */
static CUresult to_daemon(capture *c)
{
    c->state = ON_DAEMON;
    CUresult rc = c->per_thread ? gp_std_cuStreamBeginCapture_v10010_ptsz(c->origin, c->mode) : gp_std_cuStreamBeginCapture_v10010(c->origin, c->mode);
    for (size_t i = 0; i < c->nlog && rc == CUDA_SUCCESS; i++) {
        const kept *k = &c->log[i];
        rc = k->wait ? gp_fwd_cuStreamWaitEvent_v3020(k->stream, k->event, k->flags) : gp_fwd_cuEventRecordWithFlags_v11010(k->event, k->stream, k->flags);
    }
    return rc;
}

static int host_side(CUmemorytype type, CUdeviceptr device)
{
    return type == CU_MEMORYTYPE_HOST || (type == CU_MEMORYTYPE_UNIFIED && gp_alloc_server(device, 1) < 0);
}

static int host_facing(const gp_capture_op *op)
{
    return op->type == CU_GRAPH_NODE_TYPE_HOST ||
           (op->type == CU_GRAPH_NODE_TYPE_MEMCPY &&
            (host_side(op->copy.srcMemoryType, op->copy.srcDevice) || host_side(op->copy.dstMemoryType, op->copy.dstDevice)));
}

/* Set while this file records a capture's operation: the program's own edits move the capture, these do not. */
static __thread int tls_recording;

static CUresult add_node(capture *c, member *m, const gp_capture_op *op)
{
    CUgraphNode n = NULL;
    CUresult rc;
    tls_recording = 1;
    switch (op->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL:
        rc = gp_local_cuGraphAddKernelNode_v12000(&n, c->graph, m->tail, m->ntail, &op->kernel);
        break;
    case CU_GRAPH_NODE_TYPE_MEMCPY:
        rc = gp_local_cuGraphAddMemcpyNode_v10000(&n, c->graph, m->tail, m->ntail, &op->copy, NULL);
        break;
    case CU_GRAPH_NODE_TYPE_MEMSET:
        rc = gp_local_cuGraphAddMemsetNode_v10000(&n, c->graph, m->tail, m->ntail, &op->memset, NULL);
        break;
    default:
        rc = gp_local_cuGraphAddHostNode_v10000(&n, c->graph, m->tail, m->ntail, &op->host);
    }
    tls_recording = 0;
    return rc == CUDA_SUCCESS ? set_tail(m, &n, 1) : rc;
}

/* The capture becomes the job's: one the daemon had begun is ended there and its graph dropped (lock held). */
static void to_client(capture *c)
{
    if (c->state == ON_DAEMON) {
        CUgraph dropped = NULL;
        if ((c->per_thread ? gp_std_cuStreamEndCapture_v10000_ptsz : gp_std_cuStreamEndCapture_v10000)(c->origin, &dropped) == CUDA_SUCCESS &&
            dropped != NULL)
            (void)gp_fwd_cuGraphDestroy_v10000(dropped);
    }
    c->state = IN_CLIENT;
}

CUresult gp_capture_take(CUstream s, const gp_capture_op *op, int *taken)
{
    *taken = 0;
    if (!gp_capturing())
        return CUDA_SUCCESS;
    CUresult rc = CUDA_SUCCESS;
    member *m;
    pthread_mutex_lock(&g_lock);
    capture *c = capture_of_stream(s, &m);
    if (c != NULL && c->state == UNDECIDED)
        rc = host_facing(op) ? (c->state = IN_CLIENT, CUDA_SUCCESS) : to_daemon(c);
    if (c == NULL || rc != CUDA_SUCCESS) {
        /* not capturing, or the daemon refused to begin: the caller's call goes on or fails */
    } else if (c->state == ON_DAEMON && !host_facing(op)) {
        /* The daemon captures it; the client's record keeps it too, in case host work follows. */
        if (op->attrs > 0 || add_node(c, m, op) != CUDA_SUCCESS)
            c->unrecorded = 1;
    } else if (c->state == ON_DAEMON && c->unrecorded) {
        gp_error("%s: host work in a stream capture the daemon made with launch attributes is not carried by gpupool; "
                 "it returned CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED",
                 op->call);
        rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    } else if (c->state == ON_DAEMON) {
        /* Host work after device work: the daemon's capture so far is dropped, the client's record goes on. */
        to_client(c);
        rc = add_node(c, m, op);
        *taken = 1;
    } else if (op->attrs > 0) {
        gp_error("%s: launch attributes in a capture made in the job are not carried by gpupool; it returned CUDA_ERROR_NOT_SUPPORTED", op->call);
        rc = CUDA_ERROR_NOT_SUPPORTED;
    } else {
        rc = add_node(c, m, op);
        *taken = 1;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static marker *marker_of(capture *c, CUevent e)
{
    for (size_t i = 0; i < c->nmarkers; i++)
        if (c->markers[i].event == e)
            return &c->markers[i];
    return NULL;
}

/* An event recorded in a capture stands for the nodes before it (a record elsewhere forgets that). */
CUresult gp_capture_event_record(CUevent e, CUstream s, unsigned flags, int *taken)
{
    *taken = 0;
    if (!gp_capturing())
        return CUDA_SUCCESS;
    CUresult rc = CUDA_SUCCESS;
    member *m;
    pthread_mutex_lock(&g_lock);
    for (capture *o = g_head; o != NULL; o = o->next) {
        marker *old = marker_of(o, e);
        if (old != NULL) {
            free(old->nodes);
            *old = o->markers[--o->nmarkers];
        }
    }
    capture *c = capture_of_stream(s, &m);
    if (c != NULL) {
        /* On the daemon the record goes there too; the marker only tells which streams join (host work on them is refused). */
        if (c->state == UNDECIDED && !grow((void **)&c->log, c->nlog, sizeof *c->log))
            rc = CUDA_ERROR_OUT_OF_MEMORY;
        else if (c->state == UNDECIDED)
            c->log[c->nlog++] = (kept){ 0, e, s, flags };
        if (rc == CUDA_SUCCESS && !grow((void **)&c->markers, c->nmarkers, sizeof *c->markers))
            rc = CUDA_ERROR_OUT_OF_MEMORY;
        if (rc == CUDA_SUCCESS) {
            marker *k = &c->markers[c->nmarkers];
            k->event = e;
            k->count = m->ntail;
            k->nodes = malloc((m->ntail ? m->ntail : 1) * sizeof *k->nodes);
            if (k->nodes == NULL) {
                rc = CUDA_ERROR_OUT_OF_MEMORY;
            } else {
                if (m->ntail > 0)
                    memcpy(k->nodes, m->tail, m->ntail * sizeof *k->nodes);
                c->nmarkers++;
                *taken = c->state != ON_DAEMON;
            }
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* A stream waiting on an event recorded in a capture joins it (or, a member, gains those dependencies). */
CUresult gp_capture_wait(CUstream s, CUevent e, unsigned flags, int *taken)
{
    *taken = 0;
    if (!gp_capturing())
        return CUDA_SUCCESS;
    CUresult rc = CUDA_SUCCESS;
    pthread_mutex_lock(&g_lock);
    for (capture *c = g_head; c != NULL && !*taken && rc == CUDA_SUCCESS; c = c->next) {
        marker *k = marker_of(c, e);
        if (k == NULL)
            continue;
        member *m;
        capture *in = capture_of_stream(s, &m);
        if (c->state == ON_DAEMON && in != NULL && in != c)
            break; /* the daemon's driver answers that */
        if (c->state == UNDECIDED && !grow((void **)&c->log, c->nlog, sizeof *c->log)) {
            rc = CUDA_ERROR_OUT_OF_MEMORY;
            break;
        }
        if (c->state == UNDECIDED)
            c->log[c->nlog++] = (kept){ 1, e, s, flags };
        if (in == NULL) {
            rc = add_member(c, s, k->nodes, k->count);
        } else if (in != c) {
            rc = CUDA_ERROR_STREAM_CAPTURE_ISOLATION;
        } else {
            size_t n = m->ntail + k->count;
            CUgraphNode *both = malloc((n ? n : 1) * sizeof *both);
            if (both == NULL) {
                rc = CUDA_ERROR_OUT_OF_MEMORY;
            } else {
                memcpy(both, m->tail, m->ntail * sizeof *both);
                size_t kept_n = m->ntail;
                for (size_t i = 0; i < k->count; i++) {
                    int dup = 0;
                    for (size_t j = 0; j < kept_n; j++)
                        dup |= both[j] == k->nodes[i];
                    if (!dup)
                        both[kept_n++] = k->nodes[i];
                }
                rc = set_tail(m, both, kept_n);
                free(both);
            }
        }
        /* On the daemon the wait goes there too: the record follows the join. */
        *taken = rc == CUDA_SUCCESS && c->state != ON_DAEMON;
        if (c->state == ON_DAEMON)
            break;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* A client capture must not leave the daemon allocating or freeing at capture time. */
int gp_capture_in_client(CUstream s)
{
    if (!gp_capturing())
        return 0;
    pthread_mutex_lock(&g_lock);
    capture *c = capture_of_stream(s, NULL);
    int in_client = c != NULL && c->state == IN_CLIENT;
    pthread_mutex_unlock(&g_lock);
    return in_client;
}

static CUresult end(CUstream s, CUgraph *phGraph, int per_thread)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    pthread_mutex_lock(&g_lock);
    capture *c = capture_of_stream(s, NULL);
    if (c != NULL && c->origin == s && c->into) {
        /* Into the program's graph: it keeps it (phGraph, when given, names it). */
        CUgraph g = c->graph;
        capture_free(c);
        pthread_mutex_unlock(&g_lock);
        if (phGraph != NULL)
            *phGraph = g;
        return CUDA_SUCCESS;
    }
    if (phGraph == NULL) {
        pthread_mutex_unlock(&g_lock);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (c == NULL || c->origin != s) {
        pthread_mutex_unlock(&g_lock);
        /* A default stream's capture, or none (or a stream that joined one): the daemon answers as its driver does. */
        if (c == NULL)
            gp_note_capture(s, 0);
        return per_thread ? gp_std_cuStreamEndCapture_v10000_ptsz(s, phGraph) : gp_std_cuStreamEndCapture_v10000(s, phGraph);
    }
    int on_daemon = c->state == ON_DAEMON;
    CUgraph g = c->graph;
    capture_free(c);
    pthread_mutex_unlock(&g_lock);
    if (on_daemon) {
        (void)gp_graph_destroy(g); /* the client's record: the daemon's graph is the one */
        return per_thread ? gp_std_cuStreamEndCapture_v10000_ptsz(s, phGraph) : gp_std_cuStreamEndCapture_v10000(s, phGraph);
    }
    *phGraph = g; /* undecided (nothing captured) or the client's: a graph of this process */
    return CUDA_SUCCESS;
}

CUresult gp_fwd_cuStreamEndCapture_v10000(CUstream s, CUgraph *phGraph) { return end(s, phGraph, 0); }
CUresult gp_fwd_cuStreamEndCapture_v10000_ptsz(CUstream s, CUgraph *phGraph) { return end(s, phGraph, 1); }

/* ---- capture into a graph of the job, and the dependencies a program sets --------------------- */

/*
 * Capture into a graph the program holds (a conditional's body): the capture is the job's from the
 * start, its first operations after the given nodes. A captured graph (the daemon's) cannot be
 * captured into from here.
 */
static CUresult begin_to_graph(CUstream s, CUgraph hGraph, const CUgraphNode *deps, const CUgraphEdgeData *edges, size_t ndeps,
                               CUstreamCaptureMode mode, int per_thread)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (mode != CU_STREAM_CAPTURE_MODE_GLOBAL && mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL && mode != CU_STREAM_CAPTURE_MODE_RELAXED)
        return CUDA_ERROR_INVALID_VALUE;
    if (s == NULL || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD || (ndeps > 0 && deps == NULL))
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (!gp_graph_is_local(hGraph)) {
        if (hGraph != NULL)
            gp_error("cuStreamBeginCaptureToGraph into a captured graph is not carried by gpupool (captured graphs stay on the "
                     "daemon); it returned CUDA_ERROR_NOT_SUPPORTED");
        return hGraph != NULL ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
    }
    for (size_t i = 0; edges != NULL && i < ndeps; i++)
        if (edges[i].from_port != 0 || edges[i].to_port != 0 || edges[i].type != CU_GRAPH_DEPENDENCY_TYPE_DEFAULT)
            return CUDA_ERROR_NOT_SUPPORTED;
    return start(&(capture){ .origin = s, .per_thread = per_thread, .state = IN_CLIENT, .mode = mode, .graph = hGraph, .into = 1 }, deps, ndeps);
}

CUresult gp_local_cuStreamBeginCaptureToGraph_v12030(CUstream s, CUgraph g, const CUgraphNode *d, const CUgraphEdgeData *e, size_t n,
                                                     CUstreamCaptureMode mode)
{
    return begin_to_graph(s, g, d, e, n, mode, 0);
}

CUresult gp_local_cuStreamBeginCaptureToGraph_v12030_ptsz(CUstream s, CUgraph g, const CUgraphNode *d, const CUgraphEdgeData *e, size_t n,
                                                          CUstreamCaptureMode mode)
{
    return begin_to_graph(s, g, d, e, n, mode, 1);
}

/*
 * The capture's graph and the stream's dependencies, from the job's record of the capture. Asking
 * moves nothing (take 0): cudart asks for the graph on every query (PyTorch's allocator and
 * torch.cuda.graph do), and a capture moved into the job makes a captured graph one message per node
 * per replay. The program editing that graph moves it (gp_capture_graph_edited), as setting the
 * dependencies does (take 1), so that what it adds and what the stream captures are one graph. A
 * capture the daemon made with launch attributes has no whole record: its graph is answered as none.
 * CUDA_ERROR_NOT_FOUND: no capture of this file's on the stream.
 */
CUresult gp_capture_graph_info(CUstream s, int take, CUgraph *graph, const CUgraphNode **deps, const CUgraphEdgeData **edges, size_t *count)
{
    CUresult rc = CUDA_SUCCESS;
    member *m;
    pthread_mutex_lock(&g_lock);
    capture *c = capture_of_stream(s, &m);
    if (c == NULL) {
        rc = CUDA_ERROR_NOT_FOUND;
    } else if (c->state == ON_DAEMON && c->unrecorded) {
        if (take)
            gp_error("cuStreamUpdateCaptureDependencies: a stream capture the daemon made with launch attributes is not carried "
                     "by gpupool; it returned CUDA_ERROR_NOT_SUPPORTED");
        rc = take ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_NOT_FOUND;
    } else {
        if (take)
            to_client(c);
        if (graph)
            *graph = c->graph;
        if (deps)
            *deps = m->tail;
        if (edges)
            *edges = NULL; /* every edge a full dependency */
        if (count)
            *count = m->ntail;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/*
 * The program edits g (adds a node or an edge, a conditional handle, changes a node): when g is the
 * record of a capture still the daemon's (or undecided), the capture becomes the job's first, so the
 * edit lands in the graph the capture ends with. A record without the daemon capture's launch
 * attributes cannot: refused by name.
 */
CUresult gp_capture_graph_edited(CUgraph g)
{
    if (!gp_capturing() || tls_recording)
        return CUDA_SUCCESS;
    CUresult rc = CUDA_SUCCESS;
    pthread_mutex_lock(&g_lock);
    for (capture *c = g_head; c != NULL; c = c->next) {
        if (c->graph != g || c->state == IN_CLIENT)
            continue;
        if (c->state == ON_DAEMON && c->unrecorded) {
            gp_error("editing the graph of a stream capture the daemon made with launch attributes is not carried by gpupool; "
                     "it returned CUDA_ERROR_NOT_SUPPORTED");
            rc = CUDA_ERROR_NOT_SUPPORTED;
        } else {
            to_client(c);
        }
        break;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static CUresult update_dependencies(CUstream s, CUgraphNode *deps, const CUgraphEdgeData *edges, size_t n, unsigned flags)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if ((n > 0 && deps == NULL) || (flags != CU_STREAM_ADD_CAPTURE_DEPENDENCIES && flags != CU_STREAM_SET_CAPTURE_DEPENDENCIES))
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; edges != NULL && i < n; i++)
        if (edges[i].from_port != 0 || edges[i].to_port != 0 || edges[i].type != CU_GRAPH_DEPENDENCY_TYPE_DEFAULT)
            return CUDA_ERROR_NOT_SUPPORTED;
    const CUgraphNode *old;
    size_t nold;
    CUgraph g;
    CUresult rc = gp_capture_graph_info(s, 1, &g, &old, NULL, &nold);
    if (rc == CUDA_ERROR_NOT_FOUND)
        return CUDA_ERROR_ILLEGAL_STATE; /* the stream is not capturing */
    if (rc != CUDA_SUCCESS)
        return rc;
    size_t keep = flags == CU_STREAM_ADD_CAPTURE_DEPENDENCIES ? nold : 0;
    CUgraphNode *both = malloc((keep + n ? keep + n : 1) * sizeof *both);
    if (both == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    memcpy(both, old, keep * sizeof *both);
    for (size_t i = 0; i < n; i++) {
        CUgraphNodeType type;
        /* Each must be a node of the capture's graph: gp_local_cuGraphNodeGetType says it is a node at all. */
        if (gp_local_cuGraphNodeGetType_v10000(deps[i], &type) != CUDA_SUCCESS || !gp_graph_node_in(deps[i], g)) {
            free(both);
            return CUDA_ERROR_INVALID_VALUE;
        }
        both[keep + i] = deps[i];
    }
    member *m;
    pthread_mutex_lock(&g_lock);
    capture *c = capture_of_stream(s, &m);
    rc = c == NULL ? CUDA_ERROR_ILLEGAL_STATE : set_tail(m, both, keep + n);
    pthread_mutex_unlock(&g_lock);
    free(both);
    return rc;
}

CUresult gp_local_cuStreamUpdateCaptureDependencies_v11030(CUstream s, CUgraphNode *d, size_t n, unsigned int flags)
{
    return update_dependencies(s, d, NULL, n, flags);
}

CUresult gp_local_cuStreamUpdateCaptureDependencies_v11030_ptsz(CUstream s, CUgraphNode *d, size_t n, unsigned int flags)
{
    return update_dependencies(s, d, NULL, n, flags);
}

CUresult gp_local_cuStreamUpdateCaptureDependencies_v12030(CUstream s, CUgraphNode *d, const CUgraphEdgeData *e, size_t n, unsigned int flags)
{
    return update_dependencies(s, d, e, n, flags);
}

CUresult gp_local_cuStreamUpdateCaptureDependencies_v12030_ptsz(CUstream s, CUgraphNode *d, const CUgraphEdgeData *e, size_t n,
                                                                unsigned int flags)
{
    return update_dependencies(s, d, e, n, flags);
}
