import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { peerKey } from '../auth/authenticator.js';
import { ErrorCodes } from '../errors.js';

/** Bounds on connections that have not yet shown who they are (docs/security.md, "Limits before authentication"). */
export interface PendingLimits {
  /** Connections from one address still before their HELLO (or first request); more are closed at accept. */
  maxPerAddress: number;
  /** The same over all addresses. */
  maxTotal: number;
  /** From accept to a HELLO accepted (or a complete request): the TLS handshake, the upgrade and HELLO together. */
  deadlineMs: number;
}

/** How long a connection told to close (a close frame sent) may take before it is cut. */
const CLOSE_GRACE_MS = 1000;

/** A connection from accept until it is released; what the compute endpoint is handed with an upgrade. */
export interface PendingConnection {
  /** When its deadline passes, by Date.now(). */
  readonly deadline: number;
  /** The connection has shown who it is: it no longer counts against the limits, and its deadline is off. */
  release(): void;
  /**
   * What to do at the deadline instead of cutting the connection at once (the endpoint sends its close
   * code); the connection is cut CLOSE_GRACE_MS later if it is still there.
   */
  onExpire(fn: () => void): void;
}

interface Entry extends PendingConnection {
  address: string;
  timer: NodeJS.Timeout;
  expire: (() => void) | null;
}

/**
 * Counts the connections of one server from TCP accept until they are released (a compute client's
 * HELLO accepted, an HTTP request read in full), per address and in all, refuses those over the limits
 * at accept, and cuts those still unreleased at the deadline: silent connections, slow TLS handshakes,
 * upgrade requests sent a header line at a time. A refused address is logged once until it falls back
 * under its limit, so that a flood of connections is not also a flood of log lines.
 */
export class ConnectionGuard {
  /** By the connection's remote address and port, which its TLS socket shares with the TCP one. */
  private readonly pending = new Map<string, Entry>();
  private readonly perAddress = new Map<string, number>();
  private readonly refusedLogged = new Set<string>();
  private totalLogged = false;

  /** `addressOf`: whom a connection counts against (default: its remote address; the local socket's: its peer's uid). */
  constructor(
    private readonly limits: PendingLimits,
    private readonly logger: Logger,
    private readonly addressOf: (socket: Socket) => string = (socket) => peerKey(socket.remoteAddress),
  ) {}

  /** A TCP connection was accepted (the server's 'connection' event). */
  accept(socket: Socket): void {
    const address = this.addressOf(socket);
    const count = this.perAddress.get(address) ?? 0;
    if (count >= this.limits.maxPerAddress || this.pending.size >= this.limits.maxTotal) {
      this.logRefusal(address, count);
      socket.destroy();
      return;
    }
    const key = connectionKey(socket);
    const entry: Entry = {
      address,
      deadline: Date.now() + this.limits.deadlineMs,
      expire: null,
      timer: setTimeout(() => {
        if (!this.pending.has(key)) return;
        if (entry.expire) {
          entry.expire();
          setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
        } else {
          this.logger.debug({ peer: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, deadlineMs: this.limits.deadlineMs }, 'connection gave no request in time; closed');
          socket.destroy();
        }
      }, this.limits.deadlineMs),
      release: () => this.release(key),
      onExpire: (fn) => {
        entry.expire = fn;
      },
    };
    entry.timer.unref();
    this.pending.set(key, entry);
    this.perAddress.set(address, count + 1);
    socket.once('close', () => this.release(key));
  }

  /** The pending connection of `socket` (its TCP or TLS socket), or null once it was released or refused. */
  of(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): PendingConnection | null {
    return this.pending.get(connectionKey(socket)) ?? null;
  }

  /** Connections pending now, for tests and status. */
  size(): number {
    return this.pending.size;
  }

  private release(key: string): void {
    const entry = this.pending.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(key);
    const left = (this.perAddress.get(entry.address) ?? 1) - 1;
    if (left > 0) this.perAddress.set(entry.address, left);
    else this.perAddress.delete(entry.address);
    if (left < this.limits.maxPerAddress) this.refusedLogged.delete(entry.address);
    if (this.pending.size < this.limits.maxTotal) this.totalLogged = false;
  }

  private logRefusal(address: string, count: number): void {
    const perAddress = count >= this.limits.maxPerAddress;
    if (perAddress ? this.refusedLogged.has(address) : this.totalLogged) return;
    if (perAddress) this.refusedLogged.add(address);
    else this.totalLogged = true;
    this.logger.warn(
      { code: ErrorCodes.CONNECTION_LIMIT, peer: address, pending: perAddress ? count : this.pending.size, limit: perAddress ? this.limits.maxPerAddress : this.limits.maxTotal },
      perAddress
        ? 'too many connections from this address before their HELLO; refusing more until some finish (logged once)'
        : 'too many connections before their HELLO in all; refusing more until some finish (logged once)',
    );
  }
}

/** Unix-socket connections, which have no address: each its own key. */
const localKeys = new WeakMap<object, string>();
let localCount = 0;

function connectionKey(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  if (socket.remoteAddress !== undefined) return `${socket.remoteAddress}|${socket.remotePort ?? 0}`;
  // Never TLS (the local socket is plain), so the accepted socket is the one a request names later.
  let key = localKeys.get(socket);
  if (key === undefined) {
    key = `local|${++localCount}`;
    localKeys.set(socket, key);
  }
  return key;
}
