import type { Logger } from 'pino';
import type { TenantLimits } from '../auth/tokens.js';
import { ErrorCodes, messageOf } from '../errors.js';
import { AdmissionQueue } from '../sharing/admission.js';
import { placeSession, type PlacementCard, type Policy } from '../sharing/placement.js';
import { QuotaLedger, QuotaRefusal, sessionQuota, type QuotaSetting } from '../sharing/quota.js';
import { memoryOverLimit, sessionOverLimit, tenantCaps, type TenantDefaults, type TenantHolding } from '../sharing/tenant-limits.js';
import type { Client, Tenant } from './client.js';
import { CloseCodes, closeReason, type Hello } from './handshake.js';
import { WaitProgress, encodeRefused } from './handshake-notices.js';
import type { ScheduledCard } from './session-status.js';

type Outcome = { ok: true } | { ok: false; reason: string; final: boolean; code: string };

/** What admission decides with (config `sharing`, the daemon's cards and clients). */
export interface AdmissionContext {
  ledger: QuotaLedger;
  defaultQuota: QuotaSetting;
  tenantDefaults: TenantDefaults;
  sharing: { overcommit: boolean; placement: Policy; defaultShare: number };
  cards: () => ScheduledCard[];
  clients: () => Iterable<Client>;
  /** Starts the session of a client whose quota is committed; throws if it cannot. */
  start: (client: Client, hello: Hello, log: Logger) => void;
}

/**
 * Whether a client that said HELLO gets a session now, waits for room (its request's `wait`), or is
 * refused with close 4004 and the reason; and the quota it commits, given back when it is freed.
 */
export class SessionAdmission {
  private readonly waiting = new AdmissionQueue();

  constructor(private readonly ctx: AdmissionContext) {}

  /**
   * Places the session now, or (with a request's `wait`) holds the handshake and tries again each time
   * a session ends or a card's health changes, or refuses it.
   */
  admitOrWait(client: Client, hello: Hello, tenant: Tenant, log: Logger): void {
    const first = this.admit(client, hello, tenant, log);
    if (first.ok) return;
    const waitS = client.info.request.wait ?? 0;
    if (first.final || waitS === 0) {
      this.refuse(client, first, log);
      return;
    }
    let last = first;
    client.info.state = 'waiting';
    log.info({ reason: first.reason, waitS, request: client.info.request }, 'waiting for cards with room');
    const progress = client.notices ? new WaitProgress((m) => client.ws.readyState === client.ws.OPEN && client.ws.send(m), waitS) : null;
    progress?.update(first.reason);
    const withdraw = this.waiting.add(
      () => {
        if (client.ws.readyState !== client.ws.OPEN) return true;
        let next: Outcome;
        try {
          next = this.admit(client, hello, tenant, log);
        } catch (err) {
          // Called when another session ends: its failure is this client's alone.
          log.warn({ err: messageOf(err) }, 'handshake refused');
          client.ws.close(CloseCodes.PROTOCOL_ERROR, closeReason(messageOf(err)));
          return true;
        }
        if (next.ok || next.final) progress?.stop();
        if (next.ok) return true;
        if (next.final) {
          this.refuse(client, next, log);
          return true;
        }
        last = next;
        progress?.update(next.reason);
        return false;
      },
      waitS * 1000,
      () => {
        client.withdraw = null;
        progress?.stop();
        this.refuse(client, { ...last, reason: `waited ${waitS} s: ${last.reason}` }, log);
      },
    );
    client.withdraw = () => {
      withdraw();
      progress?.stop();
    };
  }

  /** Gives back what the client held, and lets waiting clients try again. */
  release(client: Client): void {
    if (!client.quota) return;
    this.ctx.ledger.release(client.quota, client.share);
    client.quota = null;
    this.retry();
  }

  /** Tries the waiting clients again: something that may have made room happened (a card healthy again). */
  retry(): void {
    this.waiting.retry();
  }

  /** The daemon is closing: nobody waits any more. */
  clear(): void {
    this.waiting.clear();
  }

  /** Chooses the session's cards, commits its quota on them and starts it; or says why it cannot. */
  private admit(client: Client, hello: Hello, tenant: Tenant, log: Logger): Outcome {
    const { sharing } = this.ctx;
    const request = client.info.request;
    const cards = this.ctx.cards();
    let quota: number[];
    try {
      quota = sessionQuota(request, cards, this.ctx.defaultQuota, { name: tenant.name, quota: tenant.limits?.quota ?? null });
    } catch (err) {
      if (!(err instanceof QuotaRefusal)) throw err;
      return { ok: false, final: true, reason: err.message, code: ErrorCodes.QUOTA_REFUSED };
    }
    const share = request.share ?? sharing.defaultShare;
    const caps = tenant.name === null ? null : tenantCaps(tenant.limits, this.ctx.tenantDefaults, cards.reduce((n, c) => n + c.totalMem, 0));
    const held = tenant.name === null ? null : this.holding(tenant.name);
    const overSessions = caps && held ? sessionOverLimit(tenant.name!, caps, held) : null;
    if (overSessions) return { ok: false, final: false, reason: overSessions, code: ErrorCodes.TENANT_LIMIT };
    // The tenant's cards, and of those the ones the request names (a DRA allocation's card).
    const tenantAllowed = tenantCards(tenant.limits);
    const named = request.cards;
    const allowed = named
      ? (card: PlacementCard) => named.includes(card.ordinal) && (tenantAllowed === null || tenantAllowed(card))
      : tenantAllowed;
    const placement = placeSession(cards, {
      gpus: request.gpus ?? 1,
      policy: request.policy ?? sharing.placement,
      quota,
      share,
      overcommit: sharing.overcommit,
      ...(allowed ? { allowed } : {}),
    });
    if (!placement.ok) return { ...placement, code: ErrorCodes.NO_ROOM };
    const given = quota.map((q, ordinal) => (placement.ordinals.includes(ordinal) ? q : 0));
    const overMemory = caps && held ? memoryOverLimit(tenant.name!, caps, held, given.reduce((n, q) => n + q, 0)) : null;
    if (overMemory) return { ok: false, final: false, reason: overMemory, code: ErrorCodes.TENANT_LIMIT };
    // Committed here, before the session exists, and released when it is freed.
    this.ctx.ledger.commit(given, share);
    client.quota = given;
    client.share = share;
    try {
      this.ctx.start(client, hello, log);
    } catch (err) {
      // A session that could not start holds nothing.
      this.release(client);
      throw err;
    }
    return { ok: true };
  }

  /** The sessions a tenant has admitted now, and the quota they hold committed over all cards. */
  private holding(tenant: string): TenantHolding {
    const held = { sessions: 0, memory: 0 };
    for (const c of this.ctx.clients()) {
      if (c.info.tenant !== tenant || !c.quota) continue;
      held.sessions++;
      held.memory += c.quota.reduce((n, q) => n + q, 0);
    }
    return held;
  }

  private refuse(client: Client, refusal: { reason: string; code: string }, log: Logger): void {
    const { info } = client;
    const msg = { [ErrorCodes.QUOTA_REFUSED]: 'handshake refused: memory quota', [ErrorCodes.TENANT_LIMIT]: "handshake refused: the tenant's limit" }[refusal.code] ?? 'handshake refused: no card has room';
    log.warn({ code: refusal.code, reason: refusal.reason, request: info.request, tenant: info.tenant, program: info.program }, msg);
    // The whole reason first, for clients that take notices; the close frame's is cut to 123 bytes.
    if (client.notices) client.ws.send(encodeRefused(CloseCodes.NO_DEVICE, refusal.reason));
    client.ws.close(CloseCodes.NO_DEVICE, closeReason(refusal.reason));
  }
}

/** A tenant's `cards=` (docs/security.md) as a filter: CUDA ordinals or UUIDs; null: every card. */
function tenantCards(limits: TenantLimits | null): ((card: PlacementCard) => boolean) | null {
  const list = limits?.cards;
  if (!list) return null;
  return (card) => list.some((x) => (typeof x === 'number' ? x === card.ordinal : card.uuid !== null && x.toLowerCase() === card.uuid.toLowerCase()));
}
