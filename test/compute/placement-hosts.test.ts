/**
 * Placement across hosts (docs/operations.md, "Placement across hosts"): `gpupool run --gpus N
 * --policy spread|binpack` on a GPU-less client host splits N cards between two GPU hosts (network
 * namespaces) from their status, and refuses a job the pool has no room for before it starts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import type { StatusDocument } from '../../src/server/status.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost, type Fixture } from '../helpers/fixture.js';
import { QUICK_CONFIG, eventually, writeConfig } from '../helpers/integration.js';
import { HeldJob } from '../helpers/job.js';
import { createTestHosts, namespacesAvailable } from '../helpers/netns.js';
import { buildProgram } from '../helpers/programs.js';

const quota = buildProgram('quota.c');

/** `cards` NVIDIA cards alternating 80 and 40 GiB, on PCI buses from `bus` up (the host shows in the address). */
function hostWith(cards: number, bus: number): Fixture {
  const host = mixedHost();
  const models = host.nvidia!.cards;
  host.nvidia!.cards = Array.from({ length: cards }, (_, i) => ({
    ...models[i % models.length]!,
    uuid: `GPU-${bus.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
    pciBusId: `00000000:${(bus + i).toString(16)}:00.0`,
  }));
  return host;
}

/** Host A's cards sit on buses 0x20.., host B's on 0x40..: how many of the job's devices are on each. */
function perHost(stdout: string): [number, number] {
  const buses = [...stdout.matchAll(/^device \d+ 0000:([0-9a-f]{2}):00\.0$/gm)].map((m) => parseInt(m[1]!, 16));
  return [buses.filter((b) => b < 0x40).length, buses.filter((b) => b >= 0x40).length];
}

const refused = namespacesAvailable();
t.test('a GPU-less client places jobs on two GPU hosts by policy', { skip: refused ?? false }, async (t) => {
  const hosts = createTestHosts(2, String((process.pid + 7) % 100_000));
  t.teardown(() => hosts.destroy());
  const fixtures = [new FixtureFile(hostWith(2, 0x20)), new FixtureFile(hostWith(3, 0x40))];
  t.teardown(() => fixtures.forEach((f) => f.remove()));
  const token = newToken();
  const daemons = await Promise.all(
    hosts.hosts.map((h, i) => {
      const tokens = join(fixtures[i]!.dir, 'tokens');
      writeFileSync(tokens, `${tokenLine('placement', token)}\n`, { mode: 0o600 });
      const config = writeConfig(fixtures[i]!.dir, QUICK_CONFIG);
      return DaemonProcess.start(['--simulate', fixtures[i]!.path, '--config', config, '--tokens', tokens, '--listen', `${h.address}:7760`], {}, 20_000, h.ns);
    }),
  );
  t.teardown(() => Promise.all(daemons.map((d) => d.stop())));
  const servers = hosts.hosts.map((h) => `ws://${h.address}:7760`).join(',');
  const run = (options: string[]) => runCli(['run', '--servers', servers, '--token', token, ...options, '--', quota, 'wait'], {}, hosts.client);
  // The daemons answer on the client host's side of the links only: asked through `gpupool status` there.
  const statuses = hosts.hosts.map((h) => ['--host', `http://${h.address}:7760`]).flat();
  const sessionStates = async () => {
    const out = await runCli(['status', ...statuses, '--json'], {}, hosts.client);
    return (JSON.parse(out.stdout) as { hosts: { status: StatusDocument }[] }).hosts.flatMap((h) => h.status.compute.sessions.map((s) => s.state));
  };
  const idle = () => eventually('every session freed', async () => ((await sessionStates()).length === 0 ? true : undefined));

  // Host A (2 cards, one busy) is less loaded on average than host B (3 cards, two busy).
  const spread = await run(['--gpus', '2', '--policy', 'spread', '--debug']);
  t.equal(spread.code, 0, `${spread.stdout}${spread.stderr}`);
  t.same(perHost(spread.stdout), [1, 1], 'spread: a card on each host');
  t.match(spread.stderr, /gpupool run: 2 card\(s\) by spread: ws:\/\/\S+ 1, ws:\/\/\S+ 1/, '--debug shows the plan');
  await idle();

  const binpack = await run(['--gpus', '2', '--policy', 'binpack']);
  t.equal(binpack.code, 0, `${binpack.stdout}${binpack.stderr}`);
  t.same(perHost(binpack.stdout), [0, 2], 'binpack: the busier host takes the whole job');
  await idle();

  const four = await run(['--gpus', '4', '--policy', 'binpack']);
  t.equal(four.code, 0, `${four.stdout}${four.stderr}`);
  t.same(perHost(four.stdout), [1, 3], 'binpack: no host holds 4, so the roomiest host fills first');
  await idle();

  const spreadFour = await run(['--gpus', '4']);
  t.equal(spreadFour.code, 0, `${spreadFour.stdout}${spreadFour.stderr}`);
  t.same(perHost(spreadFour.stdout), [2, 2], 'spread is the default across hosts');
  await idle();

  const six = await run(['--gpus', '6']);
  t.equal(six.code, 75, 'more cards than the pool has');
  t.match(six.stderr, /^gpupool run: no room for 6 card\(s\): the pool has room for 5 of the 6 card\(s\) asked for \(ws:\/\/\S+ 2, ws:\/\/\S+ 3\)$/m);
  t.notMatch(six.stdout, /totalMem/, 'the job never started');

  // Fill every card's memory: 40 GiB on each (the whole of the 40 GiB cards, half of the 80 GiB ones).
  const filler = new HeldJob(['run', '--servers', servers, '--token', token, '--gpus', 'all', '--mem', '40GiB', '--', quota, 'wait'], {}, hosts.client);
  t.teardown(() => filler.kill());
  await filler.ready(20_000);
  t.same(perHost(filler.stdout), [2, 3]);
  const full = await run(['--gpus', '1', '--mem', '41GiB']);
  t.equal(full.code, 75, `a full pool refuses before the job starts\n${full.stdout}${full.stderr}`);
  t.match(full.stderr, /no room for 1 card\(s\): the pool has room for 0 of the 1 card\(s\) asked for/);

  // With --wait the job goes to a host whose cards could hold it once idle, and the daemon holds it.
  const waiter = new HeldJob(['run', '--servers', servers, '--token', token, '--gpus', '1', '--mem', '41GiB', '--wait', '60', '--', quota, 'wait'], {}, hosts.client);
  t.teardown(() => waiter.kill());
  await eventually('the job waiting on a daemon', async () => ((await sessionStates()).includes('waiting') ? true : undefined));
  t.equal(await filler.finish(), 0);
  await waiter.ready(20_000);
  t.match(waiter.stdout, /^totalMem 44023414784$/m, 'placed with its 41 GiB once the filler left');
  t.equal(await waiter.finish(), 0);
});
