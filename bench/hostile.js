/**
 * Hostile and careless clients against `gpupool daemon --simulate` (docs/security.md, "Limits before
 * authentication"): what a client that never authenticates, a slow one, a flood of wrong tokens and a
 * tenant hoarding sessions cost the daemon and its other clients. Loopback only, bounded in count and time.
 * bench/fuzz.js runs the pre-authentication and slow-connection cases; run alone it prints every case:
 *
 *   node bench/hostile.js [--quick]
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from './daemon.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;
const log = (line) => process.stderr.write(`${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function rss(pid) {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

const UPGRADE = (host) =>
  `GET /v1/compute HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** A TCP connection to the daemon's port and a promise of its end (the ms it lasted). */
function tcp(http, localAddress = '127.0.0.1') {
  const url = new URL(http);
  const socket = connect({ host: url.hostname, port: Number(url.port), localAddress });
  const started = Date.now();
  socket.on('error', () => {});
  const ended = new Promise((r) => socket.once('close', () => r(Date.now() - started)));
  return { socket, ended, started };
}

/** Upgrades to a WebSocket by hand; resolves true once the 101 came, false if the daemon closed first. */
async function upgrade(socket, host) {
  socket.write(UPGRADE(host));
  let got = '';
  return new Promise((resolvePromise) => {
    const onData = (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolvePromise(got.startsWith('HTTP/1.1 101'));
      }
    };
    socket.on('data', onData);
    socket.once('close', () => resolvePromise(false));
  });
}

/** A masked binary frame's header announcing `length` payload bytes (mask key 0: the payload goes as is). */
function frameHeader(length) {
  const h = Buffer.alloc(14);
  h[0] = 0x82;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}

/**
 * Unauthenticated first messages: `count` connections each announce one message of `bytes` and stream
 * it (zeros, 1 MiB at a time) without sending HELLO. How much each got to send before the daemon closed
 * it, and the daemon's RSS before, at its peak and after they are gone.
 */
export async function preauthMemory(daemon, { count = 3, bytes = 256 * MiB } = {}) {
  const pid = daemon.child.pid;
  const before = rss(pid);
  let peak = before;
  const chunk = Buffer.alloc(MiB);
  const sent = await Promise.all(
    Array.from({ length: count }, async () => {
      const c = tcp(daemon.http);
      if (!(await once(c.socket, 'connect').then(() => true, () => false))) return 0;
      if (!(await upgrade(c.socket, 'localhost'))) return 0;
      let n = 0;
      let open = true;
      c.ended.then(() => (open = false));
      c.socket.write(frameHeader(bytes));
      while (open && n < bytes) {
        if (!c.socket.write(chunk)) await Promise.race([once(c.socket, 'drain').catch(() => {}), c.ended]);
        n += chunk.length;
        peak = Math.max(peak, rss(pid));
      }
      c.socket.destroy();
      await c.ended;
      return n;
    }),
  );
  await sleep(2000);
  peak = Math.max(peak, rss(pid));
  return { connections: count, announcedBytes: bytes, sentBytes: sent, rss: { before, peak, after: rss(pid) } };
}

/**
 * Slow connections: `silent` TCP connections that send nothing and `slowloris` ones that send an upgrade
 * request a header line every `lineMs`, from `addresses` loopback addresses; how many the daemon still
 * holds after `observeMs`, and how long the ones it closed lasted.
 */
export async function slowConnections(daemon, { silent = 200, slowloris = 100, addresses = 4, lineMs = 2000, observeMs = 12_000 } = {}) {
  const conns = [];
  for (let i = 0; i < silent + slowloris; i++) {
    const c = tcp(daemon.http, `127.0.0.${2 + (i % addresses)}`);
    c.kind = i < silent ? 'silent' : 'slowloris';
    conns.push(c);
  }
  let closedAt = [];
  conns.forEach((c) => c.ended.then((ms) => closedAt.push(ms)));
  const timers = conns
    .filter((c) => c.kind === 'slowloris')
    .map((c) => {
      c.socket.once('connect', () => c.socket.write('GET /v1/compute HTTP/1.1\r\n'));
      let n = 0;
      return setInterval(() => c.socket.writable && c.socket.write(`X-Slow-${n++}: ${'a'.repeat(8)}\r\n`), lineMs);
    });
  await sleep(observeMs);
  timers.forEach(clearInterval);
  const open = conns.filter((c) => !c.socket.destroyed && c.socket.readyState === 'open').length;
  conns.forEach((c) => c.socket.destroy());
  await Promise.all(conns.map((c) => c.ended));
  closedAt = closedAt.sort((a, b) => a - b);
  const closedEarly = closedAt.filter((ms) => ms < observeMs);
  return {
    silent,
    slowloris,
    addresses,
    observeMs,
    openAtEnd: open,
    closedByDaemon: closedEarly.length,
    closedWithinMs: closedEarly.length ? { min: closedEarly[0], max: closedEarly[closedEarly.length - 1] } : null,
  };
}

async function sendHello(daemon, hello) {
  const { encodeHello } = await import(join(root, 'dist', 'compute', 'handshake.js'));
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(`${daemon.server}/v1/compute`, { perMessageDeflate: false });
  ws.on('error', () => {});
  const closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  await Promise.race([once(ws, 'open').catch(() => {}), closed]);
  if (ws.readyState !== ws.OPEN) return { ws, first: null, closed };
  ws.send(encodeHello(hello));
  const first = await Promise.race([once(ws, 'message').then(() => 'welcome', () => null), closed.then(() => null)]);
  return { ws, first, closed };
}

function digest() {
  return JSON.parse(readFileSync(join(root, 'build', 'gen', 'ops.json'), 'utf8')).digest;
}

function helloOf(program, token = null, extra = {}) {
  return { protocol: 1, digest: digest(), cuda: 13000, token, pid: 1, host: 'bench-host', program, ...extra };
}

/** Log bytes of the daemon's lines since `from` (as JSON, as it wrote them). */
const logBytes = (daemon, from) => daemon.logs.slice(from).reduce((n, l) => n + JSON.stringify(l).length + 1, 0);

/** A refused HELLO (wrong token) whose program name is `nameBytes` long: the log it costs. */
export async function refusedHelloLog(daemon, nameBytes) {
  const from = daemon.logs.length;
  const { closed } = await sendHello(daemon, helloOf('p'.repeat(nameBytes), 'gpt_wrong'));
  const end = await closed;
  await sleep(300);
  return { nameBytes, close: end, logBytes: logBytes(daemon, from) };
}

/** A session whose program name is `nameBytes` long: the size and time of a /metrics scrape while it lives. */
export async function metricsWithName(daemon, nameBytes, token = null) {
  const { ws, first, closed } = await sendHello(daemon, helloOf(`/x/${'\u001b[31m"\n'.repeat(nameBytes / 8)}`, token));
  const started = Date.now();
  const res = await fetch(`${daemon.http}/metrics`);
  const body = await res.text();
  const out = { nameBytes, welcomed: first === 'welcome', close: first ? null : await closed, status: res.status, scrapeBytes: body.length, scrapeMs: Date.now() - started };
  ws.terminate();
  return out;
}

/** A stranger sends a wrong token every `strangerMs` while a tenant with a valid one connects every `tenantMs`: the tenant's successes. */
export async function lockout(daemon, token, { strangerMs = 300, tenantMs = 500, seconds = 8 } = {}) {
  let stop = false;
  const stranger = (async () => {
    while (!stop) {
      const { ws } = await sendHello(daemon, helloOf('stranger', 'gpt_wrong'));
      ws.terminate();
      await sleep(strangerMs);
    }
  })();
  let tried = 0;
  let got = 0;
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const { ws, first } = await sendHello(daemon, helloOf('tenant', token));
    tried++;
    if (first === 'welcome') got++;
    ws.terminate();
    await sleep(tenantMs);
  }
  stop = true;
  await stranger;
  return { tried, welcomed: got };
}

/** `n` idle sessions of one tenant, then another tenant asks for 1 MiB: admitted or refused. */
export async function tenantHoarding(daemon, hoarder, other, n = 8) {
  const held = [];
  let admitted = 0;
  for (let i = 0; i < n; i++) {
    const s = await sendHello(daemon, helloOf('hoarder', hoarder));
    held.push(s.ws);
    if (s.first === 'welcome') admitted++;
  }
  const s = await sendHello(daemon, helloOf('other', other, { request: { mem: MiB } }));
  const result = { hoarderSessions: n, hoarderAdmitted: admitted, otherWelcomed: s.first === 'welcome', otherClose: s.first ? null : await s.closed };
  s.ws.terminate();
  held.forEach((ws) => ws.terminate());
  return result;
}

/** HELLO fields out of range: whether each gets a session. */
export async function badHelloValues(daemon) {
  const out = {};
  for (const [name, extra] of Object.entries({ 'cuda:-1': { cuda: -1 }, 'pid:-5': { pid: -5 }, 'share:1e-300': { request: { share: 1e-300 } } })) {
    const s = await sendHello(daemon, { ...helloOf('bad-values'), ...extra });
    out[name] = s.first === 'welcome' ? 'welcomed' : (await s.closed).code;
    s.ws.terminate();
  }
  return out;
}

async function main() {
  const quick = process.argv.includes('--quick');
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-hostile-'));
  const { newToken, tokenLine } = await import(join(root, 'dist', 'auth', 'tokens.js'));
  const alice = newToken();
  const bob = newToken();
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, `${tokenLine('alice', alice)}\n${tokenLine('bob', bob)}\n`, { mode: 0o600 });
  const results = {};
  try {
    let d = await Daemon.start({}, dir, { auth: { tokens } });
    try {
      // Before the wrong tokens below, which block this address's failures for a while.
      log("tenant hoarding");
      results.tenantHoarding = await tenantHoarding(d, alice, bob);
      log("pre-auth memory");
      results.preauthMemory = await preauthMemory(d, { count: 3, bytes: (quick ? 64 : 256) * MiB });
      results.refusedHelloLog = [await refusedHelloLog(d, 10_000), await refusedHelloLog(d, 4 * MiB)];
      results.lockout = await lockout(d, alice, { seconds: quick ? 4 : 8 });
    } finally {
      await d.stop();
    }
    d = await Daemon.start({}, dir);
    try {
      results.metrics = [await metricsWithName(d, 8_000), await metricsWithName(d, 8 * MiB)];
      results.badHelloValues = await badHelloValues(d);
      results.slowConnections = await slowConnections(d, quick ? { silent: 100, slowloris: 50, observeMs: 8000 } : {});
    } finally {
      await d.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`bench/hostile: ${err.stack ?? err}\n`);
    process.exit(1);
  });
}
