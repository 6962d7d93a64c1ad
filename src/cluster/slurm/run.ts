import { execFileSync } from 'node:child_process';
import { clientLibraryDir } from '../../paths.js';
import { ErrorCodes, GpupoolError, messageOf } from '../../errors.js';
import { readToken } from '../container-edits.js';
import { gpupoolGres } from './gres.js';
import { taskPrologLines } from './task-prolog.js';

export interface TaskPrologFlags {
  daemon: string;
  sessions: string;
  memPerSession?: string;
  tokenFile?: string;
  scontrol: string;
}

/** `gpupool slurm task-prolog`: reads the job's GRES with scontrol and prints the task's exports. */
export function runTaskProlog(flags: TaskPrologFlags, out: NodeJS.WritableStream): void {
  const job = process.env.SLURM_JOB_ID;
  if (!job) throw new GpupoolError(ErrorCodes.CLUSTER_SETUP, 'SLURM_JOB_ID is not set: run this as slurm.conf\'s TaskProlog');
  const sessions = Number(flags.sessions);
  if (!Number.isInteger(sessions) || sessions < 1) throw new GpupoolError(ErrorCodes.USAGE, `--sessions ${flags.sessions} is not a whole number of at least 1`);
  let line: string;
  try {
    line = execFileSync(flags.scontrol, ['show', 'job', '-o', job], { encoding: 'utf8' });
  } catch (err) {
    throw new GpupoolError(ErrorCodes.CLUSTER_SETUP, `${flags.scontrol} show job ${job}: ${messageOf(err)}`, { cause: err });
  }
  const lines = taskPrologLines({
    count: gpupoolGres(line),
    daemon: flags.daemon,
    sessions,
    ...(flags.memPerSession ? { memPerSession: flags.memPerSession } : {}),
    ...(flags.tokenFile ? { token: readToken(flags.tokenFile) } : {}),
    clientLibraryDir,
    env: process.env,
  });
  out.write(lines.map((l) => `${l}\n`).join(''));
}
