/**
 * The generator's bounds checks (docs/security.md, "Bounds checks"): every device pointer a forwarded
 * op takes by value gets a check in the daemon's dispatcher, before the driver call and before any
 * output buffer, with the extent its annotation states; an annotation that names no parameter is a
 * mistake in the table, caught at generation.
 */
import t from 'tap';
import { CUDA_API, type Annotation } from '../../src/protocol/cuda-api.js';
import { readCudaHeaders } from '../../src/protocol/gen/cuda-headers.js';
import { emitAddon } from '../../src/protocol/gen/emit.js';
import { buildModel } from '../../src/protocol/gen/model.js';

const headers = readCudaHeaders();
const model = buildModel(headers);
const addon = emitAddon(model);

/** The generated case of one op. */
function caseOf(id: string): string {
  const start = addon.indexOf(`case GP_OP_${id}: {`);
  return addon.slice(start, addon.indexOf('\n    }\n', start));
}

t.test('every device pointer by value is checked before the driver sees it', async (t) => {
  // Hand-encoded frames (cuMemcpy, cuMemcpy2D*) are checked by their handlers (native/addon/handlers.cc).
  const pointers = model.ops.filter((op) => !op.customWire).flatMap((op) => op.params.filter((p) => p.wire.kind === 'dptr').map((p) => ({ op, p })));
  t.ok(pointers.length >= 40, `${pointers.length} device pointer parameters in forwarded ops`);
  for (const { op, p } of pointers) {
    t.ok(p.device, `${op.id} ${p.name} has a check`);
    const body = caseOf(op.id);
    const check = body.indexOf(`s.check_device(${op.code}, "${p.name}", (CUdeviceptr)${p.name},`);
    const call = body.search(/rc = (s\.driver\(\)\.fn<|gp::handlers::)/);
    t.ok(check > 0 && check < call, `${op.id}: ${p.name} is checked before the call`);
  }
});

t.test('the extents the table states', async (t) => {
  const check = (id: string, name: string) => caseOf(id).split('\n').find((l) => l.includes(`"${name}"`))?.trim();
  t.match(check('cuMemcpyHtoD_v3020', 'dstDevice'), /gp::Extent\(\(uint64_t\)ByteCount\), CUDA_ERROR_INVALID_VALUE\);$/);
  t.match(check('cuMemsetD32_v3020', 'dstDevice'), /gp::Extent\(\(uint64_t\)N\) \* 4, /);
  t.match(check('cuMemsetD2D16Async_v3020', 'dstDevice'), /gp::Extent::rows\(gp::Extent\(\(uint64_t\)dstPitch\), gp::Extent\(\(uint64_t\)Width\) \* 2, gp::Extent\(\(uint64_t\)Height\)\)/);
  t.match(check('cuMemGetAddressRange_v3020', 'dptr'), /gp::Extent::inside\(\), CUDA_ERROR_NOT_FOUND\);$/);
  const dtoh = caseOf('cuMemcpyDtoH_v3020');
  // The out buffer (wire.h OutBuffer) is sized after the check, and only when it passed.
  t.ok(dtoh.indexOf('check_device') < dtoh.indexOf('gp::OutBuffer dstHost_out('), 'a refused copy gets no output buffer');
  t.match(dtoh, /gp::OutBuffer dstHost_out\(has_dstHost && rc == CUDA_SUCCESS \? /, 'sized only for a call that will run');
});

t.test('the checks are not part of the wire: the digest is the same without them', async (t) => {
  const bare = Object.fromEntries(
    Object.entries(CUDA_API).map(([name, note]) => {
      if ('local' in note || !note.params) return [name, note];
      const params = Object.fromEntries(Object.entries(note.params).filter(([, role]) => !(typeof role === 'object' && 'device' in role)));
      return [name, { ...note, params }];
    }),
  ) as Record<string, Annotation>;
  t.equal(buildModel(headers, bare).digest, model.digest);
});

t.test('an extent that names no parameter fails the generation', async (t) => {
  const api = { ...CUDA_API, cuMemsetD8: { mode: 'sync', params: { dstDevice: { device: 'Count * 2' } } } } as Record<string, Annotation>;
  t.throws(() => buildModel(headers, api), /cuMemsetD8: parameter dstDevice: extent Count \* 2 names Count, which is no parameter/);
  const refuse = { ...CUDA_API, cuMemsetD8: { mode: 'sync', params: { dstDevice: { device: 'N', refuse: 'EINVAL' } } } } as Record<string, Annotation>;
  t.throws(() => buildModel(headers, refuse), /refuse must be a CUDA_ERROR_ name/);
});
