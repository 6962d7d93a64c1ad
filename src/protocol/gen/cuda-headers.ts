import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One parameter of a driver entry point, as cudaTypedefs.h declares it. */
export interface Param {
  /** The C type with qualifiers and pointers, e.g. `const void *`, `CUdeviceptr_v2`, `CUstream *`. */
  type: string;
  name: string;
}

/** One variant of a driver entry point: a `PFN_<name>_v<version>[_ptsz|_ptds]` typedef. */
export interface Variant {
  name: string;
  version: number;
  perThread: boolean;
  params: Param[];
  /** The symbol the real libcuda exports for it (`cuMemAlloc_v2`, `cuMemcpyHtoDAsync_v2_ptsz`). */
  symbol: string;
  /** Part of the legacy API (declared only under __CUDA_API_VERSION_INTERNAL). */
  legacy: boolean;
}

/** How cuda.h defines a type name. */
export type TypeKind = 'handle' | 'enum' | 'struct' | 'scalar' | 'function';

export interface CudaHeaders {
  variants: Variant[];
  types: Map<string, TypeKind>;
  includeDir: string;
}

export function cudaIncludeDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.CUDA_HOME ?? env.CUDA_PATH ?? '/usr/local/cuda', 'include');
}

const TYPEDEF = /typedef\s+CUresult\s+\(CUDAAPI\s+\*PFN_(cu\w+?)_v(\d+)(_ptsz|_ptds)?\)\s*\(([^)]*)\)\s*;/g;

export function parseParams(list: string): Param[] {
  const text = list.trim();
  if (text === '' || text === 'void') return [];
  return text.split(',').map((raw) => {
    const p = raw.trim().replace(/\s+/g, ' ');
    const m = /^(.*?)(\w+)$/.exec(p);
    if (!m || m[1] === undefined || m[2] === undefined) throw new Error(`cannot parse parameter "${p}"`);
    return { type: m[1].trim().replace(/\s*\*\s*/g, ' *').replace(/\*\s+\*/g, '**').trim(), name: m[2] };
  });
}

/**
 * The real library's symbol of each variant: the oldest version has the bare name, the next `_v2`,
 * and so on (cuMemAlloc 2000 -> cuMemAlloc, 3020 -> cuMemAlloc_v2). A per-thread variant takes the
 * symbol of the default variant with the same parameter types (the newest one not newer than it),
 * plus its suffix: cuMemcpyHtoDAsync 7000 per-thread -> cuMemcpyHtoDAsync_v2_ptsz.
 */
function assignSymbols(variants: RawVariant[]): Variant[] {
  const defaults = new Map<string, RawVariant[]>();
  for (const v of variants) if (!v.perThread) defaults.set(v.name, [...(defaults.get(v.name) ?? []), v]);
  for (const list of defaults.values()) list.sort((a, b) => a.version - b.version);
  const symbolOf = (v: Pick<RawVariant, 'name' | 'version'>) => {
    const ordinal = (defaults.get(v.name) ?? []).findIndex((d) => d.version === v.version) + 1;
    return ordinal <= 1 ? v.name : `${v.name}_v${ordinal}`;
  };
  const signature = (v: RawVariant) => v.params.map((p) => p.type).join(',');
  return variants.map(({ suffix, ...v }) => {
    if (!v.perThread) return { ...v, symbol: symbolOf(v) };
    const candidates = (defaults.get(v.name) ?? []).filter((d) => d.version <= v.version && signature(d) === signature(v));
    const paired = candidates[candidates.length - 1];
    return { ...v, symbol: `${paired ? symbolOf(paired) : v.name}_${suffix ?? 'ptsz'}` };
  });
}

type RawVariant = Omit<Variant, 'symbol'> & { suffix?: string };

/**
 * Reads cudaTypedefs.h (every versioned variant) and cudaProfilerTypedefs.h (the profiler's entry
 * points, which cudart fetches from the driver too), and classifies cuda.h's type names.
 */
export function readCudaHeaders(includeDir = cudaIncludeDir()): CudaHeaders {
  // The profiler's first: cudaTypedefs.h ends with the legacy section, which must stay last.
  const typedefs = readFileSync(join(includeDir, 'cudaProfilerTypedefs.h'), 'utf8') + readFileSync(join(includeDir, 'cudaTypedefs.h'), 'utf8');
  const internalFrom = typedefs.indexOf('#if defined(__CUDA_API_VERSION_INTERNAL)');
  const raw: RawVariant[] = [];
  for (const m of typedefs.matchAll(TYPEDEF)) {
    const [, name, version, suffix, params] = m;
    raw.push({
      name: name!,
      version: Number(version),
      perThread: suffix !== undefined,
      ...(suffix ? { suffix: suffix.slice(1) } : {}),
      params: parseParams(params!),
      legacy: internalFrom >= 0 && (m.index ?? 0) > internalFrom,
    });
  }
  return { variants: assignSymbols(raw), types: classifyTypes(includeDir), includeDir };
}

/** Type names of cuda.h by what they are, from the preprocessed header. */
function classifyTypes(includeDir: string): Map<string, TypeKind> {
  const text = execFileSync('cc', ['-E', '-P', '-x', 'c', '-I', includeDir, join(includeDir, 'cuda.h')], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  }).replace(/\s+/g, ' ');
  const types = new Map<string, TypeKind>();
  for (const m of text.matchAll(/typedef struct \w+ \*(\w+);/g)) types.set(m[1]!, 'handle');
  for (const m of text.matchAll(/typedef enum \w*\s*\{[^}]*\}\s*(\w+);/g)) types.set(m[1]!, 'enum');
  for (const m of text.matchAll(/typedef enum (\w+) (\w+);/g)) types.set(m[2]!, 'enum');
  for (const m of text.matchAll(/typedef (?:struct|union) \w*\s*\{(?:[^{}]|\{[^{}]*\})*\}\s*(\w+)(?:\s*,\s*\*?\s*\w+)*;/g)) types.set(m[1]!, 'struct');
  for (const m of text.matchAll(/typedef (?:struct|union) (\w+) (\w+);/g)) if (!types.has(m[2]!)) types.set(m[2]!, 'struct');
  for (const m of text.matchAll(/typedef (?:unsigned |signed )?(?:int|long long|long|short|char|size_t|uint\w*|int\w*|cuuint\w*) (\w+);/g)) {
    types.set(m[1]!, 'scalar');
  }
  for (const m of text.matchAll(/typedef (CUdevice\w*|CUdeviceptr\w*|CUtexObject\w*|CUsurfObject\w*|CUmemGenericAllocationHandle\w*) (\w+);/g)) {
    types.set(m[2]!, 'scalar');
  }
  for (const m of text.matchAll(/typedef \w+ \( ?\*(\w+)\)/g)) types.set(m[1]!, 'function');
  // Aliases (typedef CUDA_MEMCPY2D_v2 CUDA_MEMCPY2D;) take the kind of what they name.
  for (let pass = 0; pass < 3; pass++) {
    for (const m of text.matchAll(/typedef (\w+) (\w+);/g)) {
      const kind = types.get(m[1]!);
      if (kind && !types.has(m[2]!)) types.set(m[2]!, kind);
    }
  }
  return types;
}
