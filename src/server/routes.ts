import { registerDashboard } from './dashboard.js';
import type { DashboardFeed } from './dashboard-feed.js';
import type { HttpServer } from './http-server.js';
import type { DaemonMetrics } from './metrics.js';
import type { PoolDocument } from './pool.js';
import type { StatusDocument } from './status.js';

export interface RouteSources {
  metrics: DaemonMetrics;
  status: () => Promise<StatusDocument>;
  pool: () => Promise<PoolDocument>;
  /** The pool dashboard's history and live updates (`GET /`). */
  dashboard: DashboardFeed;
}

/** The daemon's read-only routes: liveness, Prometheus metrics, the status document, the pool view and its dashboard. */
export function registerRoutes(http: HttpServer, sources: RouteSources): void {
  http
    .get('/healthz', async () => ({ body: { status: 'ok' } }))
    .get('/metrics', async () => sources.metrics.render())
    .get('/v1/status', async () => ({ body: await sources.status() }))
    .get('/v1/pool', async () => ({ body: await sources.pool() }));
  registerDashboard(http, sources.dashboard);
}
