import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';

/** A device as the daemon's driver describes it; sent to clients in the handshake. */
export interface DriverDevice {
  ordinal: number;
  name: string;
  uuid: Buffer;
  pciDomain: number;
  pciBus: number;
  pciDevice: number;
  totalMem: number;
  attributes: [number, number][];
}

export interface NativeDriver {
  readonly path: string;
  readonly version: number;
  readonly digest: string;
  devices(): DriverDevice[];
}

export interface SessionStats {
  calls: number;
  asyncCalls: number;
  messages: number;
  handles: number;
  contexts: number;
  allocations: number;
  allocatedBytes: number;
  deferredError: number;
  /** The session's memory quota per card, by ordinal, in bytes. */
  quota: number[];
  /** Device memory the session holds per card, by ordinal, in bytes (counted against its quota). */
  used: number[];
}

export interface NativeSession {
  /** False once the session is closing: the message was not taken. */
  submit(message: Buffer): boolean;
  close(): void;
  stats(): SessionStats;
}

/** The compute addon (native/addon): every driver call runs on its native threads, never here. */
export interface ComputeAddon {
  openDriver(path: string): Promise<NativeDriver>;
  /** quota: bytes per card, by ordinal; null: a card the session may not use (its contexts are refused with CUDA_ERROR_INVALID_DEVICE). */
  Session: new (driver: NativeDriver, onOutput: (message: Buffer) => void, onClosed: (reason: string | null) => void, quota?: (number | null)[]) => NativeSession;
}

let addon: ComputeAddon | null = null;

export const addonPath = join(packageRoot, 'build', 'Release', 'gpupool_compute.node');

export function loadComputeAddon(): ComputeAddon {
  addon ??= createRequire(import.meta.url)(addonPath) as ComputeAddon;
  return addon;
}
