import { Counter, Gauge, type Registry } from 'prom-client';
import type { ScheduledCard, SessionInfo } from '../compute/endpoint.js';
import { parsePriority, priorityValue } from '../sharing/priority.js';
import { WORKLOAD_KEYS } from '../sharing/workload.js';

/** What the compute endpoint reports (ComputeEndpoint.sessions() and cards()). */
export interface SharingSource {
  hostname: string;
  sessions(): SessionInfo[];
  cards(): ScheduledCard[];
}

// The workload's names (workload.ts) join the client's series with the cluster engine's ("" when not given).
const CLIENT_LABELS = ['session', 'tenant', 'program', ...WORKLOAD_KEYS, 'card', 'UUID', 'Hostname'];
const CARD_LABELS = ['card', 'UUID', 'Hostname'];

type Labels = Record<string, string>;
type ClientCard = { labels: Labels; session: SessionInfo; card: SessionInfo['cards'][number] };
type Snapshot = { clients: ClientCard[]; cards: { labels: Labels; card: ScheduledCard }[] };

/**
 * One reading of the endpoint per scrape: every sharing metric's collect() reads the same snapshot
 * (asking each native session for its stats once, not once per metric), dropped once the scrape's
 * turn of the event loop is over.
 */
function snapshots(source: SharingSource): () => Snapshot {
  let current: Snapshot | null = null;
  return () => {
    if (current) return current;
    const cards = source.cards().map((card) => ({ card, labels: { card: String(card.ordinal), UUID: card.uuid ?? '', Hostname: source.hostname } }));
    const uuids = new Map(cards.map((c) => [c.card.ordinal, c.labels.UUID!]));
    // A client per card it holds; sessions still in their handshake have no cards yet.
    const clients = source.sessions().flatMap((session) =>
      session.cards.map((card) => ({
        session,
        card,
        labels: {
          session: String(session.id),
          tenant: session.tenant ?? '',
          program: session.program.split('/').pop() ?? '',
          ...Object.fromEntries(WORKLOAD_KEYS.map((k) => [k, session.request.workload?.[k] ?? ''])),
          card: String(card.ordinal),
          UUID: uuids.get(card.ordinal) ?? '',
          Hostname: source.hostname,
        },
      })),
    );
    current = { clients, cards };
    setImmediate(() => (current = null));
    return current;
  };
}

/**
 * A gauge, or a counter whose running total the native sessions keep (each scrape states the total as
 * it is), filled from the snapshot at scrape time; a null figure emits no series.
 */
function series(registry: Registry, kind: 'gauge' | 'counter', name: string, help: string, labelNames: string[], rows: () => [Labels, number | null][]): void {
  const collect = function (this: Gauge | Counter) {
    this.reset();
    for (const [labels, value] of rows()) {
      if (value === null) continue;
      if (this instanceof Gauge) this.set(labels, value);
      else this.inc(labels, value);
    }
  };
  if (kind === 'gauge') new Gauge({ name, help, labelNames, registers: [registry], collect });
  else new Counter({ name, help, labelNames, registers: [registry], collect });
}

/** Per-client and per-card sharing figures (docs/metrics.md, "Sharing"). */
export function registerSharingMetrics(registry: Registry, source: SharingSource): void {
  const snapshot = snapshots(source);
  const client = (kind: 'gauge' | 'counter', name: string, help: string, value: (c: ClientCard) => number | null) =>
    series(registry, kind, name, help, CLIENT_LABELS, () => snapshot().clients.map((c) => [c.labels, value(c)]));
  const card = (kind: 'gauge' | 'counter', name: string, help: string, value: (c: ScheduledCard) => number) =>
    series(registry, kind, name, help, CARD_LABELS, () => snapshot().cards.map((c) => [c.labels, value(c.card)]));

  client('gauge', 'gpupool_client_memory_used_bytes', 'Device memory the client holds on the card.', (c) => c.card.used);
  client('gauge', 'gpupool_client_memory_quota_bytes', "The client's memory quota on the card.", (c) => c.card.quota);
  client('gauge', 'gpupool_client_share', "The client's compute share of the card under contention (0-1).", (c) => c.session.scheduling?.share ?? null);
  client('gauge', 'gpupool_client_achieved_share', "Share of wall time the card ran the client's work over the last 10 s (0-1).", (c) => c.card.achievedShare);
  client('gauge', 'gpupool_client_priority', "The client's priority as the scheduler orders it: class * 10 + level (low 0-9, normal 10-19, high 20-29).", (c) => {
    const p = c.session.scheduling ? parsePriority(c.session.scheduling.priority) : null;
    return p ? priorityValue(p) : null;
  });
  client('counter', 'gpupool_client_device_seconds_total', "Device time of the client's work on the card, measured with events around it.", (c) => c.card.deviceNs / 1e9);
  client('counter', 'gpupool_client_queue_wait_seconds_total', "Time the client's work waited for the card while others had it.", (c) => c.card.waitNs / 1e9);
  card('gauge', 'gpupool_card_committed_memory_bytes', 'Memory quota committed to live clients on the card.', (c) => c.committed);
  card('gauge', 'gpupool_card_committed_share', 'Compute shares of the live clients on the card, summed.', (c) => c.shares);
  card('gauge', 'gpupool_card_waiting_clients', 'Clients whose work waits for the card right now (the queue length).', (c) => c.waiting);
  card('counter', 'gpupool_card_device_seconds_total', "Device time of all clients' work on the card, departed clients included.", (c) => c.deviceNs / 1e9);
}
