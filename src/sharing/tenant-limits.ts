import type { TenantLimits } from '../auth/tokens.js';
import { gib, settingBytes, type QuotaSetting } from './quota.js';

/**
 * What one tenant may hold of a host at once (docs/security.md, "Tenant limits"): sessions, and memory
 * quota committed over all cards together. The defaults (`sharing.tenantMaxSessions`,
 * `sharing.tenantMaxMemory`) keep room for other tenants; a token file line's `sessions=` and
 * `memory=` replace them for its tenant. Sessions without a tenant (a daemon with neither tokens nor
 * client certificates) are not limited: every local user is the same nobody there.
 */

export interface TenantDefaults {
  sessions: number;
  memory: QuotaSetting;
}

/** What a tenant holds now: its admitted sessions, and the quota they hold committed over all cards. */
export interface TenantHolding {
  sessions: number;
  memory: number;
}

export interface TenantCaps {
  sessions: number;
  /** Bytes. */
  memory: number;
  /** Where each cap comes from, for the refusal: the tenant's own line or the daemon's default. */
  from: { sessions: string; memory: string };
}

/** The tenant's caps on a host whose cards hold `hostMemory` bytes together. */
export function tenantCaps(limits: TenantLimits | null, defaults: TenantDefaults, hostMemory: number): TenantCaps {
  const memory = limits?.memory ?? defaults.memory;
  return {
    sessions: limits?.sessions ?? defaults.sessions,
    memory: settingBytes(memory, hostMemory),
    from: {
      sessions: limits?.sessions != null ? 'its sessions=' : 'sharing.tenantMaxSessions',
      memory: limits?.memory != null ? 'its memory=' : 'sharing.tenantMaxMemory',
    },
  };
}

/** Why the tenant may not open one more session now: a reason for the refusal (close 4004); null: it may. */
export function sessionOverLimit(tenant: string, caps: TenantCaps, held: TenantHolding): string | null {
  if (held.sessions < caps.sessions) return null;
  return `tenant ${tenant} holds ${held.sessions} session(s), its limit (${caps.from.sessions})`;
}

/** Why the tenant may not commit `adding` more bytes of quota now; null: it may. */
export function memoryOverLimit(tenant: string, caps: TenantCaps, held: TenantHolding, adding: number): string | null {
  if (held.memory + adding <= caps.memory) return null;
  return `tenant ${tenant} holds ${gib(held.memory)} of quota; ${gib(adding)} more is over its limit of ${gib(caps.memory)} (${caps.from.memory})`;
}
