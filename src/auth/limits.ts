import { PRIORITY_CLASSES, type PriorityClass, type TenantLimits } from './tokens.js';

/**
 * A tenant's `cards=` and `priority=` (docs/security.md, "The token file"), applied at the handshake:
 * which of this host's cards its session gets, and at what priority. (`quota=` is applied with the
 * memory quotas, src/sharing/quota.ts.)
 */

/** What identifies a card in `cards=`: its ordinal on this daemon's driver, or its UUID. */
export interface CardIdentity {
  ordinal: number;
  uuid: Buffer;
}

/** A 16-byte UUID as NVML and nvidia-smi print it: `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
export function formatGpuUuid(uuid: Buffer): string {
  const h = uuid.toString('hex');
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
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

export interface PriorityGrant {
  /** The class the session runs at. */
  priority: string;
  /** The class the job asked for when it was above the tenant's ceiling (and so lowered); else null. */
  clampedFrom: string | null;
}

const rank = (p: string): number => PRIORITY_CLASSES.indexOf(p as PriorityClass);

/**
 * The session's priority: what the job asked for (`normal` when nothing), lowered to the class of the
 * tenant's `priority=` when above it. A word the daemon does not rank counts as above any ceiling.
 */
export function grantPriority(requested: string | null, ceiling: TenantLimits['priority']): PriorityGrant {
  const asked = requested ?? 'normal';
  if (ceiling === null) return { priority: asked, clampedFrom: null };
  const limit = ceiling.split(':')[0]!;
  if (rank(asked) >= 0 && rank(asked) <= rank(limit)) return { priority: asked, clampedFrom: null };
  return { priority: limit, clampedFrom: requested === null ? null : asked };
}

/** Spreads per-granted-card values (in `granted` order) over every ordinal of the host; others get `fill`. */
export function byOrdinal<T>(granted: number[], values: T[], count: number, fill: T): T[] {
  const out = Array.from({ length: count }, () => fill);
  granted.forEach((ordinal, i) => {
    if (ordinal < count) out[ordinal] = values[i]!;
  });
  return out;
}
