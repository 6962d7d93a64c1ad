/**
 * Memory quotas end to end (docs/operations.md, "Memory quotas"): `gpupool run --mem` and
 * GPUPOOL_REQUEST against `gpupool daemon --simulate`, with real client processes (test/programs/quota.c).
 * The fixture's NVIDIA cards have 80 GiB (device 0) and 40 GiB (device 1).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, computeStatus, eventually, writeConfig } from '../helpers/integration.js';
import { HeldJob } from '../helpers/job.js';
import { buildProgram } from '../helpers/programs.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const quota = buildProgram('quota.c');

async function startDaemon(t: Test, config: object = QUICK_CONFIG): Promise<{ daemon: DaemonProcess; server: string }> {
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, config)]);
  t.teardown(() => daemon.stop());
  return { daemon, server: daemon.url.replace(/^http/, 'ws') };
}

function gpupoolRun(server: string, options: string[], program: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(['run', '--servers', server, ...options, '--', ...program], env);
}

/** A job that holds its session until told to go (quota.c `wait`). */
function heldJob(t: Test, server: string, options: string[], env: NodeJS.ProcessEnv = {}): HeldJob {
  const job = new HeldJob(['run', '--servers', server, ...options, '--', quota, 'wait'], env);
  t.teardown(() => job.kill());
  return job;
}


t.test('--mem 256MiB: the job sees 256 MiB and cannot allocate past it', async (t) => {
  const { server } = await startDaemon(t);
  const run = await gpupoolRun(server, ['--mem', '256MiB'], [quota]);
  t.equal(run.code, 0, `${run.stdout}${run.stderr}`);
  t.match(run.stdout, new RegExp(`^totalMem ${256 * MiB}$`, 'm'), 'cuDeviceTotalMem is the quota');
  t.match(run.stdout, new RegExp(`^meminfo free ${256 * MiB} total ${256 * MiB}$`, 'm'), 'cuMemGetInfo: total is the quota, all of it free');
  t.match(run.stdout, new RegExp(`^allocated ${256 * MiB} bytes in 4 blocks, then CUDA_ERROR_OUT_OF_MEMORY$`, 'm'));
  t.match(run.stdout, /^pitch past quota: CUDA_ERROR_OUT_OF_MEMORY$/m);
  t.match(run.stdout, new RegExp(`^full: free 0 total ${256 * MiB}$`, 'm'));
  t.match(run.stdout, /^after free: CUDA_SUCCESS$/m, 'freed memory returns to the quota');
  t.match(run.stdout, /^pitch within quota: CUDA_SUCCESS$/m);
  t.match(run.stdout, /^PASS$/m);

  const bad = await gpupoolRun(server, ['--mem', 'lots'], [quota]);
  t.equal(bad.code, 2, 'a bad --mem is a usage error');
  t.match(bad.stderr, /--mem lots: expected a size in bytes/);
});

t.test('no request: the default quota applies (sharing.defaultQuota), never the whole card', async (t) => {
  const { server } = await startDaemon(t, { ...QUICK_CONFIG, sharing: { defaultQuota: '512MiB' } });
  const run = await gpupoolRun(server, [], [quota]);
  t.equal(run.code, 0, `${run.stdout}${run.stderr}`);
  t.match(run.stdout, new RegExp(`^totalMem ${512 * MiB}$`, 'm'));
  t.match(run.stdout, new RegExp(`^allocated ${512 * MiB} bytes in 8 blocks, then CUDA_ERROR_OUT_OF_MEMORY$`, 'm'));
  t.match(run.stdout, /^PASS$/m);
});

t.test('quotas do not overcommit a card; memory returns when a job ends; status shows it all', async (t) => {
  const { daemon, server } = await startDaemon(t);
  // The default: 25% of each card. Every card (gpus=all): device 0 is the 80 GiB card.
  const plain = await gpupoolRun(server, ['--gpus', 'all'], [quota, 'wait']);
  t.equal(plain.code, 0, `${plain.stdout}${plain.stderr}`);
  t.match(plain.stdout, new RegExp(`^totalMem ${20 * GiB}$`, 'm'), 'the default quota is 25% of the card');

  const first = heldJob(t, server, [], { GPUPOOL_REQUEST: 'mem=30GiB,share=0.5,priority=high,gpus=all' });
  await first.ready();
  t.match(first.stdout, new RegExp(`^totalMem ${30 * GiB}$`, 'm'));
  const status = await computeStatus(daemon);
  t.equal(status.sessions.length, 1);
  t.match(status.sessions[0], {
    state: 'active',
    request: { mem: 30 * GiB, share: 0.5, priority: 'high', gpus: 'all', policy: null, wait: null },
    cards: [
      { ordinal: 0, quota: 30 * GiB, used: 0 },
      { ordinal: 1, quota: 30 * GiB, used: 0 },
    ],
  });
  t.match(status.cards, [
    { ordinal: 0, totalMem: 80 * GiB, committed: 30 * GiB, shares: 0.5, sessions: 1 },
    { ordinal: 1, totalMem: 40 * GiB, committed: 30 * GiB, shares: 0.5, sessions: 1, waiting: 0 },
  ]);
  t.match(status.sessions[0], { scheduling: { share: 0.5, limit: false, priority: 'high', effective: 'high' } });

  // 30 GiB more does not fit the 40 GiB card, so not on every card...
  const second = await gpupoolRun(server, ['--mem', '30GiB', '--gpus', 'all'], [quota]);
  t.equal(second.code, 3, `${second.stdout}${second.stderr}`);
  t.match(second.stdout, /^cuInit CUDA_ERROR_NO_DEVICE$/m);
  t.match(second.stderr, new RegExp(`refused the connection: 4004 only 1 of the 2 cards asked for have room for 30\\.00 GiB: card 1 has 10\\.00 GiB of 40\\.00 GiB uncommitted \\(20\\.00 GiB short\\)`));
  // ...but one card (the default) is placed on the card with room.
  const one = await gpupoolRun(server, ['--mem', '30GiB'], [quota]);
  t.equal(one.code, 0, `one card of 30 GiB still fits card 0\n${one.stdout}${one.stderr}`);

  t.equal(await first.finish(), 0, `${first.stdout}${first.stderr}`);
  await eventually('the first session freed', async () => ((await computeStatus(daemon)).sessions.length === 0 ? true : undefined));
  t.same((await computeStatus(daemon)).cards.map((c) => [c.committed, c.shares, c.sessions]), [[0, 0, 0], [0, 0, 0]], 'its quota and share are uncommitted again');

  const third = await gpupoolRun(server, ['--mem', '30GiB', '--gpus', 'all'], [quota, 'wait']);
  t.equal(third.code, 0, `a third job fits again\n${third.stdout}${third.stderr}`);
  t.match(third.stdout, new RegExp(`^totalMem ${30 * GiB}$`, 'm'));

  const large = await gpupoolRun(server, ['--mem', '60GiB', '--gpus', 'all'], [quota]);
  t.equal(large.code, 3);
  t.match(large.stderr, new RegExp(`4004 request of 60\\.00 GiB is larger than card 1`));
  const largeOne = await gpupoolRun(server, ['--mem', '60GiB'], [quota]);
  t.equal(largeOne.code, 0, `one card: the 80 GiB card holds 60 GiB\n${largeOne.stdout}${largeOne.stderr}`);
});

t.test('GPUPOOL_REQUEST parsing errors: a clear message, and cuInit fails', async (t) => {
  const { server } = await startDaemon(t);
  const cases: [string, RegExp][] = [
    ['mem=lots', /GPUPOOL_REQUEST="mem=lots": mem=lots is not a size in bytes/],
    ['mem=1GiB,share=2', /share=2 is not a number from 0\.01 to 1/],
    ['mem=1GiB,priority=urgent', /priority=urgent is not high, normal or low/],
    ['colour=red', /unknown key "colour" \(keys: mem, share, limit, priority, gpus, policy, wait, cards, namespace, pod, container, job, user\)/],
    ['8GiB', /"8GiB" is not key=value/],
    ['gpus=0', /gpus=0 is not a number of cards from 1 to 256, or all/],
    ['gpus=2x', /gpus=2x is not a number of cards/],
    ['policy=random', /policy=random is not binpack or spread/],
    ['wait=-1', /wait=-1 is not a whole number of seconds from 0 to 86400/],
  ];
  for (const [request, message] of cases) {
    const run = await gpupoolRun(server, [], [quota], { GPUPOOL_REQUEST: request });
    t.equal(run.code, 3, `GPUPOOL_REQUEST=${request}: ${run.stdout}${run.stderr}`);
    t.match(run.stdout, /^cuInit CUDA_ERROR_INVALID_VALUE$/m);
    t.match(run.stderr, message);
  }
  // A server's own request, in its GPUPOOL_SERVERS entry, is read with the same rules.
  const perServer = await runCli(['run', '--', quota], { GPUPOOL_SERVERS: `${server}?gpus=many` });
  t.equal(perServer.code, 3, `${perServer.stdout}${perServer.stderr}`);
  t.match(perServer.stdout, /^cuInit CUDA_ERROR_INVALID_VALUE$/m);
  t.match(perServer.stderr, new RegExp(`GPUPOOL_SERVERS: ${server}\\?gpus=many: gpus=many is not a number of cards`));
  for (const [flag, value, message] of [
    ['--gpus', '0', /--gpus 0: expected a number of cards from 1 to 256, or all/],
    ['--policy', 'tight', /--policy tight: expected binpack or spread/],
    ['--wait', '1.5', /--wait 1\.5: expected a whole number of seconds/],
  ] as const) {
    const run = await gpupoolRun(server, [flag, value], [quota]);
    t.equal(run.code, 2, `${flag} ${value} is a usage error`);
    t.match(run.stderr, message);
  }
  // --mem replaces the environment's mem and keeps its other keys.
  const both = await gpupoolRun(server, ['--mem', '128MiB'], [quota, 'wait'], { GPUPOOL_REQUEST: 'mem=1GiB,priority=low' });
  t.equal(both.code, 0, `${both.stdout}${both.stderr}`);
  t.match(both.stdout, new RegExp(`^totalMem ${128 * MiB}$`, 'm'));
});

t.test("a tenant's quota= caps what its jobs may ask for, and their default", async (t) => {
  const token = newToken();
  const fixtureTokens = (dir: string) => {
    const path = join(dir, 'tokens');
    writeFileSync(path, `${tokenLine('alice', token, { quota: '1GiB' })}\n`, { mode: 0o600 });
    return path;
  };
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG), '--tokens', fixtureTokens(fixture.dir)]);
  t.teardown(() => daemon.stop());
  const server = daemon.url.replace(/^http/, 'ws');

  const over = await gpupoolRun(server, ['--token', token, '--mem', '2GiB'], [quota]);
  t.equal(over.code, 3, `${over.stdout}${over.stderr}`);
  t.match(over.stderr, new RegExp(`4004 request of 2\\.00 GiB is over tenant alice's quota of 1\\.00 GiB`));

  const plain = await gpupoolRun(server, ['--token', token], [quota, 'wait']);
  t.equal(plain.code, 0, `${plain.stdout}${plain.stderr}`);
  t.match(plain.stdout, new RegExp(`^totalMem ${GiB}$`, 'm'), 'the default quota is capped by the tenant\'s');
});
