/*
 * The calls generated stubs and hand-encoded calls make (docs/protocol.md): a call collects its
 * arguments on the calling thread, is routed to one daemon by its first device, handle or device
 * pointer (else by the thread's current context), and is sent in that daemon's next batch.
 */
#ifndef GPUPOOL_SHIM_CALL_H
#define GPUPOOL_SHIM_CALL_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h>

typedef struct gp_call gp_call;

/* mode: GP_MODE_SYNC / GP_MODE_ASYNC / GP_MODE_DEFERRED (gp_ops.h). Never fails. */
gp_call *gp_call_begin(uint32_t op, int mode);

/* Routing: the first routed argument decides the daemon. */
CUresult gp_route_device(gp_call *c, CUdevice dev, int *remote_ordinal);
CUresult gp_route_handle(gp_call *c, const void *handle);
void gp_route_dptr(gp_call *c, uint64_t ptr);
void gp_route_server(gp_call *c, int server);
int gp_call_server(const gp_call *c);

void gp_put_int(gp_call *c, int64_t v);
void gp_put_uint(gp_call *c, uint64_t v);
void gp_put_float(gp_call *c, double v);
void gp_put_bool(gp_call *c, int v);
void gp_put_handle(gp_call *c, const void *handle);
void gp_put_bin(gp_call *c, const void *data, size_t n);
/*
 * The same value, its bytes taken by reference: they go into the connection's batch (masked there)
 * when the call finishes, never first into the call's arguments. `data` must stay valid until
 * gp_call_finish; one such value per call (a second one is copied).
 */
void gp_put_bin_ref(gp_call *c, const void *data, size_t n);
void gp_put_str(gp_call *c, const char *s);
void gp_put_array(gp_call *c, uint32_t n);

/*
 * A whole frame of src/protocol/frames.ts as the call's arguments, by its generated encoder
 * (build/gen/gp_frames.h): GP_PUT_FRAME(c, launch, &frame).
 */
char *gp_put_reserve(gp_call *c, size_t n);
void gp_put_commit(gp_call *c, const char *end, uint32_t values);
#define GP_PUT_FRAME(c, name, f) \
    gp_put_commit((c), gp_frame_##name##_encode(gp_put_reserve((c), gp_frame_##name##_bound(f)), (f)), gp_frame_##name##_values(f))

/* Deferred calls: where the daemon's data goes when its reply arrives. */
void gp_expect_out(gp_call *c, void *dst, size_t n);

/*
 * Sends the call. Sync: flushes the daemon's batch, waits for the reply, and returns its result;
 * the gp_get_* then read the reply's values in order. Async and deferred: queues it and returns
 * CUDA_SUCCESS (a failure surfaces at a later sync call). A lost daemon: CUDA_ERROR_DEVICE_UNAVAILABLE.
 */
CUresult gp_call_finish(gp_call *c);

int64_t gp_get_int(gp_call *c);
uint64_t gp_get_uint(gp_call *c);
double gp_get_float(gp_call *c);
CUdevice gp_get_device(gp_call *c);
void *gp_get_handle(gp_call *c);
void gp_get_bin(gp_call *c, void *dst, size_t n);
void gp_get_str(gp_call *c, char *dst, size_t n);

/* Ends the call (frees its buffers); safe for a call that was never finished. */
void gp_call_end(gp_call *c);

/* ---- the client's own records, kept by stubs after successful calls (cuda-api.ts `after`) ---- */
void gp_note_context(gp_call *c, CUcontext ctx, CUdevice dev);
void gp_forget_context(CUcontext ctx);
void gp_set_current(CUcontext ctx);
void gp_note_alloc(gp_call *c, CUdeviceptr ptr, size_t bytes);
void gp_forget_alloc(CUdeviceptr ptr);
/* A primary context retained, released, reset, its flags set (native/shim/primary.c). */
void gp_primary_retained(CUdevice dev);
void gp_primary_released(CUdevice dev);
void gp_primary_reset(CUdevice dev);
void gp_primary_flags(CUdevice dev, unsigned flags);
/* A capture began (1) or ended (0) on stream (native/shim/capture.c). */
void gp_note_capture(CUstream stream, int capturing);
/* CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, named, when the stream's capture is made in the job (capture.c). */
CUresult gp_refuse_in_client_capture(const char *call, CUstream stream);
void gp_note_capture_join(CUstream stream, CUstream origin);
void gp_note_capture_end(CUstream origin);
int gp_capturing(void);
/* The stream's capture id (the origin's, for a stream that joined it), or 0. */
cuuint64_t gp_capture_id(CUstream stream);
/*
 * A stream operation offered to the stream's capture (capture_graph.c): *taken when the capture is the
 * job's and holds it as a node (the caller then does nothing more); a failure is the call's.
 */
typedef struct {
    const char *call;
    CUgraphNodeType type; /* KERNEL, MEMCPY, MEMSET or HOST */
    CUDA_KERNEL_NODE_PARAMS_v2 kernel;
    unsigned attrs; /* a launch's attributes: not carried in the job's captures */
    CUDA_MEMCPY3D copy;
    CUDA_MEMSET_NODE_PARAMS memset;
    CUDA_HOST_NODE_PARAMS host;
} gp_capture_op;
CUresult gp_capture_take(CUstream s, const gp_capture_op *op, int *taken);
CUresult gp_capture_event_record(CUevent e, CUstream s, unsigned flags, int *taken);
CUresult gp_capture_wait(CUstream s, CUevent e, unsigned flags, int *taken);
int gp_capture_in_client(CUstream s);
/* Graphs built node by node live in the client (native/shim/graph.c): the calls that also take a
 * captured graph (the daemon's) answer these first. */
int gp_graph_is_local(CUgraph g);
int gp_graph_exec_is_local(CUgraphExec x);
CUresult gp_graph_get_nodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes);
CUresult gp_graph_instantiate(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags);
CUresult gp_graph_exec_update(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphExecUpdateResultInfo *resultInfo);
CUresult gp_graph_destroy(CUgraph hGraph);
CUresult gp_graph_exec_destroy(CUgraphExec hGraphExec);
/* Graphs of the job that live on the daemon too (native/shim/graph_daemon.c). */
CUresult gp_graph_create_local(CUgraph *phGraph, unsigned int flags);
int gp_graph_twin_wanted(void);
int gp_graph_on_daemon(CUgraph hGraph);
CUresult gp_graph_twin_of(CUgraph *hGraph);
CUresult gp_graph_build(CUgraph *hGraph);
int gp_graph_node_in(CUgraphNode n, CUgraph g);
void gp_graph_note_conditional(CUgraphConditionalHandle value, CUgraph twin);
void gp_graph_forget_conditionals(CUgraph twin);
/* A capture's graph and dependencies (capture_graph.c): take 1 makes the capture the job's. */
CUresult gp_capture_graph_info(CUstream s, int take, CUgraph *graph, const CUgraphNode **deps, const CUgraphEdgeData **edges, size_t *count);
/* The program edits g: a capture whose record g is becomes the job's first. */
CUresult gp_capture_graph_edited(CUgraph g);
/* The program freed ptr: no graph allocation's any more (graph_mem.c). */
void gp_graph_note_free(CUdeviceptr ptr);
/* The daemon holding [ptr, ptr+bytes), or -1 when it is no allocation of this client's. */
int gp_alloc_server(CUdeviceptr ptr, size_t bytes);
/* The same, and the context it was allocated in. */
int gp_alloc_lookup(CUdeviceptr ptr, size_t bytes, CUcontext *ctx);
/*
 * The context whose allocations win while several daemons' allocations hold one address (they may:
 * each daemon's address space is its own); NULL: the calling thread's current context. Returns the
 * previous one, to restore.
 */
CUcontext gp_prefer_context(CUcontext ctx);
/*
 * The daemon whose allocations win likewise, for a call that names a stream (its work goes to the
 * stream's daemon, whichever device is current); -1: none. Returns the previous one, to restore.
 */
int gp_prefer_server(int server);
/* The context gp_prefer_context named, or NULL. */
CUcontext gp_preferred_context(void);
/*
 * Where [ptr, ptr+bytes) overlaps allocations of other daemons than server: the end of that memory
 * (followed through allocations that overlap or abut it), or 0 when none overlaps.
 */
CUdeviceptr gp_alloc_overlap_end(CUdeviceptr ptr, size_t bytes, int server);
/*
 * How many daemons' allocations hold all of [ptr, ptr+bytes): 0 (not this client's device memory),
 * 1 (*server and *ctx say whose), or more (each daemon's address space is its own; which one a call
 * naming the address alone means cannot be known).
 */
int gp_alloc_holders(CUdeviceptr ptr, size_t bytes, int *server, CUcontext *ctx);
/* The allocation holding ptr: its daemon (or -1 for none), start, size and context. */
int gp_alloc_range(CUdeviceptr ptr, CUdeviceptr *base, size_t *size, CUcontext *ctx);

/*
 * Structs that name a device by the client's ordinal (native/shim/memprops.c), for the stubs'
 * `before`/`after` statements (cuda-api.ts): *prop is pointed at `copy`, the daemon's ordinal in it
 * and its pointers NULL, and the call is routed to that device's daemon.
 */
#define GP_MAX_ACCESS_DESCS 64
CUresult gp_prop_to_remote(gp_call *c, const CUmemAllocationProp **prop, CUmemAllocationProp *copy);
CUresult gp_pool_props_to_remote(gp_call *c, const CUmemPoolProps **props, CUmemPoolProps *copy);
/* Routed by ptr's allocation (else the first descriptor's device); every device on that daemon. */
CUresult gp_access_to_remote(gp_call *c, CUdeviceptr ptr, const CUmemAccessDesc **desc, size_t count,
                             CUmemAccessDesc copy[GP_MAX_ACCESS_DESCS]);
/* A resource description (texture and surface objects, native/shim/texobj.c): *desc pointed at `copy`
 * with its array handle the daemon's id, the call routed to the resource's daemon; and back. */
CUresult gp_res_desc_to_remote(gp_call *c, const CUDA_RESOURCE_DESC **desc, CUDA_RESOURCE_DESC *copy);
void gp_res_desc_from_remote(gp_call *c, CUDA_RESOURCE_DESC *desc);
/* The daemon's answer, its device ordinal back to the client's. */
void gp_prop_from_remote(gp_call *c, CUmemAllocationProp *prop);
/*
 * The driver takes a CUkernel wherever it takes a CUfunction, and cudart passes its kernels so: a
 * kernel handle of the client's (native/shim/library.c) becomes its function in the current context.
 */
CUresult gp_function_of(CUfunction *func);
/* Returns once the host functions enqueued so far have run (native/shim/hostfunc.c). */
void gp_host_funcs_drain(void);

int gp_initialized(void);

#endif
