import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import { CloseCodes, closeReason } from './handshake.js';
import type { AttachLimits, ConnectionFigures, EmuStats, NativeDriver, NativeSchedParams, NativeSession, NativeSessionOptions, Refusal, SessionStats } from './native.js';
import { WorkerMsg } from './worker-channel.js';
import type { WorkerPool } from './worker-pool.js';
import { WorkerProcess, type WorkerListener, type WorkerStartSettings } from './worker-process.js';

export { workerPath } from './worker-process.js';

/** How a session worker is run and watched (config `compute`: sessionProcess, workerHeartbeatMs, workerHangMs, workerPoolSize). */
export interface WorkerSettings extends WorkerStartSettings {
  /** No word from the worker for this long: it is hung, killed, and its session ended. */
  hangMs: number;
  /** Idle workers started ahead of need; none: the session starts its own. */
  pool?: WorkerPool | null;
  /** Passes the client's socket to the worker (the addon's passDescriptor). */
  passDescriptor: (channelFd: number, fd: number) => void;
}

type OnClosed = (reason: string | null, code: number | null) => void;

interface WsSenderClass {
  new (socket: Socket): { close(code: number, data: string, mask: boolean, cb: (err?: Error) => void): void };
}

/**
 * A session run by a process of its own (native/worker), behind the same interface as the addon's
 * in-process Session (docs/architecture.md). The session takes its worker (an idle one of the pool,
 * or one started now) when it first needs it: at attach (the client's socket is passed to it) or at
 * the first message of a connection that stays on the event loop. It reports stats on a beat; a worker that exits, crashes or falls silent past `hangMs`
 * ends its own session only: the client gets close code 4006 with the reason, the session's end is
 * reported as any other, and its memory and quota go back with it.
 */
export class WorkerSession implements NativeSession {
  /** The worker's pid once it runs (status shows it). */
  pid: number | null = null;
  private worker: WorkerProcess | null = null;
  /** The client's socket while the worker owns the connection: kept, unread, to tell the client of a failed worker. */
  private parked: Socket | null = null;
  private latest: SessionStats;
  /** The worker's emulated driver's counters at the last beat; null on a real driver or before it. */
  emu: EmuStats | null = null;
  private figures: { at: number; figures: ConnectionFigures } | null = null;
  /** The STATS_NOW ask that status readers wait on, and what settles it when the STATS comes. */
  private freshening: Promise<void> | null = null;
  private statsArrived: (() => void) | null = null;
  private lastHeard = Date.now();
  private watchdog: NodeJS.Timeout | null = null;
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
  /** The worker opened the driver: an end before that is its failure, not the session's. */
  private ready = false;

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
    this.start().send(WorkerMsg.SUBMIT, message);
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
    worker.send(WorkerMsg.ATTACH, Buffer.concat([Buffer.from(JSON.stringify(limits)), Buffer.from([0]), prefix]));
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
    this.worker.send(WorkerMsg.CLOSE);
  }

  closeConnection(code: number, reason: string): void {
    this.closing = true;
    if (!this.worker) return this.finish(null, null);
    this.worker.send(WorkerMsg.CLOSE_CONNECTION, JSON.stringify({ code, reason }));
  }

  terminate(): void {
    this.closing = true;
    if (!this.worker) return this.finish(null, null);
    this.worker.send(WorkerMsg.TERMINATE);
  }

  ping(): void {
    this.worker?.send(WorkerMsg.PING);
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
    if (!this.worker || this.ended || !this.ready) return Promise.resolve();
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
      this.worker!.send(WorkerMsg.STATS_NOW);
    });
    return this.freshening;
  }

  setSchedule(params: NativeSchedParams): void {
    this.params = { ...this.params, ...params };
    this.worker?.send(WorkerMsg.SCHEDULE, JSON.stringify(params));
  }

  poison(ordinal: number, cuResult: number): void {
    if (!(cuResult > 0)) throw new RangeError('poison: cuResult must be an error (more than 0)');
    if (ordinal < 0 || ordinal >= this.latest.poisoned.length) throw new RangeError(`poison: no card ${ordinal}`);
    this.latest = { ...this.latest, poisoned: this.latest.poisoned.map((p, i) => (i === ordinal && p === 0 ? cuResult : p)) };
    this.pendingPoison.push({ ordinal, code: cuResult });
    this.worker?.send(WorkerMsg.POISON, JSON.stringify({ ordinal, code: cuResult }));
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

  /** The session's worker: an idle one of the pool when there is one, else one started now. */
  private start(): WorkerProcess {
    if (this.worker) return this.worker;
    const listener: WorkerListener = {
      frame: (type, payload) => this.receive(type, payload),
      malformed: (why) => this.fail(`session worker sent ${why}`),
      spawnFailed: (err) => this.fail(`session worker could not start: ${err.message}`),
      exited: (code, signal) => {
        if (!this.ended) this.fail(signal ? `session worker killed by ${signal}` : `session worker exited with status ${code}`);
      },
    };
    const pooled = this.settings.pool?.take() ?? null;
    const worker = pooled ?? new WorkerProcess(this.driver, this.settings, listener);
    worker.listen(listener);
    this.worker = worker;
    this.pid = worker.pid;
    this.ready = worker.ready;
    const { quota, ...params } = { ...this.options, ...this.params };
    worker.send(WorkerMsg.START, JSON.stringify({ quota: quota ?? [], ...params }));
    for (const p of this.pendingPoison) worker.send(WorkerMsg.POISON, JSON.stringify(p));
    this.lastHeard = Date.now();
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastHeard <= this.settings.hangMs) return;
      // Timers run before I/O in a loop turn: after a stall of the event loop the worker's beats may
      // be waiting unread. Look again once they are.
      setImmediate(() => {
        const silent = Date.now() - this.lastHeard;
        if (silent > this.settings.hangMs) this.fail(`session worker hung: no heartbeat for ${silent} ms`);
      });
    }, Math.max(10, Math.min(this.settings.heartbeatMs, this.settings.hangMs / 4)));
    this.watchdog.unref();
    return worker;
  }

  private receive(type: number, payload: Buffer): void {
    this.lastHeard = Date.now();
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
      case WorkerMsg.READY:
        this.ready = true;
        break;
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
        if (!this.ready) {
          this.fail(`session worker could not start: ${reason ?? 'no reason given'}`);
          break;
        }
        if (reason !== null) this.closeParked(CloseCodes.PROTOCOL_ERROR, reason);
        this.finish(reason, code);
        break;
      }
      default:
        break;
    }
  }

  /** The worker failed: the client hears why (close code 4006), the session ends as any other. */
  private fail(reason: string): void {
    if (this.ended) return;
    this.worker?.kill();
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
    if (this.watchdog) clearInterval(this.watchdog);
    this.statsArrived?.();
    if (this.parked) lingerAndClose(this.parked);
    this.parked = null;
    // A worker that reported its end exits at the channel's; one that does not within a second is made to.
    this.worker?.end(1000);
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
