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
  arrays: 'uint64',
  mipmapped_arrays: 'uint64',
  array_bytes: 'uint64',
  mem_pools: 'uint64',
  pool_allocations: 'uint64',
  pool_bytes: 'uint64',
  pool_cached_bytes: 'uint64',
  vmm_allocations: 'uint64',
  vmm_bytes: 'uint64',
  vmm_reservations: 'uint64',
  vmm_mappings: 'uint64',
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
  t.equal((await c.call('cuDevicePrimaryCtxSetFlags_v11000', 0, 0, 0)).rc, CUDA_ERROR_INVALID_DEVICE, 'any call naming card 0');
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

// ---- arrays, memory pools and virtual memory (docs/operations.md, "Memory quotas") ----------------

const MiB = 1024 ** 2;
const CUDA_ERROR_OUT_OF_MEMORY = 2;
const CU_AD_FORMAT_FLOAT = 0x20;
const CU_MEMPOOL_ATTR_RELEASE_THRESHOLD = 4;
const CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR = 1;

/** CUDA_ARRAY_DESCRIPTOR: Width, Height (size_t), Format, NumChannels. */
function arrayDesc(width: number, height: number): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(BigInt(width), 0);
  b.writeBigUInt64LE(BigInt(height), 8);
  b.writeUInt32LE(CU_AD_FORMAT_FLOAT, 16);
  b.writeUInt32LE(1, 20);
  return b;
}

/** CUmemAllocationProp of pinned memory on a device, with whatever the client puts in its pointer. */
function allocProp(device: number, handleTypes = 0, win32 = 0n): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(1, 0); // CU_MEM_ALLOCATION_TYPE_PINNED
  b.writeUInt32LE(handleTypes, 4);
  b.writeUInt32LE(1, 8); // CU_MEM_LOCATION_TYPE_DEVICE
  b.writeInt32LE(device, 12);
  b.writeBigUInt64LE(win32, 16);
  return b;
}

/** CUmemAccessDesc[]: read-write from each device. */
function access(...devices: number[]): Buffer {
  const b = Buffer.alloc(12 * devices.length);
  devices.forEach((d, i) => {
    b.writeUInt32LE(1, 12 * i);
    b.writeInt32LE(d, 12 * i + 4);
    b.writeUInt32LE(3, 12 * i + 8); // CU_MEM_ACCESS_FLAGS_PROT_READWRITE
  });
  return b;
}

function u64(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(value);
  return b;
}

const HELD = ['arrays', 'mipmapped_arrays', 'array_bytes', 'mem_pools', 'pool_allocations', 'pool_bytes', 'vmm_allocations', 'vmm_bytes', 'vmm_reservations', 'vmm_mappings', 'allocations'];
function held(): Record<string, number> {
  const s = emuStats();
  return Object.fromEntries(HELD.map((k) => [k, s[k]!]));
}

t.test('arrays, pools and VMM memory: counted before the driver is asked, private to the session, freed at its end', async (t) => {
  const driver = await driverPromise;
  const before = held();
  const a = client(t, driver, [64 * MiB, 64 * MiB]);
  const b = client(t, driver);
  const ctxA = await a.context();
  const ctxB = await b.context();

  // Over the quota: out of memory, and the driver is never asked (nothing is made).
  t.equal((await a.call('cuArrayCreate_v3020', ctxA, true, arrayDesc(4096, 4097))).rc, CUDA_ERROR_OUT_OF_MEMORY, 'an array past the quota');
  t.equal((await a.call('cuMemCreate_v10020', ctxA, true, 66 * MiB, allocProp(0), 0)).rc, CUDA_ERROR_OUT_OF_MEMORY, 'physical memory past the quota');
  t.equal((await a.call('cuMemAllocAsync_v11020', ctxA, true, 65 * MiB, 0)).rc, CUDA_ERROR_OUT_OF_MEMORY, 'a stream-ordered allocation past the quota');
  t.same(held(), before, 'nothing changed in the driver');
  t.same(a.session.stats().used, [0, 0]);

  const array = await a.call('cuArrayCreate_v3020', ctxA, true, arrayDesc(1024, 1024));
  t.equal(array.rc, CUDA_SUCCESS);
  // The daemon sends its own copy: no exportable handle type, no client pointer.
  const phys = await a.call('cuMemCreate_v10020', ctxA, true, 8 * MiB, allocProp(0, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0xdeadbeefdeadbeefn), 0);
  t.equal(phys.rc, CUDA_SUCCESS, 'a handle type and a pointer from the client are not passed on');
  const va = await a.call('cuMemAddressReserve_v10020', ctxA, true, 1024 * MiB, 0, 0, 0);
  t.equal(va.rc, CUDA_SUCCESS, 'address space past the quota: not counted');
  const vaA = va.outs[0] as number;
  t.equal((await a.call('cuMemMap_v10020', ctxA, vaA, 8 * MiB, 0, phys.outs[0], 0)).rc, CUDA_SUCCESS);
  t.equal((await a.call('cuMemSetAccess_v10020', ctxA, vaA, 8 * MiB, access(0), 1)).rc, CUDA_SUCCESS);
  const async = await a.call('cuMemAllocAsync_v11020', ctxA, true, 16 * MiB, 0);
  t.equal(async.rc, CUDA_SUCCESS);
  t.same(a.session.stats().used, [(4 + 8 + 16) * MiB, 0], 'each counted on its card');
  const data = Buffer.from(Array.from({ length: 4096 }, (_, i) => i & 0xff));
  t.equal((await a.call('cuMemcpyHtoD_v3020', ctxA, vaA + MiB, data, data.length)).rc, CUDA_SUCCESS);
  t.same((await a.call('cuMemcpyDtoH_v3020', ctxA, true, vaA + MiB, data.length)).outs[0], data, 'a mapping is memory like any other');

  // The card's default pool is private to each session; a threshold is capped at the quota.
  const poolA = (await a.call('cuDeviceGetDefaultMemPool_v11020', ctxA, true, 0)).outs[0];
  const poolsBefore = emuStats().mem_pools!;
  const poolB = await b.call('cuDeviceGetDefaultMemPool_v11020', ctxB, true, 0);
  t.equal(poolB.rc, CUDA_SUCCESS);
  t.equal(emuStats().mem_pools, poolsBefore + 1, "B's default pool is a pool of its own");
  t.equal((await a.call('cuMemPoolSetAttribute_v11020', ctxA, poolA, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, u64(2n ** 64n - 1n))).rc, CUDA_SUCCESS);
  const threshold = await a.call('cuMemPoolGetAttribute_v11020', ctxA, poolA, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, true);
  t.same(threshold.outs[0], u64(BigInt(64 * MiB)), 'the release threshold is capped at the quota');
  t.equal((await a.call('cuMemPoolDestroy_v11020', ctxA, poolA)).rc, CUDA_ERROR_INVALID_VALUE, 'a default pool cannot be destroyed');

  // Another session can name none of it.
  t.equal((await b.call('cuArrayDestroy_v2000', ctxB, array.outs[0])).rc, CUDA_ERROR_INVALID_HANDLE);
  t.equal((await b.call('cuMemRelease_v10020', ctxB, phys.outs[0])).rc, CUDA_ERROR_INVALID_HANDLE);
  t.equal((await b.call('cuMemPoolTrimTo_v11020', ctxB, poolA, 0)).rc, CUDA_ERROR_INVALID_HANDLE);
  t.equal((await b.call('cuMemUnmap_v10020', ctxB, vaA, 8 * MiB)).rc, CUDA_ERROR_INVALID_VALUE);
  t.equal((await b.call('cuMemAddressFree_v10020', ctxB, vaA, 1024 * MiB)).rc, CUDA_ERROR_INVALID_VALUE);
  t.equal((await b.call('cuMemFree_v3020', ctxB, async.outs[0])).rc, CUDA_ERROR_INVALID_VALUE);
  const physB = await b.call('cuMemCreate_v10020', ctxB, true, 2 * MiB, allocProp(0), 0);
  t.equal((await b.call('cuMemMap_v10020', ctxB, vaA + 16 * MiB, 2 * MiB, 0, physB.outs[0], 0)).rc, CUDA_ERROR_INVALID_VALUE, "mapping into A's addresses");
  t.equal((await b.call('cuMemcpyDtoH_v3020', ctxB, true, vaA + MiB, 16)).rc, CUDA_ERROR_INVALID_VALUE, "reading A's mapping");

  // A mipmapped array's levels are not arrays of their own to destroy, and go with it.
  const desc3d = Buffer.alloc(40);
  desc3d.writeBigUInt64LE(256n, 0);
  desc3d.writeBigUInt64LE(256n, 8);
  desc3d.writeUInt32LE(CU_AD_FORMAT_FLOAT, 24);
  desc3d.writeUInt32LE(1, 28);
  const mip = await a.call('cuMipmappedArrayCreate_v5000', ctxA, true, desc3d, 3);
  t.equal(mip.rc, CUDA_SUCCESS);
  const level = (await a.call('cuMipmappedArrayGetLevel_v5000', ctxA, true, mip.outs[0], 1)).outs[0];
  t.equal((await a.call('cuArrayDestroy_v2000', ctxA, level)).rc, CUDA_ERROR_INVALID_VALUE, 'a level is not destroyed on its own');
  t.equal((await a.call('cuMipmappedArrayDestroy_v5000', ctxA, mip.outs[0])).rc, CUDA_SUCCESS);
  t.equal((await a.call('cuArray3DGetDescriptor_v3020', ctxA, true, level)).rc, CUDA_ERROR_INVALID_HANDLE, "a destroyed mipmapped array's level is no longer known");

  // A count whose size wraps around to the buffer's is refused, not read past.
  t.equal((await a.call('cuMemSetAccess_v10020', ctxA, vaA, 8 * MiB, access(0), 2n ** 62n + 1n)).rc, CUDA_ERROR_INVALID_VALUE);

  t.ok(emuStats().vmm_mappings! > before.vmm_mappings!, 'the driver holds them while the sessions live');
  await Promise.all([a.close(), b.close()]);
  t.same(held(), before, 'closing freed the arrays, pools, pool allocations, VMM memory, mappings and reservations');
});

t.test('a kernel reads and writes VMM mappings and stream-ordered memory as it does cuMemAlloc memory', { skip: noFatbin }, async (t) => {
  const c = client(t, await driverPromise);
  const ctx = await c.context();
  const lib = await c.call('cuLibraryLoadData_v12000', ctx, readFileSync(fatbin));
  const kernelId = (await c.call('cuLibraryGetKernel_v12000', ctx, true, lib.outs[0], VADD)).outs[0] as number;
  const n = 1024;
  const va = (await c.call('cuMemAddressReserve_v10020', ctx, true, 4 * MiB, 0, 0, 0)).outs[0] as number;
  const phys = await c.call('cuMemCreate_v10020', ctx, true, 2 * MiB, allocProp(0), 0);
  t.equal((await c.call('cuMemMap_v10020', ctx, va, 2 * MiB, 0, phys.outs[0], 0)).rc, CUDA_SUCCESS);
  t.equal((await c.call('cuMemSetAccess_v10020', ctx, va, 2 * MiB, access(0), 1)).rc, CUDA_SUCCESS);
  const da = va;
  const db = (await c.call('cuMemAllocAsync_v11020', ctx, true, n * 4, 0)).outs[0] as number;
  const dc = va + MiB;
  const a = Array.from({ length: n }, (_, i) => i);
  const b = Array.from({ length: n }, (_, i) => 2 * i);
  c.send('cuMemcpyHtoDAsync_v3020', ctx, da, floats(a), n * 4, 0);
  c.send('cuMemcpyHtoDAsync_v3020', ctx, db, floats(b), n * 4, 0);
  c.send('cuLaunchKernel_v4000', ctx, kernelId, n / 256, 1, 1, 256, 1, 1, 0, 0, vaddParams(da, db, dc, n));
  t.equal((await c.call('cuCtxSynchronize_v2000', ctx)).rc, CUDA_SUCCESS);
  const out = new Float32Array(Uint8Array.from((await c.call('cuMemcpyDtoH_v3020', ctx, true, dc, n * 4)).outs[0] as Buffer).buffer);
  t.ok(a.every((x, i) => out[i] === x + b[i]!), 'c = a + b, across a mapping and a pool allocation');
  t.equal(await c.close(), null);
  t.match(emuStats(), { vmm_allocations: 0, vmm_mappings: 0, vmm_reservations: 0, pool_allocations: 0 });
});

t.test('backlog: backlogged while the messages taken and not yet run hold more than the limit, onDrained at half', async (t) => {
  const c = client(t, await driverPromise);
  const ctx = await c.context();
  const buf = await c.alloc(ctx, 4096);
  let drained = 0;
  c.session.limitBacklog(1 << 20, () => drained++);
  const burst = Buffer.concat(Array.from({ length: 8192 }, () => c.frame('cuMemsetD8Async_v3020', ctx, [buf, 1, 4096, 0], false).bytes));
  t.equal(c.session.backlogged, false, 'nothing taken yet');
  // Submitted on this thread in one go: the session thread cannot hand any back before it yields.
  for (let i = 0; i < Math.ceil((2 << 20) / burst.length); i++) c.session.submit(burst);
  t.equal(c.session.backlogged, true, 'over the limit once 2 MiB are taken');
  t.equal(drained, 0);
  t.equal((await c.call('cuCtxSynchronize_v2000', ctx)).rc, CUDA_SUCCESS, 'every call ran');
  t.equal(c.session.backlogged, false, 'back under the limit');
  t.equal(drained, 1, 'onDrained ran once');
  t.equal(await c.close(), null);
});

t.test('onRefusal: the first bounds-check refusal of a session, once; stats count them all', async (t) => {
  const c = client(t, await driverPromise);
  const ctx = await c.context();
  const buf = await c.alloc(ctx, 4096);
  const seen: unknown[] = [];
  c.session.onRefusal((r) => seen.push(r));
  t.equal((await c.call('cuMemsetD8_v3020', ctx, buf + 4000, 0, 200)).rc, CUDA_ERROR_INVALID_VALUE, 'past the end');
  t.equal((await c.call('cuMemsetD32_v3020', ctx, buf, 0, 2 ** 62)).rc, CUDA_ERROR_INVALID_VALUE, 'an extent that overflows');
  t.equal((await c.call('cuMemGetAddressRange_v3020', ctx, true, true, buf + 8192)).rc, 500, 'CUDA_ERROR_NOT_FOUND, as the driver answers');
  t.same(seen, [{ op: 'cuMemsetD8', param: 'dstDevice', ptr: `0x${(buf + 4000).toString(16)}`, bytes: 200, rc: CUDA_ERROR_INVALID_VALUE }]);
  t.match(c.session.stats(), { refusals: 3 });
  t.equal(await c.close(), null);
});
