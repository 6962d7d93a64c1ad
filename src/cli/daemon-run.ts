import type { Logger } from 'pino';
import { checkExposure } from '../auth/exposure.js';
import { readTokenFile, type TokenTable } from '../auth/tokens.js';
import { readTlsMaterial, type TlsMaterial } from '../server/tls.js';
import { loadConfig } from '../config/load.js';
import type { DaemonConfig } from '../config/schema.js';
import { Daemon } from '../daemon/daemon.js';
import { hardExit } from '../daemon/hard-exit.js';
import { checkSimulation } from '../daemon/simulate.js';
import { SdNotifier } from '../daemon/sd-notify.js';
import { messageOf } from '../errors.js';
import { flagsLayer, type DaemonOptions } from './daemon-command.js';
import { ExitCodes } from './exit-codes.js';
import { createLogger } from './logger.js';

/** How long a stopped daemon may take to exit on its own before it is ended (a driver call still stuck). */
const EXIT_GRACE_MS = 1000;

export async function runDaemon(opts: DaemonOptions, setExit: (code: number) => void): Promise<void> {
  let config: DaemonConfig;
  let tokens: TokenTable | null;
  let tls: TlsMaterial | null;
  try {
    config = loadConfig({ file: opts.config, env: process.env, flags: flagsLayer(opts) });
    // All are mistakes in what the operator gave, found before anything starts: exit 2, like a bad flag.
    checkExposure(config);
    checkSimulation(config);
    tokens = config.auth.tokens === null ? null : readTokenFile(config.auth.tokens);
    tls = readTlsMaterial(config.tls);
  } catch (err) {
    process.stderr.write(`gpupool daemon: ${messageOf(err)}\n`);
    setExit(ExitCodes.CONFIG);
    return;
  }
  const logger = createLogger(config.logLevel);
  const notifier = new SdNotifier(process.env);
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(config, { logger, notifier, tokens, tls });
  } catch (err) {
    logger.fatal({ err: messageOf(err), code: (err as { code?: string }).code }, 'gpupoold failed to start');
    notifier.notify({ STATUS: `failed to start: ${messageOf(err)}`, ERRNO: 1 });
    setExit(ExitCodes.FAILURE);
    exitWithin(EXIT_GRACE_MS, ExitCodes.FAILURE, logger);
    return;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      // A second signal while stopping means the operator wants out now.
      if (stopping) hardExit(ExitCodes.FAILURE);
      stopping = true;
      const timer = setTimeout(() => {
        logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out');
        hardExit(ExitCodes.FAILURE);
      }, config.shutdownTimeoutMs);
      timer.unref();
      void daemon.stop(signal).then(() => {
        clearTimeout(timer);
        resolve();
      });
    };
    let stopping = false;
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // SIGHUP reloads the token file and the TLS files (and no longer ends the process, as it would by default).
    process.on('SIGHUP', () => daemon.reload());
  });
  setExit(ExitCodes.OK);
  exitWithin(EXIT_GRACE_MS, ExitCodes.OK, logger);
}

/** The timer is unref'd: it fires only if something still holds the event loop, such as a vendor call stuck in its driver. */
function exitWithin(ms: number, code: number, logger: Logger): void {
  setTimeout(() => {
    logger.warn({ graceMs: ms }, 'a library call is still running; exiting without it');
    hardExit(code);
  }, ms).unref();
}
