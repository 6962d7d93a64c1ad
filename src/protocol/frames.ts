/**
 * The frames of the compute protocol that are not one CUDA call's standard argument list: the heads
 * every call and reply start with, and the frames of the hand-encoded calls (docs/protocol.md, "Calls"
 * and "Hand-encoded calls"). The sibling of cuda-api.ts, and like it the one place they are defined:
 * src/protocol/gen/frames.ts generates from this table the C codec library both ends link
 * (build/gen/gp_frames.h, gp_frames.c: a struct, an encoder and a bounds-checked decoder per frame),
 * and the digest both ends compare at the handshake covers it. A frame is a msgpack array; its values
 * are its fields in order.
 */

export type FieldType =
  /** An unsigned integer that fits 32 bits. */
  | 'u32'
  | 'u64'
  /** The daemon's id of an object (docs/protocol.md, "Calls"): a u64. */
  | 'handle'
  /** Bytes; decoded as a pointer into the message and a length. */
  | 'bin'
  /** An array of [id u32, value bin] pairs (launch attributes). */
  | 'pairs';

export interface Field {
  name: string;
  type: FieldType;
  /** What it is, for the generated header and docs/protocol.md. */
  doc: string;
  /** u32, u64: the largest value a frame may carry; pairs: the most pairs. */
  max?: number;
  /** Several values of this type in a row (grid x, y, z): a C array of that many. */
  count?: number;
  /** bin: its exact length, in bytes or as the product of earlier u64 fields (overflow checked); pairs: each value's. */
  bytes?: number | string[];
  /** Present only when this earlier u32 field has this value (a host-to-device copy's rows). */
  when?: { field: string; equals: number };
}

export interface Frame {
  doc: string;
  fields: Field[];
  /**
   * More values follow the fields (a call's arguments, a reply's outs): the decoder leaves them to
   * be read, and the encoder takes their count.
   */
  open?: true;
  /**
   * An argument frame whose fields are followed by values of a shape the table cannot state (nested
   * lists): what they are. The handler reads them itself, after the decoded fields.
   */
  trailing?: string;
  /** With `trailing`: the least well-formed trailing values (nothing in each list), which tools append. */
  trailingLeast?: readonly unknown[];
}

// Grid and block sizes, and the stream of a launch: shared by the launch frames.
const launchHead: Field[] = [
  { name: 'fn', type: 'handle', doc: 'the CUfunction or CUkernel' },
  { name: 'grid', type: 'u32', count: 3, doc: 'gridDimX, Y, Z' },
  { name: 'block', type: 'u32', count: 3, doc: 'blockDimX, Y, Z' },
  { name: 'shared', type: 'u32', doc: 'sharedMemBytes' },
  { name: 'stream', type: 'handle', doc: 'the stream' },
];

/** CUlaunchAttributeValue travels as its 64 bytes; at most 64 attributes (docs/protocol.md). */
const attrs: Field = { name: 'attrs', type: 'pairs', max: 64, bytes: 64, doc: '[CUlaunchAttributeID, CUlaunchAttributeValue] pairs' };

// A pitched copy's head: kind, then four fields per side (zeros for the host side, whose rows are packed).
const copy2dHead: Field[] = [
  { name: 'kind', type: 'u32', max: 2, doc: '0 host-to-device, 1 device-to-host, 2 device-to-device' },
  ...(['dst', 'src'] as const).flatMap((side): Field[] => [
    { name: `${side}_device`, type: 'u64', doc: `the ${side} device pointer (0 for a host side)` },
    { name: `${side}_x`, type: 'u64', doc: `${side}XInBytes` },
    { name: `${side}_y`, type: 'u64', doc: `${side}Y` },
    { name: `${side}_pitch`, type: 'u64', doc: `${side}Pitch` },
  ]),
  { name: 'width', type: 'u64', doc: 'WidthInBytes' },
  { name: 'height', type: 'u64', doc: 'Height' },
];
// A box copy's head (cuMemcpy3D): kind, seven fields per side, the box.
const copy3dHead: Field[] = [
  { name: 'kind', type: 'u32', max: 2, doc: '0 to the card, 1 to the host, 2 on the card' },
  ...(['dst', 'src'] as const).flatMap((side): Field[] => [
    { name: `${side}_type`, type: 'u32', max: 2, doc: `the ${side} side: 0 host, 1 device memory, 2 array` },
    { name: `${side}_where`, type: 'u64', doc: `the ${side} device pointer or the session's array id (0 for a host side)` },
    { name: `${side}_x`, type: 'u64', doc: `${side}XInBytes` },
    { name: `${side}_y`, type: 'u64', doc: `${side}Y` },
    { name: `${side}_z`, type: 'u64', doc: `${side}Z` },
    { name: `${side}_pitch`, type: 'u64', doc: `${side}Pitch` },
    { name: `${side}_height`, type: 'u64', doc: `${side}Height` },
  ]),
  { name: 'width', type: 'u64', doc: 'WidthInBytes' },
  { name: 'height', type: 'u64', doc: 'Height' },
  { name: 'depth', type: 'u64', doc: 'Depth' },
];
const copy3dBytes: Field = { name: 'bytes', type: 'bin', bytes: ['width', 'height', 'depth'], when: { field: 'kind', equals: 0 }, doc: 'the host box, packed (to the card only)' };
/** How a shared-memory copy runs: the driver entry point it stands for, and its stream. */
const shmCopyMode: Field[] = [
  { name: 'per_thread', type: 'u32', max: 1, doc: '1: a per-thread-stream (_ptsz) variant' },
  { name: 'async', type: 'u32', max: 1, doc: '1: on the stream (cuMemcpy*Async), else synchronous' },
  { name: 'stream', type: 'handle', doc: 'the stream (async only)' },
];
const copy2dRows: Field = { name: 'rows', type: 'bin', bytes: ['width', 'height'], when: { field: 'kind', equals: 0 }, doc: 'the host rows, packed (host-to-device only)' };

export const frames = {
  call: {
    doc: 'The head of every call frame; the op\'s arguments follow (cuda-api.ts, or a frame below).',
    open: true,
    fields: [
      { name: 'op', type: 'u64', doc: 'the operation number (gp_ops.h); an unknown one is a protocol error' },
      { name: 'seq', type: 'u64', doc: '0: fire-and-forget; else echoed by the reply' },
      { name: 'ctx', type: 'u64', doc: 'the daemon\'s id of the current context; 0: none' },
    ],
  },
  reply: {
    doc: 'The head of every reply frame; the out values follow when result is 0.',
    open: true,
    fields: [
      { name: 'seq', type: 'u64', doc: 'the call\'s seq' },
      { name: 'result', type: 'u32', max: 2147483647, doc: 'the CUresult' },
    ],
  },
  image: {
    doc: 'cuModuleLoadData, cuModuleLoadDataEx, cuModuleLoadFatBinary, cuLibraryLoadData: the image, its size found by the client from its header.',
    fields: [{ name: 'image', type: 'bin', doc: 'the fatbin, cubin or PTX' }],
  },
  launch: {
    doc: 'cuLaunchKernel, cuLaunchCooperativeKernel: the parameters packed as the ABI lays them out (cuKernelGetParamInfo).',
    fields: [...launchHead, { name: 'params', type: 'bin', doc: 'the parameter buffer' }],
  },
  launch_ex: {
    doc: 'cuLaunchKernelEx: as cuLaunchKernel from its config, then the config\'s attributes.',
    fields: [...launchHead, { name: 'params', type: 'bin', doc: 'the parameter buffer' }, attrs],
  },
  clusters: {
    doc: 'cuOccupancyMaxActiveClusters: a launch configuration without parameters.',
    fields: [...launchHead, attrs],
  },
  memcpy: {
    doc: 'cuMemcpy: unified addresses, the direction decided by the client.',
    fields: [
      { name: 'dst', type: 'u64', doc: 'the destination' },
      { name: 'src', type: 'u64', doc: 'the source' },
      { name: 'bytes', type: 'u64', doc: 'ByteCount' },
    ],
  },
  memcpy_async: {
    doc: 'cuMemcpyAsync.',
    fields: [
      { name: 'dst', type: 'u64', doc: 'the destination' },
      { name: 'src', type: 'u64', doc: 'the source' },
      { name: 'bytes', type: 'u64', doc: 'ByteCount' },
      { name: 'stream', type: 'handle', doc: 'the stream' },
    ],
  },
  memcpy_2d: {
    doc: 'cuMemcpy2D, cuMemcpy2DUnaligned: explicit fields, never the CUDA_MEMCPY2D struct.',
    fields: [...copy2dHead, copy2dRows],
  },
  memcpy_2d_async: {
    doc: 'cuMemcpy2DAsync.',
    fields: [...copy2dHead, { name: 'stream', type: 'handle', doc: 'the stream' }, copy2dRows],
  },
  memcpy_3d: {
    doc: 'cuMemcpy3D, and the cuMemcpy2D* that name a CUDA array (as depth 1): explicit fields, never the CUDA_MEMCPY3D struct.',
    fields: [...copy3dHead, copy3dBytes],
  },
  memcpy_3d_async: {
    doc: 'cuMemcpy3DAsync.',
    fields: [...copy3dHead, { name: 'stream', type: 'handle', doc: 'the stream' }, copy3dBytes],
  },
  link: {
    doc: 'cuLinkComplete: every input the client gathered for one link, linked by the daemon\'s driver in one call.',
    fields: [
      { name: 'info_bytes', type: 'u64', max: 65536, doc: 'the info log\'s size the job gave (at most 64 KiB)' },
      { name: 'error_bytes', type: 'u64', max: 65536, doc: 'the error log\'s size the job gave (at most 64 KiB)' },
    ],
    trailing:
      'the link\'s options, an array of at most 64 [option uint, value uint] (only options whose value is a number, native/common/jit_options.h), then its inputs, an array of at most 1024 [type uint, name str, data bin, options]',
    trailingLeast: [[], []],
  },
  // The local transport's shared memory (docs/protocol.md, "Shared memory"): ops of their own (sharedMemoryOps).
  shm_region: {
    doc: 'A memfd region the client mapped and passed (SCM_RIGHTS, on the WebSocket ping just before): the daemon checks, maps and registers it.',
    fields: [
      { name: 'region', type: 'u32', max: 2147483647, doc: 'the client\'s id of the region, new in the session' },
      { name: 'bytes', type: 'u64', doc: 'its size, which the descriptor must hold (the daemon maps this much)' },
    ],
  },
  shm_release: {
    doc: 'The client freed a region: the daemon unregisters and unmaps it.',
    fields: [{ name: 'region', type: 'u32', max: 2147483647, doc: 'the region\'s id' }],
  },
  shm_copy: {
    doc: 'A host-to-device or device-to-host copy whose host side is (region, offset, bytes) of a shared region: no bytes travel.',
    fields: [
      { name: 'kind', type: 'u32', max: 1, doc: '0 host-to-device, 1 device-to-host' },
      ...shmCopyMode,
      { name: 'device', type: 'u64', doc: 'the device pointer' },
      { name: 'region', type: 'u32', max: 2147483647, doc: 'the region\'s id' },
      { name: 'offset', type: 'u64', doc: 'where the host side starts in the region' },
      { name: 'bytes', type: 'u64', doc: 'ByteCount' },
      { name: 'signal', type: 'u64', doc: '0: none; else 1 + the offset in the region of an aligned 32-bit word the daemon sets to signal_value (and wakes) once the copy is done with the host side' },
      { name: 'signal_value', type: 'u32', doc: 'the value' },
    ],
  },
  shm_copy_3d: {
    doc: 'A box copy (cuMemcpy3D*, cuMemcpy2D*) between device memory or an array and a box of a shared region: no bytes travel. The host side\'s own fields are zeros; offset, host_pitch and host_height place its box in the region, which the daemon checks holds every row.',
    fields: [
      { ...copy3dHead[0]!, max: 1, doc: '0 to the card, 1 to the host' },
      ...copy3dHead.slice(1),
      ...shmCopyMode,
      { name: 'region', type: 'u32', max: 2147483647, doc: 'the region\'s id' },
      { name: 'offset', type: 'u64', doc: 'where the host box\'s first byte lies in the region' },
      { name: 'host_pitch', type: 'u64', doc: 'the host rows\' pitch in the region' },
      { name: 'host_height', type: 'u64', doc: 'the host planes\' height in rows' },
      { name: 'signal', type: 'u64', doc: 'as shm_copy\'s' },
      { name: 'signal_value', type: 'u32', doc: 'the value' },
    ],
  },
  shm_ring: {
    doc: 'The call ring of a local session (docs/protocol.md, "The call ring"): a memfd passed like a region, holding a request and a reply ring; once answered with success, messages go through it.',
    fields: [{ name: 'bytes', type: 'u64', doc: 'its size: a 4096-byte header and two rings of a power of two bytes each, from 64 KiB to 64 MiB' }],
  },
  graph_nodes: {
    doc: 'The nodes of a job\'s graph that lives on the daemon (it has conditionals), added to its twin there at its first instantiation.',
    fields: [{ name: 'graph', type: 'handle', doc: 'the twin graph' }],
    trailing:
      'its nodes, an array of at most 4096 flat records [graph, type, ndeps, ndeps indices of earlier nodes of that graph, then by type: ' +
      'kernel fn, gridX, gridY, gridZ, blockX, blockY, blockZ, shared, params bin; memset dst, pitch, value, elementSize, width, height; ' +
      'memcpy (device to device) dst, src, bytes; empty nothing; conditional handle, type, size]. Graph 0 is the twin; each conditional\'s ' +
      'bodies take the next graph numbers, and a graph\'s records come after the conditional that made it',
    trailingLeast: [[]],
  },
} as const satisfies Record<string, Frame>;

export type FrameName = keyof typeof frames;

/**
 * The ops of gpupool's own frames, which carry no CUDA call: the shared memory of jobs on the daemon's
 * host (docs/protocol.md, "Shared memory"). Far above the table's op numbers, so the two never meet.
 */
export const sharedMemoryOps = { shm_region: 0xfff00001, shm_release: 0xfff00002, shm_copy: 0xfff00003, shm_ring: 0xfff00004, shm_copy_3d: 0xfff00005 } as const satisfies Partial<Record<FrameName, number>>;

// ---- the handshake (docs/protocol.md, "Handshake"): msgpack maps, keyed by name --------------------

/** A value of a handshake map. A key of another type than its own is read as absent by the client library. */
export type KeyType =
  | 'uint'
  | 'int'
  | 'float'
  | 'bool'
  | 'str'
  | 'bin'
  /** Another map of this table. */
  | { map: HandshakeMapName }
  /** An array of maps of this table. */
  | { arrayOf: HandshakeMapName }
  /** An array of unsigned integers. */
  | { arrayOf: 'uint' }
  /** An array of [int, int] pairs (device attributes). */
  | { arrayOf: 'pairs' };

export interface Key {
  key: string;
  type: KeyType;
  doc: string;
  /** nil is a value of its own: the key given as "not set" (the daemon's default). */
  nil?: true;
  /** uint, int, float: the least and largest value; an array: its least and most items; str: its least and most bytes. */
  min?: number;
  max?: number;
  /** uint, int: the least and largest value of each item of an array of uint. */
  itemMax?: number;
  /** bin: its exact length; str: the most bytes the client library keeps (longer is cut). */
  bytes?: number;
  /** str: the only values it may take. */
  oneOf?: readonly string[];
  /** A str the key may hold instead of its type (gpus: "all"). */
  orStr?: string;
}

export interface HandshakeMap {
  doc: string;
  /** Who writes it: the client library encodes the client's maps and decodes the daemon's. */
  from: 'client' | 'daemon';
  keys: readonly Key[];
}

/** The workload's names (docs/kubernetes.md, docs/slurm.md): each 1-128 letters, digits, '.', '_', '-', '@'. */
const workloadKey = <K extends string>(key: K) => ({ key, type: 'str', nil: true, min: 1, max: 128, doc: `the workload's ${key}` }) as const;

export const handshake = {
  hello: {
    doc: 'HELLO: the client\'s first message.',
    from: 'client',
    keys: [
      { key: 'notices', type: 'bool', doc: 'the client takes handshake notices before WELCOME or a refusal\'s close' },
      { key: 'protocol', type: 'uint', doc: 'the protocol major version (1)' },
      { key: 'digest', type: 'str', doc: 'the op table\'s digest (GP_PROTOCOL_DIGEST)' },
      { key: 'cuda', type: 'uint', min: 0, max: 1_000_000, doc: 'the CUDA version the client library implements' },
      { key: 'token', type: 'str', nil: true, doc: 'the tenant\'s bearer token' },
      { key: 'pid', type: 'uint', min: 1, max: 2 ** 31 - 1, doc: 'the client\'s process id' },
      { key: 'host', type: 'str', doc: 'the client\'s host name (cut to 256 bytes and escaped by the daemon)' },
      { key: 'program', type: 'str', doc: 'the client\'s program (cut to 256 bytes and escaped by the daemon)' },
      { key: 'request', type: { map: 'request' }, nil: true, doc: 'what the job asks for; absent: the defaults' },
    ],
  },
  request: {
    doc: 'HELLO\'s request (GPUPOOL_REQUEST, docs/operations.md "The job\'s request"); keys a daemon does not know are ignored.',
    from: 'client',
    keys: [
      { key: 'cards', type: { arrayOf: 'uint' }, nil: true, min: 1, max: 64, itemMax: 255, doc: 'the only cards (CUDA ordinals) the session may be given' },
      workloadKey('namespace'),
      workloadKey('pod'),
      workloadKey('container'),
      workloadKey('job'),
      workloadKey('user'),
      { key: 'limit', type: 'bool', nil: true, doc: 'the share is also a cap' },
      { key: 'mem', type: 'uint', nil: true, min: 1, doc: 'device memory per card in bytes; nil: the daemon\'s default quota' },
      { key: 'share', type: 'float', nil: true, min: 0.01, max: 1, doc: 'the share of each card' },
      { key: 'priority', type: 'str', nil: true, bytes: 32, doc: 'high, normal or low, optionally :0-:9' },
      { key: 'gpus', type: 'uint', nil: true, min: 1, max: 256, orStr: 'all', doc: 'cards wanted from this daemon; nil: 1' },
      { key: 'policy', type: 'str', nil: true, oneOf: ['binpack', 'spread'], doc: 'placement; nil: the daemon\'s sharing.placement' },
      { key: 'wait', type: 'uint', nil: true, min: 0, max: 86_400, doc: 'seconds the daemon may hold the handshake until cards have room' },
    ],
  },
  welcome: {
    doc: 'WELCOME: the daemon\'s answer to an accepted HELLO.',
    from: 'daemon',
    keys: [
      { key: 'protocol', type: 'uint', doc: 'as HELLO\'s' },
      { key: 'digest', type: 'str', doc: 'as HELLO\'s' },
      { key: 'session', type: 'uint', doc: 'the session id (logs, status)' },
      { key: 'driverVersion', type: 'int', doc: 'cuDriverGetVersion of the daemon\'s driver' },
      { key: 'devices', type: { arrayOf: 'device' }, doc: 'the cards placement gave the session, in ordinal order' },
    ],
  },
  device: {
    doc: 'One of WELCOME\'s devices.',
    from: 'daemon',
    keys: [
      { key: 'ordinal', type: 'int', doc: 'the card\'s CUDA ordinal on the daemon: what a CUdevice argument carries' },
      { key: 'name', type: 'str', bytes: 256, doc: 'the card\'s name' },
      { key: 'uuid', type: 'bin', bytes: 16, doc: 'the card\'s UUID' },
      { key: 'pciDomain', type: 'int', doc: 'PCI domain' },
      { key: 'pciBus', type: 'int', doc: 'PCI bus' },
      { key: 'pciDevice', type: 'int', doc: 'PCI device' },
      { key: 'totalMem', type: 'uint', doc: 'the session\'s memory quota on the card, not its size' },
      { key: 'attributes', type: { arrayOf: 'pairs' }, doc: '[CUdevice_attribute, value] pairs, every one the driver answers' },
    ],
  },
  notice: {
    doc: 'A handshake notice, before WELCOME or a refusal\'s close, to a client that asked (HELLO\'s notices).',
    from: 'daemon',
    keys: [
      { key: 'notice', type: 'str', bytes: 16, oneOf: ['waiting', 'refused'], doc: 'its kind; a client skips one it does not know' },
      { key: 'reason', type: 'str', bytes: 2048, doc: 'the whole reason, with units' },
      { key: 'waited', type: 'uint', doc: 'waiting: seconds held so far' },
      { key: 'wait', type: 'uint', doc: 'waiting: the request\'s wait' },
      { key: 'code', type: 'uint', doc: 'refused: the close code that follows (4004)' },
    ],
  },
} as const satisfies Record<string, HandshakeMap>;

export type HandshakeMapName = 'hello' | 'request' | 'welcome' | 'device' | 'notice';

/** A key of a handshake map, by map and key name: its bounds are what both ends check. */
export function handshakeKey(map: HandshakeMapName, key: string): Key {
  const found = (handshake[map].keys as readonly Key[]).find((k) => k.key === key);
  if (!found) throw new Error(`${map} has no key ${key}`);
  return found;
}

/** Who sends a control message of a session worker. */
export type WorkerControlSender = 'daemon' | 'worker';

export interface WorkerControlMessage {
  /** Its type byte. */
  code: number;
  from: WorkerControlSender;
  /** Its payload. */
  doc: string;
}

/**
 * The control channel between the daemon and one session worker (docs/architecture.md, "Sessions in
 * worker processes"): a stream socket (the worker's fd 3) of frames [u32 length, little-endian][u8
 * type][u32 session, little-endian][payload], the length counting the type, the session and the
 * payload. The session is the daemon's number for one of the worker's sessions (a worker of a tenant,
 * `compute.workerScope: "tenant"`, runs several); 0 is the process itself (INIT, READY, a failed start).
 * Both ends are built from one tree, so
 * the handshake's digest does not cover it. src/protocol/gen/frames.ts generates the C constants
 * (build/gen/gp_worker_control.h, which native/worker/control.h uses); src/compute/worker-channel.ts
 * reads this table. A message an end does not know is ignored.
 */
export const workerControl = {
  headBytes: 9,
  /** The largest length a frame may state: a message of the client's (at most compute.maxMessageBytes, 2 GiB). */
  maxFrame: 2 ** 31,
  messages: {
    INIT: { code: 1, from: 'daemon', doc: "JSON: the daemon's settings {driver, scheduler, heartbeatMs, cardStateFd, schedOwner}; READY once the driver is open" },
    SUBMIT: { code: 2, from: 'daemon', doc: 'one client message (call frames)' },
    CLOSE: { code: 3, from: 'daemon', doc: 'stop after the current message' },
    CLOSE_CONNECTION: { code: 4, from: 'daemon', doc: 'JSON {code, reason}: a close frame to the attached connection' },
    TERMINATE: { code: 5, from: 'daemon', doc: 'cut the attached connection and stop' },
    PING: { code: 6, from: 'daemon', doc: 'a ping to the attached connection' },
    SCHEDULE: { code: 7, from: 'daemon', doc: 'JSON {share, limit, priority, paused}' },
    POISON: { code: 8, from: 'daemon', doc: 'JSON {ordinal, code}' },
    ATTACH: { code: 9, from: 'daemon', doc: 'JSON {maxMessageBytes, maxQueuedBytes}, NUL, then the bytes already read; the socket was passed on fd 4 (SCM_RIGHTS) just before' },
    START: { code: 10, from: 'daemon', doc: "JSON: the session's own {quota, share, limit, priority, paused}; a pooled worker waits for it; a tenant's worker takes one per session" },
    STATS_NOW: { code: 11, from: 'daemon', doc: 'status is being read: a STATS now, not at the next beat' },
    READY: { code: 100, from: 'worker', doc: 'the driver is open: calls may run' },
    OUTPUT: { code: 101, from: 'worker', doc: 'replies (the submit path)' },
    RELEASED: { code: 102, from: 'worker', doc: 'u64, little-endian: backlog cost of submitted messages now run' },
    REFUSAL: { code: 103, from: 'worker', doc: "JSON: the session's first bounds-check refusal" },
    STATS: { code: 104, from: 'worker', doc: "JSON: the session's stats and the connection's figures; also the heartbeat" },
    CLOSED: { code: 105, from: 'worker', doc: "JSON {reason, code}: the session's end (session 0: the worker could not start); the worker exits once the daemon ends the channel" },
  },
} as const satisfies { headBytes: number; maxFrame: number; messages: Record<string, WorkerControlMessage> };

export type WorkerControlName = keyof typeof workerControl.messages;
