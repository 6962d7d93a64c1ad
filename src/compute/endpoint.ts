import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { peerKey, type Authenticator } from '../auth/authenticator.js';
import { verifiedClientName } from '../auth/certificate.js';
import { priorityLowered } from '../auth/limits.js';
import type { TenantLimits } from '../auth/tokens.js';
import { ErrorCodes, messageOf } from '../errors.js';
import type { Device } from '../vendors/device.js';
import { AdmissionQueue } from '../sharing/admission.js';
import { placeSession, type PlacementCard, type Policy } from '../sharing/placement.js';
import { NO_REQUEST, QuotaLedger, QuotaRefusal, parseQuotaSetting, sessionQuota, type JobRequest, type QuotaSetting } from '../sharing/quota.js';
import { CUDA_ERROR_NAMES, poisonCode } from './card-health.js';
import { computeCards, type ComputeCard } from './cards.js';
import { CloseCodes, HandshakeError, closeReason, encodeWelcome, parseHello, type Hello } from './handshake.js';
import { WaitProgress, encodeRefused } from './handshake-notices.js';
import { clientText } from './client-text.js';
import { JsLink, NativeLink, holdForHandover, parkForWorker, releaseToNative, unparsedBytes, type ClientLink } from './client-link.js';
import { WorkerSession, type WorkerSettings } from './worker-session.js';
import type { ComputeAddon, EmuStats, NativeDriver, NativeSession, PeerCredentials, SessionStats } from './native.js';
import type { Socket } from 'node:net';
import { defaultConfig, type DaemonConfig } from '../config/schema.js';
import { formatPriority, parsePriority, type Priority } from '../sharing/priority.js';
import { scheduling, type SchedParams } from '../sharing/schedule.js';
import { UsageWindow } from '../sharing/usage.js';
import { memoryOverLimit, sessionOverLimit, tenantCaps, type TenantDefaults, type TenantHolding } from '../sharing/tenant-limits.js';
import type { PendingConnection } from '../server/connection-guard.js';

/** Message and backlog limits of a session (docs/protocol.md, "Limits"; config `compute`). */
export interface ComputeLimits {
  /** Larger messages close the connection (1009). */
  maxMessageBytes: number;
  /** Backpressure: the session's socket is paused while its queue holds more, resumed at half. */
  maxQueuedBytes: number;
  /** After the handshake the session's own threads read and write plain-TCP connections; config `compute.nativeConnections`. */
  nativeConnections: boolean;
  /** Before its HELLO is accepted a client may send no more than this (1009); config `auth.maxHelloBytes`. */
  maxHelloBytes: number;
  /** A failed handshake from an address over its failures is answered this late; config `auth.blockedDelayMs`. */
  blockedDelayMs: number;
}

export interface SessionInfo {
  id: number;
  peer: string;
  program: string;
  pid: number;
  host: string;
  /** The tenant whose token or client certificate opened the session (docs/security.md); null when the daemon has neither. */
  tenant: string | null;
  connectedAt: string;
  /** `handshake` until HELLO is taken; `waiting` while held for cards with room (its `wait`); then `active`. */
  state: 'handshake' | 'waiting' | 'active';
  /** What the client asked for (docs/operations.md, "Memory quotas", "Placement"); all null: the defaults. */
  request: JobRequest;
  /** How the scheduler treats it (docs/sharing.md); null until the handshake is done. */
  scheduling: { share: number; limit: boolean; priority: string; effective: string } | null;
  /**
   * Per card the session was given: its memory quota and what it holds (bytes), its measured device
   * time and time waiting for the card (ns), and the share of the card it had over the last 10 s
   * (null: not measured yet).
   */
  cards: { ordinal: number; quota: number; used: number; deviceNs: number; waitNs: number; achievedShare: number | null; poisoned: string | null }[];
  /** Times the daemon stopped reading the client, its backlog over `compute.maxQueuedBytes`. */
  pauses: number;
  /**
   * How the session's calls reach it: `tcp` or `tls`, read by `native` code (the session's threads,
   * off the event loop) or by `js` (through the event loop: TLS, and every connection before its WELCOME).
   */
  transport: { socket: 'tcp' | 'tls' | 'unix'; reader: 'native' | 'js' };
  /** The pid of the worker process that runs the session (config `compute.sessionProcess: "process"`); null: a thread of the daemon. */
  workerPid: number | null;
  /** A `unix` connection's peer as the kernel recorded it at connect (SO_PEERCRED); absent on TCP. */
  credentials?: PeerCredentials;
  stats: SessionStats | null;
}

interface Client {
  info: SessionInfo;
  ws: WebSocket;
  /** How it is pinged and closed: through `ws` until its session takes the socket over. */
  link: ClientLink;
  session: NativeSession | null;
  /** Messages went to the session through `ws` (sent before the WELCOME): it keeps that path. */
  submitted: boolean;
  /** The quota committed for it per card, by ordinal (0: a card it was not given); released once, when the session is freed. */
  quota: number[] | null;
  /** The share committed with it on each of its cards. */
  share: number;
  /** Withdraws it from the admission queue while it waits for room. */
  withdraw: (() => void) | null;
  /** Its HELLO asked for handshake notices (handshake-notices.ts). */
  notices: boolean;
  /** The tenant's priority ceiling and the last parameters the scheduler was given. */
  ceiling: Priority | null;
  params: SchedParams | null;
  usage: UsageWindow;
}

/** Who opened a session, as placement needs it. */
interface Tenant {
  name: string | null;
  limits: TenantLimits | null;
}

type Admission = { ok: true } | { ok: false; reason: string; final: boolean; code: string };

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

/** Sessions as threads of the daemon, or each in a worker process of its own (native/worker). */
export interface SessionPlacement {
  process: boolean;
  /** The worker's heartbeat (its stats) and how long without one means it hung (config `compute.workerHeartbeatMs`, `workerHangMs`). */
  heartbeatMs: number;
  hangMs: number;
}

/** A card of the compute driver with the scheduler's figures (docs/sharing.md). */
export interface ScheduledCard extends ComputeCard {
  /** Sessions whose work waits for the card right now (the queue length). */
  waiting: number;
  /** Device time of all sessions' work on the card, departed ones included, in ns. */
  deviceNs: number;
  /** Sessions whose calls on this card fail since it went unhealthy (docs/operations.md, "Faults"). */
  poisonedSessions: number[];
}

const SAMPLE_MS = 1000;

/** What status shows of the sharing settings: what `gpupool run` needs to place a job across hosts. */
export interface SharingStatus {
  defaultQuota: string;
  overcommit: boolean;
  placement: Policy;
  defaultShare: number;
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
  private readonly placement: SessionPlacement;
  private readonly schedulerSettings: WorkerSettings['scheduler'];
  /** Device time measured by session workers that have ended, per card: the card's total keeps it, as the daemon's gate does. */
  private readonly clients = new Map<number, Client>();
  private readonly pinger: NodeJS.Timeout;
  private nextId = 1;
  private closing = false;
  private readonly auth: Authenticator | null;
  private readonly sharing: SharingStatus;
  private readonly defaultQuota: QuotaSetting;
  private readonly ledger: QuotaLedger;
  private readonly waiting = new AdmissionQueue();
  private readonly vendorDevices: () => Device[];
  private readonly schedule: DaemonConfig['sharing'];
  private readonly sampler: NodeJS.Timeout;
  private readonly now: () => Date;
  private readonly graceMs: number;
  private readonly helloTimeoutMs: number;
  private readonly tenantDefaults: TenantDefaults;

  constructor(
    private readonly driver: NativeDriver,
    private readonly addon: ComputeAddon,
    private readonly logger: Logger,
    options: ComputeEndpointOptions,
  ) {
    this.auth = options.auth ?? null;
    const defaults = defaultConfig();
    const { maxMessageBytes, maxQueuedBytes, nativeConnections } = defaults.compute;
    const { maxHelloBytes, blockedDelayMs } = defaults.auth;
    this.limits = { maxMessageBytes, maxQueuedBytes, nativeConnections, maxHelloBytes, blockedDelayMs, ...options.limits };
    const { sessionProcess, workerHeartbeatMs, workerHangMs } = defaults.compute;
    this.placement = { process: sessionProcess === 'process', heartbeatMs: workerHeartbeatMs, hangMs: workerHangMs, ...options.sessions };
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxMessageBytes, perMessageDeflate: false });
    this.helloTimeoutMs = options.helloTimeoutMs ?? 5000;
    const sharing = { ...defaultConfig().sharing, ...options.sharing };
    this.schedule = sharing;
    this.sharing = { defaultQuota: sharing.defaultQuota, overcommit: sharing.overcommit, placement: sharing.placement, defaultShare: sharing.defaultShare };
    this.now = options.now ?? (() => new Date());
    this.schedulerSettings = { sliceUs: sharing.sliceMs * 1000, paceDepth: sharing.paceDepth, idleGraceUs: sharing.idleGraceUs };
    driver.configureScheduler(this.schedulerSettings);
    this.defaultQuota = parseQuotaSetting(sharing.defaultQuota);
    this.tenantDefaults = { sessions: sharing.tenantMaxSessions, memory: parseQuotaSetting(sharing.tenantMaxMemory, 'sharing.tenantMaxMemory') };
    this.vendorDevices = options.vendorDevices ?? (() => []);
    this.ledger = new QuotaLedger(
      driver.devices().map((d) => ({ ordinal: d.ordinal, totalMem: d.totalMem })),
      sharing.overcommit,
    );
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
    const credentials = kind === 'unix' ? localPeer(req.socket, this.addon) : null;
    const client: Client = {
      info: {
        id,
        peer: kind === 'unix' ? `unix:pid=${credentials?.pid ?? '?'},uid=${credentials?.uid ?? '?'}` : `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`,
        program: '',
        pid: 0,
        host: '',
        tenant: null,
        connectedAt: new Date().toISOString(),
        state: 'handshake',
        request: { ...NO_REQUEST },
        scheduling: null,
        cards: [],
        pauses: 0,
        transport: { socket: kind === 'unix' ? 'unix' : (req.socket as { encrypted?: boolean }).encrypted ? 'tls' : 'tcp', reader: 'js' },
        workerPid: null,
        ...(credentials ? { credentials } : {}),
        stats: null,
      },
      ws,
      link,
      session: null,
      submitted: false,
      quota: null,
      share: 0,
      withdraw: null,
      notices: false,
      ceiling: null,
      params: null,
      usage: new UsageWindow(),
    };
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
      try {
        const hello = parseHello(message, this.driver.digest);
        // Authenticated before the session exists: nothing reaches the driver without a good token.
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
        this.admitOrWait(client, hello, { name: auth.tenant, limits: auth.limits }, log);
      } catch (err) {
        const code = err instanceof HandshakeError ? err.closeCode : CloseCodes.PROTOCOL_ERROR;
        log.warn({ code: ErrorCodes.PROTOCOL_ERROR, closeCode: code, err: clientText(messageOf(err)) }, 'handshake refused');
        ws.close(code, closeReason(messageOf(err)));
      }
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

  /**
   * Places the session now, or (with a request's `wait`) holds the handshake and tries again each time
   * a session ends or a card's health changes, or refuses it with close 4004 and the reason.
   */
  private admitOrWait(client: Client, hello: Hello, tenant: Tenant, log: Logger): void {
    const first = this.admit(client, hello, tenant, log);
    if (first.ok) return;
    const waitS = client.info.request.wait ?? 0;
    if (first.final || waitS === 0) {
      this.refuse(client, first, log);
      return;
    }
    let last = first;
    client.info.state = 'waiting';
    log.info({ reason: first.reason, waitS, request: client.info.request }, 'waiting for cards with room');
    const progress = client.notices ? new WaitProgress((m) => client.ws.readyState === client.ws.OPEN && client.ws.send(m), waitS) : null;
    progress?.update(first.reason);
    const withdraw = this.waiting.add(
      () => {
        if (client.ws.readyState !== client.ws.OPEN) return true;
        let next: Admission;
        try {
          next = this.admit(client, hello, tenant, log);
        } catch (err) {
          // Called when another session ends: its failure is this client's alone.
          log.warn({ err: messageOf(err) }, 'handshake refused');
          client.ws.close(CloseCodes.PROTOCOL_ERROR, closeReason(messageOf(err)));
          return true;
        }
        if (next.ok || next.final) progress?.stop();
        if (next.ok) return true;
        if (next.final) {
          this.refuse(client, next, log);
          return true;
        }
        last = next;
        progress?.update(next.reason);
        return false;
      },
      waitS * 1000,
      () => {
        client.withdraw = null;
        progress?.stop();
        this.refuse(client, { ...last, reason: `waited ${waitS} s: ${last.reason}` }, log);
      },
    );
    client.withdraw = () => {
      withdraw();
      progress?.stop();
    };
  }

  /** Chooses the session's cards, commits its quota on them and starts it; or says why it cannot. */
  private admit(client: Client, hello: Hello, tenant: Tenant, log: Logger): Admission {
    const request = client.info.request;
    const cards = this.cards();
    let quota: number[];
    try {
      quota = sessionQuota(request, cards, this.defaultQuota, { name: tenant.name, quota: tenant.limits?.quota ?? null });
    } catch (err) {
      if (!(err instanceof QuotaRefusal)) throw err;
      return { ok: false, final: true, reason: err.message, code: ErrorCodes.QUOTA_REFUSED };
    }
    const share = request.share ?? this.sharing.defaultShare;
    const caps = tenant.name === null ? null : tenantCaps(tenant.limits, this.tenantDefaults, cards.reduce((n, c) => n + c.totalMem, 0));
    const held = tenant.name === null ? null : this.holding(tenant.name);
    const overSessions = caps && held ? sessionOverLimit(tenant.name!, caps, held) : null;
    if (overSessions) return { ok: false, final: false, reason: overSessions, code: ErrorCodes.TENANT_LIMIT };
    // The tenant's cards, and of those the ones the request names (a DRA allocation's card).
    const tenantAllowed = tenantCards(tenant.limits);
    const named = request.cards;
    const allowed = named
      ? (card: PlacementCard) => named.includes(card.ordinal) && (tenantAllowed === null || tenantAllowed(card))
      : tenantAllowed;
    const placement = placeSession(cards, {
      gpus: request.gpus ?? 1,
      policy: request.policy ?? this.sharing.placement,
      quota,
      share,
      overcommit: this.sharing.overcommit,
      ...(allowed ? { allowed } : {}),
    });
    if (!placement.ok) return { ...placement, code: ErrorCodes.NO_ROOM };
    const given = quota.map((q, ordinal) => (placement.ordinals.includes(ordinal) ? q : 0));
    const overMemory = caps && held ? memoryOverLimit(tenant.name!, caps, held, given.reduce((n, q) => n + q, 0)) : null;
    if (overMemory) return { ok: false, final: false, reason: overMemory, code: ErrorCodes.TENANT_LIMIT };
    // Committed here, before the session exists, and released when it is freed.
    this.ledger.commit(given, share);
    client.quota = given;
    client.share = share;
    try {
      this.start(client, hello, log);
    } catch (err) {
      // A session that could not start holds nothing.
      this.release(client);
      throw err;
    }
    return { ok: true };
  }

  /** The sessions a tenant has admitted now, and the quota they hold committed over all cards. */
  private holding(tenant: string): TenantHolding {
    const held = { sessions: 0, memory: 0 };
    for (const c of this.clients.values()) {
      if (c.info.tenant !== tenant || !c.quota) continue;
      held.sessions++;
      held.memory += c.quota.reduce((n, q) => n + q, 0);
    }
    return held;
  }

  private refuse(client: Client, refusal: { reason: string; code: string }, log: Logger): void {
    const { info } = client;
    const msg = { [ErrorCodes.QUOTA_REFUSED]: 'handshake refused: memory quota', [ErrorCodes.TENANT_LIMIT]: "handshake refused: the tenant's limit" }[refusal.code] ?? 'handshake refused: no card has room';
    log.warn({ code: refusal.code, reason: refusal.reason, request: info.request, tenant: info.tenant, program: info.program }, msg);
    // The whole reason first, for clients that take notices; the close frame's is cut to 123 bytes.
    if (client.notices) client.ws.send(encodeRefused(CloseCodes.NO_DEVICE, refusal.reason));
    client.ws.close(CloseCodes.NO_DEVICE, closeReason(refusal.reason));
  }

  /** Gives back what the client held, and lets waiting clients try again. */
  private release(client: Client): void {
    if (!client.quota) return;
    this.ledger.release(client.quota, client.share);
    client.quota = null;
    this.retryWaiting();
  }

  /** Tries the waiting clients again: something that may have made room happened (a card healthy again). */
  retryWaiting(): void {
    this.waiting.retry();
  }

  private start(client: Client, hello: Hello, log: Logger): void {
    const { ws } = client;
    const quota = client.quota ?? [];
    const scheduling = this.schedulingOf(client);
    client.params = scheduling.params;
    const onOutput = (reply: Buffer) => {
      if (ws.readyState === ws.OPEN) ws.send(reply);
    };
    const onClosed = (reason: string | null, closeCode: number | null) => {
      client.info.stats = client.session?.stats() ?? null;
      client.info.pauses = client.link.pauses;
      this.clients.delete(client.info.id);
      // The session's memory is freed: its quota is the cards' again.
      this.release(client);
      if (closeCode === CloseCodes.SESSION_WORKER_FAILED) {
        // The worker told the client itself when it owned the connection; through ws otherwise.
        log.warn({ code: ErrorCodes.SESSION_WORKER_FAILED, reason, workerPid: client.session instanceof WorkerSession ? client.session.pid : null, stats: client.info.stats }, 'session worker failed; its session is ended and freed');
        if (client.link.reader === 'js') client.link.close(CloseCodes.SESSION_WORKER_FAILED, closeReason(reason ?? 'session worker failed'));
        return;
      }
      // On a native connection `ws` is gone: the session's end is the client's.
      if (client.link.reader === 'native') log.info({ code: closeCode ?? CloseCodes.PROTOCOL_ERROR }, 'client disconnected');
      if (reason !== null) {
        log.warn({ code: ErrorCodes.PROTOCOL_ERROR, reason }, 'session ended by a protocol error');
        client.link.close(CloseCodes.PROTOCOL_ERROR, closeReason(reason));
      } else {
        log.info({ stats: client.info.stats }, 'session freed');
      }
    };
    const options = { quota, ...scheduling.params };
    client.session = this.placement.process
      ? new WorkerSession(this.driver, onOutput, onClosed, options, { heartbeatMs: this.placement.heartbeatMs, hangMs: this.placement.hangMs, scheduler: this.schedulerSettings })
      : new this.addon.Session(this.driver, onOutput, onClosed, options);
    client.session.limitBacklog(this.limits.maxQueuedBytes, () => ws.resume());
    // Only the first refusal of a session comes here; the session's stats count them all.
    client.session.onRefusal((refusal) => log.warn({ code: ErrorCodes.BOUNDS_REFUSED, tenant: client.info.tenant, program: hello.program, ...refusal }, 'refused a call on device memory outside the session\'s allocations'));
    client.info.state = 'active';
    const devices = this.driver.devices().filter((d) => (quota[d.ordinal] ?? 0) > 0);
    log.info({ program: hello.program, pid: hello.pid, host: hello.host, cuda: hello.cuda, tenant: client.info.tenant, request: client.info.request, cards: devices.map((d) => d.ordinal), quota, scheduling: client.info.scheduling }, 'client connected');
    const welcome = encodeWelcome(client.info.id, this.driver.digest, this.driver.version, devices, quota);
    const held = this.limits.nativeConnections ? holdForHandover(ws) : null;
    if (!held) {
      ws.send(welcome);
      return;
    }
    // The WELCOME goes out through ws; once it has left, the session takes the socket.
    ws.send(welcome, (err) => {
      if (err || !client.session || ws.readyState !== ws.OPEN) return;
      this.handOver(client, held, log);
    });
  }

  /**
   * The session's own threads read and write the connection from here on (docs/architecture.md):
   * unless the client spoke before its WELCOME (its messages went through ws: it keeps that path).
   */
  private handOver(client: Client, held: { fd: number; resume: () => void }, log: Logger): void {
    const session = client.session!;
    const prefix = client.submitted ? null : unparsedBytes(client.ws);
    if (!prefix) {
      held.resume();
      return;
    }
    try {
      session.attach(held.fd, prefix, { maxMessageBytes: this.limits.maxMessageBytes, maxQueuedBytes: this.limits.maxQueuedBytes });
    } catch (err) {
      log.warn({ err: messageOf(err) }, 'the session could not take its connection over; it stays on the event loop');
      held.resume();
      return;
    }
    // A worker process holds its own copy: the daemon keeps the socket, unread, to tell the client if the worker fails.
    if (session instanceof WorkerSession) {
      session.park(parkForWorker(client.ws));
    } else {
      releaseToNative(client.ws);
    }
    client.link = new NativeLink(session);
    client.info.transport = { ...client.info.transport, reader: 'native' };
  }

  private schedulingOf(client: Client) {
    const s = scheduling(client.info.request, client.ceiling, { share: this.sharing.defaultShare }, this.schedule.windows, this.now());
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
  workerEmuStats(): EmuStats[] {
    return [...this.clients.values()].flatMap((c) => (c.session instanceof WorkerSession && c.session.emu ? [c.session.emu] : []));
  }

  sessions(): SessionInfo[] {
    return [...this.clients.values()].map((c) => {
      const stats = c.session?.stats() ?? null;
      const achieved = c.usage.achieved();
      const cards = (c.quota ?? []).flatMap((quota, ordinal) =>
        quota > 0
          ? [
              {
                ordinal,
                quota,
                used: stats?.used[ordinal] ?? 0,
                deviceNs: stats?.sched[ordinal]?.deviceNs ?? 0,
                waitNs: stats?.sched[ordinal]?.waitNs ?? 0,
                achievedShare: achieved?.[ordinal] ?? null,
                poisoned: CUDA_ERROR_NAMES[stats?.poisoned[ordinal] ?? 0] ?? null,
              },
            ]
          : [],
      );
      const workerPid = c.session instanceof WorkerSession ? c.session.pid : null;
      return { ...c.info, pauses: c.link.pauses, cards, stats, workerPid };
    });
  }

  /**
   * Per card: its memory, what live sessions hold of it, its health and utilization (docs/operations.md,
   * "Placement"), and the scheduler's figures: sessions waiting for it, device time (docs/sharing.md).
   */
  cards(): ScheduledCard[] {
    const sched = this.driver.cardStats();
    // Sessions in worker processes are clients of the same card state (shared memory): these figures are every session's.
    const poisoned = [...this.clients.values()].map((client) => ({ id: client.info.id, cards: client.session?.stats().poisoned ?? [] }));
    return computeCards(this.driver.devices(), this.ledger.status(), this.vendorDevices()).map((c) => ({
      ...c,
      waiting: sched[c.ordinal]?.waiting ?? 0,
      deviceNs: sched[c.ordinal]?.deviceNs ?? 0,
      poisonedSessions: poisoned.filter((p) => (p.cards[c.ordinal] ?? 0) !== 0).map((p) => p.id),
    }));
  }

  sharingStatus(): SharingStatus {
    return { ...this.sharing };
  }

  /** Refuses new clients, closes the others, and waits until every session has freed its state. */
  async close(timeoutMs = 5000): Promise<void> {
    this.closing = true;
    clearInterval(this.pinger);
    clearInterval(this.sampler);
    this.waiting.clear();
    for (const client of this.clients.values()) client.link.close(CloseCodes.SHUTTING_DOWN, 'daemon shutting down');
    const deadline = Date.now() + timeoutMs;
    while (this.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const client of this.clients.values()) client.link.terminate();
    this.wss.close();
  }
}

/** A tenant's `cards=` (docs/security.md) as a filter: CUDA ordinals or UUIDs; null: every card. */
function tenantCards(limits: TenantLimits | null): ((card: PlacementCard) => boolean) | null {
  const list = limits?.cards;
  if (!list) return null;
  return (card) => list.some((x) => (typeof x === 'number' ? x === card.ordinal : card.uuid !== null && x.toLowerCase() === card.uuid.toLowerCase()));
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
