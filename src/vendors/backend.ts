import type { DeviceIdentity, SampleResult, Vendor, VendorVersions } from './device.js';

export interface OpenedVendor {
  versions: VendorVersions;
  devices: DeviceIdentity[];
}

/** A health event pushed by a vendor library (NVML's Xid events) rather than found by polling. */
export interface HealthEvent {
  /** The card, or null when the event concerns every card (the event wait itself failed). */
  index: number | null;
  xid?: number;
  reason: string;
}

export type HealthListener = (event: HealthEvent) => void;

/**
 * One vendor's management library behind the calls gpupool needs. Every method that reaches the
 * library runs it on a worker thread, so a stalled driver never stalls the event loop.
 */
export interface VendorBackend {
  readonly vendor: Vendor;
  /** Initialises the library and reads what each card is. */
  open(): Promise<OpenedVendor>;
  /** Reads one card's live figures; a card the library cannot reach gives `ok: false`. */
  sample(index: number): Promise<SampleResult>;
  /** Starts pushing health events; only vendors with an event interface implement it. */
  watchHealth?(listener: HealthListener): void;
  /** Stops event watching and releases the library; safe to call more than once. */
  close(): Promise<void>;
}
