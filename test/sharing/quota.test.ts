import t from 'tap';
import { QuotaLedger, parseQuotaSetting, sessionQuota, NO_REQUEST } from '../../src/sharing/quota.js';
import { loadConfig } from '../../src/config/load.js';

const GiB = 1024 ** 3;
const cards = [
  { ordinal: 0, totalMem: 80 * GiB },
  { ordinal: 1, totalMem: 40 * GiB },
];
const nobody = { name: null, quota: null };

t.test('sharing.defaultQuota: bytes or a share of each card', async (t) => {
  t.same(parseQuotaSetting('4GiB'), { bytes: 4 * GiB });
  t.same(parseQuotaSetting('25%'), { fraction: 0.25 });
  t.same(parseQuotaSetting('100 %'), { fraction: 1 });
  for (const bad of ['0%', '150%', 'lots', '0', '-1GiB', '']) t.throws(() => parseQuotaSetting(bad), { code: 'GPUPOOL_CONFIG_INVALID' }, bad);
  t.throws(() => loadConfig({ flags: { sharing: { defaultQuota: '150%' } } }), /sharing\.defaultQuota "150%"/);
  t.equal(loadConfig({}).sharing.defaultQuota, '25%');
  t.equal(loadConfig({}).sharing.overcommit, false);
});

t.test('a session\'s quota per card', async (t) => {
  t.same(sessionQuota(NO_REQUEST, cards, { fraction: 0.25 }, nobody), [20 * GiB, 10 * GiB], 'a share of each card');
  t.same(sessionQuota(NO_REQUEST, cards, { bytes: 50 * GiB }, nobody), [50 * GiB, 40 * GiB], 'never more than the card');
  t.same(sessionQuota(NO_REQUEST, cards, { bytes: 4 * GiB }, { name: 'a', quota: GiB }), [GiB, GiB], 'capped by the tenant');
  t.same(sessionQuota({ ...NO_REQUEST, mem: 8 * GiB }, cards, { bytes: GiB }, nobody), [8 * GiB, 8 * GiB], 'the request on every card');
  t.same(sessionQuota({ ...NO_REQUEST, mem: 50 * GiB }, cards, { bytes: GiB }, nobody), [50 * GiB, 50 * GiB], 'larger than a card: placement leaves that card out');
  t.throws(() => sessionQuota({ ...NO_REQUEST, mem: 2 * GiB }, cards, { bytes: GiB }, { name: 'a', quota: GiB }), /over tenant a's quota/);
});

t.test('committed quota, shares and sessions: no overcommit unless allowed', async (t) => {
  const ledger = new QuotaLedger(cards, false);
  ledger.commit([30 * GiB, 30 * GiB], 0.5);
  t.throws(() => ledger.commit([30 * GiB, 30 * GiB], 0.5), /no card has room for 30\.00 GiB: card 1 has 10\.00 GiB of 40\.00 GiB uncommitted/);
  t.same(ledger.status().map((c) => c.committed), [30 * GiB, 30 * GiB], 'a refusal commits nothing');
  ledger.commit([30 * GiB, 0], 0.25);
  t.same(ledger.status(), [
    { ordinal: 0, totalMem: 80 * GiB, committed: 60 * GiB, shares: 0.75, sessions: 2 },
    { ordinal: 1, totalMem: 40 * GiB, committed: 30 * GiB, shares: 0.5, sessions: 1 },
  ], 'a card not given (quota 0) holds nothing of the session');
  ledger.release([30 * GiB, 30 * GiB], 0.5);
  ledger.release([30 * GiB, 0], 0.25);
  t.same(ledger.status().map((c) => [c.committed, c.shares, c.sessions]), [[0, 0, 0], [0, 0, 0]], 'released to nothing');
  ledger.commit([30 * GiB, 30 * GiB], 0.1);
  const loose = new QuotaLedger(cards, true);
  loose.commit([40 * GiB, 40 * GiB], 1);
  loose.commit([40 * GiB, 40 * GiB], 1);
  t.same(loose.status().map((c) => c.committed), [80 * GiB, 80 * GiB]);
});
