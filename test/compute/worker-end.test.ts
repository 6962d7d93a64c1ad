/**
 * The order of a session worker's end on its control channel (native/worker/main.cc): the worker
 * sends its session's end (CLOSED), then stays, reading and dropping what the daemon still sends,
 * until the daemon ends the channel; only then does it exit. A worker that shut its side first made
 * the daemon's next write (a ping) fail with EPIPE, and Node destroyed the channel with CLOSED still
 * unread in it: a worker that finished cleanly was judged failed (close 4006, "exited with status
 * 0", about one fuzz connection in 3,000). The same holds for a worker that cannot start: its reason
 * is not lost to a write either; and a worker started ahead of its session (the daemon's pool) waits
 * for START with its driver open, and ends with its channel. A tenant's worker runs several sessions,
 * each under its own number, each ending on its own. The real worker executable, on the
 * emulated driver.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { FrameReader, WorkerMsg, sendFrame } from '../../src/compute/worker-channel.js';
import { workerPath } from '../../src/compute/worker-process.js';
import { emulatedDriver } from '../../src/paths.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());

/** Long enough for a worker that would exit at its end to have exited, many times over. */
const LINGER_MS = 300;

interface Worker {
  child: ChildProcess;
  channel: Socket;
  frames: { type: number; payload: Buffer; session: number }[];
  next(type: number, session?: number): Promise<Buffer>;
  exited: Promise<number | null>;
  errors: Error[];
}

function startWorker(driver: string): Worker {
  const child = spawn(workerPath, [], { env: { ...process.env, GPUPOOL_SIM_FIXTURE: fixture.path }, stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'ignore'] });
  const channel = child.stdio[3] as Socket;
  const frames: { type: number; payload: Buffer; session: number }[] = [];
  const waiters: { type: number; session: number | undefined; resolve: (payload: Buffer) => void }[] = [];
  const errors: Error[] = [];
  const reader = new FrameReader(
    (type, payload, session) => {
      frames.push({ type, payload: Buffer.from(payload), session });
      for (const w of waiters.filter((w) => w.type === type && (w.session === undefined || w.session === session))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(Buffer.from(payload));
      }
    },
    (why) => errors.push(new Error(why)),
  );
  channel.on('data', (chunk: Buffer) => reader.push(chunk));
  channel.on('error', (err) => errors.push(err));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  sendFrame(channel, WorkerMsg.INIT, JSON.stringify({ driver, heartbeatMs: 50 }));
  const next = (type: number, session?: number) =>
    new Promise<Buffer>((resolve) => {
      const seen = frames.find((f) => f.type === type && (session === undefined || f.session === session));
      if (seen) return resolve(seen.payload);
      waiters.push({ type, session, resolve });
    });
  return { child, channel, frames, next, exited, errors };
}

t.test('a session that ends: CLOSED, then the worker waits for the daemon to end the channel, then exits 0', async (t) => {
  const w = startWorker(emulatedDriver);
  t.teardown(() => void w.child.kill('SIGKILL'));
  await w.next(WorkerMsg.READY);
  sendFrame(w.channel, WorkerMsg.START, JSON.stringify({ quota: [] }), 1);
  sendFrame(w.channel, WorkerMsg.CLOSE, undefined, 1);
  // The race, made certain: the daemon has not read the session's end yet when it next writes.
  w.channel.pause();
  await sleep(LINGER_MS);
  t.equal(w.child.exitCode, null, 'the worker is still there after its end, its channel open');
  // What the daemon sends after the end (a ping from its keepalive, a client's late message).
  for (let i = 0; i < 20; i++) sendFrame(w.channel, WorkerMsg.PING, undefined, 1);
  await sleep(50);
  t.same(w.errors, [], 'no write to the worker failed (EPIPE)');
  t.notOk(w.channel.destroyed, 'the channel is still open, its unread bytes with it');
  w.channel.resume();
  const closed = await Promise.race([w.next(WorkerMsg.CLOSED), sleep(5000).then(() => null)]);
  t.ok(closed, 'the session\'s end is read after the writes');
  t.equal(closed && (JSON.parse(closed.toString()) as { reason: string | null }).reason, null, 'a clean end');
  w.channel.end();
  t.equal(await w.exited, 0, 'the daemon ended the channel: the worker exits with status 0');
  t.same(w.frames.filter((f) => f.type === WorkerMsg.CLOSED).map((f) => f.session), [1], 'one CLOSED, the session\'s');
});

t.test('a tenant\'s worker: two sessions, each ends on its own; the worker runs on until the daemon ends the channel', async (t) => {
  const w = startWorker(emulatedDriver);
  t.teardown(() => void w.child.kill('SIGKILL'));
  await w.next(WorkerMsg.READY);
  sendFrame(w.channel, WorkerMsg.START, JSON.stringify({ quota: [] }), 1);
  sendFrame(w.channel, WorkerMsg.START, JSON.stringify({ quota: [] }), 2);
  await Promise.all([w.next(WorkerMsg.STATS, 1), w.next(WorkerMsg.STATS, 2)]);
  t.pass('each session beats under its own number');
  sendFrame(w.channel, WorkerMsg.CLOSE, undefined, 1);
  const first = JSON.parse((await w.next(WorkerMsg.CLOSED, 1)).toString()) as { reason: string | null };
  t.equal(first.reason, null, 'session 1 ended cleanly');
  const at = w.frames.length;
  await sleep(LINGER_MS);
  const later = w.frames.slice(at);
  t.ok(later.some((f) => f.type === WorkerMsg.STATS && f.session === 2), 'session 2 still beats');
  t.notOk(later.some((f) => f.session === 1), 'session 1 says nothing after its end');
  t.equal(w.child.exitCode, null, 'the worker runs on');
  // What a daemon may still send the ended session is dropped; a number never started is ignored.
  sendFrame(w.channel, WorkerMsg.PING, undefined, 1);
  sendFrame(w.channel, WorkerMsg.CLOSE, undefined, 7);
  sendFrame(w.channel, WorkerMsg.CLOSE, undefined, 2);
  t.equal((JSON.parse((await w.next(WorkerMsg.CLOSED, 2)).toString()) as { reason: string | null }).reason, null, 'session 2 ended cleanly');
  w.channel.end();
  t.equal(await w.exited, 0, 'the daemon ended the channel: the worker exits with status 0');
  t.same(w.frames.filter((f) => f.type === WorkerMsg.CLOSED).map((f) => f.session), [1, 2], 'one CLOSED per session');
  t.same(w.errors, [], 'no write failed');
});

t.test('a worker that cannot start sends its reason and keeps it readable until the daemon ends the channel', async (t) => {
  const w = startWorker('/nonexistent/libcuda.so.1');
  t.teardown(() => void w.child.kill('SIGKILL'));
  const closed = JSON.parse((await w.next(WorkerMsg.CLOSED)).toString()) as { reason: string | null };
  t.match(closed.reason, /^driver: /, `its reason: ${closed.reason}`);
  t.notOk(w.frames.some((f) => f.type === WorkerMsg.READY), 'it never said READY');
  await sleep(LINGER_MS);
  t.equal(w.child.exitCode, null, 'it is still there');
  sendFrame(w.channel, WorkerMsg.PING);
  await sleep(50);
  t.same(w.errors, [], 'a write after its reason does not fail');
  w.channel.end();
  t.equal(await w.exited, 1, 'then it exits with status 1');
});

t.test('a worker started ahead of its session waits, its driver open, and exits 0 when its channel ends', async (t) => {
  const w = startWorker(emulatedDriver);
  t.teardown(() => void w.child.kill('SIGKILL'));
  await w.next(WorkerMsg.READY);
  await sleep(LINGER_MS);
  t.equal(w.child.exitCode, null, 'it waits for START');
  t.same(w.frames.map((f) => f.type), [WorkerMsg.READY], 'saying nothing more meanwhile (no heartbeat before a session)');
  w.channel.end();
  t.equal(await w.exited, 0, 'its channel ended: it exits with status 0');
});
