import type { Device } from '../vendors/device.js';
import type { PlacementCard } from '../sharing/placement.js';
import type { CardCommitment } from '../sharing/quota.js';
import type { DriverDevice } from './native.js';

/** A card of the compute driver as status and placement show it (docs/operations.md, "Placement"). */
export interface ComputeCard extends PlacementCard {
  name: string;
}

/** The driver's 16-byte UUID in NVML's form, `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
export function cudaUuid(bytes: Buffer): string | null {
  if (bytes.length !== 16) return null;
  const hex = bytes.toString('hex');
  return `GPU-${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Joins the driver's cards, what live sessions hold of them, and the vendor sampler's view of the same
 * cards (found by UUID: the CUDA driver and NVML name a card alike). A card no vendor library reports
 * has unknown health and utilization, and placement still uses it.
 */
export function computeCards(devices: DriverDevice[], held: CardCommitment[], vendorDevices: Device[]): ComputeCard[] {
  const byUuid = new Map(vendorDevices.map((d) => [d.uuid.toLowerCase(), d]));
  return devices.map((d) => {
    const uuid = cudaUuid(d.uuid);
    const vendor = uuid === null ? undefined : byUuid.get(uuid.toLowerCase());
    const h = held.find((c) => c.ordinal === d.ordinal);
    return {
      ordinal: d.ordinal,
      name: d.name,
      uuid,
      totalMem: d.totalMem,
      committed: h?.committed ?? 0,
      shares: h?.shares ?? 0,
      sessions: h?.sessions ?? 0,
      utilization: vendor?.utilization.gpuPercent ?? null,
      health: vendor?.health.state ?? 'unknown',
      ...(vendor?.health.reason === undefined ? {} : { healthReason: vendor.health.reason }),
    };
  });
}
