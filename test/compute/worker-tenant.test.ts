/**
 * Workers by tenant (config `compute.workerScope: "tenant"`, docs/architecture.md, "Workers by
 * tenant"): every session of one tenant runs in one worker process, over TCP and over the Unix socket
 * (its call ring and shared memory) alike, and sessions of different tenants never share one (status
 * names each session's worker). A tenant's worker killed mid-copy, or hung (SIGSTOP: no heartbeat
 * within `compute.workerHangMs`), ends all of that tenant's sessions, and only those, within a
 * second: each client hears close code 4006 and why, their quota is uncommitted and the process is
 * gone, while the other tenant's job runs on, right. The tenant's next session gets a new worker; its
 * last session's end ends the worker. The card scheduler holds across tenants' workers: two sessions
 * of one worker and one of another tenant's split a card's device time by their shares. Sessions on
 * the event loop's path (compute.nativeConnections false, as TLS ones) share their tenant's worker
 * alike, each hearing only its own replies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { ProtocolClient, helloMessage, loadOpTable } from '../../src/protocol/client.js';
import { running } from '../helpers/daemon-process.js';
import { computeStatus, eventually } from '../helpers/integration.js';
import { PROMPT_MS, startJob, type JobProcess } from '../helpers/job-process.js';
import { LoadJob, deviceTimeSplit } from '../helpers/load.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';
import { COPY_BYTES, ENDED_WITHIN_MS, HANG_MS, nothingLeft, roundsOk, startTenantDaemon } from '../helpers/tenant-daemon.js';

const ops = loadOpTable();
const fatbin = buildFatbin();
const faultClient = buildProgram('fault_client.c');

const socketDir = mkdtempSync(join(tmpdir(), 'gpupool-tenant-'));
t.teardown(() => rmSync(socketDir, { recursive: true, force: true }));
const socketPath = join(socketDir, 'gpupool.sock');
const compute = { sessionProcess: 'process', workerScope: 'tenant', workerHeartbeatMs: 100, workerHangMs: HANG_MS };
const { daemon, server: tcp, tokens } = await startTenantDaemon(t, ['alice', 'bob'], compute, ['--local-socket', socketPath]);
const [aliceToken, bobToken] = [tokens.alice!, tokens.bob!];
const local = `unix://${socketPath}`;
const everyCard = { GPUPOOL_REQUEST: 'gpus=all' };
const alice = { ...everyCard, GPUPOOL_TOKEN: aliceToken };
const bob = { ...everyCard, GPUPOOL_TOKEN: bobToken };

/** Starts a job and waits for its session in status; returns the job and the session's id. */
async function connect(t: Test, server: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ job: JobProcess; id: number }> {
  const from = daemon.logs.length;
  const job = startJob(t, server, [faultClient, fatbin, ...args], env);
  const [, jobPid] = (await job.output(/^ready (\d+)$/m)) as unknown as [string, string];
  const connected = await daemon.waitFor((l) => daemon.logs.indexOf(l) >= from && l.msg === 'client connected' && l.pid === Number(jobPid));
  return { job, id: connected.session as number };
}

/** Status once every session listed has its worker. */
async function withWorkers(ids: number[]): Promise<{ sessions: SessionInfo[]; committed: number; contexts: number | undefined }> {
  return eventually(`sessions ${ids.join(', ')} with their workers`, async () => {
    const c = await computeStatus(daemon);
    const sessions = ids.map((id) => c.sessions.find((s) => s.id === id));
    if (sessions.some((s) => !s?.workerPid || !s.stats)) return undefined;
    return { sessions: sessions as SessionInfo[], committed: c.cards[0]!.committed, contexts: (c.emulator as { contexts?: number } | null)?.contexts };
  }, PROMPT_MS);
}

const neighbour = await connect(t, tcp, ['work'], bob);
await neighbour.job.output(/^round 3 ok$/m);
const [bobAlone] = (await withWorkers([neighbour.id])).sessions;
const bobPid = bobAlone!.workerPid!;
const committedAlone = (await computeStatus(daemon)).cards[0]!.committed;

/** One tenant's sessions fail together; the other's go on. */
async function failTogether(t: Test, victims: { job: JobProcess; id: number }[], workerPid: number, fault: () => void, reason: RegExp, limitMs: number): Promise<void> {
  const from = daemon.logs.length;
  const before = roundsOk(neighbour.job.stdout);
  const faultAt = Date.now();
  fault();
  const failed = await eventually('every session of the worker failed', () => {
    const lines = daemon.logs.slice(from).filter((l) => l.msg === 'session worker failed; its session is ended and freed' && l.workerPid === workerPid);
    return lines.length === victims.length ? lines : undefined;
  }, PROMPT_MS);
  const lastMs = Math.max(...failed.map((l) => Date.parse(String(l.time)))) - faultAt;
  t.ok(lastMs <= limitMs, `all ${victims.length} sessions were ended within ${lastMs} ms of the fault (at most ${limitMs})`);
  t.ok(failed.every((l) => reason.test(String(l.reason)) && l.code === 'GPUPOOL_SESSION_WORKER_FAILED'), `each logged why: ${String(failed[0]!.reason)}`);
  for (const v of victims) {
    await v.job.finished();
    t.match(v.job.stderr, /the daemon closed the connection: 4006 session worker/, `session ${v.id}'s job was told why`);
  }
  const after = await eventually('status without the failed sessions', async () => {
    const c = await computeStatus(daemon);
    return c.sessions.some((s) => victims.some((v) => v.id === s.id)) ? undefined : c;
  }, PROMPT_MS);
  t.same(after.sessions.map((s) => s.id), [neighbour.id], 'only the other tenant\'s session is left');
  t.equal(after.cards[0]!.committed, committedAlone, 'the tenant\'s quota is uncommitted');
  await eventually('the worker gone', () => (running(workerPid) ? undefined : true), ENDED_WITHIN_MS);
  t.pass('the tenant\'s worker process is gone, and every byte it held with it');
  await neighbour.job.output(new RegExp(`^round ${before + 5} ok$`, 'm'));
  t.notMatch(neighbour.job.stdout, /wrong|CUDA_ERROR/, 'the other tenant\'s rounds all ran, and right');
  t.equal(after.sessions[0]!.workerPid, bobPid, 'in its own worker, still the same');
}

t.test('one worker per tenant: a tenant\'s sessions over TCP and the Unix socket share it; another tenant\'s is another', async (t) => {
  const a1 = await connect(t, tcp, ['work'], alice);
  const a2 = await connect(t, local, ['work'], alice);
  const copier = await connect(t, tcp, ['copy', String(COPY_BYTES)], alice);
  const status = await withWorkers([a1.id, a2.id, copier.id, neighbour.id]);
  const [s1, s2, s3, sb] = status.sessions as [SessionInfo, SessionInfo, SessionInfo, SessionInfo];
  const alicePid = s1.workerPid!;
  t.ok(s2.workerPid === alicePid && s3.workerPid === alicePid, `alice's three sessions run in one worker (${alicePid})`);
  t.not(alicePid, bobPid, `bob's runs in another (${bobPid})`);
  t.not(alicePid, daemon.child.pid, 'not the daemon');
  t.same([s1.tenant, s2.tenant, s3.tenant, sb.tenant], ['alice', 'alice', 'alice', 'bob']);
  t.same([s1.transport.socket, s2.transport.socket], ['tcp', 'unix'], 'one over TCP, one over the Unix socket');
  t.ok([s1, s2, s3].every((s) => s.transport.reader === 'native'), 'each read by the worker itself');
  const ring = await eventually('the local session\'s calls on its call ring', async () => {
    const s = (await computeStatus(daemon)).sessions.find((x) => x.id === a2.id);
    return s?.transport.calls === 'ring' ? s : undefined;
  }, PROMPT_MS);
  t.equal(ring.transport.calls, 'ring', 'the Unix-socket session\'s calls come through its call ring');
  t.equal(status.contexts, 4, 'status counts the emulated contexts once per worker: alice\'s three and bob\'s one');
  t.ok(status.committed > committedAlone, 'alice\'s quota is committed on card 0');
  await copier.job.output(/^copy 2$/m);
  await a1.job.output(/^round 3 ok$/m);
  await a2.job.output(/^round 3 ok$/m);

  t.test('killed mid-copy (SIGKILL): all of alice\'s sessions end, bob\'s goes on', (t) => failTogether(t, [a1, a2, copier], alicePid, () => process.kill(alicePid, 'SIGKILL'), /killed by SIGKILL/, ENDED_WITHIN_MS));

  t.test('alice\'s next sessions get a new worker, never bob\'s; hung (SIGSTOP), it ends them all', async (t) => {
    const b1 = await connect(t, tcp, ['work'], alice);
    const b2 = await connect(t, local, ['work'], alice);
    const [n1, n2] = (await withWorkers([b1.id, b2.id])).sessions as [SessionInfo, SessionInfo];
    t.equal(n1.workerPid, n2.workerPid, `both in one worker (${n1.workerPid})`);
    t.ok(n1.workerPid !== alicePid && n1.workerPid !== bobPid, 'a new one: not the dead worker, not bob\'s');
    await b2.job.output(/^round 3 ok$/m);
    const pid = n1.workerPid!;
    t.teardown(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    });
    await failTogether(t, [b1, b2], pid, () => process.kill(pid, 'SIGSTOP'), /hung: no heartbeat/, ENDED_WITHIN_MS + HANG_MS);
  });

  t.test('a tenant\'s worker ends after its last session, not before', async (t) => {
    const c1 = await connect(t, tcp, ['work'], alice);
    const c2 = await connect(t, local, ['work'], alice);
    const [m1] = (await withWorkers([c1.id, c2.id])).sessions as [SessionInfo];
    const pid = m1.workerPid!;
    c1.job.line('stop');
    t.equal(await c1.job.finished(), 0, 'the first job exits 0');
    await eventually('its session gone', async () => ((await computeStatus(daemon)).sessions.some((s) => s.id === c1.id) ? undefined : true), PROMPT_MS);
    const rounds = roundsOk(c2.job.stdout);
    await c2.job.output(new RegExp(`^round ${rounds + 3} ok$`, 'm'));
    t.ok(running(pid), 'the worker runs on for the other session, which goes on');
    c2.job.line('stop');
    t.equal(await c2.job.finished(), 0, 'the second job exits 0');
    await eventually('the worker gone after its last session', () => (running(pid) ? undefined : true), PROMPT_MS);
    t.pass('the worker exited with its tenant\'s last session');
    t.notMatch(daemon.logs.filter((l) => l.workerPid === pid).map((l) => l.msg).join('\n'), /failed/, 'and nothing was taken for a failure');
  });
});

t.test('the neighbour finishes; nothing is left', async (t) => {
  neighbour.job.line('stop');
  t.equal(await neighbour.job.finished(), 0, 'bob\'s job exits 0');
  await nothingLeft(t, daemon, bobPid);
});

t.test('the card scheduler across tenants\' workers: two sessions of one worker and one of another split a card by their shares', async (t) => {
  const shares: [string, number][] = [[aliceToken, 0.25], [aliceToken, 0.25], [bobToken, 0.5]];
  const train = { mode: 'train', seconds: 4, kernelUs: 200, batch: 10 } as const;
  const jobs = shares.map(([token, s]) => new LoadJob(tcp, ['--gpus', 'all', '--mem', '1GiB', '--share', String(s), '--priority', 'low', '--token', token], train));
  t.teardown(() => jobs.forEach((j) => j.kill()));
  await Promise.all(jobs.map((j) => j.ready()));
  jobs.forEach((j) => j.go());
  const at = (ms: number) => new Promise<SessionInfo[]>((resolve) => setTimeout(() => resolve(computeStatus(daemon).then((c) => c.sessions as SessionInfo[])), ms));
  const [first, second] = await Promise.all([at(1000), at(3500)]);
  await Promise.all(jobs.map((j) => j.result()));
  const byTenant = (name: string) => new Set(second.filter((s) => s.tenant === name).map((s) => s.workerPid));
  t.equal(second.length, 3, 'three sessions');
  t.equal(byTenant('alice').size, 1, 'alice\'s two in one worker');
  t.notOk([...byTenant('alice')].some((pid) => byTenant('bob').has(pid)), 'bob\'s in another');
  const { got, busy } = deviceTimeSplit(first, second, 2.5e9);
  t.ok(busy > 0.6, `the card stayed busy: ${(busy * 100).toFixed(0)}% of the window`);
  second.forEach((s, i) => {
    const share = s.scheduling!.share;
    t.ok(Math.abs(got[i]! - share) <= 0.03, `${s.tenant}, share ${share}: got ${(got[i]! * 100).toFixed(1)}% of the device time in the window (within 3 points)`);
  });
});

t.test('sessions on the event loop\'s path (as TLS ones are) share their tenant\'s worker too: each hears only its own replies', async (t) => {
  const js = await startTenantDaemon(t, ['alice', 'bob'], { ...compute, nativeConnections: false });
  const open = async (program: string, token: string) => {
    const { client } = await ProtocolClient.connect(`${js.server}/v1/compute`, helloMessage({ digest: ops.digest, program, token }));
    t.teardown(() => client.ws.terminate());
    return client;
  };
  const clients = [await open('js-a1', js.tokens.alice!), await open('js-a2', js.tokens.alice!), await open('js-b', js.tokens.bob!)];
  const alloc = ops.code('cuMemAlloc_v3020');
  for (const [i, c] of clients.entries()) {
    const ctx = await c.call(ops.code('cuDevicePrimaryCtxRetain_v7000'), 0, true, 0);
    t.equal(ctx.rc, 0, `${i}: a context retained`);
    // Calls of the three interleaved: each reply comes back on its own connection, in order.
    const replies = await Promise.all([1, 2, 3].map((k) => c.call(alloc, ctx.outs[0] as number, true, ((i + 1) * k) << 20)));
    t.same(replies.map((r) => r.rc), [0, 0, 0], `${i}: its three allocations answered`);
  }
  const status = await eventually('three sessions with workers and stats', async () => {
    const s = (await computeStatus(js.daemon)).sessions;
    return s.length === 3 && s.every((x) => x.workerPid && x.stats?.allocations === 3) ? s : undefined;
  }, PROMPT_MS);
  const pid = (program: string) => status.find((s) => s.program === program)!.workerPid!;
  t.equal(pid('js-a1'), pid('js-a2'), 'alice\'s two sessions in one worker');
  t.not(pid('js-a1'), pid('js-b'), 'bob\'s in another');
  t.ok(status.every((s) => s.transport.reader === 'js'), 'every frame through the event loop');
  t.same(status.map((s) => s.stats!.allocatedBytes).sort((a, b) => a - b), [6 << 20, 12 << 20, 18 << 20], 'each session holds its own allocations only');
  const alicePid = pid('js-a1');
  for (const c of clients.slice(0, 2)) {
    c.ws.close(1000);
    await c.closed;
  }
  await eventually('alice\'s worker gone after her sessions', () => (running(alicePid) ? undefined : true), PROMPT_MS);
  t.pass('alice\'s worker exited with her last session');
});
