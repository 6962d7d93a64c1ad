import { basename } from 'node:path';
import type { StatusDocument } from '../server/status.js';
import { formatBytes, formatFraction, formatNs } from '../units.js';
import { renderTable, type Column, type TableLayout } from './text-table.js';

type Compute = NonNullable<StatusDocument['compute']>;
type Session = Compute['sessions'][number];
type Row = { s: Session; c: Session['cards'][number] | null };

function priority(s: Session): string {
  const sched = s.scheduling;
  if (!sched) return s.request.priority ?? '-';
  return sched.effective === sched.priority ? sched.priority : `${sched.priority} as ${sched.effective}`;
}

function share(s: Session): string {
  const sched = s.scheduling;
  if (!sched) return s.request.share === null ? '-' : String(s.request.share);
  return `${sched.share}${sched.limit ? ' (cap)' : ''}`;
}

// Program, host and tenant come from the client: the table escapes and cuts every cell.
const columns: Column<Row>[] = [
  { header: 'CARD', value: ({ c, s }) => (c === null ? s.state : String(c.ordinal)) },
  { header: 'SESSION', value: ({ s }) => String(s.id), right: true },
  { header: 'TENANT', value: ({ s }) => s.tenant ?? '-', flex: true },
  { header: 'PROGRAM', value: ({ s }) => (s.program ? basename(s.program) : '-'), flex: true },
  { header: 'PID', value: ({ s }) => String(s.pid), right: true, wide: true },
  { header: 'HOST', value: ({ s }) => s.host || s.peer, flex: true, wide: true },
  { header: 'MEMORY', value: ({ c }) => (c === null ? '-' : `${formatBytes(c.used)} / ${formatBytes(c.quota)}`), right: true },
  { header: 'SHARE', value: ({ s }) => share(s), right: true },
  { header: 'ACHIEVED', value: ({ c }) => (c === null ? '-' : formatFraction(c.achievedShare)), right: true, optional: 1 },
  { header: 'PRIORITY', value: ({ s }) => priority(s), optional: 2 },
  { header: 'DEVICE TIME', value: ({ c }) => (c === null ? '-' : formatNs(c.deviceNs)), right: true, wide: true },
  { header: 'WAITED', value: ({ c }) => (c === null ? '-' : formatNs(c.waitNs)), right: true, wide: true },
  { header: 'STATE', value: ({ s, c }) => (c?.poisoned ? `poisoned (${c.poisoned})` : s.state), wide: true },
  { header: 'SINCE', value: ({ s }) => s.connectedAt, wide: true },
];

/**
 * A row per client and card it holds (a client still in its handshake or waiting for room: one row, no
 * card yet): what each asked for and what it gets.
 */
export function clientsTable(compute: Compute, layout: TableLayout): string {
  const rows: Row[] = compute.sessions.flatMap((s): Row[] => (s.cards.length === 0 ? [{ s, c: null }] : s.cards.map((c) => ({ s, c }))));
  rows.sort((a, b) => (a.c?.ordinal ?? -1) - (b.c?.ordinal ?? -1) || a.s.id - b.s.id);
  return renderTable(columns, rows, layout);
}

/** The compute clients of one host, or null when it has none. */
export function renderClients(doc: StatusDocument, layout: TableLayout): string | null {
  const compute = doc.compute;
  return compute && compute.sessions.length > 0 ? clientsTable(compute, layout) : null;
}
