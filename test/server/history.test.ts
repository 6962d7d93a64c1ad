// The dashboard's history ring and its event stream's bounds, on a real HTTP server.
import { request } from 'node:http';
import pino from 'pino';
import t from 'tap';
import { DashboardFeed, MAX_FEEDS } from '../../src/server/dashboard-feed.js';
import { registerDashboard } from '../../src/server/dashboard.js';
import { HISTORY_API_VERSION, HistoryRing, MAX_SAMPLE_ENTRIES, sampleOf, type HistoryDocument } from '../../src/server/history.js';
import { HttpServer } from '../../src/server/http-server.js';
import { POOL_API_VERSION, type PoolDocument } from '../../src/server/pool.js';
import type { StatusDocument } from '../../src/server/status.js';

/** Just what a sample reads of a status document. */
function status(sessions: number): StatusDocument {
  return {
    devices: [{ uuid: 'GPU-a', memory: { usedBytes: 5, totalBytes: 10 }, utilization: { gpuPercent: 40 } }],
    compute: {
      cards: [{ ordinal: 0, uuid: 'GPU-a' }],
      sessions: Array.from({ length: sessions }, (_, id) => ({ id, scheduling: { share: 0.25 }, cards: [{ ordinal: 0, used: id, achievedShare: 0.2 }] })),
    },
  } as unknown as StatusDocument;
}

t.test('the ring keeps the last window, oldest first', async (t) => {
  const ring = new HistoryRing(1000, 3500);
  t.equal(ring.capacity, 4);
  for (let i = 0; i < 10; i++) ring.add({ t: i, devices: [], clients: [] });
  t.same(ring.samples().map((s) => s.t), [6, 7, 8, 9]);
  t.same(ring.document(), { apiVersion: HISTORY_API_VERSION, intervalMs: 1000, windowMs: 3500, samples: ring.samples() });
});

t.test('a sample: cards by UUID, clients per card, bounded in size', async (t) => {
  const s = sampleOf(status(2), 42);
  t.same(s, {
    t: 42,
    devices: [{ uuid: 'GPU-a', used: 5, util: 40 }],
    clients: [
      { session: 0, card: 0, uuid: 'GPU-a', share: 0.25, achieved: 0.2, used: 0 },
      { session: 1, card: 0, uuid: 'GPU-a', share: 0.25, achieved: 0.2, used: 1 },
    ],
  });
  t.equal(sampleOf(status(MAX_SAMPLE_ENTRIES + 100), 0).clients.length, MAX_SAMPLE_ENTRIES, 'a flood of sessions does not grow it');
});

t.test('the event stream: history then updates; readers bounded; ended on stop', async (t) => {
  const logger = pino({ level: 'silent' });
  const pool: PoolDocument = { apiVersion: POOL_API_VERSION, generatedAt: '', hosts: [{ url: 'http://self', self: true, ok: true, status: status(1) }], summary: { hosts: 1, reachable: 1, cards: 1, sessions: 1 } };
  const feed = new DashboardFeed({ status: async () => status(1), pool: async () => pool, fetchHistory: async () => t.fail('no peer') as never, intervalMs: 100, windowMs: 1000, timeoutMs: 100, logger });
  const http = new HttpServer(logger);
  registerDashboard(http, feed);
  const { port } = await http.listen({ host: '127.0.0.1', port: 0 });
  feed.start();
  t.teardown(async () => {
    await feed.stop();
    await http.close();
  });

  const open = () =>
    new Promise<{ status: number; text: () => string; close: () => void }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/v1/events' }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        resolve({ status: res.statusCode ?? 0, text: () => text, close: () => req.destroy() });
      });
      req.on('error', reject);
      req.end();
    });
  const first = await open();
  t.equal(first.status, 200);
  await t.resolves(
    (async () => {
      while (first.text().split('event: pool').length < 3) await new Promise((r) => setTimeout(r, 20));
    })(),
    'updates keep coming',
  );
  const events = [...first.text().matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
  t.equal(events[0], 'history', 'the history first');
  const history = JSON.parse(/event: history\ndata: (.*)\n/.exec(first.text())![1]!) as Record<string, { apiVersion: string }>;
  t.equal(history['http://self']?.apiVersion, HISTORY_API_VERSION, "this host's ring");

  const more = await Promise.all(Array.from({ length: MAX_FEEDS - 1 }, open));
  t.ok(more.every((r) => r.status === 200));
  const refused = await open();
  t.equal(refused.status, 503, `past ${MAX_FEEDS} readers: refused`);
  [...more, refused].forEach((r) => r.close());

  const hist = (await (await fetch(`http://127.0.0.1:${port}/v1/history`)).json()) as HistoryDocument;
  t.equal(hist.apiVersion, HISTORY_API_VERSION);
  t.ok(hist.samples.length > 0, 'the ring was sampled');

  const closed = new Promise<void>((resolve) => {
    const check = () => (feed.readers === 0 ? resolve() : setTimeout(check, 20));
    check();
  });
  await feed.stop();
  await closed;
  t.equal(feed.readers, 0, 'stop ends every stream');
});
