import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';
import type { NativeDriver } from './native.js';
import { FrameReader, sendFrame, WorkerMsg } from './worker-channel.js';

/** The session worker executable node-gyp builds beside the addon (native/worker). */
export const workerPath = process.env.GPUPOOL_SESSION_WORKER || join(packageRoot, 'build', 'Release', 'gpupool-session-worker');

/** What every worker of a daemon is told at its start (config `compute`, `sharing`), whichever session it serves. */
export interface WorkerStartSettings {
  /** The worker reports its stats this often: its heartbeat. */
  heartbeatMs: number;
  /** The card scheduler's settings (the daemon's, config `sharing`). */
  scheduler: { sliceUs: number; paceDepth: number; idleGraceUs: number };
}

/** Who hears a worker: its pool while it waits, then its host (worker-host.ts), which hands each session its frames. */
export interface WorkerListener {
  /** `session`: the daemon's number for one of the worker's sessions; 0: the process's own (READY, a failed start). */
  frame(type: number, payload: Buffer, session: number): void;
  malformed(why: string): void;
  /** The worker could not be started (spawn failed). */
  spawnFailed(err: Error): void;
  /** The worker is gone, its channel read to the end. */
  exited(code: number | null, signal: NodeJS.Signals | null): void;
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

/**
 * One session worker process (native/worker) and its channels: fd 3 the control channel, fd 4 where
 * the client's socket is passed (SCM_RIGHTS), fd 5 the cards' scheduling state. Started with the
 * daemon's settings (INIT), it opens the driver and says READY; its session's own parameters come
 * later (START), so that a pool can start it ahead of need. Its listener can change (the pool's, then
 * the session's).
 */
export class WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number | null;
  private readonly channel: Socket;
  private readonly passing: Socket;
  /** READY came: the driver is open. */
  ready = false;
  private gone = false;

  constructor(
    driver: NativeDriver,
    settings: WorkerStartSettings,
    private listener: WorkerListener,
  ) {
    const schedOwner = nextSchedOwner++;
    const child = spawn(workerPath, [], { env: workerEnv(), stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'pipe', driver.cardStateFd()] });
    this.child = child;
    this.pid = child.pid ?? null;
    this.channel = child.stdio[3] as Socket;
    this.passing = child.stdio[4] as Socket;
    const reader = new FrameReader(
      (type, payload, session) => {
        if (type === WorkerMsg.READY && session === 0) this.ready = true;
        this.listener.frame(type, payload, session);
      },
      (why) => this.listener.malformed(why),
    );
    this.channel.on('data', (chunk: Buffer) => reader.push(chunk));
    this.channel.on('error', () => {});
    this.passing.on('error', () => {});
    child.on('error', (err) => this.listener.spawnFailed(err));
    child.on('exit', () => {
      // A worker that died holding a card (or waiting for one) would stall the card's other sessions.
      // -1: a card's lock is held by a process stopped with it (hung, until its own watchdog ends it).
      const release = () => {
        if (driver.releaseSchedOwner(schedOwner) < 0) setTimeout(release, 100).unref();
      };
      release();
    });
    // Judged once its channel is read to the end ('close' comes after the pipes' last bytes; 'exit' may
    // come before them): a worker that sent its session's end, then exited, has not failed.
    child.on('close', (code, signal) => {
      this.gone = true;
      this.listener.exited(code, signal);
    });
    this.send(WorkerMsg.INIT, JSON.stringify({ driver: driver.path, scheduler: settings.scheduler, heartbeatMs: settings.heartbeatMs, cardStateFd: 5, schedOwner }));
  }

  /** From now on `listener` hears the worker. */
  listen(listener: WorkerListener): void {
    this.listener = listener;
  }

  send(type: number, payload?: Buffer | string, session = 0): void {
    sendFrame(this.channel, type, payload, session);
  }

  /** The client's socket to the worker (a copy: the daemon keeps its own), before the ATTACH that announces it. */
  passSocket(fd: number, passDescriptor: (channelFd: number, fd: number) => void): void {
    const channelFd = (this.passing as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
    if (typeof channelFd !== 'number' || channelFd < 0) throw new Error('the worker\'s descriptor channel is closed');
    passDescriptor(channelFd, fd);
  }

  /**
   * Whether the process still runs, asked of the kernel rather than of the event loop (which may not
   * yet have seen it exit): a worker killed while idle must not be handed a session.
   */
  alive(): boolean {
    if (this.gone || this.pid === null || this.child.exitCode !== null || this.child.signalCode !== null) return false;
    try {
      const stat = readStat(this.pid);
      return stat !== 'Z' && stat !== 'X';
    } catch {
      return false;
    }
  }

  /** The daemon is done with it: its channel ends (it exits at that), and it is made to after `graceMs`. */
  end(graceMs = 1000): void {
    this.channel.end();
    if (this.gone || this.child.exitCode !== null || this.child.signalCode !== null) return;
    setTimeout(() => this.kill(), graceMs).unref();
  }

  kill(): void {
    if (!this.gone) this.child.kill('SIGKILL');
  }

  /** An idle worker does not keep the daemon's event loop alive; one that serves a session does. */
  hold(held: boolean): void {
    for (const handle of [this.child, this.channel, this.passing]) {
      if (held) handle.ref();
      else handle.unref();
    }
  }
}

/** A process's state letter from /proc/PID/stat (R, S, D, Z, ...). */
function readStat(pid: number): string {
  // Synchronous and small: the kernel's answer now, not an event to come.
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
}
