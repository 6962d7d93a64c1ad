/**
 * Tenants' limits at the handshake: `cards=` (placement) and `priority=` (the scheduler's ceiling,
 * its lowering logged: src/auth/limits.ts) from the token file, for token and certificate tenants
 * alike, and the HELLO deadline. `gpupool daemon --simulate` as a real process with raw clients and a
 * real job. The fixture's compute cards: 0 an H100 (80 GiB), 1 an A100 (40 GiB,
 * GPU-66666666-7777-8888-9999-aaaaaaaaaaaa).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { priorityLowered } from '../../src/auth/limits.js';
import { NO_REQUEST } from '../../src/sharing/quota.js';
import { parsePriority } from '../../src/sharing/priority.js';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { TestCa } from '../helpers/certificates.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';
import { handshake, refused } from '../helpers/raw-client.js';

const GiB = 1024 ** 3;
const A100 = 'GPU-66666666-7777-8888-9999-aaaaaaaaaaaa';

t.test('the priority lowering the log reports', async (t) => {
  const ceiling = (text: string) => parsePriority(text);
  t.equal(priorityLowered('high', ceiling('normal:2')), 'normal:2', 'above the ceiling: lowered to it');
  t.equal(priorityLowered('normal:5', ceiling('normal:2')), 'normal:2', 'the level counts inside a class');
  t.equal(priorityLowered('low', ceiling('normal')), null, 'below: kept');
  t.equal(priorityLowered('high', null), null, 'no ceiling');
  t.equal(priorityLowered(null, ceiling('low')), null, 'nothing asked: nothing to say (the scheduler still gives it the ceiling)');
});

const fatbin = buildFatbin();
const driverApi = buildProgram('driver_api.c');
const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());

async function startDaemon(t: Test, args: string[], config: object = QUICK_CONFIG): Promise<DaemonProcess> {
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, config, `config-${Math.random().toString(36).slice(2)}.json`), ...args]);
  t.teardown(() => daemon.stop());
  return daemon;
}

async function sessions(url: string): Promise<{ sessions: SessionInfo[]; cards: { ordinal: number; committed: number }[] }> {
  return ((await (await fetch(`${url}/v1/status`)).json()) as { compute: { sessions: SessionInfo[]; cards: { ordinal: number; committed: number }[] } }).compute;
}

t.test('token tenants: cards= limits what the session is given, priority= is a ceiling and its lowering logged, a tenant with no card here is refused', async (t) => {
  const [carol, dave, erin] = [newToken(), newToken(), newToken()];
  const tokens = join(fixture.dir, 'tokens-limits');
  writeFileSync(
    tokens,
    [tokenLine('carol', carol, { cards: A100, priority: 'normal:2' }), tokenLine('dave', dave, { cards: '7' }), tokenLine('erin', erin, { priority: 'low' })].join('\n'),
    { mode: 0o600 },
  );
  const daemon = await startDaemon(t, ['--tokens', tokens]);
  const ws = daemon.url.replace(/^http/, 'ws');

  const held = await handshake(ws, carol, { request: { ...NO_REQUEST, priority: 'high' } });
  t.ok(held.welcome, 'carol gets in');
  if (!held.welcome) return;
  t.match(held.message.devices, [{ ordinal: 1, name: 'NVIDIA A100-SXM4-40GB', totalMem: 10 * GiB }], 'WELCOME lists her card only, with her quota on it');
  t.equal(held.message.devices.length, 1);
  const status = await sessions(daemon.url);
  t.match(status.sessions, [{ tenant: 'carol', scheduling: { priority: 'normal:2' }, request: { priority: 'high' }, cards: [{ ordinal: 1, quota: 10 * GiB }] }]);
  t.equal(status.sessions[0]!.cards.length, 1, 'status lists her card only');
  t.same(status.cards.map((c) => c.committed), [0, 10 * GiB], 'quota is committed on her card alone');
  t.match(daemon.logs.find((l) => l.msg === "priority lowered to the tenant's limit"), { level: 30, tenant: 'carol', requested: 'high', priority: 'normal:2', limit: 'normal:2' });
  held.ws.close();

  // A real job: the client library numbers her one card 0, and runs on it (card 1 on the daemon).
  const job = await runCli(['run', '--servers', ws, '--token', carol, '--', driverApi, fatbin]);
  t.equal(job.code, 0, `driver_api as carol\n${job.stdout}${job.stderr}`);
  t.match(job.stdout, /^devices 1 driver \d+$/m);
  t.match(job.stdout, /^device 0: NVIDIA A100-SXM4-40GB, /m);
  t.match(job.stdout, /^PASS$/m);

  const none = await refused(ws, dave);
  t.same(none, { code: 4004, reason: "gpus=1: the tenant may use none of this host's 2 card(s)" });
  t.match(daemon.logs.find((l) => l.msg === 'handshake refused: no card has room'), { level: 40, code: 'GPUPOOL_NO_ROOM', tenant: 'dave' });

  const low = await handshake(ws, erin, { request: { ...NO_REQUEST, gpus: 'all' } });
  t.ok(low.welcome);
  if (low.welcome) {
    t.equal(low.message.devices.length, 2, 'no cards=: every card is hers to ask for');
    t.match((await sessions(daemon.url)).sessions, [{ tenant: 'erin', scheduling: { priority: 'low' }, request: { priority: null } }], 'asked nothing: the ceiling, low');
    low.ws.close();
  }
  t.equal(daemon.logs.filter((l) => l.msg === "priority lowered to the tenant's limit").length, 1, 'only an explicit request above the ceiling is logged');
});

t.test('certificate tenants: a cert= line maps the CN to a tenant and its limits apply as for tokens', async (t) => {
  const ca = new TestCa();
  t.teardown(() => ca.remove());
  const server = ca.server('server');
  const host = ca.client('build-host', 'build-host-7');
  const tokens = join(fixture.dir, 'tokens-certs');
  writeFileSync(tokens, 'ops cert=build-host-7 cards=1 priority=low\n', { mode: 0o600 });
  const daemon = await startDaemon(t, ['--tokens', tokens, '--tls-cert', server.cert, '--tls-key', server.key, '--tls-client-ca', ca.cert]);
  const wss = daemon.url.replace(/^https/, 'wss');
  const tls = { ca: readFileSync(ca.cert), cert: readFileSync(host.cert), key: readFileSync(host.key) };
  const o = await handshake(wss, null, { ws: tls, request: { ...NO_REQUEST, priority: 'high' } });
  t.ok(o.welcome, 'the certificate gets in');
  if (!o.welcome) return;
  t.same(o.message.devices.map((d) => d.ordinal), [1], 'its tenant\'s cards=');
  t.match(daemon.logs.find((l) => l.msg === 'client connected'), { tenant: 'ops', cards: [1], scheduling: { priority: 'low' } });
  o.ws.close();
});

t.test('HELLO deadline: a connection that stays silent is closed with 4002 and logged; one that speaks is not', async (t) => {
  const daemon = await startDaemon(t, [], { ...QUICK_CONFIG, auth: { helloTimeoutMs: 400 } });
  const ws = daemon.url.replace(/^http/, 'ws');
  const silent = new WebSocket(`${ws}/v1/compute`, { perMessageDeflate: false });
  const started = Date.now();
  const [code, reason] = await new Promise<[number, string]>((resolve) => silent.on('close', (c, r) => resolve([c, r.toString()])));
  t.same([code, reason], [4002, 'no HELLO within 400 ms']);
  t.ok(Date.now() - started >= 350, 'not before its time');
  t.match(daemon.logs.find((l) => l.msg === 'no HELLO in time; closing the connection'), { level: 40, code: 'GPUPOOL_HELLO_TIMEOUT', timeoutMs: 400, peer: /^127\.0\.0\.1:\d+$/ });

  const speaking = await handshake(ws, null);
  t.ok(speaking.welcome);
  await new Promise((r) => setTimeout(r, 600));
  if (speaking.welcome) {
    t.equal(speaking.ws.readyState, WebSocket.OPEN, 'a session is not cut by the deadline');
    speaking.ws.close();
  }
});
