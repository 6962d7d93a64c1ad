import type { DaemonConfig } from '../config/schema.js';
import { StaticMembership, type PoolMembership } from '../sharing/membership.js';
import { readToken } from './container-edits.js';
import { inClusterOptions, KubeApi } from './kubernetes/kube-api.js';
import { KubernetesMembership, SlurmMembership } from './membership.js';

/** The daemon's pool membership, by `pool.source`. */
export function poolMembership(pool: DaemonConfig['pool']): PoolMembership {
  switch (pool.source) {
    case 'kubernetes':
      return new KubernetesMembership(
        new KubeApi(pool.apiServer === null ? inClusterOptions() : { server: pool.apiServer, ...(pool.apiTokenFile === null ? {} : { token: readToken(pool.apiTokenFile) }) }),
      );
    case 'slurm':
      return new SlurmMembership(pool.daemonPort);
    default:
      return new StaticMembership(pool.peers);
  }
}
