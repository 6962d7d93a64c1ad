// The pool view (`GET /v1/pool`) from its parts: membership, peers' status documents and failures.
import t from 'tap';
import { ErrorCodes, GpupoolError } from '../../src/errors.js';
import { POOL_API_VERSION, buildPoolView } from '../../src/server/pool.js';
import type { StatusDocument } from '../../src/server/status.js';
import { StaticMembership } from '../../src/sharing/membership.js';

/** Just what the pool view reads of a status document. */
function status(hostname: string, pid: number, cards: number, sessions: number): StatusDocument {
  return {
    host: { hostname },
    daemon: { pid, startedAt: '2026-01-01T00:00:00.000Z' },
    compute: { cards: Array.from({ length: cards }, (_, ordinal) => ({ ordinal })), sessions: Array.from({ length: sessions }, (_, id) => ({ id })) },
  } as unknown as StatusDocument;
}

t.test('static membership: the configured peers, without trailing slashes', async (t) => {
  const m = new StaticMembership(['http://a:7760/', 'https://b:7760']);
  t.same(await m.peers(), [{ url: 'http://a:7760' }, { url: 'https://b:7760' }]);
  (await m.peers())[0]!.url = 'changed';
  t.same((await m.peers())[0], { url: 'http://a:7760' }, 'callers get copies');
});

t.test('this host first, then every peer; a peer that fails is an entry with its error; this host listed as a peer is left out', async (t) => {
  const self = status('gpu-a', 10, 2, 1);
  const asked: string[] = [];
  const answers: Record<string, () => Promise<StatusDocument>> = {
    'http://gpu-a:7760/v1/status': async () => self,
    'http://gpu-b:7760/v1/status': async () => status('gpu-b', 20, 3, 2),
    'http://gpu-c:7760/v1/status': async () => {
      throw new GpupoolError(ErrorCodes.HOST_UNREACHABLE, 'http://gpu-c:7760: cannot reach the daemon (ECONNREFUSED); is gpupoold running there?');
    },
    'http://gpu-d:7760/v1/status': async () => {
      throw new Error('socket hang up');
    },
  };
  const doc = await buildPoolView({
    self: { url: 'http://0.0.0.0:7760', status: self },
    membership: new StaticMembership(['http://gpu-a:7760', 'http://gpu-b:7760', 'http://gpu-c:7760', 'http://gpu-d:7760']),
    fetchStatus: async (url, timeoutMs) => {
      t.equal(timeoutMs, 1500, 'each peer bounded by the timeout');
      asked.push(url.href);
      return answers[url.href]!();
    },
    timeoutMs: 1500,
  });
  t.equal(asked.length, 4, 'every peer asked');
  t.equal(doc.apiVersion, POOL_API_VERSION);
  t.match(doc.hosts, [
    { url: 'http://0.0.0.0:7760', self: true, ok: true, status: self },
    { url: 'http://gpu-b:7760', self: false, ok: true },
    { url: 'http://gpu-c:7760', self: false, ok: false, error: { code: 'GPUPOOL_HOST_UNREACHABLE', message: /ECONNREFUSED/ } },
    { url: 'http://gpu-d:7760', self: false, ok: false, error: { code: 'UNKNOWN', message: 'socket hang up' } },
  ]);
  t.equal(doc.hosts.length, 4, 'gpu-a answered as this very daemon: not listed twice');
  t.same(doc.summary, { hosts: 4, reachable: 2, cards: 5, sessions: 3 });
});

t.test('no peers: this host alone', async (t) => {
  const doc = await buildPoolView({ self: { url: 'http://h:1', status: status('h', 1, 1, 0) }, membership: new StaticMembership([]), fetchStatus: async () => t.fail('no peer to ask') as never, timeoutMs: 100 });
  t.same(doc.summary, { hosts: 1, reachable: 1, cards: 1, sessions: 0 });
});
