import type { Device } from '../vendors/device.js';
import type { VendorStatus } from '../vendors/registry.js';
import type { ComputeStatus } from '../compute/backend.js';
import type { SessionInfo } from '../compute/endpoint.js';

/**
 * A card of the compute driver: its memory and the quota committed to live sessions
 * (docs/operations.md), the shares committed to them, and the scheduler's figures (docs/sharing.md).
 */
export interface ComputeCard {
  ordinal: number;
  uuid: string;
  totalMem: number;
  committed: number;
  committedShare: number;
  /** Sessions whose work waits for the card right now. */
  waiting: number;
  /** Device time of all sessions' work on the card, in ns. */
  deviceNs: number;
}
import type { HostInfo } from './host-info.js';

/** Bumped only for changes that break readers; fields may be added within a version. */
export const STATUS_API_VERSION = 'gpupool.status/v1';

export interface DaemonInfo {
  version: string;
  pid: number;
  startedAt: string;
  listen: string;
  /** The status address (`statusListen`); null: status is served on `listen`. */
  statusListen: string | null;
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
  compute: ComputeStatus & { sessions: SessionInfo[]; cards: ComputeCard[] };
  summary: { devices: number; healthy: number; unhealthy: number; vendorsAvailable: number };
}

export function buildStatus(
  host: HostInfo,
  daemon: DaemonInfo,
  vendors: VendorStatus[],
  devices: Device[],
  compute: ComputeStatus & { sessions: SessionInfo[]; cards: ComputeCard[] },
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
