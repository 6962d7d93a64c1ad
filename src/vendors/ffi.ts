import type { LibraryHandle } from 'koffi';

/** A bound library entry point: callable directly or, with `.async`, on a worker thread. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NativeFunction = ((...args: any[]) => any) & { async: (...args: any[]) => void };

/**
 * Runs a library call on koffi's worker threads. Every vendor call goes through here so that a card
 * that stalls its driver stalls a worker thread, never the event loop.
 */
export function callAsync<R = number>(fn: NativeFunction, ...args: unknown[]): Promise<R> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err: unknown, result: R) => (err ? reject(err) : resolve(result)));
  });
}

/** Reads a NUL-terminated string out of a buffer the library filled. */
export function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end < 0 ? buf.length : end);
}

/** Rejects when `promise` has not settled within `ms`; the call itself keeps its worker thread. */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Binds the first of several prototypes whose symbol the library exports: newer versioned entry
 * points first, the older ones for older drivers (as NVIDIA's own go-nvml does).
 */
export function bindFirst(lib: LibraryHandle, ...prototypes: string[]): NativeFunction {
  const errors: string[] = [];
  for (const proto of prototypes) {
    try {
      return lib.func(proto) as NativeFunction;
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
  }
  throw new Error(`none of the entry points is exported: ${errors.join('; ')}`);
}

/** Like bindFirst, but an entry point the library lacks is null (an optional feature). */
export function bindOptional(lib: LibraryHandle, ...prototypes: string[]): NativeFunction | null {
  try {
    return bindFirst(lib, ...prototypes);
  } catch {
    return null;
  }
}
