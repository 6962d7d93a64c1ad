import { basename } from 'node:path';
import Table from 'cli-table3';
import type { StatusDocument } from '../server/status.js';

const GiB = 1024 ** 3;

function percent(x: number | null): string {
  return x === null ? '-' : `${(x * 100).toFixed(0)}%`;
}

type Compute = NonNullable<StatusDocument['compute']>;

/**
 * A row per client and card it holds (a client still in its handshake or waiting for room: one row, no
 * card yet): what each asked for and what it gets.
 */
export function clientsTable(compute: Compute): string {
  const table = new Table({
    head: ['card', 'session', 'tenant', 'program', 'memory used / quota', 'share', 'achieved', 'priority', 'device time', 'waited'],
    style: { head: [], border: [] },
  });
  type Row = { s: Compute['sessions'][number]; c: Compute['sessions'][number]['cards'][number] | null };
  const rows: Row[] = compute.sessions.flatMap((s): Row[] => (s.cards.length === 0 ? [{ s, c: null }] : s.cards.map((c) => ({ s, c }))));
  rows.sort((a, b) => (a.c?.ordinal ?? -1) - (b.c?.ordinal ?? -1) || a.s.id - b.s.id);
  for (const { s, c } of rows) {
    const sched = s.scheduling;
    const who = [String(s.id), s.tenant ?? '-', `${s.program ? basename(s.program) : '-'} (${s.pid}@${s.host || s.peer})`];
    if (c === null) {
      table.push([s.state, ...who, '-', String(s.request.share ?? '-'), '-', s.request.priority ?? '-', '-', '-']);
      continue;
    }
    table.push([
      String(c.ordinal),
      ...who,
      `${(c.used / GiB).toFixed(2)} / ${(c.quota / GiB).toFixed(2)} GiB`,
      sched ? `${sched.share}${sched.limit ? ' (cap)' : ''}` : '-',
      percent(c.achievedShare),
      sched ? (sched.effective === sched.priority ? sched.priority : `${sched.priority} as ${sched.effective}`) : '-',
      `${(c.deviceNs / 1e9).toFixed(2)} s`,
      `${(c.waitNs / 1e9).toFixed(2)} s`,
    ]);
  }
  return table.toString();
}

/** The compute clients of one host, or null when it has none. */
export function renderClients(doc: StatusDocument): string | null {
  const compute = doc.compute;
  return compute && compute.sessions.length > 0 ? clientsTable(compute) : null;
}
