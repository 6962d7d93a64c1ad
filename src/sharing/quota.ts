import { handshakeKey } from '../protocol/frames.js';
import type { Workload } from './workload.js';
import { parseSizeOrShare } from '../auth/tokens.js';
import { ErrorCodes, GpupoolError } from '../errors.js';
import type { Policy } from './placement.js';
import { formatBytes } from '../units.js';

/**
 * Memory quotas (docs/operations.md, "Memory quotas"): what a job asks for, what it gets on each card,
 * and how much of each card the daemon has promised to live sessions.
 */

/** What a client asks for in HELLO's `request` (GPUPOOL_REQUEST, `gpupool run --mem/--gpus/...`). */
export interface JobRequest {
  /** Device memory per card, in bytes; null: the daemon's default quota. */
  mem: number | null;
  /** Share of each card's compute under contention, (0, 1]; null: `sharing.defaultShare` (docs/sharing.md). */
  share: number | null;
  /** `high`, `normal`, `low`, with an optional level (`high:5`); null: normal. */
  priority: string | null;
  /** The share is also a cap, even on an idle card (`gpupool run --share-limit`). */
  limit: boolean;
  /** Cards wanted from this daemon; null: one (docs/operations.md, "Placement"). */
  gpus: number | 'all' | null;
  /** How this daemon picks the cards; null: its `sharing.placement`. */
  policy: Policy | null;
  /** Seconds the daemon may hold the handshake until cards have room; null or 0: refuse at once. */
  wait: number | null;
  /** Who the job is (workload.ts); absent when the job named nothing. */
  workload?: Workload;
  /** The only cards (CUDA ordinals) the session may be given, as a DRA allocation names them; absent: any. */
  cards?: number[];
}

export const NO_REQUEST: JobRequest = { mem: null, share: null, priority: null, limit: false, gpus: null, policy: null, wait: null };

/**
 * The most cards one request may name, and the longest wait (a day): beyond them a request is
 * malformed. Stated once, in the handshake's table (src/protocol/frames.ts), which the client library's
 * codec is generated from.
 */
export const MAX_GPUS = handshakeKey('request', 'gpus').max!;
export const MAX_WAIT_S = handshakeKey('request', 'wait').max!;

/** `sharing.defaultQuota`: bytes, or a share of each card. */
export type QuotaSetting = { bytes: number } | { fraction: number };

/** Parses a size setting of the configuration (`sharing.defaultQuota`, `sharing.tenantMaxMemory`): bytes, or a share of the memory it is counted against. */
export function parseQuotaSetting(text: string, key = 'sharing.defaultQuota', of = 'each card'): QuotaSetting {
  const setting = parseSizeOrShare(text);
  if (setting !== null) return setting;
  throw new GpupoolError(
    ErrorCodes.CONFIG_INVALID,
    `${key} "${text}": expected a size in bytes (4GiB, 512MiB, 2000000000) or a share of ${of} (25%), more than 0`,
    { details: { key } },
  );
}

/** A size setting in bytes, given the memory a share of it is taken of. */
export function settingBytes(setting: QuotaSetting, total: number): number {
  return 'bytes' in setting ? setting.bytes : Math.floor(total * setting.fraction);
}

export interface Card {
  ordinal: number;
  totalMem: number;
}

/** Why a handshake is refused (close 4004 and this text). */
export class QuotaRefusal extends Error {}

/** Sizes in refusal reasons: `8.00 GiB`, `512 MiB` (a person reads them in a job's stderr). */
export function gib(bytes: number): string {
  return formatBytes(bytes, 2);
}

/**
 * The quota a session would have on each card, by ordinal: the request's `mem`, or the default quota,
 * either capped by the tenant's `quota=`. Throws QuotaRefusal when the request is over the tenant's
 * quota. A `mem` larger than a card is left as asked: placement does not pick that card.
 */
export function sessionQuota(request: JobRequest, cards: Card[], defaultQuota: QuotaSetting, tenant: { name: string | null; quota: number | null }): number[] {
  if (request.mem !== null) {
    if (tenant.quota !== null && request.mem > tenant.quota) {
      throw new QuotaRefusal(`request of ${gib(request.mem)} is over tenant ${tenant.name ?? '?'}'s quota of ${gib(tenant.quota)}`);
    }
    return cards.map(() => request.mem!);
  }
  return cards.map((card) => {
    const base = 'bytes' in defaultQuota ? defaultQuota.bytes : Math.floor(card.totalMem * defaultQuota.fraction);
    // Never more than the card, nor than the tenant may hold.
    return Math.min(base, card.totalMem, tenant.quota ?? Number.POSITIVE_INFINITY);
  });
}

/** What live sessions hold of one card: quota, compute shares and their number. */
export interface CardCommitment {
  ordinal: number;
  totalMem: number;
  /** Bytes of quota committed to live sessions. */
  committed: number;
  /** The sum of their shares (a session that asked for none counts as DEFAULT_SHARE). */
  shares: number;
  sessions: number;
}

/**
 * Committed quota, shares and sessions per card across live sessions. A session holds the cards whose
 * quota entry is more than 0. Without overcommit, a commitment must fit each card's uncommitted memory
 * (placement has already chosen cards where it does; this is the last word).
 */
export class QuotaLedger {
  private readonly held: CardCommitment[];

  constructor(
    cards: Card[],
    private readonly overcommit: boolean,
  ) {
    this.held = cards.map((c) => ({ ordinal: c.ordinal, totalMem: c.totalMem, committed: 0, shares: 0, sessions: 0 }));
  }

  /** Commits `quota` (by ordinal; 0: a card not given) and `share` on each card given, or throws QuotaRefusal; release() it exactly once after. */
  commit(quota: number[], share: number): void {
    if (!this.overcommit) {
      for (const card of this.held) {
        const want = quota[card.ordinal] ?? 0;
        const room = card.totalMem - card.committed;
        if (want > room) {
          throw new QuotaRefusal(`no card has room for ${gib(want)}: card ${card.ordinal} has ${gib(Math.max(room, 0))} of ${gib(card.totalMem)} uncommitted`);
        }
      }
    }
    this.apply(quota, share, 1);
  }

  release(quota: number[], share: number): void {
    this.apply(quota, share, -1);
  }

  private apply(quota: number[], share: number, sign: 1 | -1): void {
    quota.forEach((q, i) => {
      const card = this.held[i];
      if (card === undefined || q <= 0) return;
      card.committed = Math.max(0, card.committed + sign * q);
      // Rounded so that adding and removing 0.1 many times leaves 0, not 1e-17.
      card.shares = Math.max(0, Math.round((card.shares + sign * share) * 1e9) / 1e9);
      card.sessions = Math.max(0, card.sessions + sign);
    });
  }

  status(): CardCommitment[] {
    return this.held.map((c) => ({ ...c }));
  }
}
