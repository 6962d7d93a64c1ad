import { cardLoad, fitsNow, rankCards, type PlacementCard, type Policy } from './placement.js';

/**
 * How many cards a job gets from each daemon it may use (docs/operations.md, "Placement across
 * hosts"), decided by `gpupool run` from each daemon's status. Each daemon then picks its own cards
 * with the same policy; this only splits the count. Pure.
 */

export interface HostOffer {
  /** How the host is named in messages (its address). */
  name: string;
  cards: PlacementCard[];
  /** The job's quota on each of its cards, by ordinal. */
  quota: readonly number[];
  overcommit: boolean;
}

export type HostPlan = { ok: true; counts: number[] } | { ok: false; reason: string };

/** A host's load: the mean load of the cards that may take work. */
function hostLoad(cards: PlacementCard[]): number {
  const usable = cards.filter((c) => c.health !== 'unhealthy');
  return usable.length === 0 ? Number.POSITIVE_INFINITY : usable.reduce((sum, c) => sum + cardLoad(c), 0) / usable.length;
}

/**
 * `spread`: one card at a time, to the host with the fewest of the job's cards so far, then the least
 * loaded host (counting the job's cards placed on it), so the job lands on as many hosts as it can and
 * on the idlest. `binpack`: the most loaded host that can take the whole rest of the job, else the host
 * with the most room, so the job lands on as few hosts as it can and the idlest hosts stay free.
 */
export function planHosts(hosts: HostOffer[], gpus: number, policy: Policy, share: number): HostPlan {
  // Copies: the job's own cards are added to them as it is placed.
  const cards = hosts.map((h) => h.cards.map((c) => ({ ...c })));
  const free = hosts.map((h, i) => cards[i]!.filter((c) => fitsNow(c, h.quota[c.ordinal] ?? 0, h.overcommit)));
  const room = free.reduce((sum, f) => sum + f.length, 0);
  if (room < gpus) {
    const each = hosts.map((h, i) => `${h.name} ${free[i]!.length}`).join(', ');
    return { ok: false, reason: `the pool has room for ${room} of the ${gpus} card(s) asked for (${each})` };
  }
  const counts = hosts.map(() => 0);
  let left = gpus;
  while (left > 0) {
    const open = hosts.map((_, i) => i).filter((i) => free[i]!.length > 0);
    if (policy === 'spread') {
      const loads = cards.map(hostLoad);
      const i = open.sort((a, b) => counts[a]! - counts[b]! || loads[a]! - loads[b]! || a - b)[0]!;
      const best = rankCards(free[i]!, hosts[i]!.quota, share, 'spread')[0]!;
      best.committed += hosts[i]!.quota[best.ordinal] ?? 0;
      best.shares += share;
      best.sessions += 1;
      free[i] = free[i]!.filter((c) => c !== best);
      counts[i]! += 1;
      left -= 1;
    } else {
      const loads = cards.map(hostLoad);
      const whole = open.filter((i) => free[i]!.length >= left);
      const pick = whole.length > 0
        ? whole.sort((a, b) => loads[b]! - loads[a]! || a - b)[0]!
        : open.sort((a, b) => free[b]!.length - free[a]!.length || loads[b]! - loads[a]! || a - b)[0]!;
      const take = Math.min(left, free[pick]!.length);
      counts[pick]! += take;
      free[pick] = [];
      left -= take;
    }
  }
  return { ok: true, counts };
}
