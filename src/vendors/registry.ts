import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/schema.js';
import { ErrorCodes, GpupoolError, messageOf, type ErrorCode } from '../errors.js';
import type { HealthEvent, VendorBackend } from './backend.js';
import { DcmiBackend, dcmiLibrary } from './dcmi.js';
import { emptySample, type Device, type DeviceIdentity, type DeviceSample, type Vendor, type VendorVersions } from './device.js';
import { withTimeout } from './ffi.js';
import { HealthTracker, type HealthChange } from './health.js';
import { describeProbeFailure, probeInits, type InitProbe, type InitProbeResult } from './init-probe.js';
import { loadVendorLibrary, type Library, type LibrarySpec, type SearchPath } from './library.js';
import { NullBackend } from './null-backend.js';
import { NvmlBackend, nvmlLibrary } from './nvml.js';
import { RocmSmiBackend, rocmSmiLibrary } from './rocm-smi.js';

/** A vendor as status reports it: available with its cards, or unavailable with the reason. */
export interface VendorStatus {
  vendor: Vendor;
  enabled: boolean;
  available: boolean;
  /** The library file that was loaded. */
  library: string | null;
  versions: VendorVersions;
  deviceCount: number;
  error?: { code: string; message: string };
}

interface VendorDriver {
  spec: LibrarySpec;
  create(lib: Library, config: DaemonConfig): VendorBackend;
}

export const VENDOR_DRIVERS: Record<Vendor, VendorDriver> = {
  nvidia: {
    spec: nvmlLibrary,
    create: (lib, config) =>
      new NvmlBackend(lib, { eventWaitMs: config.health.xidWaitMs, ignoredXids: config.health.ignoredXids }),
  },
  amd: { spec: rocmSmiLibrary, create: (lib) => new RocmSmiBackend(lib) },
  ascend: { spec: dcmiLibrary, create: (lib) => new DcmiBackend(lib) },
};

interface Entry {
  status: VendorStatus;
  backend: VendorBackend;
  cards: DeviceIdentity[];
}

interface CardState {
  identity: DeviceIdentity;
  health: HealthTracker;
  sample: DeviceSample;
  sampledAt: Date;
}

export interface DeviceRegistryEvents {
  health: [device: DeviceIdentity, change: HealthChange];
}

export interface ProbeOptions {
  config: DaemonConfig;
  logger: Logger;
  search: SearchPath;
  load?: (path: string) => Library;
  now?: () => Date;
  /** Tries each library's init in a child process first (`vendors.probeInit`); tests pass their own. */
  initProbe?: InitProbe;
}

/**
 * Every vendor's cards on this host with their latest figures and health. Vendors are probed
 * independently: an absent, failing or hung library makes that vendor unavailable and nothing else.
 */
export class DeviceRegistry extends EventEmitter<DeviceRegistryEvents> {
  private readonly entries: Entry[];
  private readonly cards = new Map<string, CardState>();
  private closed = false;

  private constructor(entries: Entry[], private readonly logger: Logger, private readonly now: () => Date) {
    super();
    this.entries = entries;
    for (const entry of entries) {
      for (const identity of entry.cards) {
        this.cards.set(key(identity.vendor, identity.index), {
          identity,
          health: new HealthTracker(now),
          sample: emptySample(),
          sampledAt: now(),
        });
      }
    }
  }

  static async probe(options: ProbeOptions): Promise<DeviceRegistry> {
    const { logger, config } = options;
    const vendors = Object.keys(VENDOR_DRIVERS) as Vendor[];
    const enabled = vendors.filter((v) => config.vendors.enabled.includes(v));
    let probed = new Map<Vendor, InitProbeResult>();
    if (config.vendors.probeInit && enabled.length > 0) {
      const started = performance.now();
      probed = await (options.initProbe ?? probeInits)(enabled, options.search, config);
      const outcomes = Object.fromEntries([...probed].map(([v, r]) => [v, r.outcome]));
      logger.info({ ms: Math.round(performance.now() - started), outcomes }, 'vendor libraries\' init probed in a child process');
      for (const [vendor, r] of probed) {
        if (r.outcome === 'unprobed') logger.warn({ vendor, reason: r.reason }, 'vendor init probe did not run; loading the library without it');
      }
    }
    const entries = await Promise.all(vendors.map((vendor) => probeVendor(vendor, options, probed.get(vendor))));
    for (const { status } of entries) {
      if (status.available) {
        logger.info({ vendor: status.vendor, library: status.library, devices: status.deviceCount, versions: status.versions }, 'vendor available');
      } else if (status.enabled) {
        logger.warn({ vendor: status.vendor, error: status.error }, 'vendor unavailable');
      }
    }
    return new DeviceRegistry(entries, logger, options.now ?? (() => new Date()));
  }

  vendors(): VendorStatus[] {
    return this.entries.map((e) => e.status);
  }

  devices(): Device[] {
    return [...this.cards.values()].map((card) => ({
      ...card.identity,
      ...card.sample,
      health: card.health.snapshot(),
      sampledAt: card.sampledAt.toISOString(),
    }));
  }

  /** Reads every card's live figures concurrently, and judges polled health from the result. */
  async refresh(): Promise<void> {
    await Promise.all(
      this.entries.flatMap((entry) =>
        entry.cards.map(async (identity) => {
          const card = this.cards.get(key(identity.vendor, identity.index));
          if (!card || this.closed) return;
          let problem: string | undefined;
          try {
            const result = await entry.backend.sample(identity.index);
            if (result.ok) {
              card.sample = result.sample;
              problem = result.problem;
            } else {
              card.sample = emptySample();
              problem = result.reason;
            }
          } catch (err) {
            card.sample = emptySample();
            problem = messageOf(err);
          }
          card.sampledAt = this.now();
          this.report(card.identity, card.health.polled(problem));
        }),
      ),
    );
  }

  /** Starts the vendors' pushed health events (NVML Xids) on worker threads. */
  watchHealth(): void {
    for (const entry of this.entries) {
      entry.backend.watchHealth?.((event) => this.onEvent(entry, event));
    }
  }

  private onEvent(entry: Entry, event: HealthEvent): void {
    const targets = event.index === null ? entry.cards : entry.cards.filter((c) => c.index === event.index);
    for (const identity of targets) {
      const card = this.cards.get(key(identity.vendor, identity.index));
      if (card) this.report(identity, card.health.event(event.reason, event.xid));
    }
  }

  private report(identity: DeviceIdentity, change: HealthChange | null): void {
    if (!change) return;
    const fields = { vendor: identity.vendor, index: identity.index, uuid: identity.uuid, health: change.health };
    if (change.health.state === 'unhealthy') this.logger.warn(fields, 'card unhealthy');
    else this.logger.info(fields, 'card healthy again');
    this.emit('health', identity, change);
  }

  /** Releases every library, each in its own try so one failure does not keep the others open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.entries) {
      try {
        await entry.backend.close();
      } catch (err) {
        this.logger.warn({ vendor: entry.status.vendor, err: messageOf(err) }, 'vendor library did not close cleanly');
      }
    }
  }
}

function key(vendor: Vendor, index: number): string {
  return `${vendor}:${index}`;
}

async function probeVendor(vendor: Vendor, options: ProbeOptions, probed?: InitProbeResult): Promise<Entry> {
  const { config } = options;
  const driver = VENDOR_DRIVERS[vendor];
  const status: VendorStatus = {
    vendor,
    enabled: config.vendors.enabled.includes(vendor),
    available: false,
    library: null,
    versions: { driver: null, library: null },
    deviceCount: 0,
  };
  const unavailable = (err: unknown, backend: VendorBackend = new NullBackend(vendor)): Entry => {
    const error = err instanceof GpupoolError ? err : new GpupoolError(ErrorCodes.VENDOR_UNAVAILABLE, `${vendor}: ${messageOf(err)}`, { cause: err });
    return { status: { ...status, error: { code: error.code, message: error.message } }, backend, cards: [] };
  };
  if (!status.enabled) return { status, backend: new NullBackend(vendor), cards: [] };
  // The child's verdict stands for a library that crashed, hung or failed there: it is not loaded here.
  if (probed && probed.outcome !== 'ok' && probed.outcome !== 'unprobed') {
    status.library = probed.library;
    if (probed.outcome === 'failed') return unavailable(new GpupoolError(probed.error.code as ErrorCode, probed.error.message));
    const code = probed.outcome === 'hung' ? ErrorCodes.VENDOR_INIT_TIMEOUT : ErrorCodes.VENDOR_INIT_CRASHED;
    return unavailable(new GpupoolError(code, `${vendor}: ${describeProbeFailure(probed)}`, { details: { vendor } }));
  }

  let backend: VendorBackend;
  try {
    const { library, path } = loadVendorLibrary(driver.spec, options.search, options.load);
    status.library = path;
    backend = driver.create(library, config);
  } catch (err) {
    return unavailable(err);
  }
  try {
    const opened = await withTimeout(
      backend.open(),
      config.vendors.initTimeoutMs,
      () => new GpupoolError(ErrorCodes.VENDOR_INIT_TIMEOUT, `${vendor}: library init did not answer within ${config.vendors.initTimeoutMs} ms`),
    );
    return {
      status: { ...status, available: true, versions: opened.versions, deviceCount: opened.devices.length },
      backend,
      cards: opened.devices,
    };
  } catch (err) {
    // A timed-out init still holds its worker thread; closing the library under it would be unsafe.
    if (!(err instanceof GpupoolError && err.code === ErrorCodes.VENDOR_INIT_TIMEOUT)) {
      await backend.close().catch(() => undefined);
    }
    return unavailable(err);
  }
}
