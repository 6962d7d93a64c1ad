/**
 * Failed handshakes per peer address in a sliding window. Once an address has `max` failures in the
 * last `windowMs`, it is blocked: its handshakes are refused without looking at the token, so that
 * guessing costs the guesser a window per `max` guesses (and the daemon almost nothing). Blocked
 * attempts are not counted as failures: the block lifts on its own once the oldest failure ages out,
 * so a client that was misconfigured gets in again soon after it is fixed.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
    /** Addresses remembered at most: beyond it the stalest are forgotten (a flood of addresses must not eat memory). */
    private readonly maxPeers = 65_536,
    private readonly now: () => number = Date.now,
  ) {}

  /** The failures of `peer` still in the window (and forgets the older ones). */
  private recent(peer: string, now: number): number[] {
    const times = this.failures.get(peer);
    if (!times) return [];
    const since = now - this.windowMs;
    while (times.length > 0 && times[0]! <= since) times.shift();
    if (times.length === 0) this.failures.delete(peer);
    return times;
  }

  blocked(peer: string): boolean {
    return this.recent(peer, this.now()).length >= this.max;
  }

  /** Records a failure; returns how many `peer` has in the window now. */
  fail(peer: string): number {
    const now = this.now();
    const times = this.recent(peer, now);
    times.push(now);
    // Re-inserted so that the Map's order is least recently failed first, for the trimming below.
    this.failures.delete(peer);
    this.failures.set(peer, times);
    if (this.failures.size > this.maxPeers) this.trim(now);
    return times.length;
  }

  private trim(now: number): void {
    for (const peer of [...this.failures.keys()]) this.recent(peer, now);
    for (const peer of this.failures.keys()) {
      if (this.failures.size <= this.maxPeers) break;
      this.failures.delete(peer);
    }
  }

  /** Addresses with failures in the window (for tests and logs). */
  size(): number {
    return this.failures.size;
  }
}
