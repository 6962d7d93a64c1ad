import { fetchStatus } from '../server/status-client.js';
import type { StatusDocument } from '../server/status.js';
import { messageOf } from '../errors.js';
import type { PoolMembership } from '../sharing/membership.js';

/**
 * The daemons a cluster component serves, read through PoolMembership, each with its status document
 * (or why it could not be read) and the compute address its jobs are given: the status address with
 * ws:// for http:// (wss:// for https://), as `gpupool run` derives it.
 */

export interface DaemonView {
  /** Its HTTP base address. */
  url: string;
  /** Its compute address, for GPUPOOL_SERVERS. */
  server: string;
  status: StatusDocument | null;
  error: string | null;
}

export function computeAddress(url: string): string {
  return url.replace(/^http/, 'ws');
}

export async function readDaemons(membership: PoolMembership, timeoutMs: number): Promise<DaemonView[]> {
  const peers = await membership.peers();
  return Promise.all(
    peers.map(async ({ url }) => {
      try {
        return { url, server: computeAddress(url), status: await fetchStatus(new URL('/v1/status', url), timeoutMs), error: null };
      } catch (err) {
        return { url, server: computeAddress(url), status: null, error: messageOf(err) };
      }
    }),
  );
}
