import { Command, Option } from 'commander';
import type { ConfigLayer } from '../config/load.js';
import { loadConfig } from '../config/load.js';
import { LOG_LEVELS, VENDORS, type DaemonConfig } from '../config/schema.js';
import { Daemon } from '../daemon/daemon.js';
import { SdNotifier } from '../daemon/sd-notify.js';
import { messageOf } from '../errors.js';
import { defaultFixture } from '../paths.js';
import { createLogger } from './logger.js';
import { ExitCodes } from './exit-codes.js';

interface DaemonOptions {
  config?: string;
  listen?: string;
  simulate?: string | true;
  logLevel?: DaemonConfig['logLevel'];
  libraryPath?: string;
  systemLibraries?: boolean;
  vendors?: string;
  hostname?: string;
}

function flagsLayer(opts: DaemonOptions): ConfigLayer {
  const vendors: ConfigLayer['vendors'] = {};
  if (opts.libraryPath !== undefined) vendors.libraryPath = opts.libraryPath.split(':').filter(Boolean);
  if (opts.systemLibraries === false) vendors.systemLibraries = false;
  if (opts.vendors !== undefined) vendors.enabled = opts.vendors.split(',').map((v) => v.trim()) as DaemonConfig['vendors']['enabled'];
  return {
    ...(opts.listen === undefined ? {} : { listen: opts.listen }),
    ...(opts.hostname === undefined ? {} : { hostname: opts.hostname }),
    ...(opts.logLevel === undefined ? {} : { logLevel: opts.logLevel }),
    ...(opts.simulate === undefined ? {} : { simulate: opts.simulate === true ? defaultFixture : opts.simulate }),
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
    .action((opts: DaemonOptions) => done(runDaemon(opts, setExit)));
}

async function runDaemon(opts: DaemonOptions, setExit: (code: number) => void): Promise<void> {
  let config: DaemonConfig;
  try {
    config = loadConfig({ file: opts.config, env: process.env, flags: flagsLayer(opts) });
  } catch (err) {
    process.stderr.write(`gpupool daemon: ${messageOf(err)}\n`);
    setExit(ExitCodes.CONFIG);
    return;
  }
  const logger = createLogger(config.logLevel);
  const notifier = new SdNotifier(process.env);
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(config, { logger, notifier });
  } catch (err) {
    logger.fatal({ err: messageOf(err), code: (err as { code?: string }).code }, 'gpupoold failed to start');
    notifier.notify({ STATUS: `failed to start: ${messageOf(err)}`, ERRNO: 1 });
    setExit(ExitCodes.FAILURE);
    return;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      // A second signal while stopping means the operator wants out now.
      if (stopping) process.exit(ExitCodes.FAILURE);
      stopping = true;
      const timer = setTimeout(() => {
        logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out');
        process.exit(ExitCodes.FAILURE);
      }, config.shutdownTimeoutMs);
      timer.unref();
      void daemon.stop(signal).then(resolve);
    };
    let stopping = false;
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  setExit(ExitCodes.OK);
}
