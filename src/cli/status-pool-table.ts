import type { PoolDocument, PoolHost } from '../server/pool.js';
import type { StatusDocument } from '../server/status.js';
import { formatBytes } from '../units.js';
import { clientsTable } from './status-clients.js';
import { renderTable, textLine, type Column, type TableLayout } from './text-table.js';

type ComputeCard = NonNullable<StatusDocument['compute']>['cards'][number];

function share(value: number | null): string {
  return value === null ? '-' : String(Math.round(value * 100) / 100);
}

/** A row per compute card: what live sessions hold of it, and how it is doing. */
const cardColumns: Column<ComputeCard>[] = [
  { header: 'CARD', value: (c) => String(c.ordinal), right: true },
  { header: 'NAME', value: (c) => c.name, flex: true },
  { header: 'HEALTH', value: (c) => (c.health === 'unhealthy' ? `UNHEALTHY: ${c.healthReason ?? ''}` : c.health), flex: true },
  { header: 'COMMITTED', value: (c) => `${formatBytes(c.committed)} / ${formatBytes(c.totalMem)}`, right: true },
  { header: 'SHARES', value: (c) => share(c.shares), right: true, optional: 2 },
  { header: 'UTIL', value: (c) => (c.utilization === null ? '-' : `${c.utilization}%`), right: true, optional: 1 },
  { header: 'SESSIONS', value: (c) => String(c.sessions), right: true },
  { header: 'UUID', value: (c) => c.uuid ?? '-', wide: true },
];

function renderPoolHost(h: PoolHost, layout: TableLayout): string {
  if (!h.ok) return textLine(`${h.url}: UNREACHABLE: ${h.error.message}`, layout.width);
  const doc = h.status;
  const c = doc.compute;
  const head = `${doc.host.hostname} (${h.url})${h.self ? ' [asked]' : ''} gpupoold ${doc.daemon.version}${doc.daemon.simulated ? ', simulated cards' : ''}`;
  if (!c?.enabled || !c.available) return [textLine(head, layout.width), textLine(`  compute: ${c?.enabled ? `unavailable: ${c.error ?? 'unknown reason'}` : 'disabled'}`, layout.width)].join('\n');
  const lines = [textLine(`${head}, placement ${c.sharing?.placement ?? '-'}, ${c.sessions.length} client session(s)`, layout.width)];
  lines.push(c.cards.length === 0 ? '  no cards' : renderTable(cardColumns, c.cards, layout));
  if (c.sessions.length > 0) lines.push('', clientsTable(c, layout));
  return lines.join('\n');
}

/** A person's view of the pool: per host, its cards, then its clients. */
export function renderPool(doc: PoolDocument, layout: TableLayout): string {
  const { summary } = doc;
  const lines = [textLine(`pool: ${summary.reachable} of ${summary.hosts} host(s) answered, ${summary.cards} card(s), ${summary.sessions} client session(s)`, layout.width)];
  for (const h of doc.hosts) lines.push('', renderPoolHost(h, layout));
  return lines.join('\n');
}
