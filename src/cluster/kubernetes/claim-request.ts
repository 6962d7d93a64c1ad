import { ErrorCodes, GpupoolError } from '../../errors.js';
import { parsePriority } from '../../sharing/priority.js';
import { parseLimit, parseWait, withKeys } from '../../sharing/request-text.js';
import { parseWorkloadName } from '../../sharing/workload.js';
import type { KubeObject } from './kube-api.js';
import { parseQuantity } from './quantity.js';
import { deviceOrdinal, DRIVER } from './resource-slices.js';

/**
 * What an allocated ResourceClaim asks of gpupool, in the terms of the client library: which daemons
 * (each allocated device's pool is a daemon host), and per daemon how many cards, how much memory and
 * what share (the capacity the claim consumed), plus the class's or claim's opaque parameters
 * (`priority`, `limit`, `wait`) as GPUPOOL_REQUEST.
 */

export interface AllocationResult {
  request: string;
  driver: string;
  pool: string;
  device: string;
  consumedCapacity?: Record<string, string>;
}

interface OpaqueConfig {
  source?: string;
  requests?: string[];
  opaque?: { driver: string; parameters?: Record<string, unknown> };
}

export interface ResourceClaim extends KubeObject {
  status?: { allocation?: { devices?: { results?: AllocationResult[]; config?: OpaqueConfig[] } }; reservedFor?: { resource: string; name: string; uid: string }[] };
}

export interface ClaimJob {
  /** gpupool's results of the allocation. */
  results: AllocationResult[];
  /** GPUPOOL_SERVERS entries, one per daemon, each with its own request in its query. */
  servers: string[];
  /** GPUPOOL_REQUEST: what holds for every daemon. */
  request: string;
}

function unusable(claim: ResourceClaim, why: string): GpupoolError {
  return new GpupoolError(ErrorCodes.CLAIM_UNUSABLE, `ResourceClaim ${claim.metadata.namespace}/${claim.metadata.name}: ${why}`);
}

/** The opaque parameters gpupool takes from a DeviceClass or claim (`priority`, `limit`, `wait`), checked by the request grammar's own rules. */
function parameters(claim: ResourceClaim, config: OpaqueConfig[]): Record<string, string> {
  const out: Record<string, string> = {};
  // Class configuration first, then the claim's: the claim's wins (as Kubernetes orders them).
  const ours = config.filter((c) => c.opaque?.driver === DRIVER).sort((a, b) => (a.source === 'FromClass' ? 0 : 1) - (b.source === 'FromClass' ? 0 : 1));
  for (const c of ours) {
    for (const [key, value] of Object.entries(c.opaque?.parameters ?? {})) {
      if (key === 'apiVersion' || key === 'kind') continue;
      const text = String(value);
      const ok = key === 'priority' ? parsePriority(text) !== null : key === 'limit' ? parseLimit(text) !== null : key === 'wait' ? parseWait(text) !== null : false;
      if (!ok) throw unusable(claim, `opaque parameter ${key}=${text} is not one of priority (high, normal, low[:0-9]), limit (yes/no), wait (seconds)`);
      out[key] = key === 'limit' ? (parseLimit(text) ? 'yes' : 'no') : text;
    }
  }
  return out;
}

/**
 * The job a claim describes. `serverOf` gives a pool's compute address (null: no daemon known for it).
 * Throws a GpupoolError (GPUPOOL_CLAIM_UNUSABLE) saying what is wrong.
 */
export function claimJob(claim: ResourceClaim, serverOf: (pool: string) => string | null): ClaimJob {
  const devices = claim.status?.allocation?.devices;
  if (!devices) throw unusable(claim, 'it is not allocated');
  const results = (devices.results ?? []).filter((r) => r.driver === DRIVER);
  if (results.length === 0) throw unusable(claim, `no device of driver ${DRIVER} was allocated`);
  const byServer = new Map<string, { cards: Set<number>; mem: number; share: number }>();
  for (const r of results) {
    const ordinal = deviceOrdinal(r.device);
    if (ordinal === null) throw unusable(claim, `device ${r.device} is not a gpupool card name (gpu-N)`);
    const server = serverOf(r.pool);
    if (server === null) throw unusable(claim, `no gpupool daemon is known for pool ${r.pool}`);
    const entry = byServer.get(server) ?? { cards: new Set(), mem: 0, share: 0 };
    entry.cards.add(ordinal);
    // A card taken whole (no consumed capacity) asks for nothing: the daemon's defaults.
    const mem = parseQuantity(r.consumedCapacity?.memory ?? '0');
    const share = parseQuantity(r.consumedCapacity?.share ?? '0');
    if (mem === null || share === null) throw unusable(claim, `device ${r.pool}/${r.device} has a consumed capacity that is not a quantity`);
    entry.mem = Math.max(entry.mem, Math.floor(mem));
    entry.share = Math.max(entry.share, share);
    byServer.set(server, entry);
  }
  const servers = [...byServer].map(([server, e]) => {
    const query = [`gpus=${e.cards.size}`, `cards=${[...e.cards].sort((a, b) => a - b).join('+')}`, ...(e.mem > 0 ? [`mem=${e.mem}`] : []), ...(e.share > 0 ? [`share=${Number(e.share.toFixed(3))}`] : [])].join('&');
    return `${server}?${query}`;
  });
  // Who the job is: the claim's namespace, and its pod when the claim is one pod's (a template's claim).
  const pods = (claim.status?.reservedFor ?? []).filter((r) => r.resource === 'pods');
  const identity: Record<string, string> = {};
  const ns = parseWorkloadName(claim.metadata.namespace ?? '');
  if (ns !== null) identity.namespace = ns;
  const pod = pods.length === 1 ? parseWorkloadName(pods[0]!.name) : null;
  if (pod !== null) identity.pod = pod;
  return { results, servers, request: withKeys('', { ...parameters(claim, devices.config ?? []), ...identity }) };
}
