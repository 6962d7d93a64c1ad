/**
 * Careless settings are said at start (docs/operations.md): `sharing.overcommit: true` lets memory
 * quotas promise more than the cards hold, so the daemon warns of it once it serves compute.
 */
import t from 'tap';
import { startSimulatedDaemon } from '../helpers/simulated.js';
import { QUICK_CONFIG } from '../helpers/integration.js';

t.test('sharing.overcommit: true is warned of at start', async (t) => {
  const { daemon } = await startSimulatedDaemon(t, { ...QUICK_CONFIG, sharing: { overcommit: true } });
  t.match(daemon.logs.find((l) => /overcommit/.test(l.msg)), { level: 40, overcommit: true, msg: /sharing\.overcommit is on: memory quotas may add up to more than a card holds/ });
});
