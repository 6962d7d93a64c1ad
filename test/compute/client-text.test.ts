/**
 * What a client names itself (HELLO's program and host) is bounded and escaped before it reaches a log
 * line, status, metrics or a table (docs/security.md, "Limits before authentication"). The function,
 * then a real daemon: hostile names on accepted and refused HELLOs, its log, status and a /metrics scrape.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type WebSocket from 'ws';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import { CLIENT_TEXT_BYTES, clientText } from '../../src/compute/client-text.js';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { startSimulatedDaemon } from '../helpers/simulated.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, computeStatus, parseMetrics } from '../helpers/integration.js';
import { handshake, refused } from '../helpers/raw-client.js';

/** Nothing that moves a terminal's cursor, ends a line or reorders text. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** A name a hostile client might send: colours, a cursor move, a newline, a right-to-left override, quotes. */
const HOSTILE = '\u001b[2J\u001b[31mevil\r\nINFO fake line\u202egpj.exe "quoted" \\ end';

t.test('clientText: escapes controls and bidi marks, bounds to 256 bytes, never cuts a character', async (t) => {
  t.equal(clientText('/usr/bin/python3'), '/usr/bin/python3', 'a plain path is unchanged');
  t.equal(clientText('caf\u00e9 \u6f22\u5b57'), 'caf\u00e9 \u6f22\u5b57', 'printable non-ASCII too');
  t.equal(clientText('a\u001b[31mb\nc\u202ed\\e'), 'a\\x1b[31mb\\x0ac\\u202ed\\\\e', 'ESC, LF, RLO escaped, a backslash doubled');
  const long = clientText('\u6f22'.repeat(10_000));
  t.ok(Buffer.byteLength(long) <= CLIENT_TEXT_BYTES, `a long name is cut to ${Buffer.byteLength(long)} bytes`);
  t.ok(long.endsWith('\u2026'), 'marked as cut');
  t.notOk(long.includes('\ufffd'), 'no character cut in half');
  const escapes = clientText('\u001b'.repeat(1000));
  t.match(escapes, /^(\\x1b)+\u2026$/, 'never inside an escape');
  t.ok(Buffer.byteLength(escapes) <= CLIENT_TEXT_BYTES);
  const huge = 'x'.repeat(50 * 1024 * 1024);
  t.equal(Buffer.byteLength(clientText(huge)), CLIENT_TEXT_BYTES, 'a 50 MiB name costs 256 bytes');
  t.equal(clientText('exactly', 7), 'exactly', 'a string that fits exactly is not cut');
});

t.test('a daemon: hostile names are bounded and escaped in its log, status and metrics; a scrape stays small', async (t) => {
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const token = newToken();
  const tokens = join(fixture.dir, 'tokens');
  writeFileSync(tokens, `${tokenLine('alice', token)}\n`, { mode: 0o600 });
  // Memory quotas small enough for many sessions on the simulated cards.
  const { daemon, server } = await startSimulatedDaemon(t, { ...QUICK_CONFIG, auth: { tokens }, sharing: { defaultQuota: '1GiB' } });
  const name = (i: number) => `${HOSTILE} ${i} ${'x'.repeat(6000)}`;

  // Refused HELLOs: a wrong token, then a malformed field that quotes the client's value back.
  t.same(await refused(server, 'gpt_wrong', { hello: { program: name(0), host: name(0) } }), { code: 4003, reason: 'unknown token' });
  t.match(await refused(server, token, { hello: { protocol: `9${'\u001b[31m'.repeat(2000)}` } }), { code: 4001 });
  // Accepted ones, many at once: their names reach status and every per-client metric.
  const sessions: WebSocket[] = [];
  for (let i = 1; i <= 20; i++) {
    const s = await handshake(server, token, { hello: { program: `/opt/${name(i)}`, host: name(i) } });
    t.ok(s.welcome, `session ${i} opens`);
    if (s.welcome) sessions.push(s.ws);
  }
  t.teardown(() => sessions.forEach((ws) => ws.close()));

  const lines = daemon.logs.map((l) => JSON.stringify(l));
  const longest = Math.max(...lines.map((l) => l.length));
  t.ok(longest < 4096, `the longest log line is ${longest} bytes`);
  for (const l of daemon.logs) {
    for (const field of ['program', 'host', 'err'] as const) {
      const v = l[field];
      if (typeof v !== 'string') continue;
      t.ok(Buffer.byteLength(v) <= CLIENT_TEXT_BYTES, `log "${l.msg}": ${field} is bounded`);
      t.notOk(UNSAFE.test(v), `log "${l.msg}": ${field} holds no control character`);
    }
  }
  t.ok(daemon.logs.some((l) => l.msg === 'handshake refused' && typeof l.program === 'string' && (l.program as string).startsWith('\\x1b[2J')), 'the refused HELLO is logged, escaped');

  const status = await computeStatus(daemon);
  const live = status.sessions.filter((s: SessionInfo) => s.state === 'active');
  t.equal(live.length, 20);
  for (const s of live) {
    t.ok(Buffer.byteLength(s.program) <= CLIENT_TEXT_BYTES && Buffer.byteLength(s.host) <= CLIENT_TEXT_BYTES, `session ${s.id}: names bounded in status`);
    t.notOk(UNSAFE.test(s.program) || UNSAFE.test(s.host), `session ${s.id}: no control character in status`);
  }

  // Generous bounds: before, a 50 MiB name made 367 MB of metrics taking 12 s.
  const started = Date.now();
  const res = await fetch(`${daemon.url}/metrics`);
  const body = await res.text();
  const ms = Date.now() - started;
  t.equal(res.status, 200);
  t.ok(body.length < 512 * 1024, `the scrape is ${body.length} bytes with 20 hostile sessions`);
  t.ok(ms < 5000, `and took ${ms} ms`);
  const programs = parseMetrics(body).filter((s) => s.name === 'gpupool_client_memory_quota_bytes').map((s) => s.labels.program!);
  t.equal(programs.length, 20, 'every session has its series');
  for (const p of programs) {
    t.ok(Buffer.byteLength(p) <= CLIENT_TEXT_BYTES, 'the program label is bounded');
    t.notOk(UNSAFE.test(p), 'and holds no control character');
  }
});
