import koffi from 'koffi';
import { ErrorCodes, GpupoolError } from '../errors.js';
import type { HealthListener, OpenedVendor, VendorBackend } from './backend.js';
import { formatPciBusId, type DeviceIdentity, type DeviceSample, type ProcessUse, type SampleResult } from './device.js';
import { bindFirst, callAsync, cString, type NativeFunction } from './ffi.js';
import type { Library, LibrarySpec } from './library.js';

export const nvmlLibrary: LibrarySpec = {
  vendor: 'nvidia',
  names: ['libnvidia-ml.so.1', 'libnvidia-ml.so'],
  systemDirs: ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib/aarch64-linux-gnu', '/usr/local/nvidia/lib64'],
};

// nvmlReturn_t values gpupool acts on (the full list is in NVML's header).
const SUCCESS = 0;
const NOT_SUPPORTED = 3;
const NO_PERMISSION = 4;
const INSUFFICIENT_SIZE = 7;
const TIMEOUT = 10;

const NVML_MEMORY_V2 = (2 << 24) | 40; // NVML_STRUCT_VERSION(Memory, 2): sizeof | version << 24
const PROCESS_INFO_SIZE = 24; // nvmlProcessInfo_t (v2 layout), used by the _v3 call
const XID_CRITICAL = 0x8n;
const SINGLE_BIT_ECC = 0x1n;
const DOUBLE_BIT_ECC = 0x2n;

export interface NvmlOptions {
  /** How long one event wait blocks its worker thread before the loop checks for shutdown. */
  eventWaitMs: number;
  /** Xids that applications cause; they never make a card unhealthy. */
  ignoredXids: readonly number[];
}

/** NVML through koffi. Handles are opaque pointers; out-parameters are plain buffers decoded here. */
export class NvmlBackend implements VendorBackend {
  readonly vendor = 'nvidia' as const;
  private readonly fn: ReturnType<typeof bindNvml>;
  private handles: unknown[] = [];
  private watching: Promise<void> | null = null;
  private stopping = false;
  private closed = false;

  constructor(lib: Library, private readonly options: NvmlOptions) {
    this.fn = bindNvml(lib);
  }

  private errorString(code: number): string {
    return String(this.fn.errorString(code) ?? `NVML error ${code}`);
  }

  private check(name: string, code: number): void {
    if (code !== SUCCESS) throw new NvmlCallError(name, code, this.errorString(code));
  }

  async open(): Promise<OpenedVendor> {
    const init = await callAsync(this.fn.init);
    if (init !== SUCCESS) {
      throw new GpupoolError(ErrorCodes.VENDOR_INIT_FAILED, `nvidia: nvmlInit_v2 failed: ${this.errorString(init)} (${init})`, {
        details: { vendor: 'nvidia', libraryCode: init },
      });
    }
    const countBuf = Buffer.alloc(4);
    this.check('nvmlDeviceGetCount_v2', await callAsync(this.fn.getCount, countBuf));
    const devices: DeviceIdentity[] = [];
    this.handles = [];
    for (let index = 0; index < countBuf.readUInt32LE(0); index++) {
      const out = Buffer.alloc(8);
      this.check('nvmlDeviceGetHandleByIndex_v2', await callAsync(this.fn.getHandleByIndex, index, out));
      const handle = koffi.decode(out, 'void *');
      this.handles.push(handle);
      devices.push(await this.identify(index, handle));
    }
    return {
      versions: {
        driver: await this.readString(this.fn.driverVersion, 80),
        library: await this.readString(this.fn.nvmlVersion, 80),
      },
      devices,
    };
  }

  private async readString(fn: NativeFunction, size: number, handle?: unknown): Promise<string | null> {
    const buf = Buffer.alloc(size);
    const code = handle === undefined ? await callAsync(fn, buf, size) : await callAsync(fn, handle, buf, size);
    return code === SUCCESS ? cString(buf) : null;
  }

  private async identify(index: number, handle: unknown): Promise<DeviceIdentity> {
    const name = await this.readString(this.fn.getName, 96, handle);
    const uuid = await this.readString(this.fn.getUuid, 96, handle);
    if (name === null || uuid === null) throw new NvmlCallError('nvmlDeviceGetName/UUID', -1, `card ${index} did not answer`);
    const pci = Buffer.alloc(68);
    this.check('nvmlDeviceGetPciInfo', await callAsync(this.fn.getPciInfo, handle, pci));
    const minor = Buffer.alloc(4);
    const minorCode = await callAsync(this.fn.getMinorNumber, handle, minor);
    const cc = Buffer.alloc(8);
    const ccCode = await callAsync(this.fn.getComputeCapability, handle, cc, cc.subarray(4));
    return {
      vendor: 'nvidia',
      index,
      uuid,
      name,
      // nvmlPciInfo_t: domain@16, bus@20, device@24; NVML reports function 0 for whole GPUs.
      pciBusId: formatPciBusId(pci.readUInt32LE(16), pci.readUInt32LE(20), pci.readUInt32LE(24), 0),
      devicePath: minorCode === SUCCESS ? `/dev/nvidia${minor.readUInt32LE(0)}` : null,
      computeCapability: ccCode === SUCCESS ? `${cc.readInt32LE(0)}.${cc.readInt32LE(4)}` : null,
    };
  }

  async sample(index: number): Promise<SampleResult> {
    const handle = this.handles[index];
    if (handle === undefined) return { ok: false, reason: `no NVIDIA card ${index}` };
    try {
      return { ok: true, sample: await this.read(handle) };
    } catch (err) {
      if (err instanceof NvmlCallError) return { ok: false, reason: err.message };
      throw err;
    }
  }

  /** A figure the card does not support is null; any other failure means the card cannot be read. */
  private optional(name: string, code: number): boolean {
    if (code === SUCCESS) return true;
    if (code === NOT_SUPPORTED || code === NO_PERMISSION) return false;
    throw new NvmlCallError(name, code, this.errorString(code));
  }

  private async read(handle: unknown): Promise<DeviceSample> {
    const mem = Buffer.alloc(40);
    mem.writeUInt32LE(NVML_MEMORY_V2, 0);
    const hasMem = this.optional('nvmlDeviceGetMemoryInfo_v2', await callAsync(this.fn.getMemoryInfo, handle, mem));
    const util = Buffer.alloc(8);
    const hasUtil = this.optional('nvmlDeviceGetUtilizationRates', await callAsync(this.fn.getUtilization, handle, util));
    const temp = Buffer.alloc(4);
    const hasTemp = this.optional('nvmlDeviceGetTemperature', await callAsync(this.fn.getTemperature, handle, 0, temp));
    const power = Buffer.alloc(4);
    const hasPower = this.optional('nvmlDeviceGetPowerUsage', await callAsync(this.fn.getPowerUsage, handle, power));
    return {
      // nvmlMemory_v2_t: version@0, total@8, reserved@16, free@24, used@32 (bytes).
      memory: hasMem
        ? { totalBytes: readU64(mem, 8), usedBytes: readU64(mem, 32), freeBytes: readU64(mem, 24) }
        : { totalBytes: null, usedBytes: null, freeBytes: null },
      utilization: hasUtil
        ? { gpuPercent: util.readUInt32LE(0), memoryPercent: util.readUInt32LE(4) }
        : { gpuPercent: null, memoryPercent: null },
      temperatureC: hasTemp ? temp.readUInt32LE(0) : null,
      powerW: hasPower ? power.readUInt32LE(0) / 1000 : null,
      processes: await this.processes(handle),
    };
  }

  private async processes(handle: unknown): Promise<ProcessUse[]> {
    // Size first, then read with room for processes that start in between.
    const count = Buffer.alloc(4);
    let code = await callAsync(this.fn.getProcesses, handle, count, null);
    if (code === SUCCESS) return [];
    if (code !== INSUFFICIENT_SIZE) {
      this.optional('nvmlDeviceGetComputeRunningProcesses_v3', code);
      return [];
    }
    const room = count.readUInt32LE(0) + 8;
    count.writeUInt32LE(room, 0);
    const infos = Buffer.alloc(room * PROCESS_INFO_SIZE);
    code = await callAsync(this.fn.getProcesses, handle, count, infos);
    if (!(this.optional('nvmlDeviceGetComputeRunningProcesses_v3', code))) return [];
    const out: ProcessUse[] = [];
    for (let i = 0; i < count.readUInt32LE(0); i++) {
      const used = infos.readBigUInt64LE(i * PROCESS_INFO_SIZE + 8);
      // NVML_VALUE_NOT_AVAILABLE (-1 as unsigned) where the driver cannot attribute memory.
      out.push({ pid: infos.readUInt32LE(i * PROCESS_INFO_SIZE), memoryBytes: used === 0xffffffffffffffffn ? null : Number(used) });
    }
    return out;
  }

  watchHealth(listener: HealthListener): void {
    if (this.watching || this.closed) return;
    this.watching = this.watchLoop(listener).catch((err: unknown) => {
      listener({ index: null, reason: `NVML event watch stopped: ${err instanceof Error ? err.message : String(err)}` });
    });
  }

  /**
   * NVML's event wait blocks, so each wait runs on a worker thread with a bounded timeout; between
   * waits the loop notices shutdown. Xids that applications cause are dropped here, as the NVIDIA
   * device plugin does.
   */
  private async watchLoop(listener: HealthListener): Promise<void> {
    const setOut = Buffer.alloc(8);
    this.check('nvmlEventSetCreate', await callAsync(this.fn.eventSetCreate, setOut));
    const set = koffi.decode(setOut, 'void *');
    try {
      for (const handle of this.handles) {
        const supported = Buffer.alloc(8);
        const code = await callAsync(this.fn.getSupportedEvents, handle, supported);
        const mask = code === SUCCESS ? supported.readBigUInt64LE(0) & (XID_CRITICAL | SINGLE_BIT_ECC | DOUBLE_BIT_ECC) : XID_CRITICAL;
        // NOT_SUPPORTED leaves the set usable for the other cards.
        await callAsync(this.fn.registerEvents, handle, mask, set);
      }
      const addresses = this.handles.map((h) => koffi.address(h));
      const data = Buffer.alloc(32);
      while (!this.stopping) {
        const code = await callAsync(this.fn.eventSetWait, set, data, this.options.eventWaitMs);
        if (this.stopping) break;
        if (code === TIMEOUT) continue;
        if (code !== SUCCESS) {
          listener({ index: null, reason: `nvmlEventSetWait_v2 failed: ${this.errorString(code)} (${code})` });
          await new Promise((r) => setTimeout(r, this.options.eventWaitMs));
          continue;
        }
        this.dispatch(data, addresses, listener);
      }
    } finally {
      await callAsync(this.fn.eventSetFree, set);
    }
  }

  private dispatch(data: Buffer, addresses: bigint[], listener: HealthListener): void {
    // nvmlEventData_t: device@0, eventType@8, eventData@16 (the Xid).
    const index = addresses.indexOf(data.readBigUInt64LE(0));
    const type = data.readBigUInt64LE(8);
    if (type === XID_CRITICAL) {
      const xid = Number(data.readBigUInt64LE(16));
      if (this.options.ignoredXids.includes(xid)) return;
      listener({ index: index < 0 ? null : index, xid, reason: `Xid ${xid}` });
    } else if (type === DOUBLE_BIT_ECC) {
      listener({ index: index < 0 ? null : index, reason: 'double-bit ECC error' });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopping = true;
    await this.watching;
    await callAsync(this.fn.shutdown);
  }
}

export class NvmlCallError extends Error {
  constructor(readonly call: string, readonly nvmlCode: number, text: string) {
    super(`${call}: ${text} (${nvmlCode})`);
    this.name = 'NvmlCallError';
  }
}

function readU64(buf: Buffer, offset: number): number {
  return Number(buf.readBigUInt64LE(offset));
}

function bindNvml(lib: Library) {
  return {
    init: bindFirst(lib, 'int nvmlInit_v2(void)', 'int nvmlInit(void)'),
    shutdown: bindFirst(lib, 'int nvmlShutdown(void)'),
    errorString: bindFirst(lib, 'const char *nvmlErrorString(int result)'),
    driverVersion: bindFirst(lib, 'int nvmlSystemGetDriverVersion(void *version, unsigned int length)'),
    nvmlVersion: bindFirst(lib, 'int nvmlSystemGetNVMLVersion(void *version, unsigned int length)'),
    getCount: bindFirst(lib, 'int nvmlDeviceGetCount_v2(void *count)', 'int nvmlDeviceGetCount(void *count)'),
    getHandleByIndex: bindFirst(
      lib,
      'int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void *device)',
      'int nvmlDeviceGetHandleByIndex(unsigned int index, void *device)',
    ),
    getName: bindFirst(lib, 'int nvmlDeviceGetName(void *device, void *name, unsigned int length)'),
    getUuid: bindFirst(lib, 'int nvmlDeviceGetUUID(void *device, void *uuid, unsigned int length)'),
    // _v3 and _v2 fill the same 68-byte nvmlPciInfo_t; _v3 fixes the legacy bus id only.
    getPciInfo: bindFirst(lib, 'int nvmlDeviceGetPciInfo_v3(void *device, void *pci)', 'int nvmlDeviceGetPciInfo_v2(void *device, void *pci)'),
    getMinorNumber: bindFirst(lib, 'int nvmlDeviceGetMinorNumber(void *device, void *minor)'),
    getComputeCapability: bindFirst(lib, 'int nvmlDeviceGetCudaComputeCapability(void *device, void *major, void *minor)'),
    getMemoryInfo: bindFirst(lib, 'int nvmlDeviceGetMemoryInfo_v2(void *device, void *memory)'),
    getUtilization: bindFirst(lib, 'int nvmlDeviceGetUtilizationRates(void *device, void *utilization)'),
    // Deprecated in NVML 13 but exported by every driver; the replacement is missing from older ones.
    getTemperature: bindFirst(lib, 'int nvmlDeviceGetTemperature(void *device, int sensor, void *temp)'),
    getPowerUsage: bindFirst(lib, 'int nvmlDeviceGetPowerUsage(void *device, void *power)'),
    getProcesses: bindFirst(
      lib,
      'int nvmlDeviceGetComputeRunningProcesses_v3(void *device, void *count, void *infos)',
      'int nvmlDeviceGetComputeRunningProcesses_v2(void *device, void *count, void *infos)',
    ),
    eventSetCreate: bindFirst(lib, 'int nvmlEventSetCreate(void *set)'),
    getSupportedEvents: bindFirst(lib, 'int nvmlDeviceGetSupportedEventTypes(void *device, void *types)'),
    registerEvents: bindFirst(lib, 'int nvmlDeviceRegisterEvents(void *device, unsigned long long types, void *set)'),
    eventSetWait: bindFirst(
      lib,
      'int nvmlEventSetWait_v2(void *set, void *data, unsigned int timeoutms)',
      'int nvmlEventSetWait(void *set, void *data, unsigned int timeoutms)',
    ),
    eventSetFree: bindFirst(lib, 'int nvmlEventSetFree(void *set)'),
  };
}

