// `gpupool status` as an operator reads it (docs/operations.md, "Command line"): tables that fit the
// terminal, -o wide/csv/json, --watch, the default port, escaped client names, and http:// against a
// daemon that speaks only TLS. Real daemons, real CLI processes, real clients.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t from 'tap';
import stringWidth from 'string-width';
import { DaemonProcess, CLI, runCli } from '../helpers/daemon-process.js';
import { TestCa } from '../helpers/certificates.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, eventually, writeConfig, computeStatus } from '../helpers/integration.js';
import { handshake } from '../helpers/raw-client.js';

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
// A minute to start: CI machines are small and busy.
const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)], {}, 60_000);
t.teardown(() => daemon.stop());
const ws = daemon.url.replace(/^http/, 'ws');

// A client whose HELLO names its program and host with escape codes, a bell, a bidirectional override
// and a newline, and one with a name of 10,000 characters: both hold a session while the tests look.
const hostile = await handshake(ws, null, { program: '/opt/\x1b[31mred\x1b[0m\x07\u202eevil\nline', host: 'host\x1b]0;owned\x07' });
const long = await handshake(ws, null, { program: `/bin/${'x'.repeat(10_000)}`, host: 'long-host' });
t.teardown(() => {
  if (hostile.welcome) hostile.ws.terminate();
  if (long.welcome) long.ws.terminate();
});
await eventually('both sessions in status', async () => ((await computeStatus(daemon)).sessions.length === 2 ? true : undefined));

/** No byte a terminal acts on: C0 and C1 controls, DEL, bidirectional overrides. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

function widest(text: string): number {
  return Math.max(...text.split('\n').map((l) => stringWidth(l)));
}

t.test('the table fits the width it is given: COLUMNS, --width; into a pipe cells are bounded', async (t) => {
  t.ok(hostile.welcome && long.welcome, 'both clients welcomed');
  const [cols80, cols60, width50, piped] = await Promise.all([
    runCli(['status', '--host', daemon.url], { COLUMNS: '80' }),
    runCli(['status', '--host', daemon.url], { COLUMNS: '60' }),
    runCli(['status', '--host', daemon.url, '--width', '50'], { COLUMNS: '200' }),
    runCli(['status', '--host', daemon.url], { COLUMNS: '' }),
  ]);
  for (const [name, run, width] of [['COLUMNS=80', cols80, 80], ['COLUMNS=60', cols60, 60], ['--width 50 over COLUMNS=200', width50, 50]] as const) {
    t.equal(run.code, 0, `${name}: exit 0`);
    t.ok(widest(run.stdout) <= width, `${name}: every line within ${width} columns (widest ${widest(run.stdout)})`);
    t.match(run.stdout, /^VENDOR +IDX +NAME +MEMORY/m, `${name}: the card table's heading`);
    t.match(run.stdout, /HEALTH$/m, `${name}: health is kept when columns must go`);
    t.match(run.stdout, /^CARD +SESSION +TENANT +PROGRAM/m, `${name}: the clients' heading`);
    t.match(run.stdout, /…/, `${name}: something was cut with an ellipsis`);
  }
  t.match(cols80.stdout, /^VENDOR +IDX +NAME +MEMORY +MEM +UTIL +TEMP +POWER +HEALTH$/m, '80 columns hold every default column');
  t.match(cols80.stdout, /^nvidia +0 +NVIDIA H100\S* +[\d.]+ GiB \/ 80\.0 GiB +\d+% +42% +51 C +312\.5 W +healthy$/m, 'figures with their units');
  t.notMatch(cols60.stdout, /POWER/, 'at 60 columns the optional columns go first');
  // Into a pipe nothing is cut to a terminal, but a 10,000-character name still ends at 48 columns.
  t.equal(piped.code, 0);
  t.match(piped.stdout, /^VENDOR +IDX +NAME +MEMORY +MEM +UTIL +TEMP +POWER +HEALTH$/m);
  t.match(piped.stdout, /NVIDIA H100 80GB HBM3/, 'names whole');
  t.ok(widest(piped.stdout) < 300, `the long program name is cut (widest line ${widest(piped.stdout)})`);
  t.match(piped.stdout, /x{20,}…/, 'with an ellipsis');
});

t.test("a client's escape codes never reach the terminal: escaped in every table", async (t) => {
  const [table, wide, pool] = await Promise.all([
    runCli(['status', '--host', daemon.url]),
    runCli(['status', '--host', daemon.url, '-o', 'wide']),
    runCli(['status', '--pool', '--host', daemon.url, '-o', 'wide']),
  ]);
  for (const [name, run] of [['table', table], ['-o wide', wide], ['--pool -o wide', pool]] as const) {
    t.equal(run.code, 0, `${name}: exit 0`);
    t.notMatch(run.stdout, CONTROL, `${name}: no control character printed`);
    // The daemon escapes client names once, as HELLO arrives (docs/security.md); the CLI escapes
    // whatever control characters a daemon's document still holds (terminal-text.test.ts).
    t.match(run.stdout, '\\x1b[31mred\\x1b[0m\\x07\\u202eevil\\x0aline', `${name}: the program name, escaped`);
  }
  t.match(wide.stdout, 'host\\x1b]0;owned\\x07', '-o wide: the host name, escaped');
  const json = await runCli(['status', '--host', daemon.url, '-o', 'json']);
  t.notMatch(json.stdout, CONTROL, 'JSON escapes them its own way');
  const doc = JSON.parse(json.stdout) as { hosts: { status: { compute: { sessions: { program: string }[] } } }[] };
  t.ok(doc.hosts[0]!.status.compute.sessions.some((s) => s.program === '/opt/\\x1b[31mred\\x1b[0m\\x07\\u202eevil\\x0aline'), 'and keeps the name as the daemon escaped it');
});

t.test('-o wide, -o csv, -o json and --json', async (t) => {
  const [wide, csv, json, legacy] = await Promise.all([
    runCli(['status', '--host', daemon.url, '-o', 'wide']),
    runCli(['status', '--host', daemon.url, '-o', 'csv']),
    runCli(['status', '--host', daemon.url, '-o', 'json']),
    runCli(['status', '--host', daemon.url, '--json']),
  ]);
  t.match(wide.stdout, /^VENDOR +IDX +NAME +MEMORY +MEM +UTIL +TEMP +POWER +HEALTH +UUID +PCI BUS +DEVICE +CC$/m, 'wide: the rest of the card columns');
  t.match(wide.stdout, /GPU-[0-9a-f-]{36}/, 'with the UUID');
  t.match(wide.stdout, /^CARD +SESSION +TENANT +PROGRAM +PID +HOST +MEMORY +SHARE +ACHIEVED +PRIORITY +DEVICE TIME +WAITED +STATE +SINCE$/m);

  t.equal(csv.code, 0);
  const lines = csv.stdout.trimEnd().split('\n');
  t.equal(lines[0], 'timestamp,host,hostname,vendor,index,name,uuid,pci_bus_id,memory_used_bytes,memory_total_bytes,utilization_gpu_percent,utilization_memory_percent,temperature_c,power_w,health,health_reason');
  t.equal(lines.length, 5, 'a header and a row per card');
  const h100 = lines.find((l) => l.includes('NVIDIA H100'))!.split(',');
  t.equal(h100[1], daemon.url);
  t.equal(Number(h100[9]), 80 * 1024 ** 3, 'raw bytes');
  t.equal(Number(h100[10]), 42, 'raw percent');
  t.equal(Number(h100[13]), 312.5, 'raw watts');

  const parsedJson = JSON.parse(json.stdout) as { hosts: unknown[]; devices: unknown[] };
  const parsedLegacy = JSON.parse(legacy.stdout) as { hosts: unknown[]; devices: unknown[] };
  t.equal(parsedJson.devices.length, 4);
  t.equal(parsedLegacy.devices.length, 4, '--json is kept');
  t.same(Object.keys(parsedJson), Object.keys(parsedLegacy), 'the same document either way');

  const poolCsv = await runCli(['status', '--pool', '--host', daemon.url, '-o', 'csv']);
  t.equal(poolCsv.code, 0);
  const poolLines = poolCsv.stdout.trimEnd().split('\n');
  t.equal(poolLines[0], 'timestamp,host,hostname,card,name,uuid,health,committed_bytes,total_bytes,shares,utilization_percent,sessions', '--pool -o csv: a row per compute card');
  t.equal(poolLines.length, 3, 'the two compute cards');
  t.equal(poolLines.map((l) => Number(l.split(',').at(-1))).slice(1).reduce((a, b) => a + b, 0), 2, 'holding the two clients\' sessions');

  const bad = await runCli(['status', '--host', daemon.url, '-o', 'yaml']);
  t.equal(bad.code, 2, 'an unknown format is a usage error');
  t.match(bad.stderr, /Allowed choices are table, wide, csv, json/);
});

t.test('--watch: refreshes until SIGINT, then exits with the last look\'s status', async (t) => {
  const child = spawn(process.execPath, [CLI, 'status', '--host', daemon.url, '--watch', '0.3'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = once(child, 'exit');
  await eventually('two refreshes', () => ((stdout.match(/^Every 0\.3 s: gpupool status/gm)?.length ?? 0) >= 2 ? true : undefined), 20_000);
  t.equal(child.exitCode, null, 'still running between refreshes');
  child.kill('SIGINT');
  const [code] = (await exited) as [number | null];
  t.equal(code, 0, 'SIGINT ends it with exit 0 (every card healthy)');
  t.ok((stdout.match(/^VENDOR +IDX/gm)?.length ?? 0) >= 2, 'a table each time');

  const csv = spawn(process.execPath, [CLI, 'status', '--host', daemon.url, '-o', 'csv', '-w', '0.2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let csvOut = '';
  csv.stdout.on('data', (d: Buffer) => (csvOut += d.toString()));
  await eventually('three CSV looks', () => (csvOut.trimEnd().split('\n').length >= 1 + 3 * 4 ? true : undefined), 20_000);
  csv.kill('SIGTERM');
  t.equal(((await once(csv, 'exit')) as [number])[0], 0, 'SIGTERM ends it too');
  t.equal(csvOut.match(/^timestamp,/gm)?.length, 1, 'one CSV header for all the looks');

  const usage = await runCli(['status', '--watch', '0']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /from 0\.1 to 86400/);
});

t.test('a --host without a port is port 7760: a bare address, and http:// without one', async (t) => {
  // An address of 127.0.0.0/8 no other test uses, so that port 7760 is free on it.
  const address = `127.${1 + (process.pid % 250)}.${1 + (Date.now() % 250)}.77`;
  const d = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG, 'port.json'), '--listen', `${address}:7760`, '--hostname', 'default-port'], {}, 60_000);
  t.teardown(() => d.stop());
  t.equal(d.url, `http://${address}:7760`);
  const [bare, scheme] = await Promise.all([runCli(['status', '--host', address]), runCli(['status', '--host', `http://${address}`, '--json'])]);
  t.equal(bare.code, 0, bare.stderr);
  t.match(bare.stdout, `default-port (http://${address}:7760)`);
  t.equal(scheme.code, 0, scheme.stderr);
  t.match(JSON.parse(scheme.stdout), { hosts: [{ url: `http://${address}:7760`, ok: true }] });
  const explicit = await runCli(['status', '--host', `${address}:9`, '--timeout', '2000']);
  t.equal(explicit.code, 3, 'a port given is the port used');
  t.match(explicit.stderr, `http://${address}:9:`);
});

t.test('status --host http:// against a daemon that speaks only TLS says so', async (t) => {
  const ca = new TestCa();
  t.teardown(() => ca.remove());
  const server = ca.server('daemon');
  const d = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG, 'tls.json'), '--tls-cert', server.cert, '--tls-key', server.key], {}, 60_000);
  t.teardown(() => d.stop());
  t.match(d.url, /^https:\/\//);
  const plain = d.url.replace(/^https/, 'http');
  const [table, pool, right] = await Promise.all([
    runCli(['status', '--host', plain]),
    runCli(['status', '--pool', '--host', plain]),
    runCli(['status', '--host', d.url, '--tls-ca', ca.cert]),
  ]);
  t.equal(table.code, 3);
  t.match(table.stderr, `${plain}: the daemon there speaks TLS: use ${d.url}`);
  t.equal(pool.code, 3);
  t.match(pool.stderr, 'speaks TLS', '--pool too');
  t.equal(right.code, 0, 'https:// with its CA works');
  // Negative control: a port where nothing listens is not called TLS.
  const closed = await runCli(['status', '--host', 'http://127.0.0.1:1']);
  t.equal(closed.code, 3);
  t.notMatch(closed.stderr, /TLS/);
});
