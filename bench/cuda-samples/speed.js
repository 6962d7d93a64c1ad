/**
 * The speed of the conformance run's heaviest CPU kernels on this host (docs/compatibility.md, "Speed
 * of the CPU kernels"): builds speed/kernel_speed.c with the kernel library's flags and prints what it
 * measures (GEMM GFLOP/s per CPU-second for each tensor-core sample's element type; ns per inline
 * texture fetch) with the machine it ran on, as JSON.
 *
 *   node bench/cuda-samples/speed.js [--size 2048] [--texture 3072]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { machine } from '../machine.js';
import { kernelFlags } from './cflags.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const { values: opts } = parseArgs({ options: { size: { type: 'string', default: '2048' }, texture: { type: 'string', default: '3072' } } });
const dir = mkdtempSync(join(tmpdir(), 'gpupool-kernel-speed-'));
try {
  const exe = join(dir, 'kernel_speed');
  execFileSync('cc', [...kernelFlags(root, process.env.CUDA_HOME ?? '/usr/local/cuda'), '-o', exe, join(here, 'speed', 'kernel_speed.c'), '-lm']);
  const measured = JSON.parse(execFileSync(exe, [String(Number(opts.size)), String(Number(opts.texture))], { encoding: 'utf8' }));
  process.stdout.write(`${JSON.stringify({ machine: machine(), ...measured }, null, 2)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
