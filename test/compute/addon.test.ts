import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { Unpackr, pack } from 'msgpackr';
import { emulatedDriver, emulatedKernels, fakeLibraryDir, packageRoot } from '../../src/paths.js';
import { addonPath, loadComputeAddon, type NativeDriver, type NativeSession } from '../../src/compute/native.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';

// The addon against the emulated driver (docs/emulator.md), in this process: frames in, replies out.
const fixture = new FixtureFile(mixedHost());
process.env.GPUPOOL_SIM_FIXTURE = fixture.path;
process.env.GPUPOOL_EMU_KERNELS = emulatedKernels;
t.teardown(() => fixture.remove());

const addon = loadComputeAddon();
// Device addresses travel as uint64; the emulator's fit a JS number.
const unpackr = new Unpackr({ int64AsType: 'number' });

const CUDA_SUCCESS = 0;
const CUDA_ERROR_INVALID_VALUE = 1;
const CUDA_ERROR_INVALID_CONTEXT = 201;
const CUDA_ERROR_INVALID_HANDLE = 400;
const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
const VADD = '_Z4vaddPKfS0_Pfi';
const PRIMARY_0 = 2 ** 47;

interface OpsJson {
  digest: string;
  ops: { code: number; id: string }[];
}
const opsJson = JSON.parse(readFileSync(join(packageRoot, 'build', 'gen', 'ops.json'), 'utf8')) as OpsJson;
const codes = new Map(opsJson.ops.map((o) => [o.id, o.code]));
function op(id: string): number {
  const code = codes.get(id);
  if (code === undefined) throw new Error(`no op ${id} in ops.json`);
  return code;
}

// What the emulator holds in this process (the same libcuda.so.1 the addon opened).
const emu = koffi.load(emulatedDriver);
koffi.struct('gpupool_emu_stats', {
  contexts: 'uint64',
  allocations: 'uint64',
  allocated_bytes: 'uint64',
  host_allocations: 'uint64',
  host_bytes: 'uint64',
  modules: 'uint64',
  libraries: 'uint64',
  streams: 'uint64',
  events: 'uint64',
  kernels_launched: 'uint64',
});
const gpupoolEmuStats = emu.func('int gpupoolEmuStats(_Out_ gpupool_emu_stats *out)');
function emuStats(): Record<string, number> {
  const out: Record<string, number | bigint> = {};
  if (gpupoolEmuStats(out) !== CUDA_SUCCESS) throw new Error('gpupoolEmuStats failed');
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Number(v)]));
}

/** msgpackr writes integers past 32 bits as doubles; the protocol wants them as uint64. */
function wide(v: unknown): unknown {
  return typeof v === 'number' && Number.isInteger(v) && v > 0xffffffff ? BigInt(v) : v;
}

interface Reply {
  rc: number;
  outs: unknown[];
}

/** A client speaking frames to one native session, as the client library would. */
class Client {
  readonly session: NativeSession;
  readonly closed: Promise<string | null>;
  readonly outputs: Buffer[] = [];
  private nextSeq = 1;
  private readonly waiting = new Map<number, (reply: Reply) => void>();

  constructor(driver: NativeDriver, quota?: number[]) {
    let done: (reason: string | null) => void = () => {};
    this.closed = new Promise((resolve) => (done = resolve));
    this.session = new addon.Session(driver, (buf) => this.receive(buf), (reason) => {
      // Calls still waiting will never be answered: say why instead of leaving the test unfinished.
      for (const answer of this.waiting.values()) answer({ rc: -1, outs: [reason] });
      this.waiting.clear();
      done(reason);
    }, quota === undefined ? undefined : { quota });
  }

  private receive(buf: Buffer): void {
    this.outputs.push(buf);
    for (const frame of unpackr.unpackMultiple(buf) as unknown[][]) {
      const [seq, rc, ...outs] = frame as [number, number, ...unknown[]];
      this.waiting.get(seq)?.({ rc, outs });
      this.waiting.delete(seq);
    }
  }

  /** A frame, and the promise of its reply (none for seq 0). */
  frame(id: string, ctx: number, args: unknown[], sync = true): { bytes: Buffer; reply: Promise<Reply> | null } {
    const seq = sync ? this.nextSeq++ : 0;
    const bytes = pack([op(id), seq, wide(ctx), ...args.map(wide)]);
    return { bytes, reply: sync ? new Promise((resolve) => this.waiting.set(seq, resolve)) : null };
  }

  call(id: string, ctx: number, ...args: unknown[]): Promise<Reply> {
    const { bytes, reply } = this.frame(id, ctx, args);
    this.session.submit(bytes);
    return reply!;
  }

  send(id: string, ctx: number, ...args: unknown[]): void {
    this.session.submit(this.frame(id, ctx, args, false).bytes);
  }

  /** Retains device 0's (session-private) primary context: its id. */
  async context(dev = 0): Promise<number> {
    const r = await this.call('cuDevicePrimaryCtxRetain_v7000', 0, true, dev);
    if (r.rc !== CUDA_SUCCESS) throw new Error(`retain failed: ${r.rc}`);
    return r.outs[0] as number;
  }

  async alloc(ctx: number, bytes: number): Promise<number> {
    const r = await this.call('cuMemAlloc_v3020', ctx, true, bytes);
    if (r.rc !== CUDA_SUCCESS) throw new Error(`alloc failed: ${r.rc}`);
    return r.outs[0] as number;
  }

  async close(): Promise<string | null> {
    this.session.close();
    return this.closed;
  }
}

/** A client whose session is closed when the test ends, whatever happens in it. */
function client(t: Test, driver: NativeDriver, quota?: number[]): Client {
  const c = new Client(driver, quota);
  t.teardown(() => c.close());
  return c;
}

function floats(values: number[]): Buffer {
  return Buffer.from(new Float32Array(values).buffer);
}

/** vadd(a, b, c, n)'s parameter buffer as the CUDA ABI lays it out: three pointers, then an int. */
function vaddParams(a: number, b: number, c: number, n: number): Buffer {
  const buf = Buffer.alloc(28);
  buf.writeBigUInt64LE(BigInt(a), 0);
  buf.writeBigUInt64LE(BigInt(b), 8);
  buf.writeBigUInt64LE(BigInt(c), 16);
  buf.writeInt32LE(n, 24);
  return buf;
}

const driverPromise = addon.openDriver(emulatedDriver);

t.test('opens the emulated driver with the fixture cards', async (t) => {
  const driver = await driverPromise;
  t.equal(driver.path, emulatedDriver);
  t.equal(driver.version, 13000);
  t.equal(driver.digest, opsJson.digest);
  const devices = driver.devices();
  const cards = mixedHost().nvidia!.cards;
  t.equal(devices.length, cards.length);
  devices.forEach((d, i) => {
    const card = cards[i]!;
    const [, bus, device] = /^[0-9a-f]+:([0-9a-f]+):([0-9a-f]+)\.\d$/i.exec(card.pciBusId)!;
    t.match(d, { ordinal: i, name: card.name, pciDomain: 0, pciBus: parseInt(bus!, 16), pciDevice: parseInt(device!, 16), totalMem: card.memoryTotal });
    t.equal(d.uuid.toString('hex'), card.uuid.replace(/^GPU-/, '').replace(/-/g, ''));
    const attrs = new Map(d.attributes);
    t.equal(attrs.get(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR), card.computeCapability![0]);
    t.ok(d.attributes.length > 100, 'every attribute the driver answers');
  });
});

t.test('openDriver rejects, naming the path, what is not a CUDA driver', async (t) => {
  await t.rejects(addon.openDriver('/nonexistent/libcuda.so.1'), { message: /^\/nonexistent\/libcuda\.so\.1: cannot load/ });
  const nvml = join(fakeLibraryDir, 'libnvidia-ml.so.1');
  await t.rejects(addon.openDriver(nvml), { message: new RegExp(`^${nvml}: not a CUDA`) });
  // cuInit fails without a fixture: in a process of its own, since this one's driver is initialised.
  const script = `require(${JSON.stringify(addonPath)}).openDriver(${JSON.stringify(emulatedDriver)}).then(
    () => console.log('{}'), (e) => console.log(JSON.stringify({ message: e.message, code: e.code })))`;
  const env = { ...process.env, GPUPOOL_SIM_FIXTURE: join(fixture.dir, 'absent.json') };
  const failure = JSON.parse(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' })) as unknown;
  t.match(failure, { message: `${emulatedDriver}: cuInit failed: CUDA_ERROR_NO_DEVICE (100)`, code: 100 });
});

t.test('contexts, memory, copies and memset; one reply buffer per message', async (t) => {
  const c = client(t, await driverPromise);
  // The client names a primary context by its fixed id before retaining it: nothing is current yet.
  t.equal((await c.call('cuCtxSynchronize_v2000', PRIMARY_0)).rc, CUDA_ERROR_INVALID_CONTEXT);
  const ctx = await c.context();
  t.equal(ctx, PRIMARY_0, 'a primary context has the id 2^47 + ordinal');
  t.equal(await c.context(), ctx, 'the same context keeps its id');
  t.equal((await c.call('cuCtxSynchronize_v2000', PRIMARY_0)).rc, CUDA_SUCCESS, 'once retained, the id names it');
  const stateReply = await c.call('cuDevicePrimaryCtxGetState_v7000', 0, 0, true, true);
  t.same(stateReply, { rc: CUDA_SUCCESS, outs: [0, 1] });

  const size = 4096;
  const dptr = await c.alloc(ctx, size);
  const data = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7) & 0xff));
  // Two frames in one message: both replies come back in one buffer, in order.
  const htod = c.frame('cuMemcpyHtoD_v3020', ctx, [dptr, data, size]);
  const dtoh = c.frame('cuMemcpyDtoH_v3020', ctx, [true, dptr, size]);
  const before = c.outputs.length;
  c.session.submit(Buffer.concat([htod.bytes, dtoh.bytes]));
  t.same(await htod.reply, { rc: CUDA_SUCCESS, outs: [] });
  const back = await dtoh.reply!;
  t.equal(back.rc, CUDA_SUCCESS);
  t.ok(Buffer.compare(back.outs[0] as Buffer, data) === 0, 'the bytes come back');
  t.equal(c.outputs.length, before + 1);

  t.equal((await c.call('cuMemsetD32_v3020', ctx, dptr, 0xdeadbeef, size / 4)).rc, CUDA_SUCCESS);
  const words = (await c.call('cuMemcpyDtoH_v3020', ctx, true, dptr, size)).outs[0] as Buffer;
  t.ok(
    Array.from({ length: size / 4 }, (_, i) => words.readUInt32LE(i * 4)).every((w) => w === 0xdeadbeef),
    'memsetD32 filled every word',
  );

  t.match(c.session.stats(), { contexts: 1, allocations: 1, allocatedBytes: size, deferredError: 0 });
  t.equal((await c.call('cuMemFree_v3020', ctx, dptr + 4)).rc, CUDA_ERROR_INVALID_VALUE, 'not an allocation base');
  t.equal((await c.call('cuStreamSynchronize_v2000', ctx, 999)).rc, CUDA_ERROR_INVALID_HANDLE, 'an id never given');
  t.same(await c.call('cuEventElapsedTime_v2000', ctx, true, 998, 999), { rc: CUDA_ERROR_INVALID_HANDLE, outs: [] }, 'every argument is read past a bad handle');
  t.equal((await c.call('cuCtxSynchronize_v2000', 999)).rc, CUDA_ERROR_INVALID_CONTEXT, 'a context id never given');
  t.equal((await c.call('cuMemFree_v3020', ctx, dptr)).rc, CUDA_SUCCESS);
  t.match(c.session.stats(), { allocations: 0, allocatedBytes: 0 });
  t.equal(await c.close(), null);
});

// A real fatbin of the emulator's test kernels (their CPU versions are in GPUPOOL_EMU_KERNELS).
const fatbinDir = mkdtempSync(join(tmpdir(), 'gpupool-fatbin-'));
t.teardown(() => rmSync(fatbinDir, { recursive: true, force: true }));
const fatbin = join(fatbinDir, 'test_kernels.fatbin');
let noFatbin: string | false = false;
try {
  execFileSync('nvcc', ['-fatbin', '-o', fatbin, join(packageRoot, 'native', 'fakes', 'cuda', 'kernels', 'test_kernels.cu')], { stdio: 'pipe' });
} catch (err) {
  noFatbin = `nvcc cannot build the test fatbin: ${(err as Error).message}`;
}

t.test('a kernel from a real fatbin, through cuLibraryLoadData and cuLaunchKernel', { skip: noFatbin }, async (t) => {
  const c = client(t, await driverPromise);
  const ctx = await c.context();
  const lib = await c.call('cuLibraryLoadData_v12000', ctx, readFileSync(fatbin));
  t.equal(lib.rc, CUDA_SUCCESS);
  const kernel = await c.call('cuLibraryGetKernel_v12000', ctx, true, lib.outs[0], VADD);
  t.equal(kernel.rc, CUDA_SUCCESS);
  const kernelId = kernel.outs[0] as number;

  const n = 1000;
  const a = Array.from({ length: n }, (_, i) => i * 0.5);
  const b = Array.from({ length: n }, (_, i) => 1000 - i);
  const [da, db, dc] = [await c.alloc(ctx, n * 4), await c.alloc(ctx, n * 4), await c.alloc(ctx, n * 4)];
  c.send('cuMemcpyHtoDAsync_v3020', ctx, da, floats(a), n * 4, 0);
  c.send('cuMemcpyHtoDAsync_v3020', ctx, db, floats(b), n * 4, 0);
  c.send('cuLaunchKernel_v4000', ctx, kernelId, Math.ceil(n / 256), 1, 1, 256, 1, 1, 0, 0, vaddParams(da, db, dc, n));
  t.equal((await c.call('cuCtxSynchronize_v2000', ctx)).rc, CUDA_SUCCESS);
  // Deferred: no wait on the client's side, but the reply brings the bytes.
  const out = (await c.call('cuMemcpyDtoHAsync_v3020', ctx, true, dc, n * 4, 0)).outs[0] as Buffer;
  const sums = new Float32Array(Uint8Array.from(out).buffer);
  t.ok(
    a.every((x, i) => sums[i] === Math.fround(x + b[i]!)),
    'c = a + b',
  );
  t.match(c.session.stats(), { asyncCalls: 4 }, 'two copies, the launch, the deferred copy');

  // A params buffer that does not cover every parameter: the launch fails, reported at the next sync.
  c.send('cuLaunchKernel_v4000', ctx, kernelId, 1, 1, 1, 32, 1, 1, 0, 0, vaddParams(da, db, dc, n).subarray(0, 20));
  t.equal((await c.call('cuCtxSynchronize_v2000', ctx)).rc, CUDA_ERROR_INVALID_VALUE);
  t.match(emuStats(), { libraries: 1, allocations: 3 });
  t.equal(await c.close(), null);
  t.match(emuStats(), { contexts: 0, allocations: 0, libraries: 0 });
});

t.test('an async failure answers the next sync call once', async (t) => {
  const c = client(t, await driverPromise);
  const ctx = await c.context();
  c.send('cuLaunchKernel_v4000', ctx, 12345, 1, 1, 1, 1, 1, 1, 0, 0, Buffer.alloc(0));
  const first = await c.call('cuCtxSynchronize_v2000', ctx);
  t.equal(first.rc, CUDA_ERROR_INVALID_HANDLE, 'the launch named no kernel of this session');
  t.equal((await c.call('cuCtxSynchronize_v2000', ctx)).rc, CUDA_SUCCESS, 'then it is cleared');
  t.equal(c.session.stats().deferredError, 0);
  t.equal(await c.close(), null);
});

t.test('sessions cannot use each other\'s ids', async (t) => {
  const driver = await driverPromise;
  const [a, b] = [client(t, driver), client(t, driver)];
  const ctxA = await a.context();
  const streamA = await a.call('cuStreamCreate_v2000', ctxA, true, 0);
  t.equal(streamA.rc, CUDA_SUCCESS);
  const bufA = await a.alloc(ctxA, 256);
  const ctxB = await b.context();
  t.equal(ctxB, ctxA, 'ids are per session: both primary contexts of device 0 are 2^47');
  t.equal(streamA.outs[0], 16, 'handed-out ids start at 16');
  t.equal((await b.call('cuStreamSynchronize_v2000', ctxB, streamA.outs[0])).rc, CUDA_ERROR_INVALID_HANDLE);
  t.equal((await b.call('cuMemFree_v3020', ctxB, bufA)).rc, CUDA_ERROR_INVALID_VALUE);
  t.equal((await b.call('cuMemcpyAsync_v4000', ctxB, bufA, bufA, 16, 0)).rc, CUDA_ERROR_INVALID_VALUE, 'unified copies stay inside the session');
  // The primary contexts are private: one per session, and releasing B's leaves A's alive.
  t.equal(emuStats().contexts, 2);
  t.equal((await b.call('cuDevicePrimaryCtxRelease_v11000', 0, 0)).rc, CUDA_SUCCESS);
  t.equal(emuStats().contexts, 1);
  t.equal((await a.call('cuStreamSynchronize_v2000', ctxA, streamA.outs[0])).rc, CUDA_SUCCESS);
  await Promise.all([a.close(), b.close()]);
  t.match(emuStats(), { contexts: 0, allocations: 0, streams: 0 });
});

t.test('a frame that breaks the protocol closes the session with a reason', async (t) => {
  const driver = await driverPromise;
  const wrongType = client(t, driver);
  const ctx = await wrongType.context();
  await wrongType.alloc(ctx, 1024);
  wrongType.session.submit(wrongType.frame('cuMemAlloc_v3020', ctx, ['not a bool', 16]).bytes);
  t.match(await wrongType.closed, /^cuMemAlloc \(op \d+, seq \d+\): expected bool, got str$/);
  t.equal(wrongType.session.submit(wrongType.frame('cuCtxSynchronize_v2000', ctx, []).bytes), false, 'a closed session takes nothing');

  const double = client(t, driver);
  double.session.submit(pack([op('cuCtxSynchronize_v2000'), 1, 2 ** 47]));
  t.match(await double.closed, /expected uint, got double/, 'integers travel as integers');

  const garbage = client(t, driver);
  garbage.session.submit(Buffer.from([0x93, 0x01]));
  t.match(await garbage.closed, /truncated or not msgpack/);

  const unknownOp = client(t, driver);
  unknownOp.session.submit(pack([100000, 1, 0]));
  t.match(await unknownOp.closed, /unknown operation 100000/);

  const extra = client(t, driver);
  extra.session.submit(pack([op('cuCtxSynchronize_v2000'), 1, 0, 'extra']));
  t.match(await extra.closed, /too many/);
  t.match(emuStats(), { contexts: 0, allocations: 0 });
});

t.test('a card the session was not given (quota 0) cannot be named: CUDA_ERROR_INVALID_DEVICE', async (t) => {
  const CUDA_ERROR_INVALID_DEVICE = 101;
  // Placement gave this session card 1 only.
  const c = client(t, await driverPromise, [0, 1 << 30]);
  t.equal((await c.call('cuDevicePrimaryCtxRetain_v7000', 0, true, 0)).rc, CUDA_ERROR_INVALID_DEVICE, 'primary context of card 0');
  t.equal((await c.call('cuCtxCreate_v3020', 0, true, 0, 0)).rc, CUDA_ERROR_INVALID_DEVICE, 'a new context on card 0');
  t.equal((await c.call('cuDevicePrimaryCtxGetState_v7000', 0, 0, true, true)).rc, CUDA_ERROR_INVALID_DEVICE, 'any call naming card 0');
  t.equal((await c.call('cuDevicePrimaryCtxRetain_v7000', 0, true, 2)).rc, CUDA_ERROR_INVALID_DEVICE, 'a card past the driver\'s');
  const ctx = await c.context(1);
  t.equal(ctx, PRIMARY_0 + 1, 'card 1 works');
  t.equal((await c.call('cuCtxCreate_v3020', ctx, true, 0, 1)).rc, CUDA_SUCCESS);
  t.match(c.session.stats(), { quota: [0, 1 << 30], contexts: 2 });
});

t.test('closing frees everything the session held', async (t) => {
  const c = client(t, await driverPromise);
  const ctx = await c.context();
  const created = await c.call('cuCtxCreate_v3020', ctx, true, 0, 1);
  t.equal(created.rc, CUDA_SUCCESS);
  const other = created.outs[0] as number;
  await c.alloc(ctx, 1 << 20);
  await c.alloc(other, 1 << 16);
  t.equal((await c.call('cuEventCreate_v2000', other, true, 0)).rc, CUDA_SUCCESS);
  t.match(c.session.stats(), { contexts: 2, allocations: 2, allocatedBytes: (1 << 20) + (1 << 16) });
  t.match(emuStats(), { contexts: 2, allocations: 2, events: 1 });
  c.session.close();
  c.session.close();
  t.equal(await c.closed, null);
  t.match(c.session.stats(), { handles: 0, contexts: 0, allocations: 0, allocatedBytes: 0 });
  t.match(emuStats(), { contexts: 0, allocations: 0, events: 0 });
});
