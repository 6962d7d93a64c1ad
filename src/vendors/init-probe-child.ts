/**
 * The child side of the vendor init probe (init-probe.ts): loads each vendor library named on stdin
 * through the daemon's own loader and opens it (init and enumeration), all vendors at once, and says
 * on stdout, one JSON line per event, when each starts and how it ended. A library that crashes or
 * hangs takes this process down, or keeps it, instead of the daemon.
 */
import type { DaemonConfig } from '../config/schema.js';
import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';
import type { Vendor } from './device.js';
import { loadVendorLibrary, type SearchPath } from './library.js';
import { VENDOR_DRIVERS } from './registry.js';

export interface ProbeRequest {
  vendors: Vendor[];
  search: SearchPath;
  config: DaemonConfig;
}

export type ProbeEvent =
  | { event: 'start'; vendor: Vendor }
  | { event: 'loaded'; vendor: Vendor; library: string }
  | { event: 'done'; vendor: Vendor; ok: true }
  | { event: 'done'; vendor: Vendor; ok: false; error: { code: string; message: string } };

function say(e: ProbeEvent): void {
  // Synchronous on a pipe: the line is out before a crash that follows it.
  process.stdout.write(`${JSON.stringify(e)}\n`);
}

async function probe(vendor: Vendor, request: ProbeRequest): Promise<void> {
  say({ event: 'start', vendor });
  try {
    const { library, path } = loadVendorLibrary(VENDOR_DRIVERS[vendor].spec, request.search);
    say({ event: 'loaded', vendor, library: path });
    await VENDOR_DRIVERS[vendor].create(library, request.config).open();
    say({ event: 'done', vendor, ok: true });
  } catch (err) {
    const error = err instanceof GpupoolError ? err : new GpupoolError(ErrorCodes.VENDOR_UNAVAILABLE, `${vendor}: ${messageOf(err)}`);
    say({ event: 'done', vendor, ok: false, error: { code: error.code, message: error.message } });
  }
}

/** The request is the first line on stdin; the end of stdin means the daemon is gone (or done with us). */
function main(): void {
  let text = '';
  let started = false;
  process.stdin.on('data', (chunk: Buffer) => {
    if (started) return;
    text += chunk.toString();
    const newline = text.indexOf('\n');
    if (newline < 0) return;
    started = true;
    const request = JSON.parse(text.slice(0, newline)) as ProbeRequest;
    // Not closed after: the process ends here, and a library's shutdown is one more call that could misbehave.
    void Promise.all(request.vendors.map((v) => probe(v, request))).then(() => process.exit(0));
  });
  // A child must not outlive the daemon that started it: stdin ends, or stdout breaks (EPIPE), when the
  // daemon is gone. Not process.exit(), nor an uncaught error: with an init hung on a worker thread,
  // exiting waits for that thread, for ever.
  const orphaned = () => process.kill(process.pid, 'SIGKILL');
  process.stdin.on('end', orphaned);
  process.stdout.on('error', orphaned);
}

main();
