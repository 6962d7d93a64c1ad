/**
 * The pool of idle session workers (src/compute/worker-pool.ts, config `compute.workerPoolSize`,
 * docs/architecture.md): real worker processes on the emulated driver. The pool starts its workers
 * and each says READY; a session takes one and the pool starts another; a worker killed while idle is
 * replaced, and never handed out even before the daemon's event loop has seen it die; the pool's stop
 * ends its idle workers. Then through a daemon: a session runs in a worker the pool had started before
 * the client connected, and the pool is full again after it.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { loadComputeAddon } from '../../src/compute/native.js';
import { WorkerMsg } from '../../src/compute/worker-channel.js';
import { WorkerPool } from '../../src/compute/worker-pool.js';
import { emulatedDriver, emulatedKernels } from '../../src/paths.js';
import { ProtocolClient, helloMessage, loadOpTable } from '../../src/protocol/client.js';
import { DaemonProcess, running } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, computeStatus, eventually, writeConfig } from '../helpers/integration.js';

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
process.env.GPUPOOL_SIM_FIXTURE = fixture.path;
process.env.GPUPOOL_EMU_KERNELS = emulatedKernels;
const driver = await loadComputeAddon().openDriver(emulatedDriver);
const settings = { heartbeatMs: 100, scheduler: { sliceUs: 2000, paceDepth: 2, idleGraceUs: 200 } };

/** The live session workers whose parent is `ppid`. */
function workersOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const [st, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (comm.startsWith('gpupool-session') && Number(parent) === ppid && st !== 'Z') out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

t.test('the pool starts its workers, READY with the driver open', async (t) => {
  const pool = new WorkerPool(2, driver, settings);
  t.teardown(() => pool.stop());
  const pids = await eventually('two idle workers', () => (pool.idlePids.length === 2 ? pool.idlePids : undefined));
  t.ok(pids.every(running), `workers ${pids.join(', ')} run`);
  t.same(workersOf(process.pid).sort(), [...pids].sort(), 'and they are this process\'s children');
});

t.test('a session takes an idle worker, which runs it; the pool starts another', async (t) => {
  const pool = new WorkerPool(2, driver, settings);
  t.teardown(() => pool.stop());
  const idle = await eventually('two idle workers', () => (pool.idlePids.length === 2 ? [...pool.idlePids] : undefined));
  const worker = pool.take();
  t.ok(worker && idle.includes(worker.pid!), `an idle worker was taken (${worker?.pid})`);
  t.ok(worker!.ready, 'ready: its driver was open before the session came');
  const frames: number[] = [];
  const closed = new Promise<void>((resolve) =>
    worker!.listen({
      frame: (type) => {
        frames.push(type);
        if (type === WorkerMsg.CLOSED) resolve();
      },
      malformed: () => {},
      spawnFailed: () => {},
      exited: () => {},
    }),
  );
  // Session 1 of the worker's channel (0 is the process's own).
  worker!.send(WorkerMsg.START, JSON.stringify({ quota: [] }), 1);
  worker!.send(WorkerMsg.CLOSE, undefined, 1);
  await closed;
  t.ok(frames.includes(WorkerMsg.STATS), 'it ran the session (its stats came, then its end)');
  worker!.end();
  const refilled = await eventually('the pool full again', () => (pool.idlePids.length === 2 ? [...pool.idlePids] : undefined));
  t.equal(refilled.filter((pid) => !idle.includes(pid)).length, 1, 'with one new worker in place of the taken one');
  await eventually('the taken worker gone after its end', () => (running(worker!.pid!) ? undefined : true));
});

t.test('workers killed while idle are never handed out, and are replaced', async (t) => {
  const pool = new WorkerPool(2, driver, settings);
  t.teardown(() => pool.stop());
  const idle = await eventually('two idle workers', () => (pool.idlePids.length === 2 ? [...pool.idlePids] : undefined));
  for (const pid of idle) process.kill(pid, 'SIGKILL');
  // Synchronously, so that this event loop cannot see them die first: the pool must find out itself.
  const deadline = Date.now() + 5000;
  while (idle.some(running) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  t.notOk(idle.some(running), 'both are dead (zombies not yet reaped)');
  t.same(pool.idlePids.sort(), [...idle].sort(), 'the pool has not heard of it yet');
  t.equal(pool.take(), null, 'take() hands out neither dead worker');
  const fresh = await eventually('two new idle workers', () => (pool.idlePids.length === 2 && pool.idlePids.every((p) => !idle.includes(p)) ? [...pool.idlePids] : undefined));
  t.ok(fresh.every(running), `replaced by ${fresh.join(', ')}`);
  const taken = pool.take();
  t.ok(taken && fresh.includes(taken.pid!) && running(taken.pid!), 'a live one is handed out');
  taken?.end();
});

t.test('the pool\'s stop ends its idle workers', async (t) => {
  const pool = new WorkerPool(2, driver, settings);
  const idle = await eventually('two idle workers', () => (pool.idlePids.length === 2 ? [...pool.idlePids] : undefined));
  pool.stop();
  t.same(pool.idlePids, [], 'none idle after the stop');
  await eventually('the idle workers gone', () => (idle.some(running) ? undefined : true), 3000);
  t.pass(`workers ${idle.join(', ')} exited, this process still running`);
  await sleep(300);
  t.same(workersOf(process.pid), [], 'and none was started after the stop');
});

t.test('through a daemon: a session runs in a worker started before it came; the pool refills', async (t) => {
  const ops = loadOpTable();
  const config = { ...QUICK_CONFIG, compute: { sessionProcess: 'process', workerPoolSize: 2, workerHeartbeatMs: 100 } };
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, config)]);
  t.teardown(() => daemon.stop());
  const pid = daemon.child.pid!;
  const idle = await eventually('the daemon\'s two idle workers', () => {
    const w = workersOf(pid);
    return w.length === 2 ? w : undefined;
  });
  const { client } = await ProtocolClient.connect(`${daemon.url.replace(/^http/, 'ws')}/v1/compute`, helloMessage({ digest: ops.digest, program: 'pooled' }));
  t.teardown(() => client.terminate());
  const reply = await client.call(ops.code('cuDevicePrimaryCtxRetain_v7000'), 0, true, 0);
  t.equal(reply.rc, 0, 'its first call is answered');
  const session = (await computeStatus(daemon)).sessions.find((s) => s.program === 'pooled');
  t.ok(session?.workerPid && idle.includes(session.workerPid), `its worker ${session?.workerPid} was one of the idle ${idle.join(', ')}`);
  const after = await eventually('the pool full again', () => {
    const w = workersOf(pid).filter((p) => p !== session?.workerPid);
    return w.length === 2 ? w : undefined;
  });
  t.equal(after.filter((p) => !idle.includes(p)).length, 1, 'one new idle worker beside the one left');
  client.ws.close(1000);
  await client.closed;
  await eventually('the session\'s worker gone with its session', () => (running(session!.workerPid!) ? undefined : true));
  await daemon.stop();
  t.same(after.filter(running), [], 'the daemon\'s stop ended its idle workers');
});
