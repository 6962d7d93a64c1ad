import { Counter, Gauge, type Registry } from 'prom-client';
import type { ScheduledCard, SessionInfo } from '../compute/endpoint.js';
import { parsePriority, priorityValue } from '../sharing/priority.js';

/** What the compute endpoint reports (ComputeEndpoint.sessions() and cards()). */
export interface SharingSource {
  hostname: string;
  sessions(): SessionInfo[];
  cards(): ScheduledCard[];
}

type ClientLabels = 'session' | 'tenant' | 'program' | 'card' | 'UUID' | 'Hostname';
const CLIENT_LABELS: ClientLabels[] = ['session', 'tenant', 'program', 'card', 'UUID', 'Hostname'];
type ComputeCardLabels = 'card' | 'UUID' | 'Hostname';

/** A client per card with its figure; sessions still in their handshake have no cards yet. */
function eachClientCard(source: SharingSource, fn: (labels: Record<ClientLabels, string>, s: SessionInfo, card: SessionInfo['cards'][number]) => void): void {
  const uuids = new Map(source.cards().map((c) => [c.ordinal, c.uuid ?? '']));
  for (const s of source.sessions()) {
    for (const card of s.cards) {
      fn(
        {
          session: String(s.id),
          tenant: s.tenant ?? '',
          program: s.program.split('/').pop() ?? '',
          card: String(card.ordinal),
          UUID: uuids.get(card.ordinal) ?? '',
          Hostname: source.hostname,
        },
        s,
        card,
      );
    }
  }
}

function clientGauge(registry: Registry, source: SharingSource, name: string, help: string, value: (s: SessionInfo, card: SessionInfo['cards'][number]) => number | null): void {
  new Gauge({
    name,
    help,
    labelNames: CLIENT_LABELS,
    registers: [registry],
    collect() {
      this.reset();
      eachClientCard(source, (labels, s, card) => {
        const v = value(s, card);
        if (v !== null) this.set(labels, v);
      });
    },
  });
}

// Counters whose running totals the native sessions keep: each scrape states the total as it is.
function clientCounter(registry: Registry, source: SharingSource, name: string, help: string, value: (card: SessionInfo['cards'][number]) => number): void {
  new Counter({
    name,
    help,
    labelNames: CLIENT_LABELS,
    registers: [registry],
    collect() {
      this.reset();
      eachClientCard(source, (labels, _s, card) => this.inc(labels, value(card)));
    },
  });
}

function cardGauge(registry: Registry, source: SharingSource, name: string, help: string, value: (c: ReturnType<SharingSource['cards']>[number]) => number): void {
  new Gauge({
    name,
    help,
    labelNames: ['card', 'UUID', 'Hostname'] as ComputeCardLabels[],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of source.cards()) this.set({ card: String(c.ordinal), UUID: c.uuid ?? '', Hostname: source.hostname }, value(c));
    },
  });
}

/** Per-client and per-card sharing figures (docs/metrics.md, "Sharing"). */
export function registerSharingMetrics(registry: Registry, source: SharingSource): void {
  clientGauge(registry, source, 'gpupool_client_memory_used_bytes', 'Device memory the client holds on the card.', (_s, c) => c.used);
  clientGauge(registry, source, 'gpupool_client_memory_quota_bytes', "The client's memory quota on the card.", (_s, c) => c.quota);
  clientGauge(registry, source, 'gpupool_client_share', "The client's compute share of the card under contention (0-1).", (s) => s.scheduling?.share ?? null);
  clientGauge(registry, source, 'gpupool_client_achieved_share', 'Share of wall time the card ran the client\'s work over the last 10 s (0-1).', (_s, c) => c.achievedShare);
  clientGauge(registry, source, 'gpupool_client_priority', "The client's priority as the scheduler orders it: class * 10 + level (low 0-9, normal 10-19, high 20-29).", (s) => {
    const p = s.scheduling ? parsePriority(s.scheduling.priority) : null;
    return p ? priorityValue(p) : null;
  });
  clientCounter(registry, source, 'gpupool_client_device_seconds_total', "Device time of the client's work on the card, measured with events around it.", (c) => c.deviceNs / 1e9);
  clientCounter(registry, source, 'gpupool_client_queue_wait_seconds_total', "Time the client's work waited for the card while others had it.", (c) => c.waitNs / 1e9);
  cardGauge(registry, source, 'gpupool_card_committed_memory_bytes', 'Memory quota committed to live clients on the card.', (c) => c.committed);
  cardGauge(registry, source, 'gpupool_card_committed_share', 'Compute shares of the live clients on the card, summed.', (c) => c.shares);
  cardGauge(registry, source, 'gpupool_card_waiting_clients', 'Clients whose work waits for the card right now (the queue length).', (c) => c.waiting);
  new Counter({
    name: 'gpupool_card_device_seconds_total',
    help: "Device time of all clients' work on the card, departed clients included.",
    labelNames: ['card', 'UUID', 'Hostname'] as ComputeCardLabels[],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of source.cards()) this.inc({ card: String(c.ordinal), UUID: c.uuid ?? '', Hostname: source.hostname }, c.deviceNs / 1e9);
    },
  });
}
