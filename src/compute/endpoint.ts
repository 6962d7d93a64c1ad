import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { RefusalReasons, peerKey, type Authenticator } from '../auth/authenticator.js';
import { defaultConfig } from '../config/schema.js';
import { ErrorCodes, messageOf } from '../errors.js';
import { CloseCodes, HandshakeError, closeReason, encodeWelcome, parseHello, type Hello } from './handshake.js';
import type { ComputeAddon, NativeDriver, NativeSession, SessionStats } from './native.js';
import { NO_REQUEST, QuotaLedger, QuotaRefusal, parseQuotaSetting, sessionQuota, type JobRequest, type QuotaSetting } from '../sharing/quota.js';

/** Message and backlog limits of a session (docs/protocol.md, "Limits"; config `compute`). */
export interface ComputeLimits {
  /** Larger messages close the connection (1009). */
  maxMessageBytes: number;
  /** Backpressure: the session's socket is paused while its queue holds more, resumed at half. */
  maxQueuedBytes: number;
}

export interface SessionInfo {
  id: number;
  peer: string;
  program: string;
  pid: number;
  host: string;
  /** The tenant whose token opened the session (docs/security.md); null when the daemon has no token file. */
  tenant: string | null;
  connectedAt: string;
  /** What the client asked for (docs/operations.md, "Memory quotas"); all null: the defaults. */
  request: JobRequest;
  /** Per card: the session's quota and the device memory it holds, in bytes. */
  cards: { ordinal: number; quota: number; used: number }[];
  /** Times the daemon stopped reading the client, its backlog over `compute.maxQueuedBytes`. */
  pauses: number;
  stats: SessionStats | null;
}

interface Client {
  info: SessionInfo;
  ws: WebSocket;
  session: NativeSession | null;
  alive: boolean;
  /** The quota committed for it per card; released once, when the session is freed. */
  quota: number[] | null;
}

export interface ComputeEndpointOptions {
  /** Ping every client this often; one that has not answered the previous ping is dropped. */
  pingIntervalMs: number;
  /** Who may open a session; without one, anyone who can connect may. */
  auth?: Authenticator;
  /** Memory quotas (config `sharing`); default: 25% of each card, no overcommit. */
  sharing?: { defaultQuota: string; overcommit: boolean };
  /** Message and queue limits; default: the configuration's defaults. */
  limits?: Partial<ComputeLimits>;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

/**
 * `/v1/compute`: one WebSocket per client, one native session per WebSocket. This side does the
 * handshake and moves bytes; the addon's session thread decodes and runs every call.
 */
export class ComputeEndpoint {
  private readonly wss: WebSocketServer;
  private readonly limits: ComputeLimits;
  private readonly clients = new Map<number, Client>();
  private readonly pinger: NodeJS.Timeout;
  private nextId = 1;
  private closing = false;
  private readonly auth: Authenticator | null;
  private readonly defaultQuota: QuotaSetting;
  private readonly ledger: QuotaLedger;

  constructor(
    private readonly driver: NativeDriver,
    private readonly addon: ComputeAddon,
    private readonly logger: Logger,
    options: ComputeEndpointOptions,
  ) {
    this.auth = options.auth ?? null;
    const { maxMessageBytes, maxQueuedBytes } = defaultConfig().compute;
    this.limits = { maxMessageBytes, maxQueuedBytes, ...options.limits };
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxMessageBytes, perMessageDeflate: false });
    const sharing = options.sharing ?? { defaultQuota: '25%', overcommit: false };
    this.defaultQuota = parseQuotaSetting(sharing.defaultQuota);
    this.ledger = new QuotaLedger(
      driver.devices().map((d) => ({ ordinal: d.ordinal, totalMem: d.totalMem })),
      sharing.overcommit,
    );
    this.pinger = setInterval(() => this.ping(), options.pingIntervalMs);
    this.pinger.unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closing) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const id = this.nextId++;
    const client: Client = {
      info: {
        id,
        peer: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`,
        program: '',
        pid: 0,
        host: '',
        tenant: null,
        connectedAt: new Date().toISOString(),
        request: { ...NO_REQUEST },
        cards: [],
        pauses: 0,
        stats: null,
      },
      ws,
      session: null,
      alive: true,
      quota: null,
    };
    this.clients.set(id, client);
    const log = this.logger.child({ session: id, peer: client.info.peer });
    const peer = peerKey(req.socket.remoteAddress);
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('message', (data) => {
      const message = toBuffer(data);
      if (client.session) {
        // Refused only while the session is closing, when the connection is going away anyway.
        client.session.submit(message);
        // A client that sends faster than its calls run is not read until they catch up.
        if (client.session.backlogged && !ws.isPaused) {
          ws.pause();
          client.info.pauses++;
        }
        return;
      }
      // Anything a refused client sent after its HELLO is dropped, not taken for another attempt.
      if (ws.readyState !== ws.OPEN) return;
      if (this.auth?.blocked(peer)) {
        // Refused before HELLO is even decoded; logged quietly, as the block itself was logged once.
        log.debug({ code: ErrorCodes.AUTH_REFUSED }, 'handshake refused: too many failed attempts');
        ws.close(CloseCodes.AUTH_REFUSED, RefusalReasons.BLOCKED);
        return;
      }
      try {
        const hello = parseHello(message, this.driver.digest);
        // Authenticated before the session exists: nothing reaches the driver without a good token.
        const auth = this.auth?.check(hello.token, peer) ?? { ok: true, tenant: null, limits: null };
        if (!auth.ok) {
          // The reason and the peer (bound to `log`), never the token.
          log.warn({ code: ErrorCodes.AUTH_REFUSED, reason: auth.reason, program: hello.program, host: hello.host }, 'handshake refused');
          ws.close(CloseCodes.AUTH_REFUSED, closeReason(auth.reason));
          return;
        }
        client.info.tenant = auth.tenant;
        const request = hello.request ?? { ...NO_REQUEST };
        client.info.request = request;
        let quota: number[];
        try {
          quota = sessionQuota(request, this.ledger.status(), this.defaultQuota, { name: auth.tenant, quota: auth.limits?.quota ?? null });
          // Committed here, before the session exists, and released when it is freed.
          this.ledger.commit(quota);
        } catch (err) {
          if (!(err instanceof QuotaRefusal)) throw err;
          log.warn({ code: ErrorCodes.QUOTA_REFUSED, reason: err.message, request, tenant: auth.tenant, program: hello.program }, 'handshake refused: memory quota');
          ws.close(CloseCodes.NO_DEVICE, closeReason(err.message));
          return;
        }
        client.quota = quota;
        this.start(client, hello, log);
      } catch (err) {
        // A session that could not start holds no quota.
        if (client.quota && !client.session) {
          this.ledger.release(client.quota);
          client.quota = null;
        }
        const code = err instanceof HandshakeError ? err.closeCode : CloseCodes.PROTOCOL_ERROR;
        log.warn({ code: ErrorCodes.PROTOCOL_ERROR, closeCode: code, err: messageOf(err) }, 'handshake refused');
        ws.close(code, closeReason(messageOf(err)));
      }
    });
    ws.on('close', (code) => {
      log.info({ code }, 'client disconnected');
      // The native session tears down on its own thread and frees everything the client held.
      client.session?.close();
      if (!client.session) this.clients.delete(id);
    });
    ws.on('error', (err) => log.warn({ err: messageOf(err) }, 'client connection error'));
  }

  private start(client: Client, hello: Hello, log: Logger): void {
    Object.assign(client.info, { program: hello.program, pid: hello.pid, host: hello.host });
    const { ws } = client;
    const quota = client.quota ?? [];
    client.session = new this.addon.Session(
      this.driver,
      (reply) => {
        if (ws.readyState === ws.OPEN) ws.send(reply);
      },
      (reason) => {
        client.info.stats = client.session?.stats() ?? null;
        this.clients.delete(client.info.id);
        // The session's memory is freed: its quota is the card's again.
        if (client.quota) this.ledger.release(client.quota);
        client.quota = null;
        if (reason !== null) {
          log.warn({ code: ErrorCodes.PROTOCOL_ERROR, reason }, 'session ended by a protocol error');
          ws.close(CloseCodes.PROTOCOL_ERROR, closeReason(reason));
        } else {
          log.info({ stats: client.info.stats }, 'session freed');
        }
      },
      quota,
    );
    client.session.limitBacklog(this.limits.maxQueuedBytes, () => ws.resume());
    // Only the first refusal of a session comes here; the session's stats count them all.
    client.session.onRefusal((refusal) => log.warn({ code: ErrorCodes.BOUNDS_REFUSED, tenant: client.info.tenant, program: hello.program, ...refusal }, 'refused a call on device memory outside the session\'s allocations'));
    log.info({ program: hello.program, pid: hello.pid, host: hello.host, cuda: hello.cuda, tenant: client.info.tenant, request: client.info.request, quota }, 'client connected');
    ws.send(encodeWelcome(client.info.id, this.driver.digest, this.driver.version, this.driver.devices(), quota));
  }

  private ping(): void {
    for (const client of this.clients.values()) {
      // A paused socket is not read, so its pongs wait too: a slowed client is not a dead one.
      if (client.ws.isPaused) {
        client.alive = true;
        continue;
      }
      if (!client.alive) {
        this.logger.warn({ session: client.info.id, peer: client.info.peer }, 'client stopped answering pings; dropping it');
        client.ws.terminate();
        continue;
      }
      client.alive = false;
      client.ws.ping();
    }
  }

  sessions(): SessionInfo[] {
    return [...this.clients.values()].map((c) => {
      const stats = c.session?.stats() ?? null;
      const cards = (c.quota ?? []).map((quota, ordinal) => ({ ordinal, quota, used: stats?.used[ordinal] ?? 0 }));
      return { ...c.info, cards, stats };
    });
  }

  /** Per card: its memory and the quota committed to live sessions, in bytes. */
  cards(): { ordinal: number; totalMem: number; committed: number }[] {
    return this.ledger.status();
  }

  /** Refuses new clients, closes the others, and waits until every session has freed its state. */
  async close(timeoutMs = 5000): Promise<void> {
    this.closing = true;
    clearInterval(this.pinger);
    for (const client of this.clients.values()) client.ws.close(CloseCodes.SHUTTING_DOWN, 'daemon shutting down');
    const deadline = Date.now() + timeoutMs;
    while (this.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const client of this.clients.values()) client.ws.terminate();
    this.wss.close();
  }
}
