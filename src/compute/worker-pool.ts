import type { NativeDriver } from './native.js';
import { WorkerMsg } from './worker-channel.js';
import { WorkerProcess, type WorkerStartSettings } from './worker-process.js';

/** A worker that could not start waits this long before the next try, doubling up to RETRY_MAX_MS. */
const RETRY_MS = 200;
const RETRY_MAX_MS = 10_000;

export interface WorkerPoolEvents {
  /** A pooled worker failed before or while it waited (spawn, driver, death): the pool starts another, later if it keeps failing. */
  failed(pid: number | null, why: string): void;
}

/**
 * Idle session workers started ahead of need (config `compute.workerPoolSize`, docs/architecture.md):
 * each has said READY (its driver open) and waits for a session's START, so a session's start costs
 * no spawn and no driver open. Each one taken, or one that dies while it waits, is replaced in the
 * background; a worker found dead is never handed out. Idle workers do not hold the daemon up: they
 * end with the pool, or when the daemon's end closes their channel.
 */
export class WorkerPool {
  private readonly idle: WorkerProcess[] = [];
  private readonly starting = new Set<WorkerProcess>();
  private stopped = false;
  private failures = 0;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    readonly size: number,
    private readonly driver: NativeDriver,
    private readonly settings: WorkerStartSettings,
    private readonly events: WorkerPoolEvents = { failed: () => {} },
  ) {
    this.fill();
  }

  /** The pids of the idle workers, ready to take a session. */
  get idlePids(): number[] {
    return this.idle.map((w) => w.pid!).filter((pid) => pid !== null);
  }

  /** A ready worker for a session (now the caller's: it listens and holds it), or null when none is. */
  take(): WorkerProcess | null {
    let worker: WorkerProcess | undefined;
    while ((worker = this.idle.shift()) !== undefined) {
      if (worker.alive()) break;
      // Killed while idle, its end not seen yet: it is dropped here, replaced when its end comes.
    }
    setImmediate(() => this.fill());
    if (!worker) return null;
    worker.hold(true);
    return worker;
  }

  /** Ends the idle workers and starts no more (the daemon's stop). */
  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    for (const worker of [...this.idle, ...this.starting]) worker.end();
    this.idle.length = 0;
    this.starting.clear();
  }

  private fill(): void {
    if (this.stopped || this.retry) return;
    while (this.idle.length + this.starting.size < this.size) this.startOne();
  }

  private startOne(): void {
    let worker: WorkerProcess | null = null;
    const failed = (why: string) => {
      if (!worker || !this.forget(worker)) return;
      worker.kill();
      this.events.failed(worker.pid, why);
      // A worker that cannot start (a driver that does not open) is tried again, later and later.
      this.failures++;
      if (this.stopped || this.retry) return;
      this.retry = setTimeout(() => {
        this.retry = null;
        this.fill();
      }, Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** (this.failures - 1)));
      this.retry.unref();
    };
    worker = new WorkerProcess(this.driver, this.settings, {
      frame: (type, payload, session) => {
        if (session !== 0) return;
        if (type === WorkerMsg.READY && this.starting.delete(worker!)) {
          this.failures = 0;
          if (this.stopped) worker!.end();
          else this.idle.push(worker!);
        } else if (type === WorkerMsg.CLOSED) {
          failed(`could not start: ${payload.toString()}`);
        }
      },
      malformed: (why) => failed(`sent ${why}`),
      spawnFailed: (err) => failed(`could not start: ${err.message}`),
      exited: (code, signal) => {
        const why = signal ? `killed by ${signal}` : `exited with status ${code}`;
        if (!this.idle.includes(worker!)) return failed(`${why} before it was ready`);
        this.forget(worker!);
        this.events.failed(worker!.pid, `${why} while idle`);
        this.fill();
      },
    });
    worker.hold(false);
    this.starting.add(worker);
  }

  /** Takes the worker out of the pool; false when it was not in it (taken, or already dropped). */
  private forget(worker: WorkerProcess): boolean {
    const at = this.idle.indexOf(worker);
    if (at >= 0) this.idle.splice(at, 1);
    return this.starting.delete(worker) || at >= 0;
  }
}
