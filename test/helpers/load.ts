import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { CLI } from './daemon-process.js';
import { eventually } from './integration.js';
import { buildFatbin, buildProgram } from './programs.js';

/** What test/programs/card_load.c reports. */
export interface LoadResult {
  kernels: number;
  device_us: number;
  wall_us: number;
  /** Per request, sorted (serve only). */
  latency_us: number[];
}

export type LoadMode = { mode: 'train'; seconds: number; kernelUs: number; batch: number } | { mode: 'serve'; seconds: number; kernelUs: number; batch: number; thinkUs: readonly number[] };

/**
 * One card_load job through `gpupool run` with the given options (--share, --priority, ...). It
 * connects, loads its kernels and waits; go() starts the measurement, so that several jobs measure
 * the same window.
 */
export class LoadJob {
  private readonly child: ChildProcess;
  private stdout = '';
  private stderr = '';
  private readonly exited: Promise<unknown>;

  /** `device`: the job's device ordinal (it sees every card it was given; ask `--gpus all` for all). */
  constructor(server: string, options: string[], load: LoadMode, device = 0) {
    const args = [load.mode, String(load.seconds), String(load.kernelUs), String(load.batch)];
    if (load.mode === 'serve') args.push(load.thinkUs.join(':'));
    this.child = spawn(process.execPath, [CLI, 'run', '--servers', server, ...options, '--', buildProgram('card_load.c'), buildFatbin(), ...args], {
      env: { ...process.env, GPUPOOL_LOAD_WAIT: '1', GPUPOOL_LOAD_DEVICE: String(device) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    // 'close', not 'exit': the output may still be in the pipe when the process has exited.
    this.exited = once(this.child, 'close');
  }

  ready(): Promise<boolean> {
    return eventually('a load job ready', () => {
      if (/^ready$/m.test(this.stdout)) return true;
      if (this.child.exitCode !== null) throw new Error(`the job exited: ${this.stdout}${this.stderr}`);
      return undefined;
    }, 30_000);
  }

  /** Whether it has connected, loaded its kernels and run its first one. */
  isReady(): boolean {
    return /^ready$/m.test(this.stdout);
  }

  go(): void {
    this.child.stdin!.end('go\n');
  }

  async result(): Promise<LoadResult> {
    await this.exited;
    const line = this.stdout.split('\n').find((l) => l.startsWith('{'));
    if (this.child.exitCode !== 0 || line === undefined) throw new Error(`card_load failed (${this.child.exitCode}): ${this.stdout}${this.stderr}`);
    return JSON.parse(line) as LoadResult;
  }

  /** Ends the job: SIGTERM, which `gpupool run` passes on to the program (a SIGKILL would leave it running). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
  }
}

/** Starts the jobs together and returns their results in order. */
export async function runTogether(jobs: LoadJob[]): Promise<LoadResult[]> {
  await Promise.all(jobs.map((j) => j.ready()));
  for (const j of jobs) j.go();
  return Promise.all(jobs.map((j) => j.result()));
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) throw new Error('no samples');
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
