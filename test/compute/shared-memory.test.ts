/**
 * Shared memory for jobs on the daemon's host (issue 13; docs/protocol.md, "Shared memory"). On a
 * real `gpupool daemon --simulate` serving a Unix socket:
 * - a driver-API program copies from and to pinned and pageable memory, 1 byte to 64 MiB, at
 *   unaligned offsets, synchronously, asynchronously in stream order and through unified addresses,
 *   every byte checked; the session's stats show the copies named shared memory;
 * - 2D and 3D copies (cuMemcpy2D*, cuMemcpy3D*, with device memory and with arrays) from and to
 *   pinned and pageable pitched host boxes, one smaller and two larger than a staging slot, every
 *   byte of the box and around it checked; the session's stats show each named shared memory;
 * - a hostile client on the raw socket: a region with no descriptor, a descriptor of no memfd, an
 *   unsealed memfd, one smaller than it claims, a copy past a region's end, a region never sent, a
 *   signal word outside it, a box copy whose rows (or planes) reach outside the region: each is a clear CUresult, and the daemon serves another job afterwards.
 * GPUPOOL_TEST_SESSION_PROCESS=process runs the same with sessions in worker processes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Unpackr } from 'msgpackr';
import t from 'tap';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { clientLibraryDir } from '../../src/paths.js';
import { frame, helloMessage, loadOpTable } from '../../src/protocol/client.js';
import { frameValues } from '../../src/protocol/frame-codec.js';
import { sharedMemoryOps } from '../../src/protocol/frames.js';
import { DaemonProcess, runProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildProgram } from '../helpers/programs.js';
import { RawLines } from '../helpers/raw-lines.js';

const dir = mkdtempSync(join(tmpdir(), 'gpupool-shm-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
const socket = join(dir, 'gpupool.sock');
const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(dir, QUICK_CONFIG, 'gpupoold.json'), '--local-socket', socket]);
t.teardown(() => daemon.stop());

function localEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LD_LIBRARY_PATH: clientLibraryDir, GPUPOOL_LOCAL_SOCKET: socket, ...extra };
  delete env.GPUPOOL_SERVERS;
  return env;
}

async function sessions(): Promise<SessionInfo[]> {
  return ((await (await fetch(`${daemon.url}/v1/status`)).json()) as { compute: { sessions: SessionInfo[] } }).compute.sessions;
}

const program = buildProgram('shared_copies.c');
// 1 byte to 64 MiB: within a page, a slot and across them; 64 MiB fills every staging slot, and the
// asynchronous copies after it wait for slots to come back.
const SIZES = ['1', '4095', '65543', String((16 << 20) + 3), String(64 << 20)];

for (const memory of ['pinned', 'pageable'] as const) {
  t.test(`copies from and to ${memory} memory go through shared memory, every byte checked`, async (t) => {
    const seen = new Set(daemon.logs);
    const result = await runProcess(program, [memory, ...SIZES], localEnv());
    t.equal(result.code, 0, 'the program passed', { output: (result.stdout + result.stderr).slice(-3000) });
    t.match(result.stdout, /^PASS$/m);
    t.notMatch(result.stderr, /refused shared memory/, 'the daemon took the regions');
    // The session's last figures: its copies named shared memory, and it mapped the regions.
    const freed = await daemon.waitFor((l) => !seen.has(l) && l.msg === 'session freed');
    const stats = freed.stats as { sharedCopies: number; calls: number };
    // 3 round trips of 4 copies per size at least; each whole copy is at least one shared one.
    t.ok(stats.sharedCopies >= SIZES.length * 6, `the copies named shared memory (${stats.sharedCopies} shared copies)`);
  });
}

const boxProgram = buildProgram('shared_box_copies.c');
// [width, height, depth]: within one slot; planes of 4 MiB, three to a slot; planes of 21 MiB, larger than a slot.
const BOXES = [['33', '5', '3'], ['4099', '1025', '5'], ['70001', '300', '2']];

for (const memory of ['pinned', 'pageable'] as const) {
  t.test(`2D and 3D copies from and to ${memory} memory go through shared memory, every byte checked`, async (t) => {
    for (const box of BOXES) {
      const seen = new Set(daemon.logs);
      const result = await runProcess(boxProgram, [memory, ...box], localEnv());
      t.equal(result.code, 0, `the program passed (${box.join(' x ')})`, { output: (result.stdout + result.stderr).slice(-3000) });
      t.match(result.stdout, /^3D ok\n3D async ok\n2D ok\narray ok\nPASS$/m, `each kind of copy checked (${box.join(' x ')})`);
      t.notMatch(result.stderr, /refused shared memory/, 'the daemon took the regions');
      const freed = await daemon.waitFor((l) => !seen.has(l) && l.msg === 'session freed');
      const stats = freed.stats as { sharedCopies: number };
      // 12 copies, each of at least one frame naming shared memory.
      t.ok(stats.sharedCopies >= 12, `the box copies named shared memory (${stats.sharedCopies} shared copies)`);
    }
  });
}

// ---- hostile clients on the raw socket -------------------------------------------------------------

const ops = loadOpTable();
const unpackr = new Unpackr({ int64AsType: 'number', useRecords: false });

/** shm_raw_client: the test's messages and descriptors on a socket of its own, one line each way. */
class RawClient extends RawLines {
  private seq = 1;

  static async open(program: string): Promise<RawClient> {
    const hello = helloMessage({ digest: ops.digest, program: 'shm-hostile' });
    const child = spawn(rawProgram, [socket, hello.toString('hex')], { env: localEnv() });
    const c = new RawClient(child);
    t.equal(await c.next(), 'welcome', `${program}: the daemon welcomed the raw client`);
    return c;
  }

  async fd(kind: 'sealed' | 'unsealed' | 'file' | 'pipe', bytes: number): Promise<void> {
    t.equal(await this.send(`fd ${kind} ${bytes}`), 'ok');
  }

  /** A synchronous call: [rc, outs]. */
  async call(op: number, ctx: number, args: unknown[]): Promise<{ rc: number; outs: unknown[] }> {
    const line = await this.send(`call ${frame(op, this.seq++, ctx, args).toString('hex')}`);
    if (!line.startsWith('reply ')) throw new Error(`no reply: ${line}`);
    const [, rc, ...outs] = unpackr.unpack(Buffer.from(line.slice(6), 'hex')) as [number, number, ...unknown[]];
    return { rc, outs };
  }

  region(ctx: number, region: number, bytes: number): Promise<{ rc: number }> {
    return this.call(sharedMemoryOps.shm_region, ctx, frameValues('shm_region', { region, bytes }));
  }

  /** A box copy between device memory (dst_* or src_*) and a host box of a region, synchronous. */
  box(ctx: number, f: Record<string, number>): Promise<{ rc: number }> {
    const values = frameValues('shm_copy_3d', {
      kind: 0, dst_type: 0, dst_where: 0, dst_x: 0, dst_y: 0, dst_z: 0, dst_pitch: 0, dst_height: 0,
      src_type: 0, src_where: 0, src_x: 0, src_y: 0, src_z: 0, src_pitch: 0, src_height: 0,
      width: 100, height: 10, depth: 2, per_thread: 0, async: 0, stream: 0, region: 6, offset: 0, host_pitch: 1000, host_height: 20, signal: 0, signal_value: 1, ...f,
    });
    return this.call(sharedMemoryOps.shm_copy_3d, ctx, values);
  }

  copy(ctx: number, f: { kind: number; device: number; region: number; offset: number; bytes: number; signal?: number }): Promise<{ rc: number }> {
    const values = frameValues('shm_copy', { per_thread: 0, async: 0, stream: 0, signal: 0, signal_value: 1, ...f });
    return this.call(sharedMemoryOps.shm_copy, ctx, values);
  }
}

const rawProgram = buildProgram('shm_raw_client.c');
const CUDA_ERROR_INVALID_VALUE = 1;
const CUDA_ERROR_INVALID_HANDLE = 400;

t.test('a hostile client gets a clear error for each bad region or copy, and the daemon goes on', async (t) => {
  const c = await RawClient.open('hostile');
  t.teardown(() => c.close());
  const retained = await c.call(ops.code('cuDevicePrimaryCtxRetain_v7000'), 0, [true, 0]);
  t.equal(retained.rc, 0, 'a context');
  const ctx = retained.outs[0] as number;
  const alloc = await c.call(ops.code('cuMemAlloc_v3020'), ctx, [true, 1 << 20]);
  t.equal(alloc.rc, 0, 'device memory');
  const dptr = alloc.outs[0] as number;

  t.equal((await c.region(ctx, 1, 65536)).rc, CUDA_ERROR_INVALID_HANDLE, 'a region frame with no descriptor: CUDA_ERROR_INVALID_HANDLE');
  await c.fd('pipe', 0);
  t.equal((await c.region(ctx, 2, 4096)).rc, CUDA_ERROR_INVALID_VALUE, 'a pipe: no regular file');
  await c.fd('file', 65536);
  t.equal((await c.region(ctx, 3, 65536)).rc, CUDA_ERROR_INVALID_VALUE, 'a file of /tmp: no memfd (unsealed)');
  await c.fd('unsealed', 65536);
  t.equal((await c.region(ctx, 4, 65536)).rc, CUDA_ERROR_INVALID_VALUE, 'an unsealed memfd');
  await c.fd('sealed', 4096);
  t.equal((await c.region(ctx, 5, 65536)).rc, CUDA_ERROR_INVALID_VALUE, 'a memfd smaller than the region it is said to be');

  await c.fd('sealed', 65536);
  t.equal((await c.region(ctx, 6, 65536)).rc, 0, 'a sealed memfd of the size named is taken');
  await c.fd('sealed', 65536);
  t.equal((await c.region(ctx, 6, 65536)).rc, CUDA_ERROR_INVALID_VALUE, 'a region id in use');
  t.equal((await c.copy(ctx, { kind: 0, device: dptr, region: 6, offset: 0, bytes: 65536 })).rc, 0, 'a copy inside the region runs');
  t.equal((await c.copy(ctx, { kind: 1, device: dptr, region: 6, offset: 65535, bytes: 2 })).rc, CUDA_ERROR_INVALID_VALUE, 'a copy past the region\'s end');
  t.equal((await c.copy(ctx, { kind: 1, device: dptr, region: 6, offset: 2 ** 53 - 1, bytes: 2 ** 53 - 1 })).rc, CUDA_ERROR_INVALID_VALUE, 'offset and length that overflow');
  t.equal((await c.copy(ctx, { kind: 0, device: dptr, region: 77, offset: 0, bytes: 16 })).rc, CUDA_ERROR_INVALID_VALUE, 'a region never sent');
  t.equal((await c.copy(ctx, { kind: 0, device: dptr, region: 6, offset: 0, bytes: 16, signal: 65536 })).rc, CUDA_ERROR_INVALID_VALUE, 'a signal word outside the region');
  t.equal((await c.copy(ctx, { kind: 0, device: dptr + (1 << 20) - 8, region: 6, offset: 0, bytes: 16 })).rc, CUDA_ERROR_INVALID_VALUE, 'device memory past the allocation');
  // Box copies: device rows 1024 bytes apart, planes 64 rows apart; the region holds 65536 bytes.
  const card = { dst_type: 1, dst_where: dptr, dst_pitch: 1024, dst_height: 64 };
  const fromCard = { kind: 1, src_type: 1, src_where: dptr, src_pitch: 1024, src_height: 64 };
  t.equal((await c.box(ctx, card)).rc, 0, 'a box copy whose rows lie in the region runs');
  t.equal((await c.box(ctx, fromCard)).rc, 0, 'and back to the host');
  t.equal((await c.box(ctx, { ...card, host_pitch: 4096, host_height: 10 })).rc, CUDA_ERROR_INVALID_VALUE, 'a box whose last rows lie past the region\'s end');
  t.equal((await c.box(ctx, { ...fromCard, host_pitch: 4096, host_height: 10 })).rc, CUDA_ERROR_INVALID_VALUE, 'the same box written to the host');
  t.equal((await c.box(ctx, { ...fromCard, offset: 65000, height: 1, depth: 1, width: 600 })).rc, CUDA_ERROR_INVALID_VALUE, 'one row from an offset past the end');
  t.equal((await c.box(ctx, { ...card, host_pitch: 50 })).rc, CUDA_ERROR_INVALID_VALUE, 'rows that overlap (pitch under the width)');
  t.equal((await c.box(ctx, { ...card, host_height: 5 })).rc, CUDA_ERROR_INVALID_VALUE, 'planes that overlap (height under the rows)');
  t.equal((await c.box(ctx, { ...card, host_pitch: 2 ** 53, height: 2 ** 20, depth: 1 })).rc, CUDA_ERROR_INVALID_VALUE, 'a pitch whose rows overflow');
  t.equal((await c.box(ctx, { ...card, region: 77 })).rc, CUDA_ERROR_INVALID_VALUE, 'a box in a region never sent');
  t.equal((await c.box(ctx, { ...card, dst_y: 1020 })).rc, CUDA_ERROR_INVALID_VALUE, 'device rows past the allocation');
  t.equal((await c.box(ctx, { ...card, src_type: 1, src_where: dptr, src_pitch: 1024, src_height: 64 })).rc, CUDA_ERROR_INVALID_VALUE, 'no host side where the kind says');
  t.equal((await c.box(ctx, { ...card, signal: 65536 })).rc, CUDA_ERROR_INVALID_VALUE, 'a box copy\'s signal word outside the region');
  t.equal((await c.call(sharedMemoryOps.shm_release, ctx, frameValues('shm_release', { region: 6 }))).rc, 0, 'the region released');
  t.equal((await c.copy(ctx, { kind: 0, device: dptr, region: 6, offset: 0, bytes: 16 })).rc, CUDA_ERROR_INVALID_VALUE, 'a released region is gone');
  t.match(daemon.logs.map((l) => String(l.msg ?? '')).join('\n') + daemon.stderr.join(''), /shared memory refused: region 1: no descriptor/, 'the daemon logged the first refusal with its reason');

  const after = await runProcess(program, ['pinned', '4097'], localEnv());
  t.equal(after.code, 0, 'the daemon serves another job afterwards', { output: after.stderr.slice(-2000) });
});

t.test('a region over compute.sharedMemoryBytes is refused; the job\'s copies still work through the socket', async (t) => {
  const small = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(dir, { ...QUICK_CONFIG, compute: { sharedMemoryBytes: 0 } }, 'small.json'), '--local-socket', join(dir, 'small.sock')]);
  t.teardown(() => small.stop());
  const result = await runProcess(program, ['pageable', String(5 << 20)], localEnv({ GPUPOOL_LOCAL_SOCKET: join(dir, 'small.sock') }));
  t.equal(result.code, 0, 'the program passed', { output: (result.stdout + result.stderr).slice(-3000) });
  t.match(result.stderr, /refused shared memory/, 'the client library said once that copies go through the socket');
});
