import type { DriverDevice } from './native.js';
import { MAX_GPUS, MAX_WAIT_S, NO_REQUEST, type JobRequest } from '../sharing/quota.js';
import { POLICIES, SHARE_RANGE, validShare, type Policy } from '../sharing/placement.js';
import { parsePriority } from '../sharing/priority.js';
import { clientText } from './client-text.js';
import { parseWorkloadName, WORKLOAD_KEYS, WORKLOAD_MAX } from '../sharing/workload.js';
import { MAX_ORDINAL, MAX_REQUEST_CARDS } from '../sharing/request-text.js';
import { handshakeKey } from '../protocol/frames.js';
import { encodeHandshake, unpackHandshake, type HandshakeValue } from '../protocol/handshake-codec.js';

/** Protocol major version; the op table's digest pins the rest (docs/protocol.md). */
export const PROTOCOL_VERSION = 1;

/** WebSocket close codes of the compute endpoint. */
export const CloseCodes = {
  PROTOCOL_MISMATCH: 4001,
  PROTOCOL_ERROR: 4002,
  AUTH_REFUSED: 4003,
  NO_DEVICE: 4004,
  SHUTTING_DOWN: 4005,
  /** The worker process that ran the session exited, crashed or hung (config `compute.sessionProcess`). */
  SESSION_WORKER_FAILED: 4006,
  /** RFC 6455's: a message larger than the endpoint takes (docs/protocol.md, "Limits"). */
  MESSAGE_TOO_BIG: 1009,
} as const;

/** The most bytes a WebSocket close reason may hold (RFC 6455: 125 with the code). */
const MAX_REASON_BYTES = 123;

/**
 * A close reason that fits the frame: at most 123 bytes of UTF-8, cut after the last whole word that
 * fits and marked with an ellipsis, never inside a character. A reason that quotes what the client sent
 * may hold any character, and `ws` throws on a longer one. Clients that asked for notices get the whole
 * reason in a frame before the close (handshake-notices.ts).
 */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= MAX_REASON_BYTES) return text;
  const room = MAX_REASON_BYTES - Buffer.byteLength(ELLIPSIS);
  let cut = '';
  for (const ch of text) {
    if (Buffer.byteLength(cut + ch) > room) break;
    cut += ch;
  }
  // Back to the last space, unless that would throw away most of it (one very long word).
  const space = cut.lastIndexOf(' ');
  if (space >= cut.length / 2) cut = cut.slice(0, space);
  return `${cut.replace(/[\s,;:]+$/, '')}${ELLIPSIS}`;
}

const ELLIPSIS = '…';

export interface Hello {
  protocol: number;
  digest: string;
  cuda: number;
  token: string | null;
  pid: number;
  host: string;
  program: string;
  /** What the job asks for (docs/protocol.md); absent from old clients: the daemon's defaults. */
  request?: JobRequest;
  /** The client takes handshake notices (progress while held, a refusal's whole reason) before WELCOME or the close. */
  notices?: boolean;
}

export class HandshakeError extends Error {
  constructor(readonly closeCode: number, message: string) {
    super(message);
    this.name = 'HandshakeError';
  }
}

/** Decodes and checks HELLO; any deviation is a HandshakeError naming what was wrong. */
export function parseHello(message: Buffer, digest: string): Hello {
  let hello: Partial<Hello>;
  try {
    hello = unpackHandshake(message) as Partial<Hello>;
  } catch (err) {
    throw new HandshakeError(CloseCodes.PROTOCOL_ERROR, `HELLO is not msgpack: ${(err as Error).message}`);
  }
  if (typeof hello !== 'object' || hello === null || Array.isArray(hello)) throw new HandshakeError(CloseCodes.PROTOCOL_ERROR, 'HELLO is not a map');
  if (hello.protocol !== PROTOCOL_VERSION) {
    throw new HandshakeError(CloseCodes.PROTOCOL_MISMATCH, `protocol ${quoted(hello.protocol)} is not ${PROTOCOL_VERSION}`);
  }
  if (hello.digest !== digest) {
    throw new HandshakeError(CloseCodes.PROTOCOL_MISMATCH, `client built from op table ${quoted(hello.digest)}, daemon from ${digest}: use matching gpupool versions`);
  }
  return {
    request: parseRequest((hello as { request?: unknown }).request),
    protocol: hello.protocol,
    digest: hello.digest,
    cuda: wholeNumber(hello.cuda, 'cuda', 0, CUDA.min!, CUDA.max!),
    token: typeof hello.token === 'string' ? hello.token : null,
    pid: wholeNumber(hello.pid, 'pid', 0, PID.min!, PID.max!),
    // Bounded and escaped once, here: these reach logs, status, metrics and the CLI's tables.
    host: typeof hello.host === 'string' ? clientText(hello.host) : '',
    program: typeof hello.program === 'string' ? clientText(hello.program) : '',
    notices: hello.notices === true,
  };
}

/** The CUDA version numbers (major * 1000 + minor * 10) and process ids HELLO may carry (src/protocol/frames.ts). */
const CUDA = handshakeKey('hello', 'cuda');
const PID = handshakeKey('hello', 'pid');

/** A value the client sent, as a refusal quotes it: short and escaped, whatever it was. */
function quoted(value: unknown): string {
  return clientText(String(value), 64);
}

/** HELLO's `key`: absent or nil is `fallback`; otherwise a whole number from `min` to `max`, or a 4002. */
function wholeNumber(value: unknown, key: string, fallback: number, min: number, max: number): number {
  if (value === undefined || value === null) return fallback;
  const n = integer(value);
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new HandshakeError(CloseCodes.PROTOCOL_ERROR, `HELLO's ${key} ${quoted(n)} is not a whole number from ${min} to ${max}`);
  }
  return n;
}

/** A msgpack integer as a number (msgpackr may decode a wide one as a BigInt); anything else unchanged. */
function integer(v: unknown): unknown {
  return typeof v === 'bigint' ? Number(v) : v;
}

/**
 * HELLO's `request`: {mem: uint, share: float, priority: str, limit: bool, gpus: uint or "all", policy: str,
 * wait: uint, cards: [uint], and the workload keys namespace, pod, container, job, user: str}, each nil or absent when not
 * given; anything else is a 4002. Keys this daemon does not know
 * are ignored.
 */
function parseRequest(value: unknown): JobRequest {
  if (value === undefined || value === null) return { ...NO_REQUEST };
  const bad = (why: string) => new HandshakeError(CloseCodes.PROTOCOL_ERROR, `HELLO's request: ${why}`);
  if (typeof value !== 'object' || Array.isArray(value)) throw bad('not a map');
  const r = value as Record<string, unknown>;
  const given = (key: string) => r[key] !== undefined && r[key] !== null;
  const out: JobRequest = { ...NO_REQUEST };
  if (given('mem')) {
    const m = integer(r.mem);
    if (typeof m !== 'number' || !Number.isSafeInteger(m) || m <= 0) throw bad('mem must be a positive number of bytes');
    out.mem = m;
  }
  if (given('share')) {
    if (!validShare(r.share)) throw bad(`share must be ${SHARE_RANGE}`);
    out.share = r.share;
  }
  if (given('priority')) {
    if (typeof r.priority !== 'string' || parsePriority(r.priority) === null) throw bad('priority must be high, normal or low, optionally with a level 0-9 (high:5)');
    out.priority = r.priority;
  }
  if (given('limit')) {
    if (typeof r.limit !== 'boolean') throw bad('limit must be a boolean');
    out.limit = r.limit;
  }
  if (given('gpus')) {
    const g = integer(r.gpus);
    if (g !== 'all' && (typeof g !== 'number' || !Number.isInteger(g) || g < 1 || g > MAX_GPUS)) throw bad(`gpus must be a whole number from 1 to ${MAX_GPUS}, or "all"`);
    out.gpus = g as number | 'all';
  }
  if (given('policy')) {
    if (!(POLICIES as readonly unknown[]).includes(r.policy)) throw bad(`policy must be one of ${POLICIES.join(', ')}`);
    out.policy = r.policy as Policy;
  }
  if (given('wait')) {
    const w = integer(r.wait);
    if (typeof w !== 'number' || !Number.isInteger(w) || w < 0 || w > MAX_WAIT_S) throw bad(`wait must be a whole number of seconds from 0 to ${MAX_WAIT_S}`);
    out.wait = w;
  }
  if (given('cards')) {
    const list = Array.isArray(r.cards) ? r.cards.map(integer) : null;
    if (list === null || list.length === 0 || list.length > MAX_REQUEST_CARDS || !list.every((c) => typeof c === 'number' && Number.isInteger(c) && c >= 0 && c <= MAX_ORDINAL)) {
      throw bad(`cards must be 1 to ${MAX_REQUEST_CARDS} card ordinals from 0 to ${MAX_ORDINAL}`);
    }
    out.cards = list as number[];
  }
  for (const key of WORKLOAD_KEYS) {
    if (!given(key)) continue;
    const name = typeof r[key] === 'string' ? parseWorkloadName(r[key]) : null;
    if (name === null) throw bad(`${key} must be 1 to ${WORKLOAD_MAX} letters, digits, '.', '_', '-' or '@'`);
    out.workload = { ...out.workload, [key]: name };
  }
  return out;
}

/**
 * `devices`: the session's cards only, in ordinal order (the client numbers them 0..n-1 and sends each
 * call with the `ordinal` given here). `quota`: the session's quota per card, by ordinal: each
 * device's `totalMem` as the client sees it.
 */
export function encodeWelcome(session: number, digest: string, driverVersion: number, devices: DriverDevice[], quota?: number[]): Buffer {
  return encodeHandshake('welcome', {
    protocol: PROTOCOL_VERSION,
    digest,
    session,
    driverVersion,
    devices: devices.map((d) => ({
      ordinal: d.ordinal,
      name: d.name,
      uuid: d.uuid,
      pciDomain: d.pciDomain,
      pciBus: d.pciBus,
      pciDevice: d.pciDevice,
      // A BigInt travels as a msgpack integer; a number above 2^32 would go as a float.
      totalMem: BigInt(quota?.[d.ordinal] ?? d.totalMem),
      attributes: d.attributes,
    })),
  });
}

/** For tests and tools: the same encoder both ways. */
export function encodeHello(hello: Hello): Buffer {
  return encodeHandshake('hello', hello as HandshakeValue<'hello'>);
}
