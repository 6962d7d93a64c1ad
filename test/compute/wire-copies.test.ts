/**
 * Copies through the socket, byte for byte, after the path was made fast (issue 13, copies at the
 * speed of the wire): the client library frames and masks its own data frames (masked as they are
 * copied into the batch, a copy's bytes taken by reference) and reads the daemon's frames itself,
 * large payloads straight off the socket; the daemon reads large messages into buffers it keeps for
 * reuse, in 256 KiB reads, and fills device-to-host replies from a reused buffer. Every size around
 * those thresholds, unaligned on both sides, each way, synchronous and asynchronous, and a burst of
 * small copies in one message: over TCP and the Unix socket with sessions as threads, and over TCP
 * with each session in a worker process. Real processes: test/programs/wire_copies.c, unmodified,
 * against `gpupool daemon --simulate`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { clientLibraryDir } from '../../src/paths.js';
import { DaemonProcess, runProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildProgram } from '../helpers/programs.js';

t.setTimeout(240_000);

const KiB = 1024;
const MiB = 1024 * KiB;
// A frame's length in 7 bits up to 125, in 16 up to 65535, then 64; the readers' 64 KiB buffers and
// 256 KiB reads; the 16 MiB slice of a copy, and a copy of several slices with a ragged end.
const SIZES = [1, 125, 126, 127, 65_535, 65_536, 65_537, 256 * KiB - 1, 256 * KiB + 3, MiB + 1, 16 * MiB - 1, 16 * MiB, 16 * MiB + 7, 40 * MiB + 3];

const dir = mkdtempSync(join(tmpdir(), 'gpupool-wire-copies-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
const program = buildProgram('wire_copies.c');

async function startDaemon(name: string, sessionProcess: 'thread' | 'process'): Promise<{ tcp: string; unix: string }> {
  const socket = join(dir, `${name}.sock`);
  const config = { ...QUICK_CONFIG, compute: { sessionProcess } };
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(dir, config, `${name}.json`), '--local-socket', socket]);
  t.teardown(() => daemon.stop());
  return { tcp: daemon.url.replace(/^http/, 'ws'), unix: `unix://${socket}` };
}

async function copiesArriveWhole(t: Test, server: string) {
  const env = { ...process.env, LD_LIBRARY_PATH: clientLibraryDir, GPUPOOL_SERVERS: server, GPUPOOL_REQUEST: 'mem=256MiB' };
  const r = await runProcess(program, SIZES.map(String), env);
  t.equal(r.code, 0, 'the program passed', { output: (r.stdout + r.stderr).slice(-3000) });
  for (const n of SIZES) t.match(r.stdout, new RegExp(`^${n} ok$`, 'm'), `${n} bytes each way, every byte`);
  t.match(r.stdout, /^burst ok$/m, 'a burst of small copies in one message, every byte');
  t.match(r.stdout, /^burst back ok$/m, 'a burst of small copies back with a large one after them, every byte');
  t.match(r.stdout, /^PASS$/m);
  t.notMatch(r.stderr, /lost the daemon/, 'the session was never lost');
}

const threads = await startDaemon('threads', 'thread');
t.test('over TCP, sessions as threads', (t) => copiesArriveWhole(t, threads.tcp));
t.test('over the Unix socket, sessions as threads', (t) => copiesArriveWhole(t, threads.unix));
t.test('over TCP, each session in a worker process', async (t) => {
  const processes = await startDaemon('processes', 'process');
  await copiesArriveWhole(t, processes.tcp);
});
