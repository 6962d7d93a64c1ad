/**
 * Device addresses of sessions in worker processes (docs/architecture.md, "Sessions in worker
 * processes"). Each worker opens the driver itself, so each has an address space of its own: the
 * daemon gives every worker its own GPUPOOL_EMU_ADDRESS_SALT and the emulated driver starts its cards'
 * ranges there, so that an address one session was given names nothing in another's (what
 * test/compute/bounds.test.ts pins in either mode). A real driver promises no equal addresses across
 * processes, nor distinct ones: with the salt fixed for every worker, two sessions are handed the very
 * same address, and each still reads and writes only its own bytes.
 */
import t from 'tap';
import { ProtocolClient, helloMessage, loadOpTable } from '../../src/protocol/client.js';
import { CUresult } from '../helpers/cuda-results.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';

const ops = loadOpTable();
const op = (id: string) => ops.code(id);
const SIZE = 4096;

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
const config = writeConfig(fixture.dir, { ...QUICK_CONFIG, compute: { sessionProcess: 'process' } });

interface Tenant {
  c: ProtocolClient;
  ctx: number;
  buf: number;
}

/** A client on card 0 with one allocation of SIZE bytes: its session's first. */
async function tenant(server: string, program: string): Promise<Tenant> {
  const { client: c } = await ProtocolClient.connect(server, helloMessage({ digest: ops.digest, program }));
  t.teardown(() => c.terminate());
  const retained = await c.call(op('cuDevicePrimaryCtxRetain_v7000'), 0, true, 0);
  if (retained.rc !== CUresult.SUCCESS) throw new Error(`retain failed: ${retained.rc}`);
  const ctx = retained.outs[0] as number;
  const alloc = await c.call(op('cuMemAlloc_v3020'), ctx, true, SIZE);
  if (alloc.rc !== CUresult.SUCCESS) throw new Error(`alloc failed: ${alloc.rc}`);
  return { c, ctx, buf: alloc.outs[0] as number };
}

async function read(who: Tenant, ptr: number): Promise<Buffer> {
  const r = await who.c.call(op('cuMemcpyDtoH_v3020'), who.ctx, true, ptr, SIZE);
  if (r.rc !== CUresult.SUCCESS) throw new Error(`read failed: ${r.rc}`);
  return Buffer.from(r.outs[0] as Uint8Array);
}

async function daemonWith(env: NodeJS.ProcessEnv): Promise<string> {
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', config], env);
  t.teardown(() => daemon.stop());
  return `${daemon.url.replace(/^http/, 'ws')}/v1/compute`;
}

t.test('by default two workers hand out different addresses on one card', async (t) => {
  const server = await daemonWith({});
  const a = await tenant(server, 'tenant-a');
  const b = await tenant(server, 'tenant-b');
  t.not(a.buf, b.buf, "the sessions' first allocations on card 0 lie at different addresses");
  const pattern = Buffer.alloc(SIZE, 0x5a);
  t.equal((await a.c.call(op('cuMemcpyHtoD_v3020'), a.ctx, a.buf, pattern, SIZE)).rc, CUresult.SUCCESS);
  t.equal((await b.c.call(op('cuMemcpyDtoH_v3020'), b.ctx, true, a.buf, 16)).rc, CUresult.INVALID_VALUE, "A's address is refused in B's session");
  t.same(await read(a, a.buf), pattern, "A's bytes are intact");
});

t.test('two sessions handed the same address each reach only their own bytes', async (t) => {
  // Every worker with one salt: the emulator gives both sessions' first allocation one address.
  const server = await daemonWith({ GPUPOOL_EMU_ADDRESS_SALT: '5' });
  const a = await tenant(server, 'tenant-a');
  const b = await tenant(server, 'tenant-b');
  t.equal(a.buf, b.buf, 'both first allocations on card 0 lie at the same address');
  const patternA = Buffer.from(Array.from({ length: SIZE }, (_, i) => (i * 13 + 7) & 0xff));
  const patternB = Buffer.from(Array.from({ length: SIZE }, (_, i) => (i * 31 + 3) & 0xff));
  t.equal((await a.c.call(op('cuMemcpyHtoD_v3020'), a.ctx, a.buf, patternA, SIZE)).rc, CUresult.SUCCESS, 'A writes its buffer');
  t.same(await read(b, b.buf), Buffer.alloc(SIZE), "B reads its own buffer (zeros as allocated), not A's bytes");
  t.equal((await b.c.call(op('cuMemcpyHtoD_v3020'), b.ctx, b.buf, patternB, SIZE)).rc, CUresult.SUCCESS, 'B writes its buffer');
  t.equal((await b.c.call(op('cuMemsetD8_v3020'), b.ctx, b.buf, 0xee, 16)).rc, CUresult.SUCCESS, 'B sets the first bytes of its buffer');
  t.same(await read(a, a.buf), patternA, "A's bytes are intact after B's writes at the same address");
  t.same(await read(b, b.buf), Buffer.concat([Buffer.alloc(16, 0xee), patternB.subarray(16)]), 'B reads what B wrote');
  t.equal((await b.c.call(op('cuMemFree_v3020'), b.ctx, b.buf)).rc, CUresult.SUCCESS, 'B frees its buffer');
  t.same(await read(a, a.buf), patternA, "A's buffer at that address lives on");
});
