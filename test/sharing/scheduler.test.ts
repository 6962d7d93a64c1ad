/**
 * The card scheduler end to end (docs/sharing.md): real client processes (test/programs/card_load.c)
 * through `gpupool run` against `gpupool daemon --simulate`, whose emulated driver runs one kernel at a
 * time per card with modelled durations. Device time is what the clients' kernels asked for, so
 * shares are measured on the time model, not on this machine's CPU.
 */
import t, { type Test } from 'tap';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { startSimulatedDaemon } from '../helpers/simulated.js';
import { QUICK_CONFIG, eventually, parseMetrics, type Sample } from '../helpers/integration.js';
import { LoadJob, percentile, runTogether } from '../helpers/load.js';


async function sessions(daemon: DaemonProcess): Promise<SessionInfo[]> {
  const res = await fetch(`${daemon.url}/v1/status`);
  return ((await res.json()) as { compute: { sessions: SessionInfo[] } }).compute.sessions;
}

const TRAIN = { mode: 'train', seconds: 4, kernelUs: 200, batch: 10 } as const;

async function sharesTest(t: Test, shares: number[]): Promise<void> {
  const { daemon, server } = await startSimulatedDaemon(t);
  // Every job on card 0 (each is given every card and uses its first).
  const jobs = shares.map((s) => new LoadJob(server, ['--gpus', 'all', '--mem', '1GiB', '--share', String(s), '--priority', 'low'], TRAIN));
  t.teardown(() => jobs.forEach((j) => j.kill()));
  await Promise.all(jobs.map((j) => j.ready()));
  jobs.forEach((j) => j.go());
  // The window: from 1 s after the start (every job competing) to 3.5 s, by the daemon's measurement
  // (events around each holder's work: on the emulator, the time model's device time).
  const at = (ms: number) => new Promise<SessionInfo[]>((resolve) => setTimeout(() => resolve(sessions(daemon)), ms));
  const [first, second] = await Promise.all([at(1000), at(3500)]);
  const metrics = await fetch(`${daemon.url}/metrics`).then(async (r) => parseMetrics(await r.text()));
  const results = await Promise.all(jobs.map((j) => j.result()));
  t.equal(second!.length, shares.length, 'status lists every client');
  const delta = second!.map((s) => s.cards[0]!.deviceNs - (first!.find((f) => f.id === s.id)?.cards[0]!.deviceNs ?? 0));
  const sum = delta.reduce((a, b) => a + b, 0);
  t.ok(sum / 2.5e9 > 0.6, `the card stayed busy: ${((sum / 2.5e9) * 100).toFixed(0)}% of the window`);
  second!.forEach((s, i) => {
    const share = s.scheduling!.share;
    const got = delta[i]! / sum;
    t.ok(Math.abs(got - share) <= 0.03, `share ${share}: got ${(got * 100).toFixed(1)}% of the device time in the window (within 3 points)`);
    t.ok(s.cards[0]!.achievedShare !== null, 'an achieved share is reported');
  });
  // The clients' own view (the device time their kernels asked for, whole run) agrees, more loosely:
  // it includes the start, and a client this machine's CPUs kept from submitting.
  const total = results.reduce((a, r) => a + r.device_us, 0);
  results.forEach((r, i) => {
    const got = r.device_us / total;
    t.ok(Math.abs(got - shares[i]!) <= 0.05, `share ${shares[i]}: the client counted ${(got * 100).toFixed(1)}% (within 5 points)`);
  });
  const seen = second!;
  // The same figures per client in /metrics (docs/metrics.md, "Sharing").
  const samples = metrics;
  for (const s of seen) {
    const of = (name: string) => samples.find((m) => m.name === name && m.labels.session === String(s.id) && m.labels.card === '0')?.value;
    t.ok((of('gpupool_client_device_seconds_total') ?? 0) > 0.1, `session ${s.id}: device seconds in /metrics`);
    t.equal(of('gpupool_client_share'), s.scheduling!.share);
    t.equal(of('gpupool_client_priority'), 0, 'low priority, level 0');
    t.ok(of('gpupool_client_queue_wait_seconds_total') !== undefined);
  }
  t.equal(samples.find((m) => m.name === 'gpupool_card_committed_share' && m.labels.card === '0')?.value, shares.reduce((a, b) => a + b, 0));
}

t.test('two saturating low-priority clients at 0.25/0.75 get device time within 3 points of their shares', (t) => sharesTest(t, [0.25, 0.75]));

t.test('three clients at 0.2/0.3/0.5 get their shares', (t) => sharesTest(t, [0.2, 0.3, 0.5]));

t.test('a high-priority client keeps its latency beside a saturating low-priority one, which still progresses', async (t) => {
  const { server } = await startSimulatedDaemon(t);
  // Requests of 4 kernels of 2.5 ms each, 5 ms apart (an inference service); training kernels of 100 us.
  // The same service runs alone on card 1 in the same window: both see the same load on this machine's
  // CPUs, so the comparison isolates what sharing card 0 costs. A p99 on a 2-CPU machine also carries
  // its thread wake-ups (about 400 requests a window: its 4th worst), and CI runs two test files at once:
  // a window over the limit is measured again, up to three in all, and every window is reported.
  const serve = { mode: 'serve', seconds: 6, kernelUs: 2500, batch: 4, thinkUs: [5000] } as const;
  const windows: string[] = [];
  let best = Infinity;
  let training: { device_us: number; wall_us: number } | undefined, free = 0;
  for (let attempt = 0; attempt < 3 && best > 1.1; attempt++) {
    const alone = new LoadJob(server, ['--gpus', 'all', '--priority', 'high'], serve, 1);
    const high = new LoadJob(server, ['--gpus', 'all', '--priority', 'high'], serve, 0);
    const low = new LoadJob(server, ['--gpus', 'all', '--priority', 'low', '--share', '0.5', '--mem', '1GiB'], { mode: 'train', seconds: 6, kernelUs: 100, batch: 20 }, 0);
    t.teardown(() => [alone, high, low].forEach((j) => j.kill()));
    const [single, shared, trained] = await runTogether([alone, high, low]);
    const p99Alone = percentile(single!.latency_us, 0.99), p99Shared = percentile(shared!.latency_us, 0.99);
    windows.push(`${p99Shared} us beside training vs ${p99Alone} us alone: ${(p99Shared / p99Alone).toFixed(3)}x`);
    best = Math.min(best, p99Shared / p99Alone);
    training = trained;
    free = 1 - shared!.device_us / shared!.wall_us;
  }
  t.ok(best <= 1.1, `p99 within 1.10x of alone: ${windows.join('; ')}`);
  // Between requests the card is free: training fills at least half of that time (work-conserving;
  // the rest goes to hand-overs and the idle grace of the service).
  const got = training!.device_us / training!.wall_us;
  t.ok(got > 0.5 * free, `training had ${(got * 100).toFixed(0)}% of the card, which was free ${(free * 100).toFixed(0)}% of the time`);
});

t.test('--share-limit caps a client even on an idle card', async (t) => {
  const { server } = await startSimulatedDaemon(t);
  const [capped] = await runTogether([new LoadJob(server, ['--share', '0.3', '--share-limit'], TRAIN)]);
  const got = capped!.device_us / capped!.wall_us;
  // Alone, the same loop keeps the card about 80% busy; capped, never more than its share.
  t.ok(got <= 0.33, `a 0.3 cap alone on the card got ${(got * 100).toFixed(1)}% (at most 33%)`);
  t.ok(got >= 0.1, 'and it still progresses');
});

t.test('schedule windows: a class is held off the card, or scheduled as another, at the hours the operator says', async (t) => {
  // A window around now, in the daemon host's local time (tests and daemon share the clock).
  const hhmm = (d: Date) => `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  const from = hhmm(new Date(Date.now() - 60_000)), to = hhmm(new Date(Date.now() + 3 * 60_000));
  const { daemon, server } = await startSimulatedDaemon(t, {
    ...QUICK_CONFIG,
    sharing: { windows: [{ class: 'low', from, to, as: 'paused' }, { class: 'normal', from, to, as: 'high' }] },
  });
  const paused = new LoadJob(server, ['--priority', 'low'], TRAIN);
  const boosted = new LoadJob(server, ['--priority', 'normal:3'], { ...TRAIN, seconds: 2 });
  t.teardown(() => [paused, boosted].forEach((j) => j.kill()));
  await boosted.ready();
  boosted.go();
  await new Promise((r) => setTimeout(r, 1000));
  const seen = await sessions(daemon);
  t.match(seen.find((s) => s.scheduling?.priority === 'normal:3'), { scheduling: { effective: 'high:3' } }, 'the normal job runs as high');
  const low = seen.find((s) => s.scheduling?.priority === 'low');
  t.match(low, { scheduling: { effective: 'paused' } }, 'status says the low job is paused');
  t.equal(low!.cards[0]!.deviceNs, 0, 'and it has had no device time');
  const result = await boosted.result();
  t.ok(result.kernels > 0, 'the boosted job ran');
  t.notOk(paused.isReady(), 'the paused job never got past its first kernel');
  // Its call waits for the card inside the daemon; killing the job still frees its session.
  paused.kill();
  await eventually('the paused session freed', async () => ((await sessions(daemon)).length === 0 ? true : undefined));
  t.pass('a session waiting for its window is freed when its client goes');
});
