/**
 * A helper program driven one command a line on stdin, answering one line each on stdout (the raw
 * clients of test/programs, e.g. shm_raw_client.c): the lines in order, awaited one at a time.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export class RawLines {
  private lines: string[] = [];
  private waiters: ((line: string) => void)[] = [];
  constructor(protected readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const w = this.waiters.shift();
      if (w) w(line);
      else this.lines.push(line);
    });
  }

  /** The program's next line. */
  next(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** One command, and the line that answers it. */
  send(command: string): Promise<string> {
    this.child.stdin.write(`${command}\n`);
    return this.next();
  }

  async close(): Promise<void> {
    this.child.stdin.end();
    await once(this.child, 'exit');
  }
}
