import type { Logger } from 'pino';
import { ErrorCodes, messageOf } from '../errors.js';
import type { SchedParams } from '../sharing/schedule.js';
import type { Client } from './client.js';
import { NativeLink, holdForHandover, parkForWorker, releaseToNative, unparsedBytes } from './client-link.js';
import { CloseCodes, closeReason, encodeWelcome, type Hello } from './handshake.js';
import type { ComputeAddon, NativeDriver } from './native.js';
import type { WorkerPlacement, WorkerScope } from './worker-placement.js';
import { WorkerSession } from './worker-session.js';

/** Message and backlog limits of a session (docs/protocol.md, "Limits"; config `compute`). */
export interface ComputeLimits {
  /** Larger messages close the connection (1009). */
  maxMessageBytes: number;
  /** Backpressure: the session's socket is paused while its queue holds more, resumed at half. */
  maxQueuedBytes: number;
  /** Shared memory a local job may map into its session (Unix socket only); config `compute.sharedMemoryBytes`, `sharedMemoryRegions`. */
  sharedMemoryBytes: number;
  sharedMemoryRegions: number;
  /** The call ring a local job may pass (Unix socket only); config `compute.callRingBytes` (0: none), `callRingSpinUs`. */
  callRingBytes: number;
  callRingSpinUs: number;
  /** After the handshake the session's own threads read and write plain-TCP connections; config `compute.nativeConnections`. */
  nativeConnections: boolean;
  /** Before its HELLO is accepted a client may send no more than this (1009); config `auth.maxHelloBytes`. */
  maxHelloBytes: number;
  /** A failed handshake from an address over its failures is answered this late; config `auth.blockedDelayMs`. */
  blockedDelayMs: number;
}

/** Sessions as threads of the daemon, or each in a worker process of its own (native/worker). */
export interface SessionPlacement {
  process: boolean;
  /** The worker's heartbeat (its stats) and how long without one means it hung (config `compute.workerHeartbeatMs`, `workerHangMs`). */
  heartbeatMs: number;
  hangMs: number;
  /** Idle workers kept started ahead of need (config `compute.workerPoolSize`); 0: none. */
  poolSize: number;
  /** Which sessions share a worker (config `compute.workerScope`): none, or a tenant's. */
  scope: WorkerScope;
}

export interface LaunchContext {
  driver: NativeDriver;
  addon: ComputeAddon;
  limits: ComputeLimits;
  placement: SessionPlacement;
  /** Which worker runs a session (process mode). */
  workers: WorkerPlacement | null;
  /** The session is freed: the endpoint forgets its client and gives its quota back. */
  freed: (client: Client) => void;
}

/**
 * Starts an admitted client's session (a thread of the daemon or a worker process), sends its
 * WELCOME, and hands the connection to the session's own threads (docs/architecture.md).
 */
export class SessionLauncher {
  constructor(private readonly ctx: LaunchContext) {}

  start(client: Client, hello: Hello, params: SchedParams, log: Logger): void {
    const { ws } = client;
    const { driver, placement, limits } = this.ctx;
    const quota = client.quota ?? [];
    client.params = params;
    const onOutput = (reply: Buffer) => {
      if (ws.readyState === ws.OPEN) ws.send(reply);
    };
    const onClosed = (reason: string | null, closeCode: number | null) => this.closed(client, reason, closeCode, log);
    const options = { quota, ...params };
    const workers = placement.process ? this.ctx.workers : null;
    client.session = workers
      ? new WorkerSession(driver, onOutput, onClosed, options, {
          placement: workers,
          tenant: client.info.tenant,
          passDescriptor: (channelFd, fd) => this.ctx.addon.passDescriptor(channelFd, fd),
        })
      : new this.ctx.addon.Session(driver, onOutput, onClosed, options);
    client.session.limitBacklog(limits.maxQueuedBytes, () => ws.resume());
    // Only the first refusal of a session comes here; the session's stats count them all.
    client.session.onRefusal((refusal) => log.warn({ code: ErrorCodes.BOUNDS_REFUSED, tenant: client.info.tenant, program: hello.program, ...refusal }, 'refused a call on device memory outside the session\'s allocations'));
    client.info.state = 'active';
    const devices = driver.devices().filter((d) => (quota[d.ordinal] ?? 0) > 0);
    log.info({ program: hello.program, pid: hello.pid, host: hello.host, cuda: hello.cuda, tenant: client.info.tenant, request: client.info.request, cards: devices.map((d) => d.ordinal), quota, scheduling: client.info.scheduling }, 'client connected');
    const welcome = encodeWelcome(client.info.id, driver.digest, driver.version, devices, quota);
    const held = limits.nativeConnections ? holdForHandover(ws) : null;
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

  /** The session's end, whoever ended it: its figures kept for status, its quota given back, the client told why. */
  private closed(client: Client, reason: string | null, closeCode: number | null, log: Logger): void {
    client.info.stats = client.session?.stats() ?? null;
    client.info.pauses = client.link.pauses;
    this.ctx.freed(client);
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
    const { maxMessageBytes, maxQueuedBytes, sharedMemoryBytes, sharedMemoryRegions, callRingBytes, callRingSpinUs } = this.ctx.limits;
    // Descriptors (shared memory) pass over a Unix socket only: a TCP session refuses every region.
    const local = client.info.transport.socket === 'unix';
    try {
      session.attach(held.fd, prefix, {
        maxMessageBytes,
        maxQueuedBytes,
        sharedMemoryBytes: local ? sharedMemoryBytes : 0,
        sharedMemoryRegions: local ? sharedMemoryRegions : 0,
        callRingBytes: local ? callRingBytes : 0,
        callRingSpinUs,
      });
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
}
