/**
 * What the generator makes of the calls a program may reach that gpupool answers itself or does not
 * carry (docs/compatibility.md): variants answered in the client library beside forwarded ones, the
 * legacy unversioned symbols (the carried call where the parameters match, else a stub), and the
 * table cuGetProcAddress hands calls not carried out from, each naming itself by symbol.
 */
import t from 'tap';
import { readCudaHeaders } from '../../src/protocol/gen/cuda-headers.js';
import { emitShim } from '../../src/protocol/gen/emit.js';
import { buildModel, variantId } from '../../src/protocol/gen/model.js';

const model = buildModel(readCudaHeaders());
const shim = emitShim(model);
const local = new Set(model.locals.map((l) => variantId(l.variant)));
const forwarded = new Set(model.ops.map((o) => o.id));

t.test('a variant answered in the client beside its forwarded siblings', async (t) => {
  t.ok(local.has('cuCtxCreate_v12050'), 'cuCtxCreate_v4 is local');
  t.ok(forwarded.has('cuCtxCreate_v3020'), 'cuCtxCreate_v2 is forwarded');
  t.ok(model.unsupported.some((u) => variantId(u.variant) === 'cuCtxCreate_v11040'), 'cuCtxCreate_v3 is not carried');
  t.ok(local.has('cuProfilerStart_v4000') && local.has('cuProfilerStop_v4000'), 'the profiler entry points (cudaProfilerTypedefs.h) are read and answered');
});

t.test('legacy unversioned symbols', async (t) => {
  const bySymbol = new Map(model.legacy.map((l) => [l.variant.symbol, l]));
  t.equal(bySymbol.get('cuCtxDestroy')?.target, 'gp_fwd_cuCtxDestroy_v4000', 'cuCtxDestroy is cuCtxDestroy_v2');
  t.equal(bySymbol.get('cuCtxPushCurrent')?.target, 'gp_local_cuCtxPushCurrent_v4000', 'a local call too');
  t.equal(bySymbol.get('cuMemAlloc')?.target, undefined, 'cuMemAlloc of 32-bit addresses is not cuMemAlloc_v2');
  const symbols = [...model.ops.map((o) => o.variant.symbol), ...model.locals.map((l) => l.variant.symbol), ...model.unsupported.map((u) => u.variant.symbol)];
  for (const l of model.legacy) t.notOk(symbols.includes(l.variant.symbol), `${l.variant.symbol} is defined once`);
  t.match(shim, /CUresult gp_legacy_cuCtxDestroy_v2000\(CUcontext ctx\) __asm__\("cuCtxDestroy"\);/);
  t.match(shim, /gp_legacy_cuMemAlloc_v2000\(void\) \{ gp_trace_unsupported\("cuMemAlloc"\); gp_not_carried_once\("cuMemAlloc \(legacy\)"\);/);
});

t.test('calls not carried: exported, handed out by cuGetProcAddress, named by symbol', async (t) => {
  const table = shim.slice(shim.indexOf('const gp_proc_entry gp_unsup_table[] = {'), shim.indexOf('gp_unsup_table_size'));
  const names = [...table.matchAll(/\{ "(\w+)", (\d+), (\d),/g)].map((m) => [m[1]!, Number(m[2]), Number(m[3])] as const);
  t.equal(names.length, model.unsupported.length, 'every call not carried is in the table');
  const sorted = [...names].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1] || a[2] - b[2]));
  t.same(names, sorted, 'sorted as cuGetProcAddress searches it');
  const luid = model.unsupported.find((u) => u.variant.name === 'cuDeviceGetLuid');
  t.ok(luid, 'cuDeviceGetLuid is not carried');
  t.match(shim, new RegExp(`gp_unsup_${variantId(luid!.variant)}\\(void\\) \\{ gp_trace_unsupported\\("${luid!.variant.symbol}"\\); gp_not_carried_once\\("${luid!.variant.symbol}"\\);`));
});
