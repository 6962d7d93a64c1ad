import type { Device } from '../vendors/device.js';
import type { VendorStatus } from '../vendors/registry.js';
import type { ComputeStatus } from '../compute/backend.js';
import type { ComputeCard } from '../compute/cards.js';
import type { SessionInfo, SharingStatus } from '../compute/endpoint.js';
import type { EmuStats } from '../compute/native.js';
import type { HostInfo } from './host-info.js';

/**
 * The compute section: the driver, its sessions, its cards as placement sees them, the sharing settings
 * (null: no compute); `emulator`, with the emulated driver only: its counters of what is live in the
 * daemon (docs/emulator.md).
 */
export type ComputeSection = ComputeStatus & { sessions: SessionInfo[]; cards: ComputeCard[]; sharing: SharingStatus | null; emulator?: EmuStats };

/** Bumped only for changes that break readers; fields may be added within a version. */
export const STATUS_API_VERSION = 'gpupool.status/v1';

export interface DaemonInfo {
  version: string;
  pid: number;
  startedAt: string;
  listen: string;
  /** The status address (`statusListen`); null: status is served on `listen`. */
  statusListen: string | null;
  /** The Unix socket jobs on this host connect through (`localSocket`); null: none. */
  localSocket: string | null;
  /** Whether `listen` serves HTTPS and `wss://`. */
  tls: boolean;
  /** Whether compute clients must present a certificate signed by `tls.clientCa`. */
  clientCertificates: boolean;
  simulated: boolean;
}

export interface StatusDocument {
  apiVersion: typeof STATUS_API_VERSION;
  host: HostInfo;
  daemon: DaemonInfo;
  vendors: VendorStatus[];
  devices: Device[];
  compute: ComputeSection;
  summary: { devices: number; healthy: number; unhealthy: number; vendorsAvailable: number };
}

export function buildStatus(
  host: HostInfo,
  daemon: DaemonInfo,
  vendors: VendorStatus[],
  devices: Device[],
  compute: ComputeSection,
): StatusDocument {
  const healthy = devices.filter((d) => d.health.state === 'healthy').length;
  return {
    apiVersion: STATUS_API_VERSION,
    host,
    daemon,
    vendors,
    devices,
    compute,
    summary: {
      devices: devices.length,
      healthy,
      unhealthy: devices.length - healthy,
      vendorsAvailable: vendors.filter((v) => v.available).length,
    },
  };
}
