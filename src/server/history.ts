import type { StatusDocument } from './status.js';

/** Bumped only for changes that break readers; fields may be added within a version. */
export const HISTORY_API_VERSION = 'gpupool.history/v1';

/** Bounds one sample whatever a host reports: a flood of sessions must not grow the ring without end. */
export const MAX_SAMPLE_ENTRIES = 512;

/**
 * One moment of a host, as the dashboard's time series draw it: each card's memory and utilization
 * (by UUID, from the vendor sampler) and each client's share asked and achieved and memory held on
 * each of its cards (from the compute section). Figures are those `/v1/status` computed already.
 */
export interface HistorySample {
  /** Milliseconds since the epoch, on the clock of the host that sampled. */
  t: number;
  devices: { uuid: string; used: number | null; util: number | null }[];
  clients: { session: number; card: number; uuid: string | null; share: number | null; achieved: number | null; used: number }[];
}

/** `GET /v1/history`: the samples of the last `windowMs`, oldest first. */
export interface HistoryDocument {
  apiVersion: typeof HISTORY_API_VERSION;
  intervalMs: number;
  windowMs: number;
  samples: HistorySample[];
}

/** The sample of a status document (this host's, or a peer's in the pool view). */
export function sampleOf(status: StatusDocument, t: number): HistorySample {
  const uuids = new Map((status.compute?.cards ?? []).map((c) => [c.ordinal, c.uuid]));
  return {
    t,
    devices: status.devices.slice(0, MAX_SAMPLE_ENTRIES).map((d) => ({ uuid: d.uuid, used: d.memory.usedBytes, util: d.utilization.gpuPercent })),
    clients: (status.compute?.sessions ?? [])
      .flatMap((s) =>
        s.cards.map((c) => ({
          session: s.id,
          card: c.ordinal,
          uuid: uuids.get(c.ordinal) ?? null,
          share: s.scheduling?.share ?? null,
          achieved: c.achievedShare,
          used: c.used,
        })),
      )
      .slice(0, MAX_SAMPLE_ENTRIES),
  };
}

/**
 * A fixed ring of this host's samples over the last `windowMs` (one per sampler tick): bounded in
 * entries and in size, whatever runs on the host, and lost with the daemon (it is for looking, not
 * for keeping: Prometheus keeps).
 */
export class HistoryRing {
  private readonly ring: HistorySample[] = [];
  private next = 0;
  readonly capacity: number;

  constructor(
    readonly intervalMs: number,
    readonly windowMs: number,
  ) {
    this.capacity = Math.max(1, Math.ceil(windowMs / intervalMs));
  }

  add(sample: HistorySample): void {
    if (this.ring.length < this.capacity) this.ring.push(sample);
    else this.ring[this.next] = sample;
    this.next = (this.next + 1) % this.capacity;
  }

  samples(): HistorySample[] {
    return this.ring.length < this.capacity ? [...this.ring] : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }

  document(): HistoryDocument {
    return { apiVersion: HISTORY_API_VERSION, intervalMs: this.intervalMs, windowMs: this.windowMs, samples: this.samples() };
  }
}
