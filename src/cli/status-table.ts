import Table from 'cli-table3';
import type { StatusDocument } from '../server/status.js';
import { renderClients } from './status-clients.js';

const GiB = 1024 ** 3;

function figure(value: number | null, unit: string, digits = 0): string {
  return value === null ? '-' : `${value.toFixed(digits)}${unit}`;
}

function memory(used: number | null, total: number | null): string {
  if (total === null) return '-';
  return `${used === null ? '?' : (used / GiB).toFixed(1)} / ${(total / GiB).toFixed(1)} GiB`;
}

/** A person's view of one host: its vendors, then a row per card. */
export function renderHost(url: string, doc: StatusDocument): string {
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
  if (doc.devices.length === 0) {
    lines.push('  no cards');
    return lines.join('\n');
  }
  const table = new Table({
    head: ['vendor', 'idx', 'name', 'uuid', 'memory used / total', 'util', 'temp', 'power', 'health'],
    style: { head: [], border: [] },
  });
  for (const d of doc.devices) {
    table.push([
      d.vendor,
      String(d.index),
      d.name,
      d.uuid,
      memory(d.memory.usedBytes, d.memory.totalBytes),
      figure(d.utilization.gpuPercent, '%'),
      figure(d.temperatureC, '°C'),
      figure(d.powerW, ' W', 1),
      d.health.state === 'healthy' ? 'healthy' : `UNHEALTHY: ${d.health.reason ?? ''}`,
    ]);
  }
  lines.push(table.toString());
  const clients = renderClients(doc);
  if (clients !== null) lines.push('  clients:', clients);
  return lines.join('\n');
}
