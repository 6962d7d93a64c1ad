/**
 * The production addon builds without the emulator: no source binding.gyp compiles includes a header of
 * native/fakes (the emulator's counters are found with dlsym, docs/emulator.md "Counters"), and the frame
 * codec it links is the generated one both ends share (build/gen/gp_frames.c). Read from the compiler's
 * own list of each source's headers (-M), with binding.gyp's include paths.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

const gyp = readFileSync(join(packageRoot, 'binding.gyp'), 'utf8');
const sources = [...gyp.matchAll(/"((?:native|build)\/[^"]+\.(?:cc|c))"/g)].map((m) => m[1]!);
const napi = (createRequire(import.meta.url)('node-addon-api') as { include_dir: string }).include_dir;
const nodeInclude = resolve(dirname(process.execPath), '..', 'include', 'node');
const includes = [napi, join(packageRoot, 'build', 'gen'), join(packageRoot, 'native', 'common'), '/usr/local/cuda/include', nodeInclude];

t.test('binding.gyp compiles the shared frame codec and no emulator source', async (t) => {
  t.ok(sources.includes('build/gen/gp_frames.c') && sources.includes('native/common/frame_in.c'), 'the generated codec and its reader are linked');
  t.same(sources.filter((s) => s.includes('fakes')), [], 'no source of native/fakes');
});

t.test('no addon source includes a header of native/fakes', async (t) => {
  for (const source of sources) {
    const cc = source.endsWith('.cc') ? 'g++' : 'gcc';
    const deps = spawnSync(cc, ['-M', ...(source.endsWith('.cc') ? ['-std=c++17'] : []), ...includes.map((i) => `-I${i}`), join(packageRoot, source)], { encoding: 'utf8' });
    t.equal(deps.status, 0, `${cc} -M ${source}`, { stderr: deps.stderr });
    const headers = deps.stdout.split(/[\s\\]+/).filter((p) => p.endsWith('.h'));
    t.ok(headers.length > 0, `${source}: ${headers.length} headers listed`);
    t.same(headers.filter((h) => resolve(packageRoot, h).includes(join('native', 'fakes'))), [], `${source} includes nothing of native/fakes`);
  }
});
