import { clampPriority, formatPriority, parsePriority, type Priority } from '../sharing/priority.js';
import type { TenantLimits } from './tokens.js';

/**
 * A tenant's `cards=` (docs/security.md, "The token file"), applied at the handshake: which of this
 * host's cards its session gets. (`quota=` is applied with the memory quotas, src/sharing/quota.ts;
 * `priority=` by the scheduler, src/sharing/schedule.ts; here only the lowering is said for the log.)
 */

/** What identifies a card in `cards=`: its ordinal on this daemon's driver, or its UUID. */
export interface CardIdentity {
  ordinal: number;
  uuid: Buffer;
}

function sameUuid(written: string, uuid: Buffer): boolean {
  const bare = (s: string) => s.toLowerCase().replace(/^gpu-/, '').replace(/-/g, '');
  return bare(written) === uuid.toString('hex');
}

/**
 * The ordinals, ascending, of the cards a tenant may use: every card without `cards=`; else those
 * whose index or UUID (with or without `GPU-`, any case) it lists. Entries that name no card of this
 * host are ignored: one token file may serve several hosts.
 */
export function grantedCards(cards: TenantLimits['cards'], devices: CardIdentity[]): number[] {
  const all = devices.map((d) => d.ordinal).sort((a, b) => a - b);
  if (cards === null) return all;
  return all.filter((ordinal) => {
    const device = devices.find((d) => d.ordinal === ordinal)!;
    return cards.some((c) => (typeof c === 'number' ? c === ordinal : sameUuid(c, device.uuid)));
  });
}

/**
 * The priority a job gets when it asked for one above its tenant's `priority=` (the ceiling, as the
 * scheduler applies it: src/sharing/priority.ts), for the log; null when nothing was lowered.
 */
export function priorityLowered(requested: string | null, ceiling: Priority | null): string | null {
  const asked = requested === null ? null : parsePriority(requested);
  if (asked === null || ceiling === null) return null;
  const given = clampPriority(asked, ceiling);
  return given === asked ? null : formatPriority(given);
}

/** Spreads per-granted-card values (in `granted` order) over every ordinal of the host; others get `fill`. */
export function byOrdinal<T>(granted: number[], values: T[], count: number, fill: T): T[] {
  const out = Array.from({ length: count }, () => fill);
  granted.forEach((ordinal, i) => {
    if (ordinal < count) out[ordinal] = values[i]!;
  });
  return out;
}
