import type { Logger } from 'pino';
import { Authenticator } from '../auth/authenticator.js';
import { checkExposure } from '../auth/exposure.js';
import type { TokenTable } from '../auth/tokens.js';
import { formatAddress, parseListen, type ListenAddress } from '../config/address.js';
import type { DaemonConfig } from '../config/schema.js';
import { messageOf } from '../errors.js';
import { version } from '../version.js';
import { HttpServer } from '../server/http-server.js';
import { prepareLocalSocket, setSocketMode } from '../server/local-socket.js';
import { readTlsMaterial, type TlsMaterial } from '../server/tls.js';
import { HostInfoSource } from '../server/host-info.js';
import { DaemonMetrics } from '../server/metrics.js';
import { registerRoutes } from '../server/routes.js';
import { DashboardFeed } from '../server/dashboard-feed.js';
import { HISTORY_API_VERSION, type HistoryDocument } from '../server/history.js';
import { buildPoolView } from '../server/pool.js';
import { buildStatus, type ComputeSection } from '../server/status.js';
import { fetchDocument, fetchStatus } from '../server/status-client.js';
import { poolMembership } from '../cluster/pool-source.js';
import { DeviceRegistry } from '../vendors/registry.js';
import { openCompute } from '../compute/backend.js';
import { ComputeEndpoint, localPeerKey } from '../compute/endpoint.js';
import { addEmuStats } from '../compute/worker-session.js';
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
  /** The TLS files as already read, likewise; else read here. */
  tls?: TlsMaterial | null;
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
    /** The status address's server (`statusListen`); null: status is served by `http`. */
    private readonly statusHttp: HttpServer | null,
    private readonly compute: ComputeEndpoint | null,
    private readonly auth: Authenticator,
    private readonly dashboard: DashboardFeed,
    /** The local socket's server (`localSocket`); null: none is served. */
    private readonly localHttp: HttpServer | null,
    /** The local socket's path, for status; null: none. */
    readonly localSocket: string | null,
  ) {}

  static async start(config: DaemonConfig, deps: DaemonDeps): Promise<Daemon> {
    const { logger, notifier } = deps;
    const env = deps.env ?? process.env;
    const listen = parseListen(config.listen);
    const statusListen = config.statusListen === null ? null : parseListen(config.statusListen, 'statusListen');
    checkExposure(config);
    const tls = deps.tls !== undefined ? deps.tls : readTlsMaterial(config.tls);
    const auth = new Authenticator({ ...config.auth, certificates: config.tls.clientCa !== null }, logger, deps.tokens ?? null);
    const search = librarySearch(config);
    logger.info({ version, simulate: config.simulate, search }, 'gpupoold starting');
    notifier.notify({ STATUS: 'reading cards' });

    // The CUDA driver opens on a worker thread while the vendor libraries are probed: neither waits for the other.
    const opening = openCompute(config, logger);
    const registry = await DeviceRegistry.probe({ config, logger, search, ...(deps.loadLibrary ? { load: deps.loadLibrary } : {}) });
    const startedAt = new Date().toISOString();
    let http: HttpServer | null = null;
    let statusHttp: HttpServer | null = null;
    let localHttp: HttpServer | null = null;
    let endpoint: ComputeEndpoint | null = null;
    let dashboard: DashboardFeed | null = null;
    try {
      const compute = await opening;
      if (compute.driver && compute.addon) {
        endpoint = new ComputeEndpoint(compute.driver, compute.addon, logger, {
          pingIntervalMs: config.compute.pingIntervalMs,
          clientGraceMs: config.compute.clientGraceMs,
          helloTimeoutMs: config.auth.helloTimeoutMs,
          auth,
          sharing: config.sharing,
          vendorDevices: () => registry.devices(),
          sessions: { process: config.compute.sessionProcess === 'process', heartbeatMs: config.compute.workerHeartbeatMs, hangMs: config.compute.workerHangMs, poolSize: config.compute.workerPoolSize, scope: config.compute.workerScope },
          limits: {
            maxMessageBytes: config.compute.maxMessageBytes,
            maxQueuedBytes: config.compute.maxQueuedBytes,
            sharedMemoryBytes: config.compute.sharedMemoryBytes,
            sharedMemoryRegions: config.compute.sharedMemoryRegions,
            callRingBytes: config.compute.callRingBytes,
            callRingSpinUs: config.compute.callRingSpinUs,
            nativeConnections: config.compute.nativeConnections,
            maxHelloBytes: config.auth.maxHelloBytes,
            blockedDelayMs: config.auth.blockedDelayMs,
          },
        });
        // Sessions live in this process only: whatever clients held in a previous daemon is gone, and
        // their client libraries have said so (docs/operations.md, "Faults").
        logger.info({ sessions: 0 }, 'compute starts fresh: no session survives a restart; clients of a previous daemon must start again');
        if (config.sharing.overcommit) {
          // A careless setting is easy to miss: the quotas then promise memory the cards do not have.
          logger.warn({ overcommit: true }, 'sharing.overcommit is on: memory quotas may add up to more than a card holds, and a session can run out of device memory inside its quota');
        }
      }
      if (endpoint && config.tls.clientCa !== null) {
        logger.info({ clientCa: config.tls.clientCa, tokens: config.auth.tokens, tenants: auth.tenants().length }, 'compute clients must present a certificate signed by tls.clientCa');
      } else if (endpoint && auth.enabled) {
        logger.info({ path: config.auth.tokens, tenants: auth.tenants().length }, 'compute clients must present a token');
      } else if (endpoint) {
        // checkExposure() let this through only because the address is loopback; still, every local user can get in.
        logger.warn({ listen: config.listen }, 'no token file (--tokens, auth.tokens): compute is open to any local user; listening on loopback only');
      }
      const emulator = compute.driver;
      const computeStatus = async (): Promise<ComputeSection> => {
        // Workers' stats come on their beat; status asks them for the present (a slow one waits 50 ms at most).
        await endpoint?.freshenStats(50);
        const own = emulator?.emuStats() ?? null;
        // Sessions in worker processes hold their contexts and memory there: counted with the daemon's own.
        const emu = own && endpoint ? addEmuStats(own, endpoint.workerEmuStats()) : own;
        return {
          ...compute.status,
          sessions: endpoint?.sessions() ?? [],
          cards: endpoint?.cards() ?? [],
          sharing: endpoint?.sharingStatus() ?? null,
          // Only the emulated driver counts what it holds (docs/emulator.md): how tests see that a session was freed.
          ...(emu ? { emulator: emu } : {}),
        };
      };
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
        // A card gone bad fails its sessions' later calls there; one healthy again may be what a waiting client needs.
        endpoint?.cardHealthChanged();
        if (change.health.state === 'healthy') endpoint?.retryWaiting();
      });

      // Connections before their HELLO (or first request) are bounded on both servers (docs/security.md, "Limits before authentication").
      const pending = { maxPerAddress: config.auth.maxPendingPerAddress, maxTotal: config.auth.maxPending, deadlineMs: config.auth.helloTimeoutMs };
      http = new HttpServer(logger, { tls, handshakeTimeoutMs: config.auth.helloTimeoutMs, pending });
      if (tls) logger.info({ cert: config.tls.cert, subject: tls.subject, validTo: tls.validTo.toISOString() }, 'serving HTTPS and wss://');
      warnIfExpired(tls, logger);
      // With statusListen the read-only routes live there alone, and the compute address serves compute only.
      statusHttp = statusListen ? new HttpServer(logger, { pending }) : null;
      const computeEndpoint = endpoint;
      if (computeEndpoint) http.onUpgrade('/v1/compute', (req, socket, head, pendingConnection) => computeEndpoint.handleUpgrade(req, socket, head, pendingConnection));
      // Jobs on this host: the same endpoint and routes as `listen`, over a Unix socket, never TLS.
      const localPath = config.localSocket.enabled ? await prepareLocalSocket(config.localSocket.path, env, logger) : null;
      if (localPath !== null) {
        const addon = compute.addon;
        // Connections before their HELLO count against their uid, as failed handshakes do (endpoint.ts).
        localHttp = new HttpServer(logger, { pending, ...(addon ? { peerAddress: (socket) => localPeerKey(socket, addon) } : {}) });
        if (computeEndpoint) localHttp.onUpgrade('/v1/compute', (req, socket, head, pendingConnection) => computeEndpoint.handleUpgrade(req, socket, head, pendingConnection, 'unix'));
      }
      let bound: ListenAddress = listen;
      let statusBound: ListenAddress | null = statusListen;
      const daemonInfo = () => ({
        version,
        pid: process.pid,
        startedAt,
        listen: formatAddress(bound.host, bound.port),
        statusListen: statusBound ? formatAddress(statusBound.host, statusBound.port) : null,
        localSocket: localPath,
        tls: tls !== null,
        clientCertificates: config.tls.clientCa !== null,
        simulated: config.simulate !== null,
      });
      const status = async () => buildStatus(await hostInfo.current(), daemonInfo(), registry.vendors(), registry.devices(), await computeStatus());
      const membership = poolMembership(config.pool);
      // Where this daemon's status is read: the status address, or the main one (https:// with TLS).
      const selfUrl = () => (statusBound ? `http://${formatAddress(statusBound.host, statusBound.port)}` : `${tls ? 'https' : 'http'}://${formatAddress(bound.host, bound.port)}`);
      const pool = async () => buildPoolView({ self: { url: selfUrl(), status: await status() }, membership, fetchStatus, timeoutMs: config.pool.timeoutMs });
      dashboard = new DashboardFeed({
        status,
        pool,
        fetchHistory: (url, timeoutMs) => fetchDocument<HistoryDocument>(url, timeoutMs, HISTORY_API_VERSION),
        intervalMs: config.sampling.intervalMs,
        windowMs: config.pool.historySeconds * 1000,
        timeoutMs: config.pool.timeoutMs,
        logger,
      });
      registerRoutes(statusHttp ?? http, { metrics, status, pool, dashboard });
      if (localHttp && !statusHttp) registerRoutes(localHttp, { metrics, status, pool, dashboard });
      bound = await http.listen(listen);
      if (statusHttp && statusListen) statusBound = await statusHttp.listen(statusListen);
      if (localHttp && localPath !== null) {
        await localHttp.listenPath(localPath);
        setSocketMode(localPath, config.localSocket.mode);
      }
      poller.start();
      dashboard.start();

      const daemon = new Daemon(config, bound, deps, registry, poller, http, statusHttp, endpoint, auth, dashboard, localHttp, localPath);
      const cards = registry.devices().length;
      const vendors = registry.vendors().filter((v) => v.available).map((v) => v.vendor);
      const address = formatAddress(bound.host, bound.port);
      logger.info(
        {
          address,
          url: `${tls ? 'https' : 'http'}://${address}`,
          ...(localPath !== null ? { localSocket: localPath } : {}),
          ...(statusBound ? { statusAddress: formatAddress(statusBound.host, statusBound.port), statusUrl: `http://${formatAddress(statusBound.host, statusBound.port)}` } : {}),
          cards,
          vendors,
        },
        'listening',
      );
      notifier.notify({ READY: 1, STATUS: `serving ${cards} card(s) of ${vendors.join(', ') || 'no vendor'} on ${formatAddress(bound.host, bound.port)}` });
      daemon.startWatchdog(env);
      return daemon;
    } catch (err) {
      await dashboard?.stop();
      await endpoint?.close();
      await http?.close();
      await statusHttp?.close();
      await localHttp?.close();
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

  /**
   * SIGHUP: reads the TLS files again and serves new connections with them; open ones keep theirs.
   * Files that cannot be read or do not fit together leave the ones in force as they were (logged).
   */
  reloadTls(): boolean {
    if (!this.http.secure) return false;
    const { logger } = this.deps;
    let material: TlsMaterial | null;
    try {
      material = readTlsMaterial(this.config.tls);
    } catch (err) {
      logger.error({ err: messageOf(err), code: (err as { code?: string }).code }, 'TLS files not reloaded; the previous certificate and key stay in force');
      return false;
    }
    if (!material) return false;
    this.http.setTls(material);
    logger.info({ cert: this.config.tls.cert, subject: material.subject, validTo: material.validTo.toISOString(), clientCa: this.config.tls.clientCa }, 'TLS files reloaded');
    warnIfExpired(material, logger);
    return true;
  }

  /** SIGHUP: everything the daemon reads from files an operator may replace while it runs. */
  reload(): void {
    this.reloadTokens();
    this.reloadTls();
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
      // Its sampler reads the status of the parts stopped below; its readers' streams end with it.
      ['dashboard', () => this.dashboard.stop()],
      ['compute sessions', async () => this.compute?.close()],
      ['http server', () => this.http.close()],
      ['status server', async () => this.statusHttp?.close()],
      ['local socket', async () => this.localHttp?.close()],
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

/** An expired certificate still serves (the operator may be replacing it), but every client will refuse it. */
function warnIfExpired(tls: TlsMaterial | null, logger: Logger): void {
  if (tls && tls.validTo.getTime() < Date.now()) {
    logger.warn({ subject: tls.subject, validTo: tls.validTo.toISOString() }, 'the TLS certificate has expired: clients will refuse it');
  }
}
