import { WorkerMsg } from './worker-channel.js';
import type { WorkerListener, WorkerProcess } from './worker-process.js';

/** What a session hears of the worker that runs it. */
export interface HostedListener {
  /** A frame of the session's own (its number on the channel). */
  frame(type: number, payload: Buffer): void;
  /** The worker failed (exited, crashed, hung, could not start, sent nonsense): the session ends with this reason. */
  failed(reason: string): void;
}

/** How a worker's sessions are watched (config `compute.workerHeartbeatMs`, `workerHangMs`). */
export interface HostWatch {
  heartbeatMs: number;
  /** No word from the worker for this long: it is hung, killed, and every session of it ended. */
  hangMs: number;
}

/**
 * One worker process and the sessions it runs (docs/architecture.md): one, or every session of one
 * tenant (`compute.workerScope: "tenant"`). Frames come tagged with the session's number and go to
 * that session; what befalls the process (its exit, a crash, silence past `hangMs`, a failed start,
 * a frame that makes no sense) ends every session it runs, each told why, and nothing else. The
 * process ends once its last session has left, and is never given a session after that.
 */
export class WorkerHost {
  private readonly sessions = new Map<number, HostedListener>();
  private nextSession = 1;
  private lastHeard = Date.now();
  private watchdog: NodeJS.Timeout | null = null;
  /** Its last session left, or it failed: it takes no more. */
  private closed = false;

  constructor(
    private readonly worker: WorkerProcess,
    private readonly watch: HostWatch,
    /** It takes no more sessions (its last one left, or it failed): its owner forgets it. */
    private readonly retired: (host: WorkerHost) => void = () => {},
  ) {
    const listener: WorkerListener = {
      frame: (type, payload, session) => this.receive(type, payload, session),
      malformed: (why) => this.fail(`session worker sent ${why}`),
      spawnFailed: (err) => this.fail(`session worker could not start: ${err.message}`),
      exited: (code, signal) => this.fail(signal ? `session worker killed by ${signal}` : `session worker exited with status ${code}`),
    };
    worker.listen(listener);
    worker.hold(true);
  }

  get pid(): number | null {
    return this.worker.pid;
  }

  /** READY came: the driver is open. */
  get ready(): boolean {
    return this.worker.ready;
  }

  /** Whether a session may still join it: it has not retired, and its process runs (asked of the kernel). */
  get open(): boolean {
    return !this.closed && this.worker.alive();
  }

  /** The sessions it runs now. */
  get size(): number {
    return this.sessions.size;
  }

  /** A session joins: its START goes out now, its frames come to `listener`; the number is its own on the channel. */
  join(listener: HostedListener, start: string): number {
    if (this.closed) throw new Error('the worker takes no more sessions');
    const id = this.nextSession++;
    this.sessions.set(id, listener);
    this.worker.send(WorkerMsg.START, start, id);
    if (!this.watchdog) this.startWatchdog();
    return id;
  }

  send(session: number, type: number, payload?: Buffer | string): void {
    if (this.sessions.has(session)) this.worker.send(type, payload, session);
  }

  passSocket(fd: number, passDescriptor: (channelFd: number, fd: number) => void): void {
    this.worker.passSocket(fd, passDescriptor);
  }

  /** The session is done with the worker; the last one to leave ends it (made to after `graceMs`). */
  leave(session: number, graceMs = 1000): void {
    if (!this.sessions.delete(session) || this.sessions.size > 0) return;
    this.retire();
    this.worker.end(graceMs);
  }

  /** The process failed: it is killed, and every session it runs ends with `reason`. */
  fail(reason: string): void {
    this.retire();
    this.worker.kill();
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of sessions) s.failed(reason);
  }

  private retire(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    if (this.closed) return;
    this.closed = true;
    this.retired(this);
  }

  private receive(type: number, payload: Buffer, session: number): void {
    this.lastHeard = Date.now();
    if (session === 0) {
      // The process's own: READY (the worker tracks it), or the end of a start that failed.
      if (type === WorkerMsg.CLOSED) this.fail(`session worker could not start: ${startFailure(payload)}`);
      return;
    }
    // A session that left (or a number never given) hears nothing more: a late beat is dropped.
    this.sessions.get(session)?.frame(type, payload);
  }

  private startWatchdog(): void {
    this.lastHeard = Date.now();
    const { hangMs, heartbeatMs } = this.watch;
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastHeard <= hangMs) return;
      // Timers run before I/O in a loop turn: after a stall of the event loop the worker's beats may
      // be waiting unread. Look again once they are.
      setImmediate(() => {
        const silent = Date.now() - this.lastHeard;
        if (silent > hangMs && this.sessions.size > 0) this.fail(`session worker hung: no heartbeat for ${silent} ms`);
      });
    }, Math.max(10, Math.min(heartbeatMs, hangMs / 4)));
    this.watchdog.unref();
  }
}

function startFailure(payload: Buffer): string {
  try {
    return (JSON.parse(payload.toString()) as { reason?: string | null }).reason ?? 'no reason given';
  } catch {
    return 'no reason given';
  }
}
