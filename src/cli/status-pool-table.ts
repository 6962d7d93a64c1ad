import { basename } from 'node:path';
import Table from 'cli-table3';
import type { PoolDocument, PoolHost } from '../server/pool.js';
import type { StatusDocument } from '../server/status.js';
import { clientsTable } from './status-clients.js';

/** `1.5 GiB`, `256 MiB`: the unit that keeps the figure readable. */
export function size(bytes: number): string {
  const GiB = 1024 ** 3;
  const MiB = 1024 ** 2;
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(1)} GiB`;
  return `${Math.round(bytes / MiB)} MiB`;
}

function share(value: number | null): string {
  return value === null ? '-' : String(Math.round(value * 100) / 100);
}

const plain = { head: [], border: [] };

/** A row per compute card: what live sessions hold of it, and how it is doing. */
function cardTable(compute: NonNullable<StatusDocument['compute']>): string {
  const table = new Table({ head: ['card', 'name', 'health', 'quota committed / total', 'shares', 'util', 'sessions'], style: plain });
  for (const c of compute.cards) {
    table.push([
      String(c.ordinal),
      c.name,
      c.health === 'unhealthy' ? `UNHEALTHY: ${c.healthReason ?? ''}` : c.health,
      `${size(c.committed)} / ${size(c.totalMem)}`,
      share(c.shares),
      c.utilization === null ? '-' : `${c.utilization}%`,
      String(c.sessions),
    ]);
  }
  return table.toString();
}

function renderPoolHost(h: PoolHost): string {
  if (!h.ok) return `${h.url}: UNREACHABLE: ${h.error.message}`;
  const doc = h.status;
  const c = doc.compute;
  const head = `${doc.host.hostname} (${h.url})${h.self ? ' [asked]' : ''} gpupoold ${doc.daemon.version}${doc.daemon.simulated ? ', simulated cards' : ''}`;
  if (!c?.enabled || !c.available) return `${head}\n  compute: ${c?.enabled ? `unavailable: ${c.error ?? 'unknown reason'}` : 'disabled'}`;
  const lines = [`${head}, placement ${c.sharing?.placement ?? '-'}, ${c.sessions.length} client session(s)`];
  lines.push(c.cards.length === 0 ? '  no cards' : cardTable(c));
  if (c.sessions.length > 0) lines.push(clientsTable(c));
  return lines.join('\n');
}

/** A person's view of the pool: per host, its cards, then its clients. */
export function renderPool(doc: PoolDocument): string {
  const { summary } = doc;
  const lines = [`pool: ${summary.reachable} of ${summary.hosts} host(s) answered, ${summary.cards} card(s), ${summary.sessions} client session(s)`];
  for (const h of doc.hosts) lines.push('', renderPoolHost(h));
  return lines.join('\n');
}
