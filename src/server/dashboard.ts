import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dashboardAssetsDir } from '../paths.js';
import type { DashboardFeed } from './dashboard-feed.js';
import type { HttpServer } from './http-server.js';

/**
 * The page may load only its own script and style and talk only to its own daemon: whatever a client
 * named its program, it cannot run script or load anything from elsewhere, even if escaping failed.
 */
export const DASHBOARD_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** The files of the page, by the path they are served at. */
const ASSETS: [path: string, file: string, contentType: string][] = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/dashboard/app.js', 'app.js', 'text/javascript; charset=utf-8'],
  ['/dashboard/charts.js', 'charts.js', 'text/javascript; charset=utf-8'],
  ['/dashboard/format.js', 'format.js', 'text/javascript; charset=utf-8'],
  ['/dashboard/style.css', 'style.css', 'text/css; charset=utf-8'],
];

/**
 * The pool dashboard (docs/operations.md, "The dashboard"): a static page read once at start, its
 * history (`/v1/history`, this host's ring) and its live updates (`/v1/events`). Read-only: it shows
 * what `/v1/pool` shows, which never holds a token.
 */
export function registerDashboard(http: HttpServer, feed: DashboardFeed): void {
  for (const [path, file, contentType] of ASSETS) {
    const body = readFileSync(join(dashboardAssetsDir, file), 'utf8');
    http.get(path, async () => ({ contentType, headers: DASHBOARD_HEADERS, body }));
  }
  http.get('/v1/history', async () => ({ body: feed.history.document() }));
  http.get('/v1/events', async () => ({ stream: (req, res) => feed.open(req, res) }));
}
