import { isGpupoolError, messageOf } from '../errors.js';
import type { PoolMembership } from '../sharing/membership.js';
import type { StatusDocument } from './status.js';

/** Bumped only for changes that break readers; fields may be added within a version. */
export const POOL_API_VERSION = 'gpupool.pool/v1';

/** One host of the pool: its status document, or why it could not be read. */
export type PoolHost =
  | { url: string; self: boolean; ok: true; status: StatusDocument }
  | { url: string; self: false; ok: false; error: { code: string; message: string } };

/** `GET /v1/pool` (docs/operations.md, "The pool view"): this host first, then every peer in membership order. */
export interface PoolDocument {
  apiVersion: typeof POOL_API_VERSION;
  generatedAt: string;
  hosts: PoolHost[];
  summary: { hosts: number; reachable: number; cards: number; sessions: number };
}

export interface PoolSources {
  /** This daemon's address and status. */
  self: { url: string; status: StatusDocument };
  membership: PoolMembership;
  /** Reads a peer's `/v1/status`; rejects with a GpupoolError when the peer cannot be read. */
  fetchStatus: (url: URL, timeoutMs: number) => Promise<StatusDocument>;
  timeoutMs: number;
}

/** The same daemon process (a shared peer list names every host, this one too). */
function sameDaemon(a: StatusDocument, b: StatusDocument): boolean {
  return a.host.hostname === b.host.hostname && a.daemon.pid === b.daemon.pid && a.daemon.startedAt === b.daemon.startedAt;
}

/**
 * Asks every peer at once, each bounded by `timeoutMs`: a peer that cannot be read is listed with its
 * error and never fails the whole view. A peer that turns out to be this daemon is left out.
 */
export async function buildPoolView(sources: PoolSources): Promise<PoolDocument> {
  const { self } = sources;
  const peers = await sources.membership.peers();
  const answers = await Promise.all(
    peers.map(async ({ url }): Promise<PoolHost> => {
      try {
        const target = new URL('/v1/status', url);
        return { url, self: false, ok: true, status: await sources.fetchStatus(target, sources.timeoutMs) };
      } catch (err) {
        return { url, self: false, ok: false, error: isGpupoolError(err) ? { code: err.code, message: err.message } : { code: 'UNKNOWN', message: messageOf(err) } };
      }
    }),
  );
  const hosts: PoolHost[] = [{ url: self.url, self: true, ok: true, status: self.status }, ...answers.filter((h) => !(h.ok && sameDaemon(h.status, self.status)))];
  const reachable = hosts.filter((h): h is Extract<PoolHost, { ok: true }> => h.ok);
  return {
    apiVersion: POOL_API_VERSION,
    generatedAt: new Date().toISOString(),
    hosts,
    summary: {
      hosts: hosts.length,
      reachable: reachable.length,
      cards: reachable.reduce((n, h) => n + (h.status.compute?.cards.length ?? 0), 0),
      sessions: reachable.reduce((n, h) => n + (h.status.compute?.sessions.length ?? 0), 0),
    },
  };
}
