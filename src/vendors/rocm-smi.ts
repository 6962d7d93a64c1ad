import { readFileSync } from 'node:fs';
import { ErrorCodes, GpupoolError } from '../errors.js';
import type { OpenedVendor, VendorBackend } from './backend.js';
import { formatPciBusId, type DeviceIdentity, type DeviceSample, type SampleResult } from './device.js';
import { bindFirst, bindOptional, callAsync, cString, type NativeFunction } from './ffi.js';
import type { Library, LibrarySpec } from './library.js';
import { drmRenderNode } from './sysfs.js';

export const rocmSmiLibrary: LibrarySpec = {
  vendor: 'amd',
  names: ['librocm_smi64.so', 'librocm_smi64.so.7', 'librocm_smi64.so.6', 'librocm_smi64.so.5', 'librocm_smi64.so.1'],
  systemDirs: ['/opt/rocm/lib', '/opt/rocm/lib64'],
};

// rsmi_status_t values gpupool acts on.
const SUCCESS = 0;
const NOT_SUPPORTED = 2;
const PERMISSION = 4;
const NOT_YET_IMPLEMENTED = 9;
const MEM_VRAM = 0;
const TEMP_EDGE = 0;
const TEMP_JUNCTION = 1;
const TEMP_CURRENT = 0;

/** ROCm SMI through koffi: devices are plain indexes and every figure is a scalar out-parameter. */
export class RocmSmiBackend implements VendorBackend {
  readonly vendor = 'amd' as const;
  private readonly fn: ReturnType<typeof bindRocmSmi>;
  private count = 0;
  private closed = false;

  constructor(lib: Library) {
    this.fn = bindRocmSmi(lib);
  }

  private statusString(code: number): string {
    const out = [null];
    return this.fn.statusString(code, out) === SUCCESS && typeof out[0] === 'string' ? out[0] : `ROCm SMI status ${code}`;
  }

  private fail(call: string, code: number): never {
    throw new RocmSmiCallError(call, code, this.statusString(code));
  }

  async open(): Promise<OpenedVendor> {
    const init = await callAsync(this.fn.init, 0n);
    if (init !== SUCCESS) {
      throw new GpupoolError(ErrorCodes.VENDOR_INIT_FAILED, `amd: rsmi_init failed: ${this.statusString(init)} (${init})`, {
        details: { vendor: 'amd', libraryCode: init },
      });
    }
    const count = Buffer.alloc(4);
    const code = await callAsync(this.fn.numDevices, count);
    if (code !== SUCCESS) this.fail('rsmi_num_monitor_devices', code);
    this.count = count.readUInt32LE(0);
    const devices: DeviceIdentity[] = [];
    for (let index = 0; index < this.count; index++) devices.push(await this.identify(index));
    const version = Buffer.alloc(24); // rsmi_version_t: major, minor, patch (uint32), build (const char *)
    const library = (await callAsync(this.fn.version, version)) === SUCCESS
      ? `${version.readUInt32LE(0)}.${version.readUInt32LE(4)}.${version.readUInt32LE(8)}`
      : null;
    return { versions: { driver: amdgpuDriverVersion(), library }, devices };
  }

  private async identify(index: number): Promise<DeviceIdentity> {
    const market = Buffer.alloc(256);
    const plain = Buffer.alloc(256);
    const name =
      (await callAsync(this.fn.marketName, index, market, market.length)) === SUCCESS && cString(market) !== ''
        ? cString(market)
        : (await callAsync(this.fn.name, index, plain, BigInt(plain.length))) === SUCCESS
          ? cString(plain)
          : `AMD GPU ${index}`;
    const id = Buffer.alloc(8);
    let code = await callAsync(this.fn.uniqueId, index, id);
    if (code !== SUCCESS) this.fail('rsmi_dev_unique_id_get', code);
    const bdf = Buffer.alloc(8);
    code = await callAsync(this.fn.pciId, index, bdf);
    if (code !== SUCCESS) this.fail('rsmi_dev_pci_id_get', code);
    const pciBusId = decodeBdfid(bdf.readBigUInt64LE(0));
    return {
      vendor: 'amd',
      index,
      uuid: `0x${id.readBigUInt64LE(0).toString(16).padStart(16, '0')}`,
      name,
      pciBusId,
      devicePath: drmRenderNode(pciBusId),
      computeCapability: null,
    };
  }

  async sample(index: number): Promise<SampleResult> {
    if (index < 0 || index >= this.count) return { ok: false, reason: `no AMD card ${index}` };
    try {
      return { ok: true, sample: await this.read(index) };
    } catch (err) {
      if (err instanceof RocmSmiCallError) return { ok: false, reason: err.message };
      throw err;
    }
  }

  /** Reads one scalar; unsupported figures are null, other failures mean the card cannot be read. */
  private async scalar(call: string, fn: NativeFunction, args: unknown[], size: 4 | 8): Promise<bigint | null> {
    const out = Buffer.alloc(8);
    const code = await callAsync(fn, ...args, out);
    if (code === SUCCESS) return size === 4 ? BigInt(out.readUInt32LE(0)) : out.readBigInt64LE(0);
    if (code === NOT_SUPPORTED || code === NOT_YET_IMPLEMENTED || code === PERMISSION) return null;
    this.fail(call, code);
  }

  private async read(index: number): Promise<DeviceSample> {
    const total = await this.scalar('rsmi_dev_memory_total_get', this.fn.memoryTotal, [index, MEM_VRAM], 8);
    const used = await this.scalar('rsmi_dev_memory_usage_get', this.fn.memoryUsage, [index, MEM_VRAM], 8);
    const busy = await this.scalar('rsmi_dev_busy_percent_get', this.fn.busyPercent, [index], 4);
    const memBusy = await this.scalar('rsmi_dev_memory_busy_percent_get', this.fn.memoryBusyPercent, [index], 4);
    // MI300-class parts have no edge sensor; their junction sensor is the one AMD's tools show.
    const temp =
      (await this.scalar('rsmi_dev_temp_metric_get', this.fn.temperature, [index, TEMP_EDGE, TEMP_CURRENT], 8)) ??
      (await this.scalar('rsmi_dev_temp_metric_get', this.fn.temperature, [index, TEMP_JUNCTION, TEMP_CURRENT], 8));
    const power = await this.power(index);
    const num = (v: bigint | null) => (v === null ? null : Number(v));
    return {
      memory: {
        totalBytes: num(total),
        usedBytes: num(used),
        freeBytes: total !== null && used !== null ? Number(total - used) : null,
      },
      utilization: { gpuPercent: num(busy), memoryPercent: num(memBusy) },
      temperatureC: temp === null ? null : Number(temp) / 1000, // millidegrees
      powerW: power,
      // ROCm SMI lists compute processes system-wide, not per card; per-card attribution needs
      // rsmi_compute_process_gpus_get, which gpupool does not use yet.
      processes: [],
    };
  }

  private async power(index: number): Promise<number | null> {
    const out = Buffer.alloc(8);
    const type = Buffer.alloc(4);
    const code = this.fn.power ? await callAsync(this.fn.power, index, out, type) : NOT_SUPPORTED;
    if (code === SUCCESS) return Number(out.readBigUInt64LE(0)) / 1e6; // microwatts
    const avg = await this.scalar('rsmi_dev_power_ave_get', this.fn.powerAverage, [index, 0], 8);
    return avg === null ? null : Number(avg) / 1e6;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await callAsync(this.fn.shutdown);
  }
}

export class RocmSmiCallError extends Error {
  constructor(readonly call: string, readonly rsmiCode: number, text: string) {
    super(`${call}: ${text} (${rsmiCode})`);
    this.name = 'RocmSmiCallError';
  }
}

/** BDFID = domain << 32 | partition << 28 | bus << 8 | device << 3 | function. */
export function decodeBdfid(bdfid: bigint): string {
  const n = (shift: bigint, mask: bigint) => Number((bdfid >> shift) & mask);
  return formatPciBusId(n(32n, 0xffffffffn), n(8n, 0xffn), n(3n, 0x1fn), n(0n, 0x7n));
}

function amdgpuDriverVersion(): string | null {
  try {
    return readFileSync('/sys/module/amdgpu/version', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

function bindRocmSmi(lib: Library) {
  return {
    init: bindFirst(lib, 'uint32_t rsmi_init(uint64_t flags)'),
    shutdown: bindFirst(lib, 'uint32_t rsmi_shut_down(void)'),
    statusString: bindFirst(lib, 'uint32_t rsmi_status_string(uint32_t status, _Out_ const char **text)'),
    version: bindFirst(lib, 'uint32_t rsmi_version_get(void *version)'),
    numDevices: bindFirst(lib, 'uint32_t rsmi_num_monitor_devices(void *count)'),
    name: bindFirst(lib, 'uint32_t rsmi_dev_name_get(uint32_t dv, void *name, size_t len)'),
    marketName: bindFirst(lib, 'uint32_t rsmi_dev_market_name_get(uint32_t dv, void *name, uint32_t len)'),
    uniqueId: bindFirst(lib, 'uint32_t rsmi_dev_unique_id_get(uint32_t dv, void *id)'),
    pciId: bindFirst(lib, 'uint32_t rsmi_dev_pci_id_get(uint32_t dv, void *bdfid)'),
    memoryTotal: bindFirst(lib, 'uint32_t rsmi_dev_memory_total_get(uint32_t dv, uint32_t type, void *total)'),
    memoryUsage: bindFirst(lib, 'uint32_t rsmi_dev_memory_usage_get(uint32_t dv, uint32_t type, void *used)'),
    busyPercent: bindFirst(lib, 'uint32_t rsmi_dev_busy_percent_get(uint32_t dv, void *percent)'),
    memoryBusyPercent: bindFirst(lib, 'uint32_t rsmi_dev_memory_busy_percent_get(uint32_t dv, void *percent)'),
    temperature: bindFirst(lib, 'uint32_t rsmi_dev_temp_metric_get(uint32_t dv, uint32_t sensor, uint32_t metric, void *temp)'),
    // rsmi_dev_power_get arrived with ROCm 6; older libraries only have the average.
    power: bindOptional(lib, 'uint32_t rsmi_dev_power_get(uint32_t dv, void *power, void *type)'),
    powerAverage: bindFirst(lib, 'uint32_t rsmi_dev_power_ave_get(uint32_t dv, uint32_t sensor, void *power)'),
  };
}
