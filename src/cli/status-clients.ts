import Table from 'cli-table3';
import type { StatusDocument } from '../server/status.js';

const GiB = 1024 ** 3;

function percent(x: number | null): string {
  return x === null ? '-' : `${(x * 100).toFixed(0)}%`;
}

/** The compute clients of one host, a row per client and card: what each asked for and what it gets. */
export function renderClients(doc: StatusDocument): string | null {
  const sessions = doc.compute?.sessions ?? [];
  if (sessions.length === 0) return null;
  const table = new Table({
    head: ['card', 'session', 'tenant', 'program', 'memory used / quota', 'share', 'achieved', 'priority', 'device time', 'waited'],
    style: { head: [], border: [] },
  });
  const rows = sessions.flatMap((s) => s.cards.map((c) => ({ s, c })));
  rows.sort((a, b) => a.c.ordinal - b.c.ordinal || a.s.id - b.s.id);
  for (const { s, c } of rows) {
    const sched = s.scheduling;
    table.push([
      String(c.ordinal),
      String(s.id),
      s.tenant ?? '-',
      `${s.program.split('/').pop() ?? ''} (${s.pid}@${s.host})`,
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
