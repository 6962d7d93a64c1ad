import { uptime } from 'node:os';
import si from 'systeminformation';

export interface HostInfo {
  hostname: string;
  os: { platform: string; distro: string; release: string; kernel: string; arch: string };
  cpu: { manufacturer: string; brand: string; cores: number; physicalCores: number };
  memory: { totalBytes: number; availableBytes: number };
  uptimeSeconds: number;
}

type StaticPart = Omit<HostInfo, 'memory' | 'uptimeSeconds' | 'hostname'>;

/**
 * Host facts through systeminformation. The OS and CPU are read once (they spawn no processes but
 * read several files); memory and uptime are live on every call.
 */
export class HostInfoSource {
  private constructor(private readonly hostname: string, private readonly fixed: StaticPart) {}

  static async read(hostname: string): Promise<HostInfoSource> {
    const [os, cpu] = await Promise.all([si.osInfo(), si.cpu()]);
    return new HostInfoSource(hostname, {
      os: { platform: os.platform, distro: os.distro, release: os.release, kernel: os.kernel, arch: os.arch },
      cpu: { manufacturer: cpu.manufacturer, brand: cpu.brand, cores: cpu.cores, physicalCores: cpu.physicalCores },
    });
  }

  async current(): Promise<HostInfo> {
    const mem = await si.mem();
    return {
      hostname: this.hostname,
      ...this.fixed,
      memory: { totalBytes: mem.total, availableBytes: mem.available },
      // node:os, not si.time(): that also works out the time zone by running `date` and `ls` through a
      // shell, synchronously, on the event loop, at every status sample (the dashboard's, every few seconds).
      uptimeSeconds: uptime(),
    };
  }
}
