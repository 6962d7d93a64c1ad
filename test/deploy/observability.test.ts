/**
 * The observability kit (deploy/observability): the recording rules pass `promtool check rules` and
 * their unit tests (`promtool test rules`); the Grafana dashboard parses, its every expression is
 * valid PromQL (promtool checks it as a rule) and names only series a simulated daemon exports (or
 * the kit's own recording rules).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';

const run = promisify(execFile);
const KIT = join(packageRoot, 'deploy', 'observability');
const RULES = join(KIT, 'gpupool-rules.yml');

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
}

const dashboard = JSON.parse(readFileSync(join(KIT, 'gpupool-dashboard.json'), 'utf8')) as { panels: Panel[]; templating: { list: { name: string; query?: string | { query: string } }[] } };
const expressions = dashboard.panels.flatMap((p) => (p.targets ?? []).map((target) => ({ panel: p.title, expr: target.expr })));

/** Grafana's variables and intervals made into what Prometheus would be sent. */
function asSent(expr: string): string {
  return expr.replace(/\$__rate_interval/g, '1m').replace(/\$\{?(\w+)\}?/g, '.*');
}

/** The names of the series an expression reads: its identifiers less label matchers, ranges, grouping labels and PromQL's own words. */
const PROMQL_WORDS = new Set(['sum', 'by', 'count', 'rate', 'increase', 'or', 'and', 'unless', 'vector', 'label_replace', 'without', 'on', 'ignoring', 'max', 'min', 'avg', 'topk', 'bool']);
function seriesNames(expr: string): string[] {
  const body = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  return [...body.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]).filter((w) => !PROMQL_WORDS.has(w) && !/^\d/.test(w));
}

function recorded(): Map<string, string> {
  const rules = readFileSync(RULES, 'utf8');
  const names = new Map<string, string>();
  for (const m of rules.matchAll(/- record: (\S+)\n\s+expr: (\|\n(?:\s{10}.*\n?)+|.*)/g)) names.set(m[1]!, m[2]!.replace(/^\|/, ''));
  return names;
}

t.test('promtool: the rules are valid and their unit tests pass', async (t) => {
  const check = await run('promtool', ['check', 'rules', RULES]);
  t.match(check.stdout, /SUCCESS: \d+ rules found/);
  const test = await run('promtool', ['test', 'rules', join(KIT, 'gpupool-rules.test.yml')]);
  t.match(test.stdout, /SUCCESS/);
  const names = [...recorded().keys()];
  for (const dcgm of ['DCGM_FI_DEV_FB_USED', 'DCGM_FI_DEV_FB_FREE', 'DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_POWER_USAGE']) {
    t.ok(names.includes(dcgm), `dcgm-exporter's ${dcgm} is recorded`);
  }
});

t.test('Grafana: every panel expression is valid PromQL', async (t) => {
  t.ok(expressions.length >= 15, `the dashboard has its panels' queries (${expressions.length})`);
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-grafana-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // As recording rules, promtool parses each one and names the failing one.
  const lines = ['groups:', '  - name: grafana', '    rules:'];
  expressions.forEach(({ expr }, i) => lines.push(`      - record: grafana_panel_${i}`, `        expr: ${JSON.stringify(asSent(expr))}`));
  const file = join(dir, 'panels.yml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const check = await run('promtool', ['check', 'rules', file]);
  t.match(check.stdout, new RegExp(`SUCCESS: ${expressions.length} rules found`));
});

t.test('Grafana and the rules name only series the daemon exports', async (t) => {
  // Only the metrics' names are wanted: no init probe in a child process, and patience on a loaded machine.
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, { ...QUICK_CONFIG, vendors: { probeInit: false } })], {}, 60_000);
  t.teardown(() => daemon.stop());
  const text = await (await fetch(`${daemon.url}/metrics`)).text();
  // A metric with no series now (no client yet) is still declared by its TYPE line.
  const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  t.ok(exported.has('gpupool_client_achieved_share') && exported.has('gpupool_client_queue_wait_seconds_total'), 'the sharing series are declared');
  const rules = recorded();
  for (const [name, expr] of rules) {
    for (const used of seriesNames(expr)) t.ok(exported.has(used), `rule ${name}: ${used} is exported`);
  }
  const variables = dashboard.templating.list.flatMap((v) => (typeof v.query === 'object' ? [v.query.query] : []));
  for (const { panel, expr } of [...expressions, ...variables.map((q) => ({ panel: 'variables', expr: q.replace(/^label_values\((\w+),.*$/, '$1') }))]) {
    for (const used of seriesNames(expr)) t.ok(exported.has(used) || rules.has(used), `${panel}: ${used} is exported or recorded`);
  }
});
