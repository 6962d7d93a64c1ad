/**
 * The CUDA driver API as gpupool carries it: the one annotated table from which the client
 * library's stubs and the daemon's dispatcher are generated (src/protocol/gen/). Prototypes come
 * from the toolkit's cudaTypedefs.h (every versioned variant); this table says only what a
 * prototype cannot: how each call travels, which pointer is a buffer and how big, and what the
 * daemon must remember about it. A new call is usually one line here.
 *
 * Parameters need no annotation when their type says everything: scalars, enums, devices; handles
 * (CUstream, CUevent, ...) by value; and `T *` out-parameters of those. A device pointer by value
 * (CUdeviceptr) needs none to travel, but says with `device` how much memory the call touches from
 * it: the daemon checks that extent against the session's allocations before calling the driver.
 */

import type { FrameName } from './frames.js';

/** How a call travels. */
export type Mode =
  /** Waits for the daemon's answer (one round trip). */
  | 'sync'
  /** Fire-and-forget, batched with its neighbours; an error surfaces at the next synchronous call. */
  | 'async'
  /** Fire-and-forget, but the daemon sends data back later (device-to-host async copies). */
  | 'deferred';

/**
 * How much device memory a call touches from a CUdeviceptr parameter on (docs/security.md, "Bounds
 * checks"):
 * - a C expression over the other parameters: that many bytes (`'ByteCount'`, `'N * 4'`);
 * - `{ pitch, width, height }`: a pitched area, `(height - 1) * pitch + width` bytes (`width` in bytes);
 * - `'inside'`: an extent the call does not say; the pointer must point into an allocation. This is
 *   what an unannotated device pointer gets.
 * The arithmetic is checked: an extent that overflows lies in no allocation. A zero extent touches
 * nothing and is not checked.
 */
export type DeviceExtent = string | { pitch: string; width: string; height: string } | 'inside';

export type ParamRole =
  /** Host memory the call reads, of this many bytes (a C expression over the other parameters). */
  | { in: string }
  /** Host memory the call writes, of this many bytes. */
  | { out: string }
  /** A NUL-terminated string the call reads. */
  | 'string'
  /** A buffer of `len` chars the call writes a string into. */
  | { outString: string }
  /**
   * A device pointer (CUdeviceptr, by value) and the memory the call touches from it. `refuse`: the
   * CUresult for a pointer outside the session's allocations when the driver would answer another
   * than CUDA_ERROR_INVALID_VALUE.
   */
  | { device: DeviceExtent; refuse?: string };

export interface Forwarded {
  mode: Mode;
  params?: Record<string, ParamRole>;
  /** Variants to forward; default: every non-legacy variant cudaTypedefs.h declares. */
  versions?: number[];
  /**
   * Variants answered inside the client library instead (`gp_local_<name>_v<version>`), usually by
   * checking what only they carry and calling a forwarded variant.
   */
  localVersions?: number[];
  /**
   * The daemon runs a hand-written handler (native/addon/handlers) instead of calling the driver
   * directly, because the call touches per-client state: primary contexts are made private to each
   * client, allocations are recorded for bounds checks and clean-up, handles are forgotten on destroy.
   */
  handler?: string;
  /**
   * The client library runs hand-written code (native/shim/custom.c, `gp_fwd_<op>`) because the call
   * needs work on this side (routing a copy between daemons, measuring an image, packing parameters).
   * With a standard wire it may send the generated frame through `gp_std_<op>`.
   */
  client?: string;
  /**
   * The frame is one of src/protocol/frames.ts (docs/protocol.md, "Hand-encoded calls"): the client
   * encodes it and the daemon decodes it with the generated codec, then runs the handler named like
   * `client` with the decoded frame.
   */
  wire?: ArgumentFrame;
  /**
   * A C statement the client stub runs after the call succeeds, with the parameters and the call `c`
   * in scope: the client's own records (which daemon holds an allocation or a context).
   */
  after?: string;
  /**
   * A C statement the client stub runs before it encodes the arguments, with the parameters and the
   * call `c` in scope: it may route the call (`gp_route_server`) or point a parameter at a rewritten
   * copy (a struct naming a device, whose ordinal the daemon knows under another number); to fail the
   * call it sets `rc` and jumps to `done`.
   */
  before?: string;
  /**
   * The call puts work on the card (a copy, a memset, a kernel): the daemon's scheduler lets it
   * through only while the card is the client's (docs/sharing.md). Custom handlers ask themselves.
   */
  work?: true;
}

/** Answered inside the client library, never sent: device facts arrive with the handshake. */
export interface Local {
  local: true;
}

export type Annotation = Forwarded | Local;

/** The frames of frames.ts that carry a call's arguments (not the heads). */
export type ArgumentFrame = Exclude<FrameName, 'call' | 'reply'>;

// Memory pool attributes: the reuse flags are ints, the sizes cuuint64_t (cuda.h 13 knows no others;
// the daemon refuses any other before the driver sees it).
const POOL_ATTR_SIZE = '(attr >= CU_MEMPOOL_ATTR_RELEASE_THRESHOLD && attr <= CU_MEMPOOL_ATTR_USED_MEM_HIGH ? sizeof(cuuint64_t) : sizeof(int))';
// The device a struct names is the client's ordinal: the stub routes the call to that device's daemon
// and sends the daemon's ordinal in a copy (native/shim/memprops.c). Pointers inside such a struct
// (win32HandleMetaData, win32SecurityAttributes) travel as NULL, and the daemon forces them so.
const PROP_TO_REMOTE = 'CUmemAllocationProp gp_prop; if ((rc = gp_prop_to_remote(c, &prop, &gp_prop)) != CUDA_SUCCESS) goto done;';

/** A resource description names an array by the client's handle: the daemon's id in a copy (texobj.c). */
const RES_TO_REMOTE = 'CUDA_RESOURCE_DESC gp_res; if ((rc = gp_res_desc_to_remote(c, &pResDesc, &gp_res)) != CUDA_SUCCESS) goto done;';

/** A CUfunction parameter that may be one of cudart's kernel handles (gp_function_of). */
const functionOf = (param: string): string => `if ((rc = gp_function_of(&${param})) != CUDA_SUCCESS) goto done;`;

/** Module variables: a NULL output of the caller's is pointed at a local, so both always travel. */
const GLOBAL_OUTS = 'CUdeviceptr gp_dptr; size_t gp_bytes; if (dptr == NULL) dptr = &gp_dptr; if (bytes == NULL) bytes = &gp_bytes;';

const local: Local = { local: true };
const sync: Forwarded = { mode: 'sync' };
const async: Forwarded = { mode: 'async' };
/** Device-to-device copies: both ends are ByteCount bytes of device memory. */
const copyDtoD: Record<string, ParamRole> = { dstDevice: { device: 'ByteCount' }, srcDevice: { device: 'ByteCount' } };
/** The value parameter of cuMemsetD*: named by its size. */
const MEMSET_VALUE: Record<number, string> = { 1: 'uc', 2: 'us', 4: 'ui' };
/** An async memset offered to its stream's capture first: one the job makes holds it as a node (capture_graph.c). */
const memsetCaptured = (size: number, pitch: string, width: string, height: string): string =>
  `{ int gp_taken = 0; gp_capture_op gp_op = { .call = "cuMemsetD${size}Async", .type = CU_GRAPH_NODE_TYPE_MEMSET, .memset = { dstDevice, ${pitch}, ${MEMSET_VALUE[size]}, ${size}, ${width}, ${height} } }; ` +
  'if ((rc = gp_capture_take(hStream, &gp_op, &gp_taken)) != CUDA_SUCCESS || gp_taken) goto done; }';
/** cuMemsetD8/16/32: N elements of `size` bytes. */
const memset = (size: number, mode: Mode): Forwarded => ({
  mode,
  work: true,
  params: { dstDevice: { device: `N * ${size}` } },
  ...(mode === 'async' ? { before: memsetCaptured(size, `N * ${size}`, 'N', '1') } : {}),
});
/** cuMemsetD2D8/16/32: Height rows of Width elements of `size` bytes, dstPitch bytes apart. */
const memset2D = (size: number, mode: Mode): Forwarded => ({
  mode,
  work: true,
  params: { dstDevice: { device: { pitch: 'dstPitch', width: `Width * ${size}`, height: 'Height' } } },
  ...(mode === 'async' ? { before: memsetCaptured(size, 'dstPitch', 'Width', 'Height') } : {}),
});

export const CUDA_API: Record<string, Annotation> = {
  // --- initialisation, versions, errors, the private interfaces: all local --------------------
  cuInit: local,
  cuDriverGetVersion: local,
  cuGetProcAddress: local,
  cuGetExportTable: local,
  cuGetErrorName: local,
  cuGetErrorString: local,
  cuModuleGetLoadingMode: local,
  // The job's process has no card to profile: the markers succeed and do nothing (native/shim/profiler.c).
  cuProfilerStart: local,
  cuProfilerStop: local,
  // The driver's log is the daemon's: a job's log callback is kept and never called (native/shim/driver_logs.c).
  cuLogsRegisterCallback: local,
  cuLogsUnregisterCallback: local,

  // --- devices: facts from the handshake --------------------------------------------------------
  cuDeviceGet: local,
  cuDeviceGetCount: local,
  cuDeviceGetName: local,
  cuDeviceTotalMem: local,
  cuDeviceGetAttribute: local,
  cuDeviceGetUuid: local,
  cuDeviceGetPCIBusId: local,
  cuDeviceGetByPCIBusId: local,
  cuDeviceComputeCapability: local,
  cuDeviceGetProperties: local,
  // Devices of one client never map each other's memory (peer copies go through the client).
  cuDeviceCanAccessPeer: local,
  cuDeviceGetP2PAttribute: local,
  // As a driver answers for cards with no peer path: enabling is refused, disabling finds nothing enabled.
  cuCtxEnablePeerAccess: local,
  cuCtxDisablePeerAccess: local,

  // --- contexts: the current context is per client thread, so it stays local ------------------
  cuCtxGetCurrent: local,
  cuCtxSetCurrent: local,
  cuCtxPushCurrent: local,
  cuCtxPopCurrent: local,
  cuCtxGetDevice: local,
  // A client's primary contexts are its own on each daemon, so their state is what this process made
  // it: the client keeps it and answers cuDevicePrimaryCtxGetState itself (native/shim/primary.c).
  cuDevicePrimaryCtxRetain: { mode: 'sync', handler: 'primary_ctx_retain', after: 'gp_note_context(c, *pctx, dev); gp_primary_retained(dev);' },
  cuDevicePrimaryCtxRelease: { mode: 'sync', handler: 'primary_ctx_release', after: 'gp_primary_released(dev);' },
  cuDevicePrimaryCtxReset: { mode: 'sync', handler: 'primary_ctx_reset', after: 'gp_primary_reset(dev);' },
  cuDevicePrimaryCtxGetState: local,
  cuDevicePrimaryCtxSetFlags: { mode: 'sync', handler: 'primary_ctx_set_flags', after: 'gp_primary_flags(dev, flags);' },
  // CUDA 13's cuda.h maps cuCtxCreate to _v4 (12050): its parameters hold only what gpupool refuses
  // (execution affinity, CIG), so the client checks them and sends the v2 call (native/shim/client.c).
  cuCtxCreate: { mode: 'sync', versions: [3020], localVersions: [12050], handler: 'ctx_create', after: 'gp_note_context(c, *pctx, dev); gp_set_current(*pctx);' },
  cuCtxDestroy: { mode: 'sync', handler: 'ctx_destroy', after: 'gp_forget_context(ctx);' },
  // A synchronisation also waits for the host functions enqueued before it (native/shim/hostfunc.c).
  cuCtxSynchronize: { mode: 'sync', after: 'gp_host_funcs_drain();' },
  cuCtxGetFlags: sync,
  cuCtxGetApiVersion: sync,
  cuCtxGetLimit: sync,
  cuCtxSetLimit: sync,
  cuCtxGetStreamPriorityRange: sync,
  // Only a cache hint: the lines it releases cost another session speed at most, never data.
  cuCtxResetPersistingL2Cache: sync,

  // --- memory -----------------------------------------------------------------------------------
  // An allocation whose addresses another daemon already handed out is asked for again (custom.c).
  cuMemAlloc: { mode: 'sync', handler: 'mem_alloc', client: 'mem_alloc', after: 'gp_note_alloc(c, *dptr, bytesize);' },
  cuMemAllocPitch: { mode: 'sync', handler: 'mem_alloc_pitch', after: 'gp_note_alloc(c, *dptr, *pPitch * Height);' },
  // cuMemFree(0) succeeds, as the driver's does: cudart's cudaFree(0), the idiom that makes a context
  // current, reaches it (cuBLAS's handle creation among others).
  cuMemFree: { mode: 'sync', handler: 'mem_free', before: 'if (dptr == 0) goto done;', after: 'gp_forget_alloc(dptr); gp_graph_note_free(dptr);', params: { dptr: { device: 'inside' } } },
  // The session's quota is the card's total (docs/operations.md, "Memory quotas").
  cuMemGetInfo: { mode: 'sync', handler: 'mem_get_info' },
  // The driver answers CUDA_ERROR_NOT_FOUND for an address in no allocation; another session's is one.
  cuMemGetAddressRange: { mode: 'sync', params: { dptr: { device: 'inside', refuse: 'CUDA_ERROR_NOT_FOUND' } } },
  // Pinned host memory is host memory of the client's own machine: it never leaves it.
  cuMemAllocHost: local,
  cuMemHostAlloc: local,
  cuMemFreeHost: local,
  cuMemHostGetDevicePointer: local,
  cuMemHostRegister: local,
  cuMemHostUnregister: local,
  cuMemHostGetFlags: local,
  // What unified addressing says about a pointer: the client records every allocation and pinned or
  // registered block of its own (native/shim/pointer.c). Frameworks ask on every pinned copy.
  cuPointerGetAttribute: local,
  cuPointerGetAttributes: local,
  cuMemcpyHtoD: { mode: 'sync', client: 'copies', params: { dstDevice: { device: 'ByteCount' }, srcHost: { in: 'ByteCount' } }, work: true },
  cuMemcpyDtoH: { mode: 'sync', client: 'copies', params: { dstHost: { out: 'ByteCount' }, srcDevice: { device: 'ByteCount' } }, work: true },
  // Between two daemons a device-to-device copy travels through the client (custom.c).
  cuMemcpyDtoD: { mode: 'sync', client: 'memcpy_dtod', params: copyDtoD, work: true },
  cuMemcpyHtoDAsync: { mode: 'async', client: 'copies', params: { dstDevice: { device: 'ByteCount' }, srcHost: { in: 'ByteCount' } }, work: true },
  cuMemcpyDtoHAsync: { mode: 'deferred', client: 'copies', params: { dstHost: { out: 'ByteCount' }, srcDevice: { device: 'ByteCount' } }, work: true },
  cuMemcpyDtoDAsync: { mode: 'async', client: 'memcpy_dtod_async', params: copyDtoD, work: true },
  cuMemcpyPeer: { mode: 'sync', client: 'memcpy_peer', params: copyDtoD, work: true },
  cuMemcpyPeerAsync: { mode: 'async', client: 'memcpy_peer_async', params: copyDtoD, work: true },
  cuMemcpy: { mode: 'sync', client: 'memcpy_unified', wire: 'memcpy' },
  cuMemcpyAsync: { mode: 'async', client: 'memcpy_unified_async', wire: 'memcpy_async' },
  // Pitched copies travel as explicit fields, host rows packed (docs/protocol.md); custom.c routes them.
  cuMemcpy2D: { mode: 'sync', client: 'memcpy_2d', wire: 'memcpy_2d' },
  cuMemcpy2DUnaligned: { mode: 'sync', client: 'memcpy_2d', wire: 'memcpy_2d' },
  cuMemcpy2DAsync: { mode: 'async', client: 'memcpy_2d_async', wire: 'memcpy_2d_async' },
  // Managed memory must be addressable by the client's host at its device address: a remote card's
  // is not (native/shim/hostmem.c answers CUDA_ERROR_NOT_SUPPORTED and says why, once).
  cuMemAllocManaged: local,
  // IPC and shareable handles name memory only the daemon's host can open: each is refused with one
  // line naming it, once (native/shim/ipc.c).
  cuIpcGetMemHandle: local,
  cuIpcOpenMemHandle: local,
  cuIpcCloseMemHandle: local,
  cuIpcGetEventHandle: local,
  cuIpcOpenEventHandle: local,
  cuMemExportToShareableHandle: local,
  cuMemImportFromShareableHandle: local,
  cuMemPoolExportToShareableHandle: local,
  cuMemPoolImportFromShareableHandle: local,
  cuMemPoolExportPointer: local,
  cuMemPoolImportPointer: local,
  cuMemsetD8: memset(1, 'sync'),
  cuMemsetD16: memset(2, 'sync'),
  cuMemsetD32: memset(4, 'sync'),
  cuMemsetD8Async: memset(1, 'async'),
  cuMemsetD16Async: memset(2, 'async'),
  cuMemsetD32Async: memset(4, 'async'),
  cuMemsetD2D8: memset2D(1, 'sync'),
  cuMemsetD2D16: memset2D(2, 'sync'),
  cuMemsetD2D32: memset2D(4, 'sync'),
  cuMemsetD2D8Async: memset2D(1, 'async'),
  cuMemsetD2D16Async: memset2D(2, 'async'),
  cuMemsetD2D32Async: memset2D(4, 'async'),

  // --- arrays, stream-ordered allocation, virtual memory: each counted against the session's quota
  // before the driver is asked (docs/operations.md, "Memory quotas") ---------------------------------
  cuArrayCreate: { mode: 'sync', params: { pAllocateArray: { in: 'sizeof(CUDA_ARRAY_DESCRIPTOR)' } }, handler: 'array_create' },
  cuArray3DCreate: { mode: 'sync', params: { pAllocateArray: { in: 'sizeof(CUDA_ARRAY3D_DESCRIPTOR)' } }, handler: 'array_3d_create' },
  cuArrayDestroy: { mode: 'sync', handler: 'array_destroy' },
  cuArrayGetDescriptor: { mode: 'sync', params: { pArrayDescriptor: { out: 'sizeof(CUDA_ARRAY_DESCRIPTOR)' } } },
  cuArray3DGetDescriptor: { mode: 'sync', params: { pArrayDescriptor: { out: 'sizeof(CUDA_ARRAY3D_DESCRIPTOR)' } } },
  cuMipmappedArrayCreate: { mode: 'sync', params: { pMipmappedArrayDesc: { in: 'sizeof(CUDA_ARRAY3D_DESCRIPTOR)' } }, handler: 'mipmapped_array_create' },
  cuMipmappedArrayGetLevel: { mode: 'sync', handler: 'mipmapped_array_get_level' },
  cuMipmappedArrayDestroy: { mode: 'sync', handler: 'mipmapped_array_destroy' },
  // Texture and surface objects: the object is the driver's value (kernels take it as a parameter);
  // the daemon records which are the session's, and translates the array a resource names
  // (native/shim/texobj.c, native/addon/texture_handlers.cc). A resource view of all zeros is none.
  cuTexObjectCreate: {
    mode: 'sync',
    params: { pResDesc: { in: 'sizeof(CUDA_RESOURCE_DESC)' }, pTexDesc: { in: 'sizeof(CUDA_TEXTURE_DESC)' }, pResViewDesc: { in: 'sizeof(CUDA_RESOURCE_VIEW_DESC)' } },
    before: `${RES_TO_REMOTE} CUDA_RESOURCE_VIEW_DESC gp_view; if (pTexDesc == NULL) { rc = CUDA_ERROR_INVALID_VALUE; goto done; } if (pResViewDesc == NULL) { gp_view = (CUDA_RESOURCE_VIEW_DESC){ 0 }; pResViewDesc = &gp_view; }`,
    handler: 'tex_object_create',
  },
  cuTexObjectDestroy: { mode: 'sync', handler: 'tex_object_destroy' },
  cuTexObjectGetResourceDesc: { mode: 'sync', params: { pResDesc: { out: 'sizeof(CUDA_RESOURCE_DESC)' } }, handler: 'tex_object_get_resource_desc', after: 'gp_res_desc_from_remote(c, pResDesc);' },
  cuTexObjectGetTextureDesc: { mode: 'sync', params: { pTexDesc: { out: 'sizeof(CUDA_TEXTURE_DESC)' } }, handler: 'tex_object_get_texture_desc' },
  cuSurfObjectCreate: { mode: 'sync', params: { pResDesc: { in: 'sizeof(CUDA_RESOURCE_DESC)' } }, before: RES_TO_REMOTE, handler: 'surf_object_create' },
  cuSurfObjectDestroy: { mode: 'sync', handler: 'surf_object_destroy' },
  cuSurfObjectGetResourceDesc: { mode: 'sync', params: { pResDesc: { out: 'sizeof(CUDA_RESOURCE_DESC)' } }, handler: 'surf_object_get_resource_desc', after: 'gp_res_desc_from_remote(c, pResDesc);' },
  cuMemcpyHtoA: { mode: 'sync', params: { srcHost: { in: 'ByteCount' } }, work: true },
  cuMemcpyAtoH: { mode: 'sync', params: { dstHost: { out: 'ByteCount' } }, work: true },
  cuMemcpyAtoD: { mode: 'sync', params: { dstDevice: { device: 'ByteCount' } }, work: true },
  cuMemcpyDtoA: { mode: 'sync', params: { srcDevice: { device: 'ByteCount' } }, work: true },
  cuMemcpyAtoA: { mode: 'sync', work: true },
  // Boxes of host memory, device memory and arrays travel as explicit fields, host bytes packed
  // (docs/protocol.md); native/shim/copy3d.c routes them, and cuMemcpy2D* naming an array too.
  cuMemcpy3D: { mode: 'sync', client: 'memcpy_3d', wire: 'memcpy_3d' },
  cuMemcpy3DAsync: { mode: 'async', client: 'memcpy_3d_async', wire: 'memcpy_3d_async' },
  // A session's pools are its own: the card's default pool is a private one per session, so no client
  // sees, trims or reuses another's memory.
  cuMemAllocAsync: { mode: 'sync', handler: 'mem_alloc_async', before: 'if ((rc = gp_refuse_in_client_capture("cuMemAllocAsync", hStream)) != CUDA_SUCCESS) goto done;', after: 'gp_note_alloc(c, *dptr, bytesize);' },
  cuMemAllocFromPoolAsync: { mode: 'sync', handler: 'mem_alloc_from_pool_async', after: 'gp_note_alloc(c, *dptr, bytesize);' },
  cuMemFreeAsync: { mode: 'async', handler: 'mem_free_async', before: 'if ((rc = gp_refuse_in_client_capture("cuMemFreeAsync", hStream)) != CUDA_SUCCESS) goto done;', after: 'gp_forget_alloc(dptr); gp_graph_note_free(dptr);', params: { dptr: { device: 'inside' } } },
  cuMemPoolCreate: {
    mode: 'sync',
    params: { poolProps: { in: 'sizeof(CUmemPoolProps)' } },
    before: 'CUmemPoolProps gp_props; if ((rc = gp_pool_props_to_remote(c, &poolProps, &gp_props)) != CUDA_SUCCESS) goto done;',
    handler: 'mem_pool_create',
  },
  cuMemPoolDestroy: { mode: 'sync', handler: 'mem_pool_destroy' },
  cuMemPoolTrimTo: sync,
  cuMemPoolSetAttribute: { mode: 'sync', params: { value: { in: POOL_ATTR_SIZE } }, handler: 'mem_pool_set_attribute' },
  cuMemPoolGetAttribute: { mode: 'sync', params: { value: { out: POOL_ATTR_SIZE } }, handler: 'mem_pool_get_attribute' },
  cuDeviceGetDefaultMemPool: { mode: 'sync', handler: 'device_get_default_mem_pool' },
  cuDeviceGetMemPool: { mode: 'sync', handler: 'device_get_mem_pool' },
  cuDeviceSetMemPool: { mode: 'sync', handler: 'device_set_mem_pool' },
  // Virtual memory: physical memory (cuMemCreate) is counted, address ranges are not. The client records
  // a reserved range as one allocation, so that copies into its mappings find their daemon. The address
  // ranges these calls name are no memory they touch: their handlers check them against the session's
  // own reservations and mappings instead (docs/security.md, "Bounds checks"); an address hint is only
  // a hint.
  cuMemAddressReserve: { mode: 'sync', handler: 'mem_address_reserve', client: 'mem_address_reserve', after: 'gp_note_alloc(c, *ptr, size);', params: { addr: { device: '0' } } },
  cuMemAddressFree: { mode: 'sync', handler: 'mem_address_free', after: 'gp_forget_alloc(ptr);', params: { ptr: { device: '0' } } },
  cuMemCreate: { mode: 'sync', params: { prop: { in: 'sizeof(CUmemAllocationProp)' } }, before: PROP_TO_REMOTE, handler: 'mem_create' },
  cuMemRelease: { mode: 'sync', handler: 'mem_release' },
  cuMemMap: { mode: 'sync', handler: 'mem_map', params: { ptr: { device: '0' } } },
  cuMemUnmap: { mode: 'sync', handler: 'mem_unmap', params: { ptr: { device: '0' } } },
  cuMemSetAccess: {
    mode: 'sync',
    params: { ptr: { device: '0' }, desc: { in: 'count * sizeof(CUmemAccessDesc)' } },
    before: 'CUmemAccessDesc gp_desc[GP_MAX_ACCESS_DESCS]; if ((rc = gp_access_to_remote(c, ptr, &desc, count, gp_desc)) != CUDA_SUCCESS) goto done;',
    handler: 'mem_set_access',
  },
  cuMemGetAllocationGranularity: { mode: 'sync', params: { prop: { in: 'sizeof(CUmemAllocationProp)' } }, before: PROP_TO_REMOTE, handler: 'mem_get_allocation_granularity' },
  cuMemGetAllocationPropertiesFromHandle: {
    mode: 'sync',
    params: { prop: { out: 'sizeof(CUmemAllocationProp)' } },
    handler: 'mem_get_allocation_properties',
    after: 'gp_prop_from_remote(c, prop);',
  },

  // --- streams and events -----------------------------------------------------------------------
  // Whether a stream is capturing is answered here, from the client's record of the captures it
  // began and ended (native/shim/capture.c): the caching allocators of frameworks ask on every
  // allocation.
  cuStreamIsCapturing: local,
  cuStreamGetCaptureInfo: local,
  // Capture into a graph of the job (a conditional's body), and the dependencies a program sets after
  // adding nodes by hand: the capture is then the job's (native/shim/capture_graph.c).
  cuStreamBeginCaptureToGraph: local,
  cuStreamUpdateCaptureDependencies: local,
  cuThreadExchangeStreamCaptureMode: local,
  // Stream capture and graphs (CUDA graphs: torch.cuda.CUDAGraph, vLLM): captured and replayed on the
  // daemon; the client keeps which of its streams capture.
  // Where a capture is made, the daemon or the job, is decided by its first operation (capture_graph.c).
  cuStreamBeginCapture: { mode: 'sync', versions: [10010], client: 'capture' },
  cuStreamEndCapture: { mode: 'sync', client: 'capture' },
  // Graphs built node by node live in the client library (native/shim/graph.c): their nodes may name
  // the job's host memory and functions, which the daemon cannot reach. A launch issues the nodes in
  // order on the stream as the calls they stand for. The calls below that also take a captured graph
  // (the daemon's) answer a client graph first (`gp_graph_*`) and forward any other handle.
  // A graph that gets a conditional handle lives on the daemon as well (native/shim/graph_daemon.c):
  // kernels set conditionals from device code, which only the card's own graph honours. Its twin is
  // created there with the handle (cuGraphCreate goes to the daemon only then); the job keeps building
  // it node by node, and its first instantiation sends every node, bodies of conditionals included, in
  // one frame (the cuGraphAddNode op, frames.ts `graph_nodes`) that the daemon adds to the twin.
  cuGraphCreate: { mode: 'sync', before: 'if (!gp_graph_twin_wanted()) { rc = gp_graph_create_local(phGraph, flags); goto done; }' },
  cuGraphConditionalHandleCreate: {
    mode: 'sync',
    before: 'if ((rc = gp_graph_twin_of(&hGraph)) != CUDA_SUCCESS) goto done;',
    handler: 'graph_conditional_handle_create',
    after: 'gp_graph_note_conditional(*pHandle_out, hGraph);',
  },
  cuGraphAddKernelNode: local,
  cuGraphAddMemcpyNode: local,
  cuGraphAddMemsetNode: local,
  cuGraphAddHostNode: local,
  cuGraphAddEmptyNode: local,
  cuGraphAddMemAllocNode: local,
  cuGraphAddMemFreeNode: local,
  cuGraphMemAllocNodeGetParams: local,
  cuGraphMemFreeNodeGetParams: local,
  cuDeviceGetGraphMemAttribute: local,
  cuDeviceSetGraphMemAttribute: local,
  cuDeviceGraphMemTrim: local,
  cuGraphAddNode: { mode: 'sync', versions: [12030], localVersions: [12020], client: 'graph_nodes', wire: 'graph_nodes' },
  cuGraphAddDependencies: local,
  cuGraphGetRootNodes: local,
  cuGraphNodeGetType: local,
  cuGraphNodeGetDependencies: local,
  cuGraphKernelNodeGetParams: local,
  cuGraphKernelNodeSetParams: local,
  cuGraphExecKernelNodeSetParams: local,
  cuGraphExecMemsetNodeSetParams: local,
  cuGraphExecMemcpyNodeSetParams: local,
  cuGraphExecHostNodeSetParams: local,
  cuGraphClone: local,
  cuGraphHostNodeGetParams: local,
  cuGraphHostNodeSetParams: local,
  cuGraphMemcpyNodeGetParams: local,
  cuGraphMemcpyNodeSetParams: local,
  cuGraphMemsetNodeGetParams: local,
  cuGraphMemsetNodeSetParams: local,
  cuGraphNodeSetParams: local,
  cuGraphExecNodeSetParams: local,
  cuGraphNodeGetDependentNodes: local,
  cuGraphGetEdges: local,
  cuGraphRemoveDependencies: local,
  cuGraphDestroyNode: local,
  cuGraphInstantiateWithParams: local,
  // Counting a captured graph's nodes (PyTorch warns of an empty capture so) is carried; listing them is not.
  cuGraphGetNodes: {
    mode: 'sync',
    before: 'if (gp_graph_is_local(hGraph)) { rc = gp_graph_get_nodes(hGraph, nodes, numNodes); goto done; } if (nodes != NULL) { rc = CUDA_ERROR_NOT_SUPPORTED; goto done; }',
  },
  cuGraphInstantiateWithFlags: {
    mode: 'sync',
    before:
      'if (gp_graph_is_local(hGraph) && !gp_graph_on_daemon(hGraph)) { rc = gp_graph_instantiate(phGraphExec, hGraph, flags); goto done; } ' +
      'if (gp_graph_is_local(hGraph) && (rc = gp_graph_build(&hGraph)) != CUDA_SUCCESS) goto done;',
  },
  // Updating an executable graph from a newly captured one. Out values travel only with success: on a
  // failure the caller reads the generic CU_GRAPH_EXEC_UPDATE_ERROR, and node handles (not carried,
  // see cuGraphGetNodes) are always NULL.
  cuGraphExecUpdate: {
    mode: 'sync',
    versions: [12000],
    params: { resultInfo: { out: 'sizeof(CUgraphExecUpdateResultInfo)' } },
    before:
      'if (gp_graph_is_local(hGraph) || gp_graph_exec_is_local(hGraphExec)) { rc = gp_graph_exec_update(hGraphExec, hGraph, resultInfo); goto done; } ' +
      'if (resultInfo != NULL) *resultInfo = (CUgraphExecUpdateResultInfo){ .result = CU_GRAPH_EXEC_UPDATE_ERROR };',
    after: 'if (resultInfo != NULL) { resultInfo->errorNode = NULL; resultInfo->errorFromNode = NULL; }',
  },
  cuGraphLaunch: { mode: 'async', work: true, client: 'graph_launch' },
  cuGraphUpload: { mode: 'async', client: 'graph_upload' },
  cuGraphDestroy: { mode: 'sync', handler: 'forget_handle', before: 'if (gp_graph_is_local(hGraph)) { rc = gp_graph_destroy(hGraph); goto done; }' },
  cuGraphExecDestroy: {
    mode: 'sync',
    handler: 'forget_handle',
    before: 'if (gp_graph_exec_is_local(hGraphExec)) { rc = gp_graph_exec_destroy(hGraphExec); goto done; }',
  },
  cuStreamCreate: sync,
  cuStreamCreateWithPriority: sync,
  cuStreamDestroy: { mode: 'sync', handler: 'forget_handle' },
  cuStreamSynchronize: { mode: 'sync', after: 'gp_host_funcs_drain();' },
  cuStreamQuery: sync,
  // A stream waiting on another daemon's event: the client waits for the event itself (custom.c).
  cuStreamWaitEvent: { mode: 'async', client: 'stream_wait_event' },
  cuStreamGetPriority: sync,
  cuStreamGetFlags: sync,
  // The attribute is a union of values only (an access policy window names device memory by address).
  // The per-thread variants name the parameter differently.
  cuStreamSetAttribute: { mode: 'sync', params: { param: { in: 'sizeof(CUstreamAttrValue)' }, value: { in: 'sizeof(CUstreamAttrValue)' } } },
  cuStreamGetAttribute: { mode: 'sync', params: { value: { out: 'sizeof(CUstreamAttrValue)' }, value_out: { out: 'sizeof(CUstreamAttrValue)' } } },
  // Host functions are the program's code: they run in the client, when the daemon says their stream
  // reached them (native/shim/hostfunc.c).
  cuLaunchHostFunc: local,
  cuStreamAddCallback: local,
  cuEventCreate: sync,
  // An event recorded in a capture the job makes marks the nodes before it (capture_graph.c).
  cuEventRecord: { mode: 'async', before: '{ int gp_taken = 0; if ((rc = gp_capture_event_record(hEvent, hStream, 0, &gp_taken)) != CUDA_SUCCESS || gp_taken) goto done; }' },
  cuEventRecordWithFlags: { mode: 'async', before: '{ int gp_taken = 0; if ((rc = gp_capture_event_record(hEvent, hStream, flags, &gp_taken)) != CUDA_SUCCESS || gp_taken) goto done; }' },
  cuEventSynchronize: sync,
  cuEventQuery: sync,
  cuEventElapsedTime: sync,
  cuEventDestroy: { mode: 'sync', handler: 'forget_handle' },

  // --- modules, libraries, kernels ----------------------------------------------------------------
  cuModuleLoadData: { mode: 'sync', client: 'module_image', wire: 'image' },
  cuModuleLoadDataEx: { mode: 'sync', client: 'module_image', wire: 'image' },
  cuModuleLoadFatBinary: { mode: 'sync', client: 'module_image', wire: 'image' },
  cuModuleUnload: { mode: 'sync', handler: 'forget_handle' },
  cuModuleGetFunction: { mode: 'sync', params: { name: 'string' } },
  // __device__ and __constant__ variables (cudaMemcpyToSymbol): the daemon lets the session copy to
  // and from their range; the client records it, so that copies find their daemon. Both outputs are
  // always asked for, whatever the caller passed.
  cuModuleGetGlobal: { mode: 'sync', params: { name: 'string' }, before: GLOBAL_OUTS, handler: 'module_get_global', after: 'gp_note_alloc(c, *dptr, *bytes);' },
  // A library and its kernels belong to no context, so one handle must work on every daemon: the
  // client keeps them (native/shim/library.c) and loads each library on a daemon when first used there.
  cuLibraryLoadData: { mode: 'sync', client: 'library', wire: 'image', handler: 'module_image' },
  cuLibraryUnload: { mode: 'sync', handler: 'forget_handle', client: 'library' },
  cuLibraryGetKernel: { mode: 'sync', params: { name: 'string' }, client: 'library' },
  cuLibraryGetModule: { mode: 'sync', client: 'library' },
  cuLibraryGetGlobal: { mode: 'sync', params: { name: 'string' }, client: 'library', before: GLOBAL_OUTS, handler: 'library_get_global', after: 'gp_note_alloc(c, *dptr, *bytes);' },
  cuKernelGetFunction: { mode: 'sync', client: 'library' },
  cuKernelGetParamInfo: { mode: 'sync', client: 'library' },
  cuFuncGetParamInfo: { mode: 'sync', before: functionOf('func') },
  cuKernelGetAttribute: { mode: 'sync', client: 'library' },
  cuFuncGetAttribute: { mode: 'sync', before: functionOf('hfunc') },
  cuKernelSetAttribute: { mode: 'sync', client: 'library' },
  cuFuncSetAttribute: { mode: 'sync', before: functionOf('hfunc') },
  cuFuncSetCacheConfig: { mode: 'sync', before: functionOf('hfunc') },
  // Cache and shared-memory bank preferences: hints a driver may ignore (interval asks for L1).
  cuKernelSetCacheConfig: { mode: 'sync', client: 'library' },
  cuFuncSetSharedMemConfig: { mode: 'sync', before: functionOf('hfunc') },
  cuCtxGetCacheConfig: sync,
  cuCtxSetCacheConfig: sync,
  cuCtxGetSharedMemConfig: sync,
  cuCtxSetSharedMemConfig: sync,
  cuOccupancyMaxActiveBlocksPerMultiprocessor: { mode: 'sync', before: functionOf('func') },
  cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags: { mode: 'sync', before: functionOf('func') },
  // The block-size callback is the program's code: the search runs here, asking the daemon for each
  // candidate's occupancy (native/shim/occupancy.c).
  cuOccupancyMaxPotentialBlockSize: local,
  cuOccupancyMaxPotentialBlockSizeWithFlags: local,
  // The configuration's attributes travel as cuLaunchKernelEx's do (native/shim/clusters.c).
  cuOccupancyMaxActiveClusters: { mode: 'sync', client: 'occupancy_max_active_clusters', wire: 'clusters' },
  // JIT linking: the link state and the linked image live in the client (native/shim/link.c); the
  // inputs travel at cuLinkComplete, linked by the driver of the current context's daemon.
  cuLinkCreate: local,
  cuLinkAddData: local,
  cuLinkAddFile: local,
  cuLinkComplete: { mode: 'sync', client: 'link_complete', wire: 'link' },
  cuLinkDestroy: local,
  cuLaunchKernel: { mode: 'async', client: 'launch_kernel', wire: 'launch' },
  cuLaunchKernelEx: { mode: 'async', client: 'launch_kernel_ex', wire: 'launch_ex' },
  // A grid whose blocks all run at once (grid.sync()). Synchronous: the driver refuses a grid larger
  // than the card holds at one time (CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE) from the call itself,
  // and programs check that answer to size their grid.
  cuLaunchCooperativeKernel: { mode: 'sync', client: 'launch_cooperative_kernel', wire: 'launch' },
};
