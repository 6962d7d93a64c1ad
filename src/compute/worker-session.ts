import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import * as wsModule from 'ws';
import { packageRoot } from '../paths.js';
import { CloseCodes, closeReason } from './handshake.js';
import type { AttachLimits, ConnectionFigures, EmuStats, NativeDriver, NativeSchedParams, NativeSession, NativeSessionOptions, Refusal, SessionStats } from './native.js';
import { FrameReader, sendFrame, WorkerMsg } from './worker-channel.js';

/** The session worker executable node-gyp builds beside the addon (native/worker). */
export const workerPath = process.env.GPUPOOL_SESSION_WORKER || join(packageRoot, 'build', 'Release', 'gpupool-session-worker');

/** How a session worker is run and watched (config `compute`: sessionProcess, workerHeartbeatMs, workerHangMs). */
export interface WorkerSettings {
  /** The worker reports its stats this often: its heartbeat. */
  heartbeatMs: number;
  /** No word from the worker for this long: it is hung, killed, and its session ended. */
  hangMs: number;
  /** The card scheduler's settings (the daemon's, config `sharing`). */
  scheduler: { sliceUs: number; paceDepth: number; idleGraceUs: number };
}

/**
 * Each worker's own GPUPOOL_EMU_ADDRESS_SALT: the emulated driver moves its cards' address ranges by
 * it (docs/emulator.md, "Address slots"), so that one session's addresses name nothing in another's
 * worker, as in a daemon whose sessions share one emulator. A real driver ignores it. Set in the
 * daemon's own environment, it is every worker's (tests of workers whose addresses coincide).
 */
let workersStarted = 0;
function workerEnv(): NodeJS.ProcessEnv {
  workersStarted++;
  if (process.env.GPUPOOL_EMU_ADDRESS_SALT !== undefined) return process.env;
  return { ...process.env, GPUPOOL_EMU_ADDRESS_SALT: String(workersStarted) };
}

/** Each worker's tag on its slots in the cards' scheduling state (the daemon's own sessions are 0). */
let nextSchedOwner = 1;

type OnClosed = (reason: string | null, code: number | null) => void;

interface WsSenderClass {
  new (socket: Socket): { close(code: number, data: string, mask: boolean, cb: (err?: Error) => void): void };
}

/**
 * A session run by a process of its own (native/worker), behind the same interface as the addon's
 * in-process Session (docs/architecture.md). The worker starts when the session first needs it: at
 * attach (it inherits the client's socket) or at the first message of a connection that stays on the
 * event loop. It reports stats on a beat; a worker that exits, crashes or falls silent past `hangMs`
 * ends its own session only: the client gets close code 4006 with the reason, the session's end is
 * reported as any other, and its memory and quota go back with it.
 */
export class WorkerSession implements NativeSession {
  /** The worker's pid once it runs (status shows it). */
  pid: number | null = null;
  private child: ChildProcess | null = null;
  private channel: Socket | null = null;
  /** The client's socket while the worker owns the connection: kept, unread, to tell the client of a failed worker. */
  private parked: Socket | null = null;
  private latest: SessionStats;
  /** The worker's emulated driver's counters at the last beat; null on a real driver or before it. */
  emu: EmuStats | null = null;
  private figures: { at: number; figures: ConnectionFigures } | null = null;
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
    this.start(null);
    sendFrame(this.channel!, WorkerMsg.SUBMIT, message);
    this.held += message.length + 256;
    if (this.backlogLimit > 0 && this.held > this.backlogLimit) this.isBacklogged = true;
    return true;
  }

  attach(fd: number, prefix: Buffer, limits: AttachLimits): void {
    if (this.child) throw new Error('attach: the session runs already');
    if (this.closing || this.ended) throw new Error('attach: the session is closing');
    this.start(fd);
    sendFrame(this.channel!, WorkerMsg.ATTACH, Buffer.concat([Buffer.from(JSON.stringify(limits)), Buffer.from([0]), prefix]));
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
    if (!this.child) return this.finish(null, null);
    sendFrame(this.channel!, WorkerMsg.CLOSE);
  }

  closeConnection(code: number, reason: string): void {
    this.closing = true;
    if (!this.child) return this.finish(null, null);
    sendFrame(this.channel!, WorkerMsg.CLOSE_CONNECTION, JSON.stringify({ code, reason }));
  }

  terminate(): void {
    this.closing = true;
    if (!this.child) return this.finish(null, null);
    sendFrame(this.channel!, WorkerMsg.TERMINATE);
  }

  ping(): void {
    if (this.channel) sendFrame(this.channel, WorkerMsg.PING);
  }

  stats(): SessionStats {
    return this.latest;
  }

  setSchedule(params: NativeSchedParams): void {
    this.params = { ...this.params, ...params };
    if (this.channel) sendFrame(this.channel, WorkerMsg.SCHEDULE, JSON.stringify(params));
  }

  poison(ordinal: number, cuResult: number): void {
    if (!(cuResult > 0)) throw new RangeError('poison: cuResult must be an error (more than 0)');
    if (ordinal < 0 || ordinal >= this.latest.poisoned.length) throw new RangeError(`poison: no card ${ordinal}`);
    this.latest = { ...this.latest, poisoned: this.latest.poisoned.map((p, i) => (i === ordinal && p === 0 ? cuResult : p)) };
    this.pendingPoison.push({ ordinal, code: cuResult });
    if (this.channel) sendFrame(this.channel, WorkerMsg.POISON, JSON.stringify({ ordinal, code: cuResult }));
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

  private start(fd: number | null): void {
    if (this.child) return;
    // fd 5: the cards' scheduling state, shared with every session; the worker's slots there carry its number.
    const schedOwner = nextSchedOwner++;
    const child = spawn(workerPath, [], { env: workerEnv(), stdio: ['ignore', 'inherit', 'inherit', 'pipe', fd ?? 'ignore', this.driver.cardStateFd()] });
    this.child = child;
    this.pid = child.pid ?? null;
    const channel = child.stdio[3] as Socket;
    this.channel = channel;
    const reader = new FrameReader(
      (type, payload) => this.receive(type, payload),
      (why) => this.fail(`session worker sent ${why}`),
    );
    channel.on('data', (chunk: Buffer) => reader.push(chunk));
    channel.on('error', () => {});
    child.on('error', (err) => this.fail(`session worker could not start: ${err.message}`));
    child.on('exit', (code, signal) => {
      // A worker that died holding a card (or waiting for one) would stall the card's other sessions.
      // -1: a card's lock is held by a process stopped with it (hung, until its own watchdog ends it).
      const release = () => {
        if (this.driver.releaseSchedOwner(schedOwner) < 0) setTimeout(release, 100).unref();
      };
      release();
    });
    // Judged once its channel is read to the end ('close' comes after the pipes' last bytes; 'exit' may
    // come before them): a worker that sent its session's end, then exited, has not failed.
    child.on('close', (code, signal) => {
      if (!this.ended) this.fail(signal ? `session worker killed by ${signal}` : `session worker exited with status ${code}`);
    });
    const { quota, ...params } = { ...this.options, ...this.params };
    sendFrame(channel, WorkerMsg.INIT, JSON.stringify({ driver: this.driver.path, quota: quota ?? [], ...params, scheduler: this.settings.scheduler, heartbeatMs: this.settings.heartbeatMs, cardStateFd: 5, schedOwner }));
    for (const p of this.pendingPoison) sendFrame(channel, WorkerMsg.POISON, JSON.stringify(p));
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
    this.child?.kill('SIGKILL');
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
    if (this.parked) lingerAndClose(this.parked);
    this.parked = null;
    this.channel?.end();
    const child = this.child;
    // A worker that reported its end exits by itself; one that does not within a second is made to.
    if (child && child.exitCode === null && child.signalCode === null) setTimeout(() => child.kill('SIGKILL'), 1000).unref();
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
