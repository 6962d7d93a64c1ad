import type { HttpServer } from './http-server.js';
import type { DaemonMetrics } from './metrics.js';
import type { StatusDocument } from './status.js';

export interface RouteSources {
  metrics: DaemonMetrics;
  status: () => Promise<StatusDocument>;
}

/** The daemon's read-only routes: liveness, Prometheus metrics and the status document. */
export function registerRoutes(http: HttpServer, sources: RouteSources): void {
  http
    .get('/healthz', async () => ({ body: { status: 'ok' } }))
    .get('/metrics', async () => sources.metrics.render())
    .get('/v1/status', async () => ({ body: await sources.status() }));
}
