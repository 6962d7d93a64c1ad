/**
 * Shares over time: clients with different shares arrive at one emulated card and leave again, and the
 * daemon's own measurement of each one's achieved share (`/v1/status`, the 10 s window) is sampled as
 * they do. Draws docs/img/sharing-shares-over-time.svg (bench/plots.js), shown in docs/sharing.md.
 *
 *   node bench/shares.js [--no-write] [--json FILE] [--render FILE] [--session-process thread|process]
 *
 * Saves the run as bench/results/shares.json (the one docs/sharing.md shows) unless --no-write;
 * --json FILE: also save it there.
 * --render FILE: draw the plot from a saved run without running anything.
 * --session-process MODE: the daemon's sessions in its threads or in worker processes (config
 *   compute.sessionProcess), whose clients share the card through the scheduler's shared state.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from './daemon.js';
import { saveRun, sharesPlot, writePlot } from './plots.js';
import { buildTestPrograms, clientEnv } from './test-programs.js';

const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const write = !args.includes('--no-write');
const SAMPLE_MS = 500;
const sessionProcess = flag('--session-process', null);

/** Who comes when: A alone, then B and C join, then A leaves; every share below 1, none a limit. */
const CLIENTS = [
  { name: 'A', share: 0.5, start: 0, seconds: 26 },
  { name: 'B', share: 0.3, start: 8, seconds: 30 },
  { name: 'C', share: 0.2, start: 16, seconds: 22 },
];
const SECONDS = Math.max(...CLIENTS.map((c) => c.start + c.seconds));

async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-shares-'));
  const tools = buildTestPrograms(dir, ['card_load']);
  // One card, so every client shares it.
  const compute = sessionProcess ? { compute: { sessionProcess } } : {};
  const daemon = await Daemon.start({}, dir, { sharing: { placement: 'binpack' }, ...compute });
  try {
    const t0 = Date.now();
    const children = CLIENTS.map(async (c) => {
      await new Promise((r) => setTimeout(r, c.start * 1000));
      const env = clientEnv(daemon.server, { GPUPOOL_REQUEST: `share=${c.share},gpus=1,mem=256MiB` });
      const child = spawn(tools.card_load, [tools.fatbin, 'train', String(c.seconds), '1000', '20'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      c.pid = child.pid;
      let err = '';
      child.stderr.on('data', (d) => (err += d.toString()));
      const [code] = await once(child, 'close');
      if (code !== 0) throw new Error(`client ${c.name} failed (${code}): ${err}`);
    });
    const samples = [];
    const sampling = (async () => {
      while (Date.now() - t0 < SECONDS * 1000) {
        const doc = await daemon.status();
        const achieved = {};
        for (const s of doc.compute.sessions) {
          const c = CLIENTS.find((x) => x.pid === s.pid);
          const card = s.cards.find((x) => x.ordinal === 0);
          if (c && card && card.achievedShare !== null) achieved[c.name] = card.achievedShare;
        }
        samples.push({ t: (Date.now() - t0) / 1000, achieved });
        await new Promise((r) => setTimeout(r, SAMPLE_MS));
      }
    })();
    await Promise.all([...children, sampling]);
    return { when: new Date(t0).toISOString(), cpus: cpus().length, sessionProcess: sessionProcess ?? 'default', seconds: SECONDS, clients: CLIENTS.map(({ pid, ...c }) => c), samples };
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const from = flag('--render', null);
  const r = from ? JSON.parse(readFileSync(from, 'utf8')) : await run();
  const jsonOut = flag('--json', null);
  if (jsonOut && !from) writeFileSync(jsonOut, `${JSON.stringify(r, null, 2)}\n`);
  for (const c of r.clients) {
    const got = r.samples.map((s) => s.achieved[c.name]).filter((v) => v !== undefined);
    process.stdout.write(`${c.name}: asked ${c.share}, achieved ${got.length ? `${Math.min(...got).toFixed(2)}-${Math.max(...got).toFixed(2)}` : 'never measured'}\n`);
  }
  // The achieved shares (each over the 10 s window before) at the end of each phase of several clients.
  const phases = [...new Set(CLIENTS.flatMap((c) => [c.start, c.start + c.seconds]))].sort((a, b) => a - b);
  for (const end of phases.slice(1)) {
    const at = r.samples.filter((s) => s.t <= end - 0.25).at(-1);
    const present = CLIENTS.filter((c) => c.start < end && c.start + c.seconds >= end);
    if (!at || present.length < 2) continue;
    process.stdout.write(`at ${at.t.toFixed(1)} s: ${present.map((c) => `${c.name} ${c.share} -> ${at.achieved[c.name]?.toFixed(3) ?? '?'}`).join(', ')}\n`);
  }
  if (write && !from) saveRun('shares', r);
  if (write) process.stdout.write(`wrote ${writePlot('sharing-shares-over-time', sharesPlot(r))}\n`);
}

main().catch((err) => {
  process.stderr.write(`shares: ${err.stack ?? err}\n`);
  process.exit(1);
});
