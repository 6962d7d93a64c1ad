import type { HttpServer } from './http-server.js';
import type { DaemonMetrics } from './metrics.js';
import type { PoolDocument } from './pool.js';
import type { StatusDocument } from './status.js';

export interface RouteSources {
  metrics: DaemonMetrics;
  status: () => Promise<StatusDocument>;
  pool: () => Promise<PoolDocument>;
}

/** The daemon's read-only routes: liveness, Prometheus metrics, the status document and the pool view. */
export function registerRoutes(http: HttpServer, sources: RouteSources): void {
  http
    .get('/healthz', async () => ({ body: { status: 'ok' } }))
    .get('/metrics', async () => sources.metrics.render())
    .get('/v1/status', async () => ({ body: await sources.status() }))
    .get('/v1/pool', async () => ({ body: await sources.pool() }));
}
