/**
 * Slow and silent connections (docs/security.md, "Limits before authentication"): the HELLO deadline
 * runs from TCP accept, through the HTTP upgrade; connections not yet past their HELLO (or first
 * request) are bounded per address and in all. Against a real `gpupool daemon --simulate`, with raw TCP
 * connections from several loopback addresses.
 */
import { Agent, get } from 'node:http';
import t from 'tap';
import { startSimulatedDaemon } from '../helpers/simulated.js';
import { QUICK_CONFIG } from '../helpers/integration.js';
import { rawConnection, welcomed } from '../helpers/raw-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('silent connections and slowloris upgrades are closed at the deadline from accept', async (t) => {
  const { daemon, server } = await startSimulatedDaemon(t, { ...QUICK_CONFIG, auth: { helloTimeoutMs: 1500 } });
  const silent = Array.from({ length: 10 }, () => rawConnection(daemon.url));
  const slow = Array.from({ length: 10 }, () => rawConnection(daemon.url));
  // A header line every 300 ms: each keeps the request going, none finishes it.
  const timers = slow.map((c, i) => {
    c.socket.once('connect', () => c.socket.write('GET /v1/compute HTTP/1.1\r\n'));
    let n = 0;
    return setInterval(() => c.socket.writable && c.socket.write(`X-Slow-${i}-${n++}: a\r\n`), 300);
  });
  // Upgraded, then silent: the deadline started at accept, not at the upgrade.
  const upgraded = rawConnection(daemon.url);
  await new Promise((r) => upgraded.socket.once('connect', r));
  await sleep(1000);
  upgraded.socket.write('GET /v1/compute HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  let reply = '';
  upgraded.socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
  const lasted = await Promise.all([...silent, ...slow, upgraded].map((c) => Promise.race([c.closed, sleep(8000).then(() => Infinity)])));
  timers.forEach(clearInterval);
  [...silent, ...slow, upgraded].forEach((c) => c.socket.destroy());
  for (const [i, ms] of lasted.entries()) t.ok(ms >= 1400 && ms < 4000, `connection ${i} closed ${ms} ms after it opened (deadline 1500 ms)`);
  t.match(reply, /^HTTP\/1\.1 101/, 'the late upgrade was answered');
  t.match(reply, /no HELLO within 1500 ms/, 'and closed with 4002 at the deadline counted from accept');
  t.ok(await welcomed(server, null), 'a client that says HELLO in time gets in');
});

t.test('connections before their HELLO are bounded per address and in all; the limit is logged once', async (t) => {
  const { daemon, server } = await startSimulatedDaemon(t, { ...QUICK_CONFIG, auth: { helloTimeoutMs: 4000, maxPendingPerAddress: 4, maxPending: 10 } });
  const first = Array.from({ length: 4 }, () => rawConnection(daemon.url, '127.0.0.2'));
  await Promise.all(first.map((c) => new Promise((r) => c.socket.once('connect', r))));
  await sleep(200);
  const over = Array.from({ length: 3 }, () => rawConnection(daemon.url, '127.0.0.2'));
  const overLasted = await Promise.all(over.map((c) => Promise.race([c.closed, sleep(2000).then(() => Infinity)])));
  for (const ms of overLasted) t.ok(ms < 1000, `a 5th connection from 127.0.0.2 is closed at once (${ms} ms)`);
  t.equal(first.filter((c) => !c.socket.destroyed).length, 4, 'the first four stay until their deadline');
  t.equal(daemon.logs.filter((l) => l.code === 'GPUPOOL_CONNECTION_LIMIT' && l.peer === '127.0.0.2').length, 1, 'logged once for the address');
  t.ok(await welcomed(server, null, { localAddress: '127.0.0.3' }), 'another address gets in');

  // In all: 4 + 4 + 2 pending fill the 10.
  const more = [...Array.from({ length: 4 }, () => rawConnection(daemon.url, '127.0.0.4')), ...Array.from({ length: 2 }, () => rawConnection(daemon.url, '127.0.0.5'))];
  await Promise.all(more.map((c) => new Promise((r) => c.socket.once('connect', r))));
  await sleep(200);
  const full = rawConnection(daemon.url, '127.0.0.6');
  t.ok((await Promise.race([full.closed, sleep(2000).then(() => Infinity)])) < 1000, 'an 11th pending connection in all is closed at once');
  t.ok(daemon.logs.some((l) => l.code === 'GPUPOOL_CONNECTION_LIMIT' && /in all/.test(l.msg)), 'logged');
  for (const c of [...first, ...more]) c.socket.destroy();
  await Promise.all([...first, ...more].map((c) => c.closed));
  await sleep(200);
  t.ok(await welcomed(server, null, { localAddress: '127.0.0.2' }), 'once they are gone, the address gets in again');

  // A status request releases its connection once read: more kept-alive connections than the limit,
  // each having sent one request, are all answered and stay open.
  const agents = Array.from({ length: 6 }, () => new Agent({ keepAlive: true }));
  t.teardown(() => agents.forEach((a) => a.destroy()));
  for (const [i, agent] of agents.entries()) {
    const status = await new Promise<number>((resolve, reject) =>
      get(`${daemon.url}/v1/status`, { agent, localAddress: '127.0.0.2' }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject),
    );
    t.equal(status, 200, `status request ${i + 1} from 127.0.0.2, on a connection of its own kept open`);
  }
});
