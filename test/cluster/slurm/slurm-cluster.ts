import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../../helpers/integration.js';

/**
 * A real one-node Slurm on this machine (Debian's munge, slurmctld and slurmd, run as root, as CI
 * does), in a folder of its own with free ports: for the TaskProlog and GRES tests.
 */

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface SlurmOptions {
  /** The gpupool GRES count the node offers. */
  sessions: number;
  /** The TaskProlog's command line (an executable file is written for it). */
  taskProlog: string;
}

export class SlurmCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'gpupool-slurm-'));
  readonly env: NodeJS.ProcessEnv;
  private readonly pidFiles: string[] = [];

  constructor(private readonly options: SlurmOptions) {
    this.env = { ...process.env, SLURM_CONF: join(this.dir, 'slurm.conf') };
  }

  async start(): Promise<void> {
    const d = this.dir;
    for (const sub of ['state', 'spool', 'log']) mkdirSync(join(d, sub));
    writeFileSync(join(d, 'munge.key'), execFileSync('head', ['-c', '1024', '/dev/urandom']), { mode: 0o400 });
    execFileSync('munged', ['--force', '-S', join(d, 'munge.sock'), `--key-file=${join(d, 'munge.key')}`, `--pid-file=${join(d, 'munged.pid')}`, `--log-file=${join(d, 'log', 'munged.log')}`, `--seed-file=${join(d, 'munged.seed')}`]);
    this.pidFiles.push(join(d, 'munged.pid'));
    const node = hostname();
    writeFileSync(join(d, 'task-prolog'), `#!/bin/sh\nexec ${this.options.taskProlog}\n`);
    chmodSync(join(d, 'task-prolog'), 0o755);
    const conf = [
      'ClusterName=gpupooltest',
      `SlurmctldHost=${node}(127.0.0.1)`,
      `SlurmctldPort=${await freePort()}`,
      `SlurmdPort=${await freePort()}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${join(d, 'munge.sock')}`,
      `StateSaveLocation=${join(d, 'state')}`,
      `SlurmdSpoolDir=${join(d, 'spool')}`,
      `SlurmctldPidFile=${join(d, 'slurmctld.pid')}`,
      `SlurmdPidFile=${join(d, 'slurmd.pid')}`,
      `SlurmctldLogFile=${join(d, 'log', 'slurmctld.log')}`,
      `SlurmdLogFile=${join(d, 'log', 'slurmd.log')}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'MpiDefault=none',
      'ReturnToService=2',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'JobCompType=jobcomp/filetxt',
      `JobCompLoc=${join(d, 'jobcomp.txt')}`,
      'GresTypes=gpupool',
      `TaskProlog=${join(d, 'task-prolog')}`,
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=2 Gres=gpupool:${this.options.sessions} State=UNKNOWN`,
      'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES',
    ];
    writeFileSync(join(d, 'slurm.conf'), `${conf.join('\n')}\n`);
    // No File=: gpupool's GRES are sessions, not device files.
    writeFileSync(join(d, 'gres.conf'), `NodeName=${node} Name=gpupool Count=${this.options.sessions}\n`);
    execFileSync('slurmctld', ['-i'], { env: this.env });
    this.pidFiles.push(join(d, 'slurmctld.pid'));
    execFileSync('slurmd', [], { env: this.env });
    this.pidFiles.push(join(d, 'slurmd.pid'));
    await eventually('the node idle in sinfo', () => (/idle/.test(execFileSync('sinfo', ['-h', '-o', '%T'], { env: this.env, encoding: 'utf8' })) ? true : undefined), 30_000, 250);
  }

  /** `srun ARGS` with its stdin open, its output collected. */
  srun(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: () => string; closed: Promise<number | null> } {
    const child = spawn('srun', args, { env: { ...this.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    return { child, output: () => out, closed: new Promise((resolve) => child.on('close', resolve)) };
  }

  /** The job ids whose processes include `pid` (scontrol listpids). */
  jobOf(pid: number): string | null {
    const text = execFileSync('scontrol', ['listpids'], { env: this.env, encoding: 'utf8' });
    const row = text.split('\n').find((l) => l.trim().split(/\s+/)[0] === String(pid));
    return row ? row.trim().split(/\s+/)[1]! : null;
  }

  log(name: string): string {
    const path = join(this.dir, 'log', name);
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  }

  /** Stops what it started, by pid, slurmd first. */
  async stop(): Promise<void> {
    for (const file of [...this.pidFiles].reverse()) {
      if (!existsSync(file)) continue;
      const pid = Number(readFileSync(file, 'utf8').trim());
      try {
        process.kill(pid, 'SIGTERM');
        await eventually(`process ${pid} gone`, () => {
          try {
            process.kill(pid, 0);
            return undefined;
          } catch {
            return true;
          }
        }, 10_000, 50);
      } catch {
        // Already gone.
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
