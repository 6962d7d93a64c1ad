/**
 * `gpupool daemon --simulate` as the benchmarks run it (bench/run.js, fuzz.js, pool-replay.js, soak.js): on 127.0.0.1,
 * port 0 (the address read from its JSON `listening` log line), its log lines collected, killed if the
 * runner exits first.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(root, 'dist', 'cli', 'gpupool.js');
export const FIXTURE = join(root, 'native', 'fakes', 'fixtures', 'default.json');

/** The caller's environment without gpupool's settings: each run gets exactly the ones it names. */
export function withoutGpupoolEnv(env) {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('GPUPOOL_')));
}

export class Daemon {
  /**
   * `config`: settings merged into the daemon's configuration file (written into `dir`); `fixture`:
   * the simulated cards (docs/simulation.md); `listen` and `netns`: where it listens (default 127.0.0.1, port 0).
   */
  static async start(env, dir, config = {}, fixture = FIXTURE, { listen = '127.0.0.1:0', netns } = {}) {
    const path = join(dir, 'gpupoold.json');
    // Quick to stop: the NVML event wait in flight blocks stopping for up to xidWaitMs.
    // No local socket unless `config` names one (bench/run.js --local): runs must not take the host's.
    writeFileSync(path, JSON.stringify({ health: { xidWaitMs: 100 }, localSocket: { enabled: false }, ...config }));
    const argv = [CLI, 'daemon', '--simulate', fixture, '--listen', listen, '--config', path];
    // `netns`: inside that network namespace (a test host of test/helpers/netns.ts).
    const [cmd, args] = netns ? ['ip', ['netns', 'exec', netns, process.execPath, ...argv]] : [process.execPath, argv];
    const child = spawn(cmd, args, {
      env: { ...withoutGpupoolEnv(process.env), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const d = new Daemon(child, env);
    const listening = await d.waitFor((l) => l.msg === 'listening', 30000);
    d.server = `ws://${listening.address}`;
    d.http = `http://${listening.address}`;
    return d;
  }

  /** The daemon's status document (GET /v1/status). */
  async status() {
    return (await fetch(`${this.http}/v1/status`)).json();
  }

  constructor(child, env) {
    this.child = child;
    this.env = env;
    this.logs = [];
    this.stderr = '';
    this.waiters = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      let l;
      try {
        l = JSON.parse(line);
      } catch {
        l = { msg: line };
      }
      this.logs.push(l);
      this.waiters = this.waiters.filter((w) => !(w.match(l) && (w.resolve(l), true)));
    });
    child.stderr.on('data', (d) => (this.stderr += d.toString()));
    this.exited = once(child, 'exit');
    Daemon.live.add(this);
    this.exited.then(() => Daemon.live.delete(this));
  }

  waitFor(match, timeoutMs = 15000) {
    const seen = this.logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`the daemon did not log what was awaited; stderr: ${this.stderr}; last logs: ${JSON.stringify(this.logs.slice(-5))}`)), timeoutMs);
      this.exited.then(() => reject(new Error(`the daemon exited; stderr: ${this.stderr}; last logs: ${JSON.stringify(this.logs.slice(-5))}`)));
      this.waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolvePromise(l)) });
    });
  }

  freedCount() {
    return this.logs.filter((l) => l.msg === 'session freed').length;
  }

  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}
Daemon.live = new Set();
process.on('exit', () => {
  for (const d of Daemon.live) d.child.kill('SIGKILL');
});

/** The q-quantile of the values (the value at that place in their sorted order). */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** A process's user + system CPU time so far, in ms (/proc/PID/stat, clock ticks of 10 ms). */
export function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
