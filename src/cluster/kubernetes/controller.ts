import type { Logger } from 'pino';
import type { PoolMembership } from '../../sharing/membership.js';
import { readDaemons } from '../daemons.js';
import type { KubeApi } from './kube-api.js';
import { poolName, publishedSlices, resourceSlice, sliceName, SLICES_PATH, type Reach, type ResourceSlice } from './resource-slices.js';

/**
 * The DRA driver's controller: keeps one ResourceSlice per daemon in step with the daemon's status.
 * Each pass reads every daemon, creates the slices that are missing, replaces those whose devices
 * changed (a new pool generation), and deletes the slices of daemons that are gone from the pool or
 * do not answer, so that no claim is allocated on a card nobody can reach.
 */

export interface ControllerOptions {
  api: KubeApi;
  membership: PoolMembership;
  /** Which nodes may use a daemon's cards, by the daemon's pool name (its host name). */
  reach: (pool: string) => Reach;
  statusTimeoutMs: number;
  logger: Logger;
}

export interface PassResult {
  created: string[];
  updated: string[];
  deleted: string[];
  unreachable: string[];
}

function sameDevices(a: ResourceSlice, b: ResourceSlice): boolean {
  const { pool: _a, ...restA } = a.spec;
  const { pool: _b, ...restB } = b.spec;
  return JSON.stringify(restA) === JSON.stringify(restB);
}

export class DraController {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly options: ControllerOptions) {}

  async pass(): Promise<PassResult> {
    const { api, logger } = this.options;
    const result: PassResult = { created: [], updated: [], deleted: [], unreachable: [] };
    const existing = new Map((await publishedSlices(api)).map((s) => [s.metadata.name, s]));
    const wanted = new Set<string>();
    for (const daemon of await readDaemons(this.options.membership, this.options.statusTimeoutMs)) {
      if (daemon.status === null) {
        result.unreachable.push(daemon.url);
        logger.warn({ daemon: daemon.url, err: daemon.error }, 'daemon unreachable: its ResourceSlice is withdrawn');
        continue;
      }
      const pool = poolName(daemon.status.host.hostname);
      const old = existing.get(sliceName(pool));
      const slice = resourceSlice(daemon.status, daemon.server, this.options.reach(pool), old?.spec.pool.generation ?? 1);
      wanted.add(slice.metadata.name);
      if (!old) {
        await api.create(SLICES_PATH, slice);
        result.created.push(slice.metadata.name);
      } else if (!sameDevices(old, slice)) {
        slice.spec.pool.generation = old.spec.pool.generation + 1;
        slice.metadata.resourceVersion = old.metadata.resourceVersion;
        await api.replace(`${SLICES_PATH}/${old.metadata.name}`, slice);
        result.updated.push(slice.metadata.name);
      }
    }
    for (const name of existing.keys()) {
      if (wanted.has(name)) continue;
      await api.delete(`${SLICES_PATH}/${name}`);
      result.deleted.push(name);
    }
    if (result.created.length + result.updated.length + result.deleted.length > 0) logger.info(result, 'ResourceSlices published');
    return result;
  }

  /** A pass now and every `intervalMs`; a failed pass is logged and the next one tries again. */
  start(intervalMs: number): void {
    const tick = () => {
      this.running = this.pass().then(
        () => undefined,
        (err: unknown) => this.options.logger.error({ err }, 'ResourceSlice pass failed'),
      );
    };
    tick();
    this.timer = setInterval(tick, intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
