import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';

/** A device as the daemon's driver describes it; sent to clients in the handshake. */
export interface DriverDevice {
  ordinal: number;
  name: string;
  uuid: Buffer;
  pciDomain: number;
  pciBus: number;
  pciDevice: number;
  totalMem: number;
  attributes: [number, number][];
}

export interface NativeDriver {
  readonly path: string;
  readonly version: number;
  readonly digest: string;
  devices(): DriverDevice[];
  /** Before the first session (native/addon/scheduler.h SchedulerOptions). */
  configureScheduler(options: { sliceUs?: number; paceDepth?: number; idleGraceUs?: number }): void;
  /** The scheduler's view of each card, by ordinal. */
  cardStats(): CardSchedStats[];
  /** The memfd of the cards' scheduling state (docs/sharing.md, "Across processes"), mapped by each session worker. */
  cardStateFd(): number;
  /** A session worker ended: its slots on the cards are freed, a card it held handed on. Returns how many, or -1 when a card's lock stayed held (try again later). */
  releaseSchedOwner(owner: number): number;
  /** The emulated driver's counters of what is live in the process (docs/emulator.md); null on a real driver. */
  emuStats(): EmuStats | null;
}

/** gpupoolEmuCounters (native/fakes/cuda/gpupool_emu.h, found with dlsym): what the emulated driver holds right now. */
export interface EmuStats {
  contexts: number;
  allocations: number;
  allocatedBytes: number;
  hostAllocations: number;
  hostBytes: number;
  modules: number;
  libraries: number;
  streams: number;
  events: number;
  /** Since the process started, failed launches included. */
  kernelsLaunched: number;
  arrays: number;
  mipmappedArrays: number;
  arrayBytes: number;
  memPools: number;
  poolAllocations: number;
  poolBytes: number;
  poolCachedBytes: number;
  vmmAllocations: number;
  vmmBytes: number;
  vmmReservations: number;
  vmmMappings: number;
  /** GPUPOOL_EMU_NOOP_KERNELS: kernels without a CPU implementation run as timed no-ops (docs/emulator.md). */
  noopKernels: boolean;
  /** Launches run as no-ops in that mode, since the process started. */
  noopLaunches: number;
}

export interface CardSchedStats {
  ordinal: number;
  clients: number;
  /** Sessions whose work waits for the card right now. */
  waiting: number;
  busy: boolean;
  /** Measured device time of every session's work on the card, departed ones included. */
  deviceNs: number;
}

/** One session on one card, as the scheduler measures it. */
export interface SessionSchedStats {
  deviceNs: number;
  waitNs: number;
  waits: number;
  slices: number;
}

/** What the scheduler is told about a session (src/sharing/schedule.ts). */
export interface NativeSchedParams {
  share?: number;
  limit?: boolean;
  priority?: number;
  paused?: boolean;
}

/** What a session's connection may do once attached (docs/protocol.md, "Limits"; config `compute`). */
export interface AttachLimits {
  maxMessageBytes: number;
  maxQueuedBytes: number;
  /** Shared memory the client may map into the session (a Unix socket's); 0 or absent: none. */
  sharedMemoryBytes?: number;
  sharedMemoryRegions?: number;
  /** The largest call ring the client may pass (a Unix socket's); 0 or absent: none. */
  callRingBytes?: number;
  /** How long the session's thread polls its ring before it sleeps. */
  callRingSpinUs?: number;
}

export interface NativeSessionOptions extends NativeSchedParams {
  /** Memory quota per card, by ordinal, in bytes; absent: the whole card. */
  quota?: number[];
}

export interface SessionStats {
  calls: number;
  asyncCalls: number;
  messages: number;
  handles: number;
  contexts: number;
  allocations: number;
  allocatedBytes: number;
  deferredError: number;
  /** Calls refused for naming device memory outside the session's allocations (docs/security.md). */
  refusals: number;
  /** Shared memory regions the local job mapped into the session, their bytes, and the copies that named them (docs/operations.md, "Shared memory"). */
  sharedMemoryRegions: number;
  sharedMemoryBytes: number;
  sharedCopies: number;
  /** The local job's calls come through its call ring (docs/protocol.md, "The call ring"). */
  callRing: boolean;
  /** The session's memory quota per card, by ordinal, in bytes. */
  quota: number[];
  /** Device memory the session holds per card, by ordinal, in bytes (counted against its quota). */
  used: number[];
  /** Per card, by ordinal. */
  sched: SessionSchedStats[];
  /** Per card, by ordinal: the CUresult the session's calls on it answer since it went bad; 0: none. */
  poisoned: number[];
}

/** A call refused by the daemon's bounds check (docs/security.md, "Bounds checks"). */
export interface Refusal {
  op: string;
  param: string;
  /** The device address, in hex. */
  ptr: string;
  /** The extent checked: bytes; null when the call states none; 'overflow' when it overflowed. */
  bytes: number | null | 'overflow';
  /** The CUresult the call got. */
  rc: number;
}

export interface NativeSession {
  /** False once the session is closing: the message was not taken. */
  submit(message: Buffer): boolean;
  close(): void;
  stats(): SessionStats;
  setSchedule(params: NativeSchedParams): void;
  /** The card went bad: the session's later calls on it answer `cuResult` without reaching the driver. */
  poison(ordinal: number, cuResult: number): void;
  /**
   * From now on `backlogged` is true while the messages submitted and not yet run hold more than
   * `bytes` (docs/protocol.md, "Limits"); `onDrained` runs once they are down to half of it.
   */
  limitBacklog(bytes: number, onDrained: () => void): void;
  readonly backlogged: boolean;
  /** Called with the session's first refusal (later ones are counted in stats().refusals). */
  onRefusal(fn: (refusal: Refusal) => void): void;
  /**
   * The session takes the connection over after the handshake (docs/architecture.md): it reads and
   * writes WebSocket frames on a duplicate of `fd` itself; `prefix` holds the bytes already read off
   * it. Its replies no longer come to onOutput, and onClosed gets the connection's close code.
   */
  attach(fd: number, prefix: Buffer, limits: AttachLimits): void;
  /** On an attached connection (no-ops before): a ping, a close frame (the session ends), a cut. */
  ping(): void;
  closeConnection(code: number, reason: string): void;
  terminate(): void;
  /** The attached connection's figures; null before attach. */
  readonly connection: ConnectionFigures | null;
}

export interface ConnectionFigures {
  /** Since bytes last came from the client. */
  idleMs: number;
  /** The client is not read until its backlog is run down (docs/protocol.md, "Limits"). */
  paused: boolean;
  pauses: number;
  bytesIn: number;
  bytesOut: number;
}

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** The compute addon (native/addon): every driver call runs on its native threads, never here. */
export interface ComputeAddon {
  openDriver(path: string): Promise<NativeDriver>;
  /** onClosed's code: how an attached connection ended (the client's close code, 1006 when it went away); null without one. */
  /** {pid, uid, gid} of a Unix-socket connection's peer, as the kernel recorded it (SO_PEERCRED); null: not a Unix socket. */
  peerCredentials(fd: number): PeerCredentials | null;
  /** Passes fd over a Unix socket (SCM_RIGHTS, with one byte): a client's socket to a running session worker. */
  passDescriptor(channelFd: number, fd: number): void;
  Session: new (driver: NativeDriver, onOutput: (message: Buffer) => void, onClosed: (reason: string | null, code: number | null) => void, options?: NativeSessionOptions) => NativeSession;
}

let addon: ComputeAddon | null = null;

/**
 * The addon node-gyp built; GPUPOOL_ADDON names another build of the same sources instead (the
 * sanitized one, `make -C native addon-asan`, which test/compute/addon-sanitizers.test.ts loads).
 */
export const addonPath = process.env.GPUPOOL_ADDON || join(packageRoot, 'build', 'Release', 'gpupool_compute.node');

export function loadComputeAddon(): ComputeAddon {
  addon ??= createRequire(import.meta.url)(addonPath) as ComputeAddon;
  return addon;
}
