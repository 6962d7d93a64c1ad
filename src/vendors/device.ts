import type { Vendor } from '../config/schema.js';

export type { Vendor };

/** What a card is; read once when the vendor is opened. */
export interface DeviceIdentity {
  vendor: Vendor;
  /** The card's index in its vendor library's own numbering. */
  index: number;
  uuid: string;
  name: string;
  /** `DDDD:BB:DD.F`, lower-case, the form Linux's sysfs uses for every vendor. */
  pciBusId: string;
  /** Character device the card is reached through, for cgroup device rules (`/dev/nvidia0`). */
  devicePath: string | null;
  computeCapability: string | null;
}

export interface ProcessUse {
  pid: number;
  memoryBytes: number | null;
}

/**
 * Live figures of one card. A figure the library does not support (or failed to read) is null, never
 * zero: a dashboard must not show an unreadable temperature as 0 °C.
 */
export interface DeviceSample {
  memory: { totalBytes: number | null; usedBytes: number | null; freeBytes: number | null };
  utilization: { gpuPercent: number | null; memoryPercent: number | null };
  temperatureC: number | null;
  powerW: number | null;
  processes: ProcessUse[];
}

export type HealthState = 'healthy' | 'unhealthy';

export interface DeviceHealth {
  state: HealthState;
  /** Why the card is unhealthy (the Xid, the library's error); absent when healthy. */
  reason?: string;
  /** When the state last changed (ISO 8601). */
  since: string;
  lastXid?: number;
  xidEvents: number;
}

/** One card as status, metrics and placement see it. */
export interface Device extends DeviceIdentity, DeviceSample {
  health: DeviceHealth;
  /** When the live figures were read (ISO 8601). */
  sampledAt: string;
}

/**
 * Result of a poll of one card: figures (with `problem` when the library itself calls the card
 * unhealthy), or the reason the library could not read it.
 */
export type SampleResult = { ok: true; sample: DeviceSample; problem?: string } | { ok: false; reason: string };

/** A vendor's versions as its library reports them. */
export interface VendorVersions {
  driver: string | null;
  library: string | null;
}

export function emptySample(): DeviceSample {
  return {
    memory: { totalBytes: null, usedBytes: null, freeBytes: null },
    utilization: { gpuPercent: null, memoryPercent: null },
    temperatureC: null,
    powerW: null,
    processes: [],
  };
}

/** Normalises `00000000:17:00.0`, `0000:17:00.0` and numeric parts to `0000:17:00.0`. */
export function formatPciBusId(domain: number, bus: number, device: number, fn: number): string {
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${hex(domain, 4)}:${hex(bus, 2)}:${hex(device, 2)}.${hex(fn, 1)}`;
}
