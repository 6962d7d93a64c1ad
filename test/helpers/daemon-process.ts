import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../../src/paths.js';

export const CLI = join(packageRoot, 'dist', 'cli', 'gpupool.js');

/**
 * GPUPOOL_TEST_TRANSPORT=unix gives each daemon a test starts (outside a namespace, unless the test
 * names its own local socket) a Unix socket, and the jobs of job-process.ts reach it there instead of
 * over TCP: the suite's assertions then hold on the local transport (shared memory and all).
 */
export const localTransport = process.env.GPUPOOL_TEST_TRANSPORT === 'unix';
const localSockets = new Map<string, string>();

/**
 * The unix:// address of the daemon listening at `server` (ws://HOST:PORT), if it has one for jobs.
 * wss:// stays on TCP: TLS is what the remote transport is, and the TLS tests assert on it.
 */
export function localSocketOf(server: string): string | undefined {
  const hostPort = /^(?:ws|https?):\/\/([^/?#]+)/.exec(server)?.[1];
  return hostPort === undefined ? undefined : localSockets.get(hostPort);
}

/**
 * The servers a job is given, on the local transport where GPUPOOL_TEST_TRANSPORT=unix asks for it:
 * each address of a daemon with a socket becomes unix://SOCKET, its own request (?gpus=2) kept.
 */
export function onTestTransport(servers: string): string {
  if (!localTransport) return servers;
  return servers
    .split(',')
    .map((s) => {
      const socket = localSocketOf(s);
      return socket === undefined ? s : socket + (/\?.*$/.exec(s)?.[0] ?? '');
    })
    .join(',');
}

/**
 * CLI arguments with `run --servers LIST` on the test transport. A job inside a network namespace (a
 * test host) keeps TCP: it cannot reach a socket file of the host's daemons, which is what such a test is about.
 */
export function cliOnTestTransport(args: string[], netns?: string): string[] {
  if (!localTransport || netns !== undefined || args[0] !== 'run') return args;
  const end = args.indexOf('--');
  return args.map((a, i) => (i > 0 && (end < 0 || i < end) && (args[i - 1] === '--servers' || args[i - 1] === '-s') ? onTestTransport(a) : a));
}

/**
 * Whether process `pid` runs: false once it is gone, and for its zombie too (a killed worker whose
 * parent, or after its daemon died whoever adopted it, has not reaped it yet).
 */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** gpupoold as a real child process, its JSON log lines collected as they arrive. */
export class DaemonProcess {
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  url = '';
  private readonly exit: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        this.logs.push(JSON.parse(line) as LogLine);
      } catch {
        this.logs.push({ level: 0, msg: line });
      }
    });
    child.stderr!.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    this.exit = once(child, 'exit').then(([code]) => code as number | null);
  }

  /**
   * Starts `gpupool daemon ARGS` and waits for its "listening" line; `netns` runs it inside that
   * network namespace (a test host); `wrapper` runs it through a launcher (`node WRAPPER... node CLI
   * daemon ...`, test/helpers/seccomp-exec.ts). A later `--listen` in ARGS wins over the default.
   */
  static async start(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000, netns?: string, wrapper: string[] = []): Promise<DaemonProcess> {
    // No local socket unless the test names one (a later --local-socket wins): tests' daemons must
    // not race for the host's /run/gpupool/gpupool.sock.
    const socket = localTransport && !netns && !args.includes('--local-socket') ? join(mkdtempSync(join(tmpdir(), 'gpupool-test-')), 'gpupool.sock') : 'none';
    const argv = [...wrapper, CLI, 'daemon', '--listen', '127.0.0.1:0', '--local-socket', socket, ...args];
    const [cmd, cmdArgs] = netns ? ['ip', ['netns', 'exec', netns, process.execPath, ...argv]] : [process.execPath, argv];
    const child = spawn(cmd, cmdArgs, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const d = new DaemonProcess(child);
    let line: LogLine;
    try {
      line = await d.waitFor((l) => l.msg === 'listening', timeoutMs);
    } catch (err) {
      // No test holds it to stop it: left running, it would outlive the test with its output unread.
      child.kill('SIGKILL');
      throw err;
    }
    d.url = String(line.url);
    if (socket !== 'none') {
      localSockets.set(new URL(d.url).host, `unix://${socket}`);
      void d.exit.then(() => rmSync(dirname(socket), { recursive: true, force: true }));
    }
    return d;
  }

  /** Resolves with the first log line (already seen or still to come) that matches. */
  async waitFor(match: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(match);
      if (found) return found;
      if (this.child.exitCode !== null) throw new Error(`daemon exited (${this.child.exitCode}) before the expected log line; stderr: ${this.stderr.join('')}; logs: ${JSON.stringify(this.logs)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for a log line; logs: ${JSON.stringify(this.logs)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** SIGTERM, then the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exit;
  }

  exited(): Promise<number | null> {
    return this.exit;
  }
}

/** Runs the CLI to completion and returns what it printed; `netns` runs it inside that namespace. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}, netns?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const argv = cliOnTestTransport(args, netns);
  const [cmd, cmdArgs] = netns ? ['ip', ['netns', 'exec', netns, process.execPath, CLI, ...argv]] : [process.execPath, [CLI, ...argv]];
  return runProcess(cmd, cmdArgs, { ...process.env, ...env });
}

/** Runs a program to completion in exactly this environment; its exit code and all it printed. */
export async function runProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/** A process's resident memory in bytes, from /proc. */
export function rssBytes(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
}
