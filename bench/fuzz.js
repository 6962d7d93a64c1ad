#!/usr/bin/env node
/**
 * Fuzzing at scale (docs/benchmarks.md, "Fuzzing"), run by `npm run bench:fuzz`:
 * 1. the daemon: seeded protocol fuzz cases (src/protocol/fuzz) over real WebSockets against
 *    `gpupool daemon --simulate`, with a well-behaved client alongside; frames tried, how they ended,
 *    failures and crashes, the daemon's memory before, at its peak and after;
 * 2. clients that never authenticate (bench/hostile.js): huge first messages before HELLO against a
 *    daemon with a token file (its RSS before, at the peak and after), and silent and slowloris
 *    connections from several addresses (how many it still holds, and when it closed them);
 * 3. the client library's decoder (native/shim/fuzz) under libFuzzer with ASan and UBSan.
 * Writes bench/results/fuzz.json and the "Fuzzing" section of docs/benchmarks.md (bench/report.js
 * renders it, so a later `npm run bench` keeps it).
 *
 *   node bench/fuzz.js [--quick] [--no-write] [--seed N]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from './daemon.js';
import { preauthMemory, slowConnections } from './hostile.js';
import { machine } from './machine.js';
import { replaceFuzzSection, renderFuzzSection } from './report.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DOC = join(root, 'docs', 'benchmarks.md');
const RESULTS = join(root, 'bench', 'results', 'fuzz.json');
const FUZZER = join(root, 'build', 'fuzz', 'decode_fuzz');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const write = !args.includes('--no-write') && !quick;
const seedArg = args.indexOf('--seed');
const MiB = 1024 * 1024;

/** What the method section of the document describes. */
const P = {
  seed: seedArg >= 0 ? Number(args[seedArg + 1]) : 20261125,
  cases: quick ? 2000 : 100_000,
  floods: quick ? 2 : 80,
  floodBytes: 32 * MiB,
  oversized: quick ? 2 : 10,
  concurrency: 4,
  timeoutMs: 20_000,
  /** The daemon's limits for the run: small messages, so that an oversized one costs little. */
  limits: { maxMessageBytes: 16 * MiB, maxQueuedBytes: 64 * MiB },
  decoderSeconds: quick ? 10 : 120,
  /** Before authentication: connections each announcing one huge first message, and how much of it they stream. */
  preauth: { connections: 3, bytes: (quick ? 64 : 512) * MiB },
  /** Silent and slowloris connections (a header line every lineMs), from `addresses` loopback addresses, watched for observeMs. */
  slow: { silent: quick ? 100 : 1000, slowloris: quick ? 50 : 500, addresses: 4, lineMs: 2000, observeMs: quick ? 8000 : 15_000 },
};

function log(line) {
  process.stderr.write(`${line}\n`);
}

function rss(pid) {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

async function fuzzDaemon(dir) {
  const { loadOpTable } = await import(join(root, 'dist', 'protocol', 'client.js'));
  const { runFuzz } = await import(join(root, 'dist', 'protocol', 'fuzz', 'run.js'));
  const daemon = await Daemon.start({}, dir, { compute: P.limits });
  try {
    const pid = daemon.child.pid;
    const before = rss(pid);
    let peak = before;
    const report = await runFuzz({
      url: `${daemon.server}/v1/compute`,
      ops: loadOpTable(),
      seed: P.seed,
      cases: P.cases,
      floods: P.floods,
      floodBytes: P.floodBytes,
      oversized: P.oversized,
      maxMessageBytes: P.limits.maxMessageBytes,
      concurrency: P.concurrency,
      timeoutMs: P.timeoutMs,
      onCase: (n) => {
        if (n % 100 === 0) peak = Math.max(peak, rss(pid));
        if (n % 10_000 === 0) log(`  ${n} cases`);
      },
    });
    // Every session is freed once its connection ends: wait for that before reading "after".
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const status = await (await fetch(`${daemon.server.replace(/^ws/, 'http')}/v1/status`)).json();
      if (status.compute.sessions.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const after = rss(pid);
    const alive = daemon.child.exitCode === null && daemon.child.signalCode === null;
    const crashed = !alive || /Segmentation|Aborted|RangeError|uncaught/i.test(daemon.stderr);
    return { ...report, failures: report.failures.slice(0, 20), failureCount: report.failures.length, rss: { before, peak: Math.max(peak, after), after }, alive, crashes: crashed ? 1 : 0 };
  } finally {
    await daemon.stop();
  }
}

/** Clients that never authenticate: a daemon with a token file, at its defaults (auth.maxHelloBytes, the pending limits). */
async function hostileClients(dir) {
  const { newToken, tokenLine } = await import(join(root, 'dist', 'auth', 'tokens.js'));
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, `${tokenLine('bench', newToken())}\n`, { mode: 0o600 });
  const daemon = await Daemon.start({}, dir, { auth: { tokens } });
  try {
    const preauth = await preauthMemory(daemon, { count: P.preauth.connections, bytes: P.preauth.bytes });
    const slow = await slowConnections(daemon, P.slow);
    const alive = daemon.child.exitCode === null && daemon.child.signalCode === null;
    return { preauth, slow, alive };
  } finally {
    await daemon.stop();
  }
}

function fuzzDecoder(dir) {
  const build = spawnSync('make', ['-C', join(root, 'native'), 'fuzz'], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`make -C native fuzz failed (clang and libclang-rt-dev are needed):\n${build.stdout}${build.stderr}`);
  const corpus = join(dir, 'corpus');
  spawnSync(process.execPath, [join(root, 'native', 'shim', 'fuzz', 'seeds.mjs'), corpus], { stdio: 'inherit' });
  const started = Date.now();
  const run = spawnSync(FUZZER, [`-max_total_time=${P.decoderSeconds}`, `-seed=${P.seed}`, '-print_final_stats=1', `-artifact_prefix=${dir}/`, corpus], {
    encoding: 'utf8',
    maxBuffer: 64 * MiB,
  });
  const output = `${run.stdout}${run.stderr}`;
  const stat = (name) => Number(new RegExp(`stat::${name}:\\s+(\\d+)`).exec(output)?.[1] ?? NaN);
  const crashes = readdirSync(dir).filter((f) => /^(crash|leak|timeout|oom)-/.test(f));
  return {
    seconds: (Date.now() - started) / 1000,
    execs: stat('number_of_executed_units'),
    execsPerSecond: stat('average_exec_per_sec'),
    newUnits: stat('new_units_added'),
    peakRssMb: stat('peak_rss_mb'),
    corpus: readdirSync(corpus).length,
    exitCode: run.status,
    crashes: crashes.length + (run.status === 0 ? 0 : crashes.length === 0 ? 1 : 0),
  };
}

async function main() {
  const started = Date.now();
  if (!existsSync(join(root, 'dist', 'protocol', 'fuzz', 'run.js'))) throw new Error('dist/ is missing: run npm run build');
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-fuzz-'));
  try {
    const results = { machine: machine(), params: P, quick };
    log(`1. the daemon: ${P.cases} cases, ${P.floods} floods, ${P.oversized} oversized messages (seed ${P.seed})`);
    results.daemon = await fuzzDaemon(dir);
    log(`2. clients that never authenticate: ${P.preauth.connections} huge first messages, ${P.slow.silent} silent and ${P.slow.slowloris} slowloris connections`);
    results.hostile = await hostileClients(dir);
    log(`3. the client library's decoder: libFuzzer, ${P.decoderSeconds} s`);
    results.decoder = fuzzDecoder(join(dir, 'decoder'));
    results.seconds = (Date.now() - started) / 1000;
    results.machine.loadAfter = loadavg()[0];
    const D = results.daemon;
    const F = results.decoder;
    const H = results.hostile;
    process.stdout.write(
      [
        '',
        `daemon: ${D.cases} cases, ${D.frames} frames (+${D.repeatedFrames} repeated), ${D.messages} messages (${(D.bytes / MiB).toFixed(0)} MiB), ${D.connections} connections in ${D.seconds.toFixed(0)} s`,
        `  outcomes ${JSON.stringify(D.outcomes)}; failures ${D.failureCount}; crashes ${D.crashes}; well-behaved client ${D.wellBehaved.rounds} rounds, ${D.wellBehaved.errors.length} errors`,
        `  RSS before ${(D.rss.before / MiB).toFixed(0)} MiB, peak ${(D.rss.peak / MiB).toFixed(0)} MiB, after ${(D.rss.after / MiB).toFixed(0)} MiB`,
        `before authentication: ${H.preauth.connections} x ${(H.preauth.announcedBytes / MiB).toFixed(0)} MiB first messages, RSS ${(H.preauth.rss.before / MiB).toFixed(0)} -> peak ${(H.preauth.rss.peak / MiB).toFixed(0)} -> ${(H.preauth.rss.after / MiB).toFixed(0)} MiB; ${H.slow.silent + H.slow.slowloris} slow connections: ${H.slow.openAtEnd} open after ${H.slow.observeMs / 1000} s`,
        `decoder: ${F.execs} inputs in ${F.seconds.toFixed(0)} s (${F.execsPerSecond}/s), ${F.crashes} crashes, corpus ${F.corpus}`,
        '',
      ].join('\n'),
    );
    if (write) {
      mkdirSync(dirname(RESULTS), { recursive: true });
      writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
      writeFileSync(DOC, replaceFuzzSection(readFileSync(DOC, 'utf8'), renderFuzzSection(results)));
      log(`wrote ${RESULTS} and the Fuzzing section of ${DOC}`);
    }
    const hostileHeld = !H.alive || H.slow.openAtEnd > 0 || H.preauth.rss.peak - H.preauth.rss.before > 100 * MiB;
    if (D.crashes > 0 || D.failureCount > 0 || D.wellBehaved.errors.length > 0 || F.crashes > 0 || hostileHeld) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench/fuzz: ${err.stack ?? err}\n`);
  process.exit(1);
});
