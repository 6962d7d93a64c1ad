import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';
import { formatAddress, type ListenAddress } from '../config/address.js';
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { clientCertificateProblem, secureContextOptions, serverTlsOptions, type TlsMaterial } from './tls.js';
import { ConnectionGuard, type PendingConnection, type PendingLimits } from './connection-guard.js';

/** Marks a connection whose refused certificate was logged already (keep-alive: several requests, one line). */
const refusalLogged = Symbol('refusalLogged');

/** A whole answer, or one the route writes itself as it goes (server-sent events). */
export type RouteResult =
  | { status?: number; contentType?: string; headers?: Record<string, string>; body: string | object }
  | { stream: (req: IncomingMessage, res: ServerResponse) => void };

export type RouteHandler = (req: IncomingMessage) => Promise<RouteResult>;

/**
 * A handler for WebSocket upgrades on one path; the compute endpoint registers itself here. `pending`:
 * the connection's place under the limits before authentication, to release once the client is
 * known (null: the server has no such limits, or the connection was released already).
 */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, pending: PendingConnection | null) => void;

export interface HttpServerOptions {
  /** Serve HTTPS (and `wss://`) with these; null: plain HTTP. */
  tls?: TlsMaterial | null;
  /** A TLS handshake not finished this long after the connection opened is dropped. */
  handshakeTimeoutMs?: number;
  /** Bounds on connections until their first request or HELLO (docs/security.md); default: none. */
  pending?: PendingLimits;
  /** Whom a pending connection counts against; default: its remote address (the local socket: its peer's uid). */
  peerAddress?: (socket: Socket) => string;
}

/**
 * One HTTP (or HTTPS) server of the daemon: read-only GET routes (status, health, metrics) and
 * WebSocket upgrades routed by path. The daemon runs one, or two with `statusListen` (the routes on
 * one, the upgrades on the other).
 */
export class HttpServer {
  private readonly server: Server | HttpsServer;
  private readonly routes = new Map<string, RouteHandler>();
  private readonly upgrades = new Map<string, UpgradeHandler>();
  readonly secure: boolean;
  /** Whether every request must come over a connection with a verified client certificate. */
  private readonly clientCertificates: boolean;
  private readonly guard: ConnectionGuard | null;

  constructor(
    private readonly logger: Logger,
    options: HttpServerOptions = {},
  ) {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.secure = Boolean(options.tls);
    this.clientCertificates = Boolean(options.tls?.ca);
    const pending = options.pending ?? null;
    // Node checks its headers deadline on this beat; with pending limits, a keep-alive connection's later
    // requests get the same deadline as its first (the guard holds only the first).
    const checking = pending ? { connectionsCheckingInterval: Math.min(1000, pending.deadlineMs) } : {};
    this.server = options.tls
      ? createHttpsServer({ ...serverTlsOptions(options.tls, options.handshakeTimeoutMs ?? 10_000), ...checking }, handler)
      : createServer(checking, handler);
    this.guard = pending ? new ConnectionGuard(pending, logger, options.peerAddress) : null;
    if (pending) {
      this.server.headersTimeout = pending.deadlineMs;
      // The raw TCP connection, before any TLS handshake: the deadline covers that too.
      this.server.on('connection', (socket: Socket) => this.guard?.accept(socket));
    }
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.server.on('clientError', (_err, socket) => socket.destroy());
    // A plain-text client or a bad handshake: said once per connection, with the peer. A peer that
    // hung up before its handshake (a port probe) is no news.
    this.server.on('tlsClientError', (err: Error & { code?: string }, socket: { remoteAddress?: string; remotePort?: number; destroy(): void }) => {
      const level = err.code === 'ECONNRESET' ? 'debug' : 'warn';
      this.logger[level](
        { peer: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, err: err.message.trim(), reason: err.code, code: ErrorCodes.TLS_HANDSHAKE_FAILED },
        'TLS handshake failed',
      );
      socket.destroy();
    });
  }

  /** Swaps the certificate, key and client CA for new connections (SIGHUP); open ones keep theirs. */
  setTls(material: TlsMaterial): void {
    if (!this.secure) throw new Error('setTls on a plain HTTP server');
    (this.server as HttpsServer).setSecureContext(secureContextOptions(material));
  }

  get(path: string, handler: RouteHandler): this {
    this.routes.set(path, handler);
    return this;
  }

  onUpgrade(path: string, handler: UpgradeHandler): this {
    this.upgrades.set(path, handler);
    return this;
  }

  /** With client certificates required: why this request's connection is refused, logged once per connection; else null. */
  private refusedCertificate(req: IncomingMessage): string | null {
    if (!this.clientCertificates) return null;
    const socket = req.socket as TLSSocket & { [refusalLogged]?: boolean };
    const problem = clientCertificateProblem(socket);
    if (problem !== null && !socket[refusalLogged]) {
      socket[refusalLogged] = true;
      this.logger.warn({ peer: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, reason: problem, code: ErrorCodes.AUTH_REFUSED }, 'client certificate refused');
    }
    return problem;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A whole request came: this connection is a client of the routes, no longer a pending one.
    this.guard?.of(req.socket)?.release();
    const refused = this.refusedCertificate(req);
    if (refused !== null) {
      res.shouldKeepAlive = false;
      return send(res, 403, { error: { code: ErrorCodes.AUTH_REFUSED, message: refused } });
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const handler = this.routes.get(path);
    if (!handler) return send(res, 404, { error: { code: 'NOT_FOUND', message: `no such path ${path}` } });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed on ${path}` } });
    }
    try {
      const out = await handler(req);
      if ('stream' in out) return out.stream(req, res);
      send(res, out.status ?? 200, out.body, out.contentType, req.method === 'HEAD', out.headers);
    } catch (err) {
      this.logger.error({ err: messageOf(err), path }, 'request failed');
      send(res, 500, { error: { code: 'INTERNAL', message: messageOf(err) } });
    }
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refused = this.refusedCertificate(req);
    // The reason phrase carries the reason: the client library prints the status line.
    if (refused !== null) return void socket.end(`HTTP/1.1 403 ${refused}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const handler = this.upgrades.get(path);
    if (handler) return handler(req, socket, head, this.guard?.of(req.socket) ?? null);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  }

  /** Binds the address; with port 0 the kernel picks one, and the bound address is returned. */
  listen(address: ListenAddress): Promise<ListenAddress> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          new GpupoolError(ErrorCodes.LISTEN_FAILED, `cannot listen on ${formatAddress(address.host, address.port)}: ${err.message}`, {
            cause: err,
            details: { host: address.host, port: address.port, errno: err.code },
          }),
        );
      };
      this.server.once('error', onError);
      this.server.listen(address.port, address.host, () => {
        this.server.off('error', onError);
        const bound = this.server.address();
        if (bound === null || typeof bound === 'string') return reject(new Error('server bound to no TCP address'));
        resolve({ host: bound.address, port: bound.port });
      });
    });
  }

  /** Binds a Unix socket at this path (the local transport); the path must be free (local-socket.ts). */
  listenPath(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new GpupoolError(ErrorCodes.LISTEN_FAILED, `cannot listen on the local socket ${path}: ${err.message}`, { cause: err, details: { path, errno: err.code } }));
      };
      this.server.once('error', onError);
      this.server.listen(path, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  /** Connections accepted and not yet released (for tests). */
  pendingConnections(): number {
    return this.guard?.size() ?? 0;
  }

  /** Stops accepting, then ends idle and in-flight connections. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function send(res: ServerResponse, status: number, body: string | object, contentType?: string, headOnly = false, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    ...headers,
    'Content-Type': contentType ?? (typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8'),
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(headOnly ? undefined : text);
}
