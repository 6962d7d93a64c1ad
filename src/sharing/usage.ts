/**
 * Achieved shares (docs/sharing.md): each session's measured device time per card, sampled once a
 * second, turned into the fraction of wall time it had the card over the last window.
 */
export const USAGE_WINDOW_MS = 10_000;

interface Sample {
  at: number;
  deviceNs: number[];
}

export class UsageWindow {
  private readonly samples: Sample[] = [];

  constructor(private readonly windowMs = USAGE_WINDOW_MS) {}

  record(at: number, deviceNs: number[]): void {
    this.samples.push({ at, deviceNs: [...deviceNs] });
    // One sample at or before the window's start stays, so the window is always covered.
    while (this.samples.length > 2 && this.samples[1]!.at <= at - this.windowMs) this.samples.shift();
  }

  /** Per card, the share of the window's wall time the session's work had the card; null before two samples. */
  achieved(): number[] | null {
    if (this.samples.length < 2) return null;
    const first = this.samples[0]!, last = this.samples[this.samples.length - 1]!;
    const wallNs = (last.at - first.at) * 1e6;
    if (wallNs <= 0) return null;
    return last.deviceNs.map((ns, i) => Math.max(0, Math.min(1, (ns - (first.deviceNs[i] ?? 0)) / wallNs)));
  }
}
