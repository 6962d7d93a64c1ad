#!/usr/bin/env node
/**
 * gpupool's benchmarks of the cross-pull path (docs/benchmarks.md), run by `npm run bench`.
 *
 * Builds the programs of bench/programs/ into a temporary folder, starts `gpupool daemon --simulate`
 * on 127.0.0.1 (port 0), and runs each benchmark program through `gpupool run` and its baseline in
 * the same run, trials interleaved (baseline, gpupool, baseline, ...), so that both see the same
 * machine. Every program times itself and prints one line of JSON. Prints a table and rewrites
 * docs/benchmarks.md.
 *
 *   node bench/run.js [--quick] [--no-write] [--only 1,2,3,4] [--json FILE] [--js-connections] [--local]
 *                     [--session-process thread|process] [--no-call-ring] [--ring-spin-us N]
 *
 * --quick: one trial of each and smaller counts (a smoke test; never written to the document).
 * --no-write: print only. --only: some of the benchmarks (the document is written only by a full run).
 * --js-connections: the daemon keeps every connection on its event loop (compute.nativeConnections
 * false), the path before issue 13, to compare with the sessions' native readers (the default).
 * --session-process: where the daemon runs its sessions (config `compute.sessionProcess`; default: the config's).
 * --no-call-ring: the daemon refuses local jobs' call rings (config `compute.callRingBytes` 0): their
 * calls cross the Unix socket, as before the ring (docs/operations.md, "The call ring").
 * --ring-spin-us: how long both ends of a call ring spin before they sleep (config
 *   `compute.callRingSpinUs` and the jobs' GPUPOOL_CALL_RING_SPIN_US; default: the config's).
 * --local: jobs reach the daemon through its Unix socket (the local transport, issue 13); the
 * latency baseline is then a C ping-pong over a Unix socket pair, and the copies are also measured
 * from pinned (cuMemAllocHost) memory and directly on the emulated driver. Never written to the document.
 * --json FILE: also write the raw results there. A full run also saves them as bench/results/run.json and
 * draws docs/img/bench-copies.svg from them (bench/plots.js).
 * Every figure is of the emulated CUDA driver (CPU), never of a GPU.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, Daemon, FIXTURE, withoutGpupoolEnv } from './daemon.js';
import { machine } from './machine.js';
import { renderConsole, renderMarkdown } from './report.js';
import { otherSections } from './doc-sections.js';
import { copiesPlot, saveRun, writePlot } from './plots.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHIM_DIR = join(root, 'build', 'native', 'shim');
const EMU_DIR = join(root, 'build', 'native', 'fakes', 'cuda');
const EMU_KERNELS = join(EMU_DIR, 'kernels', 'libgpupool_test_kernels.so');
const KERNELS_CU = join(root, 'native', 'fakes', 'cuda', 'kernels', 'test_kernels.cu');
const PROGRAMS = join(root, 'bench', 'programs');
const DOC = join(root, 'docs', 'benchmarks.md');
const FUZZ_RESULTS = join(root, 'bench', 'results', 'fuzz.json');
const CUDA_HOME = process.env.CUDA_HOME ?? '/usr/local/cuda';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const local = args.includes('--local');
const write = !args.includes('--no-write') && !quick && !local;
const onlyArg = args.indexOf('--only');
const jsonArg = args.indexOf('--json');
const jsonOut = jsonArg >= 0 ? args[jsonArg + 1] : null;
const sessionArg = args.indexOf('--session-process');
const spinArg = args.indexOf('--ring-spin-us');
const compute = {
  ...(args.includes('--js-connections') ? { nativeConnections: false } : {}),
  ...(sessionArg >= 0 ? { sessionProcess: args[sessionArg + 1] } : {}),
  ...(args.includes('--no-call-ring') ? { callRingBytes: 0 } : {}),
  ...(spinArg >= 0 ? { callRingSpinUs: Number(args[spinArg + 1]) } : {}),
};
// The job's side of the ring spins as long as the session's (the client library reads it at its start).
if (spinArg >= 0) process.env.GPUPOOL_CALL_RING_SPIN_US = args[spinArg + 1];
const daemonConfig = Object.keys(compute).length > 0 ? { compute } : {};
const only = onlyArg >= 0 ? new Set(args[onlyArg + 1].split(',').map(Number)) : new Set([1, 2, 3, 4]);

const MiB = 1024 * 1024;
/** Benchmark parameters: what the document's method sections describe. */
const P = {
  latency: { calls: quick ? 5000 : 20000, trials: quick ? 1 : 3, request: 32, reply: 16 },
  launches: { count: quick ? 100000 : 500000, trials: quick ? 1 : 5 },
  copies: {
    sizes: [4096, 16384, 65536, 262144, MiB, 4 * MiB, 16 * MiB, 64 * MiB, 256 * MiB],
    target: quick ? 16 * MiB : 64 * MiB,
    trials: quick ? 1 : 3,
    profileSize: 64 * MiB,
    profileTarget: 192 * MiB,
  },
  // The goal is on the 64 KiB batch; the 4 KiB one separates the per-step cost from the per-byte one.
  train: { steps: quick ? 100 : 500, kernels: 20, batch: 64 * 1024, smallBatch: 4096, kernelNs: 50000, trials: quick ? 1 : 5, smallTrials: quick ? 1 : 3 },
  /** The daemons' emulator settings (read by the emulated driver at cuInit, so one daemon per set). */
  fastEnv: { GPUPOOL_EMU_KERNEL_NS: '0', GPUPOOL_EMU_COPY_BYTES_PER_NS: '1000000' },
  trainEnv: { GPUPOOL_EMU_KERNEL_NS: '50000' },
};

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

function log(line) {
  process.stderr.write(`${line}\n`);
}

// ---- building --------------------------------------------------------------------------------------

function build(dir) {
  for (const f of [CLI, join(SHIM_DIR, 'libcuda.so.1'), join(EMU_DIR, 'libcuda.so.1'), EMU_KERNELS]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run npm run build (on a host with the CUDA toolkit's cuda.h)`);
  }
  const include = join(CUDA_HOME, 'include');
  if (!existsSync(join(include, 'cuda.h'))) throw new Error(`${include}/cuda.h is missing: the benchmarks need the CUDA toolkit's headers (CUDA_HOME)`);
  const cc = process.env.CC ?? 'cc';
  const out = {};
  for (const name of ['sync_latency', 'launch_rate', 'copy_bw', 'train_loop']) {
    out[name] = join(dir, name);
    // Linked to the name libcuda.so.1, as every CUDA program is: the loader's path picks gpupool's
    // client library (gpupool run) or the emulated driver (the direct runs).
    execFileSync(cc, ['-std=c11', '-O2', '-Wall', '-I', include, '-o', out[name], join(PROGRAMS, `${name}.c`), '-L', SHIM_DIR, '-l:libcuda.so.1'], { stdio: 'pipe' });
  }
  for (const name of ['pingpong', 'stream', 'shm_pingpong']) {
    out[name] = join(dir, name);
    execFileSync(cc, ['-std=c11', '-O2', '-Wall', '-o', out[name], join(PROGRAMS, `${name}.c`)], { stdio: 'pipe' });
  }
  // The test kernels as a real fatbin; without nvcc, PTX text naming the same entry points (the
  // emulator finds kernels by name; what they do comes from its kernel library either way).
  const nvcc = join(CUDA_HOME, 'bin', 'nvcc');
  if (existsSync(nvcc)) {
    out.image = join(dir, 'test_kernels.fatbin');
    execFileSync(nvcc, ['-fatbin', '-o', out.image, KERNELS_CU], { stdio: 'pipe' });
    out.imageKind = 'fatbin (nvcc)';
  } else {
    out.image = join(dir, 'test_kernels.ptx');
    writeFileSync(out.image, readFileSync(join(PROGRAMS, 'test_kernels.ptx')));
    out.imageKind = 'PTX (no nvcc)';
  }
  return out;
}

// ---- the daemon ------------------------------------------------------------------------------------

/** utime + stime of a /proc stat file, in ns (clock ticks: 10 ms apart at the usual CLK_TCK). */
function statCpuNs(path) {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e9) / CLK_TCK;
}

/**
 * CPU time of a process: its total (dead threads included, in clock ticks) and each live thread's
 * (from schedstat, in ns, where the kernel has it).
 */
function cpuSnapshot(pid) {
  const totalNs = statCpuNs(`/proc/${pid}/stat`);
  const threads = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      let ns;
      try {
        ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        ns = statCpuNs(`/proc/${pid}/task/${tid}/stat`);
      }
      threads.set(Number(tid), ns);
    } catch {
      // the thread ended meanwhile
    }
  }
  return { totalNs, threads };
}

/**
 * Where the daemon's CPU time went between two snapshots: its main (JS) thread, the threads that
 * ended in between (the session's native thread, which ends with its client), and the others that
 * lived through it (V8's GC and compiler threads, libuv's pool).
 */
function cpuDelta(pid, a, b) {
  const main = (b.threads.get(pid) ?? 0) - (a.threads.get(pid) ?? 0);
  let others = 0;
  for (const [tid, ns] of b.threads) if (tid !== pid && a.threads.has(tid)) others += ns - a.threads.get(tid);
  const total = b.totalNs - a.totalNs;
  return { main, session: Math.max(0, total - main - others), others, total };
}

// ---- running programs ------------------------------------------------------------------------------

async function runProgram(argv, env, what) {
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d.toString()));
  child.stderr.on('data', (d) => (stderr += d.toString()));
  const [code, signal] = await once(child, 'exit');
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`${what} failed (${code ?? signal}):\n${stdout}${stderr}`);
  return JSON.parse(line);
}

/** PROGRAM run through gpupool on `daemon`, with the daemon's CPU time over the run. */
async function viaGpupool(daemon, program, programArgs) {
  const env = withoutGpupoolEnv(process.env);
  const freed = daemon.freedCount();
  const before = cpuSnapshot(daemon.child.pid);
  const result = await runProgram([process.execPath, CLI, 'run', '--servers', daemon.server, '--', program, ...programArgs], env, `gpupool run ${program}`);
  // The session's thread ends (and its CPU time lands in the process's total) once it is freed.
  await daemon.waitFor(() => daemon.freedCount() > freed, 15000).catch(() => null);
  const freedLine = daemon.logs.filter((l) => l.msg === 'session freed')[freed];
  result.daemon = cpuDelta(daemon.child.pid, before, cpuSnapshot(daemon.child.pid));
  // The session's counters: calls, and the WebSocket messages they came in.
  result.session = freedLine?.stats ?? null;
  return result;
}

/** PROGRAM run on the emulated driver directly (no gpupool), with the emulator settings of `env`. */
function directEnv(env) {
  const out = { ...withoutGpupoolEnv(process.env), ...env };
  Object.assign(out, {
    LD_LIBRARY_PATH: [EMU_DIR, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
    GPUPOOL_SIM_FIXTURE: FIXTURE,
    GPUPOOL_EMU_KERNELS: EMU_KERNELS,
  });
  return out;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * The CPU split of a gpupool run per unit of work (ns per call, per launch, per MiB ...). The
 * program's own figures cover its timed region (`units` of work); the daemon's cover the whole
 * connection (`daemonUnits`: the timed work plus the warm-up, which dominate it).
 */
function split(result, units, daemonUnits = units) {
  const threads = result.threads ?? [];
  const app = threads[0]?.cpu_ns ?? 0;
  const lib = threads.slice(1).reduce((s, t) => s + t.cpu_ns, 0);
  const d = result.daemon ?? { main: 0, session: 0, others: 0 };
  const messages = result.session?.messages ?? NaN;
  return {
    app: app / units,
    lib: lib / units,
    dMain: d.main / daemonUnits,
    dSession: d.session / daemonUnits,
    dOthers: d.others / daemonUnits,
    messages: messages / daemonUnits,
  };
}

function averageSplits(splits) {
  const keys = ['app', 'lib', 'dMain', 'dSession', 'dOthers', 'messages'];
  return Object.fromEntries(keys.map((k) => [k, median(splits.map((s) => s[k]))]));
}

// ---- the benchmarks --------------------------------------------------------------------------------

async function latency(bin, daemon) {
  const { calls, trials, request, reply } = P.latency;
  // --local: what a shared-memory ring could give (futex wake only, and a long spin first).
  const rows = { pingpong: [], cuCtxSynchronize: [], cuStreamQuery: [], shmFutex: [], shmSpin: [] };
  const splits = [];
  for (let t = 0; t < trials; t++) {
    log(`  latency trial ${t + 1}/${trials}`);
    rows.pingpong.push(await runProgram([bin.pingpong, String(calls), String(request), String(reply), local ? 'unix' : 'tcp'], process.env, 'pingpong'));
    if (local) {
      rows.shmFutex.push(await runProgram([bin.shm_pingpong, String(calls), String(request), String(reply), '0'], process.env, 'shm_pingpong'));
      rows.shmSpin.push(await runProgram([bin.shm_pingpong, String(calls), String(request), String(reply), '20000'], process.env, 'shm_pingpong (spin)'));
    }
    const r = await viaGpupool(daemon, bin.sync_latency, [String(calls), 'ctxsync']);
    rows.cuCtxSynchronize.push(r);
    // The daemon's figures cover the whole run (connection, warm-up); the timed calls dominate it.
    splits.push(split(r, calls, calls + 1000));
    rows.cuStreamQuery.push(await viaGpupool(daemon, bin.sync_latency, [String(calls), 'streamquery']));
  }
  const summary = (rs) => ({ median: median(rs.map((r) => r.median_ns)), p99: median(rs.map((r) => r.p99_ns)), mean: median(rs.map((r) => r.mean_ns)) });
  return {
    calls,
    trials,
    request,
    reply,
    pingpong: summary(rows.pingpong),
    cuCtxSynchronize: summary(rows.cuCtxSynchronize),
    cuStreamQuery: summary(rows.cuStreamQuery),
    ...(local ? { shmFutex: summary(rows.shmFutex), shmSpin: summary(rows.shmSpin) } : {}),
    split: averageSplits(splits),
  };
}

async function launches(bin, daemon) {
  const { count, trials } = P.launches;
  const direct = [];
  const remote = [];
  const splits = [];
  for (let t = 0; t < trials; t++) {
    log(`  launches trial ${t + 1}/${trials}`);
    direct.push(await runProgram([bin.launch_rate, bin.image, String(count)], directEnv(P.fastEnv), 'launch_rate (direct)'));
    const r = await viaGpupool(daemon, bin.launch_rate, [bin.image, String(count)]);
    remote.push(r);
    splits.push(split(r, count, count + 2000));
  }
  return {
    count,
    trials,
    direct: { rate: median(direct.map((r) => r.launches_per_s)) },
    gpupool: { rate: median(remote.map((r) => r.launches_per_s)), enqueue: median(remote.map((r) => r.enqueue_per_s)) },
    split: averageSplits(splits),
  };
}

async function copies(bin, daemon) {
  const { sizes, target, trials, profileSize, profileTarget } = P.copies;
  const raw = [];
  const remote = [];
  // --local: the same copies from pinned memory, and both directly on the emulated driver.
  const pinned = [];
  const direct = [];
  const directPinned = [];
  for (let t = 0; t < trials; t++) {
    log(`  copies trial ${t + 1}/${trials}`);
    raw.push(await runProgram([bin.stream, String(target), ...sizes.map(String)], process.env, 'stream'));
    remote.push(await viaGpupool(daemon, bin.copy_bw, ['both', String(target), ...sizes.map(String)]));
    if (!local) continue;
    pinned.push(await viaGpupool(daemon, bin.copy_bw, ['both:pinned', String(target), ...sizes.map(String)]));
    direct.push(await runProgram([bin.copy_bw, 'both', String(target), ...sizes.map(String)], directEnv(P.fastEnv), 'copy_bw (direct)'));
    directPinned.push(await runProgram([bin.copy_bw, 'both:pinned', String(target), ...sizes.map(String)], directEnv(P.fastEnv), 'copy_bw pinned (direct)'));
  }
  const rows = sizes.map((bytes, i) => {
    const bw = (rs, key) => median(rs.map((r) => (bytes / r.sizes[i][key]) * 1e3)); // MB/s (1e6 bytes)
    return {
      bytes,
      reps: remote[0].sizes[i].reps,
      raw: { htod: bw(raw, 'htod_ns'), dtoh: bw(raw, 'dtoh_ns') },
      gpupool: { htod: bw(remote, 'htod_ns'), dtoh: bw(remote, 'dtoh_ns') },
      ...(local
        ? {
            gpupoolPinned: { htod: bw(pinned, 'htod_ns'), dtoh: bw(pinned, 'dtoh_ns') },
            direct: { htod: bw(direct, 'htod_ns'), dtoh: bw(direct, 'dtoh_ns') },
            directPinned: { htod: bw(directPinned, 'htod_ns'), dtoh: bw(directPinned, 'dtoh_ns') },
          }
        : {}),
    };
  });
  // One run per direction at the profiled size, so that the daemon's CPU time is that direction's.
  log(`  copies: CPU profile at ${profileSize / MiB} MiB`);
  const profile = {};
  for (const dir of ['htod', 'dtoh']) {
    const r = await viaGpupool(daemon, bin.copy_bw, [dir, String(profileTarget), String(profileSize)]);
    const s = r.sizes[0];
    // The daemon's figures include the warm-up copy; the client's cover the timed repetitions.
    const cpu = split({ threads: s[`${dir}_threads`], daemon: r.daemon, session: r.session }, (profileSize * s.reps) / MiB, (profileSize * (s.reps + 1)) / MiB);
    profile[dir] = { ...cpu, wall: s[`${dir}_wall_ns`] / ((profileSize * s.reps) / MiB), reps: s.reps };
  }
  return { sizes, target, trials, rows, profile, profileSize };
}

async function trainLoop(bin, daemon, batch, trials) {
  const { steps, kernels } = P.train;
  const direct = [];
  const remote = [];
  const splits = [];
  const argv = [bin.image, String(steps), String(kernels), String(batch)];
  for (let t = 0; t < trials; t++) {
    log(`  training loop, ${batch / 1024} KiB batch, trial ${t + 1}/${trials}`);
    direct.push(await runProgram([bin.train_loop, ...argv], directEnv(P.trainEnv), 'train_loop (direct)'));
    const r = await viaGpupool(daemon, bin.train_loop, argv);
    remote.push(r);
    splits.push(split(r, steps, steps + 10));
  }
  const summary = (rs) => ({ total: median(rs.map((r) => r.wall_ns)), step: median(rs.map((r) => r.step_median_ns)), p99: median(rs.map((r) => r.step_p99_ns)) });
  return { batch, trials, direct: summary(direct), gpupool: summary(remote), split: averageSplits(splits) };
}

async function train(bin, daemon) {
  const { steps, kernels, batch, smallBatch, kernelNs, trials, smallTrials } = P.train;
  const main = await trainLoop(bin, daemon, batch, trials);
  const small = await trainLoop(bin, daemon, smallBatch, smallTrials);
  return { steps, kernels, kernelNs, ...main, small };
}

/** The daemon of a run; with --local its jobs are given its Unix socket instead of its TCP address. */
async function startDaemon(env, dir) {
  const socket = join(dir, 'gpupool.sock');
  const daemon = await Daemon.start(env, dir, local ? { ...daemonConfig, localSocket: { path: socket } } : daemonConfig);
  if (local) daemon.server = `unix://${socket}`;
  return daemon;
}

/** The local transport's figures against issue 13's goals, each with its baseline from the same run. */
function localSummary(r) {
  const lines = ['', 'local transport (Unix socket) against issue 13\'s goals:'];
  const pct = (a, b) => `${((100 * a) / b).toFixed(0)}%`;
  if (r.latency) {
    const { cuCtxSynchronize: c, pingpong: p } = r.latency;
    const ring = (x) => `median ${(x.median / 1e3).toFixed(1)} us, mean ${(x.mean / 1e3).toFixed(1)} us, p99 ${(x.p99 / 1e3).toFixed(1)} us`;
    lines.push(`  bare C ping-pongs: Unix socket ${ring(p)}; shared page + futex ${ring(r.latency.shmFutex)}; shared page, spin then futex ${ring(r.latency.shmSpin)}`);
    lines.push(`  sync call / C Unix-socket ping-pong (goal <= 1.5x): ${(c.median / 1e3).toFixed(1)} / ${(p.median / 1e3).toFixed(1)} us = ${(c.median / p.median).toFixed(2)}x; daemon JS thread ${(r.latency.split.dMain / 1e3).toFixed(1)} us, session threads ${(r.latency.split.dSession / 1e3).toFixed(1)} us per call`);
  }
  if (r.launches) lines.push(`  async launches local / direct (goal >= 50%): ${(r.launches.gpupool.rate / 1e6).toFixed(2)} / ${(r.launches.direct.rate / 1e6).toFixed(2)} M/s = ${pct(r.launches.gpupool.rate, r.launches.direct.rate)}`);
  const row = r.copies?.rows.find((x) => x.bytes === 64 * MiB) ?? r.copies?.rows.at(-1);
  if (row?.direct) {
    const mb = (x) => x.toFixed(0);
    lines.push(`  ${row.bytes / MiB} MiB copies, MB/s HtoD / DtoH:`);
    lines.push(`    pinned, local / direct (goal >= 90%): ${mb(row.gpupoolPinned.htod)} / ${mb(row.directPinned.htod)} = ${pct(row.gpupoolPinned.htod, row.directPinned.htod)}; ${mb(row.gpupoolPinned.dtoh)} / ${mb(row.directPinned.dtoh)} = ${pct(row.gpupoolPinned.dtoh, row.directPinned.dtoh)}`);
    lines.push(`    pageable, local / direct (goal >= 45%): ${mb(row.gpupool.htod)} / ${mb(row.direct.htod)} = ${pct(row.gpupool.htod, row.direct.htod)}; ${mb(row.gpupool.dtoh)} / ${mb(row.direct.dtoh)} = ${pct(row.gpupool.dtoh, row.direct.dtoh)}`);
    lines.push(`    raw TCP stream, for reference: ${mb(row.raw.htod)} / ${mb(row.raw.dtoh)}`);
  }
  if (r.train) lines.push(`  training-like loop local / direct (goal <= 1.10x): ${(r.train.gpupool.total / 1e6).toFixed(1)} / ${(r.train.direct.total / 1e6).toFixed(1)} ms = ${(r.train.gpupool.total / r.train.direct.total).toFixed(2)}x`);
  return `${lines.join('\n')}\n`;
}

// ---- main ------------------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-bench-'));
  try {
    log(`building the benchmark programs in ${dir}`);
    const bin = build(dir);
    const results = { machine: machine(), params: P, imageKind: bin.imageKind, quick, connections: daemonConfig.compute?.nativeConnections === false ? 'js' : 'native', transport: local ? 'unix' : 'tcp' };
    if (only.has(1) || only.has(2) || only.has(3)) {
      const daemon = await startDaemon(P.fastEnv, dir);
      log(`daemon at ${daemon.server} (${Object.entries(P.fastEnv).map(([k, v]) => `${k}=${v}`).join(' ')})`);
      try {
        if (only.has(1)) (log('1. synchronous call latency'), (results.latency = await latency(bin, daemon)));
        if (only.has(2)) (log('2. asynchronous launch rate'), (results.launches = await launches(bin, daemon)));
        if (only.has(3)) (log('3. copy throughput'), (results.copies = await copies(bin, daemon)));
      } finally {
        await daemon.stop();
      }
    }
    if (only.has(4)) {
      const daemon = await startDaemon(P.trainEnv, dir);
      log(`daemon at ${daemon.server} (${Object.entries(P.trainEnv).map(([k, v]) => `${k}=${v}`).join(' ')})`);
      try {
        log('4. training-like loop');
        results.train = await train(bin, daemon);
      } finally {
        await daemon.stop();
      }
    }
    results.seconds = (Date.now() - started) / 1000;
    results.machine.loadAfter = loadavg()[0];
    process.stdout.write(renderConsole(results));
    if (local) process.stdout.write(localSummary(results));
    if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
    if (write && only.size === 4) {
      // The fuzzing figures come from their own run (bench/fuzz.js); the document keeps them.
      if (existsSync(FUZZ_RESULTS)) results.fuzz = JSON.parse(readFileSync(FUZZ_RESULTS, 'utf8'));
      // Sections other benchmarks own (bench/doc-sections.js) are kept as they are.
      const others = existsSync(DOC) ? otherSections(readFileSync(DOC, 'utf8'), 'cross-pull') : '';
      writeFileSync(DOC, `${renderMarkdown(results).trimEnd()}\n${others ? `\n${others}\n` : ''}`);
      log(`wrote ${DOC}`);
      // The run the plots are drawn from again (node bench/plots.js).
      saveRun('run', results);
      log(`wrote ${writePlot('bench-copies', copiesPlot({ when: results.machine.date, cpus: results.machine.cpus, rows: results.copies.rows }))}`);
    } else if (write) {
      log('not writing docs/benchmarks.md: only part of the benchmarks ran');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${err.stack ?? err}\n`);
  process.exit(1);
});
