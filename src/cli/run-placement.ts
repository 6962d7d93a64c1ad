import { isGpupoolError, messageOf } from '../errors.js';
import type { StatusDocument } from '../server/status.js';
import { planHosts, type HostOffer } from '../sharing/host-placement.js';
import { DEFAULT_SHARE, type Policy } from '../sharing/placement.js';
import { parseQuotaSetting, sessionQuota, type JobRequest } from '../sharing/quota.js';

/**
 * `gpupool run --gpus N` over several daemons (docs/operations.md, "Placement across hosts"): reads
 * each daemon's status, splits N between them by the policy, and names each daemon's share in its
 * GPUPOOL_SERVERS entry (`ws://HOST:PORT?gpus=2`). Each daemon then picks its own cards.
 */

/** How long `gpupool run` waits for each daemon's status. */
export const STATUS_TIMEOUT_MS = 5000;

/**
 * `ws://HOST:PORT[/path][?query]` → `http://HOST:PORT/v1/status` (`wss` → `https`); a local daemon's
 * `unix:///PATH` → `http+unix://PATH/v1/status` (the socket's path, URI-encoded, as the host), which
 * serves HTTP as its TCP address does.
 */
export function statusUrlOf(server: string): URL {
  const url = new URL(server);
  if (url.protocol === 'unix:') return new URL(`http+unix://${encodeURIComponent(url.pathname)}/v1/status`);
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`${server}: not a ws://, wss:// or unix:// address`);
  return new URL('/v1/status', `${url.protocol === 'wss:' ? 'https' : 'http'}://${url.host}`);
}

/** The server's entry with its own `gpus=` (any other query keys kept). */
export function withServerGpus(server: string, gpus: number): string {
  const [base, query = ''] = server.split('?', 2) as [string, string?];
  const keep = query.split('&').filter((kv) => kv !== '' && !/^gpus=/.test(kv));
  return `${base}?${[...keep, `gpus=${gpus}`].join('&')}`;
}

export interface JobPlan {
  /** GPUPOOL_SERVERS for the job: the daemons that get cards, each with its count. */
  servers: string[];
  counts: { server: string; gpus: number }[];
  policy: Policy;
  /** No room now: planned on the cards as if idle, and the daemons hold the job up to its `wait`. */
  onIdlePool: boolean;
}

type Fetch = (url: URL, timeoutMs: number) => Promise<StatusDocument>;

/** The daemon's cards and the job's quota on each, or why it offers none. */
function offerOf(server: string, status: StatusDocument, request: JobRequest): HostOffer | string {
  const { compute } = status;
  if (!compute?.available || !compute.sharing) return `${server}: compute unavailable${compute?.error ? ` (${compute.error})` : ''}`;
  // The tenant's own cap is the daemon's to apply: it refuses a request over it in the handshake.
  const quota = sessionQuota(request, compute.cards, parseQuotaSetting(compute.sharing.defaultQuota), { name: null, quota: null });
  return { name: server, cards: compute.cards, quota, overcommit: compute.sharing.overcommit };
}

/** The same cards with nothing on them: what the pool could hold once its jobs end. */
function idle(offer: HostOffer): HostOffer {
  return { ...offer, cards: offer.cards.map((c) => ({ ...c, committed: 0, shares: 0, sessions: 0, utilization: null })) };
}

export async function planJob(servers: string[], request: JobRequest, gpus: number, fetchStatus: Fetch, timeoutMs = STATUS_TIMEOUT_MS): Promise<{ ok: true; plan: JobPlan } | { ok: false; reason: string }> {
  const notes: string[] = [];
  const offers: HostOffer[] = [];
  const answers = await Promise.all(
    servers.map(async (server) => {
      try {
        return { server, status: await fetchStatus(statusUrlOf(server), timeoutMs) };
      } catch (err) {
        return { server, error: isGpupoolError(err) ? err.message : `${server}: ${messageOf(err)}` };
      }
    }),
  );
  for (const a of answers) {
    const offer = 'status' in a ? offerOf(a.server, a.status!, request) : a.error;
    if (typeof offer === 'string') {
      notes.push(offer);
      offers.push({ name: a.server, cards: [], quota: [], overcommit: false });
    } else {
      offers.push(offer);
    }
  }
  const policy = request.policy ?? 'spread';
  const share = request.share ?? DEFAULT_SHARE;
  let onIdlePool = false;
  let result = planHosts(offers, gpus, policy, share);
  if (!result.ok && (request.wait ?? 0) > 0) {
    const later = planHosts(offers.map(idle), gpus, policy, share);
    if (later.ok) {
      result = later;
      onIdlePool = true;
    } else {
      result = { ok: false, reason: `${result.reason}; even with every job gone, ${later.reason.replace(/^the pool /, 'it ')}` };
    }
  }
  if (!result.ok) return { ok: false, reason: [result.reason, ...notes].join('; ') };
  const counts = servers.map((server, i) => ({ server, gpus: result.counts[i]! })).filter((c) => c.gpus > 0);
  return { ok: true, plan: { servers: counts.map((c) => withServerGpus(c.server, c.gpus)), counts, policy, onIdlePool } };
}
