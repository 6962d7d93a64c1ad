/**
 * Freezing a process for a test: SIGSTOP, then the wait until every thread of it has stopped.
 * `kill` returns once the signal is queued; the kernel stops the threads as each next runs, so on a
 * loaded machine a thread of the target may still answer a request sent right after `kill` returns.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { eventually } from './integration.js';

/** Stops `pid` and resolves once all of its threads are in the stopped state. */
export async function freeze(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  await eventually(`process ${pid} stopped`, () => (allStopped(pid) ? true : undefined), 5_000, 5);
}

function allStopped(pid: number): boolean {
  return readdirSync(`/proc/${pid}/task`).every((tid) => {
    // The state follows the command name, which is in parentheses and may itself hold spaces.
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'T' || state === 't';
  });
}
