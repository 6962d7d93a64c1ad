/**
 * The benchmarks' plots (docs/img/*.svg), each drawn from one run's results and naming that run:
 * copy bandwidth by size against the raw stream (bench/run.js), achieved against asked shares over time
 * (bench/shares.js), p99 latency against SLO in the pool replay (bench/pool-replay.js), and the daemon's
 * memory over the soak (bench/soak.js). Each benchmark writes its plot when it writes its document
 * section; `node bench/plots.js` draws them all again from the saved runs in bench/results/.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PALETTE, barChart, lineChart } from './svg-plot.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const IMG = join(root, 'docs', 'img');
const RESULTS = join(root, 'bench', 'results');
const MiB = 1024 * 1024;

const sizeLabel = (b) => (b >= MiB ? `${b / MiB} MiB` : `${b / 1024} KiB`);
const runLabel = (when, cpus) => `run ${when.replace(/\.\d+Z$/, 'Z')}${cpus ? `, ${cpus} CPUs` : ''}; emulated driver on the CPU, not a GPU`;

/**
 * Keeps a run that wrote the documents as bench/results/NAME.json, so that the document, its plot and
 * the saved run stay one run.
 */
export function saveRun(name, results) {
  writeFileSync(join(RESULTS, `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
}

export function writePlot(name, svg) {
  mkdirSync(IMG, { recursive: true });
  const path = join(IMG, `${name}.svg`);
  writeFileSync(path, svg);
  return path;
}

/** bench/run.js's copies (`results.copies.rows`): MB/s by size, gpupool and the raw TCP stream, each direction. */
export function copiesPlot({ when, cpus, rows }) {
  const line = (name, key, dir, color, dashed) => ({ name, color, dashed, markers: true, points: rows.map((r) => [r.bytes, r[key][dir]]) });
  return lineChart({
    title: 'Copy throughput by size: gpupool against the raw TCP stream',
    subtitle: runLabel(when, cpus),
    x: { label: 'copy size', kind: 'log', base: 4, format: sizeLabel },
    y: { label: 'MB/s', kind: 'linear', format: (v) => v.toLocaleString('en-US') },
    series: [
      line('HtoD gpupool', 'gpupool', 'htod', PALETTE[0]),
      line('HtoD raw stream', 'raw', 'htod', PALETTE[0], true),
      line('DtoH gpupool', 'gpupool', 'dtoh', PALETTE[1]),
      line('DtoH raw stream', 'raw', 'dtoh', PALETTE[1], true),
    ],
  });
}

/** bench/shares.js: each client's achieved share of the card over time, with the share it asked for. */
export function sharesPlot(r) {
  const series = r.clients.flatMap((c, i) => {
    const points = r.samples.map((s) => [s.t, s.achieved[c.name] ?? null]).filter((p) => p[1] !== null);
    const span = [Math.max(c.start, points[0]?.[0] ?? c.start), Math.min(c.start + c.seconds, points.at(-1)?.[0] ?? c.start + c.seconds)];
    return [
      { name: `${c.name} achieved`, color: PALETTE[i], points },
      { name: `${c.name} asked ${c.share}`, color: PALETTE[i], dashed: true, points: span.map((t) => [t, c.share]) },
    ];
  });
  return lineChart({
    title: 'Achieved against asked share of one card, clients arriving and leaving',
    subtitle: `${runLabel(r.when, r.cpus)}; achieved: the daemon's 10 s window`,
    x: { label: 'seconds', kind: 'linear', min: 0, max: r.seconds },
    y: { label: 'share of the card', kind: 'linear', min: 0, max: 1, format: (v) => `${Math.round(v * 100)}%` },
    series,
  });
}

/** bench/pool-replay.js: each service's p99 latency alone and in the smallest pool tried last, against its SLO. */
export function replayPlot(r) {
  const best = r.pooled[r.pooled.length - 1];
  return barChart({
    title: `Pool replay: p99 request latency against SLO (${r.dedicated.cards} cards -> ${best.cards})`,
    subtitle: runLabel(r.when, r.cpus),
    categories: best.services.map((s) => s.name),
    series: [
      { name: 'p99, a card of its own', values: r.dedicated.services.map((s) => s.p99 / 1000), color: PALETTE[2] },
      { name: `p99, pooled on ${best.cards} card(s)`, values: best.services.map((s) => s.p99 / 1000), color: PALETTE[0] },
    ],
    marks: { name: 'SLO', values: best.services.map((s) => s.slo / 1000) },
    y: { label: 'ms', kind: 'linear', format: (v) => String(v) },
  });
}

/** bench/soak.js: the daemon's resident memory and its clients' sessions over the soak. */
export function soakPlot(r) {
  const rss = r.samples.map((s) => [s.minute, s.rssMiB]);
  return lineChart({
    title: `Soak: the daemon's memory over ${r.minutes} minutes, ${r.clients} clients coming and going`,
    subtitle: `${runLabel(r.when, r.cpus)}; ${r.counts.jobs.toLocaleString('en-US')} jobs, ${r.counts.failed} failed`,
    x: { label: 'minutes', kind: 'linear', min: 0 },
    y: { label: 'MiB (RSS); sessions', kind: 'linear', min: 0 },
    series: [
      { name: 'daemon RSS (MiB)', color: PALETTE[0], markers: true, points: rss },
      { name: 'live sessions', color: PALETTE[3], points: r.samples.map((s) => [s.minute, s.sessions]) },
    ],
  });
}

/**
 * The copies of the run docs/benchmarks.md documents, read back from its section-3 table, for a run
 * that saved no JSON (runs since write bench/results/run.json).
 */
export function copiesFromDocument(doc) {
  const when = /\| date \| (\S+) \|/.exec(doc)?.[1];
  const cpus = Number(/\| machine \| (\d+) vCPU/.exec(doc)?.[1]) || null;
  const number = (s) => Number(s.replace(/,/g, ''));
  const rows = [...doc.matchAll(/^\| (\d+) (KiB|MiB) \| \d+ \| ([\d.,]+) \| ([\d.,]+) \| \d+% \| ([\d.,]+) \| ([\d.,]+) \| \d+% \|$/gm)].map((m) => ({
    bytes: number(m[1]) * (m[2] === 'MiB' ? MiB : 1024),
    gpupool: { htod: number(m[3]), dtoh: number(m[5]) },
    raw: { htod: number(m[4]), dtoh: number(m[6]) },
  }));
  if (!when || rows.length < 2) throw new Error('docs/benchmarks.md has no copy table to read');
  return { when, cpus, rows };
}

function readJson(name) {
  const path = join(RESULTS, `${name}.json`);
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : null;
}

/** Every plot as the saved runs draw it, by file name (without `.svg`). */
export function drawSaved() {
  const run = readJson('run');
  const copies = run?.copies ? { when: run.machine.date, cpus: run.machine.cpus, rows: run.copies.rows } : copiesFromDocument(readFileSync(join(root, 'docs', 'benchmarks.md'), 'utf8'));
  const out = { 'bench-copies': copiesPlot(copies) };
  const shares = readJson('shares');
  if (shares) out['sharing-shares-over-time'] = sharesPlot(shares);
  const replay = readJson('pool-replay');
  if (replay) out['bench-pool-replay-p99'] = replayPlot(replay);
  const soak = readJson('soak');
  if (soak) out['bench-soak-memory'] = soakPlot(soak);
  return out;
}

/** Every plot from the saved runs; returns the files written. */
export function renderAll() {
  return Object.entries(drawSaved()).map(([name, svg]) => writePlot(name, svg));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const path of renderAll()) process.stdout.write(`wrote ${path}\n`);
}
