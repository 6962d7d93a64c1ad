/**
 * Pitched memory end to end: an unmodified nvcc runtime program (test/programs/pitch.cu) makes
 * cudaMallocPitch allocations and cudaMemcpy2D/cudaMemcpy2DAsync copies in every direction, and
 * cudaMemset2D, through `gpupool run` against one simulated daemon with two NVIDIA cards (so its
 * device-to-device 2D copy between two devices crosses two contexts and is staged by the client);
 * built once as it is and once with the per-thread default stream (the _ptds/_ptsz entry points).
 * Then the 2D frames themselves (docs/protocol.md, "Hand-encoded calls") against the daemon's
 * addon: their layout, and the daemon's refusal of device ranges the session does not own.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Unpackr, pack } from 'msgpackr';
import { emulatedDriver, emulatedKernels, packageRoot } from '../../src/paths.js';
import { loadComputeAddon, type NativeDriver, type NativeSession } from '../../src/compute/native.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { NVCC, buildProgram } from '../helpers/programs.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';

const pitch = buildProgram('pitch.cu');

/** The same program built with `--default-stream per-thread`: cudart then calls the _ptds/_ptsz entry points. */
function buildPerThread(): string {
  const dir = join(tmpdir(), 'gpupool-test-programs');
  mkdirSync(dir, { recursive: true });
  const src = join(packageRoot, 'test', 'programs', 'pitch.cu');
  const out = join(dir, 'pitch-per-thread');
  let fresh = false;
  try {
    fresh = statSync(out).mtimeMs >= statSync(src).mtimeMs;
  } catch {
    // not built yet
  }
  if (!fresh) execFileSync(NVCC, ['--default-stream', 'per-thread', '-o', out, src], { stdio: 'pipe' });
  return out;
}
const pitchPerThread = buildPerThread();

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());

t.test('cudaMallocPitch, cudaMemcpy2D(Async) and cudaMemset2D through one daemon', async (t) => {
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)]);
  t.teardown(() => daemon.stop());
  const server = daemon.url.replace(/^http/, 'ws');

  for (const [name, program] of [['legacy default stream', pitch], ['per-thread default stream', pitchPerThread]] as const) {
    // Both cards: the copies between two devices need them.
    const run = await runCli(['run', '--servers', server, '--gpus', 'all', '--', program]);
    t.equal(run.code, 0, `pitch (${name}) exits 0\n${run.stdout}${run.stderr}`);
    t.match(run.stdout, /devices 2/);
    t.match(run.stdout, /2D host -> device -> host ok/);
    t.match(run.stdout, /2D device -> device ok/);
    t.match(run.stdout, /2D sub-rectangle device -> device \(cudaMemcpyDefault\) ok/);
    t.match(run.stdout, /cudaMemset2D ok/);
    t.match(run.stdout, /2D async on a stream ok/);
    t.match(run.stdout, /2D async device -> packed host ok/);
    t.match(run.stdout, /2D host -> host ok/);
    t.match(run.stdout, /2D copy of 80 MB ok/);
    t.match(run.stdout, /2D device 0 -> device 1 ok/);
    t.match(run.stdout, /2D async device 0 -> device 1 ok/);
    t.match(run.stdout, /2D copy past the allocation refused ok/);
    t.match(run.stdout, /^PASS$/m);
    t.notMatch(run.stderr, /not supported/, 'no call the program makes is missing');
  }
});

// ---- the frames, against the addon in this process (on the emulated driver) -----------------------

const CUDA_SUCCESS = 0;
const CUDA_ERROR_INVALID_VALUE = 1;
const CUDA_ERROR_INVALID_HANDLE = 400;
const HTOD = 0;
const DTOH = 1;
const DTOD = 2;
const NO_SIDE = [0, 0, 0, 0];

const codes = new Map(
  (JSON.parse(readFileSync(join(packageRoot, 'build', 'gen', 'ops.json'), 'utf8')) as { ops: { id: string; code: number }[] }).ops.map((o) => [o.id, o.code]),
);
const unpackr = new Unpackr({ int64AsType: 'number' });
/** Device addresses are past 32 bits: msgpackr would write them as doubles. */
const wide = (v: unknown): unknown => (typeof v === 'number' && Number.isInteger(v) && v > 0xffffffff ? BigInt(v) : v);

interface Reply {
  rc: number;
  outs: unknown[];
}

class FrameClient {
  readonly session: NativeSession;
  readonly closed: Promise<string | null>;
  private seq = 1;
  private readonly waiting = new Map<number, (r: Reply) => void>();

  constructor(driver: NativeDriver, addon: ReturnType<typeof loadComputeAddon>) {
    let done: (reason: string | null) => void = () => {};
    this.closed = new Promise((resolve) => (done = resolve));
    this.session = new addon.Session(
      driver,
      (buf) => {
        for (const [seq, rc, ...outs] of unpackr.unpackMultiple(buf) as [number, number, ...unknown[]][]) {
          this.waiting.get(seq)?.({ rc, outs });
          this.waiting.delete(seq);
        }
      },
      (reason) => {
        for (const answer of this.waiting.values()) answer({ rc: -1, outs: [reason] });
        this.waiting.clear();
        done(reason);
      },
    );
  }

  call(id: string, ctx: number, ...args: unknown[]): Promise<Reply> {
    const code = codes.get(id);
    if (code === undefined) throw new Error(`no op ${id}`);
    const seq = this.seq++;
    const reply = new Promise<Reply>((resolve) => this.waiting.set(seq, resolve));
    this.session.submit(pack([code, seq, wide(ctx), ...args.map(wide)]));
    return reply;
  }

  async pitched(ctx: number, width: number, height: number): Promise<{ dptr: number; pitch: number }> {
    const r = await this.call('cuMemAllocPitch_v3020', ctx, true, true, width, height, 4);
    if (r.rc !== CUDA_SUCCESS) throw new Error(`cuMemAllocPitch: ${r.rc}`);
    return { dptr: r.outs[0] as number, pitch: r.outs[1] as number };
  }
}

t.test('2D frames: layout, packed host rows, and device ranges the session does not own', async (t) => {
  process.env.GPUPOOL_SIM_FIXTURE = fixture.path;
  process.env.GPUPOOL_EMU_KERNELS = emulatedKernels;
  const addon = loadComputeAddon();
  const driver = await addon.openDriver(emulatedDriver);
  const a = new FrameClient(driver, addon);
  const b = new FrameClient(driver, addon);
  t.teardown(() => {
    a.session.close();
    b.session.close();
  });
  const ctxA = (await a.call('cuDevicePrimaryCtxRetain_v7000', 0, true, 0)).outs[0] as number;
  const ctxB = (await b.call('cuDevicePrimaryCtxRetain_v7000', 0, true, 0)).outs[0] as number;
  const W = 100;
  const H = 3;
  const m = await a.pitched(ctxA, 256, 8);
  const rows = Buffer.from(Array.from({ length: W * H }, (_, i) => (i * 13 + 5) & 0xff));

  // [kind, dst device, x, y, pitch, src device, x, y, pitch, WidthInBytes, Height, (stream), (rows)]
  const at = [m.dptr, 8, 1, m.pitch];
  t.same(await a.call('cuMemcpy2D_v3020', ctxA, HTOD, ...at, ...NO_SIDE, W, H, rows), { rc: CUDA_SUCCESS, outs: [] }, 'host rows in');
  const back = await a.call('cuMemcpy2DUnaligned_v3020', ctxA, DTOH, ...NO_SIDE, ...at, W, H);
  t.equal(back.rc, CUDA_SUCCESS);
  t.ok(Buffer.compare(back.outs[0] as Buffer, rows) === 0, 'the rows come back packed');
  // The pitch is honoured on the device: row 1 of the copy starts one pitch after row 0.
  const flat = await a.call('cuMemcpyDtoH_v3020', ctxA, true, m.dptr + 2 * m.pitch + 8, W);
  t.ok(Buffer.compare(flat.outs[0] as Buffer, rows.subarray(W, 2 * W)) === 0, 'row 1 lies one pitch further');

  const n = await a.pitched(ctxA, 256, 8);
  t.equal((await a.call('cuMemcpy2D_v3020', ctxA, DTOD, n.dptr, 0, 0, n.pitch, ...at, W, H)).rc, CUDA_SUCCESS, 'device to device');
  const viaStream = await a.call('cuMemcpy2DAsync_v3020', ctxA, DTOH, ...NO_SIDE, n.dptr, 0, 0, n.pitch, W, H, 0);
  t.equal(viaStream.rc, CUDA_SUCCESS);
  t.ok(Buffer.compare(viaStream.outs[0] as Buffer, rows) === 0, 'async device to host replies with the rows');
  t.equal((await a.call('cuMemcpy2DAsync_v3020', ctxA, DTOH, ...NO_SIDE, ...at, W, H, 999)).rc, CUDA_ERROR_INVALID_HANDLE, 'a stream never given');

  // The whole pitched extent must lie in one allocation of the session.
  const tall = Buffer.alloc(W * 8);
  t.equal((await a.call('cuMemcpy2D_v3020', ctxA, HTOD, ...at, ...NO_SIDE, W, 8, tall)).rc, CUDA_ERROR_INVALID_VALUE, 'rows past the allocation');
  t.equal((await a.call('cuMemcpy2D_v3020', ctxA, HTOD, m.dptr, m.pitch - 50, 7, m.pitch, ...NO_SIDE, W, 1, rows.subarray(0, W))).rc, CUDA_ERROR_INVALID_VALUE, 'the last row past the end');
  t.equal((await a.call('cuMemcpy2D_v3020', ctxA, DTOD, m.dptr, 0, 0, 2 ** 40, ...at, W, H)).rc, CUDA_ERROR_INVALID_VALUE, 'a pitch that leaves the allocation');
  // Another session's memory, on either side.
  const mine = await b.pitched(ctxB, 256, 8);
  t.equal((await b.call('cuMemcpy2D_v3020', ctxB, DTOH, ...NO_SIDE, ...at, W, H)).rc, CUDA_ERROR_INVALID_VALUE, "reading another session's rows");
  t.equal((await b.call('cuMemcpy2D_v3020', ctxB, DTOD, ...at, mine.dptr, 0, 0, mine.pitch, W, H)).rc, CUDA_ERROR_INVALID_VALUE, "writing another session's rows");
  t.equal((await b.call('cuMemcpy2D_v3020', ctxB, HTOD, mine.dptr, 0, 0, mine.pitch, ...NO_SIDE, W, H, rows)).rc, CUDA_SUCCESS, 'its own rows');

  // Rows of the wrong size are a protocol error: the session closes.
  void a.call('cuMemcpy2D_v3020', ctxA, HTOD, ...at, ...NO_SIDE, W, H, rows.subarray(1));
  t.match(await a.closed, /wrong size/);
});
