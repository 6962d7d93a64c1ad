import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { CLI, cliOnTestTransport } from './daemon-process.js';
import { eventually } from './integration.js';

/**
 * `gpupool ARGS` as a child process whose output is collected as it comes, for a job that holds its
 * session until told to go (test/programs/quota.c `wait`); `netns` runs it inside that namespace.
 */
export class HeldJob {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exit: Promise<unknown>;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}, netns?: string) {
    const argv = cliOnTestTransport(args, netns);
    const [cmd, cmdArgs] = netns ? ['ip', ['netns', 'exec', netns, process.execPath, CLI, ...argv]] : [process.execPath, [CLI, ...argv]];
    this.child = spawn(cmd, cmdArgs, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    // 'close', not 'exit': the last of the output may still be in the pipe when the process has exited.
    this.exit = once(this.child, 'close');
  }

  /** Resolves once the job printed `ready` (it holds its session); fails if it exits first. */
  ready(timeoutMs?: number): Promise<boolean> {
    return eventually(
      'the job holding its session',
      () => {
        if (/^ready$/m.test(this.stdout)) return true;
        if (this.child.exitCode !== null) throw new Error(`the job exited: ${this.stdout}${this.stderr}`);
        return undefined;
      },
      timeoutMs,
    );
  }

  /** Tells it to go, and its exit status. */
  async finish(): Promise<number | null> {
    this.child.stdin!.end('go\n');
    await this.exit;
    return this.child.exitCode;
  }

  /** Ends the job: SIGTERM, which `gpupool run` passes on to the program (a SIGKILL would leave it running). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
  }
}
