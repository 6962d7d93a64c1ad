import { Command, InvalidArgumentError } from 'commander';
import { isGpupoolError, messageOf } from '../errors.js';
import type { StatusDocument } from '../server/status.js';
import type { Device } from '../vendors/device.js';
import { ExitCodes } from './exit-codes.js';
import { POOL_API_VERSION, type PoolDocument } from '../server/pool.js';
import { fetchDocument, fetchStatus, type TlsClientOptions } from '../server/status-client.js';
import { readTlsClientFiles, statusUrl } from './status-client.js';
import { renderPool } from './status-pool-table.js';
import { renderHost } from './status-table.js';

interface StatusOptions {
  host: string[];
  json?: boolean;
  pool?: boolean;
  timeout: number;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

type HostResult = { url: string; ok: true; status: StatusDocument } | { url: string; ok: false; error: { code: string; message: string } };

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of milliseconds');
  return n;
}

export const DEFAULT_HOST = 'http://127.0.0.1:7760';

export function statusCommand(out: NodeJS.WritableStream, err: NodeJS.WritableStream, setExit: (code: number) => void, done: (p: Promise<void>) => void): Command {
  return new Command('status')
    .description('show the cards, figures and health of one or more hosts')
    .option('-H, --host <url>', `daemon to ask; repeat for several hosts (default ${DEFAULT_HOST})`, collect, [])
    .option('--json', 'print JSON for scripts instead of tables')
    .option('--pool', "ask one daemon (--host) for the whole pool: every host's cards and clients (GET /v1/pool)")
    .option('--timeout <ms>', 'how long to wait for each host', positiveInt, 5000)
    // The client library's variables, so that one environment serves jobs and status alike.
    .option('--tls-ca <file>', "PEM CA that signed https:// daemons' certificates (env GPUPOOL_TLS_CA; default: Node's CA store)", process.env.GPUPOOL_TLS_CA)
    .option('--tls-cert <file>', 'PEM client certificate for daemons that require one (env GPUPOOL_TLS_CERT)', process.env.GPUPOOL_TLS_CERT)
    .option('--tls-key <file>', 'PEM private key of --tls-cert (env GPUPOOL_TLS_KEY)', process.env.GPUPOOL_TLS_KEY)
    .action((opts: StatusOptions) => done(runStatus(opts, out, err, setExit)));
}

async function runStatus(opts: StatusOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream, setExit: (code: number) => void): Promise<void> {
  if (opts.pool) return runPool(opts, out, err, setExit);
  const hosts = opts.host.length > 0 ? opts.host : [DEFAULT_HOST];
  let urls: URL[];
  let tls: TlsClientOptions;
  try {
    urls = hosts.map(statusUrl);
    tls = tlsOptions(opts);
  } catch (e) {
    err.write(`gpupool status: ${messageOf(e)}\n`);
    setExit(ExitCodes.CONFIG);
    return;
  }
  const results: HostResult[] = await Promise.all(
    urls.map(async (url): Promise<HostResult> => {
      try {
        return { url: url.origin, ok: true, status: await fetchStatus(url, opts.timeout, tls) };
      } catch (e) {
        return { url: url.origin, ok: false, error: isGpupoolError(e) ? { code: e.code, message: e.message } : { code: 'UNKNOWN', message: messageOf(e) } };
      }
    }),
  );
  const devices: (Device & { host: string })[] = results.flatMap((r) => (r.ok ? r.status.devices.map((d) => ({ host: r.url, ...d })) : []));
  if (opts.json) {
    out.write(`${JSON.stringify({ hosts: results, devices }, null, 2)}\n`);
  } else {
    for (const r of results) {
      if (r.ok) out.write(`${renderHost(r.url, r.status)}\n\n`);
      else err.write(`gpupool status: ${r.error.message}\n`);
    }
  }
  if (results.some((r) => !r.ok)) setExit(ExitCodes.UNREACHABLE);
  else if (devices.some((d) => d.health.state !== 'healthy')) setExit(ExitCodes.FAILURE);
  else setExit(ExitCodes.OK);
}

/** The --tls-* files (empty variables count as unset). */
function tlsOptions(opts: StatusOptions): TlsClientOptions {
  return readTlsClientFiles({ ca: opts.tlsCa || undefined, cert: opts.tlsCert || undefined, key: opts.tlsKey || undefined });
}

/** `--pool`: one daemon's `/v1/pool`; exit codes as for the hosts it lists. */
async function runPool(opts: StatusOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream, setExit: (code: number) => void): Promise<void> {
  if (opts.host.length > 1) {
    err.write('gpupool status: --pool asks one daemon for the whole pool: give at most one --host\n');
    setExit(ExitCodes.CONFIG);
    return;
  }
  let url: URL;
  let tls: TlsClientOptions;
  try {
    url = statusUrl(opts.host[0] ?? DEFAULT_HOST);
    tls = tlsOptions(opts);
  } catch (e) {
    err.write(`gpupool status: ${messageOf(e)}\n`);
    setExit(ExitCodes.CONFIG);
    return;
  }
  if (url.pathname === '/v1/status') url.pathname = '/v1/pool';
  let doc: PoolDocument;
  try {
    // The daemon gives each peer its pool.timeoutMs (2 s by default), less than --timeout's default.
    doc = await fetchDocument<PoolDocument>(url, opts.timeout, POOL_API_VERSION, tls);
  } catch (e) {
    err.write(`gpupool status: ${messageOf(e)}\n`);
    setExit(ExitCodes.UNREACHABLE);
    return;
  }
  out.write(opts.json ? `${JSON.stringify(doc, null, 2)}\n` : `${renderPool(doc)}\n`);
  const reached = doc.hosts.flatMap((h) => (h.ok ? [h.status] : []));
  if (reached.length < doc.hosts.length) setExit(ExitCodes.UNREACHABLE);
  else if (reached.some((s) => s.devices.some((d) => d.health.state !== 'healthy'))) setExit(ExitCodes.FAILURE);
  else setExit(ExitCodes.OK);
}
