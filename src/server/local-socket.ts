import { mkdirSync, lstatSync, unlinkSync, chmodSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';

/** Where a daemon serves jobs on its own host, and where the client library and `gpupool run` look first. */
export const SYSTEM_LOCAL_SOCKET = '/run/gpupool/gpupool.sock';

/**
 * The places a local daemon's socket is looked for, in order: GPUPOOL_LOCAL_SOCKET alone when set
 * (`none`: nowhere), else the system place, then the user's runtime folder. The client library (native/shim/client.c)
 * keeps the same order.
 */
export function localSocketCandidates(env: NodeJS.ProcessEnv): string[] {
  if (env.GPUPOOL_LOCAL_SOCKET === 'none') return [];
  if (env.GPUPOOL_LOCAL_SOCKET) return [env.GPUPOOL_LOCAL_SOCKET];
  const runtime = env.XDG_RUNTIME_DIR;
  return runtime ? [SYSTEM_LOCAL_SOCKET, join(runtime, 'gpupool', 'gpupool.sock')] : [SYSTEM_LOCAL_SOCKET];
}

/** Whether something listens at this socket path (a connect that is accepted). */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (live: boolean) => {
      socket.destroy();
      resolve(live);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Whether a socket file is at this path (a live daemon's or a stale one). */
export function isSocketFile(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}

/**
 * Makes ready the path the daemon will listen on: its folder created, a stale socket of a daemon
 * that died removed. A path another daemon answers on, or a file that is no socket, is never
 * taken: with an explicit path that is an error (LISTEN_FAILED), with the default place the daemon
 * serves no local socket and says why.
 */
export async function prepareLocalSocket(configured: string | null, env: NodeJS.ProcessEnv, logger: Logger): Promise<string | null> {
  const candidates = configured !== null ? [configured] : localSocketCandidates(env);
  const problems: string[] = [];
  for (const path of candidates) {
    const problem = await claim(path);
    if (problem === null) return path;
    if (configured !== null) {
      throw new GpupoolError(ErrorCodes.LISTEN_FAILED, `cannot listen on the local socket ${path}: ${problem}`, { details: { path } });
    }
    problems.push(`${path}: ${problem}`);
  }
  logger.warn({ tried: problems }, 'no local socket served: jobs on this host connect over TCP (localSocket.path names one)');
  return null;
}

async function claim(path: string): Promise<string | null> {
  try {
    // 0755: the folder is the daemon's; the socket's own mode says who may connect.
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  } catch (err) {
    return `cannot create its folder: ${messageOf(err)}`;
  }
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return null;
  }
  if (!stat.isSocket()) return 'a file that is not a socket is there';
  if (await socketAnswers(path)) return 'another daemon serves it';
  try {
    unlinkSync(path);
  } catch (err) {
    return `cannot remove the stale socket: ${messageOf(err)}`;
  }
  return null;
}

/** Sets the socket file's mode once it is bound (the umask applied at bind may be narrower or wider). */
export function setSocketMode(path: string, mode: string): void {
  chmodSync(path, Number.parseInt(mode, 8));
}
