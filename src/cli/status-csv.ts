import { stringify } from 'csv-stringify/sync';
import type { PoolDocument } from '../server/pool.js';
import type { StatusDocument } from '../server/status.js';
import { escapeControl } from './terminal-text.js';

/**
 * `-o csv`: a row per card with raw figures (bytes, percent, °C, W) for spreadsheets and scripts, as
 * `nvidia-smi --query-gpu --format=csv,nounits` gives them. Strings are escaped as in the tables: a
 * CSV file is read in terminals too.
 */

type Value = string | number | null;

function csv(header: string[], rows: Value[][], withHeader: boolean): string {
  const cells = rows.map((r) => r.map((v) => (typeof v === 'string' ? escapeControl(v) : v === null ? '' : v)));
  return stringify(withHeader ? [header, ...cells] : cells);
}

const DEVICE_HEADER = [
  'timestamp', 'host', 'hostname', 'vendor', 'index', 'name', 'uuid', 'pci_bus_id', 'memory_used_bytes', 'memory_total_bytes',
  'utilization_gpu_percent', 'utilization_memory_percent', 'temperature_c', 'power_w', 'health', 'health_reason',
];

/** The cards of every host that answered; `withHeader` false for the later looks of `--watch`. */
export function devicesCsv(hosts: { url: string; status: StatusDocument }[], withHeader: boolean): string {
  const rows = hosts.flatMap(({ url, status }) =>
    status.devices.map((d): Value[] => [
      d.sampledAt, url, status.host.hostname, d.vendor, d.index, d.name, d.uuid, d.pciBusId, d.memory.usedBytes, d.memory.totalBytes,
      d.utilization.gpuPercent, d.utilization.memoryPercent, d.temperatureC, d.powerW, d.health.state, d.health.reason ?? null,
    ]),
  );
  return csv(DEVICE_HEADER, rows, withHeader);
}

const POOL_HEADER = ['timestamp', 'host', 'hostname', 'card', 'name', 'uuid', 'health', 'committed_bytes', 'total_bytes', 'shares', 'utilization_percent', 'sessions'];

/** `--pool -o csv`: a row per compute card of every host that answered. */
export function poolCardsCsv(doc: PoolDocument, withHeader: boolean): string {
  const at = new Date().toISOString();
  const rows = doc.hosts.flatMap((h) =>
    h.ok
      ? h.status.compute.cards.map((c): Value[] => [at, h.url, h.status.host.hostname, c.ordinal, c.name, c.uuid, c.health, c.committed, c.totalMem, c.shares, c.utilization, c.sessions])
      : [],
  );
  return csv(POOL_HEADER, rows, withHeader);
}
