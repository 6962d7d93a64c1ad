/**
 * Who gets in, end to end: `gpupool daemon --tokens FILE` as a real process, clients as real programs
 * (`gpupool run` with the client library) and as raw WebSockets, the token file made by
 * `gpupool token new`, reloaded on SIGHUP, and the address rules at start.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { tokenDigest, tokenLine, newToken } from '../../src/auth/tokens.js';
import { DaemonProcess, localTransport, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, eventually, writeConfig } from '../helpers/integration.js';
import { createTestHosts, namespacesAvailable } from '../helpers/netns.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';
import { handshake, refused, welcomed } from '../helpers/raw-client.js';

const fatbin = buildFatbin();
const driverApi = buildProgram('driver_api.c');

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());

/** Writes the token file atomically (a reload never sees half of it) and returns its path. */
function writeTokens(lines: string[], name = 'tokens'): string {
  const path = join(fixture.dir, name);
  writeFileSync(`${path}.tmp`, `# test tenants\n${lines.join('\n')}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return path;
}

async function startDaemon(t: Test, tokens: string | null, config: object = QUICK_CONFIG, extra: string[] = []): Promise<{ daemon: DaemonProcess; server: string }> {
  const args = ['--simulate', fixture.path, '--config', writeConfig(fixture.dir, config, `config-${Math.random().toString(36).slice(2)}.json`), ...extra];
  if (tokens !== null) args.push('--tokens', tokens);
  const daemon = await DaemonProcess.start(args);
  t.teardown(() => daemon.stop());
  return { daemon, server: daemon.url.replace(/^http/, 'ws') };
}

/** `gpupool run [--token T] -- driver_api FATBIN` against one daemon. */
function driverApiRun(server: string, token?: string, netns?: string) {
  return runCli(['run', '--servers', server, ...(token === undefined ? [] : ['--token', token]), '--', driverApi, fatbin], {}, netns);
}

t.test('gpupool token new: a token, and a line the daemon accepts for it', async (t) => {
  const made = await runCli(['token', 'new', 'alice']);
  t.equal(made.code, 0, made.stderr);
  const [token, line, ...rest] = made.stdout.trimEnd().split('\n');
  t.same(rest, [], 'two lines on stdout');
  t.match(token, /^gpt_[A-Za-z0-9_-]{43}$/, 'line 1: the token');
  t.equal(line, `alice sha256:${tokenDigest(token!).toString('hex')}`, 'line 2: the file line, with the token\'s SHA-256');
  t.match(made.stderr, /GPUPOOL_TOKEN/, 'stderr says what to do with each');

  const json = await runCli(['token', 'new', 'bob', '--quota', '8GiB', '--cards', '0,GPU-11111111-2222-3333-4444-555555555555', '--priority', 'low', '--json']);
  t.equal(json.code, 0, json.stderr);
  const made2 = JSON.parse(json.stdout) as { tenant: string; token: string; line: string };
  t.match(made2, { tenant: 'bob', token: /^gpt_/, line: /^bob sha256:[0-9a-f]{64} cards=0,GPU-11111111-2222-3333-4444-555555555555 quota=8GiB priority=low$/ });
  const limited = await runCli(['token', 'new', 'carol', '--sessions', '4', '--memory', '50%']);
  t.match(limited.stdout.split('\n')[1], /^carol sha256:[0-9a-f]{64} sessions=4 memory=50%$/, 'tenant limits: --sessions and --memory');

  for (const [args, message] of [
    [['token', 'new', 'no/slash'], /tenant "no\/slash" must be/],
    [['token', 'new', 'carol', '--quota', 'lots'], /quota=lots: expected a positive size/],
    [['token', 'new', 'carol', '--priority', 'urgent'], /priority=urgent: expected high, normal or low/],
    [['token', 'new', 'carol', '--sessions', '0'], /sessions=0: expected a whole number of sessions from 1/],
    [['token', 'new', 'carol', '--memory', 'lots'], /memory=lots: expected a size in bytes/],
    [['token', 'new'], /missing required argument 'tenant'/],
  ] as const) {
    const r = await runCli([...args]);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, message);
  }

  const path = writeTokens([line!, made2.line]);
  const { daemon, server } = await startDaemon(t, path);
  t.match(daemon.logs.find((l) => l.msg === 'compute clients must present a token'), { tenants: 2 });
  t.ok(await welcomed(server, token!), 'alice\'s token opens a session');
  t.ok(await welcomed(server, made2.token), 'bob\'s too');
});

t.test('a daemon with --tokens: no token and a wrong token get 4003, the right one runs', async (t) => {
  const token = newToken();
  const { daemon, server } = await startDaemon(t, writeTokens([tokenLine('alice', token)]));
  t.notOk(daemon.logs.some((l) => /open to any local user/.test(l.msg)), 'no warning about an open daemon');

  const none = await driverApiRun(server);
  t.equal(none.code, 1, 'driver_api fails without GPUPOOL_TOKEN');
  t.match(none.stderr, /refused the connection: 4003 authentication required/, `the daemon's reason reaches the user\n${none.stderr}`);
  t.match(none.stderr, /cuInit\(0\) -> CUDA_ERROR_NO_DEVICE/);
  t.notMatch(none.stdout, /PASS/);

  const wrong = await driverApiRun(server, newToken());
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /refused the connection: 4003 unknown token/);
  t.match(wrong.stderr, /CUDA_ERROR_NO_DEVICE/);

  const right = await driverApiRun(server, token);
  t.equal(right.code, 0, `driver_api with alice's token\n${right.stdout}${right.stderr}`);
  t.match(right.stdout, /^PASS$/m);

  const logged = daemon.logs.filter((l) => l.msg === 'handshake refused');
  t.equal(logged.length, 2, 'each refusal is logged');
  // The job's peer: its TCP address, or on the local transport its process and user (SO_PEERCRED).
  t.match(logged[0], { level: 40, code: 'GPUPOOL_AUTH_REFUSED', reason: /^authentication required/, peer: localTransport ? /^unix:pid=\d+,uid=\d+$/ : /^127\.0\.0\.1:\d+$/ });
  t.match(logged[1], { reason: 'unknown token' });
  t.match(daemon.logs.find((l) => l.msg === 'client connected'), { tenant: 'alice' });

  // Raw clients: the close code itself; an empty token is no token.
  t.same(await refused(server, 'gpt_not-a-token'), { code: 4003, reason: 'unknown token' });
  t.match(await refused(server, ''), { code: 4003, reason: /^authentication required/ });

  // While a session is open, status names its tenant; neither status nor metrics show a token or its hash.
  const live = await handshake(server, token);
  t.ok(live.welcome, 'a session is open');
  const status = await (await fetch(`${daemon.url}/v1/status`)).text();
  const sessions = (JSON.parse(status) as { compute: { sessions: SessionInfo[] } }).compute.sessions;
  t.match(sessions, [{ tenant: 'alice', program: 'raw-client' }]);
  const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
  const hash = tokenDigest(token).toString('hex');
  for (const [name, text] of [['status', status], ['metrics', metrics], ['the log', JSON.stringify(daemon.logs)]] as const) {
    t.notOk(text.includes(token.slice(4)), `no token in ${name}`);
    t.notOk(text.includes(hash), `no token hash in ${name}`);
  }
  if (live.welcome) live.ws.close();
});

t.test('failures are limited per address: after N, failures are answered late, and a valid token always gets in', async (t) => {
  const token = newToken();
  // TCP only, whatever GPUPOOL_TEST_TRANSPORT says: the job must come from the address the raw clients
  // got blocked (a job on the Unix socket has no address to share with them).
  const { daemon, server } = await startDaemon(t, writeTokens([tokenLine('alice', token)], 'tokens-limit'), {
    ...QUICK_CONFIG,
    auth: { maxFailures: 3, failureWindowMs: 4000, blockedDelayMs: 600 },
  }, ['--local-socket', 'none']);
  for (let i = 0; i < 3; i++) t.same(await refused(server, i === 0 ? null : newToken()), { code: 4003, reason: i === 0 ? 'authentication required (set GPUPOOL_TOKEN, or gpupool run --token)' : 'unknown token' }, `failure ${i + 1}`);
  t.match(daemon.logs.find((l) => /too many failed handshakes/.test(l.msg)), { level: 40, peer: '127.0.0.1', failures: 3 });
  let started = Date.now();
  t.same(await refused(server, newToken()), { code: 4003, reason: 'too many failed attempts; try again later' }, 'a wrong token from the blocked address');
  t.ok(Date.now() - started >= 550, 'is answered only after auth.blockedDelayMs');
  started = Date.now();
  t.ok(await welcomed(server, token), 'the right token from the same address gets in');
  t.ok(Date.now() - started < 550, 'at once');
  const run = await driverApiRun(server, token);
  t.equal(run.code, 0, `a real job with the right token runs: ${run.stderr}`);
  const wrong = await driverApiRun(server, newToken());
  t.match(wrong.stderr, /4003 too many failed attempts/, 'a job with a wrong one is told why');
  await eventually('the block to lift', async () => ((await refused(server, newToken())) as { reason: string }).reason === 'unknown token' || undefined, 10_000, 250);
  t.pass('once the failures aged out, a wrong token is checked and counted again');
});

t.test('a stranger failing from the same address (a NAT) never keeps a valid tenant out', async (t) => {
  const token = newToken();
  const { daemon, server } = await startDaemon(t, writeTokens([tokenLine('alice', token)], 'tokens-nat'), {
    ...QUICK_CONFIG,
    auth: { maxFailures: 3, failureWindowMs: 10_000, blockedDelayMs: 200 },
  });
  let stop = false;
  let strangerTries = 0;
  const stranger = (async () => {
    while (!stop) {
      await refused(server, newToken());
      strangerTries++;
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  const outcomes: boolean[] = [];
  for (let i = 0; i < 12; i++) {
    outcomes.push(await welcomed(server, token));
    await new Promise((r) => setTimeout(r, 200));
  }
  stop = true;
  await stranger;
  t.ok(strangerTries >= 4, `the stranger failed ${strangerTries} times`);
  t.ok(daemon.logs.some((l) => /too many failed handshakes/.test(l.msg)), 'the address was over its failures');
  t.same(outcomes, outcomes.map(() => true), 'every one of the tenant\'s connections got in');
});

t.test('SIGHUP reloads the token file: a new tenant gets in, a revoked one is refused; a bad file changes nothing', async (t) => {
  const [alice, bob] = [newToken(), newToken()];
  const path = writeTokens([tokenLine('alice', alice)], 'tokens-reload');
  const { daemon, server } = await startDaemon(t, path);
  t.ok(await welcomed(server, alice));
  // Kept open across the reload: revocation takes effect from the next connection.
  const held = await handshake(server, alice);
  t.ok(held.welcome);

  writeTokens([tokenLine('bob', bob)], 'tokens-reload');
  const from = daemon.logs.length;
  daemon.child.kill('SIGHUP');
  const reloaded = await daemon.waitFor((l) => l.msg === 'token file reloaded');
  t.match(reloaded, { added: ['bob'], removed: ['alice'], tenants: 1 });
  t.ok(await welcomed(server, bob), 'bob gets in');
  t.same(await refused(server, alice), { code: 4003, reason: 'unknown token' }, 'alice is refused on her next connection');
  if (held.welcome) t.equal(held.ws.readyState, WebSocket.OPEN, 'her open session was not cut');

  writeTokens([`bob sha256:${'0'.repeat(63)}`], 'tokens-reload');
  daemon.child.kill('SIGHUP');
  const bad = await daemon.waitFor((l) => l.msg === 'token file not reloaded; the previous tokens stay in force');
  t.match(bad, { level: 50, code: 'GPUPOOL_TOKENS_INVALID', err: new RegExp(`${path}:2: tenant bob: expected sha256:`) });
  t.ok(await welcomed(server, bob), 'the previous table stays in force');
  t.equal(daemon.child.exitCode, null, 'SIGHUP did not end the daemon');
  t.ok(daemon.logs.slice(from).every((l) => l.msg !== 'stopping'));
  if (held.welcome) held.ws.close();
});

t.test('addresses: without tokens loopback only, and said so; elsewhere refused at start (exit 2)', async (t) => {
  const { daemon, server } = await startDaemon(t, null);
  t.match(daemon.logs.find((l) => /compute is open to any local user/.test(l.msg)), { level: 40 }, 'a warning at start');
  t.ok(await welcomed(server, null), 'and anyone local gets in');

  for (const listen of ['0.0.0.0:0', '[::]:0', '10.231.0.2:7760', 'gpu-17.example:7760']) {
    const r = await runCli(['daemon', '--simulate', fixture.path, '--listen', listen]);
    t.equal(r.code, 2, `--listen ${listen} without tokens: exit 2`);
    t.match(r.stderr, `listen ${listen} is not a loopback address and no token file is set`);
    t.match(r.stderr, /--tokens FILE/);
    t.notMatch(r.stdout, /listening/, 'nothing started');
  }
  const bad = writeTokens(['alice sha256:1234 quota=1GiB'], 'tokens-bad');
  const r = await runCli(['daemon', '--simulate', fixture.path, '--listen', '127.0.0.1:0', '--tokens', bad]);
  t.equal(r.code, 2, 'a bad token file at start: exit 2');
  t.match(r.stderr, `${bad}:2: tenant alice: expected sha256:`);
  const missing = await runCli(['daemon', '--simulate', fixture.path, '--listen', '127.0.0.1:0', '--tokens', join(fixture.dir, 'nope')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /token file .*nope: ENOENT/);

  const token = newToken();
  const wide = await startDaemon(t, writeTokens([tokenLine('alice', token)], 'tokens-wide'), QUICK_CONFIG, ['--listen', '0.0.0.0:0']);
  const port = new URL(wide.daemon.url).port;
  t.ok(await welcomed(`ws://127.0.0.1:${port}`, token), 'with tokens, 0.0.0.0 is allowed');
});

const namespaces = namespacesAvailable();
t.test('across hosts: a token file lets the daemon listen on its network address', { skip: namespaces ?? false }, async (t) => {
  const hosts = createTestHosts(1);
  t.teardown(() => hosts.destroy());
  const token = newToken();
  const { ns, address } = hosts.hosts[0]!;
  const daemon = await DaemonProcess.start(
    ['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG, 'config-netns.json'), '--tokens', writeTokens([tokenLine('remote', token)], 'tokens-netns'), '--listen', `${address}:7760`],
    {},
    20_000,
    ns,
  );
  t.teardown(() => daemon.stop());
  const server = `ws://${address}:7760`;
  const none = await driverApiRun(server, undefined, hosts.client);
  t.match(none.stderr, /refused the connection: 4003 authentication required/);
  t.match(none.stderr, /CUDA_ERROR_NO_DEVICE/);
  const run = await driverApiRun(server, token, hosts.client);
  t.equal(run.code, 0, `driver_api from the client host\n${run.stdout}${run.stderr}`);
  t.match(run.stdout, /^PASS$/m);
  t.match(daemon.logs.find((l) => l.msg === 'handshake refused'), { peer: /^10\.231\.\d+\.1:\d+$/ }, 'logged with the client host\'s address');
  t.match(daemon.logs.find((l) => l.msg === 'client connected'), { tenant: 'remote' });
});
