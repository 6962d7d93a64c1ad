import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket, { type ClientOptions } from 'ws';
import { encodeHello, type Hello } from '../../src/compute/handshake.js';
import { decodeDaemonMessage, type HandshakeValue } from '../../src/protocol/handshake-codec.js';
import { packageRoot } from '../../src/paths.js';
import type { JobRequest } from '../../src/sharing/quota.js';

/** The op table's digest, which HELLO must carry. */
export const digest = (JSON.parse(readFileSync(join(packageRoot, 'build', 'gen', 'ops.json'), 'utf8')) as { digest: string }).digest;

/** WELCOME as these tests read it (src/protocol/frames.ts `handshake.welcome`, decoded by handshake-codec.ts). */
export interface Welcome {
  session: number;
  devices: { ordinal: number; name: string; totalMem: number }[];
}

/** A handshake notice (docs/protocol.md, "Handshake"). */
export interface Notice {
  notice: 'waiting' | 'refused';
  reason: string;
  code?: number;
  waited?: number;
  wait?: number;
}

export type Outcome = { welcome: true; ws: WebSocket; message: Welcome; notices: Notice[] } | { welcome: false; code: number; reason: string; notices: Notice[] };

export interface RawClientOptions {
  /** The local address to connect from (loopback answers from all of 127.0.0.0/8). */
  localAddress?: string;
  /** HELLO's request; keys left out are sent as absent. */
  request?: Partial<JobRequest>;
  /** HELLO's program and host names (default raw-client, raw-client-host): any string a client may send. */
  program?: string;
  host?: string;
  /** HELLO's `notices`: take handshake notices before WELCOME or the close (collected in `notices`). */
  notices?: boolean;
  /** More options for the WebSocket (a CA, a client certificate for wss://). */
  ws?: ClientOptions;
  /** HELLO's fields to send instead of the usual ones (a hostile program name, a negative pid). */
  hello?: Record<string, unknown>;
}

/**
 * A client without the client library: opens `${server}/v1/compute`, sends HELLO with `token`, and
 * says whether WELCOME or a close came back. An upgrade the server refuses (HTTP 403, a TLS failure)
 * is a close with code -1 and the error as the reason.
 */
export async function handshake(server: string, token: string | null, options: RawClientOptions = {}): Promise<Outcome> {
  const ws = new WebSocket(`${server}/v1/compute`, { perMessageDeflate: false, ...(options.localAddress ? { localAddress: options.localAddress } : {}), ...options.ws });
  let failure = '';
  ws.on('error', (err) => (failure ||= err.message)); // the close that follows says what happened
  // Not once(): it rejects on 'error' (a refused upgrade, a TLS failure), and that is a refusal like any other.
  const closed = new Promise<[number, Buffer]>((resolve) => ws.on('close', (code, reason) => resolve([code, reason])));
  const opened = await Promise.race([once(ws, 'open').then(() => true, () => false), closed.then(() => false)]);
  const notices: Notice[] = [];
  if (!opened) return { welcome: false, code: -1, reason: failure, notices };
  // Keys as the handshake's table names them; `options.hello` may break any of them on purpose.
  const usual: HandshakeValue<'hello'> = {
    protocol: 1, digest, cuda: 13000, token, pid: process.pid, host: options.host ?? 'raw-client-host', program: options.program ?? 'raw-client',
    ...(options.notices ? { notices: true } : {}),
  };
  const hello = { ...usual, ...(options.request ? { request: options.request } : {}), ...options.hello };
  // Messages are taken as they come, before the close is looked at: a notice may precede it.
  const welcome = new Promise<Welcome>((resolve) => {
    const take = (data: Buffer) => {
      const m = decodeDaemonMessage(data);
      if ('notice' in m) notices.push(m.notice as Notice);
      else {
        ws.off('message', take);
        resolve(m.welcome as Welcome);
      }
    };
    ws.on('message', take);
  });
  ws.send(encodeHello(hello as Hello));
  const first = await Promise.race([welcome, closed.then(() => null)]);
  if (first !== null) return { welcome: true, ws, message: first, notices };
  const [code, reason] = await closed;
  return { welcome: false, code, reason: reason.toString(), notices };
}

/** The close code and reason of a refused handshake, or 'welcomed' (and the session is ended). */
export async function refused(server: string, token: string | null, options: RawClientOptions = {}): Promise<{ code: number; reason: string } | 'welcomed'> {
  const o = await handshake(server, token, options);
  if (o.welcome) {
    o.ws.terminate();
    return 'welcomed';
  }
  return { code: o.code, reason: o.reason };
}

/** Whether a session opens (it is closed again at once). */
export async function welcomed(server: string, token: string | null, options: RawClientOptions = {}): Promise<boolean> {
  const o = await handshake(server, token, options);
  if (o.welcome) o.ws.close();
  return o.welcome;
}

/** A TCP connection to the daemon at `http` and the milliseconds until it closed, whoever closed it. */
export function rawConnection(http: string, localAddress = '127.0.0.1'): { socket: Socket; closed: Promise<number> } {
  const url = new URL(http);
  const socket = connect({ host: url.hostname, port: Number(url.port), localAddress });
  const started = Date.now();
  socket.on('error', () => {}); // a reset is one way of being closed
  return { socket, closed: new Promise((resolve) => socket.once('close', () => resolve(Date.now() - started))) };
}

/** Upgrades a raw connection to a WebSocket by hand: true once 101 came, false if it closed first. */
export function rawUpgrade(socket: Socket): Promise<boolean> {
  socket.write('GET /v1/compute HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  let got = '';
  return new Promise((resolve) => {
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      resolve(got.startsWith('HTTP/1.1 101'));
    };
    socket.on('data', onData);
    socket.once('close', () => resolve(false));
  });
}

/** A client-to-server binary frame's header announcing `length` bytes, masked with key 0 (the payload goes as is). */
export function frameHeader(length: number): Buffer {
  const h = Buffer.alloc(14);
  h[0] = 0x82;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}
