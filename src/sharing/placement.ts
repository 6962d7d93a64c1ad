import { handshakeKey } from '../protocol/frames.js';
import { gib } from './quota.js';

/**
 * Which cards of this host a new session gets (docs/operations.md, "Placement"). Pure: the caller
 * passes what each card holds and how it is doing; nothing here reads the driver or the clock.
 */

export const POLICIES = ['binpack', 'spread'] as const;
/** `binpack`: the most loaded cards that still fit, keeping others free; `spread`: the least loaded. */
export type Policy = (typeof POLICIES)[number];

/**
 * The compute share of a session that asked for none (`sharing.defaultShare`'s default, docs/sharing.md):
 * the same fraction of a card as the default memory quota. `gpupool run --gpus N` weighs hosts with it.
 */
export const DEFAULT_SHARE = 0.25;

/**
 * The smallest share a session may ask for (docs/sharing.md): a share is a promise of the card's time,
 * and below a hundredth of it the scheduler's slices are too short to keep the promise's order.
 */
export const MIN_SHARE = handshakeKey('request', 'share').min!;

/** What a share may be, as messages say it. */
export const SHARE_RANGE = `a number from ${MIN_SHARE} to 1`;

/** Whether `share` is a share a session may have: a number from MIN_SHARE to 1. */
export function validShare(share: unknown): share is number {
  return typeof share === 'number' && share >= MIN_SHARE && share <= 1;
}

/** A card as placement sees it: its memory, what live sessions hold of it, and how it is doing. */
export interface PlacementCard {
  /** The card's ordinal in the daemon's CUDA driver. */
  ordinal: number;
  /** `GPU-…`, as NVML and `nvidia-smi` write it; null when the driver gave none. */
  uuid: string | null;
  totalMem: number;
  /** Bytes of quota committed to live sessions. */
  committed: number;
  /** The sum of live sessions' shares. */
  shares: number;
  sessions: number;
  /** GPU utilization in percent from the vendor sampler's last sample; null: not known (counts as 0). */
  utilization: number | null;
  /** From the vendor library's health watch; `unknown`: no vendor card has this UUID. */
  health: 'healthy' | 'unhealthy' | 'unknown';
  healthReason?: string;
}

export interface PlacementRequest {
  /** Cards wanted; `all`: every card the session may use. */
  gpus: number | 'all';
  policy: Policy;
  /** The session's quota on each card, by ordinal. */
  quota: readonly number[];
  share: number;
  /** Whether quotas may add up to more than a card's memory (`sharing.overcommit`). */
  overcommit: boolean;
  /** The cards the session may use at all (a tenant's `cards=`); absent: every card. */
  allowed?: (card: PlacementCard) => boolean;
}

export type Placement =
  | { ok: true; ordinals: number[] }
  /** `final`: waiting cannot help (too few cards could ever hold the session). */
  | { ok: false; reason: string; final: boolean };

/**
 * A card's load with a session of `quota` bytes and `share` added: its committed memory as a fraction
 * of the card, plus its committed shares, plus its measured utilization as a fraction. Each term is
 * about 0 for an idle card and about 1 for a full one, so no single figure decides alone.
 */
export function cardLoad(card: PlacementCard, quota = 0, share = 0): number {
  const memory = card.totalMem > 0 ? (card.committed + quota) / card.totalMem : 1;
  return memory + card.shares + share + (card.utilization ?? 0) / 100;
}

/** Whether the session fits this card now: healthy (or not watched), and its quota in the uncommitted memory. */
export function fitsNow(card: PlacementCard, quota: number, overcommit: boolean): boolean {
  return card.health !== 'unhealthy' && quota >= 1 && quota <= card.totalMem && (overcommit || quota <= card.totalMem - card.committed);
}

/** The cards a request wants placed first: by load after placing it, then by sessions, then by ordinal. */
export function rankCards(cards: PlacementCard[], quota: readonly number[], share: number, policy: Policy): PlacementCard[] {
  const sign = policy === 'spread' ? 1 : -1;
  const load = (c: PlacementCard) => cardLoad(c, quota[c.ordinal] ?? 0, share);
  return [...cards].sort((a, b) => sign * (load(a) - load(b)) || sign * (a.sessions - b.sessions) || a.ordinal - b.ordinal);
}

/** Chooses the cards of a new session, or says why none fit; the ordinals come back in ascending order. */
export function placeSession(cards: PlacementCard[], request: PlacementRequest): Placement {
  const usable = request.allowed ? cards.filter(request.allowed) : cards;
  const quotaOf = (c: PlacementCard) => request.quota[c.ordinal] ?? 0;
  const need = request.gpus === 'all' ? usable.length : request.gpus;
  const asked = request.gpus === 'all' ? 'gpus=all' : `gpus=${request.gpus}`;
  if (usable.length === 0) {
    return { ok: false, final: true, reason: cards.length === 0 ? 'this host has no card' : `${asked}: the tenant may use none of this host's ${cards.length} card(s)` };
  }
  if (need > usable.length) {
    const of = usable.length === cards.length ? `this host has ${cards.length} card(s)` : `the tenant may use ${usable.length} card(s) here`;
    return { ok: false, final: true, reason: `${asked}: ${of}` };
  }
  // Cards too small for the quota stay too small however long the session waits.
  const tooSmall = usable.filter((c) => quotaOf(c) > c.totalMem);
  if (usable.length - tooSmall.length < need) return { ok: false, final: true, reason: tooSmallReason(tooSmall, quotaOf, need, usable.length) };
  const fitting = usable.filter((c) => fitsNow(c, quotaOf(c), request.overcommit));
  if (fitting.length < need) return { ok: false, final: false, reason: noRoomReason(usable, quotaOf, need, fitting.length, request.overcommit) };
  const chosen = rankCards(fitting, request.quota, request.share, request.policy).slice(0, need);
  return { ok: true, ordinals: chosen.map((c) => c.ordinal).sort((a, b) => a - b) };
}

function tooSmallReason(tooSmall: PlacementCard[], quotaOf: (c: PlacementCard) => number, need: number, usable: number): string {
  const first = tooSmall[0]!;
  const request = `request of ${gib(quotaOf(first))}`;
  if (tooSmall.length === usable) return `${request} is larger than every card here (the largest has ${gib(Math.max(...tooSmall.map((c) => c.totalMem)))})`;
  if (need === usable) return `${request} is larger than card ${first.ordinal} (${gib(first.totalMem)})`;
  return `${request} fits only ${usable - tooSmall.length} of this host's cards, ${need} asked for (card ${first.ordinal} has ${gib(first.totalMem)})`;
}

/** "no card has room for 8.00 GiB: card 0 has 2.00 GiB of 80.00 GiB uncommitted (6.00 GiB short); card 1 is unhealthy (…)". */
function noRoomReason(usable: PlacementCard[], quotaOf: (c: PlacementCard) => number, need: number, fitting: number, overcommit: boolean): string {
  const quotas = new Set(usable.map(quotaOf));
  const what = quotas.size === 1 ? gib([...quotas][0]!) : 'the session\'s quota';
  const head = need === 1 ? `no card has room for ${what}` : `only ${fitting} of the ${need} cards asked for have room for ${what}`;
  const why = usable
    .filter((c) => !fitsNow(c, quotaOf(c), overcommit))
    .map((c) => {
      if (c.health === 'unhealthy') return `card ${c.ordinal} is unhealthy${c.healthReason ? ` (${c.healthReason})` : ''}`;
      const room = Math.max(0, c.totalMem - c.committed);
      return `card ${c.ordinal} has ${gib(room)} of ${gib(c.totalMem)} uncommitted (${gib(quotaOf(c) - room)} short)`;
    });
  return `${head}: ${why.join('; ')}`;
}
