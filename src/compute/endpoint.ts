import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { RefusalReasons, peerKey, type Authenticator } from '../auth/authenticator.js';
import { ErrorCodes, messageOf } from '../errors.js';
import { CloseCodes, HandshakeError, encodeWelcome, parseHello, type Hello } from './handshake.js';
import type { ComputeAddon, NativeDriver, NativeSession, SessionStats } from './native.js';
import { defaultConfig, type DaemonConfig } from '../config/schema.js';
import { formatPriority, parsePriority, type Priority } from '../sharing/priority.js';
import { scheduling, type SchedParams } from '../sharing/schedule.js';
import { UsageWindow } from '../sharing/usage.js';
import { NO_REQUEST, QuotaLedger, QuotaRefusal, parseQuotaSetting, sessionQuota, type JobRequest, type QuotaSetting } from '../sharing/quota.js';
import type { Device } from '../vendors/device.js';
import { CUDA_ERROR_NAMES, cardHealth, formatCudaUuid, healthyOrdinals, poisonCode, type CardHealthState } from './card-health.js';

/** The largest message a client may send: a host-to-device copy travels as one. */
export const MAX_MESSAGE_BYTES = 1024 * 1024 * 1024;

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
  /** How the scheduler treats it (docs/sharing.md); null until the handshake is done. */
  scheduling: { share: number; limit: boolean; priority: string; effective: string } | null;
  /**
   * Per card: its memory quota and what it holds (bytes), its measured device time and time waiting
   * for the card (ns), and the share of the card it had over the last 10 s (null: not measured yet).
   */
  cards: { ordinal: number; quota: number; used: number; deviceNs: number; waitNs: number; achievedShare: number | null; poisoned: string | null }[];
  stats: SessionStats | null;
}

interface Client {
  info: SessionInfo;
  ws: WebSocket;
  session: NativeSession | null;
  /** When the client last showed it is there (any bytes, a pong), by Date.now(). */
  lastSeen: number;
  /** The quota committed for it per card; released once, when the session is freed. */
  quota: number[] | null;
  /** The tenant's priority ceiling and the last parameters the scheduler was given. */
  ceiling: Priority | null;
  params: SchedParams | null;
  usage: UsageWindow;
}

export interface ComputeEndpointOptions {
  /** Ping every client this often. */
  pingIntervalMs: number;
  /** A client silent (no data, no pong) for longer is dropped at the next ping; default two ping intervals. */
  clientGraceMs?: number | null;
  /** The vendor libraries' cards, whose health (matched to the driver's cards by UUID) decides which cards sessions get. */
  vendorDevices?: () => Device[];
  /** Who may open a session; without one, anyone who can connect may. */
  auth?: Authenticator;
  /** Memory quotas and the scheduler (config `sharing`); default: 25% of each card, no overcommit. */
  sharing?: Partial<DaemonConfig['sharing']>;
  /** The wall clock the schedule windows follow (tests pass their own). */
  now?: () => Date;
}

const SAMPLE_MS = 1000;

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
  private readonly graceMs: number;
  private readonly vendorDevices: () => Device[];

  constructor(
    private readonly driver: NativeDriver,
    private readonly addon: ComputeAddon,
    private readonly logger: Logger,
    options: ComputeEndpointOptions,
  ) {
    this.auth = options.auth ?? null;
    const sharing = { ...defaultConfig().sharing, ...options.sharing };
    this.sharing = sharing;
    this.now = options.now ?? (() => new Date());
    driver.configureScheduler({ sliceUs: sharing.sliceMs * 1000, paceDepth: sharing.paceDepth, idleGraceUs: sharing.idleGraceUs });
    this.defaultQuota = parseQuotaSetting(sharing.defaultQuota);
    this.ledger = new QuotaLedger(
      driver.devices().map((d) => ({ ordinal: d.ordinal, totalMem: d.totalMem })),
      sharing.overcommit,
    );
    this.graceMs = options.clientGraceMs ?? 2 * options.pingIntervalMs;
    this.vendorDevices = options.vendorDevices ?? (() => []);
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
      lastSeen: Date.now(),
      quota: null,
      ceiling: null,
      params: null,
      usage: new UsageWindow(),
    };
    this.clients.set(id, client);
    const log = this.logger.child({ session: id, peer: client.info.peer });
    const peer = peerKey(req.socket.remoteAddress);
    // Any bytes count as a sign of life, not only pongs: a pong can wait behind a large copy on the wire.
    const seen = () => {
      client.lastSeen = Date.now();
    };
    req.socket.on('data', seen);
    ws.on('pong', seen);
    ws.on('message', (data) => {
      const message = toBuffer(data);
      if (client.session) {
        // Refused only while the session is closing, when the connection is going away anyway.
        client.session.submit(message);
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
          ws.close(CloseCodes.AUTH_REFUSED, auth.reason);
          return;
        }
        client.info.tenant = auth.tenant;
        const request = hello.request ?? { ...NO_REQUEST };
        client.info.request = request;
        const usable = this.healthyOrdinals();
        if (usable.length === 0) {
          const reason = 'no healthy card: every card of this daemon is reported unhealthy';
          log.warn({ code: ErrorCodes.CARD_UNHEALTHY, reason, program: hello.program }, 'handshake refused: no healthy card');
          ws.close(CloseCodes.NO_DEVICE, reason);
          return;
        }
        let quota: number[];
        try {
          // Unhealthy cards are not given to the session: no quota is committed there and WELCOME leaves them out.
          quota = sessionQuota(request, this.ledger.status(), this.defaultQuota, { name: auth.tenant, quota: auth.limits?.quota ?? null }).map((q, ordinal) =>
            usable.includes(ordinal) ? q : 0,
          );
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
    // A card the session was not given (it was unhealthy) answers as a card that went bad, should a
    // client name it anyway.
    const devices = this.driver.devices().filter((d) => (quota[d.ordinal] ?? 0) > 0);
    for (const c of this.cardHealth()) {
      if (c.health && c.state === 'unhealthy') client.session.poison(c.ordinal, poisonCode(c.health));
    }
    log.info({ program: hello.program, pid: hello.pid, host: hello.host, cuda: hello.cuda, tenant: client.info.tenant, request: client.info.request, quota, cards: devices.map((d) => d.ordinal), scheduling: client.info.scheduling }, 'client connected');
    ws.send(encodeWelcome(client.info.id, this.driver.digest, this.driver.version, devices, quota));
  }

  /** The ordinals a new session may be given (src/compute/card-health.ts). */
  healthyOrdinals(): number[] {
    return healthyOrdinals(this.driver.devices(), this.vendorDevices());
  }

  private cardHealth() {
    return cardHealth(this.driver.devices(), this.vendorDevices());
  }

  /**
   * A card's health changed (the vendor registry's event): every live session on a card now unhealthy
   * has it poisoned, so that its later calls there fail (docs/operations.md, "Faults"). A card healthy
   * again is given to new sessions; sessions already poisoned stay so, their state there being lost.
   */
  cardHealthChanged(): void {
    for (const card of this.cardHealth()) {
      if (card.state !== 'unhealthy' || !card.health) continue;
      const code = poisonCode(card.health);
      const hit: number[] = [];
      for (const client of this.clients.values()) {
        if (!client.session || (client.quota?.[card.ordinal] ?? 0) === 0) continue;
        if ((client.session.stats().poisoned[card.ordinal] ?? 0) !== 0) continue;
        client.session.poison(card.ordinal, code);
        hit.push(client.info.id);
      }
      if (hit.length > 0) {
        this.logger.warn({ code: ErrorCodes.CARD_UNHEALTHY, ordinal: card.ordinal, reason: card.health.reason, error: CUDA_ERROR_NAMES[code], sessions: hit }, 'card unhealthy: its sessions\' calls on it now fail');
      }
    }
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
    const now = Date.now();
    for (const client of this.clients.values()) {
      const silentMs = now - client.lastSeen;
      if (silentMs > this.graceMs) {
        // terminate(): a close handshake would wait on a peer that is not there. The session is freed as on any end.
        this.logger.warn({ session: client.info.id, peer: client.info.peer, silentMs, graceMs: this.graceMs }, 'client stopped answering pings; dropping it');
        client.ws.terminate();
        continue;
      }
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
        poisoned: CUDA_ERROR_NAMES[stats?.poisoned[ordinal] ?? 0] ?? null,
      }));
      return { ...c.info, cards, stats };
    });
  }

  /**
   * Per card: its memory and the quota committed to live sessions (bytes), the shares committed to
   * them, and the scheduler's view: sessions waiting for it, measured device time of all its work.
   */
  cards(): { ordinal: number; uuid: string; totalMem: number; committed: number; committedShare: number; waiting: number; deviceNs: number; health: CardHealthState; poisonedSessions: number[] }[] {
    const sched = this.driver.cardStats();
    const devices = this.driver.devices();
    const health = this.cardHealth();
    const poisoned = [...this.clients.values()].map((client) => ({ id: client.info.id, cards: client.session?.stats().poisoned ?? [] }));
    return this.ledger.status().map((c) => {
      let committedShare = 0;
      for (const client of this.clients.values()) {
        if (client.session && (client.quota?.[c.ordinal] ?? 0) > 0) committedShare += client.params?.share ?? 0;
      }
      const uuid = devices[c.ordinal]?.uuid;
      const poisonedSessions = poisoned.filter((p) => (p.cards[c.ordinal] ?? 0) !== 0).map((p) => p.id);
      return {
        ordinal: c.ordinal,
        uuid: uuid ? formatCudaUuid(uuid) : '',
        totalMem: c.totalMem,
        committed: c.committed,
        committedShare,
        waiting: sched[c.ordinal]?.waiting ?? 0,
        deviceNs: sched[c.ordinal]?.deviceNs ?? 0,
        health: health[c.ordinal]?.state ?? 'unknown',
        poisonedSessions,
      };
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
