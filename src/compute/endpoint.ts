import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { RefusalReasons, peerKey, type Authenticator } from '../auth/authenticator.js';
import { verifiedClientName } from '../auth/certificate.js';
import { byOrdinal, grantedCards, priorityLowered } from '../auth/limits.js';
import { ErrorCodes, messageOf } from '../errors.js';
import { CloseCodes, HandshakeError, encodeWelcome, parseHello, type Hello } from './handshake.js';
import type { ComputeAddon, NativeDriver, NativeSession, SessionStats } from './native.js';
import { defaultConfig, type DaemonConfig } from '../config/schema.js';
import { formatPriority, parsePriority, type Priority } from '../sharing/priority.js';
import { scheduling, type SchedParams } from '../sharing/schedule.js';
import { UsageWindow } from '../sharing/usage.js';
import { NO_REQUEST, QuotaLedger, QuotaRefusal, parseQuotaSetting, sessionQuota, type JobRequest, type QuotaSetting } from '../sharing/quota.js';

/** The largest message a client may send: a host-to-device copy travels as one. */
export const MAX_MESSAGE_BYTES = 1024 * 1024 * 1024;

export interface SessionInfo {
  id: number;
  peer: string;
  program: string;
  pid: number;
  host: string;
  /** The tenant whose token or client certificate opened the session (docs/security.md); null when the daemon has neither. */
  tenant: string | null;
  connectedAt: string;
  /** What the client asked for (docs/operations.md, "Memory quotas"); all null: the defaults. */
  request: JobRequest;
  /** How the scheduler treats it (docs/sharing.md); null until the handshake is done. */
  scheduling: { share: number; limit: boolean; priority: string; effective: string } | null;
  /**
   * Per card: its memory quota and what it holds (bytes), its measured device time and time waiting
   * for the card (ns), and the share of the card it had over the last 10 s (null: not measured yet).
   */
  cards: { ordinal: number; quota: number; used: number; deviceNs: number; waitNs: number; achievedShare: number | null }[];
  stats: SessionStats | null;
}

interface Client {
  info: SessionInfo;
  ws: WebSocket;
  session: NativeSession | null;
  alive: boolean;
  /** The quota committed for it per card; released once, when the session is freed. */
  quota: number[] | null;
  /** The tenant's priority ceiling and the last parameters the scheduler was given. */
  ceiling: Priority | null;
  params: SchedParams | null;
  usage: UsageWindow;
}

export interface ComputeEndpointOptions {
  /** Ping every client this often; one that has not answered the previous ping is dropped. */
  pingIntervalMs: number;
  /** A connection that has not sent a valid HELLO this long after it opened is closed (4002). */
  helloTimeoutMs?: number;
  /** Who may open a session; without one, anyone who can connect may. */
  auth?: Authenticator;
  /** Memory quotas and the scheduler (config `sharing`); default: 25% of each card, no overcommit. */
  sharing?: Partial<DaemonConfig['sharing']>;
  /** The wall clock the schedule windows follow (tests pass their own). */
  now?: () => Date;
}

const SAMPLE_MS = 1000;

/** A CUDA UUID as NVML and nvidia-smi write it: GPU-8-4-4-4-12 hex digits. */
function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
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
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
  private readonly clients = new Map<number, Client>();
  private readonly pinger: NodeJS.Timeout;
  private nextId = 1;
  private closing = false;
  private readonly auth: Authenticator | null;
  private readonly defaultQuota: QuotaSetting;
  private readonly ledger: QuotaLedger;
  private readonly sharing: DaemonConfig['sharing'];
  private readonly sampler: NodeJS.Timeout;
  private readonly now: () => Date;
  private readonly helloTimeoutMs: number;

  constructor(
    private readonly driver: NativeDriver,
    private readonly addon: ComputeAddon,
    private readonly logger: Logger,
    options: ComputeEndpointOptions,
  ) {
    this.auth = options.auth ?? null;
    this.helloTimeoutMs = options.helloTimeoutMs ?? 5000;
    const sharing = { ...defaultConfig().sharing, ...options.sharing };
    this.sharing = sharing;
    this.now = options.now ?? (() => new Date());
    driver.configureScheduler({ sliceUs: sharing.sliceMs * 1000, paceDepth: sharing.paceDepth, idleGraceUs: sharing.idleGraceUs });
    this.defaultQuota = parseQuotaSetting(sharing.defaultQuota);
    this.ledger = new QuotaLedger(
      driver.devices().map((d) => ({ ordinal: d.ordinal, totalMem: d.totalMem })),
      sharing.overcommit,
    );
    this.pinger = setInterval(() => this.ping(), options.pingIntervalMs);
    this.pinger.unref();
    // Device time is sampled for achieved shares; schedule windows are checked on the same beat.
    this.sampler = setInterval(() => this.sample(), SAMPLE_MS);
    this.sampler.unref();
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
        scheduling: null,
        cards: [],
        stats: null,
      },
      ws,
      session: null,
      alive: true,
      quota: null,
      ceiling: null,
      params: null,
      usage: new UsageWindow(),
    };
    this.clients.set(id, client);
    const log = this.logger.child({ session: id, peer: client.info.peer });
    const peer = peerKey(req.socket.remoteAddress);
    const certificate = verifiedClientName(req.socket);
    // A connection that never says HELLO holds a socket and a slot for nothing: it gets this long.
    const helloTimer = setTimeout(() => {
      if (ws.readyState !== ws.OPEN) return;
      log.warn({ code: ErrorCodes.HELLO_TIMEOUT, timeoutMs: this.helloTimeoutMs }, 'no HELLO in time; closing the connection');
      ws.close(CloseCodes.PROTOCOL_ERROR, `no HELLO within ${this.helloTimeoutMs} ms`);
    }, this.helloTimeoutMs);
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('message', (data) => {
      const message = toBuffer(data);
      if (client.session) {
        // Refused only while the session is closing, when the connection is going away anyway.
        client.session.submit(message);
        return;
      }
      // Anything a refused client sent after its HELLO is dropped, not taken for another attempt.
      if (ws.readyState !== ws.OPEN) return;
      clearTimeout(helloTimer);
      if (this.auth?.blocked(peer)) {
        // Refused before HELLO is even decoded; logged quietly, as the block itself was logged once.
        log.debug({ code: ErrorCodes.AUTH_REFUSED }, 'handshake refused: too many failed attempts');
        ws.close(CloseCodes.AUTH_REFUSED, RefusalReasons.BLOCKED);
        return;
      }
      try {
        const hello = parseHello(message, this.driver.digest);
        // Authenticated before the session exists: nothing reaches the driver without a good token.
        const auth = this.auth?.check(hello.token, peer, certificate) ?? { ok: true, tenant: null, limits: null };
        if (!auth.ok) {
          // The reason and the peer (bound to `log`), never the token.
          log.warn({ code: ErrorCodes.AUTH_REFUSED, reason: auth.reason, program: hello.program, host: hello.host }, 'handshake refused');
          ws.close(CloseCodes.AUTH_REFUSED, auth.reason);
          return;
        }
        client.info.tenant = auth.tenant;
        const request = hello.request ?? { ...NO_REQUEST };
        client.info.request = request;
        // The tenant's cards= (src/auth/limits.ts): the session is offered and given those cards only.
        const granted = grantedCards(auth.limits?.cards ?? null, this.driver.devices());
        if (granted.length === 0) {
          const reason = `tenant ${auth.tenant ?? '?'} may use no card of this host (cards=${auth.limits?.cards?.join(',') ?? ''})`;
          log.warn({ code: ErrorCodes.CARDS_REFUSED, reason, tenant: auth.tenant, program: hello.program }, 'handshake refused: no card for the tenant');
          ws.close(CloseCodes.NO_DEVICE, reason.slice(0, 120));
          return;
        }
        let quota: number[];
        try {
          const cards = this.ledger.status().filter((c) => granted.includes(c.ordinal));
          const perCard = sessionQuota(request, cards, this.defaultQuota, { name: auth.tenant, quota: auth.limits?.quota ?? null });
          // By ordinal, 0 on a card not given: the native session refuses contexts there.
          quota = byOrdinal(granted, perCard, this.ledger.status().length, 0);
          // Committed here, before the session exists, and released when it is freed.
          this.ledger.commit(quota);
        } catch (err) {
          if (!(err instanceof QuotaRefusal)) throw err;
          log.warn({ code: ErrorCodes.QUOTA_REFUSED, reason: err.message, request, tenant: auth.tenant, program: hello.program }, 'handshake refused: memory quota');
          ws.close(CloseCodes.NO_DEVICE, err.message.slice(0, 120));
          return;
        }
        client.quota = quota;
        client.ceiling = auth.limits?.priority ? parsePriority(auth.limits.priority) : null;
        const lowered = priorityLowered(request.priority, client.ceiling);
        if (lowered) log.info({ tenant: auth.tenant, requested: request.priority, priority: lowered, limit: auth.limits?.priority }, "priority lowered to the tenant's limit");
        this.start(client, hello, log);
      } catch (err) {
        // A session that could not start holds no quota.
        if (client.quota && !client.session) {
          this.ledger.release(client.quota);
          client.quota = null;
        }
        const code = err instanceof HandshakeError ? err.closeCode : CloseCodes.PROTOCOL_ERROR;
        log.warn({ err: messageOf(err) }, 'handshake refused');
        ws.close(code, messageOf(err).slice(0, 120));
      }
    });
    ws.on('close', (code) => {
      clearTimeout(helloTimer);
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
    const scheduling = this.schedulingOf(client);
    client.params = scheduling.params;
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
          log.warn({ reason }, 'session ended by a protocol error');
          ws.close(CloseCodes.PROTOCOL_ERROR, reason.slice(0, 120));
        } else {
          log.info({ stats: client.info.stats }, 'session freed');
        }
      },
      { quota, ...scheduling.params },
    );
    const devices = this.driver.devices().filter((d) => (quota[d.ordinal] ?? 0) > 0);
    log.info(
      { program: hello.program, pid: hello.pid, host: hello.host, cuda: hello.cuda, tenant: client.info.tenant, request: client.info.request, cards: devices.map((d) => d.ordinal), quota, scheduling: client.info.scheduling },
      'client connected',
    );
    ws.send(encodeWelcome(client.info.id, this.driver.digest, this.driver.version, devices, quota));
  }

  private schedulingOf(client: Client) {
    const s = scheduling(client.info.request, client.ceiling, { share: this.sharing.defaultShare }, this.sharing.windows, this.now());
    client.info.scheduling = { share: s.params.share, limit: s.params.limit, priority: formatPriority(s.priority), effective: s.effective };
    return s;
  }

  /** Once a second: device time for achieved shares, and the schedule windows' changes. */
  private sample(): void {
    const at = Date.now();
    for (const client of this.clients.values()) {
      if (!client.session) continue;
      client.usage.record(at, client.session.stats().sched.map((c) => c.deviceNs));
      const next = this.schedulingOf(client).params;
      const prev = client.params;
      if (prev && (prev.priority !== next.priority || prev.paused !== next.paused)) {
        this.logger.info({ session: client.info.id, scheduling: client.info.scheduling }, 'schedule window: session rescheduled');
        client.session.setSchedule(next);
      }
      client.params = next;
    }
  }

  private ping(): void {
    for (const client of this.clients.values()) {
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
      const achieved = c.usage.achieved();
      const cards = (c.quota ?? []).map((quota, ordinal) => ({
        ordinal,
        quota,
        used: stats?.used[ordinal] ?? 0,
        deviceNs: stats?.sched[ordinal]?.deviceNs ?? 0,
        waitNs: stats?.sched[ordinal]?.waitNs ?? 0,
        achievedShare: achieved?.[ordinal] ?? null,
      })).filter((card) => card.quota > 0); // the cards it was given
      return { ...c.info, cards, stats };
    });
  }

  /**
   * Per card: its memory and the quota committed to live sessions (bytes), the shares committed to
   * them, and the scheduler's view: sessions waiting for it, measured device time of all its work.
   */
  cards(): { ordinal: number; uuid: string; totalMem: number; committed: number; committedShare: number; waiting: number; deviceNs: number }[] {
    const sched = this.driver.cardStats();
    const devices = this.driver.devices();
    return this.ledger.status().map((c) => {
      let committedShare = 0;
      for (const client of this.clients.values()) {
        if (client.session && (client.quota?.[c.ordinal] ?? 0) > 0) committedShare += client.params?.share ?? 0;
      }
      const uuid = devices[c.ordinal]?.uuid;
      return { ordinal: c.ordinal, uuid: uuid ? formatUuid(uuid) : '', totalMem: c.totalMem, committed: c.committed, committedShare, waiting: sched[c.ordinal]?.waiting ?? 0, deviceNs: sched[c.ordinal]?.deviceNs ?? 0 };
    });
  }

  /** Refuses new clients, closes the others, and waits until every session has freed its state. */
  async close(timeoutMs = 5000): Promise<void> {
    this.closing = true;
    clearInterval(this.pinger);
    clearInterval(this.sampler);
    for (const client of this.clients.values()) client.ws.close(CloseCodes.SHUTTING_DOWN, 'daemon shutting down');
    const deadline = Date.now() + timeoutMs;
    while (this.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const client of this.clients.values()) client.ws.terminate();
    this.wss.close();
  }
}
