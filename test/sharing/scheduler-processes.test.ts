/**
 * The card scheduler across session worker processes (docs/sharing.md, "Across processes"): with
 * `compute.sessionProcess: "process"`, sessions in two workers share one card by the same state (the
 * daemon's memfd, mapped by each worker). Two saturating clients split the measured device time by
 * their shares; a worker killed while it holds the card (frozen first, so that it provably holds it:
 * its neighbour waits and has had no device time) hands the card on when the daemon sees its end; a
 * process killed while it holds a card's lock (test/programs/card_lock_holder.cc, which maps the
 * daemon's state through a worker's fd 5 and takes the lock as a worker would) leaves it to the next
 * taker, and meanwhile status and the workers' heartbeats go on.
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import type { DaemonProcess } from '../helpers/daemon-process.js';
import { QUICK_CONFIG, computeStatus, eventually } from '../helpers/integration.js';
import { LoadJob, deviceTimeSplit } from '../helpers/load.js';
import { buildProgram } from '../helpers/programs.js';
import { startSimulatedDaemon } from '../helpers/simulated.js';

/** Workers as configured by default (their heartbeat every 250 ms). */
const SHARES_CONFIG = { ...QUICK_CONFIG, compute: { sessionProcess: 'process' } };
/** A worker frozen on purpose is not ended as hung during the test; beats often enough to sample between. */
const PROCESS_CONFIG = { ...QUICK_CONFIG, compute: { sessionProcess: 'process', workerHangMs: 60_000, workerHeartbeatMs: 100 } };
const TRAIN = { mode: 'train', seconds: 4, kernelUs: 200, batch: 10 } as const;

async function sessions(daemon: DaemonProcess): Promise<SessionInfo[]> {
  return (await computeStatus(daemon)).sessions as SessionInfo[];
}

/** Card 0 as the scheduler sees it (status `compute.cards`, docs/sharing.md). */
async function card0(daemon: DaemonProcess): Promise<{ waiting: number; deviceNs: number }> {
  return (await computeStatus(daemon)).cards[0] as unknown as { waiting: number; deviceNs: number };
}

t.test('two workers\' sessions at 0.25/0.75 on one card get device time within 3 points of their shares', async (t) => {
  const { daemon, server } = await startSimulatedDaemon(t, SHARES_CONFIG);
  const shares = [0.25, 0.75];
  const jobs = shares.map((s) => new LoadJob(server, ['--gpus', 'all', '--mem', '1GiB', '--share', String(s), '--priority', 'low'], TRAIN));
  t.teardown(() => jobs.forEach((j) => j.kill()));
  await Promise.all(jobs.map((j) => j.ready()));
  jobs.forEach((j) => j.go());
  const at = (ms: number) => new Promise<SessionInfo[]>((resolve) => setTimeout(() => resolve(sessions(daemon)), ms));
  const [first, second] = await Promise.all([at(1000), at(3500)]);
  await Promise.all(jobs.map((j) => j.result()));
  const pids = second.map((s) => s.workerPid);
  t.equal(new Set(pids).size, 2, `each session in a worker of its own: ${pids.join(', ')}`);
  t.notOk(pids.includes(daemon.child.pid ?? -1), 'neither of them the daemon');
  const { got, busy } = deviceTimeSplit(first, second, 2.5e9);
  t.ok(busy > 0.6, `the card stayed busy: ${(busy * 100).toFixed(0)}% of the window`);
  second.forEach((s, i) => {
    const share = s.scheduling!.share;
    t.ok(Math.abs(got[i]! - share) <= 0.03, `share ${share}: got ${(got[i]! * 100).toFixed(1)}% of the device time in the window (within 3 points)`);
    t.ok(s.cards[0]!.waitNs > 0, `share ${share}: it waited for the card its neighbour held (${s.cards[0]!.waitNs} ns)`);
  });
  // The card's figures are every worker's, from the shared state: its device time is at least the sessions'.
  const card = await card0(daemon);
  const sessionsNs = second.reduce((a, s) => a + s.cards[0]!.deviceNs, 0);
  t.ok(card.deviceNs >= sessionsNs, `card 0 counts ${card.deviceNs} ns, its sessions ${sessionsNs} ns at the last look`);
});

t.test('a worker SIGKILLed while it holds the card: its neighbour gets the card once the daemon sees the end', async (t) => {
  const { daemon, server } = await startSimulatedDaemon(t, PROCESS_CONFIG);
  const victim = new LoadJob(server, ['--gpus', 'all', '--priority', 'low'], { ...TRAIN, seconds: 60 });
  t.teardown(() => victim.kill());
  await victim.ready();
  victim.go();
  const [held] = await eventually('the victim working on card 0', async () => {
    const s = await sessions(daemon);
    return s.length === 1 && s[0]!.cards[0]!.deviceNs > 0 && s[0]!.workerPid ? s : undefined;
  });
  const victimPid = held!.workerPid!;
  // Frozen with the card: alone, a holder keeps it between calls until someone wants it.
  process.kill(victimPid, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(victimPid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  const neighbour = new LoadJob(server, ['--gpus', 'all', '--priority', 'low'], { ...TRAIN, seconds: 1 });
  t.teardown(() => neighbour.kill());
  const waiting = await eventually('the neighbour waiting for the card', async () => {
    const other = (await sessions(daemon)).find((s) => s.workerPid !== victimPid);
    // Its figures once its worker has reported them (its first beat).
    return (await card0(daemon)).waiting >= 1 && other?.cards[0] !== undefined ? other : undefined;
  });
  t.equal(waiting.cards[0]!.deviceNs, 0, 'the neighbour has had no device time: the frozen worker holds the card');
  t.notOk(neighbour.isReady(), 'the neighbour has not run its first kernel');
  process.kill(victimPid, 'SIGKILL');
  t.ok(await neighbour.ready(), 'the neighbour runs its first kernel once the victim\'s end is seen');
  neighbour.go();
  const result = await neighbour.result();
  t.ok(result.device_us > 0, `the neighbour ran to its end: ${result.kernels} kernels`);
  const after = await eventually('the victim\'s session ended', async () => {
    const s = await sessions(daemon);
    return s.every((x) => x.workerPid !== victimPid) ? s : undefined;
  });
  t.ok(after.every((s) => s.workerPid !== victimPid), 'the victim\'s session is gone');
  const card = await card0(daemon);
  t.equal(card.waiting, 0, 'nobody waits for card 0 any more');
});

t.test('a process killed while it holds a card\'s lock: the lock goes to the next taker, the session goes on', async (t) => {
  const holderTool = buildProgram('card_lock_holder.cc');
  const { daemon, server } = await startSimulatedDaemon(t, PROCESS_CONFIG);
  const job = new LoadJob(server, ['--gpus', 'all', '--priority', 'low'], { ...TRAIN, seconds: 60 });
  t.teardown(() => job.kill());
  await job.ready();
  job.go();
  const [working] = await eventually('the job working on card 0', async () => {
    const s = await sessions(daemon);
    return s.length === 1 && s[0]!.cards[0]!.deviceNs > 0 && s[0]!.workerPid ? s : undefined;
  });
  const holder = spawn(holderTool, [`/proc/${working!.workerPid}/fd/5`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => holder.kill('SIGKILL'));
  let out = '';
  holder.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  holder.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await eventually('the lock taken', () => (/^locked$/m.test(out) ? true : undefined)).catch((err: Error) => {
    throw new Error(`${err.message}; the holder said: ${out}`);
  });
  // Two beats apart, after two beats: the job's device time stands still (its next call waits for
  // the lock), while its worker's heartbeat and the daemon's status still answer.
  const pause = () => new Promise((r) => setTimeout(r, 300));
  await pause();
  const held1 = (await sessions(daemon))[0]!;
  await pause();
  const held2 = (await sessions(daemon))[0]!;
  t.equal(held2.workerPid, working!.workerPid, 'the job\'s worker is still there (its heartbeat is not stuck behind the lock)');
  t.equal(held2.cards[0]!.deviceNs, held1.cards[0]!.deviceNs, `its device time stands still while the lock is held (${held1.cards[0]!.deviceNs} ns)`);
  t.ok((await card0(daemon)).deviceNs >= held1.cards[0]!.deviceNs, 'status reads the card while the lock is held');
  holder.kill('SIGKILL');
  const after = await eventually('the job\'s device time moving again', async () => {
    const s = (await sessions(daemon))[0];
    return s && s.cards[0]!.deviceNs > held2.cards[0]!.deviceNs ? s : undefined;
  });
  t.ok(after.cards[0]!.deviceNs > held2.cards[0]!.deviceNs, `the job runs on once the holder is gone: ${after.cards[0]!.deviceNs} ns`);
  t.equal(after.workerPid, working!.workerPid, 'in the same worker');
});
