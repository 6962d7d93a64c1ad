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
    doc: 'cuLaunchKernel: the parameters packed as the ABI lays them out (cuKernelGetParamInfo).',
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
} as const satisfies Record<string, Frame>;

export type FrameName = keyof typeof frames;
