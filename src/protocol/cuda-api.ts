/**
 * The CUDA driver API as gpupool carries it: the one annotated table from which the client
 * library's stubs and the daemon's dispatcher are generated (src/protocol/gen/). Prototypes come
 * from the toolkit's cudaTypedefs.h (every versioned variant); this table says only what a
 * prototype cannot: how each call travels, which pointer is a buffer and how big, and what the
 * daemon must remember about it. A new call is usually one line here.
 *
 * Parameters need no annotation when their type says everything: scalars, enums, devices and device
 * pointers by value; handles (CUstream, CUevent, ...) by value; and `T *` out-parameters of those.
 */

/** How a call travels. */
export type Mode =
  /** Waits for the daemon's answer (one round trip). */
  | 'sync'
  /** Fire-and-forget, batched with its neighbours; an error surfaces at the next synchronous call. */
  | 'async'
  /** Fire-and-forget, but the daemon sends data back later (device-to-host async copies). */
  | 'deferred';

export type ParamRole =
  /** Host memory the call reads, of this many bytes (a C expression over the other parameters). */
  | { in: string }
  /** Host memory the call writes, of this many bytes. */
  | { out: string }
  /** A NUL-terminated string the call reads. */
  | 'string'
  /** A buffer of `len` chars the call writes a string into. */
  | { outString: string };

export interface Forwarded {
  mode: Mode;
  params?: Record<string, ParamRole>;
  /** Variants to forward; default: every non-legacy variant cudaTypedefs.h declares. */
  versions?: number[];
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
  /** The frame is hand-defined (docs/protocol.md): the daemon runs the handler named like `client`. */
  wire?: 'custom';
  /**
   * A C statement the client stub runs after the call succeeds, with the parameters and the call `c`
   * in scope: the client's own records (which daemon holds an allocation or a context).
   */
  after?: string;
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

const local: Local = { local: true };
const sync: Forwarded = { mode: 'sync' };
const async: Forwarded = { mode: 'async' };
const syncWork: Forwarded = { mode: 'sync', work: true };
const asyncWork: Forwarded = { mode: 'async', work: true };

export const CUDA_API: Record<string, Annotation> = {
  // --- initialisation, versions, errors, the private interfaces: all local --------------------
  cuInit: local,
  cuDriverGetVersion: local,
  cuGetProcAddress: local,
  cuGetExportTable: local,
  cuGetErrorName: local,
  cuGetErrorString: local,
  cuModuleGetLoadingMode: local,

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

  // --- contexts: the current context is per client thread, so it stays local ------------------
  cuCtxGetCurrent: local,
  cuCtxSetCurrent: local,
  cuCtxPushCurrent: local,
  cuCtxPopCurrent: local,
  cuCtxGetDevice: local,
  cuDevicePrimaryCtxRetain: { mode: 'sync', handler: 'primary_ctx_retain', after: 'gp_note_context(c, *pctx, dev);' },
  cuDevicePrimaryCtxRelease: { mode: 'sync', handler: 'primary_ctx_release' },
  cuDevicePrimaryCtxReset: { mode: 'sync', handler: 'primary_ctx_reset' },
  cuDevicePrimaryCtxGetState: { mode: 'sync', handler: 'primary_ctx_get_state' },
  cuDevicePrimaryCtxSetFlags: { mode: 'sync', handler: 'primary_ctx_set_flags' },
  cuCtxCreate: { mode: 'sync', versions: [3020], handler: 'ctx_create', after: 'gp_note_context(c, *pctx, dev); gp_set_current(*pctx);' },
  cuCtxDestroy: { mode: 'sync', handler: 'ctx_destroy', after: 'gp_forget_context(ctx);' },
  cuCtxSynchronize: sync,
  cuCtxGetFlags: sync,
  cuCtxGetApiVersion: sync,
  cuCtxGetLimit: sync,
  cuCtxSetLimit: sync,
  cuCtxGetStreamPriorityRange: sync,

  // --- memory -----------------------------------------------------------------------------------
  cuMemAlloc: { mode: 'sync', handler: 'mem_alloc', after: 'gp_note_alloc(c, *dptr, bytesize);' },
  cuMemAllocPitch: { mode: 'sync', handler: 'mem_alloc_pitch', after: 'gp_note_alloc(c, *dptr, *pPitch * Height);' },
  cuMemFree: { mode: 'sync', handler: 'mem_free', after: 'gp_forget_alloc(dptr);' },
  // The session's quota is the card's total (docs/operations.md, "Memory quotas").
  cuMemGetInfo: { mode: 'sync', handler: 'mem_get_info' },
  cuMemGetAddressRange: sync,
  // Pinned host memory is host memory of the client's own machine: it never leaves it.
  cuMemAllocHost: local,
  cuMemHostAlloc: local,
  cuMemFreeHost: local,
  cuMemHostGetDevicePointer: local,
  cuMemHostRegister: local,
  cuMemHostUnregister: local,
  cuMemcpyHtoD: { mode: 'sync', params: { srcHost: { in: 'ByteCount' } }, work: true },
  cuMemcpyDtoH: { mode: 'sync', params: { dstHost: { out: 'ByteCount' } }, work: true },
  // Between two daemons a device-to-device copy travels through the client (custom.c).
  cuMemcpyDtoD: { mode: 'sync', client: 'memcpy_dtod', work: true },
  cuMemcpyHtoDAsync: { mode: 'async', params: { srcHost: { in: 'ByteCount' } }, work: true },
  cuMemcpyDtoHAsync: { mode: 'deferred', params: { dstHost: { out: 'ByteCount' } }, work: true },
  cuMemcpyDtoDAsync: { mode: 'async', client: 'memcpy_dtod_async', work: true },
  cuMemcpyPeer: { mode: 'sync', client: 'memcpy_peer' },
  cuMemcpyPeerAsync: { mode: 'async', client: 'memcpy_peer_async' },
  cuMemcpy: { mode: 'sync', client: 'memcpy_unified', wire: 'custom' },
  cuMemcpyAsync: { mode: 'async', client: 'memcpy_unified_async', wire: 'custom' },
  // Pitched copies travel as explicit fields, host rows packed (docs/protocol.md); custom.c routes them.
  cuMemcpy2D: { mode: 'sync', client: 'memcpy_2d', wire: 'custom' },
  cuMemcpy2DUnaligned: { mode: 'sync', client: 'memcpy_2d', wire: 'custom' },
  cuMemcpy2DAsync: { mode: 'async', client: 'memcpy_2d_async', wire: 'custom' },
  cuMemsetD8: syncWork,
  cuMemsetD16: syncWork,
  cuMemsetD32: syncWork,
  cuMemsetD8Async: asyncWork,
  cuMemsetD16Async: asyncWork,
  cuMemsetD32Async: asyncWork,
  cuMemsetD2D8: syncWork,
  cuMemsetD2D16: syncWork,
  cuMemsetD2D32: syncWork,
  cuMemsetD2D8Async: asyncWork,
  cuMemsetD2D16Async: asyncWork,
  cuMemsetD2D32Async: asyncWork,

  // --- streams and events -----------------------------------------------------------------------
  // gpupool carries no stream capture (graphs), so no stream is ever capturing: answered here. The
  // caching allocators of frameworks ask on every allocation.
  cuStreamIsCapturing: local,
  cuStreamGetCaptureInfo: local,
  cuThreadExchangeStreamCaptureMode: local,
  cuStreamCreate: sync,
  cuStreamCreateWithPriority: sync,
  cuStreamDestroy: { mode: 'sync', handler: 'forget_handle' },
  cuStreamSynchronize: sync,
  cuStreamQuery: sync,
  cuStreamWaitEvent: async,
  cuStreamGetPriority: sync,
  cuStreamGetFlags: sync,
  cuEventCreate: sync,
  cuEventRecord: async,
  cuEventRecordWithFlags: async,
  cuEventSynchronize: sync,
  cuEventQuery: sync,
  cuEventElapsedTime: sync,
  cuEventDestroy: { mode: 'sync', handler: 'forget_handle' },

  // --- modules, libraries, kernels ----------------------------------------------------------------
  cuModuleLoadData: { mode: 'sync', client: 'module_image', wire: 'custom' },
  cuModuleLoadDataEx: { mode: 'sync', client: 'module_image', wire: 'custom' },
  cuModuleLoadFatBinary: { mode: 'sync', client: 'module_image', wire: 'custom' },
  cuModuleUnload: { mode: 'sync', handler: 'forget_handle' },
  cuModuleGetFunction: { mode: 'sync', params: { name: 'string' } },
  // A library and its kernels belong to no context, so one handle must work on every daemon: the
  // client keeps them (native/shim/library.c) and loads each library on a daemon when first used there.
  cuLibraryLoadData: { mode: 'sync', client: 'library', wire: 'custom', handler: 'module_image' },
  cuLibraryUnload: { mode: 'sync', handler: 'forget_handle', client: 'library' },
  cuLibraryGetKernel: { mode: 'sync', params: { name: 'string' }, client: 'library' },
  cuLibraryGetModule: { mode: 'sync', client: 'library' },
  cuKernelGetFunction: { mode: 'sync', client: 'library' },
  cuKernelGetParamInfo: { mode: 'sync', client: 'library' },
  cuFuncGetParamInfo: sync,
  cuKernelGetAttribute: { mode: 'sync', client: 'library' },
  cuFuncGetAttribute: sync,
  cuKernelSetAttribute: { mode: 'sync', client: 'library' },
  cuFuncSetAttribute: sync,
  cuFuncSetCacheConfig: sync,
  cuOccupancyMaxActiveBlocksPerMultiprocessor: sync,
  cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags: sync,
  cuLaunchKernel: { mode: 'async', client: 'launch_kernel', wire: 'custom' },
  cuLaunchKernelEx: { mode: 'async', client: 'launch_kernel_ex', wire: 'custom' },
};
