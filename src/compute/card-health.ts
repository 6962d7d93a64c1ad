import type { Device, DeviceHealth } from '../vendors/device.js';
import type { DriverDevice } from './native.js';

/**
 * The compute driver's cards as the vendor libraries judge them (docs/operations.md, "Faults"): the
 * CUDA driver and NVML name a card by the same UUID, so that is how a CUDA ordinal finds its health.
 */

/** CUresults a session's calls on a card that went bad answer with (cuda.h). */
export const CUDA_ERROR_DEVICE_UNAVAILABLE = 46;
export const CUDA_ERROR_ECC_UNCORRECTABLE = 214;

export const CUDA_ERROR_NAMES: Record<number, string> = {
  [CUDA_ERROR_DEVICE_UNAVAILABLE]: 'CUDA_ERROR_DEVICE_UNAVAILABLE',
  [CUDA_ERROR_ECC_UNCORRECTABLE]: 'CUDA_ERROR_ECC_UNCORRECTABLE',
};

/**
 * Xids that report uncorrectable memory errors: 48 (double-bit ECC), 63 and 64 (page retirement or
 * row remapping after one), 94 and 95 (contained and uncontained ECC errors).
 */
export const ECC_XIDS: readonly number[] = [48, 63, 64, 94, 95];

export type CardHealthState = 'healthy' | 'unhealthy' | 'unknown';

export interface CardHealth {
  ordinal: number;
  /** `unknown`: no vendor library reports a card with this UUID (it is then used as healthy). */
  state: CardHealthState;
  health: DeviceHealth | null;
}

/** The driver's 16-byte UUID as NVML and nvidia-smi write it: `GPU-8-4-4-4-12` hex digits. */
export function formatCudaUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Each CUDA ordinal's health, from the vendor device with the same UUID. */
export function cardHealth(devices: DriverDevice[], vendorDevices: Device[]): CardHealth[] {
  const byUuid = new Map(vendorDevices.map((d) => [d.uuid.toLowerCase(), d]));
  return devices.map((d) => {
    const vendor = byUuid.get(formatCudaUuid(d.uuid).toLowerCase());
    return { ordinal: d.ordinal, state: vendor?.health.state ?? 'unknown', health: vendor?.health ?? null };
  });
}

/** The ordinals a new session may be given: every card not reported unhealthy. */
export function healthyOrdinals(devices: DriverDevice[], vendorDevices: Device[]): number[] {
  return cardHealth(devices, vendorDevices)
    .filter((c) => c.state !== 'unhealthy')
    .map((c) => c.ordinal);
}

/**
 * What a session's later calls on an unhealthy card answer: CUDA_ERROR_ECC_UNCORRECTABLE after an ECC
 * Xid or a double-bit ECC event (the job's data on the card may be corrupt), else
 * CUDA_ERROR_DEVICE_UNAVAILABLE (the card is lost, or failed in a way its data survives).
 */
export function poisonCode(health: DeviceHealth): number {
  const ecc = (health.lastXid !== undefined && ECC_XIDS.includes(health.lastXid)) || /double-bit ECC/.test(health.reason ?? '');
  return ecc ? CUDA_ERROR_ECC_UNCORRECTABLE : CUDA_ERROR_DEVICE_UNAVAILABLE;
}
