/**
 * The daemon's WebSocket frame parser (native/addon/ws_frame.cc, which the sessions' native readers use
 * on every client frame) under libFuzzer with ASan and UBSan (native/addon/fuzz/ws_frame_fuzz.cc): any
 * bytes, walked as a stream of client frames. A short run; any crash, out-of-bounds access, undefined
 * behaviour or broken invariant (a head longer than the bytes, a length over the limit, unmasking
 * that does not undo itself) fails it, and libFuzzer leaves the input that did it.
 * The same for the session's reader of a local job's call ring (native/addon/fuzz/call_ring_fuzz.cc):
 * any bytes as the ring's shared memory; a record outside the ring, or past the head read, fails it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

const SECONDS = Number(process.env.GPUPOOL_WS_FRAME_FUZZ_SECONDS ?? 10);

const targets = [
  { name: 'ws_frame_fuzz', what: 'the frame parser', least: 10_000 },
  { name: 'call_ring_fuzz', what: 'the call ring\'s reader', least: 100 },
];

for (const { name, what, least } of targets) {
  t.test(`${what} survives ${SECONDS} s of libFuzzer with ASan and UBSan`, async (t) => {
    const build = spawnSync('make', ['-C', join(packageRoot, 'native'), join(packageRoot, 'build', 'fuzz', name)], { encoding: 'utf8' });
    t.equal(build.status, 0, 'make -C native fuzz (needs clang++ and libclang-rt-dev, see .ci/setup)', { output: `${build.stdout}${build.stderr}` });
    if (build.status !== 0) return;
    const dir = mkdtempSync(join(tmpdir(), `gpupool-${name}-`));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const corpus = join(dir, 'corpus');
    mkdirSync(corpus);
    const run = spawnSync(
      join(packageRoot, 'build', 'fuzz', name),
      [`-max_total_time=${SECONDS}`, '-seed=1', '-print_final_stats=1', `-artifact_prefix=${dir}/`, corpus],
      { encoding: 'utf8', timeout: (SECONDS + 60) * 1000 },
    );
    const output = `${run.stdout}${run.stderr}`;
    t.equal(run.status, 0, `${name} found nothing`, { output: output.slice(-4000) });
    t.same(readdirSync(dir).filter((f) => /^(crash|leak|timeout|oom)-/.test(f)), [], 'no crashing input was written');
    const execs = Number(/stat::number_of_executed_units:\s+(\d+)/.exec(output)?.[1] ?? 0);
    t.ok(execs > least, `${execs} inputs parsed`);
  });
}
