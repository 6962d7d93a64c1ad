import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Packr, Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { packageRoot } from '../paths.js';
import type { ArgumentFrame } from './cuda-api.js';
import { decodeDaemonMessage, encodeHandshake, type HandshakeValue } from './handshake-codec.js';

/**
 * A small JavaScript client of the compute protocol (docs/protocol.md), for tests and tools (the
 * protocol fuzzer, bench/fuzz.js) that need to speak raw frames: the client library in native/shim is
 * the real client. It encodes what it is given, checks nothing, and reports how the daemon answered.
 */

/** One op of build/gen/ops.json: what the generator emitted for both ends. */
export interface OpEntry {
  code: number;
  id: string;
  name: string;
  mode: 'sync' | 'async' | 'deferred';
  customWire: boolean;
  /** A hand-encoded call's frame in src/protocol/frames.ts (null for the standard wire). */
  frame: ArgumentFrame | null;
  /** The standard wire's arguments in order (empty for a hand-encoded frame). */
  params: { name: string; wire: string }[];
}

export interface OpTable {
  digest: string;
  ops: OpEntry[];
  /** An op's number by its id (`cuMemAlloc_v3020`); throws for an id the table lacks. */
  code(id: string): number;
}

export function loadOpTable(path = join(packageRoot, 'build', 'gen', 'ops.json')): OpTable {
  const json = JSON.parse(readFileSync(path, 'utf8')) as { digest: string; ops: OpEntry[] };
  const codes = new Map(json.ops.map((o) => [o.id, o.code]));
  return {
    digest: json.digest,
    ops: json.ops,
    code(id: string): number {
      const c = codes.get(id);
      if (c === undefined) throw new Error(`no op ${id} in ops.json`);
      return c;
    },
  };
}

// Integers past 32 bits must travel as integers, never as doubles: BigInts do.
const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ int64AsType: 'number', mapsAsObjects: true, useRecords: false });

/** msgpackr writes integers past 32 bits as doubles; the protocol wants them as uint64. */
export function wide(v: unknown): unknown {
  return typeof v === 'number' && Number.isInteger(v) && (v > 0xffffffff || v < -0x80000000) ? BigInt(v) : v;
}

/** A call frame `[op, seq, ctx, args...]` (docs/protocol.md, "Calls"). */
export function frame(op: number, seq: number, ctx: number, args: unknown[]): Buffer {
  return packr.pack([op, seq, wide(ctx), ...args.map(wide)]);
}

export function pack(value: unknown): Buffer {
  return packr.pack(value);
}

export interface HelloFields {
  digest: string;
  protocol?: number;
  token?: string | null;
  program?: string;
  host?: string;
  /** HELLO's request; default `{gpus: "all"}`: every card, so that device ordinal 0 is always the session's. */
  request?: unknown;
}

export function helloMessage(f: HelloFields): Buffer {
  return encodeHandshake('hello', {
    protocol: f.protocol ?? 1,
    digest: f.digest,
    cuda: 13000,
    token: f.token ?? null,
    pid: process.pid,
    host: f.host ?? 'protocol-client',
    program: f.program ?? 'protocol-client',
    request: (f.request ?? { gpus: 'all' }) as HandshakeValue<'request'>,
  });
}

export interface Reply {
  seq: number;
  rc: number;
  outs: unknown[];
}

export interface Closed {
  code: number;
  reason: string;
}

export class ConnectionClosed extends Error {
  constructor(readonly closed: Closed) {
    super(`the daemon closed the connection: ${closed.code} ${closed.reason}`);
    this.name = 'ConnectionClosed';
  }
}

/** One WebSocket to `/v1/compute`: raw messages out, replies matched to calls by seq. */
export class ProtocolClient {
  readonly ws: WebSocket;
  readonly closed: Promise<Closed>;
  /** Set once the daemon closed (or the socket dropped). */
  closedWith: Closed | null = null;
  /** Messages that are not replies to a call of this client (WELCOME, or anything unexpected). */
  readonly other: Buffer[] = [];
  private nextSeq = 1;
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private readonly opened: Promise<void>;
  private welcomeWaiter: ((m: Buffer) => void) | null = null;

  constructor(url: string) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 2 ** 31 });
    this.opened = once(this.ws, 'open').then(() => undefined);
    this.opened.catch(() => {}); // a refused connection shows in `closed`
    this.ws.on('error', () => {}); // the close that follows says what happened
    this.ws.on('message', (data: Buffer) => this.receive(data));
    this.closed = once(this.ws, 'close').then(([code, reason]) => {
      this.closedWith = { code: code as number, reason: (reason as Buffer).toString() };
      for (const w of this.waiting.values()) w.reject(new ConnectionClosed(this.closedWith));
      this.waiting.clear();
      return this.closedWith;
    });
  }

  /** Connects and says HELLO; resolves with WELCOME's fields, or rejects with how the daemon closed. */
  static async connect(url: string, hello: Buffer): Promise<{ client: ProtocolClient; welcome: Record<string, unknown> }> {
    const client = new ProtocolClient(url);
    const welcome = await client.handshake(hello);
    return { client, welcome };
  }

  async handshake(hello: Buffer): Promise<Record<string, unknown>> {
    const message = new Promise<Buffer>((resolve) => (this.welcomeWaiter = resolve));
    await this.send(hello);
    const first = await Promise.race([message, this.closed.then((c) => Promise.reject(new ConnectionClosed(c)))]);
    const m = decodeDaemonMessage(first);
    return ('welcome' in m ? m.welcome : m.notice) as Record<string, unknown>;
  }

  private receive(data: Buffer): void {
    if (this.welcomeWaiter) {
      const w = this.welcomeWaiter;
      this.welcomeWaiter = null;
      w(data);
      return;
    }
    let frames: unknown[];
    try {
      frames = unpackr.unpackMultiple(data) as unknown[];
    } catch {
      this.other.push(data);
      return;
    }
    for (const f of frames) {
      const [seq, rc, ...outs] = f as [number, number, ...unknown[]];
      const w = this.waiting.get(seq);
      if (!w) {
        this.other.push(data);
        continue;
      }
      this.waiting.delete(seq);
      w.resolve({ seq, rc, outs });
    }
  }

  /** Sends one message as it is (binary unless a string). */
  async send(data: Buffer | string): Promise<void> {
    try {
      await this.opened;
    } catch {
      return; // refused: `closed` says how
    }
    if (this.ws.readyState !== WebSocket.OPEN) return;
    await new Promise<void>((resolve) => this.ws.send(data, () => resolve()));
  }

  /** A synchronous call: its frame, and its reply (rejected with ConnectionClosed if none comes). */
  call(op: number, ctx: number, ...args: unknown[]): Promise<Reply> {
    const seq = this.nextSeq++;
    const reply = this.expect(seq);
    void this.send(frame(op, seq, ctx, args));
    return reply;
  }

  /** A fire-and-forget call (seq 0): no reply. */
  post(op: number, ctx: number, ...args: unknown[]): Promise<void> {
    return this.send(frame(op, 0, ctx, args));
  }

  /** A seq for a frame the caller builds, and the promise of its reply. */
  expect(seq: number = this.nextSeq++): Promise<Reply> {
    if (this.closedWith) return Promise.reject(new ConnectionClosed(this.closedWith));
    return new Promise((resolve, reject) => this.waiting.set(seq, { resolve, reject }));
  }

  takeSeq(): number {
    return this.nextSeq++;
  }

  terminate(): void {
    this.ws.terminate();
  }
}
