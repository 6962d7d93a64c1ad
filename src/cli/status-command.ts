import { Command, InvalidArgumentError } from 'commander';
import { isGpupoolError, messageOf } from '../errors.js';
import type { StatusDocument } from '../server/status.js';
import type { Device } from '../vendors/device.js';
import { ExitCodes } from './exit-codes.js';
import { fetchStatus, readTlsClientFiles, statusUrl, type TlsClientOptions } from './status-client.js';
import { renderHost } from './status-table.js';

interface StatusOptions {
  host: string[];
  json?: boolean;
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
    .option('--timeout <ms>', 'how long to wait for each host', positiveInt, 5000)
    // The client library's variables, so that one environment serves jobs and status alike.
    .option('--tls-ca <file>', "PEM CA that signed https:// daemons' certificates (env GPUPOOL_TLS_CA; default: Node's CA store)", process.env.GPUPOOL_TLS_CA)
    .option('--tls-cert <file>', 'PEM client certificate for daemons that require one (env GPUPOOL_TLS_CERT)', process.env.GPUPOOL_TLS_CERT)
    .option('--tls-key <file>', 'PEM private key of --tls-cert (env GPUPOOL_TLS_KEY)', process.env.GPUPOOL_TLS_KEY)
    .action((opts: StatusOptions) => done(runStatus(opts, out, err, setExit)));
}

async function runStatus(opts: StatusOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream, setExit: (code: number) => void): Promise<void> {
  const hosts = opts.host.length > 0 ? opts.host : [DEFAULT_HOST];
  let urls: URL[];
  let tls: TlsClientOptions;
  try {
    urls = hosts.map(statusUrl);
    tls = readTlsClientFiles({ ca: opts.tlsCa || undefined, cert: opts.tlsCert || undefined, key: opts.tlsKey || undefined });
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
