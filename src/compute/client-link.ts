import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { NativeSession } from './native.js';

/**
 * How the daemon reaches a compute client once its session runs: through `ws` on the JS thread
 * (before the handshake ends, and for TLS), or natively, the session's own threads reading and
 * writing the socket (docs/architecture.md). The endpoint pings, closes and counts through this alone.
 */
export interface ClientLink {
  /** `native`: the session owns the socket; `js`: frames pass through `ws` on the event loop. */
  readonly reader: 'native' | 'js';
  /**
   * A ping round: `paused` (not read for its backlog: not silent), `silent` past the grace (cut), or
   * `ok` (pinged); `silentMs`: since the client last showed it is there.
   */
  ping(graceMs: number): PingOutcome;
  close(code: number, reason: string): void;
  /** Cuts the connection without a close handshake: the peer is gone. */
  terminate(): void;
  /** Times the client was not read for its backlog. */
  readonly pauses: number;
}

export interface PingOutcome {
  outcome: 'ok' | 'paused' | 'silent';
  silentMs: number;
}

/** A connection `ws` carries: every message and reply crosses the event loop. */
export class JsLink implements ClientLink {
  readonly reader = 'js';
  pauses = 0;
  /** When the client last showed it is there (any bytes, a pong), by Date.now(). */
  lastSeen = Date.now();

  constructor(private readonly ws: WebSocket) {
    ws.on('pong', () => this.seen());
  }

  seen(): void {
    this.lastSeen = Date.now();
  }

  ping(graceMs: number): PingOutcome {
    const now = Date.now();
    // A paused socket is not read, so its pongs wait too: a slowed client is not a dead one.
    if (this.ws.isPaused) {
      this.lastSeen = now;
      return { outcome: 'paused', silentMs: 0 };
    }
    const silentMs = now - this.lastSeen;
    if (silentMs > graceMs) {
      // terminate(): a close handshake would wait on a peer that is not there.
      this.ws.terminate();
      return { outcome: 'silent', silentMs };
    }
    this.ws.ping();
    return { outcome: 'ok', silentMs };
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** A connection the native session reads and writes itself; JS only asks it to ping or close. */
export class NativeLink implements ClientLink {
  readonly reader = 'native';

  constructor(private readonly session: NativeSession) {}

  ping(graceMs: number): PingOutcome {
    const figures = this.session.connection;
    if (!figures) return { outcome: 'ok', silentMs: 0 };
    if (!figures.paused && figures.idleMs > graceMs) {
      this.session.terminate();
      return { outcome: 'silent', silentMs: figures.idleMs };
    }
    // Sent even while the client is not read (its backlog): a client busy sending hears from the
    // daemon only so, and takes a daemon silent for long for a lost one.
    this.session.ping();
    return { outcome: figures.paused ? 'paused' : 'ok', silentMs: figures.paused ? 0 : figures.idleMs };
  }

  close(code: number, reason: string): void {
    this.session.closeConnection(code, reason);
  }

  terminate(): void {
    this.session.terminate();
  }

  get pauses(): number {
    return this.session.connection?.pauses ?? 0;
  }
}

/** What `ws` keeps of a connection that the hand-over needs (ws 8: lib/websocket.js, lib/receiver.js). */
interface WsInternals {
  _socket: Socket & { _handle?: { fd?: number; reading?: boolean; readStop?: () => number; readStart?: () => number } | null };
  _receiver: { _state: number; _buffers: Buffer[]; _fragments: Buffer[]; writableLength: number };
}

/**
 * Stops Node reading a plain-TCP connection so that its native session can take it over once the
 * WELCOME is written; null when it cannot be handed over (TLS: the keys live in OpenSSL here).
 */
export function holdForHandover(ws: WebSocket): { fd: number; resume: () => void } | null {
  const { _socket: socket } = ws as unknown as WsInternals;
  const handle = socket?._handle;
  if (!handle || (socket as { encrypted?: boolean }).encrypted || typeof handle.fd !== 'number' || handle.fd < 0 || !handle.readStop || !handle.readStart) return null;
  // Not pause(): a paused stream still reads into its buffer; a stopped handle leaves the bytes in the
  // kernel. `reading` stays true: net.Socket#_read starts a handle again that it believes stopped.
  handle.readStop();
  handle.reading = true;
  return {
    fd: handle.fd,
    resume: () => {
      if (socket.destroyed || !socket._handle) return;
      handle.readStart?.();
    },
  };
}

/**
 * The bytes `ws` read off the socket and did not yet make a message of, when they start at a frame
 * boundary; null when it stands inside a frame (then the connection stays with `ws`).
 */
export function unparsedBytes(ws: WebSocket): Buffer | null {
  const { _socket: socket, _receiver: receiver } = ws as unknown as WsInternals;
  // Receiver state 0 is GET_INFO: it waits for a frame's first bytes.
  if (receiver._state !== 0 || receiver._fragments.length > 0 || receiver.writableLength > 0 || socket.readableLength > 0) return null;
  return Buffer.concat(receiver._buffers);
}

/** Lets go of Node's side of a connection whose session now owns a duplicate of its descriptor. */
export function releaseToNative(ws: WebSocket): void {
  const { _socket: socket } = ws as unknown as WsInternals;
  ws.removeAllListeners();
  socket.removeAllListeners('data');
  // Errors of a socket Node no longer uses are nobody's concern.
  ws.on('error', () => {});
  // destroy() closes Node's descriptor only: no close frame, no FIN while the duplicate is open.
  ws.terminate();
}

/**
 * Lets go of `ws` for a session worker that was passed the connection (worker-session.ts) but keeps
 * Node's socket open and unread: the worker's end closes it, and a failed worker's close frame goes out on it.
 */
export function parkForWorker(ws: WebSocket): Socket {
  const { _socket: socket } = ws as unknown as WsInternals;
  ws.removeAllListeners();
  socket.removeAllListeners('data');
  socket.removeAllListeners('close');
  socket.removeAllListeners('end');
  ws.on('error', () => {});
  return socket;
}
