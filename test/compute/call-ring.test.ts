/**
 * The call ring of jobs on the daemon's host (issue 13; docs/protocol.md, "The call ring"). On a real
 * `gpupool daemon --simulate` serving a Unix socket:
 * - driver_api (device queries, memory every way, memsets, streams, events, a module, launches with
 *   kernelParams and `extra`, and the errors of bad calls) runs through the ring, its results checked;
 *   the session's figures say its calls came through the ring;
 * - order between the ring and the socket: with shared memory off, copies too large for a ring record
 *   travel on the socket between the small calls on the ring (sync and async), every byte checked;
 *   many asynchronous device-to-host copies whose replies come back through the ring, checked;
 * - a stream of asynchronous launches (ring_launches) runs whole, and launches the client library
 *   held back for a batch reach the session with no synchronising call, before the sender thread's
 *   own look would send them;
 * - status shows the transport of a live session (`calls: 'ring'`);
 * - a job with GPUPOOL_CALL_RING=0, and one on a daemon with compute.callRingBytes 0 (the ring
 *   refused), run on the socket and pass;
 * - a hostile client on the raw socket (shm_raw_client): a ring of a size no ring has, an unsealed
 *   one and a second ring are refused with clear CUresults; positions past the ring, a record longer
 *   than the ring allows, a record of no kind and a message that is no frame end that session alone
 *   (close 4002), and the daemon serves another job afterwards.
 * GPUPOOL_TEST_SESSION_PROCESS=process runs the same with sessions in worker processes.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { clientLibraryDir } from '../../src/paths.js';
import { frame, helloMessage, loadOpTable } from '../../src/protocol/client.js';
import { frameValues } from '../../src/protocol/frame-codec.js';
import { sharedMemoryOps } from '../../src/protocol/frames.js';
import { Unpackr } from 'msgpackr';
import { DaemonProcess, runProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, eventually, writeConfig } from '../helpers/integration.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';
import { RawLines } from '../helpers/raw-lines.js';

const dir = mkdtempSync(join(tmpdir(), 'gpupool-ring-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());

async function startDaemon(name: string, config: object): Promise<{ daemon: DaemonProcess; socket: string }> {
  const socket = join(dir, `${name}.sock`);
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(dir, config, `${name}.json`), '--local-socket', socket]);
  t.teardown(() => daemon.stop());
  return { daemon, socket };
}

function localEnv(socket: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LD_LIBRARY_PATH: clientLibraryDir, GPUPOOL_LOCAL_SOCKET: socket, ...extra };
  delete env.GPUPOOL_SERVERS;
  return env;
}

const { daemon, socket } = await startDaemon('ring', QUICK_CONFIG);
const driverApi = buildProgram('driver_api.c');
const fatbin = buildFatbin();
const largeCopies = buildProgram('large_copies.c');
const streamed = buildProgram('streamed_copies.c');

/** Runs a job to its end; its session's last figures (the daemon's `session freed` line). */
async function runJob(args: [string, ...string[]], env: NodeJS.ProcessEnv, on = daemon) {
  const seen = new Set(on.logs);
  const result = await runProcess(args[0], args.slice(1), env);
  // This job's session (another's end may be logged meanwhile): its id from the connection's line.
  const name = args[0].split('/').pop()!;
  const connected = await on.waitFor((l) => !seen.has(l) && l.msg === 'client connected' && String(l.program).includes(name));
  const freed = await on.waitFor((l) => !seen.has(l) && l.msg === 'session freed' && l.session === connected.session);
  return { result, stats: freed.stats as { callRing: boolean; calls: number; messages: number } };
}

t.test('every kind of call goes through the ring, results checked', async (t) => {
  const { result, stats } = await runJob([driverApi, fatbin], localEnv(socket, { GPUPOOL_DEBUG: '1' }));
  t.equal(result.code, 0, 'driver_api passed', { output: (result.stdout + result.stderr).slice(-3000) });
  t.notMatch(result.stderr, /FAIL/, 'no check failed');
  t.match(result.stderr, /calls go through a shared-memory ring/, 'the client library says it took the ring');
  t.equal(stats.callRing, true, 'the session\'s calls came through its ring');
  t.ok(stats.calls > 50, `the session ran the job's calls (${stats.calls})`);
});

t.test('copies too large for a record go on the socket, in order with the small calls on the ring', async (t) => {
  // Shared memory off: a copy's bytes travel in its message, 16 MiB slices far beyond a record.
  const { result, stats } = await runJob([largeCopies, '1', '3', '17s', '33a'], localEnv(socket, { GPUPOOL_SHARED_MEMORY: '0' }));
  t.equal(result.code, 0, 'large_copies passed', { output: (result.stdout + result.stderr).slice(-3000) });
  t.match(result.stdout, /^PASS$/m, 'every byte checked');
  t.equal(stats.callRing, true, 'through the ring');
});

t.test('asynchronous device-to-host copies answer through the ring, in order', async (t) => {
  const { result, stats } = await runJob([streamed, '64', '1'], localEnv(socket, { GPUPOOL_SHARED_MEMORY: '0' }));
  t.equal(result.code, 0, 'streamed_copies passed', { output: (result.stdout + result.stderr).slice(-3000) });
  t.match(result.stdout, /^PASS/m, 'every byte checked');
  t.equal(stats.callRing, true, 'through the ring');
});

const ringLaunches = buildProgram('ring_launches.c');

t.test('a stream of asynchronous launches runs whole through the ring', async (t) => {
  const n = 20000;
  const { result, stats } = await runJob([ringLaunches, fatbin, 'burst', String(n)], localEnv(socket));
  t.equal(result.code, 0, 'ring_launches passed', { output: (result.stdout + result.stderr).slice(-3000) });
  t.match(result.stdout, /^PASS$/m, 'every launch and the synchronisation succeeded');
  t.equal(stats.callRing, true, 'through the ring');
  t.ok(stats.calls >= n, `the session ran every launch (${stats.calls} calls, ${stats.messages} messages)`);
});

t.test('launches held back for a batch reach the session with no synchronising call', async (t) => {
  // The client library holds launches back while the session runs earlier ones; the session asks for
  // them when it finds the ring empty. The sender thread's own look (every 5 s at most) is too late for this deadline.
  const n = 5000;
  const job = spawn(ringLaunches, [fatbin, 'held', String(n)], { env: localEnv(socket), stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = once(job, 'exit');
  let out = '';
  job.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await eventually('the job\'s launches', () => (out.includes('launched') ? true : undefined), 60_000);
  const launchedAt = Date.now();
  const mine = await eventually(
    `the session running all ${n} launches`,
    async () => {
      const sessions = ((await (await fetch(`${daemon.url}/v1/status`)).json()) as { compute: { sessions: SessionInfo[] } }).compute.sessions;
      return sessions.find((s) => String(s.program).includes('ring_launches') && ((s.stats as { calls?: number } | null)?.calls ?? 0) >= n);
    },
    4000,
  );
  t.ok(mine, `the session ran them ${Date.now() - launchedAt} ms after the job said it had launched them`);
  job.stdin.end('go\n');
  const [code] = await exited;
  t.equal(code, 0, 'the job synchronised and passed');
  t.match(out, /^PASS$/m, 'every call succeeded');
});

t.test('status shows a live session\'s calls on the ring', async (t) => {
  const job = spawn(largeCopies, ['64', '64', '64', '64'], { env: localEnv(socket, { GPUPOOL_SHARED_MEMORY: '0' }), stdio: 'ignore' });
  const exited = once(job, 'exit');
  const mine = await eventually('the job\'s session in status', async () => {
    const sessions = ((await (await fetch(`${daemon.url}/v1/status`)).json()) as { compute: { sessions: SessionInfo[] } }).compute.sessions;
    return sessions.find((s) => String(s.program).includes('large_copies') && s.transport.calls === 'ring');
  });
  t.equal(mine.transport.socket, 'unix', 'on the Unix socket');
  t.equal(mine.transport.reader, 'native', 'read natively');
  t.equal(mine.transport.calls, 'ring', 'its calls through the ring');
  const [code] = await exited;
  t.equal(code, 0, 'the job passed');
});

t.test('GPUPOOL_CALL_RING=0: the job runs on the socket', async (t) => {
  const { result, stats } = await runJob([driverApi, fatbin], localEnv(socket, { GPUPOOL_CALL_RING: '0' }));
  t.equal(result.code, 0, 'driver_api passed', { output: (result.stdout + result.stderr).slice(-3000) });
  t.equal(stats.callRing, false, 'no ring');
});

t.test('a daemon that refuses rings (compute.callRingBytes 0): the job falls back to the socket', async (t) => {
  const off = await startDaemon('no-ring', { ...QUICK_CONFIG, compute: { callRingBytes: 0 } });
  const { result, stats } = await runJob([driverApi, fatbin], localEnv(off.socket, { GPUPOOL_DEBUG: '1' }), off.daemon);
  t.equal(result.code, 0, 'driver_api passed', { output: (result.stdout + result.stderr).slice(-3000) });
  t.match(result.stderr, /refused the call ring/, 'the client library says why it stays on the socket');
  t.equal(stats.callRing, false, 'no ring');
});

// ---- hostile clients on the raw socket -------------------------------------------------------------

const ops = loadOpTable();
const unpackr = new Unpackr({ int64AsType: 'number', useRecords: false });
const rawProgram = buildProgram('shm_raw_client.c');
const RING_HEADER = 4096;
const MIN_RING = RING_HEADER + 2 * 65536;

/** shm_raw_client: one command a line, one answer a line. */
class RawClient extends RawLines {
  private seq = 1;

  static async open(): Promise<RawClient> {
    const hello = helloMessage({ digest: ops.digest, program: 'ring-hostile' });
    const c = new RawClient(spawn(rawProgram, [socket, hello.toString('hex')], { env: localEnv(socket) }));
    t.equal(await c.next(), 'welcome', 'the daemon welcomed the raw client');
    return c;
  }

  /** A ring of `bytes` in a memfd of that kind, then its frame: the CUresult. */
  async ring(kind: 'ring' | 'unsealed', bytes: number): Promise<number> {
    t.equal(await this.send(`fd ${kind} ${bytes}`), 'ok');
    const line = await this.send(`call ${frame(sharedMemoryOps.shm_ring, this.seq++, 0, frameValues('shm_ring', { bytes })).toString('hex')}`);
    if (!line.startsWith('reply ')) throw new Error(`no reply: ${line}`);
    const [, rc] = unpackr.unpack(Buffer.from(line.slice(6), 'hex')) as [number, number];
    return rc;
  }

  /** Writes bytes at an offset of the ring (the session's bell rung), then waits for what the daemon says. */
  async poke(...writes: [number, Buffer][]): Promise<string> {
    for (const [offset, bytes] of writes) t.equal(await this.send(`poke ${offset} ${bytes.toString('hex')}`), 'ok');
    return this.send('read');
  }
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
}

/** A record [u32 length, u32 kind] and its payload. */
function record(kind: number, payload: Buffer, length = payload.length): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(length, 0);
  head.writeUInt32LE(kind, 4);
  return Buffer.concat([head, payload, Buffer.alloc((8 - (payload.length % 8)) % 8)]);
}

const CUDA_ERROR_INVALID_VALUE = 1;

t.test('a hostile client\'s bad rings are refused with clear errors', async (t) => {
  const c = await RawClient.open();
  t.teardown(() => c.close());
  t.equal(await c.ring('ring', MIN_RING + 4096), CUDA_ERROR_INVALID_VALUE, 'a size no ring has: CUDA_ERROR_INVALID_VALUE');
  t.equal(await c.ring('unsealed', MIN_RING), CUDA_ERROR_INVALID_VALUE, 'an unsealed memfd: CUDA_ERROR_INVALID_VALUE');
  t.equal(await c.ring('ring', MIN_RING), 0, 'a good ring is taken');
});

// Each breaks the ring its own way; the session checks what it reads, and ends with 4002.
const broken: [string, (Buffer | [number, Buffer])[]][] = [
  ['a request head far past the ring', [[0, u64(1n << 40n)]]],
  ['a head that is no whole record', [[0, u64(12n)]]],
  ['a record longer than the ring allows', [[RING_HEADER, record(1, Buffer.alloc(8), 0x7fffffff)], [0, u64(16n)]]],
  ['a record of no kind', [[RING_HEADER, record(9, Buffer.alloc(8))], [0, u64(16n)]]],
  ['a record that says it wraps at the ring\'s start', [[RING_HEADER, record(3, Buffer.alloc(0))], [0, u64(8n)]]],
  ['a message that is no call frame', [[RING_HEADER, record(1, Buffer.from('c1c1c1c1c1c1c1c1', 'hex'))], [0, u64(16n)]]],
];
for (const [what, writes] of broken) {
  t.test(`${what}: that session ends (4002), the daemon goes on`, async (t) => {
    const c = await RawClient.open();
    t.teardown(() => c.close());
    t.equal(await c.ring('ring', MIN_RING), 0, 'a ring');
    const said = await c.poke(...(writes as [number, Buffer][]));
    t.equal(said, 'closed 4002', 'the session ends with a protocol error');
  });
}

t.test('after the hostile clients the daemon serves a job through its ring', async (t) => {
  const { result, stats } = await runJob([driverApi, fatbin], localEnv(socket));
  t.equal(result.code, 0, 'driver_api passed', { output: (result.stdout + result.stderr).slice(-3000) });
  t.equal(stats.callRing, true, 'through the ring');
});
