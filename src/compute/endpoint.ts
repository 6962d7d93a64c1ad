import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { peerKey, type Authenticator } from '../auth/authenticator.js';
import { verifiedClientName } from '../auth/certificate.js';
import { priorityLowered } from '../auth/limits.js';
import { defaultConfig, type DaemonConfig } from '../config/schema.js';
import { ErrorCodes, messageOf } from '../errors.js';
import { formatPriority, parsePriority } from '../sharing/priority.js';
import { NO_REQUEST, QuotaLedger, parseQuotaSetting } from '../sharing/quota.js';
import { scheduling } from '../sharing/schedule.js';
import type { PendingConnection } from '../server/connection-guard.js';
import type { Device } from '../vendors/device.js';
import { CUDA_ERROR_NAMES, poisonCode } from './card-health.js';
import { clientText } from './client-text.js';
import { JsLink } from './client-link.js';
import { newClient, type Client, type SessionInfo } from './client.js';
import { CloseCodes, HandshakeError, closeReason, parseHello } from './handshake.js';
import type { ComputeAddon, EmuStats, NativeDriver, PeerCredentials } from './native.js';
import { SessionAdmission } from './session-admission.js';
import { SessionLauncher, type ComputeLimits, type SessionPlacement } from './session-start.js';
import { SessionStatus, type ScheduledCard, type SharingStatus } from './session-status.js';
import { WorkerPlacement } from './worker-placement.js';
import { WorkerPool } from './worker-pool.js';
import type { WorkerStartSettings } from './worker-process.js';

export type { SessionInfo } from './client.js';
export type { ComputeLimits, SessionPlacement } from './session-start.js';
export type { ScheduledCard, SharingStatus } from './session-status.js';

export interface ComputeEndpointOptions {
  /** Ping every client this often. */
  pingIntervalMs: number;
  /** A client silent (no data, no pong) for longer is dropped at the next ping; default two ping intervals. */
  clientGraceMs?: number | null;
  /** A connection that has not sent a valid HELLO this long after it opened is closed (4002). */
  helloTimeoutMs?: number;
  /** Who may open a session; without one, anyone who can connect may. */
  auth?: Authenticator;
  /** Memory quotas, placement and the scheduler (config `sharing`); default: 25% of each card, no overcommit, `spread`. */
  sharing?: Partial<DaemonConfig['sharing']>;
  /** The vendor libraries' cards (health, utilization), matched to the driver's by UUID; default: none. */
  vendorDevices?: () => Device[];
  /** The wall clock the schedule windows follow (tests pass their own). */
  now?: () => Date;
  /** Message and queue limits; default: the configuration's defaults. */
  limits?: Partial<ComputeLimits>;
  /** Where sessions run (config `compute.sessionProcess`, docs/architecture.md); default: the configuration's. */
  sessions?: Partial<SessionPlacement>;
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
  private readonly wss: WebSocketServer;
  private readonly limits: ComputeLimits;
  private readonly clients = new Map<number, Client>();
  private readonly pinger: NodeJS.Timeout;
  private nextId = 1;
  private closing = false;
  private readonly auth: Authenticator | null;
  private readonly sharing: SharingStatus;
  private readonly schedule: DaemonConfig['sharing'];
  private readonly sampler: NodeJS.Timeout;
  private readonly now: () => Date;
  private readonly graceMs: number;
  private readonly helloTimeoutMs: number;
  private readonly admission: SessionAdmission;
  private readonly launcher: SessionLauncher;
  /** Idle session workers started ahead of need (process mode, config `compute.workerPoolSize`). */
  readonly pool: WorkerPool | null;
  private readonly status: SessionStatus;

  constructor(
    private readonly driver: NativeDriver,
    private readonly addon: ComputeAddon,
    private readonly logger: Logger,
    options: ComputeEndpointOptions,
  ) {
    this.auth = options.auth ?? null;
    const defaults = defaultConfig();
    const { maxMessageBytes, maxQueuedBytes, sharedMemoryBytes, sharedMemoryRegions, callRingBytes, callRingSpinUs, nativeConnections } = defaults.compute;
    const { maxHelloBytes, blockedDelayMs } = defaults.auth;
    this.limits = { maxMessageBytes, maxQueuedBytes, sharedMemoryBytes, sharedMemoryRegions, callRingBytes, callRingSpinUs, nativeConnections, maxHelloBytes, blockedDelayMs, ...options.limits };
    const { sessionProcess, workerHeartbeatMs, workerHangMs, workerPoolSize, workerScope } = defaults.compute;
    const placement = { process: sessionProcess === 'process', heartbeatMs: workerHeartbeatMs, hangMs: workerHangMs, poolSize: workerPoolSize, scope: workerScope, ...options.sessions };
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxMessageBytes, perMessageDeflate: false });
    this.helloTimeoutMs = options.helloTimeoutMs ?? 5000;
    const sharing = { ...defaultConfig().sharing, ...options.sharing };
    this.schedule = sharing;
    this.sharing = { defaultQuota: sharing.defaultQuota, overcommit: sharing.overcommit, placement: sharing.placement, defaultShare: sharing.defaultShare };
    this.now = options.now ?? (() => new Date());
    const schedulerSettings: WorkerStartSettings['scheduler'] = { sliceUs: sharing.sliceMs * 1000, paceDepth: sharing.paceDepth, idleGraceUs: sharing.idleGraceUs };
    driver.configureScheduler(schedulerSettings);
    const ledger = new QuotaLedger(
      driver.devices().map((d) => ({ ordinal: d.ordinal, totalMem: d.totalMem })),
      sharing.overcommit,
    );
    const clients = () => this.clients.values();
    this.status = new SessionStatus(driver, ledger, options.vendorDevices ?? (() => []), clients);
    this.pool =
      placement.process && placement.poolSize > 0
        ? new WorkerPool(placement.poolSize, driver, { heartbeatMs: placement.heartbeatMs, scheduler: schedulerSettings }, {
            failed: (pid, why) => logger.warn({ code: ErrorCodes.SESSION_WORKER_FAILED, workerPid: pid, reason: why }, 'an idle session worker failed; the pool starts another'),
          })
        : null;
    this.launcher = new SessionLauncher({
      driver,
      addon,
      limits: this.limits,
      placement,
      workers: placement.process
        ? new WorkerPlacement(placement.scope, driver, { heartbeatMs: placement.heartbeatMs, hangMs: placement.hangMs, scheduler: schedulerSettings }, this.pool)
        : null,
      freed: (client) => {
        this.status.departed(client);
        this.clients.delete(client.info.id);
        // The session's memory is freed: its quota is the cards' again.
        this.admission.release(client);
      },
    });
    this.admission = new SessionAdmission({
      ledger,
      defaultQuota: parseQuotaSetting(sharing.defaultQuota),
      tenantDefaults: { sessions: sharing.tenantMaxSessions, memory: parseQuotaSetting(sharing.tenantMaxMemory, 'sharing.tenantMaxMemory') },
      sharing: this.sharing,
      cards: () => this.status.cards(),
      clients,
      start: (client, hello, log) => this.launcher.start(client, hello, this.schedulingOf(client), log),
    });
    this.graceMs = options.clientGraceMs ?? 2 * options.pingIntervalMs;
    this.pinger = setInterval(() => this.ping(), options.pingIntervalMs);
    this.pinger.unref();
    // Device time is sampled for achieved shares; schedule windows are checked on the same beat.
    this.sampler = setInterval(() => this.sample(), SAMPLE_MS);
    this.sampler.unref();
  }

  /**
   * `pending`: the connection's place under the server's limits before authentication (its deadline
   * from TCP accept), released once HELLO is accepted; null: the HELLO deadline runs from here.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pending: PendingConnection | null = null, kind: 'tcp' | 'unix' = 'tcp'): void {
    if (this.closing) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req, pending, kind));
  }

  private accept(ws: WebSocket, req: IncomingMessage, pending: PendingConnection | null, kind: 'tcp' | 'unix'): void {
    const id = this.nextId++;
    const link = new JsLink(ws);
    const client = newClient(id, ws, link, req, kind, kind === 'unix' ? localPeer(req.socket, this.addon) : null);
    this.clients.set(id, client);
    const log = this.logger.child({ session: id, peer: client.info.peer });
    // Failed handshakes are counted per address; a local peer's is its uid.
    const peer = kind === 'unix' ? localPeerKey(req.socket, this.addon) : peerKey(req.socket.remoteAddress);
    const certificate = verifiedClientName(req.socket);
    // A connection that never says HELLO holds a socket and a slot for nothing: it gets until its
    // deadline, counted from TCP accept when the server keeps one (the upgrade and TLS are inside it).
    const helloTimeout = () => {
      if (ws.readyState !== ws.OPEN || client.info.state !== 'handshake') return;
      log.warn({ code: ErrorCodes.HELLO_TIMEOUT, timeoutMs: this.helloTimeoutMs }, 'no HELLO in time; closing the connection');
      ws.close(CloseCodes.PROTOCOL_ERROR, `no HELLO within ${this.helloTimeoutMs} ms`);
    };
    const helloTimer = pending ? null : setTimeout(helloTimeout, this.helloTimeoutMs);
    pending?.onExpire(helloTimeout);
    // Until HELLO is accepted the client is nobody: it may send a HELLO's worth of bytes and no more,
    // counted as they arrive, so that a huge first message is cut before the daemon holds it (ws
    // would otherwise keep up to compute.maxMessageBytes of it).
    let authenticated = false;
    let helloTaken = false;
    let unauthenticatedBytes = 0;
    const admitted = () => {
      authenticated = true;
      pending?.release();
    };
    const seen = (chunk: Buffer) => {
      link.seen();
      if (authenticated) return;
      unauthenticatedBytes += chunk.length;
      if (unauthenticatedBytes <= this.limits.maxHelloBytes || ws.readyState !== ws.OPEN) return;
      log.warn({ code: ErrorCodes.PROTOCOL_ERROR, bytes: unauthenticatedBytes, maxHelloBytes: this.limits.maxHelloBytes }, 'handshake refused: more than a HELLO before authentication');
      ws.close(CloseCodes.MESSAGE_TOO_BIG, `more than ${this.limits.maxHelloBytes} bytes before HELLO was accepted`);
      // Read no more of it; the close frame has gone, the connection is cut shortly.
      req.socket.pause();
      setTimeout(() => ws.terminate(), 1000).unref();
    };
    // Before ws's own listener: a chunk is counted before ws buffers it or takes a message from it.
    req.socket.prependListener('data', seen);
    ws.on('message', (data) => {
      const message = toBuffer(data);
      if (client.session) {
        // Refused only while the session is closing, when the connection is going away anyway.
        client.session.submit(message);
        client.submitted = true;
        // A client that sends faster than its calls run is not read until they catch up.
        if (client.session.backlogged && !ws.isPaused) {
          ws.pause();
          link.pauses++;
        }
        return;
      }
      // Anything a refused or waiting client sent after its HELLO is dropped, not taken for another attempt.
      if (ws.readyState !== ws.OPEN || client.info.state !== 'handshake' || helloTaken) return;
      helloTaken = true;
      if (helloTimer) clearTimeout(helloTimer);
      this.takeHello(client, message, peer, certificate, admitted, log);
    });
    ws.on('close', (code) => {
      if (helloTimer) clearTimeout(helloTimer);
      log.info({ code }, 'client disconnected');
      client.withdraw?.();
      client.withdraw = null;
      // The native session tears down on its own thread and frees everything the client held.
      client.session?.close();
      if (!client.session) this.clients.delete(id);
    });
    ws.on('error', (err) => log.warn({ err: messageOf(err) }, 'client connection error'));
  }

  /** A client's first message: its HELLO, authenticated before anything reaches the driver, then admission. */
  private takeHello(client: Client, message: Buffer, peer: string, certificate: string | null, admitted: () => void, log: Logger): void {
    const { ws } = client;
    try {
      const hello = parseHello(message, this.driver.digest);
      const auth = this.auth?.check(hello.token, peer, certificate) ?? { ok: true, tenant: null, limits: null };
      if (!auth.ok) {
        if (auth.blocked) {
          // Throttled, not logged each time (the block was logged once): the failure is answered late,
          // holding one of the address's pending connections meanwhile, so guessing stays slow.
          log.debug({ code: ErrorCodes.AUTH_REFUSED }, 'handshake refused: too many failed attempts');
          setTimeout(() => ws.close(CloseCodes.AUTH_REFUSED, auth.reason), this.limits.blockedDelayMs).unref();
          return;
        }
        // The reason and the peer (bound to `log`), never the token; names as parseHello bounded them.
        log.warn({ code: ErrorCodes.AUTH_REFUSED, reason: auth.reason, program: hello.program, host: hello.host }, 'handshake refused');
        ws.close(CloseCodes.AUTH_REFUSED, closeReason(auth.reason));
        return;
      }
      client.notices = hello.notices === true;
      admitted();
      Object.assign(client.info, { tenant: auth.tenant, program: hello.program, pid: hello.pid, host: hello.host, request: hello.request ?? { ...NO_REQUEST } });
      client.ceiling = auth.limits?.priority ? parsePriority(auth.limits.priority) : null;
      const lowered = priorityLowered(client.info.request.priority, client.ceiling);
      if (lowered) log.info({ tenant: auth.tenant, requested: client.info.request.priority, priority: lowered, limit: auth.limits?.priority }, "priority lowered to the tenant's limit");
      this.admission.admitOrWait(client, hello, { name: auth.tenant, limits: auth.limits }, log);
    } catch (err) {
      const code = err instanceof HandshakeError ? err.closeCode : CloseCodes.PROTOCOL_ERROR;
      log.warn({ code: ErrorCodes.PROTOCOL_ERROR, closeCode: code, err: clientText(messageOf(err)) }, 'handshake refused');
      ws.close(code, closeReason(messageOf(err)));
    }
  }

  /** Tries the waiting clients again: something that may have made room happened (a card healthy again). */
  retryWaiting(): void {
    this.admission.retry();
  }

  private schedulingOf(client: Client) {
    const s = scheduling(client.info.request, client.ceiling, { share: this.sharing.defaultShare }, this.schedule.windows, this.now());
    client.info.scheduling = { share: s.params.share, limit: s.params.limit, priority: formatPriority(s.priority), effective: s.effective };
    return s.params;
  }

  /** Once a second: device time for achieved shares, and the schedule windows' changes. */
  private sample(): void {
    const at = Date.now();
    for (const client of this.clients.values()) {
      if (!client.session) continue;
      client.usage.record(at, client.session.stats().sched.map((c) => c.deviceNs));
      const next = this.schedulingOf(client);
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
      // A silent one is cut without a close handshake; its session is freed as on any end.
      const { outcome, silentMs } = client.link.ping(this.graceMs);
      if (outcome === 'silent') {
        this.logger.warn({ session: client.info.id, peer: client.info.peer, silentMs, graceMs: this.graceMs }, 'client stopped answering pings; dropping it');
      }
    }
  }

  /**
   * A card's health changed (the vendor registry's event): every live session given a card that is now
   * unhealthy has it poisoned, so that its later calls there fail (docs/operations.md, "Faults").
   * Placement gives new sessions healthy cards only; sessions already poisoned stay so, their state on
   * the card being lost.
   */
  cardHealthChanged(): void {
    for (const card of this.cards()) {
      if (card.health !== 'unhealthy') continue;
      const code = poisonCode(card);
      const hit: number[] = [];
      for (const client of this.clients.values()) {
        if (!client.session || (client.quota?.[card.ordinal] ?? 0) === 0 || card.poisonedSessions.includes(client.info.id)) continue;
        client.session.poison(card.ordinal, code);
        hit.push(client.info.id);
      }
      if (hit.length > 0) {
        this.logger.warn({ code: ErrorCodes.CARD_UNHEALTHY, ordinal: card.ordinal, reason: card.healthReason, error: CUDA_ERROR_NAMES[code], sessions: hit }, "card unhealthy: its sessions' calls on it now fail");
      }
    }
  }

  /** The emulated driver's counters of the live session workers (docs/architecture.md); empty with sessions as threads. */
  workerEmuStats(): Partial<EmuStats>[] {
    return this.status.workerEmuStats();
  }

  /** Sessions' stats as of now, for a reader of status (at most `waitMs` late). */
  freshenStats(waitMs: number): Promise<void> {
    return this.status.freshen(waitMs);
  }

  sessions(): SessionInfo[] {
    return this.status.sessions();
  }

  cards(): ScheduledCard[] {
    return this.status.cards();
  }

  sharingStatus(): SharingStatus {
    return { ...this.sharing };
  }

  /** Refuses new clients, closes the others, and waits until every session has freed its state. */
  async close(timeoutMs = 5000): Promise<void> {
    this.closing = true;
    this.pool?.stop();
    clearInterval(this.pinger);
    clearInterval(this.sampler);
    this.admission.clear();
    for (const client of this.clients.values()) client.link.close(CloseCodes.SHUTTING_DOWN, 'daemon shutting down');
    const deadline = Date.now() + timeoutMs;
    while (this.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const client of this.clients.values()) client.link.terminate();
    this.wss.close();
  }
}

/** What failed handshakes and pending connections of a Unix-socket peer count against: its uid. */
export function localPeerKey(socket: Socket, addon: ComputeAddon): string {
  return `unix:uid=${localPeer(socket, addon)?.uid ?? '?'}`;
}

/** The kernel's record of a Unix-socket peer (its descriptor read through Node's pipe handle); null when unreadable. */
function localPeer(socket: Socket, addon: ComputeAddon): PeerCredentials | null {
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? addon.peerCredentials(fd) : null;
}
