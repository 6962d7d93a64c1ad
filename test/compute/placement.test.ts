/**
 * Placement on one host end to end (docs/operations.md, "Placement"): which cards `gpupool run` jobs
 * get from `gpupool daemon --simulate` on three cards, by policy and load; unhealthy cards; and jobs
 * that wait for room (`--wait`). The job is test/programs/quota.c, which prints each device's PCI
 * address, so the client's own view says which cards it was given.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import { DaemonProcess, onTestTransport, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost, type Fixture, type FixtureCard } from '../helpers/fixture.js';
import { QUICK_CONFIG, computeStatus, eventually, writeConfig } from '../helpers/integration.js';
import { HeldJob } from '../helpers/job.js';
import { buildProgram } from '../helpers/programs.js';

const GiB = 1024 ** 3;
const quota = buildProgram('quota.c');

/**
 * Three cards: 0 (80 GiB, 50% busy), 1 (80 GiB, idle), 2 (40 GiB, 10% busy). With the default quota
 * (25% of a card) and share, their loads with a new session are 1.0, 0.5 and 0.6.
 */
function threeCards(): Fixture {
  const host = mixedHost();
  const [h100, a100] = host.nvidia!.cards as [FixtureCard, FixtureCard];
  host.nvidia!.cards = [
    { ...h100, uuid: 'GPU-00000000-0000-4000-8000-000000000021', pciBusId: '00000000:21:00.0', utilization: 50 },
    { ...h100, uuid: 'GPU-00000000-0000-4000-8000-000000000022', pciBusId: '00000000:22:00.0', utilization: 0 },
    { ...a100, uuid: 'GPU-00000000-0000-4000-8000-000000000023', pciBusId: '00000000:23:00.0', utilization: 10 },
  ];
  return host;
}

async function startDaemon(t: Test, fixtureData: Fixture, config: object = QUICK_CONFIG): Promise<{ daemon: DaemonProcess; server: string; fixture: FixtureFile }> {
  const fixture = new FixtureFile(fixtureData);
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, config)]);
  t.teardown(() => daemon.stop());
  return { daemon, server: daemon.url.replace(/^http/, 'ws'), fixture };
}

/** The PCI addresses of the devices a job saw, in its device order. */
function busesOf(stdout: string): string[] {
  return [...stdout.matchAll(/^device \d+ (\S+)$/gm)].map((m) => m[1]!);
}

/** Runs quota.c through `gpupool run` (it exits at once: `wait` reads EOF) and waits until its session is freed. */
async function cardsFor(t: Test, daemon: DaemonProcess, server: string, options: string[]): Promise<string[]> {
  const before = (await computeStatus(daemon)).sessions.length;
  const run = await runCli(['run', '--servers', server, ...options, '--', quota, 'wait']);
  t.equal(run.code, 0, `${options.join(' ')}: ${run.stdout}${run.stderr}`);
  await eventually('the session freed', async () => ((await computeStatus(daemon)).sessions.length === before ? true : undefined));
  return busesOf(run.stdout);
}

t.test('binpack and spread pick the expected cards of a three-card host', async (t) => {
  const { daemon, server } = await startDaemon(t, threeCards());
  t.same(await cardsFor(t, daemon, server, []), ['0000:22:00.0'], 'default: one card, spread: the idle one');
  t.same(await cardsFor(t, daemon, server, ['--policy', 'binpack']), ['0000:21:00.0'], 'binpack: the busiest card that fits');
  t.same(await cardsFor(t, daemon, server, ['--gpus', '2']), ['0000:22:00.0', '0000:23:00.0'], 'spread, two cards');
  t.same(await cardsFor(t, daemon, server, ['--gpus', '2', '--policy', 'binpack']), ['0000:21:00.0', '0000:23:00.0'], 'binpack, two cards');
  t.same(await cardsFor(t, daemon, server, ['--gpus', 'all']), ['0000:21:00.0', '0000:22:00.0', '0000:23:00.0'], 'all, in the daemon\'s order');

  // Committed memory moves the choice: a job holding half of card 1 makes card 2 the least loaded.
  const holder = new HeldJob(['run', '--servers', server, '--mem', '40GiB', '--', quota, 'wait']);
  t.teardown(() => holder.kill());
  await holder.ready();
  t.same(busesOf(holder.stdout), ['0000:22:00.0']);
  const status = await computeStatus(daemon);
  t.match(status.cards, [
    { ordinal: 0, committed: 0, sessions: 0, utilization: 50, health: 'healthy', uuid: 'GPU-00000000-0000-4000-8000-000000000021' },
    { ordinal: 1, committed: 40 * GiB, shares: 0.25, sessions: 1, utilization: 0 },
    { ordinal: 2, committed: 0, sessions: 0, utilization: 10 },
  ], 'status shows each card\'s commitments and measured utilization');
  t.match(status.sessions, [{ state: 'active', cards: [{ ordinal: 1, quota: 40 * GiB }] }], 'the session lists only its card');
  t.same(await cardsFor(t, daemon, server, []), ['0000:23:00.0'], 'spread now avoids the card holding 40 GiB');
  t.equal(await holder.finish(), 0);

  // More cards than the host has: the daemon refuses; `gpupool run --gpus` sees it before the job starts.
  const over = await runCli(['run', '--servers', server, '--', quota], { GPUPOOL_REQUEST: 'gpus=4' });
  t.equal(over.code, 3, 'the job\'s cuInit failed');
  t.match(over.stderr, /refused the connection: 4004 gpus=4: this host has 3 card\(s\)/);
  const early = await runCli(['run', '--servers', server, '--gpus', '4', '--', quota]);
  t.equal(early.code, 75, 'refused before the job started');
  t.match(early.stderr, new RegExp(`^gpupool run: no room for 4 card\\(s\\): the pool has room for 3 of the 4 card\\(s\\) asked for \\(${onTestTransport(server).replace(/[.?]/g, '\\$&')} 3\\)$`, 'm'));
  t.notMatch(early.stdout, /totalMem/, 'the job never ran');
});

t.test('sharing.placement sets the policy of requests that name none', async (t) => {
  const { daemon, server } = await startDaemon(t, threeCards(), { ...QUICK_CONFIG, sharing: { placement: 'binpack' } });
  t.same(await cardsFor(t, daemon, server, []), ['0000:21:00.0']);
  t.same(await cardsFor(t, daemon, server, ['--policy', 'spread']), ['0000:22:00.0'], 'the request wins');
  t.equal((await computeStatus(daemon)).sharing?.placement, 'binpack', 'status shows the setting');
});

t.test("a tenant's cards= limits placement to those cards (by ordinal or UUID)", async (t) => {
  const fixture = new FixtureFile(threeCards());
  t.teardown(() => fixture.remove());
  const [zero, two] = [newToken(), newToken()];
  const tokens = join(fixture.dir, 'tokens');
  writeFileSync(tokens, `${tokenLine('zero', zero, { cards: '0' })}\n${tokenLine('two', two, { cards: 'GPU-00000000-0000-4000-8000-000000000023' })}\n`, { mode: 0o600 });
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG), '--tokens', tokens]);
  t.teardown(() => daemon.stop());
  const server = daemon.url.replace(/^http/, 'ws');
  t.same(await cardsFor(t, daemon, server, ['--token', zero]), ['0000:21:00.0'], 'card 0, though spread would pick card 1');
  t.same(await cardsFor(t, daemon, server, ['--token', two, '--gpus', 'all']), ['0000:23:00.0'], 'all: every card the tenant may use');
  const more = await runCli(['run', '--servers', server, '--token', zero, '--', quota], { GPUPOOL_REQUEST: 'gpus=2' });
  t.equal(more.code, 3);
  t.match(more.stderr, /4004 gpus=2: the tenant may use 1 card\(s\) here/);
});

t.test('an unhealthy card is never chosen', async (t) => {
  const fixture = threeCards();
  const { daemon, server, fixture: file } = await startDaemon(t, fixture);
  fixture.nvidia!.cards[1]!.xid = [{ id: 1, xid: 79 }];
  file.write(fixture);
  await eventually('card 1 unhealthy', async () => ((await computeStatus(daemon)).cards[1]?.health === 'unhealthy' ? true : undefined));
  t.same(await cardsFor(t, daemon, server, []), ['0000:23:00.0'], 'spread skips the idle but unhealthy card');
  const all = await runCli(['run', '--servers', server, '--gpus', 'all', '--', quota]);
  t.equal(all.code, 3);
  t.match(all.stderr, /4004 only 2 of the 3 cards asked for have room for the session's quota: card 1 is unhealthy \(Xid 79\)/);
});

t.test('--wait: held until a session ends and frees room, or refused once the wait is over', async (t) => {
  const { daemon, server } = await startDaemon(t, mixedHost());
  // 30 GiB on both cards leaves the 40 GiB card 10 GiB.
  const first = new HeldJob(['run', '--servers', server, '--gpus', 'all', '--mem', '30GiB', '--', quota, 'wait']);
  t.teardown(() => first.kill());
  await first.ready();

  const second = new HeldJob(['run', '--servers', server, '--gpus', 'all', '--mem', '30GiB', '--wait', '60', '--', quota, 'wait']);
  t.teardown(() => second.kill());
  await eventually('the second job waiting', async () => ((await computeStatus(daemon)).sessions.some((s) => s.state === 'waiting') ? true : undefined));
  t.match((await computeStatus(daemon)).sessions.find((s) => s.state === 'waiting'), { cards: [], request: { wait: 60, gpus: 'all' } });
  t.notMatch(second.stdout, /ready/, 'no device yet');
  await daemon.waitFor((l) => l.msg === 'waiting for cards with room');

  // A third that waits only 1 s gives up, saying how long it waited and what was missing.
  const started = Date.now();
  const third = await runCli(['run', '--servers', server, '--gpus', 'all', '--mem', '30GiB', '--wait', '1', '--', quota]);
  const waited = Date.now() - started;
  t.equal(third.code, 3, `${third.stdout}${third.stderr}`);
  t.match(third.stdout, /^cuInit CUDA_ERROR_NO_DEVICE$/m);
  t.match(third.stderr, /4004 waited 1 s: only 1 of the 2 cards asked for have room for 30\.00 GiB: card 1 has 10\.00 GiB/);
  t.ok(waited >= 1000, `it waited (${waited} ms)`);

  t.equal(await first.finish(), 0);
  await second.ready();
  t.match(second.stdout, new RegExp(`^totalMem ${30 * GiB}$`, 'm'), 'placed once the first job freed its cards');
  t.match((await computeStatus(daemon)).sessions, [{ state: 'active', request: { wait: 60 } }]);
  t.equal(await second.finish(), 0);

  // A wait cannot help a request no card could ever hold: refused at once.
  const never = await runCli(['run', '--servers', server, '--mem', '100GiB', '--wait', '60', '--', quota]);
  t.equal(never.code, 3);
  t.match(never.stderr, /4004 request of 100\.00 GiB is larger than every card here/);
});
