#!/usr/bin/env node
/**
 * Soak (docs/benchmarks.md, "Soak"): 32 clients for 30 minutes of mixed calls against one
 * `gpupool daemon --simulate`, sampling the daemon's resident memory, open file descriptors, live
 * sessions and the allocations they hold every 30 s. Flat lines are the point: nothing a client does,
 * and no number of clients come and gone, may leave anything behind in the daemon.
 *
 *   node bench/soak.js [--minutes M] [--clients N] [--no-write] [--json FILE] [--render FILE]
 *
 * A run that writes its section also saves itself as bench/results/soak.json and draws
 * docs/img/bench-soak-memory.svg (bench/plots.js).
 *
 * Half the clients are long-lived (card_load: a training loop, or an inference service with think
 * times); the other half run short jobs back to back (driver_api: contexts, modules, allocations,
 * copies, kernels, streams and events, then exit), so sessions open and close all along.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from './daemon.js';
import { renderSaved, writeSection } from './doc-sections.js';
import { saveRun, soakPlot, writePlot } from './plots.js';
import { buildTestPrograms, clientEnv } from './test-programs.js';

const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const MINUTES = Number(flag('--minutes', 30));
const CLIENTS = Number(flag('--clients', 32));
const write = !args.includes('--no-write');
const jsonOut = flag('--json', null);
const SAMPLE_MS = MINUTES >= 5 ? 30_000 : 5_000;

/** A client slot: keeps one client running until `until`, restarting short jobs as they end. */
async function slot(i, tools, server, until, counts) {
  const env = clientEnv(server);
  while (Date.now() < until) {
    let argv;
    if (i % 2 === 0) {
      const left = Math.max(1, Math.floor((until - Date.now()) / 1000));
      argv = i % 4 === 0 ? [tools.card_load, tools.fatbin, 'train', String(Math.min(left, 120)), '100', '10'] : [tools.card_load, tools.fatbin, 'serve', String(Math.min(left, 120)), '300', '3', '2000:8000:500'];
    } else {
      argv = [tools.driver_api, tools.fatbin];
    }
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d.toString()));
    const [code] = await once(child, 'close');
    counts.jobs++;
    if (code !== 0) {
      counts.failed++;
      if (counts.errors.length < 5) counts.errors.push(`${argv[0].split('/').pop()}: exit ${code}: ${err.slice(0, 200)}`);
    }
  }
}

async function sample(daemon, t0) {
  const { pid } = daemon.child;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const doc = await daemon.status();
  const sessions = doc.compute.sessions;
  return {
    minute: (Date.now() - t0) / 60000,
    rssMiB: rssKiB / 1024,
    fds,
    sessions: sessions.length,
    allocations: sessions.reduce((a, s) => a + (s.stats?.allocations ?? 0), 0),
    handles: sessions.reduce((a, s) => a + (s.stats?.handles ?? 0), 0),
  };
}

async function main() {
  const from = flag('--render', null);
  if (from) {
    renderSaved('soak', render, from, write, plot);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-soak-'));
  const tools = buildTestPrograms(dir, ['card_load', 'driver_api']);
  // Small quotas: 32 sessions of the default 25% would not fit the cards.
  const daemon = await Daemon.start({}, dir, { sharing: { defaultQuota: '256MiB' } });
  const counts = { jobs: 0, failed: 0, errors: [] };
  const samples = [];
  const t0 = Date.now();
  const until = t0 + MINUTES * 60_000;
  try {
    samples.push(await sample(daemon, t0));
    const slots = Array.from({ length: CLIENTS }, (_, i) => slot(i, tools, daemon.server, until, counts));
    const timer = setInterval(() => {
      sample(daemon, t0).then(
        (s) => {
          samples.push(s);
          process.stderr.write(`soak: ${s.minute.toFixed(1)} min: rss ${s.rssMiB.toFixed(0)} MiB, fds ${s.fds}, sessions ${s.sessions}, jobs ${counts.jobs} (${counts.failed} failed)\n`);
        },
        () => {},
      );
    }, SAMPLE_MS);
    await Promise.all(slots);
    clearInterval(timer);
    // Everyone gone: what the daemon still holds once the last session is freed.
    await new Promise((r) => setTimeout(r, 3000));
    samples.push({ ...(await sample(daemon, t0)), after: true });
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const report = { when: new Date(t0).toISOString(), minutes: MINUTES, clients: CLIENTS, cpus: cpus().length, counts, samples };
  const text = render(report);
  process.stdout.write(`${text}\n`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(report, null, 2));
  if (write) {
    writeSection('soak', text);
    saveRun('soak', report);
    plot(report);
  }
}

const plot = (report) => writePlot('bench-soak-memory', soakPlot(report));

function render(r) {
  const s = r.samples;
  // Busy: once every client has started (the first tenth of the run, at most a minute).
  const busy = s.filter((x) => !x.after && x.minute >= Math.min(1, r.minutes / 10));
  const firstBusy = busy[0] ?? s[0];
  const lastBusy = busy[busy.length - 1] ?? s[s.length - 1];
  const after = s[s.length - 1];
  const max = (k) => Math.max(...s.map((x) => x[k]));
  const row = (x) => `| ${x.after ? 'after the last client' : `${x.minute.toFixed(1)} min`} | ${x.rssMiB.toFixed(0)} | ${x.fds} | ${x.sessions} | ${x.allocations} | ${x.handles} |`;
  const pick = [s[0], firstBusy, ...busy.filter((_, i) => i % Math.max(1, Math.floor(busy.length / 6)) === 0).slice(1), lastBusy, after].filter((x, i, a) => a.indexOf(x) === i);
  return [
    `## Soak: ${r.clients} clients, ${r.minutes} minutes`,
    '',
    `Run ${r.when} on ${r.cpus} CPUs: ${r.clients} clients for ${r.minutes} minutes against one \`gpupool daemon --simulate\` (\`node bench/soak.js\`).`,
    'Half of them long-lived (card_load training loops and inference services), half short jobs back to back',
    '(driver_api: contexts, modules, allocations, copies, kernels, streams, events, then exit), so sessions',
    `open and close all along: ${r.counts.jobs} jobs in all, ${r.counts.failed} failed.`,
    '',
    '| time | daemon RSS (MiB) | open fds | sessions | allocations held | handles held |',
    '|---|---|---|---|---|---|',
    ...pick.map(row),
    '',
    `![The daemon's resident memory and live sessions over the soak (run ${r.when})](img/bench-soak-memory.svg)`,
    '',
    `Resident memory: ${firstBusy.rssMiB.toFixed(0)} MiB at the first busy sample, ${lastBusy.rssMiB.toFixed(0)} MiB at the last, ${max('rssMiB').toFixed(0)} MiB at most;`,
    `open file descriptors ${firstBusy.fds} -> ${lastBusy.fds} (at most ${max('fds')}); after the last client: ${after.sessions} sessions, ${after.allocations} allocations, ${after.handles} handles, ${after.fds} fds.`,
    ...(r.counts.errors.length ? ['', 'Failed jobs (first few): ' + r.counts.errors.map((e) => `\`${e.replace(/\n/g, ' ')}\``).join('; ')] : []),
  ].join('\n');
}

main().catch((err) => {
  process.stderr.write(`soak: ${err.stack ?? err}\n`);
  process.exit(1);
});
