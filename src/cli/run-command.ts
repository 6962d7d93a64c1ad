import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { constants } from 'node:os';
import { Command } from 'commander';
import { clientLibraryDir } from '../paths.js';
import { parseBytes } from '../auth/tokens.js';
import { messageOf } from '../errors.js';
import { fetchStatus, type TlsClientOptions } from '../server/status-client.js';
import { isSocketFile, localSocketCandidates } from '../server/local-socket.js';
import { readTlsClientFiles } from './status-client.js';
import { POLICIES, SHARE_RANGE } from '../sharing/placement.js';
import { MAX_GPUS, MAX_WAIT_S, type JobRequest } from '../sharing/quota.js';
import { parseGpus, parsePolicy, parseRequestText, parseShare, parseWait, withKeys } from '../sharing/request-text.js';
import { parsePriority } from '../sharing/priority.js';
import { ExitCodes } from './exit-codes.js';
import { planJob } from './run-placement.js';

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
  gpus?: string;
  policy?: string;
  wait?: string;
  trace?: string;
}

export const DEFAULT_SERVERS = 'ws://127.0.0.1:7760';

/** With no --servers and no GPUPOOL_SERVERS: this host's daemon through its Unix socket when one is there, as the client library chooses. */
export function defaultServers(env: NodeJS.ProcessEnv): string {
  const local = localSocketCandidates(env).find(isSocketFile);
  return local === undefined ? DEFAULT_SERVERS : `unix://${local}`;
}

/** The environment a job runs in: gpupool's libcuda.so.1 first on the loader's path, and the settings it reads. */
export function jobEnvironment(opts: RunOptions, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {
    ...env,
    LD_LIBRARY_PATH: [clientLibraryDir, env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
    GPUPOOL_SERVERS: opts.servers ?? env.GPUPOOL_SERVERS ?? defaultServers(env),
  };
  if (opts.token !== undefined) out.GPUPOOL_TOKEN = opts.token;
  // Absolute, so that a job that changes its directory before cuInit still finds them.
  if (opts.tlsCa !== undefined) out.GPUPOOL_TLS_CA = resolve(opts.tlsCa);
  if (opts.tlsCert !== undefined) out.GPUPOOL_TLS_CERT = resolve(opts.tlsCert);
  if (opts.tlsKey !== undefined) out.GPUPOOL_TLS_KEY = resolve(opts.tlsKey);
  if (opts.debug) out.GPUPOOL_DEBUG = '1';
  // The call trace (docs/operations.md, "Call trace"): a file the job's processes append to, absolute
  // for the same reason as the TLS files.
  if (opts.trace !== undefined) out.GPUPOOL_TRACE = resolve(opts.trace);
  const keys = { mem: opts.mem, share: opts.share, limit: opts.shareLimit ? 'yes' : undefined, priority: opts.priority, gpus: opts.gpus, policy: opts.policy, wait: opts.wait };
  if (Object.values(keys).some((v) => v !== undefined)) out.GPUPOOL_REQUEST = withKeys(env.GPUPOOL_REQUEST, keys);
  return out;
}

/** Each flag's value checked before anything starts: the message, or null when all are good. */
function badFlag(opts: RunOptions): string | null {
  if (opts.mem !== undefined && parseBytes(opts.mem) === null) return `--mem ${opts.mem}: expected a size in bytes, such as 8GiB, 512MiB or 2000000000`;
  if (opts.share !== undefined && parseShare(opts.share) === null) return `--share ${opts.share}: expected ${SHARE_RANGE}, such as 0.25`;
  if (opts.priority !== undefined && parsePriority(opts.priority) === null) return `--priority ${opts.priority}: expected high, normal or low, optionally with a level 0-9 (high:5)`;
  if (opts.gpus !== undefined && parseGpus(opts.gpus) === null) return `--gpus ${opts.gpus}: expected a number of cards from 1 to ${MAX_GPUS}, or all`;
  if (opts.policy !== undefined && parsePolicy(opts.policy) === null) return `--policy ${opts.policy}: expected ${POLICIES.join(' or ')}`;
  if (opts.wait !== undefined && parseWait(opts.wait) === null) return `--wait ${opts.wait}: expected a whole number of seconds from 0 to ${MAX_WAIT_S}`;
  return null;
}

/**
 * `--gpus N`: splits N cards between the daemons from their status before the job starts, and names
 * each daemon's count in its GPUPOOL_SERVERS entry. Returns the environment, or a refusal.
 */
async function placeJob(opts: RunOptions, env: NodeJS.ProcessEnv, err: NodeJS.WritableStream): Promise<{ ok: true; env: NodeJS.ProcessEnv } | { ok: false; exit: number }> {
  const jobEnv = jobEnvironment(opts, env);
  const gpus = opts.gpus === undefined ? null : parseGpus(opts.gpus);
  if (typeof gpus !== 'number') return { ok: true, env: jobEnv };
  let request: JobRequest;
  let tls: TlsClientOptions;
  try {
    request = parseRequestText(jobEnv.GPUPOOL_REQUEST);
    // wss:// daemons' status is read over https:// with the job's own TLS settings.
    tls = readTlsClientFiles({ ca: jobEnv.GPUPOOL_TLS_CA || undefined, cert: jobEnv.GPUPOOL_TLS_CERT || undefined, key: jobEnv.GPUPOOL_TLS_KEY || undefined });
  } catch (e) {
    err.write(`gpupool run: ${messageOf(e)}\n`);
    return { ok: false, exit: ExitCodes.CONFIG };
  }
  const servers = jobEnv.GPUPOOL_SERVERS!.split(/[,\s]+/).filter((s) => s !== '');
  const placed = await planJob(servers, request, gpus, (url, timeoutMs) => fetchStatus(url, timeoutMs, tls));
  if (!placed.ok) {
    err.write(`gpupool run: no room for ${gpus} card(s): ${placed.reason}\n`);
    return { ok: false, exit: ExitCodes.NO_ROOM };
  }
  const { plan } = placed;
  if (opts.debug) {
    const each = plan.counts.map((c) => `${c.server} ${c.gpus}`).join(', ');
    err.write(`gpupool run: ${gpus} card(s) by ${plan.policy}: ${each}${plan.onIdlePool ? ' (no room now: the daemons hold the job up to its wait)' : ''}\n`);
  }
  // Each server's own gpus= says it; a gpus= for all of them would only confuse a reader.
  const rest = withKeys(jobEnv.GPUPOOL_REQUEST, { gpus: null });
  const out: NodeJS.ProcessEnv = { ...jobEnv, GPUPOOL_SERVERS: plan.servers.join(',') };
  if (rest === '') delete out.GPUPOOL_REQUEST;
  else out.GPUPOOL_REQUEST = rest;
  return { ok: true, env: out };
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
    .option('-s, --servers <list>', `comma-separated daemon addresses, ws://, wss:// or unix:///PATH (env GPUPOOL_SERVERS; default: this host's local socket when there is one, else ${DEFAULT_SERVERS})`)
    .option('--token <token>', 'bearer token for the daemons (env GPUPOOL_TOKEN)')
    .option('--tls-ca <file>', "PEM CA that signed the daemons' certificates, for wss:// (env GPUPOOL_TLS_CA; default: the system's CA store)")
    .option('--tls-cert <file>', 'PEM client certificate for daemons that require one (env GPUPOOL_TLS_CERT)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert (env GPUPOOL_TLS_KEY)')
    .option('--debug', "log the client library's connections and calls to stderr")
    .option('--trace <file>', 'append a line per CUDA driver call the job makes to FILE: arguments, local or forwarded, result, time (env GPUPOOL_TRACE)')
    .option('--mem <size>', 'device memory the job asks for on each card, e.g. 8GiB (sets mem= in env GPUPOOL_REQUEST; default: the daemon\'s default quota)')
    .option('--share <fraction>', "the job's share of each card's compute under contention, from 0.01 to 1 (share= in GPUPOOL_REQUEST)")
    .option('--share-limit', 'make the share also a cap: the job never gets more, even of an idle card (limit=yes)')
    .option('--priority <class>', 'high (online inference), normal or low (training, batch), optionally with a level: high:5 (priority=)')
    .option('--gpus <n|all>', 'cards for the job: N split across the servers by --policy from their status, or all of every server\'s (default: 1 from each server)')
    .option('--policy <policy>', "how cards are chosen: binpack (the busiest cards and hosts that still fit) or spread (the least busy) (default: each daemon's sharing.placement; across servers spread)")
    .option('--wait <seconds>', 'how long a daemon may hold the job until cards have room (default 0: refuse at once)')
    .argument('<command...>', 'the program and its arguments')
    .passThroughOptions()
    .action((command: string[], opts: RunOptions) => done(run(command, opts, err, setExit)));
}

async function run(command: string[], opts: RunOptions, err: NodeJS.WritableStream, setExit: (code: number) => void): Promise<void> {
  if (!existsSync(join(clientLibraryDir, 'libcuda.so.1'))) {
    err.write(`gpupool run: the client library is not built (${clientLibraryDir}); run npm run build\n`);
    setExit(ExitCodes.FAILURE);
    return;
  }
  const bad = badFlag(opts);
  if (bad !== null) {
    err.write(`gpupool run: ${bad}\n`);
    setExit(ExitCodes.CONFIG);
    return;
  }
  const placed = await placeJob(opts, process.env, err);
  if (!placed.ok) {
    setExit(placed.exit);
    return;
  }
  const [program, ...args] = command;
  return new Promise((resolve) => {
    const child = spawn(program!, args, { stdio: 'inherit', env: placed.env });
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
