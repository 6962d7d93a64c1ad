import { Command, Option } from 'commander';
import type { ConfigLayer } from '../config/load.js';
import { LOG_LEVELS, VENDORS, type DaemonConfig } from '../config/schema.js';
import { defaultFixture } from '../paths.js';

export interface DaemonOptions {
  config?: string;
  listen?: string;
  simulate?: string | true;
  logLevel?: DaemonConfig['logLevel'];
  libraryPath?: string;
  systemLibraries?: boolean;
  vendors?: string;
  hostname?: string;
  tokens?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  statusListen?: string;
  localSocket?: string;
}

export function flagsLayer(opts: DaemonOptions): ConfigLayer {
  const vendors: ConfigLayer['vendors'] = {};
  if (opts.libraryPath !== undefined) vendors.libraryPath = opts.libraryPath.split(':').filter(Boolean);
  if (opts.systemLibraries === false) vendors.systemLibraries = false;
  if (opts.vendors !== undefined) vendors.enabled = opts.vendors.split(',').map((v) => v.trim()) as DaemonConfig['vendors']['enabled'];
  const tls: ConfigLayer['tls'] = {};
  if (opts.tlsCert !== undefined) tls.cert = opts.tlsCert;
  if (opts.tlsKey !== undefined) tls.key = opts.tlsKey;
  if (opts.tlsClientCa !== undefined) tls.clientCa = opts.tlsClientCa;
  return {
    ...(opts.listen === undefined ? {} : { listen: opts.listen }),
    ...(opts.hostname === undefined ? {} : { hostname: opts.hostname }),
    ...(opts.logLevel === undefined ? {} : { logLevel: opts.logLevel }),
    ...(opts.simulate === undefined ? {} : { simulate: opts.simulate === true ? defaultFixture : opts.simulate }),
    ...(opts.statusListen === undefined ? {} : { statusListen: opts.statusListen }),
    ...(opts.localSocket === undefined ? {} : { localSocket: opts.localSocket === 'none' ? { enabled: false } : { enabled: true, path: opts.localSocket } }),
    ...(opts.tokens === undefined ? {} : { auth: { tokens: opts.tokens } }),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
    ...(Object.keys(vendors).length > 0 ? { vendors } : {}),
  };
}

export function daemonCommand(setExit: (code: number) => void, done: (p: Promise<void>) => void): Command {
  return new Command('daemon')
    .description('run gpupoold, the per-host daemon (also installed as `gpupoold`)')
    .option('-c, --config <file>', 'JSON configuration file (env GPUPOOL_CONFIG)')
    .option('-l, --listen <host:port>', 'HTTP address for status, metrics and compute; port 0 picks a free one')
    .option('--simulate [fixture]', 'run on the fake vendor libraries, with simulated cards from FIXTURE')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS))
    .option('--library-path <dirs>', 'colon-separated folders searched first for vendor libraries')
    .option('--no-system-libraries', "search only --library-path, not the vendors' usual folders")
    .option('--vendors <list>', `comma-separated vendors to probe (${VENDORS.join(',')})`)
    .option('--hostname <name>', 'host name reported in status and metrics')
    .option('--status-listen <host:port>', 'serve status, health and metrics (plain HTTP) on this address only; --listen then serves compute alone')
    .option('--local-socket <path>', 'the Unix socket for jobs on this host (env GPUPOOL_LOCAL_SOCKET); "none": serve none')
    .option('--tokens <file>', 'token file: compute clients must present a token listed there (docs/security.md); SIGHUP reloads it')
    .option('--tls-cert <file>', 'PEM certificate: serve HTTPS and wss:// (with --tls-key); SIGHUP reloads it')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--tls-client-ca <file>', 'PEM CA: compute clients must present a certificate it signed; its CN is their tenant (docs/security.md)')
    // The daemon's modules (koffi, prom-client, ajv, systeminformation) load only when it runs, so
    // that `gpupool status` starts quickly.
    .action((opts: DaemonOptions) => done(import('./daemon-run.js').then((m) => m.runDaemon(opts, setExit))));
}
