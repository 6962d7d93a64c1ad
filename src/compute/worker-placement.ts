import type { NativeDriver } from './native.js';
import { WorkerHost, type HostWatch } from './worker-host.js';
import type { WorkerPool } from './worker-pool.js';
import { WorkerProcess, type WorkerStartSettings } from './worker-process.js';

/** Which sessions share a worker process (config `compute.workerScope`, docs/architecture.md). */
export type WorkerScope = 'session' | 'tenant';

/**
 * Which worker process runs a session (docs/architecture.md, "Workers by tenant"). `session`: each
 * its own. `tenant`: every session of one tenant (as authentication names it) in one worker, which
 * starts with the tenant's first session and ends after its last; sessions of different tenants
 * never share one, and a session with no tenant (a daemon with neither tokens nor client
 * certificates, where the daemon cannot tell who is who) runs alone. A new worker is an idle one of
 * the pool when there is one (it has served nobody), else started now; one that served a tenant is
 * never handed to another.
 */
export class WorkerPlacement {
  private readonly byTenant = new Map<string, WorkerHost>();

  constructor(
    readonly scope: WorkerScope,
    private readonly driver: NativeDriver,
    private readonly settings: WorkerStartSettings & HostWatch,
    private readonly pool: WorkerPool | null,
  ) {}

  /** The worker for a session of `tenant`: its tenant's running one, or a new one. */
  hostFor(tenant: string | null): WorkerHost {
    if (this.scope === 'session' || tenant === null) return this.newHost(() => {});
    const running = this.byTenant.get(tenant);
    if (running?.open) return running;
    const host = this.newHost((retired) => {
      if (this.byTenant.get(tenant) === retired) this.byTenant.delete(tenant);
    });
    this.byTenant.set(tenant, host);
    return host;
  }

  private newHost(retired: (host: WorkerHost) => void): WorkerHost {
    // The host listens at once, before the child's first event can come: this listener hears nothing.
    const worker = this.pool?.take() ?? new WorkerProcess(this.driver, this.settings, { frame: () => {}, malformed: () => {}, spawnFailed: () => {}, exited: () => {} });
    return new WorkerHost(worker, this.settings, retired);
  }
}
