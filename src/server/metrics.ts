import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Device, DeviceIdentity } from '../vendors/device.js';
import type { VendorStatus } from '../vendors/registry.js';

export interface MetricsSource {
  hostname: string;
  version: string;
  devices(): Device[];
  vendors(): VendorStatus[];
}

type CardLabels = 'gpu' | 'UUID' | 'vendor' | 'model_name' | 'Hostname' | 'pci_bus_id' | 'device';
const CARD_LABELS: CardLabels[] = ['gpu', 'UUID', 'vendor', 'model_name', 'Hostname', 'pci_bus_id', 'device'];

/**
 * Labels in dcgm-exporter's habit, plus `vendor` because one host may mix vendors. dcgm's `modelName`
 * is spelled `model_name`: promtool's lint rejects camelCase label names (docs/metrics.md).
 */
export function cardLabels(card: DeviceIdentity, hostname: string): Record<CardLabels, string> {
  return {
    gpu: String(card.index),
    UUID: card.uuid,
    vendor: card.vendor,
    model_name: card.name,
    Hostname: hostname,
    pci_bus_id: card.pciBusId,
    device: `${card.vendor}${card.index}`,
  };
}

/** A per-card gauge filled from the latest sample at scrape time; null figures emit no series. */
function cardGauge(
  registry: Registry,
  source: MetricsSource,
  name: string,
  help: string,
  value: (d: Device) => number | null,
): Gauge<CardLabels> {
  return new Gauge({
    name,
    help,
    labelNames: CARD_LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const device of source.devices()) {
        const v = value(device);
        if (v !== null) this.set(cardLabels(device, source.hostname), v);
      }
    },
  });
}

/**
 * The daemon's Prometheus registry. Metric names carry their unit; docs/metrics.md lists them all.
 * Scrapes read the sampler's latest figures and never call a vendor library themselves.
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly xidEvents: Counter<CardLabels | 'xid'>;

  constructor(private readonly source: MetricsSource) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    // These three are gauges named like counters, which promtool rejects; the per-type
    // nodejs_active_handles/requests/resources gauges carry the same figures.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      r.removeSingleMetric(name);
    }
    cardGauge(r, source, 'gpupool_gpu_utilization_percent', 'Share of time a kernel ran on the card over the last sample period (0-100).', (d) => d.utilization.gpuPercent);
    cardGauge(r, source, 'gpupool_gpu_memory_utilization_percent', 'Share of time device memory was read or written over the last sample period (0-100).', (d) => d.utilization.memoryPercent);
    cardGauge(r, source, 'gpupool_gpu_memory_total_bytes', 'Device memory of the card.', (d) => d.memory.totalBytes);
    cardGauge(r, source, 'gpupool_gpu_memory_used_bytes', 'Device memory allocated on the card.', (d) => d.memory.usedBytes);
    cardGauge(r, source, 'gpupool_gpu_memory_free_bytes', 'Device memory free on the card.', (d) => d.memory.freeBytes);
    cardGauge(r, source, 'gpupool_gpu_temperature_celsius', 'Card temperature.', (d) => d.temperatureC);
    cardGauge(r, source, 'gpupool_gpu_power_watts', 'Card power draw.', (d) => d.powerW);
    cardGauge(r, source, 'gpupool_gpu_healthy', '1 when the card is healthy, 0 when gpupool considers it unhealthy.', (d) => (d.health.state === 'healthy' ? 1 : 0));
    cardGauge(r, source, 'gpupool_gpu_last_xid', 'Number of the last critical Xid the card reported (NVIDIA).', (d) => d.health.lastXid ?? null);
    cardGauge(r, source, 'gpupool_gpu_processes', 'Processes holding memory on the card, as the vendor library lists them.', (d) => d.processes.length);
    this.xidEvents = new Counter({
      name: 'gpupool_gpu_xid_events_total',
      help: 'Critical Xid events the card reported since the daemon started (application Xids excluded).',
      labelNames: [...CARD_LABELS, 'xid'],
      registers: [r],
    });
    new Gauge({
      name: 'gpupool_vendor_available',
      help: '1 when the vendor library loaded and initialised, 0 when it is absent or failed.',
      labelNames: ['vendor', 'Hostname'],
      registers: [r],
      collect() {
        this.reset();
        for (const v of source.vendors()) if (v.enabled) this.set({ vendor: v.vendor, Hostname: source.hostname }, v.available ? 1 : 0);
      },
    });
    new Gauge({
      name: 'gpupool_build_info',
      help: 'Always 1; labels carry the daemon version.',
      labelNames: ['version', 'Hostname'],
      registers: [r],
      collect() {
        this.set({ version: source.version, Hostname: source.hostname }, 1);
      },
    });
  }

  /** Counts a pushed Xid; called from the registry's health events. */
  xid(card: DeviceIdentity, xid: number): void {
    this.xidEvents.inc({ ...cardLabels(card, this.source.hostname), xid: String(xid) });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
