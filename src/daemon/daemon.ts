import type { Logger } from 'pino';
import { Authenticator } from '../auth/authenticator.js';
import { checkExposure } from '../auth/exposure.js';
import type { TokenTable } from '../auth/tokens.js';
import { formatAddress, parseListen, type ListenAddress } from '../config/address.js';
import type { DaemonConfig } from '../config/schema.js';
import { messageOf } from '../errors.js';
import { version } from '../version.js';
import { HttpServer } from '../server/http-server.js';
import { HostInfoSource } from '../server/host-info.js';
import { DaemonMetrics } from '../server/metrics.js';
import { registerRoutes } from '../server/routes.js';
import { buildPoolView } from '../server/pool.js';
import { buildStatus, type ComputeSection } from '../server/status.js';
import { fetchStatus } from '../server/status-client.js';
import { StaticMembership } from '../sharing/membership.js';
import { DeviceRegistry } from '../vendors/registry.js';
import { openCompute } from '../compute/backend.js';
import { ComputeEndpoint } from '../compute/endpoint.js';
import { registerSharingMetrics } from '../server/sharing-metrics.js';
import type { Library } from '../vendors/library.js';
import { Poller } from './poller.js';
import { type Notifier, watchdogInterval } from './sd-notify.js';
import { librarySearch } from './simulate.js';

export interface DaemonDeps {
  logger: Logger;
  notifier: Notifier;
  env?: NodeJS.ProcessEnv;
  /** Replaces koffi.load, for tests that count loads; production passes nothing. */
  loadLibrary?: (path: string) => Library;
  /** The token file as already read (gpupool daemon reads it first, to exit 2 on a bad one); else read here. */
  tokens?: TokenTable | null;
}

/**
 * The per-host daemon: vendors probed, cards sampled and watched, HTTP served, systemd told.
 * start() brings the parts up in dependency order; stop() takes them down in reverse, once.
 */
export class Daemon {
  private stopping: Promise<void> | null = null;
  private watchdog: NodeJS.Timeout | null = null;

  private constructor(
    readonly config: DaemonConfig,
    readonly address: ListenAddress,
    private readonly deps: DaemonDeps,
    private readonly registry: DeviceRegistry,
    private readonly poller: Poller,
    private readonly http: HttpServer,
    private readonly compute: ComputeEndpoint | null,
    private readonly auth: Authenticator,
  ) {}

  static async start(config: DaemonConfig, deps: DaemonDeps): Promise<Daemon> {
    const { logger, notifier } = deps;
    const env = deps.env ?? process.env;
    const listen = parseListen(config.listen);
    checkExposure(config);
    const auth = new Authenticator(config.auth, logger, deps.tokens ?? null);
    const search = librarySearch(config);
    logger.info({ version, simulate: config.simulate, search }, 'gpupoold starting');
    notifier.notify({ STATUS: 'reading cards' });

    const registry = await DeviceRegistry.probe({ config, logger, search, ...(deps.loadLibrary ? { load: deps.loadLibrary } : {}) });
    const startedAt = new Date().toISOString();
    let http: HttpServer | null = null;
    let endpoint: ComputeEndpoint | null = null;
    try {
      const compute = await openCompute(config, logger);
      if (compute.driver && compute.addon) {
        endpoint = new ComputeEndpoint(compute.driver, compute.addon, logger, {
          pingIntervalMs: config.compute.pingIntervalMs,
          auth,
          sharing: config.sharing,
          vendorDevices: () => registry.devices(),
        });
      }
      if (endpoint && auth.enabled) {
        logger.info({ path: config.auth.tokens, tenants: auth.tenants().length }, 'compute clients must present a token');
      } else if (endpoint) {
        // checkExposure() let this through only because the address is loopback; still, every local user can get in.
        logger.warn({ listen: config.listen }, 'no token file (--tokens, auth.tokens): compute is open to any local user; listening on loopback only');
      }
      const computeStatus = (): ComputeSection => ({
        ...compute.status,
        sessions: endpoint?.sessions() ?? [],
        cards: endpoint?.cards() ?? [],
        sharing: endpoint?.sharingStatus() ?? null,
      });
      await registry.refresh();
      registry.watchHealth();
      const poller = new Poller(() => registry.refresh(), config.sampling.intervalMs, (err) =>
        logger.error({ err: messageOf(err) }, 'sampling failed'),
      );
      const hostInfo = await HostInfoSource.read(config.hostname);
      const metrics = new DaemonMetrics({
        hostname: config.hostname,
        version,
        devices: () => registry.devices(),
        vendors: () => registry.vendors(),
      });
      if (endpoint) {
        const sharing = endpoint;
        registerSharingMetrics(metrics.registry, { hostname: config.hostname, sessions: () => sharing.sessions(), cards: () => sharing.cards() });
      }
      registry.on('health', (card, change) => {
        if (change.xid !== undefined) metrics.xid(card, change.xid);
        // A card healthy again may be what a waiting client needs.
        if (change.health.state === 'healthy') endpoint?.retryWaiting();
      });

      http = new HttpServer(logger);
      const computeEndpoint = endpoint;
      if (computeEndpoint) http.onUpgrade('/v1/compute', (req, socket, head) => computeEndpoint.handleUpgrade(req, socket, head));
      let bound: ListenAddress = listen;
      const daemonInfo = () => ({ version, pid: process.pid, startedAt, listen: formatAddress(bound.host, bound.port), simulated: config.simulate !== null });
      const status = async () => buildStatus(await hostInfo.current(), daemonInfo(), registry.vendors(), registry.devices(), computeStatus());
      const membership = new StaticMembership(config.pool.peers);
      registerRoutes(http, {
        metrics,
        status,
        pool: async () => buildPoolView({ self: { url: `http://${formatAddress(bound.host, bound.port)}`, status: await status() }, membership, fetchStatus, timeoutMs: config.pool.timeoutMs }),
      });
      bound = await http.listen(listen);
      poller.start();

      const daemon = new Daemon(config, bound, deps, registry, poller, http, endpoint, auth);
      const cards = registry.devices().length;
      const vendors = registry.vendors().filter((v) => v.available).map((v) => v.vendor);
      logger.info({ address: formatAddress(bound.host, bound.port), url: `http://${formatAddress(bound.host, bound.port)}`, cards, vendors }, 'listening');
      notifier.notify({ READY: 1, STATUS: `serving ${cards} card(s) of ${vendors.join(', ') || 'no vendor'} on ${formatAddress(bound.host, bound.port)}` });
      daemon.startWatchdog(env);
      return daemon;
    } catch (err) {
      await endpoint?.close();
      await http?.close();
      await registry.close();
      throw err;
    }
  }

  private startWatchdog(env: NodeJS.ProcessEnv): void {
    const interval = watchdogInterval(env, process.pid);
    if (interval === null || !this.deps.notifier.enabled) return;
    this.deps.logger.info({ intervalMs: interval }, 'systemd watchdog enabled');
    this.watchdog = setInterval(() => this.deps.notifier.notify({ WATCHDOG: 1 }), interval);
    this.watchdog.unref();
  }

  /** SIGHUP: reads the token file again; a bad file keeps the tokens in force (and is logged). */
  reloadTokens(): boolean {
    return this.auth.reload();
  }

  /** Ordered and idempotent: every later call gets the first call's promise. */
  stop(reason = 'requested'): Promise<void> {
    this.stopping ??= this.shutdown(reason);
    return this.stopping;
  }

  private async shutdown(reason: string): Promise<void> {
    const { logger, notifier } = this.deps;
    logger.info({ reason }, 'stopping');
    notifier.notify({ STOPPING: 1, STATUS: `stopping (${reason})` });
    if (this.watchdog) clearInterval(this.watchdog);
    const steps: [string, () => Promise<void>][] = [
      // Clients first, while the server still runs: each session frees its contexts before we go on.
      ['compute sessions', async () => this.compute?.close()],
      ['http server', () => this.http.close()],
      ['sampler', () => this.poller.stop()],
      ['vendor libraries', () => this.registry.close()],
    ];
    for (const [name, step] of steps) {
      try {
        await step();
      } catch (err) {
        logger.error({ err: messageOf(err), step: name }, 'shutdown step failed');
      }
    }
    logger.info('stopped');
  }
}
