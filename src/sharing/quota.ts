import { parseBytes } from '../auth/tokens.js';
import { ErrorCodes, GpupoolError } from '../errors.js';

/**
 * Memory quotas (docs/operations.md, "Memory quotas"): what a job asks for, what it gets on each card,
 * and how much of each card the daemon has promised to live sessions.
 */

/** What a client asks for in HELLO's `request` (GPUPOOL_REQUEST, `gpupool run --mem`). */
export interface JobRequest {
  /** Device memory per card, in bytes; null: the daemon's default quota. */
  mem: number | null;
  /** Share of each card's compute under contention, (0, 1]; null: `sharing.defaultShare` (docs/sharing.md). */
  share: number | null;
  /** `high`, `normal`, `low`, with an optional level (`high:5`); null: normal. */
  priority: string | null;
  /** The share is also a cap, even on an idle card (`gpupool run --share-limit`). */
  limit: boolean;
}

export const NO_REQUEST: JobRequest = { mem: null, share: null, priority: null, limit: false };

/** `sharing.defaultQuota`: bytes, or a share of each card. */
export type QuotaSetting = { bytes: number } | { fraction: number };

/** Parses `sharing.defaultQuota`: `4GiB`, `512MiB`, `2000000000`, or `25%` (of each card, more than 0 and at most 100). */
export function parseQuotaSetting(text: string): QuotaSetting {
  const pct = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text);
  if (pct) {
    const value = Number(pct[1]);
    if (value > 0 && value <= 100) return { fraction: value / 100 };
  } else {
    const bytes = parseBytes(text);
    if (bytes !== null) return { bytes };
  }
  throw new GpupoolError(
    ErrorCodes.CONFIG_INVALID,
    `sharing.defaultQuota "${text}": expected a size in bytes (4GiB, 512MiB, 2000000000) or a share of each card (25%), more than 0`,
    { details: { key: 'sharing.defaultQuota' } },
  );
}

export interface Card {
  ordinal: number;
  totalMem: number;
}

/** Why a handshake is refused (close 4004 and this text). */
export class QuotaRefusal extends Error {}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/**
 * The session's quota on each card, by ordinal: the request's `mem` on every card, or the default
 * quota, either capped by the tenant's `quota=`. Throws QuotaRefusal when a request is over the
 * tenant's quota or larger than a card.
 */
export function sessionQuota(request: JobRequest, cards: Card[], defaultQuota: QuotaSetting, tenant: { name: string | null; quota: number | null }): number[] {
  if (request.mem !== null) {
    if (tenant.quota !== null && request.mem > tenant.quota) {
      throw new QuotaRefusal(`request of ${request.mem} bytes is over tenant ${tenant.name ?? '?'}'s quota of ${tenant.quota} bytes`);
    }
    for (const card of cards) {
      if (request.mem > card.totalMem) throw new QuotaRefusal(`request of ${request.mem} bytes is larger than card ${card.ordinal} (${card.totalMem} bytes)`);
    }
    return cards.map(() => request.mem!);
  }
  return cards.map((card) => {
    const base = 'bytes' in defaultQuota ? defaultQuota.bytes : Math.floor(card.totalMem * defaultQuota.fraction);
    // Never more than the card, nor than the tenant may hold.
    return Math.min(base, card.totalMem, tenant.quota ?? Number.POSITIVE_INFINITY);
  });
}

/**
 * Committed quota per card across live sessions. Without overcommit, a session is admitted only when
 * its quota fits every card's uncommitted memory (the request applies to every card the session uses).
 */
export class QuotaLedger {
  private readonly committed: number[];

  constructor(
    private readonly cards: Card[],
    private readonly overcommit: boolean,
  ) {
    this.committed = cards.map(() => 0);
  }

  /** Commits `quota` (per card) or throws QuotaRefusal; the caller must release() exactly once after. */
  commit(quota: number[]): void {
    if (!this.overcommit) {
      for (const card of this.cards) {
        const want = quota[card.ordinal] ?? 0;
        const room = card.totalMem - this.committed[card.ordinal]!;
        if (want > room) {
          throw new QuotaRefusal(`no card has room for ${want} bytes: card ${card.ordinal} has ${Math.max(room, 0)} of ${card.totalMem} bytes uncommitted (${gib(Math.max(room, 0))})`);
        }
      }
    }
    quota.forEach((q, i) => {
      if (i < this.committed.length) this.committed[i]! += q;
    });
  }

  release(quota: number[]): void {
    quota.forEach((q, i) => {
      if (i < this.committed.length) this.committed[i] = Math.max(0, this.committed[i]! - q);
    });
  }

  status(): { ordinal: number; totalMem: number; committed: number }[] {
    return this.cards.map((c) => ({ ordinal: c.ordinal, totalMem: c.totalMem, committed: this.committed[c.ordinal]! }));
  }
}
