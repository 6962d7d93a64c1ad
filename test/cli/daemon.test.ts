// `gpupool daemon` / `gpupoold` as processes: configuration errors, listening, signals, vendor failures.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { packageRoot } from '../../src/paths.js';
import type { StatusDocument } from '../../src/server/status.js';
import { DaemonProcess, runCli, type LogLine } from '../helpers/daemon-process.js';
import { FAKE_FILES, FixtureFile, mixedHost, type Fixture } from '../helpers/fixture.js';
import { writeConfig, QUICK_CONFIG } from '../helpers/integration.js';

const FATAL = 60;

const fixture = new FixtureFile(mixedHost());
const quick = writeConfig(fixture.dir);
t.teardown(() => fixture.remove());

function logLines(stdout: string): LogLine[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogLine);
}

async function status(url: string): Promise<StatusDocument> {
  const res = await fetch(`${url}/v1/status`);
  return (await res.json()) as StatusDocument;
}

function vendor(doc: StatusDocument, name: string) {
  return doc.vendors.find((v) => v.vendor === name);
}

/** Checks the orderly stop every signal should give: "stopping" (naming the signal), then "stopped". */
function assertStopped(t: Test, logs: LogLine[], signal: string): void {
  const msgs = logs.map((l) => l.msg);
  const stopping = msgs.indexOf('stopping');
  t.ok(stopping >= 0, 'logged "stopping"');
  t.equal(logs[stopping]?.reason, signal, `the reason is ${signal}`);
  t.ok(msgs.indexOf('stopped') > stopping, 'then "stopped"');
  t.notOk(logs.some((l) => l.level >= 50), 'no error or fatal line');
}

// A vendor whose init hangs for a minute: far longer than the test may take, so the daemon must be able
// to stop and exit without it.
const hungFixture = mixedHost();
hungFixture.ascend!.initDelayMs = 60_000;
const hung = new FixtureFile(hungFixture);
t.teardown(() => hung.remove());
// Without the init probe (test/vendors/init-probe.test.ts has it): the hang is met in-process, on a worker thread.
const hungConfig = writeConfig(hung.dir, { ...QUICK_CONFIG, vendors: { initTimeoutMs: 300, probeInit: false } });
const hungStart = DaemonProcess.start(['--simulate', hung.path, '--config', hungConfig]);
hungStart.catch(() => undefined); // awaited, and reported, by its test

t.test('bad flags and configuration: exit 2, a message naming the culprit, nothing started', async (t) => {
  const dir = fixture.dir;
  const unknownKey = join(dir, 'unknown-key.json');
  writeFileSync(unknownKey, JSON.stringify({ vendors: { bogus: true } }));
  const notJson = join(dir, 'not-json.json');
  writeFileSync(notJson, '{ listen: 127.0.0.1:7760 ');
  const missing = join(dir, 'missing.json');
  const badType = join(dir, 'bad-type.json');
  writeFileSync(badType, JSON.stringify({ sampling: { intervalMs: 5 } }));

  const cases: [string, string[], NodeJS.ProcessEnv, RegExp[]][] = [
    ['--listen nope', ['daemon', '--listen', 'nope'], {}, [/listen: expected HOST:PORT/, /"nope"/]],
    ['--log-level loud', ['daemon', '--log-level', 'loud'], {}, [/--log-level/, /loud/, /Allowed choices are fatal, error, warn, info, debug, trace, silent/]],
    ['unknown key in the config file', ['daemon', '--config', unknownKey], {}, [new RegExp(`config file ${unknownKey}: vendors\\.bogus is not a known setting`)]],
    ['config file not JSON', ['daemon', '--config', notJson], {}, [new RegExp(`config file ${notJson}: not valid JSON`)]],
    ['missing config file', ['daemon', '--config', missing], {}, [new RegExp(`config file ${missing}: ENOENT`)]],
    ['config file out of range', ['daemon', '--config', badType], {}, [/sampling\.intervalMs must be >= 100/]],
    ['GPUPOOL_CONFIG names a missing file', ['daemon'], { GPUPOOL_CONFIG: missing }, [new RegExp(`config file ${missing}`)]],
    ['GPUPOOL_SAMPLE_INTERVAL_MS=abc', ['daemon'], { GPUPOOL_SAMPLE_INTERVAL_MS: 'abc' }, [/environment GPUPOOL_SAMPLE_INTERVAL_MS/]],
    ['GPUPOOL_LISTEN=nope', ['daemon'], { GPUPOOL_LISTEN: 'nope' }, [/listen: expected HOST:PORT/]],
    ['--vendors nvidia,intel', ['daemon', '--vendors', 'nvidia,intel'], {}, [/command line: vendors\.enabled\.1 must be one of "nvidia", "amd", "ascend"/]],
    ['unknown flag', ['daemon', '--bogus'], {}, [/unknown option '--bogus'/]],
  ];
  const results = await Promise.all(cases.map(([, args, env]) => runCli(args, env)));
  for (const [i, [name, , , patterns]] of cases.entries()) {
    const r = results[i]!;
    t.equal(r.code, 2, `${name}: exit 2`);
    for (const p of patterns) t.match(r.stderr, p, `${name}: stderr ${p}`);
    t.equal(r.stdout, '', `${name}: no log line, nothing started`);
  }
});

t.test('--simulate with a fixture that does not exist: exit 2 like any configuration error, the message names the fixture', async (t) => {
  const r = await runCli(['daemon', '--listen', '127.0.0.1:0', '--simulate', '/nonexistent.json']);
  t.equal(r.code, 2);
  t.match(r.stderr, /simulate: fixture \/nonexistent\.json does not exist/);
  t.equal(r.stdout, '', 'no log line, nothing started');
});

t.test('port 0: the listening line carries the bound port, which answers; SIGTERM stops it', async (t) => {
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', quick]);
  t.teardown(() => daemon.stop('SIGKILL'));
  const line = daemon.logs.find((l) => l.msg === 'listening')!;
  const port = Number(/^127\.0\.0\.1:(\d+)$/.exec(String(line.address))?.[1]);
  t.ok(port > 0 && port < 65536, `a real port (${port})`);
  t.equal(line.url, `http://127.0.0.1:${port}`);
  t.equal(line.cards, 4);
  const doc = await status(`http://127.0.0.1:${port}`);
  t.equal(doc.daemon.listen, `127.0.0.1:${port}`, 'status reports the bound address, not port 0');
  t.equal(doc.devices.length, 4);

  t.equal(await daemon.stop('SIGTERM'), 0, 'exit 0');
  assertStopped(t, daemon.logs, 'SIGTERM');
  t.same(daemon.stderr, [], 'nothing on stderr');
});

t.test('a port already in use: exit 1 with GPUPOOL_LISTEN_FAILED', async (t) => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  t.teardown(() => blocker.close());
  const port = (blocker.address() as AddressInfo).port;
  const r = await runCli(['daemon', '--listen', `127.0.0.1:${port}`, '--simulate', fixture.path, '--config', quick]);
  t.equal(r.code, 1);
  const logs = logLines(r.stdout);
  const fatal = logs.find((l) => l.level === FATAL);
  t.match(fatal, { msg: 'gpupoold failed to start', code: 'GPUPOOL_LISTEN_FAILED', err: new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`) });
  t.notOk(logs.some((l) => l.msg === 'listening'), 'never listened');
});

t.test('the gpupoold alias starts the daemon; SIGINT stops it', async (t) => {
  const child = spawn(process.execPath, [join(packageRoot, 'dist', 'cli', 'gpupoold.js'), '--simulate', fixture.path, '--listen', '127.0.0.1:0', '--config', quick], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const logs: LogLine[] = [];
  const listening = new Promise<LogLine>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (text) => {
      const line = JSON.parse(text) as LogLine;
      logs.push(line);
      if (line.msg === 'listening') resolve(line);
    });
    void exited.then(([code]) => reject(new Error(`gpupoold exited (${String(code)}) before listening`)));
  });
  const line = await listening;
  t.equal(line.name, 'gpupoold');
  const res = await fetch(`${String(line.url)}/healthz`);
  t.equal(res.status, 200);
  t.same(await res.json(), { status: 'ok' });

  child.kill('SIGINT');
  const [code] = await exited;
  t.equal(code, 0, 'exit 0 after SIGINT');
  assertStopped(t, logs, 'SIGINT');
});

t.test('an absent vendor library: that vendor unavailable, the others serve', async (t) => {
  const libs = fixture.libraryDir(FAKE_FILES.nvidia);
  const daemon = await DaemonProcess.start(['--library-path', libs, '--no-system-libraries', '--config', quick], { GPUPOOL_SIM_FIXTURE: fixture.path });
  t.teardown(() => daemon.stop('SIGKILL'));
  const doc = await status(daemon.url);
  t.equal(doc.daemon.simulated, false, 'real library loading, not --simulate');
  t.match(vendor(doc, 'nvidia'), { available: true, deviceCount: 2, library: join(libs, FAKE_FILES.nvidia) });
  t.match(vendor(doc, 'amd'), {
    enabled: true,
    available: false,
    library: null,
    error: { code: 'GPUPOOL_VENDOR_UNAVAILABLE', message: `amd: library not loaded: none of librocm_smi64.so, librocm_smi64.so.7, librocm_smi64.so.6, librocm_smi64.so.5, librocm_smi64.so.1 found in ${libs}` },
  });
  t.match(vendor(doc, 'ascend'), {
    available: false,
    error: { code: 'GPUPOOL_VENDOR_UNAVAILABLE', message: `ascend: library not loaded: none of libdcmi.so found in ${libs}` },
  });
  t.same(doc.devices.map((d) => `${d.vendor}${d.index}`), ['nvidia0', 'nvidia1']);
  t.same(doc.summary, { devices: 2, healthy: 2, unhealthy: 0, vendorsAvailable: 1 });
  t.ok(daemon.logs.some((l) => l.msg === 'vendor unavailable' && l.vendor === 'amd' && l.level === 40), 'a warning names amd');
  const health = await fetch(`${daemon.url}/healthz`);
  t.equal(health.status, 200, 'still serving');
  await health.arrayBuffer();
  t.equal(await daemon.stop('SIGTERM'), 0);
  assertStopped(t, daemon.logs, 'SIGTERM');
});

t.test('a vendor whose init fails: unavailable with GPUPOOL_VENDOR_INIT_FAILED, the others fine', async (t) => {
  const broken: Fixture = mixedHost();
  broken.amd!.initError = 8;
  const file = new FixtureFile(broken);
  t.teardown(() => file.remove());
  const daemon = await DaemonProcess.start(['--simulate', file.path, '--config', quick]);
  t.teardown(() => daemon.stop('SIGKILL'));
  const doc = await status(daemon.url);
  t.match(vendor(doc, 'amd'), {
    available: false,
    deviceCount: 0,
    library: join(packageRoot, 'build', 'native', 'fakes', FAKE_FILES.amd),
    error: { code: 'GPUPOOL_VENDOR_INIT_FAILED', message: /^amd: rsmi_init failed: RSMI_STATUS_INIT_ERROR.* \(8\)$/ },
  });
  t.match(vendor(doc, 'nvidia'), { available: true, deviceCount: 2 });
  t.match(vendor(doc, 'ascend'), { available: true, deviceCount: 1 });
  t.same(doc.devices.map((d) => `${d.vendor}${d.index}`), ['nvidia0', 'nvidia1', 'ascend0']);
  t.ok(doc.devices.every((d) => d.health.state === 'healthy'), 'the other cards are healthy');
  t.equal(await daemon.stop('SIGTERM'), 0);
});

t.test('a vendor whose init hangs in-process (no probe): reported timed out, the daemon ready without it', async (t) => {
  const daemon = await hungStart;
  t.teardown(() => daemon.stop('SIGKILL'));
  const doc = await status(daemon.url);
  t.match(vendor(doc, 'ascend'), {
    available: false,
    error: { code: 'GPUPOOL_VENDOR_INIT_TIMEOUT', message: 'ascend: library init did not answer within 300 ms' },
  });
  t.match(vendor(doc, 'nvidia'), { available: true, deviceCount: 2 });
  t.match(vendor(doc, 'amd'), { available: true, deviceCount: 1 });
  t.equal(doc.devices.length, 3);
  t.ok(daemon.logs.some((l) => l.msg === 'vendor unavailable' && l.vendor === 'ascend'), 'a warning names ascend');
  // The hung call still holds a worker thread: the daemon stops in order, then exits without it.
  t.equal(await daemon.stop('SIGTERM'), 0);
  assertStopped(t, daemon.logs, 'SIGTERM');
  t.ok(daemon.logs.some((l) => l.msg === 'a library call is still running; exiting without it'), 'says why it exits hard');
});
