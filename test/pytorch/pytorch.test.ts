import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, computeStatus, eventually, writeConfig } from '../helpers/integration.js';

// PyTorch (the CUDA 13 build) through `gpupool run` against `gpupool daemon --simulate`, in the
// emulator's no-op kernel mode (docs/emulator.md): PyTorch's kernels have no CPU implementation, so
// only what no kernel computes (copies, memory figures, errors) is checked for values.
const PYTHON = join(packageRoot, '.venv-torch', 'bin', 'python');
const SCRIPT = join(packageRoot, 'test', 'pytorch', 'torch_job.py');
const QUOTA = 1024 ** 3;

// Importing torch alone takes seconds on a loaded 2-CPU machine: more than the suite's default.
t.setTimeout(300_000);

interface Check {
  check: string;
  ok?: boolean;
  error?: string;
  [fact: string]: unknown;
}

t.test('PyTorch through gpupool on the emulator, no-op kernel mode', { timeout: 240_000 }, async (t) => {
  t.ok(existsSync(PYTHON), `the PyTorch venv exists (${PYTHON}; .ci/setup makes it with .ci/torch-venv)`);
  if (!existsSync(PYTHON)) return;
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)], { GPUPOOL_EMU_NOOP_KERNELS: '1' });
  t.teardown(() => daemon.stop());
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-torch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const trace = join(dir, 'trace.txt');

  const job = await runCli(['run', '--servers', daemon.url.replace(/^http/, 'ws'), '--mem', String(QUOTA), '--trace', trace, '--', PYTHON, SCRIPT]);
  t.equal(job.code, 0, `the job exits 0: ${job.stderr.slice(-2000)}`);
  const checks = new Map<string, Check>();
  for (const line of job.stdout.split('\n')) if (line.startsWith('{')) { const c = JSON.parse(line) as Check; checks.set(c.check, c); }
  const get = (name: string): Check => checks.get(name) ?? { check: name, ok: false, error: 'not reached' };

  t.match(get('device'), { available: true, count: 1, total: QUOTA }, 'one card, its total memory the quota');
  t.match(get('roundtrip'), { equal: true }, 'a tensor to the card and back keeps its values');
  t.match(get('pinned'), { pinned: true, equal: true }, 'pin_memory() works and a non-blocking copy from pinned memory arrives intact');
  t.match(get('zeros'), { ok: true }, `a kernel launch (torch.zeros) runs: ${get('zeros').error ?? ''}`);
  t.match(get('streams'), { priority: -1 }, 'a stream with a priority');
  t.ok(Number(get('streams').elapsed_ms) > 0, 'events time the work between them');
  const memory = get('memory');
  t.equal(memory.total, QUOTA, 'mem_get_info total == the quota');
  t.ok(Number(memory.free) <= QUOTA - Number(memory.reserved), 'mem_get_info free leaves out what the caching allocator reserved');
  t.equal(memory.allocated, memory.tensor_bytes, 'memory_stats agrees with memory_allocated');
  t.match(get('oom'), { raised: true, goes_on: true }, 'past the quota: torch.OutOfMemoryError, and the job goes on');
  t.ok(checks.has('done'), 'the script ran to its end');
  // cuBLAS's handle needs module globals (cuLibraryGetGlobal), carried by another branch (issue 11).
  t.todo('cuBLAS handle (cublasCreate needs cuLibraryGetGlobal)', async (t) => t.match(get('blas_handle'), { ok: true }, get('blas_handle').error ?? ''));

  // The trace names every driver call; the only failures are the ones the script provoked or that
  // cudart expects (a table of CUDA 13 it probes for, a context query before a context exists).
  const lines = readFileSync(trace, 'utf8').split('\n').filter((l) => l !== '');
  t.ok(lines.some((l) => /^gpupool-trace ok .* remote .* cuMemAlloc_v2\(/.test(l)), 'the trace shows forwarded allocations');
  t.ok(lines.some((l) => /^gpupool-trace ok .* local .* cuMemHostAlloc\(/.test(l)), 'and pinned memory answered locally');
  t.ok(lines.some((l) => /cuLaunchKernel/.test(l) && /^gpupool-trace ok/.test(l)), 'and kernel launches');
  const expected = [/cuGetExportTable\(.*f8cff951/, /cuCtxGetDevice_v2\(device=0x[0-9a-f]+, ctx=\(nil\)\) = CUDA_ERROR_INVALID_CONTEXT/, /cuMemAlloc_v2\(.*= CUDA_ERROR_OUT_OF_MEMORY/];
  const unexpected = lines.filter((l) => l.startsWith('gpupool-trace FAIL') && !expected.some((e) => e.test(l)));
  t.same(unexpected, [], 'no other driver call failed');

  // The session is freed with nothing held, and the no-op mode is named in status.
  const compute = await eventually('the session freed', async () => {
    const c = await computeStatus(daemon);
    return c.sessions.length === 0 ? c : undefined;
  });
  t.match(compute.emulator, { noopKernels: true, contexts: 0, allocations: 0, poolAllocations: 0, vmmAllocations: 0 }, 'status: no-op kernel mode, nothing held');
  t.ok(Number(compute.emulator?.noopLaunches) > 0, 'kernels ran as no-ops');
});
