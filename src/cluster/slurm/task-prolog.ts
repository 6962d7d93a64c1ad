import { parseBytes } from '../../auth/tokens.js';
import { ErrorCodes, GpupoolError } from '../../errors.js';
import { parseRequestText, withKeys } from '../../sharing/request-text.js';
import { parseWorkloadName } from '../../sharing/workload.js';
import { computeAddress } from '../daemons.js';

/**
 * What a Slurm TaskProlog prints (`export NAME=value` lines, which slurmd puts in the task's
 * environment) for a job that asked for `--gres=gpupool:N`: the node's daemon, the client library
 * first on LD_LIBRARY_PATH, and GPUPOOL_REQUEST with the job's share of a card (N of the host's
 * `sessions`) and its memory (N x `memPerSession`), unless the job's own GPUPOOL_REQUEST says otherwise.
 */

export interface TaskPrologInput {
  /** The job's gpupool GRES count; null: it asked for none, and the prolog prints nothing. */
  count: number | null;
  /** The node's daemon, `http://HOST:PORT`. */
  daemon: string;
  /** How many gpupool GRES the node offers (gres.conf's Count): a GRES is that fraction of a card. */
  sessions: number;
  /** Memory per GRES (`2GiB`); undefined: the daemon's default quota. */
  memPerSession?: string;
  token?: string;
  clientLibraryDir: string;
  /** The task's environment (slurmd runs the TaskProlog with it). */
  env: NodeJS.ProcessEnv;
}

/** A value as one shell word in single quotes, for slurmd's `export` parsing. */
function word(value: string): string {
  return /^[A-Za-z0-9_./:?&=,+-]*$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export function taskPrologLines(input: TaskPrologInput): string[] {
  if (input.count === null || input.count === 0) return [];
  const own = input.env.GPUPOOL_REQUEST;
  // The job's own request is checked by the same rules as the client library's, so a bad one fails here, named.
  const asked = parseRequestText(own);
  const share = Math.min(1, input.count / input.sessions);
  const keys: Record<string, string> = {};
  if (asked.share === null) keys.share = String(Number(share.toFixed(3)));
  if (asked.mem === null && input.memPerSession !== undefined) {
    const bytes = parseBytes(input.memPerSession);
    if (bytes === null) throw new GpupoolError(ErrorCodes.USAGE, `--mem-per-session ${input.memPerSession} is not a size (8GiB, 512MiB, bytes)`);
    keys.mem = String(bytes * input.count);
  }
  // Who the job is, for status and metrics: Slurm's job id and user.
  for (const [key, value] of [['job', input.env.SLURM_JOB_ID], ['user', input.env.SLURM_JOB_USER]] as const) {
    const name = value === undefined ? null : parseWorkloadName(value);
    if (name !== null && (asked.workload?.[key] ?? null) === null) keys[key] = name;
  }
  const lines = [
    `export GPUPOOL_SERVERS=${word(computeAddress(input.daemon))}`,
    `export LD_LIBRARY_PATH=${word([input.clientLibraryDir, input.env.LD_LIBRARY_PATH].filter(Boolean).join(':'))}`,
    `export GPUPOOL_REQUEST=${word(withKeys(own, keys))}`,
  ];
  if (input.token) lines.push(`export GPUPOOL_TOKEN=${word(input.token)}`);
  return lines;
}
