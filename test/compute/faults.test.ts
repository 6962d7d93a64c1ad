/**
 * Faults and bad input on the cross-pull path: a daemon that dies, is stopped or freezes under a
 * running job (with sessions in worker processes: the worker that answers its calls freezes, and a
 * frozen daemon stops none); clients that send garbage, speak another protocol or leave everything
 * allocated; kernels the daemon cannot run; and what `gpupool run` reports for its job. Everything runs over loopback
 * against `gpupool daemon --simulate` (the emulated driver, docs/emulator.md).
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Unpackr, pack } from 'msgpackr';
import WebSocket from 'ws';
import { packageRoot } from '../../src/paths.js';
import { encodeHello, type Hello } from '../../src/compute/handshake.js';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { NO_REQUEST } from '../../src/sharing/quota.js';
import { DaemonProcess, running, type LogLine } from '../helpers/daemon-process.js';
import { PROMPT_MS, runJob as gpupoolRun, startJob as job, within } from '../helpers/job-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { freeze } from '../helpers/freeze.js';
import { QUICK_CONFIG, eventually, writeConfig } from '../helpers/integration.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';

const fatbin = buildFatbin();
const driverApi = buildProgram('driver_api.c');
const lostDaemon = buildProgram('lost_daemon.c');
const leaky = buildProgram('leaky.c');
const exitStatus = buildProgram('exit_status.c');
const unknownKernel = buildProgram('unknown_kernel.cu');

/** leaky.c's three buffers: 1 MiB + 64 KiB + 4 KiB. */
const LEAKED_BYTES = (1 << 20) + (1 << 16) + 4096;

interface OpsJson {
  digest: string;
  ops: { code: number; id: string }[];
}
const opsJson = JSON.parse(readFileSync(join(packageRoot, 'build', 'gen', 'ops.json'), 'utf8')) as OpsJson;
function op(id: string): number {
  const found = opsJson.ops.find((o) => o.id === id);
  if (!found) throw new Error(`no op ${id} in ops.json`);
  return found.code;
}

/** A daemon of its own for one test, stopped (whatever state it is in) when the test ends. */
async function startDaemon(t: Test, config: object = {}): Promise<{ daemon: DaemonProcess; server: string }> {
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, { ...QUICK_CONFIG, ...config })]);
  t.teardown(async () => {
    // A frozen daemon cannot act on SIGTERM: wake it first.
    if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGCONT');
    await daemon.stop('SIGKILL');
  });
  return { daemon, server: daemon.url.replace(/^http/, 'ws') };
}

async function sessions(daemon: DaemonProcess): Promise<SessionInfo[]> {
  const res = await fetch(`${daemon.url}/v1/status`);
  if (res.status !== 200) throw new Error(`GET /v1/status answered ${res.status}`);
  return ((await res.json()) as { compute: { sessions: SessionInfo[] } }).compute.sessions;
}

/** Waits until the daemon's status lists no compute session. */
function noSessions(daemon: DaemonProcess): Promise<true> {
  return eventually('no compute session in /v1/status', async () => ((await sessions(daemon)).length === 0 ? true : undefined), PROMPT_MS);
}

/** The first log line from index `from` on that matches, waiting for it. */
function logLine(daemon: DaemonProcess, from: number, what: string, match: (l: LogLine) => boolean): Promise<LogLine> {
  return eventually(what, () => daemon.logs.slice(from).find(match), PROMPT_MS);
}

/** The session id of the first client running `program` that connected after log line `from`. */
async function sessionOf(daemon: DaemonProcess, from: number, program: string): Promise<number> {
  const line = await logLine(daemon, from, `${program} connecting`, (l) => l.msg === 'client connected' && l.program === program);
  return line.session as number;
}

/** The "session freed" line of session `id`, and its stats: what the session still held after teardown. */
function freed(daemon: DaemonProcess, id: number): Promise<LogLine> {
  return logLine(daemon, 0, `session ${id} freed`, (l) => l.msg === 'session freed' && l.session === id);
}

const UNAVAILABLE = /^cuMemAlloc CUDA_ERROR_DEVICE_UNAVAILABLE\ncuCtxSynchronize CUDA_ERROR_DEVICE_UNAVAILABLE\ncuMemcpyHtoD CUDA_ERROR_DEVICE_UNAVAILABLE\nall unavailable$/m;
const LOST = /^gpupool: lost the daemon at (?:ws:\/\/127\.0\.0\.1:\d+|unix:\/\/\S+) \(.+\); its devices now fail with CUDA_ERROR_DEVICE_UNAVAILABLE$/m;

t.test('a daemon killed under a running job: every later call is CUDA_ERROR_DEVICE_UNAVAILABLE, no hang, no crash', async (t) => {
  const { daemon, server } = await startDaemon(t);
  const j = job(t, server, [lostDaemon]);
  await j.output(/^ready \d+$/m);
  const [session] = await sessions(daemon);
  const workerPid = session!.workerPid;
  t.ok(workerPid, 'the session runs in a worker process');
  await daemon.stop('SIGKILL');
  // No waiting for the client to notice: its calls may race with the connection's end. Over a Unix
  // socket they go by the call ring straight to the worker, which must not answer them.
  j.line();
  t.equal(await j.finished(), 0, `the program exits on its own, status 0\n${j.stdout}${j.stderr}`);
  t.match(j.stdout, UNAVAILABLE, 'cuMemAlloc, cuCtxSynchronize and cuMemcpyHtoD all failed with CUDA_ERROR_DEVICE_UNAVAILABLE');
  t.match(j.stderr, LOST, 'the client library said it lost the daemon, naming it');
  t.equal(j.stderr.match(/lost the daemon/g)?.length, 1, 'once');
  t.ok(await eventually('the worker gone', () => (running(workerPid!) ? undefined : true), PROMPT_MS), 'the worker died with its daemon');
});

t.test('a daemon stopped with SIGTERM closes the session with 4005; the job carries on the same way', async (t) => {
  const { daemon, server } = await startDaemon(t);
  const from = daemon.logs.length;
  const j = job(t, server, [lostDaemon]);
  await j.output(/^ready \d+$/m);
  const id = await sessionOf(daemon, from, lostDaemon);
  t.equal(await within(daemon.stop('SIGTERM'), PROMPT_MS, 'the daemon stopping'), 0, 'the daemon stops cleanly while the client idles');
  const closed = await logLine(daemon, from, 'the disconnect', (l) => l.msg === 'client disconnected' && l.session === id);
  t.equal(closed.code, 4005, 'the client answered the close: the daemon saw its own code, not an abnormal 1006');
  t.match((await freed(daemon, id)).stats, { handles: 0, contexts: 0, allocations: 0, allocatedBytes: 0 }, 'the session was freed before the daemon exited');
  await j.output(LOST, 'stderr');
  j.line();
  t.equal(await j.finished(), 0, `the program exits on its own, status 0\n${j.stdout}${j.stderr}`);
  t.match(j.stdout, UNAVAILABLE);
});

/**
 * The process that answers a session's calls: the daemon, or the session's worker when sessions run
 * in processes of their own (config `compute.sessionProcess`; status names its pid).
 */
async function serverOfCalls(daemon: DaemonProcess, id: number): Promise<{ pid: number; what: string }> {
  const session = (await sessions(daemon)).find((s) => s.id === id);
  if (!session) throw new Error(`no session ${id} in /v1/status`);
  return session.workerPid !== null ? { pid: session.workerPid, what: 'its session worker' } : { pid: daemon.child.pid!, what: 'the daemon' };
}

t.test('a frozen server (SIGSTOP) fails the call in flight after GPUPOOL_TIMEOUT_MS; an idle client is kept alive by pings', async (t) => {
  // Frozen longer than the client's timeout, a worker would be taken for hung by the daemon: what this
  // pins is what the client notices on its own.
  const { daemon, server } = await startDaemon(t, { compute: { workerHangMs: 600_000 } });
  const from = daemon.logs.length;
  const j = job(t, server, [lostDaemon, '--hold'], { GPUPOOL_TIMEOUT_MS: '2000' });
  await j.output(/^ready \d+$/m);
  const id = await sessionOf(daemon, from, lostDaemon);
  // Idle for longer than the timeout: the client's own pings must keep a healthy daemon from
  // being taken for a lost one.
  await new Promise((r) => setTimeout(r, 3000));
  t.notMatch(j.stderr, /lost the daemon/, 'an idle connection to a healthy daemon outlives GPUPOOL_TIMEOUT_MS');
  t.equal((await sessions(daemon)).length, 1);

  const frozen = await serverOfCalls(daemon, id);
  t.teardown(() => wake(frozen.pid));
  await freeze(frozen.pid);
  j.line(); // cuMemAlloc goes out and is never answered
  await j.output(/^holding$/m);
  t.match(j.stdout, UNAVAILABLE, `the call in flight and the later ones fail once ${frozen.what} has been silent too long`);
  t.match(j.stderr, LOST);

  // The client gave the connection up: once the server runs again it sees the end at once and the
  // session is freed, while the program is still alive.
  process.kill(frozen.pid, 'SIGCONT');
  t.match((await freed(daemon, id)).stats, { handles: 0, contexts: 0, allocations: 0 }, 'the session is freed while the program still runs');
  t.equal(j.child.exitCode, null, 'the program was still holding');
  t.equal(await noSessions(daemon), true);
  j.line();
  t.equal(await j.finished(), 0, `${j.stdout}${j.stderr}`);
});

t.test('sessions in worker processes: a frozen daemon (SIGSTOP) stops no call; its workers answer on', async (t) => {
  const { daemon, server } = await startDaemon(t, { compute: { sessionProcess: 'process' } });
  const from = daemon.logs.length;
  const j = job(t, server, [lostDaemon, '--hold'], { GPUPOOL_TIMEOUT_MS: '2000' });
  await j.output(/^ready \d+$/m);
  const id = await sessionOf(daemon, from, lostDaemon);
  t.not((await serverOfCalls(daemon, id)).pid, daemon.child.pid, 'the session runs in a worker');

  t.teardown(() => wake(daemon.child.pid!));
  await freeze(daemon.child.pid!);
  j.line(); // cuMemAlloc, cuCtxSynchronize, cuMemcpyHtoD: the worker answers each
  await j.output(/^holding$/m);
  t.match(j.stdout, /^cuMemAlloc CUDA_SUCCESS\ncuCtxSynchronize CUDA_SUCCESS\ncuMemcpyHtoD CUDA_SUCCESS$/m, 'every call succeeds while the daemon is frozen');
  t.notMatch(j.stderr, /lost the daemon/, 'the client never took its session for lost');

  daemon.child.kill('SIGCONT');
  j.line();
  t.equal(await j.finished(), 1, `lost_daemon exits 1: none of its calls was lost\n${j.stdout}${j.stderr}`);
  t.match((await freed(daemon, id)).stats, { handles: 0, contexts: 0, allocations: 0 }, 'the session is freed once the daemon runs again');
});

/** A process this test froze runs again, whatever the test's end (it may have exited since). */
function wake(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // gone already
  }
}

/** A raw WebSocket client of /v1/compute: every message it gets, and how the daemon closed it. */
class RawClient {
  readonly ws: WebSocket;
  readonly received: Buffer[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly open: Promise<void>;

  constructor(server: string) {
    this.ws = new WebSocket(`${server}/v1/compute`, { perMessageDeflate: false });
    this.open = once(this.ws, 'open').then(() => undefined);
    this.ws.on('message', (data: Buffer) => this.received.push(data));
    this.ws.on('error', () => {}); // the close that follows says what happened
    this.closed = once(this.ws, 'close').then(([code, reason]) => ({ code: code as number, reason: (reason as Buffer).toString() }));
  }

  /** The next message, waiting for it (or failing when the connection closes first). */
  async next(): Promise<Buffer> {
    await eventually('a message from the daemon', () => {
      if (this.received.length > 0) return true;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('closed');
      return undefined;
    }, PROMPT_MS);
    return this.received.shift()!;
  }

  async send(data: Buffer): Promise<void> {
    await this.open;
    this.ws.send(data);
  }

  async close(): Promise<{ code: number; reason: string }> {
    return within(this.closed, PROMPT_MS, 'the daemon closing the connection');
  }
}

const unpackr = new Unpackr({ int64AsType: 'number', mapsAsObjects: true });
function hello(fields: Partial<Hello> = {}): Buffer {
  return encodeHello({ protocol: 1, digest: opsJson.digest, cuda: 13000, token: null, pid: process.pid, host: 'faults-test', program: 'raw-client', ...fields });
}

/** Deterministic noise: a fixed-seed LCG, so a failure reproduces byte for byte. */
function noise(bytes: number, seed = 0x5eed): Buffer {
  const out = Buffer.alloc(bytes);
  let x = seed;
  for (let i = 0; i < bytes; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 16;
  }
  return out;
}

t.test('bad input on /v1/compute: the daemon closes with 4001/4002 and a reason, and still serves', async (t) => {
  const { daemon, server } = await startDaemon(t);
  const status = (await (await fetch(`${daemon.url}/v1/status`)).json()) as { compute: { protocolDigest: string } };
  t.equal(status.compute.protocolDigest, opsJson.digest, 'the daemon runs the op table build/gen/ops.json describes');

  t.test('random bytes after a valid handshake and real calls: 4002, and the session\'s memory is freed', async (t) => {
    const from = daemon.logs.length;
    const c = new RawClient(server);
    t.teardown(() => c.ws.terminate());
    await c.send(hello({ request: { ...NO_REQUEST, gpus: 'all' } }));
    const welcome = unpackr.unpack(await c.next()) as { session: number; digest: string; devices: unknown[] };
    t.equal(welcome.digest, opsJson.digest);
    t.equal(welcome.devices.length, 2, 'WELCOME lists the fixture\'s NVIDIA cards (gpus=all)');
    await c.send(pack([op('cuDevicePrimaryCtxRetain_v7000'), 1, 0, true, 0]));
    const [seq1, rc1, ctx] = unpackr.unpack(await c.next()) as [number, number, number];
    t.same([seq1, rc1], [1, 0], 'a context retained');
    await c.send(pack([op('cuMemAlloc_v3020'), 2, BigInt(ctx), true, 1 << 20]));
    const [seq2, rc2] = unpackr.unpack(await c.next()) as [number, number];
    t.same([seq2, rc2], [2, 0], '1 MiB allocated');
    const live = await eventually('the raw client\'s stats in /v1/status', async () => {
      const s = (await sessions(daemon)).find((s) => s.id === welcome.session);
      return s?.stats?.allocations === 1 ? s : undefined;
    }, PROMPT_MS);
    t.match(live, { program: 'raw-client', host: 'faults-test', pid: process.pid, stats: { contexts: 1, allocations: 1, allocatedBytes: 1 << 20 } });

    await c.send(noise(256));
    const { code, reason } = await c.close();
    t.equal(code, 4002, 'a protocol error');
    t.ok(reason.length > 0, `with a reason: ${reason}`);
    const logged = await logLine(daemon, from, 'the protocol error in the log', (l) => l.msg === 'session ended by a protocol error' && l.session === welcome.session);
    t.equal(logged.reason, reason, 'the log gives the same reason');
    t.equal(await noSessions(daemon), true, 'no leftover session');
    const meminfo = await gpupoolRun(server, [leaky, '--meminfo']);
    const [, free, total] = /^free (\d+) total (\d+)$/m.exec(meminfo.stdout) ?? [];
    t.ok(free !== undefined && free === total, `device 0 has all its memory free again (${meminfo.stdout.trim()}${meminfo.stderr})`);
  });

  t.test('an unknown op number: 4002 naming it', async (t) => {
    const c = new RawClient(server);
    t.teardown(() => c.ws.terminate());
    await c.send(hello());
    await c.next();
    await c.send(pack([100000, 1, 0]));
    t.match(await c.close(), { code: 4002, reason: /unknown operation 100000/ });
    t.equal(await noSessions(daemon), true);
  });

  t.test('a second HELLO once the session runs is not a call frame: 4002', async (t) => {
    const c = new RawClient(server);
    t.teardown(() => c.ws.terminate());
    await c.send(hello());
    await c.next();
    await c.send(hello());
    const { code, reason } = await c.close();
    t.equal(code, 4002, `closed: ${reason}`);
    t.equal(await noSessions(daemon), true);
  });

  const refusals: [string, Buffer, number, RegExp][] = [
    ['a HELLO with another op table digest', hello({ digest: '0000000000000000' }), 4001, /op table 0000000000000000/],
    ['a HELLO of another protocol version', hello({ protocol: 2 }), 4001, /protocol 2 is not 1/],
    ['a HELLO that is not msgpack', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 4002, /HELLO is not msgpack/],
    ['a HELLO cut short', hello().subarray(0, 12), 4002, /HELLO is not msgpack/],
    ['a HELLO that is not a map', pack([1, opsJson.digest]), 4002, /HELLO is not a map/],
  ];
  for (const [what, bytes, expected, reason] of refusals) {
    t.test(`${what}: ${expected}`, async (t) => {
      const from = daemon.logs.length;
      const c = new RawClient(server);
      t.teardown(() => c.ws.terminate());
      await c.send(bytes);
      t.match(await c.close(), { code: expected, reason });
      t.equal(c.received.length, 0, 'no WELCOME');
      await logLine(daemon, from, 'the refusal in the log', (l) => l.msg === 'handshake refused');
      t.equal(await noSessions(daemon), true);
    });
  }

  t.test('after all that, an unmodified program still runs', async (t) => {
    const run = await gpupoolRun(server, [driverApi, fatbin]);
    t.equal(run.code, 0, `driver_api exits 0\n${run.stdout}${run.stderr}`);
    t.match(run.stdout, /^PASS$/m);
    t.equal(await noSessions(daemon), true);
    t.equal(daemon.child.exitCode, null, 'the daemon is still running');
  });
});

t.test('kernels the daemon cannot run, and a daemon that outlives them', async (t) => {
  const { daemon, server } = await startDaemon(t);
  const from = daemon.logs.length;
  const run = await gpupoolRun(server, [unknownKernel]);
  t.equal(run.code, 3, `the program exits with its own status\n${run.stdout}${run.stderr}`);
  t.match(run.stdout, /^cudaMalloc: cudaSuccess \(0\)$/m);
  t.match(run.stdout, /^mystery: cudaErrorNoKernelImageForDevice \(209\)$/m, 'a kernel no kernel library implements has no image for the device');
  t.match(run.stdout, /^after mystery: cudaSuccess \(0\)$/m, 'which is not sticky');
  t.match(run.stdout, /^poke: cudaErrorIllegalAddress \(700\)$/m, 'a write outside every allocation is an illegal address');
  t.match(run.stdout, /^after poke: cudaErrorIllegalAddress \(700\)$/m, 'which is sticky');
  t.notMatch(run.stderr, /lost the daemon/);
  const id = await sessionOf(daemon, from, unknownKernel);
  t.match((await freed(daemon, id)).stats, { handles: 0, contexts: 0, allocations: 0, allocatedBytes: 0, deferredError: 0 }, 'the session and its failed context are freed');
  t.equal(await noSessions(daemon), true);
  const res = await fetch(`${daemon.url}/v1/status`);
  t.equal(res.status, 200, 'the daemon still answers');
  t.equal(daemon.child.exitCode, null, 'and still runs');
});

t.test('nothing is left allocated by a client that exits or is killed without cleaning up', async (t) => {
  const { daemon, server } = await startDaemon(t);
  /** cuMemGetInfo(device 0) from a fresh client: counts every allocation of the daemon's process. */
  const freeBytes = async (): Promise<number> => {
    const run = await gpupoolRun(server, [leaky, '--meminfo']);
    const m = /^free (\d+) total (\d+)$/m.exec(run.stdout);
    if (run.code !== 0 || !m) throw new Error(`leaky --meminfo failed (${run.code}): ${run.stdout}${run.stderr}`);
    return Number(m[1]);
  };
  const before = await freeBytes();

  t.test('exit(0) with buffers, a stream, an event and a module still held', async (t) => {
    const from = daemon.logs.length;
    const run = await gpupoolRun(server, [leaky, fatbin]);
    t.equal(run.code, 0, `${run.stdout}${run.stderr}`);
    const ready = /^ready \d+ free (\d+) total \d+$/m.exec(run.stdout);
    t.ok(ready, 'the program got everything it asked for');
    t.equal(before - Number(ready?.[1]), LEAKED_BYTES, 'its three buffers counted against the card while it ran');
    const id = await sessionOf(daemon, from, leaky);
    const stats = (await freed(daemon, id)).stats as Record<string, number>;
    t.match(stats, { handles: 0, contexts: 0, allocations: 0, allocatedBytes: 0 }, 'the session held nothing after its teardown');
    t.ok((stats.calls ?? 0) >= 10, `the calls were made (${stats.calls})`);
    t.equal(await noSessions(daemon), true, 'no session remains');
    t.equal(await freeBytes(), before, 'the card\'s free memory is back to what it was');
  });

  t.test('SIGKILL while blocked after allocating', async (t) => {
    const from = daemon.logs.length;
    const j = job(t, server, [leaky, fatbin, '--wait']);
    const [, pid] = (await j.output(/^ready (\d+) /m)) as unknown as [string, string];
    const id = await sessionOf(daemon, from, leaky);
    // A worker's stats reach status on its beat (docs/operations.md): as of at most 100 ms ago.
    const live = await eventually('the leaky session\'s stats in /v1/status', async () => {
      const s = (await sessions(daemon)).find((s) => s.id === id);
      return s?.stats?.allocations === 3 ? s : undefined;
    }, PROMPT_MS);
    t.match(live, { program: leaky, pid: Number(pid), stats: { contexts: 1, allocations: 3, allocatedBytes: LEAKED_BYTES } }, 'the status shows what the client holds');
    t.ok((live?.stats?.handles ?? 0) >= 3, 'a stream, an event and a module among its handles');
    process.kill(Number(pid), 'SIGKILL');
    t.equal(await j.finished(), 137, 'gpupool run reports the job killed by SIGKILL');
    t.match((await freed(daemon, id)).stats, { handles: 0, contexts: 0, allocations: 0, allocatedBytes: 0 });
    t.equal(await noSessions(daemon), true);
    t.equal(await freeBytes(), before);
  });
});

t.test('gpupool run: the job\'s exit status, a program that cannot start, a daemon that cannot be reached', async (t) => {
  const { server } = await startDaemon(t);
  const three = await gpupoolRun(server, [exitStatus, 'exit', '3']);
  t.equal(three.code, 3, 'an exit status passes through');
  t.match(three.stdout, /^cuInit CUDA_SUCCESS$/m);

  const term = await gpupoolRun(server, [exitStatus, 'term']);
  t.equal(term.code, 143, 'a job killed by SIGTERM: 128 + 15');
  t.match(term.stdout, /^cuInit CUDA_SUCCESS$/m);

  const missing = await gpupoolRun(server, ['/nonexistent/gpupool-program', 'arg']);
  t.equal(missing.code, 127, 'a program that does not exist: 127, as a shell says');
  t.match(missing.stderr, /^gpupool run: cannot start \/nonexistent\/gpupool-program: .*ENOENT/m);

  // A port that was just listening and is now closed: nothing answers there.
  const probe = createServer();
  await once(probe.listen(0, '127.0.0.1'), 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const unreachable = await gpupoolRun(`ws://127.0.0.1:${port}`, [exitStatus, 'exit', '0']);
  t.equal(unreachable.code, 0, `the program runs and exits as it chooses\n${unreachable.stderr}`);
  t.match(unreachable.stdout, /^cuInit CUDA_ERROR_NO_DEVICE$/m, 'cuInit fails with CUDA_ERROR_NO_DEVICE');
  t.match(unreachable.stderr, new RegExp(`^gpupool: .*127\\.0\\.0\\.1:${port}.*Connection refused`, 'm'), 'stderr names the address and why');
});
