import { frame, helloMessage, pack, wide, type OpEntry, type OpTable } from '../client.js';
import type { ArgumentFrame } from '../cuda-api.js';
import { binLength, frameFields, frameValues, type FieldValue } from '../frame-codec.js';

/**
 * Seeded generators of bad compute-protocol traffic (docs/protocol.md), for the fuzz test
 * (test/compute/fuzz.test.ts) and bench/fuzz.js. A case is a few messages and what the daemon must do
 * with them: close the connection with a protocol error, or answer (a call refused with a CUDA error
 * is an answer), or either. The same seed gives the same cases byte for byte.
 */

/** A deterministic generator (mulberry32): a failure reproduces from its seed. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let x = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

export type Expect = 'close' | 'answer' | 'any';

export interface FuzzCase {
  kind: string;
  /** before: the messages take HELLO's place; after: they follow a valid handshake. */
  phase: 'before' | 'after';
  /** Sent in order; a string goes as a text message. */
  messages: (Buffer | string)[];
  expect: Expect;
  /** Call frames (or attempts at one) the messages hold, each drawn on its own; 1 when absent. */
  frames?: number;
  /** Further copies of frames already counted (a flood that repeats one frame). */
  repeats?: number;
}

/** What the cases may point at: the worker's own session (after HELLO). */
export interface Target {
  /** The id of a context the session retained. */
  ctx: number;
  /** An allocation of the session, and its size. */
  buffer: number;
  bufferBytes: number;
}

/** Close codes a case may end with: protocol errors (4001, 4002), too big (1009), not UTF-8 (1007). */
export const ALLOWED_CLOSE_CODES = [4001, 4002, 1007, 1009];

/** Wire kinds (ops.json `params[].wire`) and the msgpack types the daemon accepts for each. */
const INTEGER_KINDS = new Set(['int', 'uint', 'device', 'dptr', 'handle']);
const OUT_KINDS = new Set(['out', 'outHandle', 'outBuf', 'outString']);

// ---- values ------------------------------------------------------------------------------------------

/** Integers at the edges the daemon must cope with. */
function edgeInteger(rng: Rng): number | bigint {
  return rng.pick<number | bigint>([0, 1, 2, 3, 15, 16, 17, 255, 256, 65535, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 47, 2 ** 47 + 1, 2n ** 63n - 1n, 2n ** 64n - 1n, rng.int(1 << 30)]);
}

/** A pointer-ish value: the worker's buffer and around it, or anywhere. */
function pointer(rng: Rng, t: Target): number | bigint {
  const base = t.buffer;
  return rng.pick<number | bigint>([0, base, base + rng.int(t.bufferBytes), base + t.bufferBytes, base - 1, base + t.bufferBytes * 2, rng.int(2 ** 47), 2n ** 64n - 1n, 2n ** 63n]);
}

/** A handle-ish id: NULL, the special streams, ids the session may or may not have been given. */
function handleId(rng: Rng, t: Target): number | bigint {
  return rng.pick<number | bigint>([0, 1, 2, 3, 15, 16, 17, 18, 20, 64, t.ctx, 2 ** 47 + 1, 2 ** 47 + 255, rng.int(2 ** 32), 2n ** 64n - 1n]);
}

/** A byte count: small, the buffer's, past it, or absurd. */
function size(rng: Rng, t: Target): number | bigint {
  return rng.pick<number | bigint>([0, 1, 4, 16, rng.int(t.bufferBytes), t.bufferBytes, t.bufferBytes + 1, 2 ** 31, 2 ** 32 + 1, 2n ** 62n, 2n ** 64n - 1n]);
}

/** Any msgpack value, nested a little. */
export function anyValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth < 2 ? 11 : 9)) {
    case 0:
      return null;
    case 1:
      return rng.int(2) === 1;
    case 2:
      return edgeInteger(rng);
    case 3:
      return -rng.int(2 ** 31) - 1;
    case 4:
      return rng.next() * 1e6;
    case 5:
      return rng.bytes(rng.int(64)).toString('latin1');
    case 6:
      return rng.bytes(rng.int(64));
    case 7:
      return 'x'.repeat(rng.int(300));
    case 8:
      return Buffer.alloc(rng.int(300));
    case 9:
      return Array.from({ length: rng.int(5) }, () => anyValue(rng, depth + 1));
    default:
      return { [rng.pick(['a', 'op', 'seq'])]: anyValue(rng, depth + 1) };
  }
}

/** A value of the right type for a parameter's wire kind. */
function typedValue(rng: Rng, kind: string, name: string, t: Target): unknown {
  switch (kind) {
    case 'dptr':
      return pointer(rng, t);
    case 'handle':
      return handleId(rng, t);
    case 'device':
      return rng.pick([0, 1, 2, 7, -1, 2 ** 31 - 1]);
    case 'int': {
      // Signed: anything past 2^63 - 1 is a protocol error, not a value.
      const v = edgeInteger(rng);
      return rng.int(3) === 0 ? -rng.int(1 << 20) : typeof v === 'bigint' && v > 2n ** 63n - 1n ? 2n ** 63n - 1n : v;
    }
    case 'uint':
      return /Count|^N$|Width|Height|Pitch|size|bytes/i.test(name) ? size(rng, t) : edgeInteger(rng);
    case 'float':
      return rng.pick([0, 1.5, -1, 1e300, Number.NaN]);
    case 'inBuf':
      return rng.bytes(rng.int(64));
    case 'string':
      return rng.pick(['', 'kernel', '_Z4vaddPKfS0_Pfi', 'x'.repeat(rng.int(2000)), 'a\u0000b']);
    default:
      return rng.int(2) === 1; // out-parameters: whether the caller passed a pointer
  }
}

/** A value of a type the daemon refuses for a parameter of this kind. */
function wrongValue(rng: Rng, kind: string): unknown {
  if (INTEGER_KINDS.has(kind)) return rng.pick<unknown>([null, true, 'str', Buffer.alloc(2), [1], { a: 1 }, 1.5, ...(kind === 'uint' || kind === 'dptr' || kind === 'handle' ? [-1, -(2 ** 40)] : [])]);
  if (kind === 'float') return rng.pick<unknown>([null, true, 'str', Buffer.alloc(2), [1]]);
  if (kind === 'inBuf') return rng.pick<unknown>([null, 7, 'str', [1]]);
  if (kind === 'string') return rng.pick<unknown>([null, 7, Buffer.from('abc'), [1]]);
  return rng.pick<unknown>([null, 0, 1, 'yes', Buffer.alloc(1)]); // out-parameters are bools
}

// ---- raw msgpack the encoder would never write -------------------------------------------------------

function be32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** A container or string header that claims far more than follows. */
function hugeHeader(rng: Rng): Buffer {
  const n = rng.pick([0xffffffff, 0x7fffffff, 0x10000000, 0x00ffffff]);
  const tag = rng.pick([0xdd /* array32 */, 0xdf /* map32 */, 0xc6 /* bin32 */, 0xdb /* str32 */, 0xc9 /* ext32 */]);
  return Buffer.concat([Buffer.from([tag]), be32(n), rng.bytes(rng.int(16))]);
}

// ---- the cases ---------------------------------------------------------------------------------------

type Generator = (rng: Rng, ops: OpTable, t: Target) => FuzzCase;

const standardOps = (ops: OpTable): OpEntry[] => ops.ops.filter((o) => !o.customWire);
const customOps = (ops: OpTable): OpEntry[] => ops.ops.filter((o) => o.customWire);

function typedArgs(rng: Rng, op: OpEntry, t: Target): unknown[] {
  return op.params.map((p) => typedValue(rng, p.wire, p.name, t));
}

/** Values for every field of a frames.ts frame, each of its type and within its bounds (a bin of its stated length). */
function typedFrame(rng: Rng, name: ArgumentFrame, t: Target): Record<string, FieldValue> {
  const values: Record<string, FieldValue> = {};
  for (const f of frameFields(name)) {
    const one = (): number | bigint =>
      f.type === 'handle' ? handleId(rng, t) : f.max !== undefined ? rng.int(f.max + 1) : f.type === 'u32' ? rng.pick([0, 1, 32, 1024]) : ['dst', 'src'].includes(f.name) || f.name.endsWith('_device') ? pointer(rng, t) : rng.int(64);
    if (f.count !== undefined) values[f.name] = Array.from({ length: f.count }, one) as number[];
    else if (f.type === 'pairs') values[f.name] = Array.from({ length: rng.int(3) }, () => [rng.pick([0, 2, 4, 5, 99]), rng.bytes(f.bytes as number)] as const);
    else if (f.type === 'bin') values[f.name] = rng.bytes(binLength(f, values) ?? rng.int(128));
    else values[f.name] = one();
  }
  return values;
}

function validHello(ops: OpTable): Buffer {
  return helloMessage({ digest: ops.digest, program: 'fuzz' });
}

/** Cases in HELLO's place: each must close the connection. */
const BEFORE: Record<string, Generator> = {
  'hello: random bytes': (rng) => ({ kind: '', phase: 'before', messages: [rng.bytes(rng.int(300))], expect: 'close' }),
  'hello: a call frame': (rng, ops, t) => {
    const op = rng.pick(standardOps(ops));
    return { kind: '', phase: 'before', messages: [frame(op.code, 1, 0, typedArgs(rng, op, t))], expect: 'close' };
  },
  'hello: truncated': (rng, ops) => {
    const h = validHello(ops);
    return { kind: '', phase: 'before', messages: [h.subarray(0, 1 + rng.int(h.length - 1))], expect: 'close' };
  },
  'hello: wrong types': (rng, ops) => {
    const field = rng.pick(['protocol', 'digest', 'request', 'request.mem', 'request.share', 'request.priority', 'whole']);
    const bad = anyValue(rng);
    const hello: Record<string, unknown> = { protocol: 1, digest: ops.digest, cuda: 13000, token: null, pid: 1, host: 'fuzz', program: 'fuzz' };
    if (field === 'whole') return { kind: '', phase: 'before', messages: [pack(rng.pick<unknown>([[1, ops.digest], 7, null, 'hello', Buffer.alloc(4)]))], expect: 'close' };
    if (field.startsWith('request.')) {
      const key = field.slice('request.'.length);
      hello.request = { [key]: key === 'mem' ? rng.pick<unknown>([-1, 0, 'lots', 1.5, true]) : key === 'share' ? rng.pick<unknown>([0, 2, -1, 'half']) : rng.pick<unknown>(['HIGH', 7, 'a'.repeat(40), '']) };
    } else {
      hello[field] = field === 'request' ? rng.pick<unknown>([[1], 'x', 7, true]) : typeof bad === (field === 'protocol' ? 'number' : 'string') ? null : bad;
    }
    return { kind: '', phase: 'before', messages: [pack(hello)], expect: 'close' };
  },
  'hello: huge declared lengths': (rng) => ({ kind: '', phase: 'before', messages: [hugeHeader(rng)], expect: 'close' }),
  'hello: deep nesting': (rng) => ({ kind: '', phase: 'before', messages: [Buffer.concat([Buffer.alloc(1000 + rng.int(100000), 0x91), Buffer.from([1])])], expect: 'close' }),
  'hello: a text message': (rng) => ({ kind: '', phase: 'before', messages: [rng.pick(['hello', '{"protocol":1}', '\u0093\u0001'])], expect: 'close' }),
};

/** Cases after a valid HELLO that break the protocol: each must close the connection (4002). */
const BREAKING: Record<string, Generator> = {
  'unknown op': (rng) => ({ kind: '', phase: 'after', messages: [pack([rng.pick<number | bigint>([0, 100000, 2 ** 32, 2n ** 64n - 1n, -1]), 1, 0])], expect: 'close' }),
  'wrong argument type': (rng, ops, t) => {
    const op = rng.pick(standardOps(ops).filter((o) => o.params.length > 0));
    const args = typedArgs(rng, op, t);
    const i = rng.int(args.length);
    args[i] = wrongValue(rng, op.params[i]!.wire);
    return { kind: '', phase: 'after', messages: [frame(op.code, rng.int(3), t.ctx, args)], expect: 'close' };
  },
  'missing argument': (rng, ops, t) => {
    const op = rng.pick(standardOps(ops).filter((o) => o.params.length > 0));
    return { kind: '', phase: 'after', messages: [frame(op.code, 1, t.ctx, typedArgs(rng, op, t).slice(0, -1))], expect: 'close' };
  },
  'extra argument': (rng, ops, t) => {
    const op = rng.pick(standardOps(ops));
    return { kind: '', phase: 'after', messages: [frame(op.code, 1, t.ctx, [...typedArgs(rng, op, t), anyValue(rng)])], expect: 'close' };
  },
  'truncated frame': (rng, ops, t) => {
    const op = rng.pick(standardOps(ops));
    const f = frame(op.code, 1, t.ctx, typedArgs(rng, op, t));
    return { kind: '', phase: 'after', messages: [f.subarray(0, 1 + rng.int(f.length - 1))], expect: 'close' };
  },
  'huge declared length': (rng, ops, t) => {
    const op = rng.pick(standardOps(ops));
    const head = frame(op.code, 1, t.ctx, typedArgs(rng, op, t).slice(0, rng.int(op.params.length + 1)));
    return { kind: '', phase: 'after', messages: [rng.int(2) ? hugeHeader(rng) : Buffer.concat([head, hugeHeader(rng)])], expect: 'close' };
  },
  // msgpuck's own mp_check wraps such counts: a frame it passes would then run past its end.
  'a count that wraps 32 bits': (rng, ops, t) => {
    const op = rng.pick(standardOps(ops));
    const wrap = Buffer.concat([Buffer.from([rng.pick([0xdd, 0xdf])]), be32(rng.pick([0xffffffff, 0xfffffffc, 0x80000000, 0x80000001])), rng.bytes(rng.int(8))]);
    const head = Buffer.from([0x90 + Math.min(15, 3 + op.params.length), op.code < 128 ? op.code : 0, 1, 0]);
    return { kind: '', phase: 'after', messages: [Buffer.concat([head, wrap, rng.bytes(rng.int(300))])], expect: 'close' };
  },
  'not a call frame': (rng, ops) => ({ kind: '', phase: 'after', messages: [pack(rng.pick<unknown>([[], [1], [1, 2], { op: 1 }, 7, null, 'frame', Buffer.alloc(3), validHello(ops)]))], expect: 'close' }),
  'hand-encoded call past a bound of frames.ts': (rng, ops, t) => {
    const op = rng.pick(customOps(ops).filter((o) => frameFields(o.frame!).some((f) => f.max !== undefined || f.bytes !== undefined)));
    const values = typedFrame(rng, op.frame!, t);
    const bounded = frameFields(op.frame!).filter((f) => (f.max !== undefined || f.bytes !== undefined) && (!f.when || values[f.when.field] === f.when.equals));
    const f = rng.pick(bounded);
    if (f.type === 'pairs') {
      const n = rng.int(2) ? f.max! + 1 + rng.int(3) : 1;
      const bytes = n > f.max! ? (f.bytes as number) : (f.bytes as number) + rng.pick([-1, 1, 64]);
      values[f.name] = Array.from({ length: n }, () => [rng.int(20), rng.bytes(bytes)] as const);
    } else if (f.type === 'bin') {
      const right = binLength(f, values) ?? 0;
      values[f.name] = rng.bytes(right + (right > 0 && rng.int(2) ? -1 : rng.pick([1, 7])));
    } else {
      values[f.name] = f.max! + 1 + rng.int(100);
    }
    return { kind: '', phase: 'after', messages: [frame(op.code, 1, t.ctx, frameValues(op.frame!, values))], expect: 'close' };
  },
  'HELLO again': (_rng, ops) => ({ kind: '', phase: 'after', messages: [validHello(ops)], expect: 'close' }),
  'a good frame, then garbage': (rng, ops, t) => ({
    kind: '',
    phase: 'after',
    messages: [Buffer.concat([frame(ops.code('cuCtxSynchronize_v2000'), 0, t.ctx, []), Buffer.from([0xc1]), rng.bytes(rng.int(32))])],
    expect: 'close',
  }),
};

/** Cases after a valid HELLO that are well-formed: the daemon answers (an error is an answer), or may close. */
const WELL_FORMED: Record<string, Generator> = {
  'random bytes': (rng) => ({ kind: '', phase: 'after', messages: [rng.bytes(1 + rng.int(300))], expect: 'any' }),
  'typed random call': (rng, ops, t) => {
    const op = rng.pick(standardOps(ops));
    // A string with a NUL, or a buffer of a size the call does not say, is a protocol error.
    return { kind: '', phase: 'after', messages: [frame(op.code, rng.int(4), t.ctx, typedArgs(rng, op, t))], expect: 'any' };
  },
  'forged handles': (rng, ops, t) => {
    const op = rng.pick(standardOps(ops).filter((o) => o.params.some((p) => p.wire === 'handle') && o.params.every((p) => ['handle', 'int', 'uint', 'device', 'dptr', 'float', 'out', 'outHandle'].includes(p.wire))));
    const args = op.params.map((p) => (p.wire === 'handle' ? handleId(rng, t) : OUT_KINDS.has(p.wire) ? true : typedValue(rng, p.wire, p.name, t)));
    return { kind: '', phase: 'after', messages: [frame(op.code, 1, t.ctx, args)], expect: 'answer' };
  },
  'contexts never given': (rng, ops) => ({ kind: '', phase: 'after', messages: [frame(ops.code('cuCtxSynchronize_v2000'), 1, rng.pick([3, 17, 2 ** 47 + 9, 2 ** 46]), [])], expect: 'answer' }),
  'wild device pointers': (rng, ops, t) => {
    const op = rng.pick(standardOps(ops).filter((o) => o.params.some((p) => p.wire === 'dptr') && !o.params.some((p) => p.wire === 'inBuf' || p.wire === 'string')));
    const args = op.params.map((p) => (p.wire === 'handle' ? rng.pick([0, 1]) : typedValue(rng, p.wire, p.name, t)));
    return { kind: '', phase: 'after', messages: [frame(op.code, rng.int(2), t.ctx, args)], expect: 'answer' };
  },
  'host-to-device out of bounds': (rng, ops, t) => {
    const n = rng.int(512);
    return { kind: '', phase: 'after', messages: [frame(ops.code('cuMemcpyHtoD_v3020'), 1, t.ctx, [pointer(rng, t), rng.bytes(n), n])], expect: 'answer' };
  },
  'sequence numbers out of order': (rng, ops, t) => {
    const sync = ops.code('cuCtxSynchronize_v2000');
    const seqs = [7, 7, 2n ** 64n - 1n, 3, 1, 0, 2n ** 63n];
    return { kind: '', phase: 'after', messages: [Buffer.concat(Array.from({ length: 1 + rng.int(6) }, () => pack([sync, rng.pick(seqs), wide(t.ctx)])))], expect: 'answer' };
  },
  'hand-encoded call, random arguments': (rng, ops, t) => {
    const op = rng.pick(customOps(ops));
    const args = Array.from({ length: rng.int(14) }, () => (rng.int(3) ? typedValue(rng, rng.pick(['uint', 'dptr', 'handle']), 'n', t) : anyValue(rng)));
    return { kind: '', phase: 'after', messages: [frame(op.code, rng.int(3), t.ctx, args)], expect: 'any' };
  },
  'hand-encoded call, typed from frames.ts': (rng, ops, t) => {
    const op = rng.pick(customOps(ops));
    return { kind: '', phase: 'after', messages: [frame(op.code, 1, t.ctx, frameValues(op.frame!, typedFrame(rng, op.frame!, t)))], expect: 'answer' };
  },
  'module image': (rng, ops, t) => {
    const magic = rng.pick([Buffer.from([0x50, 0xed, 0x55, 0xba, 1, 0, 16, 0]), Buffer.from('\x7fELF\x02\x01\x01\x00', 'latin1'), Buffer.from('.version 8.0\n.target sm_90\n'), Buffer.from([0xb1, 0x43, 0x62, 0x46]), Buffer.alloc(0)]);
    const image = Buffer.concat([magic, rng.bytes(rng.int(2048))]);
    const op = rng.pick(['cuModuleLoadData_v2000', 'cuModuleLoadFatBinary_v2000', 'cuLibraryLoadData_v12000', 'cuModuleLoadDataEx_v2010']);
    return { kind: '', phase: 'after', messages: [frame(ops.code(op), 1, t.ctx, [image])], expect: 'answer' };
  },
  'kernel launch, forged': (rng, ops, t) => {
    const args = [handleId(rng, t), 1 + rng.int(4), 1, 1, rng.pick([1, 32, 1024, 4096]), 1, 1, rng.pick([0, 48 * 1024, 2 ** 31]), rng.pick([0, 1, 2, 99]), rng.bytes(rng.int(64))];
    return { kind: '', phase: 'after', messages: [frame(ops.code(rng.pick(['cuLaunchKernel_v4000', 'cuLaunchKernel_v7000_ptsz'])), rng.int(2), t.ctx, args)], expect: 'answer' };
  },
};

/**
 * A fire-and-forget frame of fuzzed values that is still well-formed (no reply; its error, if any,
 * is the session's deferred error): memsets at wild pointers, records and waits on forged events and
 * streams, forged launches, host-to-device copies anywhere.
 */
function asyncFrame(rng: Rng, ops: OpTable, t: Target): Buffer {
  switch (rng.int(5)) {
    case 0:
      return frame(ops.code(rng.pick(['cuMemsetD8Async_v3020', 'cuMemsetD16Async_v3020', 'cuMemsetD32Async_v7000_ptsz'])), 0, t.ctx, [pointer(rng, t), rng.int(256), size(rng, t), rng.pick([0, 1, 2])]);
    case 1:
      return frame(ops.code('cuEventRecord_v2000'), 0, t.ctx, [handleId(rng, t), handleId(rng, t)]);
    case 2:
      return frame(ops.code('cuStreamWaitEvent_v3020'), 0, t.ctx, [handleId(rng, t), handleId(rng, t), rng.int(2)]);
    case 3:
      return frame(ops.code('cuLaunchKernel_v4000'), 0, t.ctx, [handleId(rng, t), 1, 1, 1, 1 + rng.int(64), 1, 1, 0, rng.int(3), rng.bytes(rng.int(32))]);
    default: {
      const n = rng.int(64);
      return frame(ops.code('cuMemcpyHtoDAsync_v3020'), 0, t.ctx, [pointer(rng, t), rng.bytes(n), n, rng.int(3)]);
    }
  }
}

/**
 * Floods, drawn apart from the others (they cost seconds, not microseconds): many frames in one
 * message, or many messages sent without waiting. The daemon must keep up, or stop reading the
 * sender until it has (docs/protocol.md, "Limits"), and answer.
 */
const FLOODS: Record<string, (rng: Rng, ops: OpTable, t: Target, bytes: number) => FuzzCase> = {
  'flood: one message of many async frames': (rng, ops, t) => {
    const frames = Array.from({ length: 10000 + rng.int(40000) }, () => asyncFrame(rng, ops, t));
    return { kind: '', phase: 'after', messages: [Buffer.concat(frames)], expect: 'answer', frames: frames.length };
  },
  'flood: many messages': (rng, ops, t, bytes) => {
    // 64-byte memsets inside the worker's buffer: each frame is cheap to run, the bytes pile up.
    const memset = ops.code('cuMemsetD8Async_v3020');
    const one = frame(memset, 0, t.ctx, [t.buffer, 0, 64, 0]);
    const perMessage = Math.ceil((256 * 1024) / one.length);
    const message = Buffer.concat(Array.from({ length: perMessage }, () => one));
    const count = Math.ceil(bytes / message.length);
    return { kind: '', phase: 'after', messages: Array.from({ length: count }, () => message), expect: 'answer', frames: 1, repeats: count * perMessage - 1 };
  },
};

export const FLOOD_KINDS = Object.keys(FLOODS);

/** A flood case; `bytes`: about how much the many-messages flood sends. */
export function floodCase(rng: Rng, ops: OpTable, target: Target, bytes: number, kind = rng.pick(FLOOD_KINDS)): FuzzCase {
  return { ...FLOODS[kind]!(rng, ops, target, bytes), kind };
}

const kinds = (group: Record<string, Generator>): [string, Generator][] => Object.entries(group);
/** Every kind of case, with how often each is drawn (floods are expensive and draw rarely). */
const TABLE: { kind: string; weight: number; make: Generator }[] = [
  ...kinds(BEFORE).map(([kind, make]) => ({ kind, weight: 2, make })),
  ...kinds(BREAKING).map(([kind, make]) => ({ kind, weight: 3, make })),
  ...kinds(WELL_FORMED).map(([kind, make]) => ({ kind, weight: 6, make })),
];
const TOTAL_WEIGHT = TABLE.reduce((s, e) => s + e.weight, 0);

export const CASE_KINDS = TABLE.map((e) => e.kind);

/** The next case: a kind drawn by weight, then its bytes. */
export function nextCase(rng: Rng, ops: OpTable, target: Target): FuzzCase {
  let x = rng.next() * TOTAL_WEIGHT;
  const entry = TABLE.find((e) => (x -= e.weight) < 0) ?? TABLE[TABLE.length - 1]!;
  return { ...entry.make(rng, ops, target), kind: entry.kind };
}

/** A message larger than the daemon takes: it must close the connection (1009) and hold nothing. */
export function oversizedCase(maxMessageBytes: number): FuzzCase {
  return { kind: 'oversized message', phase: 'after', messages: [Buffer.alloc(maxMessageBytes + 1, 0x90)], expect: 'close' };
}
