/**
 * A daemon killed and started again on the same address: nothing of the old sessions survives, and
 * both sides say so. The client library names the daemon and the session it lost, with what it held
 * there, and every later call on that daemon's devices fails, even once a daemon answers there again;
 * the new daemon logs that it started fresh and serves new clients.
 */
import t from 'tap';
import { DaemonProcess, onTestTransport } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, computeStatus, writeConfig } from '../helpers/integration.js';
import { runJob, startJob } from '../helpers/job-process.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';

const fatbin = buildFatbin();
const driverApi = buildProgram('driver_api.c');
const lostDaemon = buildProgram('lost_daemon.c');
/** lost_daemon.c's one buffer. */
const HELD_BYTES = 1 << 16;

t.test('SIGKILL and restart: the loss is reported on both sides, and new clients work', async (t) => {
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const args = ['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)];
  const first = await DaemonProcess.start(args);
  t.teardown(() => first.stop('SIGKILL'));
  const address = new URL(first.url).host;
  const server = `ws://${address}`;

  // Where the job reaches the first daemon: its TCP address, or its own Unix socket (GPUPOOL_TEST_TRANSPORT=unix).
  const reached = onTestTransport(server);
  const j = startJob(t, server, [lostDaemon]);
  const [, pid] = (await j.output(/^ready (\d+)$/m)) as unknown as [string, string];
  const connected = await first.waitFor((l) => l.msg === 'client connected' && l.pid === Number(pid));
  const session = connected.session as number;

  await first.stop('SIGKILL');
  const second = await DaemonProcess.start([...args, '--listen', address]);
  t.teardown(() => second.stop());
  t.equal(second.url, first.url, 'the new daemon listens where the old one did');
  t.ok(second.logs.some((l) => l.msg.startsWith('compute starts fresh') && l.sessions === 0), 'the new daemon logs that it starts fresh: no session survives');

  const lost = new RegExp(
    `^gpupool: lost the daemon at ${reached.replace(/[./]/g, '\\$&')} \\(.+\\); session ${session} there is gone with what it held \\(1 context\\(s\\), 1 allocation\\(s\\), ${HELD_BYTES} bytes\\); its devices now fail with CUDA_ERROR_DEVICE_UNAVAILABLE$`,
    'm',
  );
  await j.output(lost, 'stderr');
  t.pass('the client library names the daemon, the lost session and what it held there');

  // The daemon answers at that address again; the old session is not there, and the job is not
  // silently handed a new, empty one.
  j.line();
  t.equal(await j.finished(), 0, `every later call failed as it should\n${j.stdout}${j.stderr}`);
  t.match(j.stdout, /^cuMemAlloc CUDA_ERROR_DEVICE_UNAVAILABLE\ncuCtxSynchronize CUDA_ERROR_DEVICE_UNAVAILABLE\ncuMemcpyHtoD CUDA_ERROR_DEVICE_UNAVAILABLE\nall unavailable$/m);
  t.equal(j.stderr.match(/lost the daemon/g)?.length, 1, 'said once');
  t.same((await computeStatus(second)).sessions, [], 'the new daemon never had the old session');

  const run = await runJob(server, [driverApi, fatbin]);
  t.equal(run.code, 0, `a new client runs on the new daemon\n${run.stdout}${run.stderr}`);
  t.match(run.stdout, /^PASS$/m);
  t.notMatch(run.stderr, /lost the daemon/);
});
