// `gpupool run --gpus N` across daemons, from status documents given here (the end-to-end runs are in
// test/compute/placement-hosts.test.ts).
import t from 'tap';
import { planJob, statusUrlOf, withServerGpus } from '../../src/cli/run-placement.js';
import type { ComputeCard } from '../../src/compute/cards.js';
import { ErrorCodes, GpupoolError } from '../../src/errors.js';
import type { StatusDocument } from '../../src/server/status.js';
import { NO_REQUEST } from '../../src/sharing/quota.js';

const GiB = 1024 ** 3;

function card(ordinal: number, over: Partial<ComputeCard> = {}): ComputeCard {
  return { ordinal, name: 'card', uuid: null, totalMem: 80 * GiB, committed: 0, shares: 0, sessions: 0, utilization: 0, health: 'healthy', ...over };
}

function status(cards: ComputeCard[], available = true): StatusDocument {
  return {
    compute: { available, error: available ? undefined : 'no driver', cards, sessions: [], sharing: available ? { defaultQuota: '25%', overcommit: false, placement: 'spread', defaultShare: 0.25 } : null },
  } as unknown as StatusDocument;
}

t.test('server addresses', async (t) => {
  t.equal(statusUrlOf('ws://gpu1:7760').href, 'http://gpu1:7760/v1/status');
  t.equal(statusUrlOf('wss://gpu1:7760/v1/compute?gpus=2').href, 'https://gpu1:7760/v1/status');
  t.equal(statusUrlOf('unix:///run/gpupool/gpupool.sock?gpus=2').href, 'http+unix://%2Frun%2Fgpupool%2Fgpupool.sock/v1/status', 'a local daemon\'s status, through its socket');
  t.throws(() => statusUrlOf('http://gpu1:7760'), /not a ws:\/\/, wss:\/\/ or unix:\/\/ address/);
  t.equal(withServerGpus('ws://a:1', 2), 'ws://a:1?gpus=2');
  t.equal(withServerGpus('ws://a:1/v1/compute?wait=5&gpus=9', 3), 'ws://a:1/v1/compute?wait=5&gpus=3', 'other keys kept, gpus replaced');
});

t.test('splits the cards by policy and names each server\'s count; servers with none are left out', async (t) => {
  const docs: Record<string, StatusDocument> = {
    'http://a:1/v1/status': status([card(0, { committed: 40 * GiB, shares: 0.5, sessions: 1 }), card(1)]),
    'http://b:1/v1/status': status([card(0), card(1), card(2)]),
  };
  const fetch = async (url: URL) => docs[url.href]!;
  const spread = await planJob(['ws://a:1', 'ws://b:1'], NO_REQUEST, 1, fetch);
  t.same(spread, { ok: true, plan: { servers: ['ws://b:1?gpus=1'], counts: [{ server: 'ws://b:1', gpus: 1 }], policy: 'spread', onIdlePool: false } });
  const binpack = await planJob(['ws://a:1', 'ws://b:1'], { ...NO_REQUEST, policy: 'binpack' }, 4, fetch);
  t.match(binpack, { ok: true, plan: { servers: ['ws://a:1?gpus=1', 'ws://b:1?gpus=3'], policy: 'binpack' } });
});

t.test('no room: the reason says what each server offers and why a server offers nothing', async (t) => {
  const docs: Record<string, () => StatusDocument> = {
    'http://a:1/v1/status': () => status([card(0, { committed: 75 * GiB })]),
    'http://b:1/v1/status': () => status([], false),
    'http://c:1/v1/status': () => {
      throw new GpupoolError(ErrorCodes.HOST_UNREACHABLE, 'http://c:1: cannot reach the daemon (ECONNREFUSED); is gpupoold running there?');
    },
  };
  const fetch = async (url: URL) => docs[url.href]!();
  const servers = ['ws://a:1', 'ws://b:1', 'ws://c:1'];
  const refused = await planJob(servers, { ...NO_REQUEST, mem: 8 * GiB }, 1, fetch);
  t.same(refused, {
    ok: false,
    reason: 'the pool has room for 0 of the 1 card(s) asked for (ws://a:1 0, ws://b:1 0, ws://c:1 0); ws://b:1: compute unavailable (no driver); http://c:1: cannot reach the daemon (ECONNREFUSED); is gpupoold running there?',
  });
  // With a wait, a card that could hold the job once idle is enough: the daemon holds it until then.
  const later = await planJob(servers, { ...NO_REQUEST, mem: 8 * GiB, wait: 30 }, 1, fetch);
  t.match(later, { ok: true, plan: { servers: ['ws://a:1?gpus=1'], onIdlePool: true } });
  const never = await planJob(servers, { ...NO_REQUEST, mem: 8 * GiB, wait: 30 }, 2, fetch);
  t.match(never, { ok: false, reason: /^the pool has room for 0 of the 2 card\(s\) asked for .*; even with every job gone, it has room for 1 of the 2 card\(s\) asked for/ });
});
