/**
 * TLS and client certificates end to end: `gpupool daemon --tls-cert/--tls-key[/--tls-client-ca]` as
 * a real process on simulated cards, jobs as real programs through the client library over wss://
 * (`gpupool run --tls-ca/--tls-cert/--tls-key`), `gpupool status` over https://, and certificates
 * made for the test by the openssl command (test/helpers/certificates.ts).
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import type { StatusDocument } from '../../src/server/status.js';
import { readTlsMaterial } from '../../src/server/tls.js';
import { TestCa } from '../helpers/certificates.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';
import { handshake, refused, welcomed } from '../helpers/raw-client.js';

const fatbin = buildFatbin();
const driverApi = buildProgram('driver_api.c');
const wireCopies = buildProgram('wire_copies.c');

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
const ca = new TestCa();
const otherCa = new TestCa('another CA');
t.teardown(() => {
  ca.remove();
  otherCa.remove();
});
const server = ca.server('server', ['127.0.0.1']);
const alice = ca.client('alice', 'alice');
const stranger = otherCa.client('stranger', 'alice');

/**
 * TCP only, whatever GPUPOOL_TEST_TRANSPORT says: TLS is the remote transport, and these tests assert
 * what a job reaching it plainly (ws://) or with the wrong CA is told.
 */
async function startDaemon(t: Test, args: string[]): Promise<DaemonProcess> {
  const config = writeConfig(fixture.dir, QUICK_CONFIG, `config-${Math.random().toString(36).slice(2)}.json`);
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', config, '--tls-cert', server.cert, '--tls-key', server.key, '--local-socket', 'none', ...args]);
  t.teardown(() => daemon.stop());
  return daemon;
}

/** `gpupool run [TLS options] -- driver_api FATBIN` against one daemon. */
function driverApiRun(url: string, tls: string[]) {
  return runCli(['run', '--servers', url, ...tls, '--', driverApi, fatbin]);
}

async function sessions(daemon: DaemonProcess, tls: string[]): Promise<SessionInfo[]> {
  const r = await runCli(['status', '--host', daemon.url, '--json', ...tls]);
  const doc = JSON.parse(r.stdout) as { hosts: { ok: boolean; status: StatusDocument }[] };
  if (!doc.hosts[0]!.ok) throw new Error(`status failed: ${r.stdout}`);
  return doc.hosts[0]!.status.compute.sessions;
}

t.test('TLS: a job runs over wss:// with the CA; a wrong CA, a wrong name or plain ws:// is refused before any GPU work', async (t) => {
  const daemon = await startDaemon(t, []);
  t.match(daemon.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the listening line says https');
  t.match(daemon.logs.find((l) => l.msg === 'serving HTTPS and wss://'), { subject: 'CN=127.0.0.1' });
  const wss = daemon.url.replace(/^https/, 'wss');
  const port = new URL(daemon.url).port;

  const good = await driverApiRun(wss, ['--tls-ca', ca.cert]);
  t.equal(good.code, 0, `driver_api over wss://\n${good.stdout}${good.stderr}`);
  t.match(good.stdout, /^PASS$/m);

  const wrongCa = await driverApiRun(wss, ['--tls-ca', otherCa.cert]);
  t.equal(wrongCa.code, 1, 'refused: the job fails');
  t.match(wrongCa.stderr, `gpupool: 127.0.0.1:${port}: TLS: the daemon's certificate was not accepted: unable to get local issuer certificate (checked against GPUPOOL_TLS_CA=${otherCa.cert})`);
  t.match(wrongCa.stderr, /cuInit\(0\) -> CUDA_ERROR_NO_DEVICE/);
  t.notMatch(wrongCa.stdout, /PASS/);

  const systemStore = await driverApiRun(wss, []);
  t.match(systemStore.stderr, /not accepted: unable to get local issuer certificate \(checked against the system's CA store; set GPUPOOL_TLS_CA/, 'without a CA: the system store, which does not know ours');

  const wrongName = await driverApiRun(`wss://localhost:${port}`, ['--tls-ca', ca.cert]);
  t.equal(wrongName.code, 1);
  t.match(wrongName.stderr, /TLS: the daemon's certificate was not accepted: hostname mismatch/, 'the certificate names 127.0.0.1 only');

  const plain = await driverApiRun(`ws://127.0.0.1:${port}`, []);
  t.equal(plain.code, 1);
  t.match(plain.stderr, /no WebSocket handshake answer from 127\.0\.0\.1:\d+ \(if it serves TLS, its address is wss:\/\/\)/);

  const missing = await driverApiRun(wss, ['--tls-ca', join(ca.dir, 'nope.pem')]);
  t.match(missing.stderr, /TLS: GPUPOOL_TLS_CA=\S+nope\.pem: No such file or directory/);

  t.same(await sessions(daemon, ['--tls-ca', ca.cert]), [], 'no session is open');
  t.equal(daemon.logs.filter((l) => l.msg === 'client connected').length, 1, 'only the good job ever got a session');
  t.ok(daemon.logs.some((l) => l.msg === 'TLS handshake failed' && l.code === 'GPUPOOL_TLS_HANDSHAKE_FAILED' && /unknown ca/i.test(String(l.err))), 'the refused handshakes are logged');

  // Copies large enough that the client sends their bytes with a zero masking key and reads replies
  // straight into place (native/shim/ws.c, conn.c): the same over TLS, where the daemon reads with `ws`.
  const copies = await runCli(['run', '--servers', wss, '--tls-ca', ca.cert, '--', wireCopies, String(256 * 1024 + 3), String(16 * 1024 * 1024 + 7)]);
  t.equal(copies.code, 0, `wire_copies over wss://\n${copies.stdout}${copies.stderr}`);
  t.match(copies.stdout, /^16777223 ok$/m, 'a copy of two slices each way over wss://, every byte');
  t.match(copies.stdout, /^burst back ok$/m);

  const status = await runCli(['status', '--host', daemon.url, '--tls-ca', ca.cert]);
  t.equal(status.code, 0, `gpupool status over https://\n${status.stderr}`);
  const pool = await runCli(['status', '--pool', '--host', daemon.url, '--json', '--tls-ca', ca.cert]);
  t.equal(pool.code, 0, `gpupool status --pool over https://\n${pool.stderr}`);
  t.match(JSON.parse(pool.stdout), { hosts: [{ url: daemon.url, self: true, ok: true }] }, 'the pool view names its own https:// address');
  // --gpus reads each daemon's status before the job starts: over https://, with the job's CA.
  const placed = await runCli(['run', '--servers', wss, '--tls-ca', ca.cert, '--gpus', '1', '--debug', '--', driverApi, fatbin]);
  t.equal(placed.code, 0, `gpupool run --gpus 1 over wss://\n${placed.stderr}`);
  t.match(placed.stderr, /gpupool run: 1 card\(s\) by \w+: wss:\/\/127\.0\.0\.1:\d+ 1/);
  const untrusted = await runCli(['status', '--host', daemon.url, '--json']);
  t.equal(untrusted.code, 3);
  t.match(JSON.parse(untrusted.stdout), { hosts: [{ ok: false, error: { code: 'GPUPOOL_HOST_UNREACHABLE', message: /the daemon's certificate was not accepted: .* \(give its CA with --tls-ca\)/ } }] });
});

t.test('SIGHUP reloads the certificate: new connections get the new one; a bad file keeps the old', async (t) => {
  // The daemon reads copies, so that the test can replace them.
  const cert = join(ca.dir, 'reload.pem');
  const key = join(ca.dir, 'reload.key');
  copyFileSync(server.cert, cert);
  copyFileSync(server.key, key);
  const config = writeConfig(fixture.dir, QUICK_CONFIG, 'config-reload.json');
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', config, '--tls-cert', cert, '--tls-key', key]);
  t.teardown(() => daemon.stop());
  const wss = daemon.url.replace(/^https/, 'wss');
  const trusting = (which: TestCa) => ({ ws: { ca: readFileSync(which.cert) } });
  t.ok(await welcomed(wss, null, trusting(ca)), 'the first certificate is served');

  const next = otherCa.server('next', ['127.0.0.1']);
  copyFileSync(next.cert, cert);
  copyFileSync(next.key, key);
  daemon.child.kill('SIGHUP');
  t.match(await daemon.waitFor((l) => l.msg === 'TLS files reloaded'), { subject: 'CN=127.0.0.1' });
  t.match(await refused(wss, null, trusting(ca)), { code: -1, reason: /certificate/ }, 'the old CA no longer vouches for it');
  t.ok(await welcomed(wss, null, trusting(otherCa)), 'the new certificate is served');

  copyFileSync(alice.cert, key); // a certificate where the key belongs
  daemon.child.kill('SIGHUP');
  t.match(await daemon.waitFor((l) => /TLS files not reloaded/.test(l.msg)), { level: 50, code: 'GPUPOOL_TLS_INVALID', err: new RegExp(`tls.key ${key}: not a PEM private key`) });
  t.ok(await welcomed(wss, null, trusting(otherCa)), 'the previous certificate stays in force');
  t.equal(daemon.child.exitCode, null, 'and the daemon runs on');

  // An expired certificate is taken (the operator may be mid-rotation) and warned of; clients refuse it.
  const expired = otherCa.server('expired', ['127.0.0.1'], 0);
  copyFileSync(expired.cert, cert);
  copyFileSync(expired.key, key);
  const from = daemon.logs.length;
  daemon.child.kill('SIGHUP');
  await daemon.waitFor((l) => l.msg === 'TLS files reloaded' && daemon.logs.indexOf(l) >= from);
  t.match(await daemon.waitFor((l) => /has expired/.test(l.msg)), { level: 40, msg: 'the TLS certificate has expired: clients will refuse it' });
  const job = await driverApiRun(wss, ['--tls-ca', otherCa.cert]);
  t.equal(job.code, 1);
  t.match(job.stderr, /TLS: the daemon's certificate was not accepted: certificate has expired/);
});

t.test('client certificates: none or a stranger\'s is refused with the reason, one the CA signed gets in as its CN', async (t) => {
  const daemon = await startDaemon(t, ['--tls-client-ca', ca.cert]);
  t.match(daemon.logs.find((l) => /must present a certificate signed by tls.clientCa/.test(l.msg)), { clientCa: ca.cert });
  const wss = daemon.url.replace(/^https/, 'wss');
  const withCert = ['--tls-ca', ca.cert, '--tls-cert', alice.cert, '--tls-key', alice.key];

  const none = await driverApiRun(wss, ['--tls-ca', ca.cert]);
  t.equal(none.code, 1);
  t.match(none.stderr, /refused the WebSocket upgrade: HTTP\/1\.1 403 client certificate required \(GPUPOOL_TLS_CERT, GPUPOOL_TLS_KEY\)/);
  t.match(none.stderr, /CUDA_ERROR_NO_DEVICE/);

  const other = await driverApiRun(wss, ['--tls-ca', ca.cert, '--tls-cert', stranger.cert, '--tls-key', stranger.key]);
  t.equal(other.code, 1);
  t.match(other.stderr, /403 client certificate refused \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): it must be signed by the daemon's tls\.clientCa/);

  const serverAsClient = await driverApiRun(wss, ['--tls-ca', ca.cert, '--tls-cert', server.cert, '--tls-key', server.key]);
  t.match(serverAsClient.stderr, /403 client certificate refused \(INVALID_PURPOSE\)/, 'a server certificate is not a client certificate');

  const mismatched = await driverApiRun(wss, ['--tls-ca', ca.cert, '--tls-cert', alice.cert, '--tls-key', server.key]);
  t.match(mismatched.stderr, `TLS: GPUPOOL_TLS_KEY=${server.key} is not the private key of GPUPOOL_TLS_CERT=${alice.cert}`);

  const refusals = daemon.logs.filter((l) => l.msg === 'client certificate refused');
  t.equal(refusals.length, 3, 'each refused certificate is logged once');
  t.match(refusals[0], { level: 40, code: 'GPUPOOL_AUTH_REFUSED', peer: /^127\.0\.0\.1:\d+$/, reason: /^client certificate required/ });
  t.equal(daemon.logs.filter((l) => l.msg === 'client connected').length, 0, 'none of them got a session');

  const statusWithout = await runCli(['status', '--host', daemon.url, '--tls-ca', ca.cert]);
  t.equal(statusWithout.code, 3, 'status needs the client certificate too');
  t.match(statusWithout.stderr, /HTTP 403 from \/v1\/status: client certificate required/);

  const good = await driverApiRun(wss, withCert);
  t.equal(good.code, 0, `driver_api with alice's certificate\n${good.stdout}${good.stderr}`);
  t.match(good.stdout, /^PASS$/m);
  t.match(daemon.logs.find((l) => l.msg === 'client connected'), { tenant: 'alice' });

  const live = await handshake(wss, null, { ws: { ca: readFileSync(ca.cert), cert: readFileSync(alice.cert), key: readFileSync(alice.key) } });
  t.ok(live.welcome, 'a session is open');
  t.match(await sessions(daemon, withCert), [{ tenant: 'alice', program: 'raw-client' }], 'status names the tenant: the certificate\'s CN');
  if (live.welcome) live.ws.close();
});

t.test('where the daemon may listen, and bad TLS files: exit 2 naming the file', async (t) => {
  const wide = await startDaemon(t, ['--tls-client-ca', ca.cert, '--listen', '0.0.0.0:0']);
  t.match(wide.logs.find((l) => l.msg === 'listening'), { address: /^0\.0\.0\.0:\d+$/ }, 'client certificates alone allow a non-loopback address');

  for (const [name, args, message] of [
    ['TLS without client certificates or tokens, on 0.0.0.0', ['--listen', '0.0.0.0:0'], /is not a loopback address and no token file is set, nor client certificates required/],
    ['a missing certificate', ['--tls-cert', join(ca.dir, 'gone.pem'), '--tls-key', server.key], /^gpupool daemon: tls\.cert \S+gone\.pem: ENOENT/],
  ] as const) {
    const r = await runCli(['daemon', '--simulate', fixture.path, '--listen', '127.0.0.1:0', '--tls-cert', server.cert, '--tls-key', server.key, ...args]);
    t.equal(r.code, 2, `${name}: exit 2`);
    t.match(r.stderr, message, name);
    t.notMatch(r.stdout, /listening/, 'nothing started');
  }

  // The checks behind those exits, in-process.
  const files = (cert: string, key: string, clientCa: string | null = null) => ({ cert, key, clientCa });
  const cases: [string, ReturnType<typeof files>, string, RegExp][] = [
    ['a key that is not the certificate\'s', files(server.cert, alice.key), 'GPUPOOL_TLS_INVALID', new RegExp(`^tls\\.key ${alice.key}: not the private key of tls\\.cert ${server.cert}$`)],
    ['a key file that is no key', files(server.cert, server.cert), 'GPUPOOL_TLS_INVALID', new RegExp(`^tls\\.key ${server.cert}: not a PEM private key`)],
    ['a certificate file that is no certificate', files(server.key, server.key), 'GPUPOOL_TLS_INVALID', new RegExp(`^tls\\.cert ${server.key}: no PEM certificate in it`)],
    ['a client CA that is no certificate', files(server.cert, server.key, alice.key), 'GPUPOOL_TLS_INVALID', new RegExp(`^tls\\.clientCa ${alice.key}: no PEM certificate`)],
    ['an unreadable client CA', files(server.cert, server.key, ca.dir), 'GPUPOOL_TLS_UNREADABLE', new RegExp(`^tls\\.clientCa ${ca.dir}: EISDIR`)],
  ];
  for (const [name, tls, code, message] of cases) t.throws(() => readTlsMaterial(tls), { code, message }, name);
  const expired = ca.server('expired', ['127.0.0.1'], 0);
  const loaded = readTlsMaterial(files(expired.cert, expired.key));
  t.match(loaded, { subject: 'CN=127.0.0.1' }, 'an expired certificate loads (the daemon warns of it)');
  t.ok(loaded!.validTo.getTime() < Date.now() + 1000, 'its end of validity is read');
});
