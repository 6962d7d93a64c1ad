/**
 * Copies of any size, and what they leave behind (issue 12, items 9 and 11), on real processes: an
 * unmodified driver-API program (test/programs/large_copies.c) against `gpupool daemon --simulate`.
 * - a 1 GiB synchronous and a 2 GiB asynchronous copy each way, every byte checked: the client
 *   library slices them, so no message reaches compute.maxMessageBytes (1 GiB by default);
 * - once the client is gone, the daemon's resident memory comes back within 100 MiB of its idle
 *   figure, however large the copies that passed through it;
 * - one message of many deferred device-to-host copies (what the client library batches for a burst
 *   of cuMemcpyDtoHAsync, as cuda-samples' simpleStreams makes) is answered in messages of at most
 *   about 16 MiB: the daemon once gathered them into one reply (400 copies of 16 MiB: 6.4 GB, past
 *   Node 20's 4 GiB Buffer maximum, which made node-addon-api free its finalizer data twice and
 *   abort the daemon; issue 12, item 0).
 */
import t from 'tap';
import { clientLibraryDir } from '../../src/paths.js';
import { ProtocolClient, frame, helloMessage, loadOpTable } from '../../src/protocol/client.js';
import { startSimulatedDaemon } from '../helpers/simulated.js';
import { eventually } from '../helpers/integration.js';
import { buildProgram } from '../helpers/programs.js';
import { onTestTransport, rssBytes, runProcess } from '../helpers/daemon-process.js';

// Six GiB cross the emulated driver and loopback here: longer than tap's default per file on 2 CPUs.
t.setTimeout(360_000);

const MiB = 1024 ** 2;

function run(program: string, args: string[], env: NodeJS.ProcessEnv) {
  return runProcess(program, args, { ...process.env, ...env });
}

t.test('1 GiB and 2 GiB copies each way arrive whole, and the daemon gives the memory back', async (t) => {
  const program = buildProgram('large_copies.c');
  const { daemon, server } = await startSimulatedDaemon(t);
  const env = { LD_LIBRARY_PATH: clientLibraryDir, GPUPOOL_SERVERS: onTestTransport(server), GPUPOOL_REQUEST: 'mem=3GiB' };
  const pid = daemon.child.pid!;
  // Idle: after a first small session, so that what any session loads once (the driver's module
  // state, the addon's code) is in the figure.
  const warm = await run(program, ['1'], env);
  t.equal(warm.code, 0, 'a 1 MiB round trip', { output: warm.stdout + warm.stderr });
  const idle = rssBytes(pid);

  // 1 GiB synchronous and 2 GiB asynchronous, each way: both past the 1 GiB message limit.
  const copies = await run(program, ['1024s', '2048a'], env);
  t.equal(copies.code, 0, 'the program passed', { output: (copies.stdout + copies.stderr).slice(-3000) });
  t.match(copies.stdout, /^PASS$/m);
  for (const [way, mib] of [['htod', 1024], ['dtoh', 1024], ['htod-async', 2048], ['dtoh-async', 2048]] as const) {
    t.match(copies.stdout, new RegExp(`^${way} ${mib} MiB \\d+ ms$`, 'm'), `${way} of ${mib} MiB done`);
  }
  t.notMatch(copies.stderr, /lost the daemon/, 'the session was never lost');
  t.comment(copies.stdout.trim().split('\n').join('; '));

  // Every session is gone; the daemon's memory goes back to about its idle figure.
  const after = await eventually(
    'the daemon back within 100 MiB of its idle memory',
    () => {
      const now = rssBytes(pid);
      return now - idle <= 100 * MiB ? now : undefined;
    },
    30_000,
    250,
  ).catch(() => rssBytes(pid));
  t.ok(after - idle <= 100 * MiB, `resident memory ${(after / MiB).toFixed(0)} MiB after the copies, ${(idle / MiB).toFixed(0)} MiB idle`);
});

t.test('one message of many deferred device-to-host copies is answered in messages of bounded size', async (t) => {
  const ops = loadOpTable();
  const op = (id: string) => ops.code(id);
  const { server } = await startSimulatedDaemon(t);
  const { client: c } = await ProtocolClient.connect(`${server}/v1/compute`, helloMessage({ digest: ops.digest, program: 'deferred-burst' }));
  t.teardown(() => c.terminate());
  const sizes: number[] = [];
  c.ws.on('message', (data: Buffer) => sizes.push(data.length));
  const ctx = (await c.call(op('cuDevicePrimaryCtxRetain_v7000'), 0, true, 0)).outs[0] as number;
  const COPY = 4 * MiB, COPIES = 24;
  const dptr = (await c.call(op('cuMemAlloc_v3020'), ctx, true, COPY)).outs[0] as number;
  t.equal((await c.call(op('cuMemsetD8_v3020'), ctx, dptr, 0x5a, COPY)).rc, 0, 'the source is filled');
  const seqs = Array.from({ length: COPIES }, () => c.takeSeq());
  const replies = Promise.all(seqs.map((seq) => c.expect(seq)));
  await c.send(Buffer.concat(seqs.map((seq) => frame(op('cuMemcpyDtoHAsync_v3020'), seq, ctx, [true, dptr, COPY, 0]))));
  const got = await replies;
  t.ok(got.every((r) => r.rc === 0 && Buffer.isBuffer(r.outs[0]) && (r.outs[0] as Buffer).length === COPY && (r.outs[0] as Buffer).every((b) => b === 0x5a)), `${COPIES} copies of ${COPY / MiB} MiB came back whole`);
  const largest = Math.max(...sizes);
  t.ok(largest <= 16 * MiB + COPY + 4096, `the largest reply message held ${(largest / MiB).toFixed(1)} MiB (${COPIES * COPY / MiB} MiB in all, in ${sizes.length} messages)`);
});
