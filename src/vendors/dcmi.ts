import { ErrorCodes, GpupoolError } from '../errors.js';
import type { OpenedVendor, VendorBackend } from './backend.js';
import { formatPciBusId, type DeviceIdentity, type DeviceSample, type ProcessUse, type SampleResult } from './device.js';
import { bindFirst, bindOptional, callAsync, cString, type NativeFunction } from './ffi.js';
import type { Library, LibrarySpec } from './library.js';

export const dcmiLibrary: LibrarySpec = {
  vendor: 'ascend',
  names: ['libdcmi.so'],
  systemDirs: ['/usr/local/Ascend/driver/lib64/driver', '/usr/local/Ascend/driver/lib64', '/usr/local/dcmi'],
};

const SUCCESS = 0;
const NOT_SUPPORTED = -8255;
const MAX_CARDS = 64;
const VDIE = 1;
const UTIL_AICORE = 2;
const UTIL_HBM = 6;
const MB = 1024 * 1024;
const MAX_PROCESSES = 64;

/** Messages of the DCMI return codes gpupool may see (from Ascend's device manager). */
const DCMI_ERRORS: Record<number, string> = {
  [-8001]: 'the input parameter is incorrect',
  [-8002]: 'permission error',
  [-8005]: 'internal error',
  [-8006]: 'response timed out',
  [-8007]: 'invalid device id',
  [-8008]: 'the device does not exist',
  [-8012]: 'not ready yet',
  [-8255]: 'device id or function not supported',
};

function dcmiMessage(code: number): string {
  return DCMI_ERRORS[code] ?? `DCMI error ${code}`;
}

interface AscendChip {
  card: number;
  device: number;
}

/** Huawei DCMI through koffi: a chip is a (card id, device id) pair. */
export class DcmiBackend implements VendorBackend {
  readonly vendor = 'ascend' as const;
  private readonly fn: ReturnType<typeof bindDcmi>;
  private chips: AscendChip[] = [];

  constructor(lib: Library) {
    this.fn = bindDcmi(lib);
  }

  async open(): Promise<OpenedVendor> {
    const init = await callAsync(this.fn.init);
    if (init !== SUCCESS) {
      throw new GpupoolError(ErrorCodes.VENDOR_INIT_FAILED, `ascend: dcmi_init failed: ${dcmiMessage(init)} (${init})`, {
        details: { vendor: 'ascend', libraryCode: init },
      });
    }
    const num = Buffer.alloc(4);
    const list = Buffer.alloc(4 * MAX_CARDS);
    const code = await callAsync(this.fn.cardList, num, list, MAX_CARDS);
    if (code !== SUCCESS) throw new DcmiCallError('dcmi_get_card_list', code);
    this.chips = [];
    for (let i = 0; i < Math.min(num.readInt32LE(0), MAX_CARDS); i++) {
      const card = list.readInt32LE(i * 4);
      if (card < 0) continue;
      const count = Buffer.alloc(4);
      if ((await callAsync(this.fn.deviceNum, card, count)) !== SUCCESS) continue;
      for (let device = 0; device < count.readInt32LE(0); device++) this.chips.push({ card, device });
    }
    const devices: DeviceIdentity[] = [];
    for (const [index, chip] of this.chips.entries()) devices.push(await this.identify(index, chip));
    const version = Buffer.alloc(64);
    const library = (await callAsync(this.fn.version, version, version.length)) === SUCCESS ? cString(version) : null;
    return { versions: { driver: library, library }, devices };
  }

  private async identify(index: number, { card, device }: AscendChip): Promise<DeviceIdentity> {
    const logic = Buffer.alloc(4);
    const logicId = (await callAsync(this.fn.logicId, logic, card, device)) === SUCCESS ? logic.readInt32LE(0) : index;
    return {
      vendor: 'ascend',
      index,
      uuid: await this.vdieId(card, device),
      name: await this.chipName(card, device),
      pciBusId: await this.pciBusId(card, device),
      devicePath: `/dev/davinci${logicId}`,
      computeCapability: null,
    };
  }

  private async chipName(card: number, device: number): Promise<string> {
    // dcmi_chip_info(_v2): chip_type[32], chip_name[32], chip_ver[32], aicore_cnt (+ npu_name[32] in v2).
    const info = Buffer.alloc(132);
    let code = this.fn.chipInfoV2 ? await callAsync(this.fn.chipInfoV2, card, device, info) : NOT_SUPPORTED;
    if (code !== SUCCESS) code = await callAsync(this.fn.chipInfo, card, device, info);
    if (code !== SUCCESS) throw new DcmiCallError('dcmi_get_device_chip_info', code);
    return `${cString(info.subarray(0, 32))}${cString(info.subarray(32, 64))}`;
  }

  /** Ascend has no UUID call; its device plugins identify a chip by the VDie id, formatted like this. */
  private async vdieId(card: number, device: number): Promise<string> {
    const die = Buffer.alloc(20);
    const code = await callAsync(this.fn.die, card, device, VDIE, die);
    if (code !== SUCCESS) throw new DcmiCallError('dcmi_get_device_die_v2', code);
    const words = Array.from({ length: 5 }, (_, i) => die.readUInt32LE(i * 4).toString(16).toUpperCase().padStart(8, '0'));
    return words.join('-');
  }

  private async pciBusId(card: number, device: number): Promise<string> {
    // dcmi_pcie_info_all: venderid, subvenderid, deviceid, subdeviceid, domain@16, bus@20, device@24, func@28.
    const pcie = Buffer.alloc(64);
    const code = await callAsync(this.fn.pcieInfo, card, device, pcie);
    if (code !== SUCCESS) throw new DcmiCallError('dcmi_get_device_pcie_info_v2', code);
    return formatPciBusId(pcie.readInt32LE(16), pcie.readUInt32LE(20), pcie.readUInt32LE(24), pcie.readUInt32LE(28));
  }

  async sample(index: number): Promise<SampleResult> {
    const chip = this.chips[index];
    if (chip === undefined) return { ok: false, reason: `no Ascend chip ${index}` };
    try {
      const health = Buffer.alloc(4);
      const code = await callAsync(this.fn.health, chip.card, chip.device, health);
      if (code !== SUCCESS) throw new DcmiCallError('dcmi_get_device_health', code);
      const sample = await this.read(chip);
      const status = health.readUInt32LE(0);
      return status === 0 ? { ok: true, sample } : { ok: true, sample, problem: `DCMI health status ${status}` };
    } catch (err) {
      if (err instanceof DcmiCallError) return { ok: false, reason: err.message };
      throw err;
    }
  }

  private async int(call: string, fn: NativeFunction, args: unknown[]): Promise<number | null> {
    const out = Buffer.alloc(4);
    const code = await callAsync(fn, ...args, out);
    if (code === SUCCESS) return out.readInt32LE(0);
    if (code === NOT_SUPPORTED) return null;
    throw new DcmiCallError(call, code);
  }

  private async read({ card, device }: AscendChip): Promise<DeviceSample> {
    const memory = await this.memory(card, device);
    const aicore = await this.int('dcmi_get_device_utilization_rate', this.fn.utilization, [card, device, UTIL_AICORE]);
    const hbm = await this.int('dcmi_get_device_utilization_rate', this.fn.utilization, [card, device, UTIL_HBM]);
    const temp = await this.int('dcmi_get_device_temperature', this.fn.temperature, [card, device]);
    const power = await this.int('dcmi_get_device_power_info', this.fn.power, [card, device]);
    return {
      memory,
      utilization: { gpuPercent: aicore, memoryPercent: hbm },
      // Ascend tools treat temperatures below absolute zero as a failed read.
      temperatureC: temp !== null && temp > -275 ? temp : null,
      powerW: power !== null && power >= 0 ? power / 10 : null, // 0.1 W units
      processes: await this.processes(card, device),
    };
  }

  /** 910-series chips report HBM; 310-series report DDR through the v3 memory call. */
  private async memory(card: number, device: number): Promise<DeviceSample['memory']> {
    const hbm = Buffer.alloc(32); // memory_size@0 (MB), freq@8, memory_usage@16 (MB), temp@24, rate@28
    if ((await callAsync(this.fn.hbmInfo, card, device, hbm)) === SUCCESS && hbm.readBigUInt64LE(0) > 0n) {
      const total = Number(hbm.readBigUInt64LE(0)) * MB;
      const used = Number(hbm.readBigUInt64LE(16)) * MB;
      return { totalBytes: total, usedBytes: used, freeBytes: total - used };
    }
    const ddr = Buffer.alloc(112); // memory_size@0 (MB), memory_available@8 (MB), ... (LP64 layout)
    const code = await callAsync(this.fn.memoryInfoV3, card, device, ddr);
    if (code === NOT_SUPPORTED) return { totalBytes: null, usedBytes: null, freeBytes: null };
    if (code !== SUCCESS) throw new DcmiCallError('dcmi_get_device_memory_info_v3', code);
    const total = Number(ddr.readBigUInt64LE(0)) * MB;
    const free = Number(ddr.readBigUInt64LE(8)) * MB;
    return { totalBytes: total, usedBytes: total - free, freeBytes: free };
  }

  private async processes(card: number, device: number): Promise<ProcessUse[]> {
    const infos = Buffer.alloc(16 * MAX_PROCESSES); // dcmi_proc_mem_info: proc_id@0, proc_mem_usage@8 (bytes)
    const num = Buffer.alloc(4);
    num.writeInt32LE(MAX_PROCESSES, 0);
    if ((await callAsync(this.fn.resourceInfo, card, device, infos, num)) !== SUCCESS) return [];
    const out: ProcessUse[] = [];
    for (let i = 0; i < Math.min(num.readInt32LE(0), MAX_PROCESSES); i++) {
      out.push({ pid: infos.readInt32LE(i * 16), memoryBytes: Number(infos.readBigUInt64LE(i * 16 + 8)) });
    }
    return out;
  }

  // DCMI has no shutdown call; its consumers simply unload the library.
  async close(): Promise<void> {}
}

export class DcmiCallError extends Error {
  constructor(readonly call: string, readonly dcmiCode: number) {
    super(`${call}: ${dcmiMessage(dcmiCode)} (${dcmiCode})`);
    this.name = 'DcmiCallError';
  }
}

function bindDcmi(lib: Library) {
  return {
    init: bindFirst(lib, 'int dcmi_init(void)'),
    // The current name first; older drivers only export dcmi_get_card_num_list.
    cardList: bindFirst(
      lib,
      'int dcmi_get_card_list(void *card_num, void *card_list, int list_len)',
      'int dcmi_get_card_num_list(void *card_num, void *card_list, int list_len)',
    ),
    deviceNum: bindFirst(lib, 'int dcmi_get_device_num_in_card(int card_id, void *device_num)'),
    logicId: bindFirst(lib, 'int dcmi_get_device_logic_id(void *logic_id, int card_id, int device_id)'),
    chipInfoV2: bindOptional(lib, 'int dcmi_get_device_chip_info_v2(int card_id, int device_id, void *info)'),
    chipInfo: bindFirst(lib, 'int dcmi_get_device_chip_info(int card_id, int device_id, void *info)'),
    die: bindFirst(lib, 'int dcmi_get_device_die_v2(int card_id, int device_id, int type, void *die)'),
    pcieInfo: bindFirst(lib, 'int dcmi_get_device_pcie_info_v2(int card_id, int device_id, void *info)'),
    health: bindFirst(lib, 'int dcmi_get_device_health(int card_id, int device_id, void *health)'),
    utilization: bindFirst(lib, 'int dcmi_get_device_utilization_rate(int card_id, int device_id, int type, void *rate)'),
    temperature: bindFirst(lib, 'int dcmi_get_device_temperature(int card_id, int device_id, void *temp)'),
    power: bindFirst(lib, 'int dcmi_get_device_power_info(int card_id, int device_id, void *power)'),
    hbmInfo: bindFirst(lib, 'int dcmi_get_device_hbm_info(int card_id, int device_id, void *info)'),
    memoryInfoV3: bindFirst(lib, 'int dcmi_get_device_memory_info_v3(int card_id, int device_id, void *info)'),
    resourceInfo: bindFirst(lib, 'int dcmi_get_device_resource_info(int card_id, int device_id, void *info, void *num)'),
    version: bindFirst(lib, 'int dcmi_get_dcmi_version(void *version, int size)'),
  };
}
