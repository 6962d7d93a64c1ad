import type { SessionInfo } from '../../src/compute/endpoint.js';
import { HeldJob } from './job.js';
import { buildFatbin, buildProgram } from './programs.js';

/** What test/programs/card_load.c reports. */
export interface LoadResult {
  kernels: number;
  device_us: number;
  wall_us: number;
  /** Per request, sorted (serve only). */
  latency_us: number[];
}

export type LoadMode =
  | { mode: 'train'; seconds: number; kernelUs: number; batch: number }
  | { mode: 'serve'; seconds: number; kernelUs: number; batch: number; thinkUs: readonly number[] };

/**
 * One card_load job through `gpupool run` with the given options (--share, --priority, ...). It
 * connects, loads its kernels and waits; go() starts the measurement, so that several jobs measure
 * the same window.
 */
export class LoadJob {
  private readonly job: HeldJob;

  /** `device`: the job's device ordinal (it sees every card it was given; ask `--gpus all` for all). */
  constructor(server: string, options: string[], load: LoadMode, device = 0) {
    const args = [load.mode, String(load.seconds), String(load.kernelUs), String(load.batch)];
    if (load.mode === 'serve') args.push(load.thinkUs.join(':'));
    this.job = new HeldJob(['run', '--servers', server, ...options, '--', buildProgram('card_load.c'), buildFatbin(), ...args], {
      GPUPOOL_LOAD_WAIT: '1',
      GPUPOOL_LOAD_DEVICE: String(device),
    });
  }

  ready(): Promise<boolean> {
    return this.job.ready(30_000);
  }

  /** Whether it has connected, loaded its kernels and run its first one. */
  isReady(): boolean {
    return /^ready$/m.test(this.job.stdout);
  }

  go(): void {
    this.job.child.stdin!.end('go\n');
  }

  async result(): Promise<LoadResult> {
    await this.job.exit;
    const line = this.job.stdout.split('\n').find((l) => l.startsWith('{'));
    if (this.job.child.exitCode !== 0 || line === undefined) throw new Error(`card_load failed (${this.job.child.exitCode}): ${this.job.stdout}${this.job.stderr}`);
    return JSON.parse(line) as LoadResult;
  }

  kill(): void {
    this.job.kill();
  }
}

/** Starts the jobs together and returns their results in order. */
export async function runTogether(jobs: LoadJob[]): Promise<LoadResult[]> {
  await Promise.all(jobs.map((j) => j.ready()));
  for (const j of jobs) j.go();
  return Promise.all(jobs.map((j) => j.result()));
}

/**
 * How card 0's device time split between the sessions from one status (`first`) to a later one
 * (`second`, in its order): each one's part of the whole, and the whole against a window of
 * `windowNs` (how busy the card was).
 */
export function deviceTimeSplit(first: SessionInfo[], second: SessionInfo[], windowNs: number): { got: number[]; busy: number } {
  const delta = second.map((s) => s.cards[0]!.deviceNs - (first.find((f) => f.id === s.id)?.cards[0]!.deviceNs ?? 0));
  const sum = delta.reduce((a, b) => a + b, 0);
  return { got: delta.map((d) => d / sum), busy: sum / windowNs };
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) throw new Error('no samples');
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
