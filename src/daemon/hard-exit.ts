import koffi from 'koffi';

let exitNow: ((code: number) => void) | null = null;

/**
 * Ends the process at once with `code`, through libc's _exit. A vendor call stuck in a driver holds
 * a worker thread that process.exit() would wait for; a daemon whose shutdown timed out, or that
 * has stopped but cannot exit, must not wait for it.
 */
export function hardExit(code: number): never {
  exitNow ??= koffi.load('libc.so.6').func('void _exit(int status)') as (code: number) => void;
  exitNow(code);
  throw new Error('unreachable: _exit returned');
}
