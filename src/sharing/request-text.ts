import { handshakeKey } from '../protocol/frames.js';
import { parseBytes } from '../auth/tokens.js';
import { ErrorCodes, GpupoolError } from '../errors.js';
import { POLICIES, SHARE_RANGE, validShare, type Policy } from './placement.js';
import { MAX_GPUS, MAX_WAIT_S, NO_REQUEST, type JobRequest } from './quota.js';
import { parsePriority } from './priority.js';
import { isWorkloadKey, parseWorkloadName, WORKLOAD_KEYS, WORKLOAD_MAX } from './workload.js';

/**
 * GPUPOOL_REQUEST's text, `mem=8GiB,share=0.25,priority=high,gpus=2,policy=binpack,wait=60`
 * (docs/operations.md), as `gpupool run` reads and writes it. The client library reads it with the
 * same rules (native/shim/conn.c), and is the one that sends it.
 */

export const REQUEST_KEYS = ['mem', 'share', 'limit', 'priority', 'gpus', 'policy', 'wait', 'cards', ...WORKLOAD_KEYS] as const;
export type RequestKey = (typeof REQUEST_KEYS)[number];

function bad(message: string): GpupoolError {
  return new GpupoolError(ErrorCodes.USAGE, message);
}

/** `gpus`: a number of cards from 1 to MAX_GPUS, or `all`; null when it is neither. */
export function parseGpus(text: string): number | 'all' | null {
  if (text === 'all') return 'all';
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= MAX_GPUS ? n : null;
}

/** `wait`: whole seconds from 0 to MAX_WAIT_S; null otherwise. */
export function parseWait(text: string): number | null {
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return n <= MAX_WAIT_S ? n : null;
}

/** `share`: a number from MIN_SHARE to 1; null otherwise. */
export function parseShare(text: string): number | null {
  const share = Number(text);
  return text.trim() !== '' && validShare(share) ? share : null;
}

/** The most ordinals `cards` may list, and the highest (the handshake's table, src/protocol/frames.ts). */
export const MAX_REQUEST_CARDS = handshakeKey('request', 'cards').max!;
export const MAX_ORDINAL = handshakeKey('request', 'cards').itemMax!;

/** `cards`: CUDA ordinals joined by `+` (`0+2`: `,` and `&` separate keys); null otherwise. */
export function parseCards(text: string): number[] | null {
  const parts = text.split('+');
  if (parts.length > MAX_REQUEST_CARDS || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= MAX_ORDINAL)) return null;
  return parts.map(Number);
}

/** `limit`: yes/no, true/false, 1/0; null otherwise. */
export function parseLimit(text: string): boolean | null {
  if (['yes', 'true', '1'].includes(text)) return true;
  if (['no', 'false', '0'].includes(text)) return false;
  return null;
}

export function parsePolicy(text: string): Policy | null {
  return (POLICIES as readonly string[]).includes(text) ? (text as Policy) : null;
}

/** Each `key=value` of the text, in order; the last of a key wins, as in the client library. */
function items(text: string | undefined): [string, string][] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((item) => {
      const eq = item.indexOf('=');
      if (eq < 0) throw bad(`GPUPOOL_REQUEST="${text}": "${item}" is not key=value (keys: ${REQUEST_KEYS.join(', ')})`);
      return [item.slice(0, eq).trim(), item.slice(eq + 1).trim()];
    });
}

function orThrow<T>(value: T | null, error: () => Error): T {
  if (value === null) throw error();
  return value;
}

/** Throws a GpupoolError (GPUPOOL_USAGE) naming the key and value that are wrong. */
export function parseRequestText(text: string | undefined): JobRequest {
  const out: JobRequest = { ...NO_REQUEST };
  const where = `GPUPOOL_REQUEST="${text}"`;
  for (const [key, value] of items(text)) {
    const wrong = (what: string) => bad(`${where}: ${key}=${value} is not ${what}`);
    switch (key) {
      case 'mem':
        out.mem = orThrow(parseBytes(value), () => wrong('a size in bytes (e.g. 8GiB, 512MiB, 2000000000)'));
        break;
      case 'share':
        out.share = orThrow(parseShare(value), () => wrong(SHARE_RANGE));
        break;
      case 'limit':
        out.limit = orThrow(parseLimit(value), () => wrong('yes or no'));
        break;
      case 'priority':
        if (parsePriority(value) === null) throw wrong('high, normal or low, optionally with a level 0-9 (high:5)');
        out.priority = value;
        break;
      case 'gpus':
        out.gpus = orThrow(parseGpus(value), () => wrong(`a number of cards from 1 to ${MAX_GPUS}, or all`));
        break;
      case 'policy':
        out.policy = orThrow(parsePolicy(value), () => wrong(POLICIES.join(' or ')));
        break;
      case 'wait':
        out.wait = orThrow(parseWait(value), () => wrong(`a whole number of seconds from 0 to ${MAX_WAIT_S}`));
        break;
      case 'cards':
        out.cards = orThrow(parseCards(value), () => wrong(`card ordinals 0-${MAX_ORDINAL} joined by + (e.g. 0+2)`));
        break;
      default:
        if (!isWorkloadKey(key)) throw bad(`${where}: unknown key "${key}" (keys: ${REQUEST_KEYS.join(', ')})`);
        out.workload = { ...out.workload, [key]: orThrow(parseWorkloadName(value), () => wrong(`1 to ${WORKLOAD_MAX} letters, digits, '.', '_', '-' or '@'`)) };
    }
  }
  return out;
}

/** The text with these keys set (first, in this order) or, for undefined values, left as they were; null removes a key. */
export function withKeys(text: string | undefined, keys: Partial<Record<RequestKey, string | null>>): string {
  const set = Object.entries(keys).filter(([, v]) => v !== undefined) as [string, string | null][];
  const others = (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && !set.some(([k]) => new RegExp(`^${k}\\s*=`).test(s)));
  return [...set.filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v!.trim()}`), ...others].join(',');
}
