/**
 * The benchmarks' plots (bench/plots.js, bench/svg-plot.js): the SVGs in docs/img are what the saved
 * runs in bench/results draw, labels are escaped, and the axes' ticks are round.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

const run = promisify(execFile);

/** Runs `code` as an ES module in the repository root (bench/ is plain JavaScript) and parses what it prints. */
async function evaluate<T>(code: string): Promise<T> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', code], { cwd: packageRoot });
  return JSON.parse(stdout) as T;
}

t.test('docs/img holds what the saved runs draw', async (t) => {
  const drawn = await evaluate<Record<string, string>>(`
    import { drawSaved } from './bench/plots.js';
    process.stdout.write(JSON.stringify(drawSaved()));`);
  t.same(Object.keys(drawn).sort(), ['bench-copies', 'bench-pool-replay-p99', 'bench-soak-memory', 'sharing-shares-over-time'], 'the four plots');
  for (const [name, svg] of Object.entries(drawn)) {
    t.equal(readFileSync(join(packageRoot, 'docs', 'img', `${name}.svg`), 'utf8'), svg, `${name}.svg is up to date (node bench/plots.js)`);
    t.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^>]*>.*<\/svg>\n$/s, `${name}: one SVG element`);
    t.match(svg, /run 2026-/, `${name}: names its run`);
  }
  t.match(drawn['bench-copies'], /256 MiB/, 'the copy sizes of the documented run');
});

t.test('labels are escaped; ticks are round', async (t) => {
  const r = await evaluate<{ svg: string; ticks: number[]; small: number[] }>(`
    import { lineChart, niceTicks } from './bench/svg-plot.js';
    const svg = lineChart({ title: '<b>&"x"', x: { label: 'x', kind: 'linear' }, y: { label: 'y', kind: 'linear' }, series: [{ name: '<i>', points: [[0, 1], [2, 3]] }] });
    process.stdout.write(JSON.stringify({ svg, ticks: niceTicks(0, 4000), small: niceTicks(0, 0.9) }));`);
  t.notMatch(r.svg, /<b>|<i>/, 'no markup from a label');
  t.match(r.svg, /&lt;b&gt;&amp;&quot;x&quot;/);
  t.same(r.ticks, [0, 1000, 2000, 3000, 4000]);
  t.same(r.small, [0, 0.2, 0.4, 0.6, 0.8]);
});
