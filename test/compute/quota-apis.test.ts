/**
 * A memory quota through every allocating API (docs/operations.md, "Memory quotas"), with the real
 * client program test/programs/quota_apis.c: directly on the emulated driver with a 256 MiB card (the
 * emulator's own limit), then through `gpupool run --mem 256MiB` against `gpupool daemon --simulate`
 * on cards of 80 and 40 GiB (the daemon's quota); and a client killed while it holds memory through
 * each API, which the daemon gives back to the card.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname } from 'node:path';
import t, { type Test } from 'tap';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { emulatedDriver } from '../../src/paths.js';
import { CLI, runCli, type DaemonProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { eventually } from '../helpers/integration.js';
import { buildProgram } from '../helpers/programs.js';
import { startSimulatedDaemon } from '../helpers/simulated.js';

const MiB = 1024 ** 2;
const program = buildProgram('quota_apis.c');
const APIS = ['cuMemAlloc', 'cuMemAllocPitch', 'cuArrayCreate', 'cuArray3DCreate', 'cuMipmappedArrayCreate', 'cuMemCreate', 'cuMemAllocAsync', 'cuMemAllocFromPoolAsync'];

/** What quota_apis prints when `capacity` bytes are all it may hold on its device. */
function assertQuota(t: Test, run: { code: number | null; stdout: string; stderr: string }, capacity: number): void {
  t.equal(run.code, 0, `${run.stdout}${run.stderr}`);
  t.match(run.stdout, new RegExp(`^totalMem ${capacity} capacity ${capacity}$`, 'm'), 'the device is as large as the quota, and all of it free');
  for (const api of APIS) {
    const filled = new RegExp(`^${api}: allocated (\\d+) bytes in (\\d+) blocks, then CUDA_ERROR_OUT_OF_MEMORY$`, 'm').exec(run.stdout);
    t.ok(filled, `${api}: out of memory past the quota`);
    const bytes = Number(filled?.[1]);
    const block = bytes / Number(filled?.[2]);
    t.ok(bytes <= capacity && bytes + block > capacity, `${api}: ${bytes} bytes, filled to within one block of ${capacity}`);
    t.match(run.stdout, new RegExp(`^${api} after free: CUDA_SUCCESS$`, 'm'), `${api}: freed memory returns to the quota`);
    t.match(run.stdout, new RegExp(`^${api} freed: free ${capacity}$`, 'm'), `${api}: all of it returns`);
  }
  for (const api of ['cuMemCreate', 'cuMemCreate after release', 'cuMemAllocAsync', 'cuMemAllocFromPoolAsync', 'cuArrayCreate']) {
    t.match(run.stdout, new RegExp(`^data ${api}: ok$`, 'm'), `data written through ${api} reads back`);
  }
  t.match(run.stdout, /^memset cuMemCreate: ok$/m, 'a memset of a VMM mapping');
  t.match(run.stdout, /^memset cuMemAllocAsync: ok$/m, 'a memset of a stream-ordered allocation');
  t.match(run.stdout, /^mipmap level 2: 64x64$/m);
  t.match(run.stdout, new RegExp(`^threads 8: allocated ${capacity} bytes in ${capacity / (16 * MiB)} blocks, then CUDA_ERROR_OUT_OF_MEMORY$`, 'm'), '8 threads together fill the quota exactly and no further');
  t.match(run.stdout, new RegExp(`^threads freed: free ${capacity}$`, 'm'));
  t.match(run.stdout, /^cuMemAllocManaged: CUDA_ERROR_NOT_SUPPORTED, CUDA_ERROR_NOT_SUPPORTED$/m, 'managed memory is not supported');
  t.match(run.stdout, /^PASS$/m);
}

t.test('the emulated driver: a 256 MiB card runs out through every API, and gets it all back', async (t) => {
  const fixture = new FixtureFile({ nvidia: { cards: [{ ...mixedHost().nvidia!.cards[0]!, memoryTotal: 256 * MiB }] } });
  t.teardown(() => fixture.remove());
  const child = spawn(program, [], { env: { ...process.env, LD_LIBRARY_PATH: dirname(emulatedDriver), GPUPOOL_SIM_FIXTURE: fixture.path } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assertQuota(t, { code, stdout, stderr }, 256 * MiB);
});

t.test('gpupool run --mem 256MiB: every allocating API stops at the quota, on a card far larger', async (t) => {
  const { daemon, server } = await startSimulatedDaemon(t);
  const from = daemon.logs.length;
  const run = await runCli(['run', '--servers', server, '--mem', '256MiB', '--', program]);
  assertQuota(t, run, 256 * MiB);
  t.equal(run.stderr.match(/^gpupool: cuMemAllocManaged is not supported: managed memory must be addressable by this host/gm)?.length, 1, 'the client library says why, once');
  const freed = await eventually('the session freed', () => daemon.logs.slice(from).find((l) => l.msg === 'session freed'));
  t.match(freed.stats, { used: [0, 0], allocations: 0, handles: 0 }, 'the session held nothing at its end');
});

async function sessions(daemon: DaemonProcess): Promise<SessionInfo[]> {
  const res = await fetch(`${daemon.url}/v1/status`);
  return ((await res.json()) as { compute: { sessions: SessionInfo[] } }).compute.sessions;
}

const CARD1 = mixedHost().nvidia!.cards[1]!.memoryTotal;

/** Card 1's free memory as the driver counts it: a quota of the whole card hides none of it. */
async function cardFree(server: string): Promise<number> {
  const run = await runCli(['run', '--servers', server, '--gpus', 'all', '--mem', String(CARD1), '--', program, 'meminfo', '1']);
  const m = /^free (\d+) total \d+$/m.exec(run.stdout);
  if (run.code !== 0 || !m) throw new Error(`quota_apis meminfo failed (${run.code}): ${run.stdout}${run.stderr}`);
  return Number(m[1]);
}

t.test('a client killed while it holds memory through every API: all of it returns to the card', async (t) => {
  const { daemon, server } = await startSimulatedDaemon(t);
  const before = await cardFree(server);
  t.equal(before, CARD1, 'card 1 is all free to begin with');

  const job = spawn(process.execPath, [CLI, 'run', '--servers', server, '--gpus', 'all', '--', program, 'hold', '1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => void (job.exitCode === null && job.signalCode === null && job.kill('SIGKILL')));
  let out = '';
  job.stdout.on('data', (d: Buffer) => (out += d.toString()));
  job.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const ready = await eventually('the job holding its memory', () => {
    if (job.exitCode !== null) throw new Error(`the job exited: ${out}`);
    return /^ready (\d+) held (\d+)$/m.exec(out) ?? undefined;
  });
  const [pid, held] = [Number(ready[1]), Number(ready[2])];
  t.ok(held >= APIS.length * 16 * MiB, `it holds ${held} bytes through ${APIS.length} APIs`);
  const [session] = await sessions(daemon);
  t.match(session?.cards, [{ ordinal: 0, used: 0 }, { ordinal: 1, used: held }], 'status counts all of it against card 1');

  process.kill(pid, 'SIGKILL');
  await once(job, 'exit');
  await eventually('the session gone', async () => ((await sessions(daemon)).length === 0 ? true : undefined));
  t.equal(await cardFree(server), before, "the card's free memory is back: arrays, pools, VMM memory and reservations were freed");
});
