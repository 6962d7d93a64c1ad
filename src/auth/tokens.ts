import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';
import { parsePriority } from '../sharing/priority.js';
import type { QuotaSetting } from '../sharing/quota.js';

/** The most sessions a `sessions=` may allow (as `sharing.tenantMaxSessions`). */
const MAX_TENANT_SESSIONS = 100_000;

/**
 * The token file (`auth.tokens`, `gpupool daemon --tokens FILE`): one line per tenant token or
 * client certificate,
 *
 *     TENANT sha256:HEX [key=value ...]     a bearer token
 *     TENANT cert=CN [key=value ...]        a client certificate (tls.clientCa) whose subject CN is CN
 *
 * HEX is the SHA-256 of the token's UTF-8 bytes, so the file holds no secret: reading it does not
 * let anyone connect. Writing it does (a new line is a new tenant), so it must be writable by the
 * daemon's administrator only (docs/security.md). `#` starts a comment; blank lines are skipped.
 */

/** Tokens `gpupool token new` makes: this prefix, then 32 random bytes as base64url. */
export const TOKEN_PREFIX = 'gpt_';
const TOKEN_BYTES = 32;

/** Letters, digits, `.`, `_`, `-`; it shows in logs and status, so nothing that needs quoting. */
export const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * A tenant's limits as the file states them. `quota` caps each session's memory quota (src/sharing/quota.ts),
 * `cards` limits which cards placement gives its sessions (src/compute/endpoint.ts), `priority` is the
 * scheduler's ceiling (src/sharing/priority.ts). null: the key was not given.
 */
export interface TenantLimits {
  /** The cards the tenant may use: indexes (numbers) or UUIDs (strings), as written. */
  cards: (number | string)[] | null;
  /** Device memory one of the tenant's sessions may ask for per card, in bytes. */
  quota: number | null;
  /** The highest priority the tenant's sessions get, as written (`high`, `normal:2`, `low`; src/sharing/priority.ts). */
  priority: string | null;
  /** Sessions the tenant may hold at once (src/sharing/tenant-limits.ts); null: `sharing.tenantMaxSessions`. */
  sessions: number | null;
  /** Memory quota the tenant's sessions may hold together, bytes or a share of the host's cards; null: `sharing.tenantMaxMemory`. */
  memory: QuotaSetting | null;
}

/** Subject CNs a `cert=` line may name: what the file's whitespace-separated syntax can hold. */
export const CERT_NAME_PATTERN = /^[^\s#=]{1,64}$/;

export interface TokenEntry {
  tenant: string;
  /** SHA-256 of the token: 32 bytes; null on a `cert=` line. */
  digest: Buffer | null;
  /** The client certificate's subject CN a `cert=` line names; null on a token line. */
  cert: string | null;
  limits: TenantLimits;
  /** Where the line is, for messages: `FILE:LINE`. */
  where: string;
}

export interface TokenTable {
  path: string;
  entries: TokenEntry[];
}

/** Limits a line may carry after the hash; anything else (but cert=) is an error, so a typo never goes unnoticed. */
export const LIMIT_KEYS = ['cards', 'quota', 'priority', 'sessions', 'memory'] as const;
const KNOWN_KEYS = ['cert', ...LIMIT_KEYS].join(', ');
type LimitKey = (typeof LIMIT_KEYS)[number];

const UNITS: Record<string, number> = {
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  ki: 1024,
  mi: 1024 ** 2,
  gi: 1024 ** 3,
  ti: 1024 ** 4,
};

/** A fresh token: 256 bits from the OS's CSPRNG, base64url, prefixed so that it is recognisable in a leak scan. */
export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString('base64url');
}

export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The file line for a token (the hash only, never the token) and optional limits. */
export function tokenLine(tenant: string, token: string, limits: Partial<Record<LimitKey, string>> = {}): string {
  const extra = LIMIT_KEYS.filter((k) => limits[k] !== undefined).map((k) => ` ${k}=${limits[k]}`);
  return `${tenant} sha256:${tokenDigest(token).toString('hex')}${extra.join('')}`;
}

/** `8GiB`, `512MiB`, `1.5GB`, `1000000`: bytes, binary (KiB, Ki...) or decimal (KB, K...) units, any case. */
export function parseBytes(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!m) return null;
  const unit = m[2]!.toLowerCase();
  const scale = unit === '' ? 1 : UNITS[unit];
  if (scale === undefined) return null;
  const bytes = Number(m[1]) * scale;
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : null;
}

/** `4GiB`, `512MiB`, `2000000000`, or `25%` (more than 0 and at most 100); null otherwise. */
export function parseSizeOrShare(text: string): QuotaSetting | null {
  const pct = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text);
  if (pct) {
    const value = Number(pct[1]);
    return value > 0 && value <= 100 ? { fraction: value / 100 } : null;
  }
  const bytes = parseBytes(text);
  return bytes === null ? null : { bytes };
}

function invalid(where: string, message: string, details: Record<string, unknown> = {}): GpupoolError {
  return new GpupoolError(ErrorCodes.TOKENS_INVALID, `${where}: ${message}`, { details: { where, ...details } });
}

function parseLimit(key: LimitKey, value: string, where: string, limits: TenantLimits): void {
  switch (key) {
    case 'cards': {
      const items = value.split(',').map((s) => s.trim());
      if (items.some((s) => s === '')) throw invalid(where, `cards=${value}: expected a comma-separated list of card indexes or UUIDs`, { key });
      const cards: (number | string)[] = [];
      for (const item of items) {
        if (/^\d+$/.test(item)) cards.push(Number(item));
        else if (/^[A-Za-z0-9][A-Za-z0-9:._-]*$/.test(item)) cards.push(item);
        else throw invalid(where, `cards=${value}: "${item}" is neither a card index nor a UUID`, { key });
      }
      if (new Set(cards).size !== cards.length) throw invalid(where, `cards=${value}: a card is listed twice`, { key });
      limits.cards = cards;
      return;
    }
    case 'quota': {
      const bytes = parseBytes(value);
      if (bytes === null) throw invalid(where, `quota=${value}: expected a positive size in bytes, such as 8GiB, 512MiB or 2000000000`, { key });
      limits.quota = bytes;
      return;
    }
    case 'priority':
      if (parsePriority(value) === null) throw invalid(where, `priority=${value}: expected high, normal or low, optionally with a level 0-9 (high:3)`, { key });
      limits.priority = value;
      return;
    case 'sessions': {
      const n = /^\d+$/.test(value) ? Number(value) : NaN;
      if (!(n >= 1 && n <= MAX_TENANT_SESSIONS)) throw invalid(where, `sessions=${value}: expected a whole number of sessions from 1 to ${MAX_TENANT_SESSIONS}`, { key });
      limits.sessions = n;
      return;
    }
    case 'memory': {
      const setting = parseSizeOrShare(value);
      if (setting === null) throw invalid(where, `memory=${value}: expected a size in bytes (64GiB) or a share of the host's cards' memory (50%)`, { key });
      limits.memory = setting;
      return;
    }
  }
}

function sameLimits(a: TenantLimits, b: TenantLimits): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Parses the file's text; the first bad line throws GPUPOOL_TOKENS_INVALID naming `PATH:LINE`. A
 * tenant may have several lines (several tokens, as when rotating one), all with the same limits.
 */
export function parseTokenFile(text: string, path: string): TokenTable {
  const entries: TokenEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const where = `${path}:${i + 1}`;
    // A comment starts at a `#` at the start of the line or after whitespace.
    const content = lines[i]!.replace(/(^|\s)#.*$/, '').trim();
    if (content === '') continue;
    const [tenant, hash, ...rest] = content.split(/\s+/) as [string, string | undefined, ...string[]];
    if (!TENANT_PATTERN.test(tenant)) {
      throw invalid(where, `tenant "${tenant}" must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
    }
    if (hash === undefined) throw invalid(where, `tenant ${tenant} has no token hash: expected "${tenant} sha256:HEX [key=value ...]" or "${tenant} cert=CN [key=value ...]"`);
    let digest: Buffer | null = null;
    let cert: string | null = null;
    const fields = rest;
    if (/^[a-z]+=/.test(hash)) {
      // No hash: a cert= line (its cert= may come anywhere among the keys).
      fields.unshift(hash);
    } else {
      if (hash.startsWith(TOKEN_PREFIX)) {
        // Never echo it: it is a secret that should not have been written here.
        throw invalid(where, `tenant ${tenant}: this is a token itself, not its hash; the file holds sha256:HEX (gpupool token new prints the line)`);
      }
      const m = /^sha256:([0-9a-fA-F]{64})$/.exec(hash);
      if (!m) throw invalid(where, `tenant ${tenant}: expected sha256: and 64 hex digits (the token's SHA-256), got "${hash.length > 80 ? `${hash.slice(0, 80)}...` : hash}"`);
      digest = Buffer.from(m[1]!, 'hex');
    }
    const limits: TenantLimits = { cards: null, quota: null, priority: null, sessions: null, memory: null };
    const seen = new Set<string>();
    for (const field of fields) {
      const eq = field.indexOf('=');
      if (eq <= 0) throw invalid(where, `"${field}" is not key=value (known keys: ${KNOWN_KEYS})`);
      const key = field.slice(0, eq);
      const value = field.slice(eq + 1);
      if (key !== 'cert' && !(LIMIT_KEYS as readonly string[]).includes(key)) {
        throw invalid(where, `unknown key "${key}" (known keys: ${KNOWN_KEYS})`, { key });
      }
      if (seen.has(key)) throw invalid(where, `key "${key}" is given twice`, { key });
      seen.add(key);
      if (key === 'cert') {
        if (digest !== null) throw invalid(where, `tenant ${tenant}: a line holds a token hash or cert=, not both (give each its own line)`, { key });
        if (!CERT_NAME_PATTERN.test(value)) throw invalid(where, `cert=${value}: expected a certificate's subject CN, 1-64 characters without spaces, "#" or "="`, { key });
        cert = value;
      } else {
        parseLimit(key as LimitKey, value, where, limits);
      }
    }
    if (digest === null && cert === null) {
      throw invalid(where, `tenant ${tenant} has no token hash or cert=: expected "${tenant} sha256:HEX [key=value ...]" or "${tenant} cert=CN [key=value ...]"`);
    }
    const twin = digest && entries.find((e) => e.digest?.equals(digest));
    if (twin) throw invalid(where, `this token hash is already on ${twin.where} (tenant ${twin.tenant}): every token belongs to one tenant`);
    const sameCert = cert !== null && entries.find((e) => e.cert === cert);
    if (sameCert) throw invalid(where, `cert=${cert} is already on ${sameCert.where} (tenant ${sameCert.tenant}): every certificate name belongs to one tenant`);
    const sibling = entries.find((e) => e.tenant === tenant);
    if (sibling && !sameLimits(sibling.limits, limits)) {
      throw invalid(where, `tenant ${tenant}'s limits differ from ${sibling.where}: give every line of a tenant the same limits`);
    }
    entries.push({ tenant, digest, cert, limits, where });
  }
  return { path, entries };
}

export function readTokenFile(path: string): TokenTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GpupoolError(ErrorCodes.TOKENS_UNREADABLE, `token file ${path}: ${messageOf(err)}`, { cause: err, details: { path } });
  }
  return parseTokenFile(text, path);
}
