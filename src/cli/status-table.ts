import type { StatusDocument } from '../server/status.js';
import type { Device } from '../vendors/device.js';
import { formatBytes } from '../units.js';
import { renderClients } from './status-clients.js';
import { renderTable, textLine, type Column, type TableLayout } from './text-table.js';

function figure(value: number | null, unit: string, digits = 0): string {
  return value === null ? '-' : `${value.toFixed(digits)}${unit}`;
}

function memory(d: Device): string {
  const { usedBytes: used, totalBytes: total } = d.memory;
  if (total === null) return '-';
  return `${used === null ? '?' : formatBytes(used)} / ${formatBytes(total)}`;
}

function memoryPercent(d: Device): string {
  const { usedBytes: used, totalBytes: total } = d.memory;
  return used === null || total === null || total === 0 ? '-' : `${Math.round((used / total) * 100)}%`;
}

export const cardColumns: Column<Device>[] = [
  { header: 'VENDOR', value: (d) => d.vendor },
  { header: 'IDX', value: (d) => String(d.index), right: true },
  { header: 'NAME', value: (d) => d.name, flex: true },
  { header: 'MEMORY', value: memory, right: true },
  { header: 'MEM', value: memoryPercent, right: true, optional: 4 },
  { header: 'UTIL', value: (d) => figure(d.utilization.gpuPercent, '%'), right: true, optional: 1 },
  { header: 'TEMP', value: (d) => figure(d.temperatureC, ' C'), right: true, optional: 2 },
  { header: 'POWER', value: (d) => figure(d.powerW, ' W', 1), right: true, optional: 3 },
  { header: 'HEALTH', value: (d) => (d.health.state === 'healthy' ? 'healthy' : `UNHEALTHY: ${d.health.reason ?? ''}`), flex: true },
  { header: 'UUID', value: (d) => d.uuid, wide: true },
  { header: 'PCI BUS', value: (d) => d.pciBusId, wide: true },
  { header: 'DEVICE', value: (d) => d.devicePath ?? '-', wide: true },
  { header: 'CC', value: (d) => d.computeCapability ?? '-', wide: true },
];

/** A person's view of one host: its vendors, then a row per card, then its clients. */
export function renderHost(url: string, doc: StatusDocument, layout: TableLayout): string {
  const lines = [`${doc.host.hostname} (${url}) gpupoold ${doc.daemon.version}${doc.daemon.simulated ? ', simulated cards' : ''}`];
  for (const v of doc.vendors.filter((x) => x.enabled)) {
    const versions = [v.versions.driver && `driver ${v.versions.driver}`, v.versions.library && `library ${v.versions.library}`].filter(Boolean).join(', ');
    lines.push(v.available ? `  ${v.vendor}: ${v.deviceCount} card(s)${versions ? ` (${versions})` : ''}` : `  ${v.vendor}: unavailable: ${v.error?.message ?? 'unknown reason'}`);
  }
  const c = doc.compute;
  if (c?.enabled) {
    lines.push(
      c.available
        ? `  compute: ${c.driver} (CUDA ${c.driverVersion}), ${c.sessions.length} client session(s)`
        : `  compute: unavailable: ${c.error ?? 'unknown reason'}`,
    );
  }
  const out = lines.map((l) => textLine(l, layout.width));
  if (doc.devices.length === 0) {
    out.push('  no cards');
    return out.join('\n');
  }
  out.push('', renderTable(cardColumns, doc.devices, layout));
  const clients = renderClients(doc, layout);
  if (clients !== null) out.push('', clients);
  return out.join('\n');
}
