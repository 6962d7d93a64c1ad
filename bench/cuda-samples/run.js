/**
 * The conformance run (issue 11): NVIDIA's cuda-samples, built from a checkout the developer points it
 * at (nothing is fetched; the samples' code is never part of this repository), run unmodified through
 * `gpupool run` against `gpupool daemon --simulate`, with the CPU kernels of bench/cuda-samples/kernels.c
 * for the emulated driver. Reports pass / fail / waived / not built per sample of 0_Introduction,
 * 1_Utilities, 2_Concepts_and_Techniques and 3_CUDA_Features, with the calls gpupool named as not
 * carried, as a Markdown table (docs/compatibility.md keeps the last one).
 *
 *   node bench/cuda-samples/run.js --samples DIR [--cache DIR] [--arch 80] [--jobs 2] [--no-build]
 *                                  [--only a,b] [--timeout 120] [--out FILE] [--logs DIR]
 *                                  [--server ws://HOST:PORT] [--pool]
 *
 * --logs keeps each sample's whole output there (NAME.log). The build's output goes to the cache's
 * configure.log and build-<folder>.log, from which a sample not built says why (not-built.js). --cache (default ~/.cache/gpupool-cuda-samples) keeps a copy of the sources, patched to build for one
 * architecture only (nvcc is slow: one arch, uncompressed so that the emulator reads the cubins), and the
 * CMake build; --no-build runs what is built. A sample's exit status decides: 0 pass, 2 (the samples'
 * EXIT_WAIVED) waived, anything else or the timeout fail. --server runs them against that daemon (one
 * on a real card) instead of a simulated one of the run's own. --pool also runs the multi-GPU samples
 * with `--gpus all` across two simulated daemons, each in a network namespace of its own (test hosts of
 * test/helpers/netns.ts, root only), from a third that has no cards; it builds the one of them outside
 * the four folders (5_Domain_Specific/p2pBandwidthLatencyTest) too. `--only none` runs only those.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { newToken, tokenLine } from '../../dist/auth/tokens.js';
import { CLI, Daemon } from '../daemon.js';
import { buildKernelLibrary } from './cflags.js';
import { notBuiltReasons } from './not-built.js';
import { judge, table } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const CUDA_HOME = process.env.CUDA_HOME ?? '/usr/local/cuda';
const CATEGORIES = ['0_Introduction', '1_Utilities', '2_Concepts_and_Techniques', '3_CUDA_Features'];
// The multi-GPU samples --pool runs; p2pBandwidthLatencyTest is the one sample built outside CATEGORIES.
// Its copies go through the client's host between daemons: 16 MiB a copy (its own option; 160 MB by
// default) keeps its 16 device pairs, six matrices and five repeats within the run's timeout.
const MULTI_GPU = [['0_Introduction', 'simpleMultiGPU'], ['1_Utilities', 'topologyQuery'], ['5_Domain_Specific', 'p2pBandwidthLatencyTest', ['--numElems=4194304']]];
const OUTSIDE = MULTI_GPU.filter(([cat]) => !CATEGORIES.includes(cat));
const TEST_KERNELS = join(root, 'build', 'native', 'fakes', 'cuda', 'kernels', 'libgpupool_test_kernels.so');

const { values: opts } = parseArgs({
  options: {
    samples: { type: 'string' },
    cache: { type: 'string', default: join(homedir(), '.cache', 'gpupool-cuda-samples') },
    arch: { type: 'string', default: '80' },
    jobs: { type: 'string', default: '2' },
    'no-build': { type: 'boolean', default: false },
    only: { type: 'string' },
    timeout: { type: 'string', default: '120' },
    out: { type: 'string' },
    server: { type: 'string' },
    pool: { type: 'boolean', default: false },
    logs: { type: 'string' },
  },
});
if (!opts.samples) {
  process.stderr.write('usage: node bench/cuda-samples/run.js --samples DIR [--cache DIR] [--no-build] [--only a,b] [--out FILE]\n');
  process.exit(2);
}
const src = join(opts.cache, 'src');
const whyNotBuilt = notBuiltReasons(opts.cache);
const build = join(opts.cache, 'build');

/** The checkout's sources in the cache, each sample built for --arch alone. */
function prepareSources() {
  if (existsSync(join(src, 'CMakeLists.txt'))) return;
  for (const part of ['CMakeLists.txt', 'Common', 'cmake', 'Samples', 'test_args.json']) {
    if (existsSync(join(opts.samples, part))) cpSync(join(opts.samples, part), join(src, part), { recursive: true });
  }
  for (const [cat, name] of [...CATEGORIES.flatMap((cat) => samplesOf(cat).map((name) => [cat, name])), ...OUTSIDE]) {
    const lists = join(src, 'Samples', cat, name, 'CMakeLists.txt');
    if (!existsSync(lists)) continue;
    const text = readFileSync(lists, 'utf8').replace(/set\(CMAKE_CUDA_ARCHITECTURES [^)]*\)/g, `set(CMAKE_CUDA_ARCHITECTURES ${opts.arch})`);
    writeFileSync(lists, text);
  }
}

function samplesOf(category) {
  const dir = join(existsSync(src) ? src : opts.samples, 'Samples', category);
  return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
}

function buildSamples() {
  const shim = join(root, 'build', 'native', 'shim', 'libcuda.so');
  const cache = join(build, 'CMakeCache.txt');
  // Configured again when the cache links another tree's client library (a cache kept across checkouts).
  if (!existsSync(cache) || !readFileSync(cache, 'utf8').includes(`CUDA_cuda_driver_LIBRARY:FILEPATH=${shim}\n`)) {
    // A sample whose library this host lacks (NVVM, NVRTC, cuRAND) fails the generate step for itself
    // only: the others' Makefiles are written, and what did not build shows as "not built".
    try {
      logged(['cmake', '-S', src, '-B', build, '-DCMAKE_BUILD_TYPE=Release', '-DCMAKE_CUDA_FLAGS=--no-compress', `-DCMAKE_CUDA_COMPILER=${join(CUDA_HOME, 'bin', 'nvcc')}`,
      // Driver-API samples link libcuda.so.1 by name: gpupool's client library is one (a host without
      // a GPU has no driver to link against).
      `-DCUDA_cuda_driver_LIBRARY=${shim}`], 'configure.log');
    } catch {
      process.stderr.write('cmake reported errors (samples needing what this host lacks); building the rest\n');
    }
  }
  for (const cat of CATEGORIES) {
    // -k: a sample that does not build (a missing library, graphics) must not stop the others.
    try {
      logged(['make', '-C', join(build, 'Samples', cat), '-k', `-j${opts.jobs}`], `build-${cat}.log`);
    } catch {
      // the samples that failed show as "not built"
    }
  }
  // One target of a folder outside CATEGORIES (make builds the sample alone there).
  for (const [cat, name] of opts.pool ? OUTSIDE : []) {
    try {
      logged(['make', '-C', join(build, 'Samples', cat, name), `-j${opts.jobs}`], `build-${cat}-${name}.log`);
    } catch {
      // shows as "not built"
    }
  }
}

/** Runs a build step with its output in the cache's file (not-built.js reads why a sample did not build there). */
function logged(args, file) {
  process.stderr.write(`${args.slice(0, 2).join(' ')} ...: output in ${join(opts.cache, file)}\n`);
  mkdirSync(opts.cache, { recursive: true });
  const fd = openSync(join(opts.cache, file), 'w');
  try {
    execFileSync('nice', args, { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

/** Built into the run's own folder: runs from several checkouts share one cache of built samples. */
function buildKernels(into) {
  return buildKernelLibrary(root, CUDA_HOME, join(into, 'libgpupool_sample_kernels.so'));
}

/** The sample's arguments as the samples' own test list gives them (test_args.json), if any. */
function argsOf(name) {
  try {
    const all = JSON.parse(readFileSync(join(src, 'test_args.json'), 'utf8'));
    return all[name]?.args ?? [];
  } catch {
    return [];
  }
}

/*
 * A sample runs in its build folder, where its generated kernel images are (findModulePath looks in the
 * working directory); its data files (data/, images, references) are linked in beside them.
 */
function linkDataFiles(from, to) {
  for (const entry of readdirSync(from)) {
    if (/\.(cu|cuh|cpp|c|h|hpp|txt|md|json)$/.test(entry) || entry === 'CMakeLists.txt' || existsSync(join(to, entry))) continue;
    symlinkSync(join(from, entry), join(to, entry));
  }
}

// The samples' stdout is a pipe here: line-buffered (coreutils' stdbuf), a sample killed at the timeout
// still shows how far it got.
const LINE_BUFFERED = existsSync('/usr/bin/stdbuf') ? ['/usr/bin/stdbuf', '-oL'] : [];

async function runSample(server, cat, name, { netns, gpus, token, sampleArgs = argsOf(name) } = {}) {
  const exe = join(build, 'Samples', cat, name, name);
  if (!existsSync(exe)) return { result: 'not built', why: `no executable: ${whyNotBuilt(cat, name)}` };
  const dir = join(build, 'Samples', cat, name);
  linkDataFiles(join(src, 'Samples', cat, name), dir);
  const argv = [CLI, 'run', '--servers', server, ...(gpus ? ['--gpus', gpus] : []), ...(token ? ['--token', token] : []), '--', ...LINE_BUFFERED, exe, ...sampleArgs];
  const [cmd, args] = netns ? ['ip', ['netns', 'exec', netns, process.execPath, ...argv]] : [process.execPath, argv];
  const child = spawn(cmd, args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), Number(opts.timeout) * 1000);
  const [code, signal] = await once(child, 'exit');
  clearTimeout(timer);
  if (opts.logs) {
    mkdirSync(opts.logs, { recursive: true });
    writeFileSync(join(opts.logs, `${name}${gpus ? '.pool' : ''}.log`), output);
  }
  return judge({ output, code, signal, timeoutSeconds: opts.timeout });
}

prepareSources();
if (!opts['no-build']) buildSamples();
const work = mkdtempSync(join(tmpdir(), 'gpupool-samples-'));
const kernels = buildKernels(work);
const daemon = opts.server ? null : await Daemon.start({ GPUPOOL_EMU_KERNELS: `${TEST_KERNELS}:${kernels}` }, work);
const server = opts.server ?? daemon.server;
const only = opts.only ? new Set(opts.only.split(',')) : null;
const rows = [];
try {
  for (const cat of CATEGORIES) {
    for (const name of samplesOf(cat)) {
      if (only && !only.has(name)) continue;
      const r = await runSample(server, cat, name);
      rows.push({ cat, name, ...r });
      process.stderr.write(`${cat}/${name}: ${r.result}${r.why ? ` (${r.why})` : ''}\n`);
    }
  }
} finally {
  await daemon?.stop();
}
if (opts.pool) {
  const { createTestHosts } = await import('../../test/helpers/netns.ts');
  const hosts = createTestHosts(2, String((process.pid + 11) % 100_000));
  process.on('exit', () => hosts.destroy()); // however the run ends
  // Daemons off loopback must know their clients: one tenant's token for both.
  const token = newToken();
  const daemons = [];
  try {
    for (const [i, h] of hosts.hosts.entries()) {
      const dir = join(work, `host${i}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'tokens'), `${tokenLine('samples', token)}\n`, { mode: 0o600 });
      const config = { auth: { tokens: join(dir, 'tokens') } };
      daemons.push(await Daemon.start({ GPUPOOL_EMU_KERNELS: `${TEST_KERNELS}:${kernels}` }, dir, config, undefined, { listen: `${h.address}:7760`, netns: h.ns }));
    }
    const servers = hosts.hosts.map((h) => `ws://${h.address}:7760`).join(',');
    for (const [cat, name, args] of MULTI_GPU) {
      const r = await runSample(servers, cat, name, { netns: hosts.client, gpus: 'all', token, sampleArgs: args });
      rows.push({ cat, name: `${name} (--gpus all, two daemons)`, ...r });
      process.stderr.write(`${cat}/${name} across two daemons: ${r.result}${r.why ? ` (${r.why})` : ''}\n`);
    }
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
  }
}
const text = table(rows);
if (opts.out) writeFileSync(opts.out, text);
process.stdout.write(text);
