import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { constants } from 'node:os';
import { Command } from 'commander';
import { clientLibraryDir } from '../paths.js';
import { parseBytes } from '../auth/tokens.js';
import { ExitCodes } from './exit-codes.js';
import { parsePriority } from '../sharing/priority.js';

interface RunOptions {
  servers?: string;
  token?: string;
  debug?: boolean;
  mem?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  share?: string;
  shareLimit?: boolean;
  priority?: string;
}

export const DEFAULT_SERVERS = 'ws://127.0.0.1:7760';

/** The environment a job runs in: gpupool's libcuda.so.1 first on the loader's path, and the settings it reads. */
export function jobEnvironment(opts: RunOptions, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {
    ...env,
    LD_LIBRARY_PATH: [clientLibraryDir, env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
    GPUPOOL_SERVERS: opts.servers ?? env.GPUPOOL_SERVERS ?? DEFAULT_SERVERS,
  };
  if (opts.token !== undefined) out.GPUPOOL_TOKEN = opts.token;
  // Absolute, so that a job that changes its directory before cuInit still finds them.
  if (opts.tlsCa !== undefined) out.GPUPOOL_TLS_CA = resolve(opts.tlsCa);
  if (opts.tlsCert !== undefined) out.GPUPOOL_TLS_CERT = resolve(opts.tlsCert);
  if (opts.tlsKey !== undefined) out.GPUPOOL_TLS_KEY = resolve(opts.tlsKey);
  if (opts.debug) out.GPUPOOL_DEBUG = '1';
  const request: Record<string, string> = {};
  if (opts.mem !== undefined) request.mem = opts.mem.trim();
  if (opts.share !== undefined) request.share = opts.share.trim();
  if (opts.shareLimit) request.limit = 'yes';
  if (opts.priority !== undefined) request.priority = opts.priority.trim();
  if (Object.keys(request).length > 0) out.GPUPOOL_REQUEST = withRequest(env.GPUPOOL_REQUEST, request);
  return out;
}

/** GPUPOOL_REQUEST with the keys of `set` replaced (docs/operations.md); the other keys kept as they are. */
export function withRequest(request: string | undefined, set: Record<string, string>): string {
  const others = (request ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && !Object.keys(set).includes(s.split('=')[0]!.trim()));
  return [...Object.entries(set).map(([k, v]) => `${k}=${v}`), ...others].join(',');
}

/** A child killed by a signal exits the way a shell reports it: 128 + the signal's number. */
function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

export function runCommand(err: NodeJS.WritableStream, setExit: (code: number) => void, done: (p: Promise<void>) => void): Command {
  return new Command('run')
    .description('run COMMAND with its CUDA calls carried to pool cards')
    .usage('[options] -- COMMAND [ARGS...]')
    .option('-s, --servers <list>', `comma-separated daemon addresses, ws:// or wss:// (env GPUPOOL_SERVERS, default ${DEFAULT_SERVERS})`)
    .option('--token <token>', 'bearer token for the daemons (env GPUPOOL_TOKEN)')
    .option('--tls-ca <file>', "PEM CA that signed the daemons' certificates, for wss:// (env GPUPOOL_TLS_CA; default: the system's CA store)")
    .option('--tls-cert <file>', 'PEM client certificate for daemons that require one (env GPUPOOL_TLS_CERT)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert (env GPUPOOL_TLS_KEY)')
    .option('--debug', "log the client library's connections and calls to stderr")
    .option('--mem <size>', 'device memory the job asks for on each card, e.g. 8GiB (sets mem= in env GPUPOOL_REQUEST; default: the daemon\'s default quota)')
    .option('--share <fraction>', "the job's share of each card's compute under contention, in (0, 1] (share= in GPUPOOL_REQUEST)")
    .option('--share-limit', 'make the share also a cap: the job never gets more, even of an idle card (limit=yes)')
    .option('--priority <class>', 'high (online inference), normal or low (training, batch), optionally with a level: high:5 (priority=)')
    .argument('<command...>', 'the program and its arguments')
    .passThroughOptions()
    .action((command: string[], opts: RunOptions) => done(run(command, opts, err, setExit)));
}

function run(command: string[], opts: RunOptions, err: NodeJS.WritableStream, setExit: (code: number) => void): Promise<void> {
  if (!existsSync(join(clientLibraryDir, 'libcuda.so.1'))) {
    err.write(`gpupool run: the client library is not built (${clientLibraryDir}); run npm run build\n`);
    setExit(ExitCodes.FAILURE);
    return Promise.resolve();
  }
  if (opts.mem !== undefined && parseBytes(opts.mem) === null) {
    err.write(`gpupool run: --mem ${opts.mem}: expected a size in bytes, such as 8GiB, 512MiB or 2000000000\n`);
    setExit(ExitCodes.CONFIG);
    return Promise.resolve();
  }
  const share = opts.share === undefined ? null : Number(opts.share);
  if (share !== null && !(share > 0 && share <= 1)) {
    err.write(`gpupool run: --share ${opts.share}: expected a number in (0, 1], such as 0.25\n`);
    setExit(ExitCodes.CONFIG);
    return Promise.resolve();
  }
  if (opts.priority !== undefined && parsePriority(opts.priority) === null) {
    err.write(`gpupool run: --priority ${opts.priority}: expected high, normal or low, optionally with a level 0-9 (high:5)\n`);
    setExit(ExitCodes.CONFIG);
    return Promise.resolve();
  }
  const [program, ...args] = command;
  return new Promise((resolve) => {
    const child = spawn(program!, args, { stdio: 'inherit', env: jobEnvironment(opts, process.env) });
    // The job gets the terminal's signals itself; gpupool run only waits for it.
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('error', (e) => {
      err.write(`gpupool run: cannot start ${program}: ${e.message}\n`);
      setExit(127);
      resolve();
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      setExit(exitStatus(code, signal));
      resolve();
    });
  });
}
