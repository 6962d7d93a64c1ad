/**
 * The client library's decoder under libFuzzer (native/shim/fuzz): WELCOME, notices and reply frames
 * of any bytes, decoded by native/shim/decode.c, and call frames of every hand-encoded frame, decoded,
 * re-encoded and read back by the generated frame codec both ends link (build/gen/gp_frames.c), under
 * AddressSanitizer and UBSan. A short run here (the
 * longer one is bench/fuzz.js); any crash, out-of-bounds read, leak or undefined behaviour fails it,
 * and libFuzzer leaves the input that did it beside the corpus (its path is in the output).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

const SECONDS = Number(process.env.GPUPOOL_DECODE_FUZZ_SECONDS ?? 20);

t.test(`the decoder survives ${SECONDS} s of libFuzzer with ASan and UBSan`, async (t) => {
  const build = spawnSync('make', ['-C', join(packageRoot, 'native'), 'fuzz'], { encoding: 'utf8' });
  t.equal(build.status, 0, 'make -C native fuzz (needs clang and libclang-rt-dev, see .ci/setup)', { output: `${build.stdout}${build.stderr}` });
  if (build.status !== 0) return;
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-decode-fuzz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const corpus = join(dir, 'corpus');
  const seeds = spawnSync(process.execPath, [join(packageRoot, 'native', 'shim', 'fuzz', 'seeds.mjs'), corpus], { encoding: 'utf8' });
  t.equal(seeds.status, 0, 'seed corpus', { output: seeds.stderr });
  const run = spawnSync(
    join(packageRoot, 'build', 'fuzz', 'decode_fuzz'),
    [`-max_total_time=${SECONDS}`, '-seed=1', '-print_final_stats=1', `-artifact_prefix=${dir}/`, corpus],
    { encoding: 'utf8', timeout: (SECONDS + 60) * 1000 },
  );
  const output = `${run.stdout}${run.stderr}`;
  t.equal(run.status, 0, 'decode_fuzz found nothing', { output: output.slice(-4000) });
  t.same(readdirSync(dir).filter((f) => /^(crash|leak|timeout|oom)-/.test(f)), [], 'no crashing input was written');
  const execs = Number(/stat::number_of_executed_units:\s+(\d+)/.exec(output)?.[1] ?? 0);
  t.ok(execs > 10_000, `${execs} inputs decoded`);
});
