import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import { CloseCodes, closeReason } from './handshake.js';
import type { AttachLimits, ConnectionFigures, EmuStats, NativeDriver, NativeSchedParams, NativeSession, NativeSessionOptions, Refusal, SessionStats } from './native.js';
import { WorkerMsg } from './worker-channel.js';
import type { WorkerHost } from './worker-host.js';
import type { WorkerPlacement } from './worker-placement.js';

export { workerPath } from './worker-process.js';

/** Where a session's worker comes from (config `compute`: workerScope, workerPoolSize, workerHeartbeatMs, workerHangMs). */
export interface WorkerSettings {
  /** Picks the worker: the session's own, or its tenant's. */
  placement: WorkerPlacement;
  /** The tenant authentication named (null: none). */
  tenant: string | null;
  /** Passes the client's socket to the worker (the addon's passDescriptor). */
  passDescriptor: (channelFd: number, fd: number) => void;
}

type OnClosed = (reason: string | null, code: number | null) => void;

interface WsSenderClass {
  new (socket: Socket): { close(code: number, data: string, mask: boolean, cb: (err?: Error) => void): void };
}

/**
 * A session run by a worker process (native/worker): its own, or its tenant's
 * (`compute.workerScope`), behind the same interface as the addon's in-process Session
 * (docs/architecture.md). The session takes its worker (worker-placement.ts) when it first needs it:
 * at attach (the client's socket is passed to it) or at the first message of a connection that stays
 * on the event loop. It reports stats on a beat; a worker that exits, crashes or falls silent past
 * `compute.workerHangMs` ends its own sessions only (worker-host.ts): each client gets close code
 * 4006 with the reason, each session's end is reported as any other, and its memory and quota go
 * back with it.
 */
export class WorkerSession implements NativeSession {
  /** The worker's pid once it runs (status shows it). */
  pid: number | null = null;
  private worker: WorkerHost | null = null;
  /** The session's number on its worker's channel. */
  private id = 0;
  /** The client's socket while the worker owns the connection: kept, unread, to tell the client of a failed worker. */
  private parked: Socket | null = null;
  private latest: SessionStats;
  /** The worker's emulated driver's counters at the last beat; null on a real driver or before it. */
  emu: EmuStats | null = null;
  private figures: { at: number; figures: ConnectionFigures } | null = null;
  /** The STATS_NOW ask that status readers wait on, and what settles it when the STATS comes. */
  private freshening: Promise<void> | null = null;
  private statsArrived: (() => void) | null = null;
  private ended = false;
  private closing = false;
  private held = 0;
  private backlogLimit = 0;
  private isBacklogged = false;
  private onDrained: (() => void) | null = null;
  private onRefusalFn: ((refusal: Refusal) => void) | null = null;
  private params: NativeSchedParams;
  /** Cards poisoned before the worker ran: it is told at its start. */
  private readonly pendingPoison: { ordinal: number; code: number }[] = [];

  constructor(
    private readonly driver: NativeDriver,
    private readonly onOutput: (message: Buffer) => void,
    private readonly onClosed: OnClosed,
    private readonly options: NativeSessionOptions,
    private readonly settings: WorkerSettings,
  ) {
    const cards = driver.devices().length;
    const quota = driver.devices().map((d) => options.quota?.[d.ordinal] ?? (options.quota ? 0 : d.totalMem));
    const zero = Array.from({ length: cards }, () => 0);
    this.latest = {
      calls: 0, asyncCalls: 0, messages: 0, handles: 0, contexts: 0, allocations: 0, allocatedBytes: 0, deferredError: 0, refusals: 0, sharedMemoryRegions: 0, sharedMemoryBytes: 0, sharedCopies: 0, callRing: false,
      quota, used: zero, poisoned: zero, sched: zero.map(() => ({ deviceNs: 0, waitNs: 0, waits: 0, slices: 0 })),
    };
    const { quota: _q, ...params } = options;
    this.params = params;
  }

  submit(message: Buffer): boolean {
    if (this.closing || this.ended) return false;
    if (message.length === 0) return true;
    this.send(WorkerMsg.SUBMIT, message);
    this.held += message.length + 256;
    if (this.backlogLimit > 0 && this.held > this.backlogLimit) this.isBacklogged = true;
    return true;
  }

  attach(fd: number, prefix: Buffer, limits: AttachLimits): void {
    if (this.worker) throw new Error('attach: the session runs already');
    if (this.closing || this.ended) throw new Error('attach: the session is closing');
    const worker = this.start();
    try {
      worker.passSocket(fd, this.settings.passDescriptor);
    } catch (err) {
      // The session stays on the event loop (the caller's fallback); its worker serves it there.
      throw new Error(`attach: ${(err as Error).message}`);
    }
    // Right after its socket: a tenant's worker takes one passed socket per ATTACH, in order.
    this.send(WorkerMsg.ATTACH, Buffer.concat([Buffer.from(JSON.stringify(limits)), Buffer.from([0]), prefix]));
  }

  /**
   * The client's socket, which the daemon keeps open and unread while the worker owns the connection:
   * the worker's end closes it, a failed worker's end writes the close frame on it first.
   */
  park(socket: Socket): void {
    socket.on('error', () => {});
    this.parked = socket;
    if (this.ended) socket.destroy();
  }

  close(): void {
    this.closing = true;
    if (!this.worker) return this.finish(null, null);
    this.send(WorkerMsg.CLOSE);
  }

  closeConnection(code: number, reason: string): void {
    this.closing = true;
    if (!this.worker) return this.finish(null, null);
    this.send(WorkerMsg.CLOSE_CONNECTION, JSON.stringify({ code, reason }));
  }

  terminate(): void {
    this.closing = true;
    if (!this.worker) return this.finish(null, null);
    this.send(WorkerMsg.TERMINATE);
  }

  ping(): void {
    if (this.worker) this.send(WorkerMsg.PING);
  }

  stats(): SessionStats {
    return this.latest;
  }

  /**
   * The worker's stats as of now, for status: a busy worker sends them only every 100 ms or so (its
   * beat), so that a high call rate costs this thread nothing; a reader of status gets the session as
   * it is. Resolves on the worker's next STATS, or after `waitMs` with what the last beat said (a
   * frozen or busy-starved worker never holds status up).
   */
  fresh(waitMs: number): Promise<void> {
    if (!this.worker || this.ended || !this.worker.ready) return Promise.resolve();
    // Readers that come while one ask is out share it: one STATS_NOW, nothing left behind by a silent worker.
    this.freshening ??= new Promise<void>((resolve) => {
      const settle = (): void => {
        clearTimeout(timer);
        this.statsArrived = null;
        this.freshening = null;
        resolve();
      };
      const timer = setTimeout(settle, waitMs);
      timer.unref();
      this.statsArrived = settle;
      this.send(WorkerMsg.STATS_NOW);
    });
    return this.freshening;
  }

  setSchedule(params: NativeSchedParams): void {
    this.params = { ...this.params, ...params };
    if (this.worker) this.send(WorkerMsg.SCHEDULE, JSON.stringify(params));
  }

  poison(ordinal: number, cuResult: number): void {
    if (!(cuResult > 0)) throw new RangeError('poison: cuResult must be an error (more than 0)');
    if (ordinal < 0 || ordinal >= this.latest.poisoned.length) throw new RangeError(`poison: no card ${ordinal}`);
    this.latest = { ...this.latest, poisoned: this.latest.poisoned.map((p, i) => (i === ordinal && p === 0 ? cuResult : p)) };
    this.pendingPoison.push({ ordinal, code: cuResult });
    if (this.worker) this.send(WorkerMsg.POISON, JSON.stringify({ ordinal, code: cuResult }));
  }

  limitBacklog(bytes: number, onDrained: () => void): void {
    this.backlogLimit = bytes;
    this.onDrained = onDrained;
  }

  get backlogged(): boolean {
    return this.isBacklogged;
  }

  onRefusal(fn: (refusal: Refusal) => void): void {
    this.onRefusalFn = fn;
  }

  get connection(): ConnectionFigures | null {
    if (!this.figures) return null;
    // The figures are the last beat's: the time since then counts as idle only while nothing came in.
    return { ...this.figures.figures, idleMs: this.figures.figures.idleMs + (Date.now() - this.figures.at) };
  }

  /** The session's worker: its tenant's running one, an idle one of the pool, or one started now (worker-placement.ts). */
  private start(): WorkerHost {
    if (this.worker) return this.worker;
    const worker = this.settings.placement.hostFor(this.settings.tenant);
    const { quota, ...params } = { ...this.options, ...this.params };
    this.id = worker.join({ frame: (type, payload) => this.receive(type, payload), failed: (reason) => this.failed(reason) }, JSON.stringify({ quota: quota ?? [], ...params }));
    this.worker = worker;
    this.pid = worker.pid;
    for (const p of this.pendingPoison) this.send(WorkerMsg.POISON, JSON.stringify(p));
    return worker;
  }

  private send(type: number, payload?: Buffer | string): void {
    this.start().send(this.id, type, payload);
  }

  private receive(type: number, payload: Buffer): void {
    if (this.ended) return;
    try {
      this.handle(type, payload);
    } catch (err) {
      // A payload that is not what its type says (JSON that does not parse, a short count).
      this.fail(`session worker sent a malformed message (type ${type}): ${(err as Error).message}`);
    }
  }

  private handle(type: number, payload: Buffer): void {
    switch (type) {
      case WorkerMsg.OUTPUT:
        this.onOutput(Buffer.from(payload));
        break;
      case WorkerMsg.RELEASED: {
        const bytes = Number(payload.readBigUInt64LE(0));
        this.held -= Math.min(bytes, this.held);
        if (this.isBacklogged && this.held <= this.backlogLimit / 2) {
          this.isBacklogged = false;
          this.onDrained?.();
        }
        break;
      }
      case WorkerMsg.REFUSAL:
        this.onRefusalFn?.(JSON.parse(payload.toString()) as Refusal);
        break;
      case WorkerMsg.STATS: {
        const { connection, emu, ...stats } = JSON.parse(payload.toString()) as SessionStats & {
          connection?: ConnectionFigures;
          emu?: EmuStats;
        };
        this.latest = stats;
        this.emu = emu ?? null;
        if (connection) this.figures = { at: Date.now(), figures: connection };
        this.statsArrived?.();
        break;
      }
      case WorkerMsg.CLOSED: {
        const { reason, code } = JSON.parse(payload.toString()) as { reason: string | null; code: number | null };
        if (reason !== null) this.closeParked(CloseCodes.PROTOCOL_ERROR, reason);
        this.finish(reason, code);
        break;
      }
      default:
        break;
    }
  }

  /** The worker sent a message that is not what its type says: the process is suspect, and its host ends every session it runs (this one too). */
  private fail(reason: string): void {
    this.worker?.fail(reason);
    this.failed(reason);
  }

  /** The worker failed: the client hears why (close code 4006), the session ends as any other. */
  private failed(reason: string): void {
    if (this.ended) return;
    this.closeParked(CloseCodes.SESSION_WORKER_FAILED, reason);
    this.finish(reason, CloseCodes.SESSION_WORKER_FAILED);
  }

  /**
   * A close frame on the client's socket from here: the worker is gone, or its session ended on a
   * protocol error (the endpoint's close would reach a worker that has exited).
   */
  private closeParked(code: number, reason: string): void {
    const socket = this.parked;
    this.parked = null;
    if (!socket || socket.destroyed) return;
    // ws exports its frame writer without types.
    const { Sender } = wsModule as unknown as { Sender: WsSenderClass };
    try {
      new Sender(socket).close(code, closeReason(reason), false, () => drainAndClose(socket));
    } catch {
      socket.destroy();
    }
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  private finish(reason: string | null, code: number | null): void {
    if (this.ended) return;
    this.ended = true;
    this.statsArrived?.();
    if (this.parked) lingerAndClose(this.parked);
    this.parked = null;
    // The last session of a worker to leave ends it: a worker that reported its end exits at the
    // channel's; one that does not within a second is made to.
    this.worker?.leave(this.id, 1000);
    queueMicrotask(() => this.onClosed(reason, code));
  }
}

/**
 * Ends the write side and reads (dropping) what the client still sends until its end: closing a
 * socket with unread bytes resets the connection, and the client could lose the close frame with it.
 */
/**
 * The daemon's copy of a client's socket once its worker is done: read and dropped until the client
 * closes (2 s at most). Closed unread, the last copy of a socket the client is still writing to (an
 * oversized message's payload) would answer with a reset, which loses the close frame the worker
 * sent ahead of it; not shut down either, since the worker may still be writing it.
 */
function lingerAndClose(socket: Socket): void {
  if (socket.destroyed) return;
  socket.on('data', () => {});
  socket.on('end', () => socket.destroy());
  (socket as unknown as { _handle?: { readStart?: () => number } | null })._handle?.readStart?.();
  setTimeout(() => socket.destroy(), 2000).unref();
}

function drainAndClose(socket: Socket): void {
  socket.end();
  lingerAndClose(socket);
}

/** The emulated driver's counters of several processes (the daemon's and its workers') as one. */
export function addEmuStats(own: EmuStats, others: Partial<EmuStats>[]): EmuStats {
  const sum = { ...own } as unknown as Record<string, number | boolean>;
  for (const other of others) {
    for (const [key, value] of Object.entries(other)) {
      const mine = sum[key];
      sum[key] = typeof value === 'boolean' ? Boolean(mine) || value : (typeof mine === 'number' ? mine : 0) + value;
    }
  }
  return sum as unknown as EmuStats;
}
