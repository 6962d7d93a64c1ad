import { createHash } from 'node:crypto';
import { CUDA_API, type Annotation, type DeviceExtent, type Forwarded, type Mode, type ParamRole } from '../cuda-api.js';
import type { CudaHeaders, Param, TypeKind, Variant } from './cuda-headers.js';
import { framesDigestInput } from './frames.js';

/** How one parameter crosses the wire. */
export type Wire =
  | { kind: 'int' | 'uint' | 'float'; ctype: string }
  | { kind: 'device'; ctype: string }
  | { kind: 'dptr'; ctype: string }
  | { kind: 'handle'; ctype: string }
  | { kind: 'inBuf'; size: string }
  | { kind: 'string' }
  | { kind: 'out'; of: 'int' | 'uint' | 'float' | 'device' | 'dptr'; ctype: string }
  | { kind: 'outHandle'; ctype: string }
  | { kind: 'outBuf'; size: string }
  | { kind: 'outString'; len: string };

/** The daemon's check of a device pointer parameter against the session's allocations. */
export interface DeviceCheck {
  extent: DeviceExtent;
  /** The CUresult (its cuda.h name) for a pointer outside them. */
  refuse: string;
}

export interface WireParam extends Param {
  wire: Wire;
  /** Set on every device pointer by value; not part of the wire, so not of the digest. */
  device?: DeviceCheck;
}

export interface Op {
  /** Stable within one protocol digest: the position in the sorted table, from 1. */
  code: number;
  /** `cuMemAlloc_v3020` or `cuMemcpyHtoDAsync_v7000_ptsz`: the variant's PFN suffix. */
  id: string;
  variant: Variant;
  mode: Mode;
  params: WireParam[];
  handler?: string;
  client?: string;
  /** The frame is hand-defined; the daemon's handler has the client's name. */
  customWire?: boolean;
  /** That frame's name in src/protocol/frames.ts. */
  frame?: string;
  after?: string;
  before?: string;
  /** Work on the card: the daemon asks its scheduler first (cuda-api.ts `work`). */
  work?: boolean;
}

export interface LocalEntry {
  variant: Variant;
}

export interface Unsupported {
  variant: Variant;
  reason: string;
}

/**
 * A legacy variant (declared only for the driver's own build) under the unversioned symbol that
 * dlopen-based loaders still look up: the carried variant of the same name and parameter types it
 * stands for, or none (then it is not carried).
 */
export interface LegacyEntry {
  variant: Variant;
  /** The C function of the carried variant: `gp_fwd_<id>` or `gp_local_<id>`. */
  target?: string;
}

export interface ApiModel {
  ops: Op[];
  locals: LocalEntry[];
  unsupported: Unsupported[];
  legacy: LegacyEntry[];
  /** Both ends must agree on it; the handshake compares it. */
  digest: string;
  handleTypes: string[];
}

const SCALAR_INT = new Set(['int', 'short', 'char', 'signed char']);
/** Integer types of cuda.h that name driver objects: they travel as session ids, as pointer handles do. */
const SCALAR_HANDLES = new Set(['CUmemGenericAllocationHandle', 'CUmemGenericAllocationHandle_v1']);
const SCALAR_UINT = new Set(['unsigned int', 'unsigned', 'size_t', 'unsigned long long', 'unsigned long', 'unsigned short', 'unsigned char', 'cuuint32_t', 'cuuint64_t', 'uint32_t', 'uint64_t']);

function baseType(type: string): { base: string; pointers: number; isConst: boolean } {
  const pointers = (type.match(/\*/g) ?? []).length;
  const isConst = /\bconst\b/.test(type);
  const base = type.replace(/\bconst\b/g, '').replace(/\*/g, '').trim().replace(/\s+/g, ' ');
  return { base, pointers, isConst };
}

export function variantId(v: Variant): string {
  return `${v.name}_v${v.version}${v.perThread ? '_ptsz' : ''}`;
}

/** The wire form of a parameter from its C type, or a reason it cannot travel without annotation. */
function classify(param: Param, role: ParamRole | undefined, types: Map<string, TypeKind>): Wire | string {
  if (typeof role === 'object' && 'device' in role) {
    const { base, pointers } = baseType(param.type);
    if (pointers !== 0 || !/^CUdeviceptr(_v\d)?$/.test(base)) return `parameter ${param.name} (${param.type}) is annotated as device memory but is no CUdeviceptr`;
    return { kind: 'dptr', ctype: param.type };
  }
  if (role !== undefined) {
    if (role === 'string') return { kind: 'string' };
    if ('in' in role) return { kind: 'inBuf', size: role.in };
    if ('out' in role) return { kind: 'outBuf', size: role.out };
    if ('outString' in role) return { kind: 'outString', len: role.outString };
  }
  const { base, pointers } = baseType(param.type);
  const scalar = (b: string): 'int' | 'uint' | 'float' | 'device' | 'dptr' | 'handle' | null => {
    if (/^CUdevice(_v\d)?$/.test(b)) return 'device';
    if (/^CUdeviceptr(_v\d)?$/.test(b)) return 'dptr';
    if (SCALAR_HANDLES.has(b)) return 'handle';
    if (b === 'float' || b === 'double') return 'float';
    if (SCALAR_INT.has(b)) return 'int';
    if (SCALAR_UINT.has(b)) return 'uint';
    const kind = types.get(b);
    if (kind === 'enum') return 'int';
    if (kind === 'scalar') return 'uint';
    if (kind === 'handle') return 'handle';
    return null;
  };
  const s = scalar(base);
  if (pointers === 0 && s !== null) {
    return s === 'handle' ? { kind: 'handle', ctype: param.type } : s === 'device' || s === 'dptr' ? { kind: s, ctype: param.type } : { kind: s, ctype: param.type };
  }
  if (pointers === 1 && s !== null && !/\bconst\b/.test(param.type)) {
    return s === 'handle' ? { kind: 'outHandle', ctype: base } : { kind: 'out', of: s, ctype: base };
  }
  return `parameter ${param.name} (${param.type}) needs an annotation`;
}

const IDENTIFIER = /[A-Za-z_]\w*/g;

/**
 * The check of a device pointer parameter: its annotation, or 'inside' without one. Every name an
 * extent uses must be a parameter of the call, so that a typo fails here rather than in the C++.
 */
function deviceCheck(param: Param, role: ParamRole | undefined, params: Param[]): DeviceCheck | string {
  const note = role !== undefined && typeof role === 'object' && 'device' in role ? role : { device: 'inside' as const };
  const refuse = note.refuse ?? 'CUDA_ERROR_INVALID_VALUE';
  if (!/^CUDA_ERROR_[A-Z_]+$/.test(refuse)) return `parameter ${param.name}: refuse must be a CUDA_ERROR_ name, not ${refuse}`;
  const extent = note.device;
  if (extent !== 'inside') {
    const names = new Set(params.map((p) => p.name));
    const exprs = typeof extent === 'string' ? [extent] : [extent.pitch, extent.width, extent.height];
    for (const expr of exprs) {
      if (!/^[\w\s*+()-]+$/.test(expr)) return `parameter ${param.name}: extent ${expr} may use only names, numbers, + - * and parentheses`;
      for (const name of expr.match(IDENTIFIER) ?? []) {
        if (!names.has(name)) return `parameter ${param.name}: extent ${expr} names ${name}, which is no parameter`;
      }
    }
  }
  return { extent, refuse };
}

/** Joins cudaTypedefs.h with the annotated table into the list of ops both ends are generated from. */
export function buildModel(headers: CudaHeaders, api: Record<string, Annotation> = CUDA_API): ApiModel {
  const ops: Omit<Op, 'code'>[] = [];
  const locals: LocalEntry[] = [];
  const unsupported: Unsupported[] = [];
  const handleTypes = new Set<string>();
  const current = headers.variants.filter((v) => !v.legacy);
  for (const variant of current) {
    const note = api[variant.name];
    if (note === undefined) {
      unsupported.push({ variant, reason: 'not in the table' });
      continue;
    }
    if ('local' in note) {
      locals.push({ variant });
      continue;
    }
    const fwd: Forwarded = note;
    if (fwd.localVersions?.includes(variant.version)) {
      locals.push({ variant });
      continue;
    }
    if (fwd.versions && !fwd.versions.includes(variant.version)) {
      unsupported.push({ variant, reason: `version ${variant.version} not forwarded` });
      continue;
    }
    const params: WireParam[] = [];
    let problem: string | null = null;
    for (const p of variant.params) {
      const wire = classify(p, fwd.params?.[p.name], headers.types);
      if (typeof wire === 'string') {
        problem = wire;
        break;
      }
      if (wire.kind === 'handle' || wire.kind === 'outHandle') handleTypes.add(baseType(wire.ctype).base);
      if (wire.kind === 'dptr') {
        const check = deviceCheck(p, fwd.params?.[p.name], variant.params);
        // A table that names what is no parameter is a mistake in the table, not a call to skip.
        if (typeof check === 'string') throw new Error(`${variant.name}: ${check}`);
        params.push({ ...p, wire, device: check });
      } else {
        params.push({ ...p, wire });
      }
    }
    const outs = params.filter((p) => ['out', 'outHandle', 'outBuf', 'outString'].includes(p.wire.kind));
    if (problem === null && outs.some((p) => p.wire.kind === 'outBuf') && outs.length > 1) {
      // The client's receiver writes an out-buffer straight into place; it must be the only out value.
      problem = 'an out-buffer must be the only out-parameter';
    }
    if (problem !== null && fwd.wire === undefined) {
      unsupported.push({ variant, reason: problem });
      continue;
    }
    ops.push({
      id: variantId(variant),
      variant,
      mode: fwd.mode,
      params: problem === null ? params : [],
      ...(fwd.handler ? { handler: fwd.handler } : {}),
      ...(fwd.after ? { after: fwd.after } : {}),
      ...(fwd.before ? { before: fwd.before } : {}),
      ...(fwd.work ? { work: true } : {}),
      ...(fwd.client ? { client: fwd.client } : {}),
      ...(fwd.wire !== undefined ? { customWire: true, frame: fwd.wire, handler: fwd.handler ?? fwd.client ?? variant.name } : {}),
    });
  }
  ops.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const numbered = ops.map((op, i) => ({ ...op, code: i + 1 }));
  const digest = createHash('sha256')
    .update(JSON.stringify(numbered.map((o) => [o.code, o.id, o.mode, o.client ?? '', o.frame ?? false, o.params.map((p) => [p.type, p.wire])])))
    .update(framesDigestInput())
    .digest('hex')
    .slice(0, 16);
  const legacy = legacyEntries(headers.variants, numbered, locals);
  for (const t of ['CUcontext', 'CUstream', 'CUevent', 'CUmodule', 'CUfunction', 'CUlibrary', 'CUkernel']) handleTypes.add(t);
  return { ops: numbered, locals, unsupported, legacy, digest, handleTypes: [...handleTypes].sort() };
}

/** CUdevice_v1 is CUdevice; every other versioned type name is its own type (CUdeviceptr_v1 is 32 bits). */
const paramTypes = (v: Variant): string => v.params.map((p) => p.type.replace(/\bCUdevice_v1\b/, 'CUdevice').replace(/\s+/g, ' ')).join(',');

function legacyEntries(variants: Variant[], ops: Op[], locals: LocalEntry[]): LegacyEntry[] {
  const taken = new Set(variants.filter((v) => !v.legacy).map((v) => v.symbol));
  const carried = [
    ...ops.map((op) => ({ v: op.variant, fn: `gp_fwd_${op.id}` })),
    ...locals.map(({ variant: v }) => ({ v, fn: `gp_local_${variantId(v)}` })),
  ].filter((c) => !c.v.perThread);
  const entries: LegacyEntry[] = [];
  for (const variant of variants) {
    if (!variant.legacy || variant.perThread || taken.has(variant.symbol)) continue;
    taken.add(variant.symbol);
    const same = carried.filter((c) => c.v.name === variant.name && paramTypes(c.v) === paramTypes(variant)).sort((a, b) => b.v.version - a.v.version);
    entries.push(same[0] ? { variant, target: same[0].fn } : { variant });
  }
  return entries;
}
