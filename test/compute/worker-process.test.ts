/**
 * Sessions in worker processes (config `compute.sessionProcess: "process"`, docs/architecture.md): two
 * tenants' sessions run in processes of their own, which status names; a worker killed with SIGKILL
 * mid-copy, one that crashes inside a kernel (the emulator's fault_process), and one that stops
 * answering (SIGSTOP: no heartbeat within `compute.workerHangMs`) each end only their own session
 * within a second: the client hears close code 4006 and why, the session's quota is uncommitted and its
 * process (with every byte of memory it held) is gone, while the other tenant's job runs on, right.
 */
import t from 'tap';
import { running } from '../helpers/daemon-process.js';
import { computeStatus, eventually } from '../helpers/integration.js';
import { PROMPT_MS, startJob, type JobProcess } from '../helpers/job-process.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';
import { COPY_BYTES, ENDED_WITHIN_MS, HANG_MS, nothingLeft, roundsOk, startTenantDaemon } from '../helpers/tenant-daemon.js';
import { ProtocolClient, helloMessage, loadOpTable } from '../../src/protocol/client.js';

const ops = loadOpTable();

const fatbin = buildFatbin();
const faultClient = buildProgram('fault_client.c');

const { daemon, server, tokens } = await startTenantDaemon(t, ['neighbour', 'victim'], { sessionProcess: 'process', workerHeartbeatMs: 100, workerHangMs: HANG_MS });
const [neighbourToken, victimToken] = [tokens.neighbour!, tokens.victim!];
const everyCard = { GPUPOOL_REQUEST: 'gpus=all' };

const neighbour = startJob(t, server, [faultClient, fatbin, 'work'], { ...everyCard, GPUPOOL_TOKEN: neighbourToken });
await neighbour.output(/^round 3 ok$/m);
const alone = await computeStatus(daemon);
const committedAlone = alone.cards[0]!.committed;
const neighbourPid = alone.sessions[0]!.workerPid!;

t.test('each session runs in a worker process of its own, which status names', async (t) => {
  t.equal(alone.sessions.length, 1);
  t.ok(Number.isInteger(neighbourPid) && neighbourPid !== daemon.child.pid, `the neighbour's session runs in process ${neighbourPid}, not the daemon's`);
  t.ok(running(neighbourPid), 'which is alive');
  t.ok(committedAlone > 0, 'its quota is committed on card 0');
});

const failures: [string, string[], RegExp, (pid: number, job: JobProcess) => void, RegExp][] = [
  ['SIGKILL mid-copy (64 MiB host-to-device copies back to back)', ['copy', String(COPY_BYTES)], /^copy 2$/m, (pid) => process.kill(pid, 'SIGKILL'), /killed by SIGKILL/],
  ['a crash inside a kernel (the emulator\'s fault_process)', ['crash'], /^ready \d+$/m, (_pid, job) => job.line('go'), /killed by SIGSEGV/],
  [`a hang (SIGSTOP: no heartbeat for ${HANG_MS} ms)`, ['copy', String(COPY_BYTES)], /^copy 2$/m, (pid) => process.kill(pid, 'SIGSTOP'), /hung: no heartbeat/],
];

for (const [what, args, busy, fault, reason] of failures) {
  t.test(what, async (t) => {
    const from = daemon.logs.length;
    const victim = startJob(t, server, [faultClient, fatbin, ...args], { ...everyCard, GPUPOOL_TOKEN: victimToken });
    const [, jobPid] = (await victim.output(/^ready (\d+)$/m)) as unknown as [string, string];
    const connected = await daemon.waitFor((l) => daemon.logs.indexOf(l) >= from && l.msg === 'client connected' && l.pid === Number(jobPid));
    const id = connected.session as number;
    const both = await eventually('both sessions with their workers', async () => {
      const c = await computeStatus(daemon);
      return c.sessions.length === 2 && c.sessions.every((s) => s.workerPid) ? c : undefined;
    }, PROMPT_MS);
    const mine = both.sessions.find((s) => s.id === id)!;
    const workerPid = mine.workerPid!;
    t.not(workerPid, neighbourPid, `the two tenants' sessions run in different processes (${neighbourPid}, ${workerPid})`);
    t.equal(mine.tenant, 'victim');
    t.ok(both.cards[0]!.committed > committedAlone, 'the victim\'s quota is committed on card 0');
    await victim.output(busy);

    const before = roundsOk(neighbour.stdout);
    const faultAt = Date.now();
    fault(workerPid, victim);
    const failed = await daemon.waitFor((l) => daemon.logs.indexOf(l) >= from && l.msg === 'session worker failed; its session is ended and freed' && l.workerPid === workerPid, PROMPT_MS);
    const endedMs = Date.parse(String(failed.time)) - faultAt;
    const limit = ENDED_WITHIN_MS + (reason.source.includes('hung') ? HANG_MS : 0);
    t.ok(endedMs <= limit, `the session was ended ${endedMs} ms after the fault (at most ${limit})`);
    t.match(failed, { code: 'GPUPOOL_SESSION_WORKER_FAILED', reason }, 'the daemon logged why');
    const code = await victim.finished();
    t.ok(code !== 0 || /^sync CUDA_ERROR_DEVICE_UNAVAILABLE$/m.test(victim.stdout), `the job failed (${code}): ${victim.stdout.trim().split('\n').pop()}`);
    t.match(victim.stderr, /the daemon closed the connection: 4006 session worker/, `the job was told why: ${victim.stderr.trim().split('\n').slice(-2).join(' | ')}`);

    const after = await eventually('status without the failed session', async () => {
      const c = await computeStatus(daemon);
      return c.sessions.some((s) => s.id === id) ? undefined : c;
    }, PROMPT_MS);
    t.equal(after.sessions.length, 1, 'only the neighbour\'s session is left');
    t.equal(after.cards[0]!.committed, committedAlone, 'the victim\'s quota is uncommitted');
    await eventually('the worker gone', () => (running(workerPid) ? undefined : true), ENDED_WITHIN_MS);
    t.pass('the worker process is gone, and every byte it held with it');

    await neighbour.output(new RegExp(`^round ${before + 5} ok$`, 'm'));
    t.notMatch(neighbour.stdout, /wrong|CUDA_ERROR/, 'the neighbour\'s rounds all ran, and right');
    t.ok(running(neighbourPid), 'in its own worker, still the same');
  });
}

t.test('a raw client whose worker is killed gets close code 4006 and the reason', async (t) => {
  const { client } = await ProtocolClient.connect(`${server}/v1/compute`, helloMessage({ digest: ops.digest, program: 'raw-victim', token: victimToken }));
  t.teardown(() => client.ws.terminate());
  t.equal((await client.call(ops.code('cuDevicePrimaryCtxRetain_v7000'), 0, true, 0)).rc, 0, 'a call works');
  const mine = await eventually('its worker', async () => (await computeStatus(daemon)).sessions.find((s) => s.program === 'raw-victim')?.workerPid ?? undefined, PROMPT_MS);
  process.kill(mine, 'SIGKILL');
  const closed = await client.closed;
  t.same(closed, { code: 4006, reason: 'session worker killed by SIGKILL' });
});

t.test('metrics count the device time measured in the workers; status the emulated driver\'s holdings there', async (t) => {
  const seconds = await eventually('device time on card 0', async () => {
    const text = await (await fetch(`${daemon.url}/metrics`)).text();
    const v = Number(/^gpupool_card_device_seconds_total\{card="0"[^}]*\} (\S+)$/m.exec(text)?.[1] ?? 0);
    return v > 0 ? v : undefined;
  }, PROMPT_MS);
  t.ok(seconds > 0, `card 0: ${seconds} s of device time`);
  t.match((await computeStatus(daemon)).emulator, { contexts: 1 }, 'the neighbour\'s context, held in its worker');
});

t.test('the neighbour finishes; nothing is left', async (t) => {
  neighbour.line('stop');
  t.equal(await neighbour.finished(), 0, `the neighbour exits 0 ${neighbour.stderr}`);
  await nothingLeft(t, daemon, neighbourPid);
});
