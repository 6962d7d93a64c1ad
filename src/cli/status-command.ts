import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isGpupoolError, messageOf } from '../errors.js';
import type { StatusDocument } from '../server/status.js';
import type { Device } from '../vendors/device.js';
import { ExitCodes } from './exit-codes.js';
import { POOL_API_VERSION, type PoolDocument } from '../server/pool.js';
import { fetchDocument, fetchStatus, type TlsClientOptions } from '../server/status-client.js';
import { DEFAULT_PORT, readTlsClientFiles, statusUrl } from './status-client.js';
import { devicesCsv, poolCardsCsv } from './status-csv.js';
import { renderPool } from './status-pool-table.js';
import { renderHost } from './status-table.js';
import type { TableLayout } from './text-table.js';
import { terminalJson } from './terminal-text.js';
import { tlsOnlyMessage } from './tls-probe.js';

const FORMATS = ['table', 'wide', 'csv', 'json'] as const;
type Format = (typeof FORMATS)[number];

interface StatusOptions {
  host: string[];
  json?: boolean;
  output?: Format;
  pool?: boolean;
  timeout: number;
  watch?: number | true;
  width?: number;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

type HostResult = { url: string; ok: true; status: StatusDocument } | { url: string; ok: false; error: { code: string; message: string } };

/** What one look at the daemons printed, and the exit status it earned. */
interface Snapshot {
  out: string;
  err: string;
  exit: number;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInt(what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`must be a positive number of ${what}`);
    return n;
  };
}

/** `--watch` takes fractions (0.5) for quick refreshes; below a tenth of a second is a typo. */
function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.1 || n > 86400) throw new InvalidArgumentError('must be a number of seconds from 0.1 to 86400');
  return n;
}

export const DEFAULT_HOST = `http://127.0.0.1:${DEFAULT_PORT}`;
/** `--watch` without a figure: as often as `watch(1)` redraws. */
export const DEFAULT_WATCH_S = 2;

export function statusCommand(out: NodeJS.WritableStream, err: NodeJS.WritableStream, setExit: (code: number) => void, done: (p: Promise<void>) => void): Command {
  return new Command('status')
    .description('show the cards, figures, health and clients of one or more hosts')
    .option('-H, --host <url>', `daemon to ask (gpu1, gpu1:7760, https://gpu1); repeat for several hosts; without a port, ${DEFAULT_PORT} (default ${DEFAULT_HOST})`, collect, [])
    .addOption(new Option('-o, --output <format>', 'table (fits the terminal), wide (every column), csv (a row per card, raw figures) or json').choices(FORMATS))
    .option('--json', 'print JSON for scripts instead of tables (as -o json)')
    .option('--pool', "ask one daemon (--host) for the whole pool: every host's cards and clients (GET /v1/pool)")
    .option('-w, --watch [seconds]', `print again every SECONDS (default ${DEFAULT_WATCH_S}) until interrupted, as nvidia-smi -l does`, seconds)
    .option('--width <columns>', 'fit tables to this many columns (default: $COLUMNS, else the terminal\'s width; unlimited into a pipe)', positiveInt('columns'))
    .option('--timeout <ms>', 'how long to wait for each host', positiveInt('milliseconds'), 5000)
    // The client library's variables, so that one environment serves jobs and status alike.
    .option('--tls-ca <file>', "PEM CA that signed https:// daemons' certificates (env GPUPOOL_TLS_CA; default: Node's CA store)", process.env.GPUPOOL_TLS_CA)
    .option('--tls-cert <file>', 'PEM client certificate for daemons that require one (env GPUPOOL_TLS_CERT)', process.env.GPUPOOL_TLS_CERT)
    .option('--tls-key <file>', 'PEM private key of --tls-cert (env GPUPOOL_TLS_KEY)', process.env.GPUPOOL_TLS_KEY)
    .action((opts: StatusOptions) => done(runStatus(opts, out, err, setExit)));
}

/** The width tables fit: --width, $COLUMNS, the terminal's, or none (a pipe: scripts get whole lines). */
function tableWidth(opts: StatusOptions, out: NodeJS.WritableStream): number {
  if (opts.width !== undefined) return opts.width;
  const columns = Number(process.env.COLUMNS);
  if (Number.isInteger(columns) && columns > 0) return columns;
  const tty = out as NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  return tty.isTTY && tty.columns ? tty.columns : Number.POSITIVE_INFINITY;
}

async function runStatus(opts: StatusOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream, setExit: (code: number) => void): Promise<void> {
  const format: Format = opts.json ? 'json' : (opts.output ?? 'table');
  let look: (first: boolean) => Promise<Snapshot>;
  try {
    look = opts.pool ? poolLook(opts, format, out) : hostsLook(opts, format, out);
  } catch (e) {
    err.write(`gpupool status: ${messageOf(e)}\n`);
    setExit(ExitCodes.CONFIG);
    return;
  }
  if (opts.watch === undefined) {
    const s = await look(true);
    out.write(s.out);
    err.write(s.err);
    setExit(s.exit);
    return;
  }
  setExit(await watch(opts.watch === true ? DEFAULT_WATCH_S : opts.watch, format, look, out, err));
}

/**
 * Looks again every `intervalS` until SIGINT or SIGTERM, then returns the last look's exit status. On a
 * terminal each table replaces the last (as `watch` does); into a pipe each follows the last, after a
 * line with the time, and JSON is one document per line, CSV one header for all.
 */
async function watch(intervalS: number, format: Format, look: (first: boolean) => Promise<Snapshot>, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  const tty = (out as { isTTY?: boolean }).isTTY === true;
  let exit: number = ExitCodes.OK;
  try {
    for (let first = true; !stop.signal.aborted; first = false) {
      const s = await look(first);
      exit = s.exit;
      if (stop.signal.aborted) break;
      const table = format === 'table' || format === 'wide';
      const heading = table ? `Every ${intervalS} s: gpupool status    ${new Date().toISOString()}\n\n` : '';
      out.write(`${tty && table ? '\x1b[H\x1b[2J' : ''}${!tty && table && !first ? '\n' : ''}${heading}${s.out}`);
      err.write(s.err);
      await sleep(intervalS * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  return exit;
}

/** The --tls-* files (empty variables count as unset). */
function tlsOptions(opts: StatusOptions): TlsClientOptions {
  return readTlsClientFiles({ ca: opts.tlsCa || undefined, cert: opts.tlsCert || undefined, key: opts.tlsKey || undefined });
}

/** A failure as status reports it; an http:// URL whose daemon speaks only TLS says so. */
async function failure(url: URL, e: unknown, timeoutMs: number): Promise<{ code: string; message: string }> {
  const base = isGpupoolError(e) ? { code: e.code, message: e.message } : { code: 'UNKNOWN', message: messageOf(e) };
  const tls = await tlsOnlyMessage(url, e, Math.min(timeoutMs, 2000));
  return tls === null ? base : { ...base, message: tls };
}

/** `--host` (each, or the default): a status document from each. */
function hostsLook(opts: StatusOptions, format: Format, out: NodeJS.WritableStream): (first: boolean) => Promise<Snapshot> {
  const urls = (opts.host.length > 0 ? opts.host : [DEFAULT_HOST]).map(statusUrl);
  const tls = tlsOptions(opts);
  return async (first) => {
    const results: HostResult[] = await Promise.all(
      urls.map(async (url): Promise<HostResult> => {
        try {
          return { url: url.origin, ok: true, status: await fetchStatus(url, opts.timeout, tls) };
        } catch (e) {
          return { url: url.origin, ok: false, error: await failure(url, e, opts.timeout) };
        }
      }),
    );
    const devices: (Device & { host: string })[] = results.flatMap((r) => (r.ok ? r.status.devices.map((d) => ({ host: r.url, ...d })) : []));
    const exit = results.some((r) => !r.ok) ? ExitCodes.UNREACHABLE : devices.some((d) => d.health.state !== 'healthy') ? ExitCodes.FAILURE : ExitCodes.OK;
    const errors = results.flatMap((r) => (r.ok ? [] : [`gpupool status: ${r.error.message}\n`])).join('');
    if (format === 'json') return { out: json({ hosts: results, devices }, opts), err: '', exit };
    if (format === 'csv') return { out: devicesCsv(results.flatMap((r) => (r.ok ? [{ url: r.url, status: r.status }] : [])), first), err: errors, exit };
    const layout = layoutOf(opts, format, out);
    const text = results.flatMap((r) => (r.ok ? [`${renderHost(r.url, r.status, layout)}\n`] : [])).join('\n');
    return { out: text, err: errors, exit };
  };
}

/** `--pool`: one daemon's `/v1/pool`; exit codes as for the hosts it lists. */
function poolLook(opts: StatusOptions, format: Format, out: NodeJS.WritableStream): (first: boolean) => Promise<Snapshot> {
  if (opts.host.length > 1) throw new Error('--pool asks one daemon for the whole pool: give at most one --host');
  const url = statusUrl(opts.host[0] ?? DEFAULT_HOST);
  const tls = tlsOptions(opts);
  if (url.pathname === '/v1/status') url.pathname = '/v1/pool';
  return async (first) => {
    let doc: PoolDocument;
    try {
      // The daemon gives each peer its pool.timeoutMs (2 s by default), less than --timeout's default.
      doc = await fetchDocument<PoolDocument>(url, opts.timeout, POOL_API_VERSION, tls);
    } catch (e) {
      return { out: '', err: `gpupool status: ${(await failure(url, e, opts.timeout)).message}\n`, exit: ExitCodes.UNREACHABLE };
    }
    const reached = doc.hosts.flatMap((h) => (h.ok ? [h.status] : []));
    const exit = reached.length < doc.hosts.length ? ExitCodes.UNREACHABLE : reached.some((s) => s.devices.some((d) => d.health.state !== 'healthy')) ? ExitCodes.FAILURE : ExitCodes.OK;
    if (format === 'json') return { out: json(doc, opts), err: '', exit };
    if (format === 'csv') return { out: poolCardsCsv(doc, first), err: '', exit };
    return { out: `${renderPool(doc, layoutOf(opts, format, out))}\n`, err: '', exit };
  };
}

function layoutOf(opts: StatusOptions, format: Format, out: NodeJS.WritableStream): TableLayout {
  return { width: tableWidth(opts, out), wide: format === 'wide' };
}

/** Indented for a person; one line per look under --watch (JSON Lines), for a script reading a stream. Clients' names stay escaped. */
function json(doc: unknown, opts: StatusOptions): string {
  return `${terminalJson(doc, opts.watch === undefined ? 2 : undefined)}\n`;
}
