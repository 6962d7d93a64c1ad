/**
 * Tenants apart (docs/security.md, "Bounds checks"): two clients of one `gpupool daemon --simulate`,
 * each in its own session. Every forwarded call that names device memory is checked against the
 * session's own allocations before the driver sees it; handles are per-session ids. Client B passes
 * client A's pointer values and handle ids, and pointers of its own with extents that run past an
 * allocation or overflow: each is refused with the error a driver gives, A's data stays intact, and
 * the daemon logs the session's first refusal once, with the client's session id.
 */
import t, { type Test } from 'tap';
import { ProtocolClient, helloMessage, loadOpTable, type Reply } from '../../src/protocol/client.js';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { CUresult } from '../helpers/cuda-results.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, eventually, writeConfig } from '../helpers/integration.js';

const ops = loadOpTable();
const op = (id: string) => ops.code(id);

const { SUCCESS: CUDA_SUCCESS, INVALID_VALUE: CUDA_ERROR_INVALID_VALUE, INVALID_HANDLE: CUDA_ERROR_INVALID_HANDLE, NOT_FOUND: CUDA_ERROR_NOT_FOUND } = CUresult;
const SIZE = 4096;
const REFUSED_LOG = "refused a call on device memory outside the session's allocations";

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)]);
t.teardown(() => daemon.stop());
const server = `${daemon.url.replace(/^http/, 'ws')}/v1/compute`;

async function connect(program: string): Promise<{ c: ProtocolClient; session: number; ctx: number }> {
  const { client: c, welcome } = await ProtocolClient.connect(server, helloMessage({ digest: ops.digest, program }));
  t.teardown(() => c.terminate());
  const retained = await c.call(op('cuDevicePrimaryCtxRetain_v7000'), 0, true, 0);
  if (retained.rc !== CUDA_SUCCESS) throw new Error(`retain failed: ${retained.rc}`);
  return { c, session: welcome.session as number, ctx: retained.outs[0] as number };
}

async function alloc(c: ProtocolClient, ctx: number, bytes: number): Promise<number> {
  const r = await c.call(op('cuMemAlloc_v3020'), ctx, true, bytes);
  if (r.rc !== CUDA_SUCCESS) throw new Error(`alloc failed: ${r.rc}`);
  return r.outs[0] as number;
}

async function sessionStats(id: number): Promise<SessionInfo['stats']> {
  const status = (await (await fetch(`${daemon.url}/v1/status`)).json()) as { compute: { sessions: SessionInfo[] } };
  return status.compute.sessions.find((s) => s.id === id)?.stats ?? null;
}

const pattern = Buffer.from(Array.from({ length: SIZE }, (_, i) => (i * 13 + 7) & 0xff));
const a = await connect('tenant-a');
const b = await connect('tenant-b');
const bufA = await alloc(a.c, a.ctx, SIZE);
// Setup throws rather than asserts: a top-level assertion leaves tap's root test idle, and with a
// teardown registered it ends itself (stopping the daemon) if the next await takes a few timer ticks.
const written = await a.c.call(op('cuMemcpyHtoD_v3020'), a.ctx, bufA, pattern, SIZE);
if (written.rc !== CUDA_SUCCESS) throw new Error(`A's write failed: ${written.rc}`);
const streamA = await a.c.call(op('cuStreamCreate_v2000'), a.ctx, true, 0);
if (streamA.rc !== CUDA_SUCCESS) throw new Error(`A's stream failed: ${streamA.rc}`);
const bufB = await alloc(b.c, b.ctx, SIZE);

/** A call of B's that the bounds check must refuse with `rc`; counted, to match the session's stats. */
let refusals = 0;
async function refused(t: Test, what: string, reply: Promise<Reply>, rc: number): Promise<void> {
  t.equal((await reply).rc, rc, what);
  refusals++;
}

t.test("B names A's memory: every call is refused before the driver sees it", async (t) => {
  const { c, ctx } = b;
  await refused(t, 'cuMemcpyHtoD into A', c.call(op('cuMemcpyHtoD_v3020'), ctx, bufA, Buffer.alloc(16, 0xee), 16), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemcpyDtoH from A', c.call(op('cuMemcpyDtoH_v3020'), ctx, true, bufA, 16), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemcpyDtoD from A into B', c.call(op('cuMemcpyDtoD_v3020'), ctx, bufB, bufA, 16), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemcpyDtoD from B into A', c.call(op('cuMemcpyDtoD_v3020'), ctx, bufA, bufB, 16), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemsetD8 on A', c.call(op('cuMemsetD8_v3020'), ctx, bufA, 0xee, 16), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemsetD2D32 on A', c.call(op('cuMemsetD2D32_v3020'), ctx, bufA, 64, 0xeeeeeeee, 16, 4), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemcpy (unified) from A', c.call(op('cuMemcpy_v4000'), ctx, bufB, bufA, 16), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemGetAddressRange of A\'s buffer: not found, as for an address of no allocation', c.call(op('cuMemGetAddressRange_v3020'), ctx, true, true, bufA), CUDA_ERROR_NOT_FOUND);
  await refused(t, 'cuMemFree of A\'s buffer', c.call(op('cuMemFree_v3020'), ctx, bufA), CUDA_ERROR_INVALID_VALUE);
  // Fire-and-forget: the refusal is the session's deferred error, answered by the next sync call.
  await c.post(op('cuMemsetD32Async_v3020'), ctx, bufA, 0xeeeeeeee, 4, 0);
  await refused(t, 'cuMemsetD32Async on A, reported by the next cuCtxSynchronize', c.call(op('cuCtxSynchronize_v2000'), ctx), CUDA_ERROR_INVALID_VALUE);
  await c.post(op('cuMemcpyHtoDAsync_v3020'), ctx, bufA, Buffer.alloc(16, 0xee), 16, 0);
  await refused(t, 'cuMemcpyHtoDAsync into A, reported by the next cuCtxSynchronize', c.call(op('cuCtxSynchronize_v2000'), ctx), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemcpyDtoHAsync from A (deferred)', c.call(op('cuMemcpyDtoHAsync_v3020'), ctx, true, bufA, 16, 0), CUDA_ERROR_INVALID_VALUE);
});

t.test("B names A's handles, forged ids and stale ones: CUDA_ERROR_INVALID_HANDLE", async (t) => {
  const { c, ctx } = b;
  const streamId = streamA.outs[0] as number;
  t.equal((await c.call(op('cuStreamSynchronize_v2000'), ctx, streamId)).rc, CUDA_ERROR_INVALID_HANDLE, "A's stream id means nothing in B's session");
  t.equal((await c.call(op('cuStreamQuery_v2000'), ctx, 0x7fff_1234)).rc, CUDA_ERROR_INVALID_HANDLE, 'a forged id');
  const own = await c.call(op('cuStreamCreate_v2000'), ctx, true, 0);
  t.equal(own.rc, CUDA_SUCCESS);
  t.equal((await c.call(op('cuStreamDestroy_v4000'), ctx, own.outs[0])).rc, CUDA_SUCCESS);
  t.equal((await c.call(op('cuStreamSynchronize_v2000'), ctx, own.outs[0])).rc, CUDA_ERROR_INVALID_HANDLE, 'a stale id, once destroyed');
  t.equal((await c.call(op('cuEventRecord_v2000'), ctx, 0x10, 0)).rc, CUDA_ERROR_INVALID_HANDLE, 'an event id never given');
  t.equal((await c.call(op('cuMemcpyHtoDAsync_v3020'), ctx, bufB, Buffer.alloc(16), 16, streamId)).rc, CUDA_ERROR_INVALID_HANDLE, "a copy on A's stream");
});

t.test("B names A's captured graph and its executable graph: CUDA_ERROR_INVALID_HANDLE", async (t) => {
  // Graphs built node by node never reach the daemon (native/shim/graph.c): their handles are
  // pointers in the job's process. Captured graphs are the daemon's, owned per session.
  const streamId = streamA.outs[0] as number;
  t.equal((await a.c.call(op('cuStreamBeginCapture_v10010'), a.ctx, streamId, 0)).rc, CUDA_SUCCESS, 'A captures');
  const captured = await a.c.call(op('cuStreamEndCapture_v10000'), a.ctx, streamId, true);
  t.equal(captured.rc, CUDA_SUCCESS, "A's capture ends in a graph");
  const graphA = captured.outs[0] as number;
  const execA = await a.c.call(op('cuGraphInstantiateWithFlags_v11040'), a.ctx, true, graphA, 0);
  t.equal(execA.rc, CUDA_SUCCESS, 'A instantiates it');
  const { c, ctx } = b;
  t.equal((await c.call(op('cuGraphInstantiateWithFlags_v11040'), ctx, true, graphA, 0)).rc, CUDA_ERROR_INVALID_HANDLE, "B cannot instantiate A's graph");
  t.equal((await c.call(op('cuGraphGetNodes_v10000'), ctx, graphA, false, true)).rc, CUDA_ERROR_INVALID_HANDLE, "nor count its nodes");
  t.equal((await c.call(op('cuGraphDestroy_v10000'), ctx, graphA)).rc, CUDA_ERROR_INVALID_HANDLE, 'nor destroy it');
  t.equal((await c.call(op('cuGraphExecDestroy_v10000'), ctx, execA.outs[0])).rc, CUDA_ERROR_INVALID_HANDLE, "nor A's executable graph");
  await c.post(op('cuGraphLaunch_v10000'), ctx, execA.outs[0], 0);
  t.equal((await c.call(op('cuCtxSynchronize_v2000'), ctx)).rc, CUDA_ERROR_INVALID_HANDLE, "nor launch it (the launch's error, at the next sync)");
  t.equal((await a.c.call(op('cuGraphExecDestroy_v10000'), a.ctx, execA.outs[0])).rc, CUDA_SUCCESS, 'A still owns its executable graph');
  t.equal((await a.c.call(op('cuGraphDestroy_v10000'), a.ctx, graphA)).rc, CUDA_SUCCESS, 'and its graph');
});

t.test("conditional graphs on the daemon: B names A's twin graph, A's handle and A's memory", async (t) => {
  // A graph of the job gets a twin on the daemon with its first conditional handle
  // (native/shim/graph_daemon.c); its nodes arrive in one graph_nodes frame (cuGraphAddNode).
  const twinA = await a.c.call(op('cuGraphCreate_v10000'), a.ctx, true, 0);
  t.equal(twinA.rc, CUDA_SUCCESS, "A's twin graph");
  const graphA = twinA.outs[0] as number;
  const handleA = await a.c.call(op('cuGraphConditionalHandleCreate_v12030'), a.ctx, true, graphA, a.ctx, 0, 0);
  t.equal(handleA.rc, CUDA_SUCCESS, "A's conditional handle");
  const { c, ctx } = b;
  t.equal((await c.call(op('cuGraphConditionalHandleCreate_v12030'), ctx, true, graphA, ctx, 0, 0)).rc, CUDA_ERROR_INVALID_HANDLE, "B cannot make a handle on A's graph");
  const empty = [0, 5, 0]; // graph 0, CU_GRAPH_NODE_TYPE_EMPTY, no dependencies
  t.equal((await c.call(op('cuGraphAddNode_v12030'), ctx, graphA, [empty])).rc, CUDA_ERROR_INVALID_HANDLE, "nor add nodes to it");
  const own = await c.call(op('cuGraphCreate_v10000'), ctx, true, 0);
  t.equal(own.rc, CUDA_SUCCESS);
  const graphB = own.outs[0] as number;
  // Values inside the records travel as msgpack integers: BigInts past 32 bits (src/protocol/client.ts `wide`).
  const big = (v: unknown) => BigInt(v as number);
  const ifNode = (handle: unknown) => [0, 13, 0, big(handle), 0, 1]; // CU_GRAPH_NODE_TYPE_CONDITIONAL, IF, one body
  t.equal((await c.call(op('cuGraphAddNode_v12030'), ctx, graphB, [ifNode(handleA.outs[0])])).rc, CUDA_ERROR_INVALID_VALUE, "a conditional naming A's handle");
  await refused(t, "a memset node on A's memory", c.call(op('cuGraphAddNode_v12030'), ctx, graphB, [[0, 2, 0, big(bufA), 16, 0xee, 1, 16, 1]]), CUDA_ERROR_INVALID_VALUE);
  const handleB = await c.call(op('cuGraphConditionalHandleCreate_v12030'), ctx, true, graphB, ctx, 0, 0);
  t.equal(handleB.rc, CUDA_SUCCESS, "B's own handle");
  const body = [1, 2, 0, big(bufB), 16, 0x11, 1, 16, 1]; // graph 1 (the IF's body): a memset of B's memory
  t.equal((await c.call(op('cuGraphAddNode_v12030'), ctx, graphB, [empty, [0, 13, 1, 0, big(handleB.outs[0]), 0, 1], body])).rc, CUDA_SUCCESS, "B's own conditional and body");
  const exec = await c.call(op('cuGraphInstantiateWithFlags_v11040'), ctx, true, graphB, 0);
  t.equal(exec.rc, CUDA_SUCCESS, 'which instantiates');
  t.equal((await c.call(op('cuGraphExecDestroy_v10000'), ctx, exec.outs[0])).rc, CUDA_SUCCESS);
  t.equal((await c.call(op('cuGraphDestroy_v10000'), ctx, graphB)).rc, CUDA_SUCCESS);
  t.equal((await a.c.call(op('cuGraphDestroy_v10000'), a.ctx, graphA)).rc, CUDA_SUCCESS, 'A still owns its graph');
});

t.test('B within its own memory: extents that run past an allocation or overflow are refused', async (t) => {
  const { c, ctx } = b;
  await refused(t, 'cuMemsetD8 running 1 byte past the end', c.call(op('cuMemsetD8_v3020'), ctx, bufB + SIZE - 16, 0, 17), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemsetD32 whose N * 4 overflows 64 bits', c.call(op('cuMemsetD32_v3020'), ctx, bufB, 0, 2n ** 62n), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemsetD16 whose N * 2 is past the end', c.call(op('cuMemsetD16_v3020'), ctx, bufB, 0, SIZE / 2 + 1), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemsetD2D8 one row too many', c.call(op('cuMemsetD2D8_v3020'), ctx, bufB, 64, 0, 64, 65), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemsetD2D8 whose rows overflow', c.call(op('cuMemsetD2D8_v3020'), ctx, bufB, 2n ** 63n, 0, 1, 3), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemcpyHtoD 1 byte past the end', c.call(op('cuMemcpyHtoD_v3020'), ctx, bufB + 1, Buffer.alloc(SIZE), SIZE), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemcpyDtoH of 2 GiB from a 4 KiB buffer (refused before the daemon holds 2 GiB)', c.call(op('cuMemcpyDtoH_v3020'), ctx, true, bufB, 2 ** 31), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'a device pointer at address 0', c.call(op('cuMemsetD8_v3020'), ctx, 0, 0, 1), CUDA_ERROR_INVALID_VALUE);

  t.equal((await c.call(op('cuMemsetD8_v3020'), ctx, bufB + SIZE - 16, 0x5a, 16)).rc, CUDA_SUCCESS, 'the last 16 bytes exactly');
  t.equal((await c.call(op('cuMemsetD2D8_v3020'), ctx, bufB, 64, 0x5a, 64, 64)).rc, CUDA_SUCCESS, '64 rows of 64 bytes, pitch 64: the whole buffer');
  t.equal((await c.call(op('cuMemsetD2D8_v3020'), ctx, bufB + 32, 64, 0x5a, 32, 64)).rc, CUDA_SUCCESS, 'a sub-rectangle whose last row ends at the end');
  t.equal((await c.call(op('cuMemsetD8_v3020'), ctx, bufB, 0x5a, 0)).rc, CUDA_SUCCESS, 'a zero-byte memset touches nothing');
  const back = await c.call(op('cuMemcpyDtoH_v3020'), ctx, true, bufB, SIZE);
  t.equal(back.rc, CUDA_SUCCESS);
  t.ok((back.outs[0] as Buffer).every((x) => x === 0x5a), 'the allowed memsets ran');
});

t.test("B names A's memory through box copies, array copies and textures; A's texture is not B's", async (t) => {
  const { c, ctx } = b;
  const HOST = [0, 0, 0, 0, 0, 0, 0];
  // A CUDA_RESOURCE_DESC of linear float memory (cuda.h 13: 144 bytes, the union at 8, flags at 136).
  const linear = (ptr: number, bytes: number): Buffer => {
    const d = Buffer.alloc(144);
    d.writeUInt32LE(0x02, 0); // CU_RESOURCE_TYPE_LINEAR
    d.writeBigUInt64LE(BigInt(ptr), 8);
    d.writeUInt32LE(0x20, 16); // CU_AD_FORMAT_FLOAT
    d.writeUInt32LE(1, 20);
    d.writeBigUInt64LE(BigInt(bytes), 24);
    return d;
  };
  const noTexDesc = Buffer.alloc(104), noView = Buffer.alloc(112);
  const texA = await a.c.call(op('cuTexObjectCreate_v5000'), a.ctx, true, linear(bufA, SIZE), noTexDesc, noView);
  t.equal(texA.rc, CUDA_SUCCESS, 'A makes a texture of its buffer');

  await refused(t, 'cuMemcpy3D of a box of A\'s buffer', c.call(op('cuMemcpy3D_v3020'), ctx, 1, ...HOST, 1, bufA, 0, 0, 0, 64, 1, 16, 1, 1), CUDA_ERROR_INVALID_VALUE);
  await refused(t, 'cuMemcpy3D of a box of B\'s own buffer one plane too deep', c.call(op('cuMemcpy3D_v3020'), ctx, 1, ...HOST, 1, bufB, 0, 0, 0, 64, 16, 64, 16, 5), CUDA_ERROR_INVALID_VALUE);
  const descriptor = Buffer.alloc(24);
  descriptor.writeBigUInt64LE(64n, 0); // Width: 64 floats, 1D
  descriptor.writeUInt32LE(0x20, 16);
  descriptor.writeUInt32LE(1, 20);
  const array = await c.call(op('cuArrayCreate_v3020'), ctx, true, descriptor);
  t.equal(array.rc, CUDA_SUCCESS, 'B makes an array');
  await refused(t, 'cuMemcpyAtoD into A', c.call(op('cuMemcpyAtoD_v3020'), ctx, bufA, array.outs[0], 0, 16), CUDA_ERROR_INVALID_VALUE);
  t.equal((await c.call(op('cuMemcpy3D_v3020'), ctx, 1, ...HOST, 2, array.outs[0], 0, 0, 0, 0, 0, 257, 1, 1)).rc, CUDA_ERROR_INVALID_VALUE, 'a box past the array\'s elements');
  t.equal((await c.call(op('cuMemcpy3D_v3020'), ctx, 1, ...HOST, 2, 0x7fff_1234, 0, 0, 0, 0, 0, 4, 1, 1)).rc, CUDA_ERROR_INVALID_HANDLE, 'an array id never given');
  await refused(t, 'a texture of A\'s buffer', c.call(op('cuTexObjectCreate_v5000'), ctx, true, linear(bufA, SIZE), noTexDesc, noView), CUDA_ERROR_INVALID_VALUE);
  t.equal((await c.call(op('cuTexObjectGetResourceDesc_v5000'), ctx, true, texA.outs[0])).rc, CUDA_ERROR_INVALID_VALUE, 'B cannot describe A\'s texture');
  t.equal((await c.call(op('cuTexObjectDestroy_v5000'), ctx, texA.outs[0])).rc, CUDA_ERROR_INVALID_VALUE, 'B cannot destroy A\'s texture');
  t.equal((await a.c.call(op('cuTexObjectDestroy_v5000'), a.ctx, texA.outs[0])).rc, CUDA_SUCCESS, 'A destroys its own texture');
});

t.test("A's data is intact, and A was never refused", async (t) => {
  const back = await a.c.call(op('cuMemcpyDtoH_v3020'), a.ctx, true, bufA, SIZE);
  t.equal(back.rc, CUDA_SUCCESS);
  t.ok(Buffer.compare(back.outs[0] as Buffer, pattern) === 0, 'every byte as A wrote it');
  t.match(await sessionStats(a.session), { refusals: 0, allocations: 1 });
});

t.test('the daemon counts every refusal and logs the first one once, with the session', async (t) => {
  t.match(await sessionStats(b.session), { refusals });
  const line = await eventually('the refusal in the log', () => daemon.logs.find((l) => l.msg === REFUSED_LOG));
  t.match(line, { level: 40, code: 'GPUPOOL_BOUNDS_REFUSED', session: b.session, program: 'tenant-b', op: 'cuMemcpyHtoD', param: 'dstDevice', ptr: `0x${bufA.toString(16)}`, bytes: 16, rc: CUDA_ERROR_INVALID_VALUE });
  t.equal(daemon.logs.filter((l) => l.msg === REFUSED_LOG).length, 1, 'once per session, however many refusals follow');
  b.c.terminate();
  const freed = await eventually('B freed', () => daemon.logs.find((l) => l.msg === 'session freed' && l.session === b.session));
  t.match(freed.stats, { refusals }, 'the count is in the session-freed line');
});
