/**
 * Who a session's job is, in its cluster engine's names: Kubernetes' namespace, pod and container, or
 * Slurm's job id and user. The job states them in GPUPOOL_REQUEST (the DRA plugin and the Slurm
 * TaskProlog write them); the daemon shows them in status and as metric labels, for chargeback and
 * for joins with other exporters. They are labels, not credentials: the tenant is who the token says.
 */
import { handshakeKey } from '../protocol/frames.js';

export const WORKLOAD_KEYS = ['namespace', 'pod', 'container', 'job', 'user'] as const;
export type WorkloadKey = (typeof WORKLOAD_KEYS)[number];
export type Workload = Partial<Record<WorkloadKey, string>>;

/** The longest name, as the handshake's table bounds it for both ends (src/protocol/frames.ts). */
export const WORKLOAD_MAX = handshakeKey('request', 'namespace').max!;

/** 1 to WORKLOAD_MAX letters, digits, '.', '_', '-', '@': what Kubernetes names and Slurm users are made of, and safe as a label. */
export function parseWorkloadName(text: string): string | null {
  return text.length >= 1 && text.length <= WORKLOAD_MAX && /^[A-Za-z0-9._@-]+$/.test(text) ? text : null;
}

export function isWorkloadKey(key: string): key is WorkloadKey {
  return (WORKLOAD_KEYS as readonly string[]).includes(key);
}
