/**
 * Bad input on /v1/compute, at scale (docs/protocol.md, "Limits" and "Errors"): a few thousand seeded
 * fuzz cases (src/protocol/fuzz) over real WebSockets against a real `gpupool daemon --simulate`:
 * random bytes, truncated and oversized msgpack, wrong types, unknown ops, huge declared lengths,
 * frames before HELLO and after, out-of-order sequence numbers, forged handles, wild pointers, floods.
 * Every case must end as it should (a protocol error closes with 4001/4002/1007/1009, a well-formed
 * frame is answered, nothing hangs), while a well-behaved client keeps getting its bytes back, the
 * daemon stays up, and its memory stays bounded. GPUPOOL_FUZZ_SEED and GPUPOOL_FUZZ_CASES override
 * the seed and the count (a failure names its case index: rerun with the same seed).
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ProtocolClient, frame, helloMessage, loadOpTable } from '../../src/protocol/client.js';
import { runFuzz } from '../../src/protocol/fuzz/run.js';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, eventually, writeConfig } from '../helpers/integration.js';

const MiB = 1024 * 1024;
const LIMITS = { maxMessageBytes: 4 * MiB, maxQueuedBytes: 8 * MiB };
const SEED = Number(process.env.GPUPOOL_FUZZ_SEED ?? 20261125);
const CASES = Number(process.env.GPUPOOL_FUZZ_CASES ?? 3000);
// Each connection is a session worker of its own (the default): a fork and a driver open apiece, about
// 80 s for the whole run on a quiet 2-CPU machine, more beside the rest of the suite.
t.setTimeout(480_000);
const FLOOD_MIB = 160;

const ops = loadOpTable();
const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, { ...QUICK_CONFIG, compute: LIMITS })]);
t.teardown(() => daemon.stop());
const url = `${daemon.url.replace(/^http/, 'ws')}/v1/compute`;

/** The daemon's resident memory, in bytes. */
function rss(): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${daemon.child.pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

async function sessions(): Promise<SessionInfo[]> {
  return ((await (await fetch(`${daemon.url}/v1/status`)).json()) as { compute: { sessions: SessionInfo[] } }).compute.sessions;
}

t.test('a flood of messages is read at the pace its calls run, not buffered whole, and answered', async (t) => {
  const { client } = await ProtocolClient.connect(url, helloMessage({ digest: ops.digest, program: 'flood' }));
  t.teardown(() => client.terminate());
  const ctx = (await client.call(ops.code('cuDevicePrimaryCtxRetain_v7000'), 0, true, 0)).outs[0] as number;
  const buf = (await client.call(ops.code('cuMemAlloc_v3020'), ctx, true, 64 * 1024)).outs[0] as number;
  // Each frame sets 4 KiB: slower to run than to send, so the messages pile up unless reading stops.
  const one = frame(ops.code('cuMemsetD8Async_v3020'), 0, ctx, [buf, 7, 4096, 0]);
  const message = Buffer.concat(Array.from({ length: Math.floor(MiB / one.length) }, () => one));
  const before = rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 20);
  const sent = Array.from({ length: FLOOD_MIB }, () => client.send(message));
  const paused = await eventually('the daemon pausing the flood', async () => ((await sessions()).find((s) => s.program === 'flood')?.pauses ?? 0) > 0 || undefined);
  await Promise.all(sent);
  const reply = await client.call(ops.code('cuCtxSynchronize_v2000'), ctx);
  clearInterval(sampler);
  t.equal(paused, true, 'the daemon stopped reading the client while its backlog was over compute.maxQueuedBytes');
  t.equal(reply.rc, 0, 'every call ran, then the sync call was answered');
  const back = await client.call(ops.code('cuMemcpyDtoH_v3020'), ctx, true, buf, 16);
  t.same([...(back.outs[0] as Buffer)], Array(16).fill(7), 'the memsets ran');
  // The daemon holds the backlog limit, a message in flight and its socket's buffers, plus the
  // messages already run whose Buffers V8 has not collected yet (tens of MiB); read whole, the
  // flood would be held whole (by hand: +185 MiB for 200 MiB without the limit, +45 MiB with it).
  t.ok(peak - before < FLOOD_MIB * 0.65 * MiB, `the daemon's memory grew by ${((peak - before) / MiB).toFixed(1)} MiB for a ${FLOOD_MIB} MiB flood`);
});

t.test(`${CASES} fuzz cases (seed ${SEED}): each ends as it should, the daemon stays up, a good client is served`, async (t) => {
  const before = rss();
  let peak = before;
  const report = await runFuzz({
    url,
    ops,
    seed: SEED,
    cases: CASES,
    floods: 4,
    floodBytes: 32 * MiB,
    oversized: 3,
    maxMessageBytes: LIMITS.maxMessageBytes,
    concurrency: 4,
    timeoutMs: 10_000,
    onCase: (n) => {
      if (n % 50 === 0) peak = Math.max(peak, rss());
    },
  });
  peak = Math.max(peak, rss());
  t.comment(`${report.cases} cases, ${report.messages} messages, ${(report.bytes / MiB).toFixed(1)} MiB, ${report.connections} connections, ${report.seconds.toFixed(1)} s; outcomes ${JSON.stringify(report.outcomes)}`);
  t.same(report.failures.slice(0, 10), [], 'every case ended as it should');
  t.equal(report.cases, CASES + 4 + 3);
  // The generated frame reader (src/protocol/frames.ts): typed frames answered, bounds broken closed.
  for (const kind of ['hand-encoded call, typed from frames.ts', 'hand-encoded call past a bound of frames.ts']) {
    t.ok((report.kinds[kind] ?? 0) > 0, `${report.kinds[kind] ?? 0} cases of "${kind}"`);
  }
  t.ok((report.outcomes['closed 4002'] ?? 0) > CASES / 10, 'many protocol errors closed their connection with 4002');
  t.ok((report.outcomes['closed 1009'] ?? 0) >= 3, 'a message over compute.maxMessageBytes closes with 1009');
  t.ok((report.outcomes.answered ?? 0) > CASES / 4, 'well-formed frames were answered');
  t.same(report.wellBehaved.errors, [], 'the well-behaved client got every byte back, all along');
  t.ok(report.wellBehaved.rounds > 10, `the well-behaved client made ${report.wellBehaved.rounds} rounds meanwhile`);
  t.equal(daemon.child.exitCode, null, 'the daemon is alive');
  t.equal((await fetch(`${daemon.url}/healthz`)).status, 200, 'and answers');
  t.ok(peak - before < 256 * MiB, `the daemon's memory grew by ${((peak - before) / MiB).toFixed(1)} MiB at most`);
  t.same(await eventually('every fuzz session freed', async () => ((await sessions()).length === 0 ? [] : undefined), 20_000), [], 'no session left behind');
});
