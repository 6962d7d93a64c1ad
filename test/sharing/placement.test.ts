import t from 'tap';
import { planHosts, type HostOffer } from '../../src/sharing/host-placement.js';
import { DEFAULT_SHARE, cardLoad, placeSession, type PlacementCard, type PlacementRequest } from '../../src/sharing/placement.js';

const GiB = 1024 ** 3;

function card(ordinal: number, over: Partial<PlacementCard> = {}): PlacementCard {
  return { ordinal, uuid: `GPU-${ordinal}`, totalMem: 80 * GiB, committed: 0, shares: 0, sessions: 0, utilization: 0, health: 'healthy', ...over };
}

function ask(over: Partial<PlacementRequest> = {}): PlacementRequest {
  return { gpus: 1, policy: 'spread', quota: [8 * GiB, 8 * GiB, 8 * GiB], share: DEFAULT_SHARE, overcommit: false, ...over };
}

/** Three cards: 0 half committed, 1 idle, 2 a quarter committed and busy. */
function host(): PlacementCard[] {
  return [card(0, { committed: 40 * GiB, shares: 0.5, sessions: 2 }), card(1), card(2, { committed: 20 * GiB, shares: 0.25, sessions: 1, utilization: 30 })];
}

t.test('load: memory, shares and utilization, each about 0 idle and 1 full', async (t) => {
  t.equal(cardLoad(card(0)), 0);
  t.equal(cardLoad(card(0, { committed: 40 * GiB, shares: 0.5, utilization: 50 })), 1.5);
  t.equal(cardLoad(card(0), 20 * GiB, 0.25), 0.5, 'with the session added');
  t.equal(cardLoad(card(0, { utilization: null })), 0, 'unknown utilization counts as idle');
});

t.test('spread takes the least loaded cards, binpack the most loaded that fit', async (t) => {
  t.same(placeSession(host(), ask()), { ok: true, ordinals: [1] });
  t.same(placeSession(host(), ask({ policy: 'binpack' })), { ok: true, ordinals: [0] });
  t.same(placeSession(host(), ask({ gpus: 2 })), { ok: true, ordinals: [1, 2] }, 'ordinals come back in order');
  t.same(placeSession(host(), ask({ gpus: 2, policy: 'binpack' })), { ok: true, ordinals: [0, 2] });
  t.same(placeSession(host(), ask({ gpus: 'all' })), { ok: true, ordinals: [0, 1, 2] });
  // Card 0 is the most loaded, but 48 GiB does not fit its 40 GiB of room: binpack takes the next.
  t.same(placeSession(host(), ask({ policy: 'binpack', quota: [48 * GiB, 48 * GiB, 48 * GiB] })), { ok: true, ordinals: [2] });
});

t.test('measured utilization and sessions weigh in; ties go to the lower ordinal', async (t) => {
  const busy = [card(0, { utilization: 90 }), card(1, { utilization: 10 })];
  t.same(placeSession(busy, ask()), { ok: true, ordinals: [1] }, 'spread avoids the busy card');
  t.same(placeSession(busy, ask({ policy: 'binpack' })), { ok: true, ordinals: [0] });
  const crowded = [card(0, { sessions: 3 }), card(1, { sessions: 1 })];
  t.same(placeSession(crowded, ask()), { ok: true, ordinals: [1] }, 'equal load: fewer sessions first');
  t.same(placeSession(crowded, ask({ policy: 'binpack' })), { ok: true, ordinals: [0] });
  t.same(placeSession([card(0), card(1)], ask()), { ok: true, ordinals: [0] });
  // A smaller card is fuller with the same quota: spread prefers the larger, binpack the smaller.
  const sizes = [card(0, { totalMem: 40 * GiB }), card(1)];
  t.same(placeSession(sizes, ask()), { ok: true, ordinals: [1] });
  t.same(placeSession(sizes, ask({ policy: 'binpack' })), { ok: true, ordinals: [0] });
});

t.test('an unhealthy card is never chosen; one no vendor library watches is', async (t) => {
  const cards = [card(0, { health: 'unhealthy', healthReason: 'Xid 79' }), card(1, { health: 'unknown', committed: 60 * GiB }), card(2, { committed: 70 * GiB })];
  t.same(placeSession(cards, ask()), { ok: true, ordinals: [1] });
  t.same(placeSession(cards, ask({ policy: 'binpack' })), { ok: true, ordinals: [2] });
  const refused = placeSession(cards, ask({ gpus: 'all' }));
  t.match(refused, { ok: false, final: false, reason: /^only 2 of the 3 cards asked for have room for 8\.00 GiB: card 0 is unhealthy \(Xid 79\)$/ });
});

t.test('no room now: a reason naming each card, and waiting may help', async (t) => {
  const full = [card(0, { committed: 75 * GiB }), card(1, { committed: 78 * GiB })];
  const r = placeSession(full, ask());
  t.same(r, {
    ok: false,
    final: false,
    reason: 'no card has room for 8.00 GiB: card 0 has 5.00 GiB of 80.00 GiB uncommitted (3.00 GiB short); card 1 has 2.00 GiB of 80.00 GiB uncommitted (6.00 GiB short)',
  });
  t.same(placeSession(full, ask({ overcommit: true })), { ok: true, ordinals: [0] }, 'overcommit: memory room does not bound it');
  t.match(placeSession(full, ask({ quota: [20 * GiB, 10 * GiB] })), { ok: false, reason: /^no card has room for the session's quota: / }, 'quotas that differ per card');
});

t.test('what waiting cannot fix is final', async (t) => {
  t.same(placeSession(host(), ask({ gpus: 4 })), { ok: false, final: true, reason: 'gpus=4: this host has 3 card(s)' });
  t.same(placeSession([], ask()), { ok: false, final: true, reason: 'this host has no card' });
  const big = ask({ quota: [100 * GiB, 100 * GiB, 100 * GiB] });
  t.same(placeSession(host(), big), { ok: false, final: true, reason: 'request of 100.00 GiB is larger than every card here (the largest has 80.00 GiB)' });
  const mixed = [card(0), card(1, { totalMem: 40 * GiB })];
  const fifty = ask({ quota: [50 * GiB, 50 * GiB, 50 * GiB] });
  t.same(placeSession(mixed, fifty), { ok: true, ordinals: [0] }, 'one card can hold it');
  t.same(placeSession(mixed, { ...fifty, gpus: 'all' }), { ok: false, final: true, reason: 'request of 50.00 GiB is larger than card 1 (40.00 GiB)' });
  t.match(placeSession([...mixed, card(2, { totalMem: 40 * GiB })], { ...fifty, gpus: 2 }), { ok: false, final: true, reason: /fits only 1 of this host's cards, 2 asked for/ });
});

t.test("a tenant's cards= limits the choice", async (t) => {
  const allowed = (c: PlacementCard) => c.ordinal !== 1;
  t.same(placeSession(host(), ask({ allowed })), { ok: true, ordinals: [2] }, 'spread, without the idle card the tenant may not use');
  t.same(placeSession(host(), ask({ gpus: 3, allowed })), { ok: false, final: true, reason: 'gpus=3: the tenant may use 2 card(s) here' });
  t.match(placeSession(host(), ask({ allowed: () => false })), { ok: false, final: true, reason: /the tenant may use none of this host's 3 card/ });
});

function offer(name: string, cards: PlacementCard[]): HostOffer {
  return { name, cards, quota: cards.map(() => 8 * GiB), overcommit: false };
}

t.test('across hosts: spread spreads, binpack fills one host first', async (t) => {
  const a = offer('ws://a', [card(0, { committed: 40 * GiB, shares: 0.5, sessions: 1 }), card(1)]);
  const b = offer('ws://b', [card(0), card(1), card(2)]);
  t.same(planHosts([a, b], 1, 'spread', DEFAULT_SHARE), { ok: true, counts: [0, 1] }, 'the idle host');
  t.same(planHosts([a, b], 3, 'spread', DEFAULT_SHARE), { ok: true, counts: [1, 2] });
  t.same(planHosts([a, b], 1, 'binpack', DEFAULT_SHARE), { ok: true, counts: [1, 0] }, 'the busier host that fits');
  t.same(planHosts([a, b], 2, 'binpack', DEFAULT_SHARE), { ok: true, counts: [2, 0] }, 'the busier host takes the whole job');
  t.same(planHosts([a, b], 3, 'binpack', DEFAULT_SHARE), { ok: true, counts: [0, 3] }, 'one host only, when one can take it all');
  t.same(planHosts([a, b], 4, 'binpack', DEFAULT_SHARE), { ok: true, counts: [1, 3] }, 'else the host with the most room first');
  const twoIdle = [offer('ws://a', [card(0), card(1)]), offer('ws://b', [card(0), card(1)])];
  t.same(planHosts(twoIdle, 2, 'spread', DEFAULT_SHARE), { ok: true, counts: [1, 1] });
  t.same(planHosts(twoIdle, 2, 'binpack', DEFAULT_SHARE), { ok: true, counts: [2, 0] });
});

t.test('across hosts: a pool without room says how much each host has', async (t) => {
  const a = offer('ws://a', [card(0, { committed: 78 * GiB }), card(1, { health: 'unhealthy' })]);
  const b = offer('ws://b', [card(0)]);
  t.same(planHosts([a, b], 2, 'spread', DEFAULT_SHARE), { ok: false, reason: 'the pool has room for 1 of the 2 card(s) asked for (ws://a 0, ws://b 1)' });
  t.same(planHosts([offer('ws://gone', [])], 1, 'binpack', DEFAULT_SHARE), { ok: false, reason: 'the pool has room for 0 of the 1 card(s) asked for (ws://gone 0)' });
});
