/**
 * What the Thrust programs' tests share: the conformance run's kernel library (bench/cuda-samples/*.c,
 * built here as run.js builds it), and a run of a program through `gpupool run` against a simulated
 * daemon of one card that loads it beside the emulator's own kernels.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
// @ts-expect-error bench/ is plain JavaScript
import { buildKernelLibrary } from '../../bench/cuda-samples/cflags.js';
import { emulatedKernels, packageRoot } from '../../src/paths.js';
import { DaemonProcess, runCli } from './daemon-process.js';
import { type FixtureCard, FixtureFile, mixedHost } from './fixture.js';
import { QUICK_CONFIG, writeConfig } from './integration.js';
import { CUDA_HOME } from './programs.js';

/** Builds the sample kernels' library for this test process; removed when `t` ends. */
export function sampleKernelLibrary(t: Test): string {
  const dir = join(tmpdir(), 'gpupool-test-programs');
  mkdirSync(dir, { recursive: true });
  const library = (buildKernelLibrary as (root: string, cudaHome: string, out: string) => string)(
    packageRoot,
    CUDA_HOME,
    join(dir, `libgpupool_sample_kernels-${process.pid}.so`),
  );
  t.teardown(() => rmSync(library, { force: true }));
  return library;
}

/** Runs `program` through a simulated daemon of `card` alone, with `library`'s kernels. */
export async function runOnCard(
  t: Test,
  card: FixtureCard,
  library: string,
  program: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const fixture = new FixtureFile({ nvidia: { ...mixedHost().nvidia!, cards: [card] } });
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)], {
    GPUPOOL_EMU_KERNELS: `${emulatedKernels}:${library}`,
  });
  t.teardown(() => daemon.stop());
  return runCli(['run', '--servers', daemon.url.replace(/^http/, 'ws'), '--', program]);
}
