import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/schema.js';
import { messageOf } from '../errors.js';
import { emulatedDriver, emulatedKernels } from '../paths.js';
import { loadComputeAddon, type ComputeAddon, type NativeDriver } from './native.js';

export interface ComputeStatus {
  enabled: boolean;
  available: boolean;
  driver: string | null;
  driverVersion: number | null;
  protocolDigest: string | null;
  error?: string;
}

export interface OpenedCompute {
  status: ComputeStatus;
  driver: NativeDriver | null;
  addon: ComputeAddon | null;
}

/**
 * Opens the CUDA driver the daemon runs clients' calls on: the real libcuda.so.1, or with `simulate`
 * the emulated one, through the same call. A host whose driver cannot be opened still serves status.
 */
export async function openCompute(config: DaemonConfig, logger: Logger): Promise<OpenedCompute> {
  const path = config.compute.driver ?? (config.simulate !== null ? emulatedDriver : 'libcuda.so.1');
  const status: ComputeStatus = { enabled: config.compute.enabled, available: false, driver: path, driverVersion: null, protocolDigest: null };
  if (!config.compute.enabled) return { status, driver: null, addon: null };
  // The emulator runs kernels from libraries named here; a simulated host gets its test kernels.
  if (config.simulate !== null) process.env.GPUPOOL_EMU_KERNELS ??= emulatedKernels;
  try {
    const addon = loadComputeAddon();
    const driver = await addon.openDriver(path);
    logger.info({ driver: path, version: driver.version, devices: driver.devices().length, protocol: driver.digest }, 'compute available');
    return { status: { ...status, available: true, driverVersion: driver.version, protocolDigest: driver.digest }, driver, addon };
  } catch (err) {
    logger.warn({ driver: path, error: messageOf(err) }, 'compute unavailable');
    return { status: { ...status, error: messageOf(err) }, driver: null, addon: null };
  }
}
