import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../paths.js';
import { readCudaHeaders } from './cuda-headers.js';
import { emitAddon, emitOpsHeader, emitOpsJson, emitShim, emitShimDecls } from './emit.js';
import { emitFramesHeader, emitFramesSource, emitWorkerControlHeader } from './frames.js';
import { buildModel } from './model.js';
import { emitTraceEntries } from './trace.js';

/** Where the generated sources go; native/Makefile and binding.gyp read them from here. */
export const generatedDir = join(packageRoot, 'build', 'gen');

/** Writes only what changed, so make does not rebuild everything on every run. */
function write(path: string, text: string): boolean {
  try {
    if (readFileSync(path, 'utf8') === text) return false;
  } catch {
    // absent: write it
  }
  writeFileSync(path, text);
  return true;
}

export function generate(outDir = generatedDir): { digest: string; ops: number; local: number; unsupported: number; changed: string[] } {
  const headers = readCudaHeaders();
  const model = buildModel(headers);
  mkdirSync(outDir, { recursive: true });
  const files: Record<string, string> = {
    'gp_ops.h': emitOpsHeader(model),
    'gp_shim_decls.h': emitShimDecls(model),
    'shim_stubs.c': emitShim(model),
    'trace_entries.c': emitTraceEntries(model, headers.types),
    'addon_ops.inc': emitAddon(model),
    'ops.json': emitOpsJson(model),
    'gp_frames.h': emitFramesHeader(),
    'gp_frames.c': emitFramesSource(),
    'gp_worker_control.h': emitWorkerControlHeader(),
  };
  const changed = Object.entries(files).filter(([name, text]) => write(join(outDir, name), text)).map(([name]) => name);
  return { digest: model.digest, ops: model.ops.length, local: model.locals.length, unsupported: model.unsupported.length, changed };
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const result = generate(process.argv[2] ?? generatedDir);
  process.stdout.write(`gpupool protocol ${result.digest}: ${result.ops} forwarded, ${result.local} local, ${result.unsupported} not carried; changed: ${result.changed.join(', ') || 'nothing'}\n`);
}
