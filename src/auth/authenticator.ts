import { statSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { ErrorCodes, messageOf } from '../errors.js';
import type { DaemonConfig } from '../config/schema.js';
import { FailureLimiter } from './rate-limit.js';
import { TENANT_PATTERN, readTokenFile, tokenDigest, type TenantLimits, type TokenEntry, type TokenTable } from './tokens.js';

/** Reasons a handshake is refused; they travel as the close reason (4003), so the client's user sees them. */
export const RefusalReasons = {
  MISSING: 'authentication required (set GPUPOOL_TOKEN, or gpupool run --token)',
  UNKNOWN: 'unknown token',
  BLOCKED: 'too many failed attempts; try again later',
  NO_CERTIFICATE: 'a client certificate signed by the daemon\'s CA is required (GPUPOOL_TLS_CERT, GPUPOOL_TLS_KEY)',
} as const;

/** The settings the authenticator reads: `auth`, and whether TLS client certificates are required (`tls.clientCa`). */
export type AuthOptions = Pick<DaemonConfig['auth'], 'tokens' | 'maxFailures' | 'failureWindowMs'> & { certificates?: boolean };

export type AuthResult =
  | { ok: true; tenant: string | null; limits: TenantLimits | null }
  /** `blocked`: the address is over its failures; the refusal is throttled, not counted. */
  | { ok: false; reason: string; blocked?: boolean };

/** A peer's address as the rate limit counts it: an IPv4-mapped IPv6 address is its IPv4 address. */
export function peerKey(address: string | undefined): string {
  const a = address ?? '?';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/**
 * Who may open a compute session. Without a token file or client certificates everyone may (the
 * daemon then listens on loopback only, see exposure.ts). With a token file, a client must present a
 * token whose SHA-256 is on a line of the file, and the line's tenant is the session's. With client
 * certificates (the TLS layer has already checked them against `tls.clientCa`), a client that sends
 * no token is the tenant its certificate names: the token file's `cert=CN` line, or else the CN
 * itself. The table is replaced whole on reload(), so a handshake sees either the old file or the
 * new one, never a mix.
 */
export class Authenticator {
  private table: TokenTable | null;
  private readonly limiter: FailureLimiter;
  private readonly certificates: boolean;

  constructor(
    private readonly options: AuthOptions,
    private readonly logger: Logger,
    table: TokenTable | null = null,
    now?: () => number,
  ) {
    if (options.tokens !== null && table === null) table = readTokenFile(options.tokens);
    this.table = table;
    this.certificates = options.certificates ?? false;
    this.limiter = new FailureLimiter(options.maxFailures, options.failureWindowMs, undefined, now);
    if (table) this.checkPermissions(table.path);
  }

  get enabled(): boolean {
    return this.table !== null || this.certificates;
  }

  /** Tenant names in the file, each once (never their hashes). */
  tenants(): string[] {
    return [...new Set(this.table?.entries.map((e) => e.tenant) ?? [])];
  }

  /** Whether `peer` has used up its failures (its failed handshakes are then answered late, see the endpoint). */
  blocked(peer: string): boolean {
    return this.enabled && this.limiter.blocked(peer);
  }

  /**
   * Checks a HELLO's token, or the connection's client certificate. `certificate` is the subject CN
   * of a certificate the TLS layer verified (null: none). A token, when the daemon has a token file,
   * decides the tenant; without one, the certificate does. Every token entry is compared, in
   * constant time on the digests, whatever matched: how long this takes says nothing about the
   * token or about which line it is close to. An address over its failures is still checked: a valid
   * token or certificate gets in whoever else failed from that address (a NAT, a shared login node);
   * its failures are refused as blocked and not counted.
   */
  check(token: string | null, peer: string, certificate: string | null = null): AuthResult {
    if (!this.enabled) return { ok: true, tenant: null, limits: null };
    const result = this.identify(token, certificate);
    if (result.ok) return result;
    if (this.limiter.blocked(peer)) return { ok: false, reason: RefusalReasons.BLOCKED, blocked: true };
    return this.fail(peer, result.reason);
  }

  /** Who the token or certificate names, counting nothing. */
  private identify(token: string | null, certificate: string | null): AuthResult {
    const hasToken = token !== null && token !== '';
    if (this.certificates && !(hasToken && this.table)) return this.checkCertificate(certificate);
    if (!this.table) return { ok: true, tenant: null, limits: null };
    if (!hasToken) return { ok: false, reason: RefusalReasons.MISSING };
    const digest = tokenDigest(token);
    let found: TokenEntry | null = null;
    for (const entry of this.table.entries) {
      if (entry.digest === null) continue;
      if (timingSafeEqual(entry.digest, digest) && found === null) found = entry;
    }
    if (!found) return { ok: false, reason: RefusalReasons.UNKNOWN };
    return { ok: true, tenant: found.tenant, limits: found.limits };
  }

  /** The tenant of a verified client certificate: its `cert=` line's, or its CN when that is a tenant name. */
  private checkCertificate(cn: string | null): AuthResult {
    if (cn === null) return { ok: false, reason: RefusalReasons.NO_CERTIFICATE };
    const mapped = this.table?.entries.find((e) => e.cert === cn);
    if (mapped) return { ok: true, tenant: mapped.tenant, limits: mapped.limits };
    if (TENANT_PATTERN.test(cn)) return { ok: true, tenant: cn, limits: null };
    const shown = JSON.stringify(cn.length > 40 ? `${cn.slice(0, 40)}...` : cn);
    return { ok: false, reason: `certificate CN ${shown} is not a tenant name; map it with a cert= line` };
  }

  private fail(peer: string, reason: string): AuthResult & { ok: false } {
    const failures = this.limiter.fail(peer);
    if (failures === this.limiter.max) {
      this.logger.warn(
        { peer, failures, windowMs: this.limiter.windowMs, code: ErrorCodes.AUTH_REFUSED },
        'too many failed handshakes from this address; its failures are answered late until they age out (valid tokens still get in)',
      );
    }
    return { ok: false, reason };
  }

  /**
   * Reads the token file again (SIGHUP). A file that cannot be read or parsed leaves the tokens in
   * force as they were: a typo while editing must not lock every tenant out, nor let anyone in.
   * Sessions already open are not ended; a revoked token is refused from its next connection on.
   */
  reload(): boolean {
    const path = this.options.tokens;
    if (path === null) {
      this.logger.info('no token file configured (auth.tokens): nothing to reload');
      return false;
    }
    let table: TokenTable;
    try {
      table = readTokenFile(path);
    } catch (err) {
      this.logger.error({ err: messageOf(err), code: (err as { code?: string }).code, path }, 'token file not reloaded; the previous tokens stay in force');
      return false;
    }
    const before = new Set(this.tenants());
    this.table = table;
    this.checkPermissions(path);
    const after = this.tenants();
    this.logger.info(
      {
        path,
        tenants: after.length,
        tokens: table.entries.length,
        added: after.filter((t) => !before.has(t)),
        removed: [...before].filter((t) => !after.includes(t)),
      },
      'token file reloaded',
    );
    return true;
  }

  /** The file holds no secret, but whoever can write it can add a tenant. */
  private checkPermissions(path: string): void {
    try {
      const mode = statSync(path).mode;
      if ((mode & 0o022) !== 0) {
        this.logger.warn({ path, mode: `0${(mode & 0o777).toString(8)}` }, 'the token file is writable by group or others: whoever can write it can add a tenant (chmod 600)');
      }
    } catch {
      // It was just read; a race with its removal shows up at the next reload.
    }
  }
}
