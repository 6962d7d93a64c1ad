import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import { packageRoot } from '../../src/paths.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, computeStatus, eventually, writeConfig } from '../helpers/integration.js';
import { createTestHosts, namespacesAvailable } from '../helpers/netns.js';

// PyTorch (the CUDA 13 build) through `gpupool run` against `gpupool daemon --simulate`, in the
// emulator's no-op kernel mode (docs/emulator.md): PyTorch's kernels have no CPU implementation, so
// only what no kernel computes (copies, memory figures, errors) is checked for values.
// GPUPOOL_TORCH_VENV: the venv .ci/torch-venv made elsewhere (the same variable it honours).
const PYTHON = join(process.env.GPUPOOL_TORCH_VENV ?? join(packageRoot, '.venv-torch'), 'bin', 'python');
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

function parseChecks(stdout: string): { checks: Map<string, Check>; get: (name: string) => Check } {
  const checks = new Map<string, Check>();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const c = JSON.parse(line) as Check;
    checks.set(c.check, c);
  }
  return { checks, get: (name) => checks.get(name) ?? { check: name, ok: false, error: 'not reached' } };
}

t.test('PyTorch through gpupool on the emulator, no-op kernel mode', { timeout: 240_000 }, async (t) => {
  t.ok(existsSync(PYTHON), `the PyTorch venv exists (${PYTHON}; .ci/setup makes it with .ci/torch-venv)`);
  if (!existsSync(PYTHON)) return;
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)], { GPUPOOL_EMU_NOOP_KERNELS: '1' }, 60_000);
  t.teardown(() => daemon.stop());
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-torch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const trace = join(dir, 'trace.txt');

  const job = await runCli(['run', '--servers', daemon.url.replace(/^http/, 'ws'), '--mem', String(QUOTA), '--trace', trace, '--', PYTHON, SCRIPT]);
  t.equal(job.code, 0, `the job exits 0: ${job.stderr.slice(-2000)}`);
  const { checks, get } = parseChecks(job.stdout);

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
  // On an allocation failure PyTorch reports who uses the card through NVML, and first builds its
  // table of driver entry points, asserting that each exists (cuGetProcAddress hands out the calls
  // gpupool does not carry).
  t.match(get('oom'), { raised: true, goes_on: true }, `past the quota: torch.OutOfMemoryError, and the job goes on: ${get('oom').error ?? ''}`);
  t.match(get('graph'), { ok: true, replays: 10 }, `a CUDA graph captured and replayed 10 times: ${get('graph').error ?? ''}`);
  // CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE (910) with the generic reason (1): only success brings details.
  t.match(get('graph_update'), { ok: true, rc: 0, result: 0, refused: 910, refused_result: 1 }, `an executable graph updated from a capture of the same shape, refused from another: ${get('graph_update').error ?? ''}`);
  t.ok(checks.has('done'), 'the script ran to its end');
  t.match(get('blas_handle'), { ok: true, handle: true }, `a cuBLAS handle (cublasCreate): ${get('blas_handle').error ?? ''}`);
  t.match(get('matmul'), { ok: true, shape: [64, 16], lt_shape: [64, 16] }, `torch.matmul and a biased linear reach cuBLAS and cuBLASLt without error: ${get('matmul').error ?? ''}`);
  t.match(get('training'), { ok: true, steps: 20, losses: 20, pinned: true }, `20 Adam steps of an MLP fed by DataLoader(pin_memory=True), loss.item() each: ${get('training').error ?? ''}`);
  // cuDNN links its own cudart (13.3), whose integrity check asks versions 13030-13032 (native/shim/export_tables.c).
  t.match(get('convolution'), { ok: true, cudnn: true }, `a convolution with cuDNN enabled: ${get('convolution').error ?? ''}`);

  // The trace names every driver call; the only failures are the ones the script provoked or that
  // cudart expects (a table of CUDA 13 it probes for, a context query before a context exists), and
  // cuDNN's probe for a device address of pinned memory (a remote card maps no host memory; cuDNN
  // goes on without it).
  const lines = readFileSync(trace, 'utf8').split('\n').filter((l) => l !== '');
  t.ok(lines.some((l) => /^gpupool-trace ok .* remote .* cuMemAlloc_v2\(/.test(l)), 'the trace shows forwarded allocations');
  t.ok(lines.some((l) => /^gpupool-trace ok .* local .* cuMemHostAlloc\(/.test(l)), 'and pinned memory answered locally');
  t.ok(lines.some((l) => /cuLaunchKernel/.test(l) && /^gpupool-trace ok/.test(l)), 'and kernel launches');
  t.ok(lines.some((l) => /^gpupool-trace ok .* remote .* cuStreamBeginCapture_v2\(/.test(l)), 'stream capture is carried');
  t.equal(lines.filter((l) => /^gpupool-trace ok .* remote .* cuGraphLaunch\(/.test(l)).length, 11, 'the graph is launched 10 times on the daemon, and the updated one once');
  t.notOk(lines.some((l) => /cuDevicePrimaryCtxGetState\(/.test(l) && !/ local /.test(l)), 'primary context states are answered in the client');
  const expected = [/cuGetExportTable\(.*f8cff951/, /cuCtxGetDevice_v2\(device=0x[0-9a-f]+, ctx=\(nil\)\) = CUDA_ERROR_INVALID_CONTEXT/, /cuMemAlloc_v2\(.*= CUDA_ERROR_OUT_OF_MEMORY/, /cuGraphExecUpdate\w*\(.*= CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE/,
    /local .* cuMemHostGetDevicePointer_v2\(.*= CUDA_ERROR_NOT_SUPPORTED/];
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

const refused = namespacesAvailable();
t.test('the same script with --gpus 2 across two daemons in network namespaces', { skip: refused ?? false }, async (t) => {
  if (!existsSync(PYTHON)) return t.fail(`no PyTorch venv (${PYTHON})`);
  const hosts = createTestHosts(2);
  t.teardown(() => hosts.destroy());
  // Both daemons on the same fixture: the same card names, UUIDs and (emulated) device addresses.
  const fixtures = [new FixtureFile(mixedHost()), new FixtureFile(mixedHost())];
  t.teardown(() => fixtures.forEach((f) => f.remove()));
  const token = newToken();
  const daemons = await Promise.all(
    hosts.hosts.map((h, i) => {
      const tokens = join(fixtures[i]!.dir, 'tokens');
      writeFileSync(tokens, `${tokenLine('torch', token)}\n`, { mode: 0o600 });
      const args = ['--simulate', fixtures[i]!.path, '--config', writeConfig(fixtures[i]!.dir, QUICK_CONFIG), '--tokens', tokens, '--listen', `${h.address}:7760`];
      return DaemonProcess.start(args, { GPUPOOL_EMU_NOOP_KERNELS: '1' }, 60_000, h.ns);
    }),
  );
  t.teardown(() => Promise.all(daemons.map((d) => d.stop())));
  const servers = hosts.hosts.map((h) => `ws://${h.address}:7760`).join(',');
  const job = await runCli(['run', '--servers', servers, '--token', token, '--gpus', '2', '--mem', String(QUOTA), '--', PYTHON, SCRIPT], {}, hosts.client);
  t.equal(job.code, 0, `the job exits 0: ${job.stderr.slice(-2000)}`);
  const { get } = parseChecks(job.stdout);
  t.match(get('device'), { available: true, count: 2, total: QUOTA }, 'device_count() == 2');
  // Both daemons hand out the same device addresses: the client library keeps the job's memory on the
  // two cards apart (test/compute/same-uuids.test.ts), so a copy named by addresses alone is the one meant.
  t.match(get('two_cards'), { to: true, copy: true }, 'a tensor copied from one card to the other arrives intact');
  t.notMatch(job.stderr, /ambiguous; refused/, 'no copy was refused as ambiguous');
});
