/**
 * What a job's owner sees while `gpupool run --wait` waits for room, and when it is refused
 * (docs/operations.md, "Memory quotas"; docs/protocol.md, "Handshake"): progress lines on stderr that
 * name the daemon and what is missing, in units, and the whole reason of a refusal, longer than the
 * 123 bytes a WebSocket close reason holds. Real daemon, real `gpupool run` jobs, a raw client.
 */
import t from 'tap';
import { NO_REQUEST } from '../../src/sharing/quota.js';
import { DaemonProcess, onTestTransport, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, eventually, writeConfig } from '../helpers/integration.js';
import { HeldJob } from '../helpers/job.js';
import { buildProgram } from '../helpers/programs.js';
import { handshake } from '../helpers/raw-client.js';

const GiB = 1024 ** 3;
const quota = buildProgram('quota.c');

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
// A minute to start: CI machines are small and busy.
const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)], {}, 60_000);
t.teardown(() => daemon.stop());
const server = daemon.url.replace(/^http/, 'ws');
// Where a job reaches it, as its messages name it: ws://, or its Unix socket (GPUPOOL_TEST_TRANSPORT=unix).
const reached = onTestTransport(server);

// The cards are 80 and 40 GiB: 30 GiB on both leaves the second 10 GiB, 20 GiB short of another 30.
const MISSING = 'only 1 of the 2 cards asked for have room for 30.00 GiB: card 1 has 10.00 GiB of 40.00 GiB uncommitted (20.00 GiB short)';
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

t.test('progress while waiting, the whole refusal, then room', async (t) => {
  const first = new HeldJob(['run', '--servers', server, '--gpus', 'all', '--mem', '30GiB', '--', quota, 'wait']);
  t.teardown(() => first.kill());
  await first.ready();

  const second = new HeldJob(['run', '--servers', server, '--gpus', 'all', '--mem', '30GiB', '--wait', '60', '--', quota, 'wait']);
  t.teardown(() => second.kill());
  // A line when it starts waiting, and another 5 s later with the time waited.
  const line = (s: number) => new RegExp(`^gpupool: ${escape(reached)}: waiting for room \\(${s} s of 60 s\\): ${escape(MISSING)}$`, 'm');
  await eventually('the first progress line', () => (line(0).test(second.stderr) ? true : undefined), 20_000);
  await eventually('an updated progress line', () => (/waiting for room \([5-9] s of 60 s\)/.test(second.stderr) ? true : undefined), 20_000);
  t.match(second.stderr, line(0), 'which daemon, and what is missing, in GiB');
  t.match(second.stderr, /waiting for room \([5-9] s of 60 s\): only 1 of the 2 cards/, 'updated with the time waited');
  t.notMatch(second.stdout, /ready/, 'no device yet');

  // A job that waits 1 s is refused with the whole reason, not the close frame's 123 bytes.
  const third = await runCli(['run', '--servers', server, '--gpus', 'all', '--mem', '30GiB', '--wait', '1', '--', quota]);
  t.equal(third.code, 3, `${third.stdout}${third.stderr}`);
  const refusal = new RegExp(`^gpupool: ${escape(reached)} refused the connection: 4004 waited 1 s: ${escape(MISSING)}$`, 'm');
  t.match(third.stderr, refusal, 'the whole reason, with units');
  t.ok(Buffer.byteLength(`waited 1 s: ${MISSING}`) > 123, 'longer than a close frame holds');
  t.match(third.stderr, /^gpupool: .*waiting for room \(0 s of 1 s\)/m, 'it said it was waiting first');
  t.notMatch(third.stderr, /\d{9,} bytes/, 'no raw byte counts');

  t.equal(await first.finish(), 0);
  await second.ready();
  t.match(second.stdout, new RegExp(`^totalMem ${30 * GiB}$`, 'm'), 'placed once the first job left');
  t.equal(await second.finish(), 0);
});

t.test('on the wire: notices only for clients that ask; the close reason is cut on a word', async (t) => {
  const holder = await handshake(server, null, { request: { ...NO_REQUEST, gpus: 'all', mem: 30 * GiB } });
  t.teardown(() => holder.welcome && holder.ws.terminate());
  t.ok(holder.welcome, 'the first client holds 30 GiB of each card');
  const request = { ...NO_REQUEST, gpus: 'all' as const, mem: 30 * GiB, wait: 1 };
  const [asked, plain] = await Promise.all([handshake(server, null, { request, notices: true }), handshake(server, null, { request })]);
  const whole = `waited 1 s: ${MISSING}`;

  t.match(asked, { welcome: false, code: 4004 });
  t.match(asked.notices, [{ notice: 'waiting', waited: 0, wait: 1, reason: MISSING }, { notice: 'refused', code: 4004, reason: whole }], 'a waiting notice, then the refusal with the whole reason');
  t.same(plain.notices, [], 'a client that did not ask gets none');
  t.match(plain, { welcome: false, code: 4004 });
  if (plain.welcome) return;
  t.ok(Buffer.byteLength(plain.reason) <= 123, `the close reason fits the frame (${Buffer.byteLength(plain.reason)} bytes)`);
  t.ok(plain.reason.endsWith('…'), 'marked as cut');
  const kept = plain.reason.slice(0, -1);
  t.ok(whole.startsWith(kept), 'a prefix of the whole reason');
  t.match(whole.slice(kept.length), /^[\s,;:]/, `cut at a word's end: "${kept}"`);
});
