import { readdirSync } from 'node:fs';

/**
 * The render node of a PCI device (`/dev/dri/renderD128`), read from sysfs, which is how the AMD
 * container tooling maps a card to its device file. Null where sysfs has no such device (simulated cards).
 */
export function drmRenderNode(pciBusId: string, sysfs = '/sys/bus/pci/devices'): string | null {
  try {
    const node = readdirSync(`${sysfs}/${pciBusId}/drm`).find((n) => n.startsWith('renderD'));
    return node ? `/dev/dri/${node}` : null;
  } catch {
    return null;
  }
}
