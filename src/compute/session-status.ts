import type { Device } from '../vendors/device.js';
import type { Policy } from '../sharing/placement.js';
import type { QuotaLedger } from '../sharing/quota.js';
import { CUDA_ERROR_NAMES } from './card-health.js';
import { computeCards, type ComputeCard } from './cards.js';
import type { Client, SessionInfo } from './client.js';
import type { EmuStats, NativeDriver } from './native.js';
import { WorkerSession } from './worker-session.js';

/** A card of the compute driver with the scheduler's figures (docs/sharing.md). */
export interface ScheduledCard extends ComputeCard {
  /** Sessions whose work waits for the card right now (the queue length). */
  waiting: number;
  /** Device time of all sessions' work on the card, departed ones included, in ns. */
  deviceNs: number;
  /** Sessions whose calls on this card fail since it went unhealthy (docs/operations.md, "Faults"). */
  poisonedSessions: number[];
}

/** What status shows of the sharing settings: what `gpupool run` needs to place a job across hosts. */
export interface SharingStatus {
  defaultQuota: string;
  overcommit: boolean;
  placement: Policy;
  defaultShare: number;
}

/**
 * What status and metrics show of the compute endpoint's sessions and cards.
 */
export class SessionStatus {
  /** What ended workers counted since they started (launches): kept, as the daemon's own counters keep its threads' sessions'. */
  private readonly departedCounters = { kernelsLaunched: 0, noopLaunches: 0 };

  constructor(
    private readonly driver: NativeDriver,
    private readonly ledger: QuotaLedger,
    private readonly vendorDevices: () => Device[],
    private readonly clients: () => Iterable<Client>,
  ) {}

  /**
   * A session ended: its worker's launch counters stay in the emulator's figures, once the worker
   * ends with it (a tenant's worker that runs on still reports them with its other sessions).
   */
  departed(client: Client): void {
    const session = client.session instanceof WorkerSession ? client.session : null;
    const emu = session?.emu;
    if (!emu) return;
    if ([...this.clients()].some((c) => c !== client && c.session instanceof WorkerSession && c.session.pid === session!.pid)) return;
    this.departedCounters.kernelsLaunched += emu.kernelsLaunched;
    this.departedCounters.noopLaunches += emu.noopLaunches;
  }

  sessions(): SessionInfo[] {
    return [...this.clients()].map((c) => {
      const stats = c.session?.stats() ?? null;
      const achieved = c.usage.achieved();
      const cards = (c.quota ?? []).flatMap((quota, ordinal) =>
        quota > 0
          ? [
              {
                ordinal,
                quota,
                used: stats?.used[ordinal] ?? 0,
                deviceNs: stats?.sched[ordinal]?.deviceNs ?? 0,
                waitNs: stats?.sched[ordinal]?.waitNs ?? 0,
                achievedShare: achieved?.[ordinal] ?? null,
                poisoned: CUDA_ERROR_NAMES[stats?.poisoned[ordinal] ?? 0] ?? null,
              },
            ]
          : [],
      );
      const workerPid = c.session instanceof WorkerSession ? c.session.pid : null;
      const transport = stats?.callRing ? { ...c.info.transport, calls: 'ring' as const } : c.info.transport;
      return { ...c.info, transport, pauses: c.link.pauses, cards, stats, workerPid };
    });
  }

  /**
   * Per card: its memory, what live sessions hold of it, its health and utilization (docs/operations.md,
   * "Placement"), and the scheduler's figures: sessions waiting for it, device time (docs/sharing.md).
   */
  cards(): ScheduledCard[] {
    const sched = this.driver.cardStats();
    // Sessions in worker processes are clients of the same card state (shared memory): these figures are every session's.
    const poisoned = [...this.clients()].map((client) => ({ id: client.info.id, cards: client.session?.stats().poisoned ?? [] }));
    return computeCards(this.driver.devices(), this.ledger.status(), this.vendorDevices()).map((c) => ({
      ...c,
      waiting: sched[c.ordinal]?.waiting ?? 0,
      deviceNs: sched[c.ordinal]?.deviceNs ?? 0,
      poisonedSessions: poisoned.filter((p) => (p.cards[c.ordinal] ?? 0) !== 0).map((p) => p.id),
    }));
  }

  /** Asks every live worker for its stats as they are now (WorkerSession.fresh); threads' are read live anyway. */
  async freshen(waitMs: number): Promise<void> {
    await Promise.all([...this.clients()].flatMap((c) => (c.session instanceof WorkerSession ? [c.session.fresh(waitMs)] : [])));
  }

  /** The emulated driver's counters of the live session workers, once per process (docs/architecture.md); empty with sessions as threads. */
  workerEmuStats(): Partial<EmuStats>[] {
    const byWorker = new Map<number | null, EmuStats>();
    for (const c of this.clients()) {
      if (c.session instanceof WorkerSession && c.session.emu) byWorker.set(c.session.pid, c.session.emu);
    }
    return [...byWorker.values(), { ...this.departedCounters }];
  }
}
