/**
 * `statusListen`: status, health and metrics on their own plain-HTTP address, read-only, and the
 * compute address serving compute alone. A real `gpupool daemon --simulate --status-listen` with a
 * token file; what either address answers, and that no token or token hash ever shows.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { newToken, tokenDigest, tokenLine } from '../../src/auth/tokens.js';
import type { StatusDocument } from '../../src/server/status.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { handshake, refused } from '../helpers/raw-client.js';

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());

t.test('status on its own address; compute alone on the main one; never a token', async (t) => {
  const token = newToken();
  const tokens = join(fixture.dir, 'tokens');
  writeFileSync(tokens, `${tokenLine('alice', token)}\n`, { mode: 0o600 });
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG), '--tokens', tokens, '--status-listen', '127.0.0.1:0']);
  t.teardown(() => daemon.stop());
  const listening = daemon.logs.find((l) => l.msg === 'listening')!;
  const statusUrl = String(listening.statusUrl);
  t.match(statusUrl, /^http:\/\/127\.0\.0\.1:\d+$/, 'the listening line gives the status address');
  t.not(statusUrl, daemon.url);

  for (const path of ['/v1/status', '/healthz', '/metrics', '/', '/v1/history']) {
    t.equal((await fetch(`${daemon.url}${path}`)).status, 404, `${path}: not on the compute address`);
    t.equal((await fetch(`${statusUrl}${path}`)).status, 200, `${path}: on the status address`);
  }
  const post = await fetch(`${statusUrl}/v1/status`, { method: 'POST' });
  t.equal(post.status, 405, 'read-only');

  const ws = daemon.url.replace(/^http/, 'ws');
  t.match(await refused(statusUrl.replace(/^http/, 'ws'), token), { code: -1, reason: /404/ }, 'no compute on the status address');
  const live = await handshake(ws, token);
  t.ok(live.welcome, 'compute on the main address');

  const status = (await (await fetch(`${statusUrl}/v1/status`)).json()) as StatusDocument;
  t.match(status.daemon, { listen: new URL(daemon.url).host, statusListen: new URL(statusUrl).host, tls: false, clientCertificates: false });
  t.match(status.compute.sessions, [{ tenant: 'alice' }]);
  const cli = await runCli(['status', '--host', statusUrl, '--json']);
  t.equal(cli.code, 0, `gpupool status on the status address\n${cli.stderr}`);

  const texts = [
    ['status', JSON.stringify(status)],
    ['metrics', await (await fetch(`${statusUrl}/metrics`)).text()],
    ['gpupool status', cli.stdout],
    ['the log', JSON.stringify(daemon.logs)],
  ];
  const hash = tokenDigest(token).toString('hex');
  for (const [name, text] of texts) {
    t.notOk(text!.includes(token.slice(4)), `no token in ${name}`);
    t.notOk(text!.includes(hash), `no token hash in ${name}`);
  }
  if (live.welcome) live.ws.close();
});
