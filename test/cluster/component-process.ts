import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { CLI, type LogLine } from '../helpers/daemon-process.js';
import { eventually } from '../helpers/integration.js';

/** `gpupool ARGS` (a cluster component that runs until stopped) as a child process, its JSON log lines collected. */
export class ComponentProcess {
  readonly logs: LogLine[] = [];
  stderr = '';
  readonly child: ChildProcess;
  private readonly exit: Promise<unknown>;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.logs.push(JSON.parse(line) as LogLine);
      } catch {
        this.logs.push({ level: 0, msg: line });
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exit = once(this.child, 'exit');
  }

  waitFor(match: (l: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    return eventually(
      'a log line',
      () => {
        const found = this.logs.find(match);
        if (found) return found;
        if (this.child.exitCode !== null) throw new Error(`exited ${this.child.exitCode}: ${this.stderr} ${JSON.stringify(this.logs)}`);
        return undefined;
      },
      timeoutMs,
    );
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exit;
  }
}
