import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Test } from 'tap';
import { CLI, onTestTransport } from './daemon-process.js';
import { eventually } from './integration.js';

/** "No hang": the waits on a job give up after this long. */
export const PROMPT_MS = 10_000;

/** Rejects with `what` when `p` has not settled after `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `gpupool run --servers SERVER -- PROGRAM...` with its stdin a pipe, its output collected as it comes
 * (and when each line came); `netns` runs it inside that network namespace (a test host).
 */
export class JobProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  /** Each complete line of stdout or stderr with the Date.now() it arrived at. */
  readonly lines: { stream: 'stdout' | 'stderr'; text: string; at: number }[] = [];
  readonly exit: Promise<number | null>;

  constructor(server: string, program: string[], env: NodeJS.ProcessEnv = {}, netns?: string) {
    const argv = [CLI, 'run', '--servers', netns ? server : onTestTransport(server), '--', ...program];
    const [cmd, args] = netns ? ['ip', ['netns', 'exec', netns, process.execPath, ...argv]] : [process.execPath, argv];
    this.child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    for (const stream of ['stdout', 'stderr'] as const) {
      let partial = '';
      this.child[stream]!.on('data', (d: Buffer) => {
        const text = d.toString();
        this[stream] += text;
        const parts = (partial + text).split('\n');
        partial = parts.pop()!;
        for (const line of parts) this.lines.push({ stream, text: line, at: Date.now() });
      });
    }
    this.exit = once(this.child, 'exit').then(([code]) => code as number | null);
  }

  /** The first match of `re` in stdout (or stderr), waiting for it to be printed. */
  async output(re: RegExp, stream: 'stdout' | 'stderr' = 'stdout', timeoutMs = PROMPT_MS): Promise<RegExpMatchArray> {
    try {
      return await eventually(`${re} in the job's ${stream}`, () => {
        const match = re.exec(this[stream]);
        if (match) return match;
        if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`the job exited (${this.child.exitCode})`);
        return undefined;
      }, timeoutMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}; stdout: ${this.stdout}; stderr: ${this.stderr}`);
    }
  }

  /** When the first line matching `re` arrived (Date.now()), waiting for it. */
  async lineAt(re: RegExp, stream: 'stdout' | 'stderr' = 'stdout', timeoutMs = PROMPT_MS): Promise<number> {
    // The whole output in multiline mode first: it says what the job printed if the line never comes.
    await this.output(new RegExp(re.source, `${re.flags.replace('m', '')}m`), stream, timeoutMs);
    return eventually(`the line ${re}`, () => this.lines.find((l) => l.stream === stream && re.test(l.text))?.at, PROMPT_MS);
  }

  line(text = 'go'): void {
    this.child.stdin!.write(`${text}\n`);
  }

  /** Its exit status, or a failure when it has not exited within the no-hang bound. */
  finished(): Promise<number | null> {
    return within(this.exit, PROMPT_MS, 'the job exiting');
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** A job killed (if still running) when the test ends. */
export function startJob(t: Test, server: string, program: string[], env: NodeJS.ProcessEnv = {}, netns?: string): JobProcess {
  const j = new JobProcess(server, program, env, netns);
  t.teardown(() => j.kill());
  return j;
}

/** A whole run with stdin closed: exit status and output. */
export async function runJob(server: string, program: string[], env: NodeJS.ProcessEnv = {}, netns?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const j = new JobProcess(server, program, env, netns);
  j.child.stdin!.end();
  try {
    const code = await j.finished();
    return { code, stdout: j.stdout, stderr: j.stderr };
  } finally {
    j.kill();
  }
}
