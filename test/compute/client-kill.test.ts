/**
 * A client killed with SIGKILL in the middle of its work (a large host-to-device copy on the wire, a
 * burst of launches queued on the card): the daemon frees everything the session held within a second,
 * as its status and the emulated driver's own counters show, while another client on the same card runs
 * on with right results.
 */
import t from 'tap';
import type { EmuStats } from '../../src/compute/native.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, computeStatus, eventually, writeConfig } from '../helpers/integration.js';
import { PROMPT_MS, startJob } from '../helpers/job-process.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';

const fatbin = buildFatbin();
const faultClient = buildProgram('fault_client.c');
const COPY_BYTES = 64 << 20;
/** What the daemon is held to: from the SIGKILL to the session's state freed. */
const FREED_WITHIN_MS = 1000;

/**
 * The emulator's counters that a session's state moves. Events are left out: the scheduler keeps a
 * growing pool of them in each context it measures, so a live neighbour's count is not fixed. The
 * no-op kernel mode's flag and launch count are not holdings either.
 */
function held(e: EmuStats | undefined) {
  if (!e) throw new Error('no emulator counters in status: is the daemon simulated?');
  const { events, kernelsLaunched, noopKernels, noopLaunches, ...rest } = e;
  return rest;
}

/** How many checked rounds the job has reported right so far. */
function roundsOk(stdout: string): number {
  return stdout.match(/^round \d+ ok$/gm)?.length ?? 0;
}

t.test('SIGKILL mid-copy and mid-launch: freed within 1 s, the neighbour on the card unaffected', async (t) => {
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)]);
  t.teardown(() => daemon.stop('SIGKILL'));
  const server = daemon.url.replace(/^http/, 'ws');

  const idle = await computeStatus(daemon);
  t.ok(Object.values(held(idle.emulator)).every((n) => n === 0), 'the emulated driver holds nothing before any client');

  // Every job is given every card, and works on card 0: the victim and the neighbour share it.
  const everyCard = { GPUPOOL_REQUEST: 'gpus=all' };
  const neighbour = startJob(t, server, [faultClient, fatbin, 'work'], everyCard);
  await neighbour.output(/^round 3 ok$/m);
  const alone = await computeStatus(daemon);
  t.match(held(alone.emulator), { contexts: 1, allocations: 2, modules: 1 }, 'the neighbour holds its context, module and buffers');
  const committedAlone = alone.cards[0]!.committed;
  t.ok(committedAlone > 0, 'its quota is committed on card 0');

  const victims: [string, string[], RegExp][] = [
    ['mid-copy (64 MiB host-to-device copies back to back)', ['copy', String(COPY_BYTES)], /^copy 2$/m],
    ['mid-launch (bursts of 500 launches)', ['launch'], /^burst 1$/m],
  ];
  for (const [what, args, busy] of victims) {
    t.test(what, async (t) => {
      const from = daemon.logs.length;
      const victim = startJob(t, server, [faultClient, fatbin, ...args], everyCard);
      const [, pid] = (await victim.output(/^ready (\d+)$/m)) as unknown as [string, string];
      await victim.output(busy);
      const connected = await daemon.waitFor((l) => daemon.logs.indexOf(l) >= from && l.msg === 'client connected' && l.pid === Number(pid));
      const id = connected.session as number;
      const both = await computeStatus(daemon);
      t.equal(both.sessions.length, 2, 'two sessions on the daemon');
      t.equal(held(both.emulator).contexts, held(alone.emulator).contexts + 1, 'the victim has a context of its own');
      t.ok(both.cards[0]!.committed > committedAlone, 'and its quota committed on card 0');

      const before = roundsOk(neighbour.stdout);
      const killedAt = Date.now();
      process.kill(Number(pid), 'SIGKILL');
      const freed = await daemon.waitFor((l) => l.msg === 'session freed' && l.session === id, PROMPT_MS);
      const freedMs = Date.parse(String(freed.time)) - killedAt;
      t.ok(freedMs <= FREED_WITHIN_MS, `the session was freed ${freedMs} ms after the SIGKILL (at most ${FREED_WITHIN_MS})`);
      t.match(freed.stats, { handles: 0, contexts: 0, allocations: 0, allocatedBytes: 0 }, 'holding nothing after its teardown');
      t.equal(await victim.finished(), 137, 'gpupool run reports its job killed by SIGKILL');

      const after = await eventually('status without the killed session', async () => {
        const c = await computeStatus(daemon);
        return c.sessions.some((s) => s.id === id) ? undefined : c;
      }, PROMPT_MS);
      const seenMs = Date.now() - killedAt;
      t.equal(after.sessions.length, 1, `only the neighbour's session is left (status showed it ${seenMs} ms after the SIGKILL)`);
      t.equal(after.cards[0]!.committed, committedAlone, 'the victim\'s quota is uncommitted');
      t.same(held(after.emulator), held(alone.emulator), 'the emulated driver holds only what the neighbour holds: the victim\'s contexts, modules and memory are gone');

      await neighbour.output(new RegExp(`^round ${before + 5} ok$`, 'm'));
      t.notMatch(neighbour.stdout, /wrong|CUDA_ERROR/, 'the neighbour\'s rounds all ran, and right');
    });
  }

  t.test('the neighbour finishes; nothing is left', async (t) => {
    neighbour.line('stop');
    t.equal(await neighbour.finished(), 0, `the neighbour exits 0 ${neighbour.stderr}`);
    t.match(neighbour.stdout, /^done \d+$/m);
    const end = await eventually('no session left', async () => {
      const c = await computeStatus(daemon);
      return c.sessions.length === 0 ? c : undefined;
    }, PROMPT_MS);
    t.same(end.cards.map((c) => c.committed), [0, 0], 'nothing committed');
    t.match(end.emulator, { contexts: 0, allocations: 0, allocatedBytes: 0, modules: 0, streams: 0, events: 0 }, 'the emulated driver holds nothing, the scheduler\'s events included');
  });
});
