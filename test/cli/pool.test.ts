// The pool view end to end: `GET /v1/pool` and `gpupool status --pool` on real daemons with real jobs.
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import t from 'tap';
import type { PoolDocument } from '../../src/server/pool.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { HeldJob } from '../helpers/job.js';
import { buildProgram } from '../helpers/programs.js';

const GiB = 1024 ** 3;
const quota = buildProgram('quota.c');

/** A loopback port nothing listens on any more. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

t.test('GET /v1/pool and gpupool status --pool: every host, its cards and its clients; an unreachable peer is an entry', async (t) => {
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const b = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG, 'b.json'), '--hostname', 'pool-b']);
  t.teardown(() => b.stop());
  const [portA, dead] = [await freePort(), await freePort()];
  const aUrl = `http://127.0.0.1:${portA}`;
  const deadUrl = `http://127.0.0.1:${dead}`;
  // One list for the whole pool, this host included, as an operator would write it.
  const config = writeConfig(fixture.dir, { ...QUICK_CONFIG, pool: { peers: [aUrl, b.url, deadUrl], timeoutMs: 1000 } }, 'a.json');
  const a = await DaemonProcess.start(['--simulate', fixture.path, '--config', config, '--hostname', 'pool-a', '--listen', `127.0.0.1:${portA}`]);
  t.teardown(() => a.stop());

  const onA = new HeldJob(['run', '--servers', a.url.replace(/^http/, 'ws'), '--mem', '1GiB', '--', quota, 'wait'], { GPUPOOL_REQUEST: 'share=0.5,priority=high' });
  const onB = new HeldJob(['run', '--servers', b.url.replace(/^http/, 'ws'), '--mem', '2GiB', '--gpus', 'all', '--', quota, 'wait']);
  t.teardown(() => [onA, onB].forEach((j) => j.kill()));
  await Promise.all([onA.ready(), onB.ready()]);

  const doc = (await (await fetch(`${a.url}/v1/pool`)).json()) as PoolDocument;
  t.equal(doc.apiVersion, 'gpupool.pool/v1');
  t.equal(doc.hosts.length, 3, 'A, B and the dead peer; A listed as its own peer is not repeated');
  t.same(doc.summary, { hosts: 3, reachable: 2, cards: 4, sessions: 2 });
  const [hostA, hostB, gone] = doc.hosts;
  t.match(hostA, { self: true, ok: true, status: { host: { hostname: 'pool-a' } } });
  t.match(gone, { url: deadUrl, self: false, ok: false, error: { code: 'GPUPOOL_HOST_UNREACHABLE', message: /cannot reach the daemon/ } });
  if (!hostA?.ok || !hostB?.ok) throw new Error('A and B answer');
  t.match(hostA.status.compute.sessions, [
    { tenant: null, program: quota, pid: Number, state: 'active', request: { mem: GiB, share: 0.5, priority: 'high', gpus: null }, cards: [{ quota: GiB, used: 0 }] },
  ]);
  const cardA = hostA.status.compute.sessions[0]!.cards[0]!.ordinal;
  t.match(hostA.status.compute.cards[cardA], { committed: GiB, shares: 0.5, sessions: 1, health: 'healthy', utilization: Number });
  t.match(hostB, { self: false, ok: true, url: b.url, status: { host: { hostname: 'pool-b' } } });
  t.match(hostB.status.compute.sessions, [{ request: { mem: 2 * GiB, share: null, gpus: 'all' }, cards: [{ ordinal: 0, quota: 2 * GiB }, { ordinal: 1, quota: 2 * GiB }] }]);
  t.match(hostB.status.compute.cards, [{ committed: 2 * GiB, shares: 0.25, sessions: 1 }, { committed: 2 * GiB, shares: 0.25, sessions: 1 }], 'no share asked: the default share');

  const json = await runCli(['status', '--pool', '--json', '--host', a.url]);
  t.equal(json.code, 3, 'a peer could not be read');
  const printed = JSON.parse(json.stdout) as PoolDocument;
  t.same(printed.hosts.map((h) => [h.url, h.ok]), [[`http://127.0.0.1:${portA}`, true], [b.url, true], [deadUrl, false]], '--json prints the /v1/pool document');

  const table = await runCli(['status', '--pool', '--host', a.url]);
  t.equal(table.code, 3);
  t.match(table.stdout, /^pool: 2 of 3 host\(s\) answered, 4 card\(s\), 2 client session\(s\)$/m);
  t.match(table.stdout, new RegExp(`^pool-a \\(http://127\\.0\\.0\\.1:${portA}\\) \\[asked\\] gpupoold \\S+, simulated cards, placement spread, 1 client session\\(s\\)$`, 'm'));
  t.match(table.stdout, /^pool-b \(http:\/\/127\.0\.0\.1:\d+\) gpupoold/m);
  t.match(table.stdout, new RegExp(`^${deadUrl.replace(/\./g, '\\.')}: UNREACHABLE: `, 'm'));
  t.match(table.stdout, /^CARD +SESSION +TENANT +PROGRAM +MEMORY +SHARE +ACHIEVED +PRIORITY$/m);
  t.match(table.stdout, /^\d +\d+ +- +quota +0 B \/ 1\.0 GiB +0\.5 +(\d+%|-) +high$/m, 'a client row: card, session, tenant, program, memory, share, achieved, priority');
  // Spread put A's job on its idle A100 (the H100 is 42% busy).
  t.match(table.stdout, /^ +1 +NVIDIA A100-SXM4-40GB +healthy +1\.0 GiB \/ 40\.0 GiB +0\.5 +0% +1$/m, 'a card row: committed quota, shares, utilization, sessions');
  t.match(table.stdout, /^ +0 +NVIDIA H100 80GB HBM3 +healthy +0 B \/ 80\.0 GiB +0 +42% +0$/m);
  const wide = await runCli(['status', '--pool', '--host', a.url, '-o', 'wide']);
  t.match(wide.stdout, /^CARD +SESSION +TENANT +PROGRAM +PID +HOST +MEMORY +SHARE +ACHIEVED +PRIORITY +DEVICE TIME +WAITED +STATE +SINCE$/m, '-o wide: every client column');
  t.match(wide.stdout, /^\d +\d+ +- +quota +\d+ +\S+ +0 B \/ 1\.0 GiB +0\.5 +(\d+%|-) +high +(\d+ ms|[\d.]+ s) +(\d+ ms|[\d.]+ s) +active +\S+$/m, 'pid, host, device time and waits in units, state, since');

  const two = await runCli(['status', '--pool', '--host', a.url, '--host', b.url]);
  t.equal(two.code, 2);
  t.match(two.stderr, /--pool asks one daemon for the whole pool/);

  t.equal(await onA.finish(), 0);
  t.equal(await onB.finish(), 0);
});

t.test('pool.peers is validated', async (t) => {
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const run = await runCli(['daemon', '--simulate', fixture.path, '--config', writeConfig(fixture.dir, { pool: { peers: ['gpu-b:7760'] } })]);
  t.equal(run.code, 2);
  t.match(run.stdout + run.stderr, /pool\.peers\.0 must match pattern/);
});
