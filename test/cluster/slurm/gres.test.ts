import t from 'tap';
import type { StatusDocument } from '../../../src/server/status.js';
import { CLI, DaemonProcess } from '../../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../../helpers/fixture.js';
import { eventually, QUICK_CONFIG, writeConfig } from '../../helpers/integration.js';
import { buildProgram } from '../../helpers/programs.js';
import { SlurmMembership } from '../../../src/cluster/membership.js';
import { SlurmCluster } from './slurm-cluster.js';

const MiB = 1024 ** 2;
const quota = buildProgram('quota.c');

t.test('Slurm: srun --gres=gpupool:N runs through gpupool with its quota and share; two jobs share one card', async (t) => {
  const host = mixedHost();
  host.nvidia!.cards = [host.nvidia!.cards[0]!];
  const fixture = new FixtureFile(host);
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)]);
  t.teardown(() => daemon.stop());
  const slurm = new SlurmCluster({ sessions: 4, taskProlog: `${process.execPath} ${CLI} slurm task-prolog --daemon ${daemon.url} --sessions 4 --mem-per-session 256MiB` });
  t.teardown(() => slurm.stop());
  await slurm.start();

  const a = slurm.srun(['--gres=gpupool:1', quota, 'wait']);
  const b = slurm.srun(['--gres=gpupool:2', quota, 'wait']);
  t.teardown(() => {
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
  });
  for (const job of [a, b]) {
    await eventually('a job holding its session', () => {
      if (/^ready$/m.test(job.output())) return true;
      if (job.child.exitCode !== null) throw new Error(`srun exited ${job.child.exitCode}: ${job.output()}\n${slurm.log('slurmd.log').slice(-2000)}`);
      return undefined;
    }, 60_000);
  }
  t.match(a.output(), new RegExp(`^meminfo free \\d+ total ${256 * MiB}$`, 'm'), 'gpupool:1 of 4: 256 MiB, as cuMemGetInfo says in the job');
  t.match(b.output(), new RegExp(`^meminfo free \\d+ total ${512 * MiB}$`, 'm'), 'gpupool:2 of 4: 512 MiB');

  const status = (await (await fetch(`${daemon.url}/v1/status`)).json()) as StatusDocument;
  t.equal(status.compute.sessions.length, 2, 'two sessions');
  const quarter = status.compute.sessions.find((s) => s.scheduling?.share === 0.25);
  const half = status.compute.sessions.find((s) => s.scheduling?.share === 0.5);
  t.match(quarter, { cards: [{ ordinal: 0, quota: 256 * MiB }] }, 'one job: a quarter of card 0 and 256 MiB');
  t.match(half, { cards: [{ ordinal: 0, quota: 512 * MiB }] }, 'the other: half of card 0 and 512 MiB, beside it');
  const jobs = [slurm.jobOf(quarter!.pid), slurm.jobOf(half!.pid)];
  t.ok(jobs[0] !== null && jobs[1] !== null && jobs[0] !== jobs[1], `each session's process is in its own Slurm job (scontrol listpids): ${jobs.join(', ')}`);
  t.same([quarter!.request.workload, half!.request.workload], jobs.map((job) => ({ job, user: 'root' })), 'status names each session\'s job and user, as Slurm does');
  t.equal(status.compute.cards[0]!.shares, 0.75, 'card 0 has both shares committed');

  a.child.stdin!.end('go\n');
  b.child.stdin!.end('go\n');
  t.equal(await a.closed, 0, 'job a exits 0');
  t.equal(await b.closed, 0, 'job b exits 0');

  const port = Number(new URL(daemon.url).port);
  t.same(await new SlurmMembership(port, 'sinfo', slurm.env).peers(), [{ url: `http://127.0.0.1:${port}` }], 'pool membership from Slurm: the node with the gpupool GRES, at its NodeAddr');

  const plain = slurm.srun(['sh', '-c', 'echo "servers=$GPUPOOL_SERVERS"']);
  t.equal(await plain.closed, 0);
  t.match(plain.output(), /^servers=$/m, 'a job without the GRES is left alone');
});
