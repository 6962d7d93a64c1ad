/**
 * Handshakes held until cards have room (a request's `wait`, docs/operations.md "Placement"). Each
 * waiter is tried again, in arrival order, whenever something frees room; it gives up when its time
 * is over. A waiter that still does not fit does not hold back the ones behind it.
 */
interface Waiter {
  attempt: () => boolean;
  timer: NodeJS.Timeout;
}

export class AdmissionQueue {
  private readonly waiting = new Set<Waiter>();
  private retrying = false;
  private again = false;

  /**
   * Holds a handshake: `attempt` is called on each retry() and returns true once it is done with
   * (admitted, or refused for good); `expire` is called if it is still waiting after `waitMs`.
   * Returns a function that withdraws it (the client went away).
   */
  add(attempt: () => boolean, waitMs: number, expire: () => void): () => void {
    const waiter: Waiter = {
      attempt,
      timer: setTimeout(() => {
        this.waiting.delete(waiter);
        expire();
      }, waitMs),
    };
    this.waiting.add(waiter);
    return () => this.remove(waiter);
  }

  /**
   * Tries every waiter once, oldest first. Called again from inside an attempt (an admission that
   * failed and gave its room back), it runs another round once this one is over instead of nesting.
   */
  retry(): void {
    if (this.retrying) {
      this.again = true;
      return;
    }
    this.retrying = true;
    try {
      do {
        this.again = false;
        for (const waiter of [...this.waiting]) {
          // An earlier attempt may have withdrawn it (its client closed meanwhile).
          if (this.waiting.has(waiter) && waiter.attempt()) this.remove(waiter);
        }
      } while (this.again);
    } finally {
      this.retrying = false;
    }
  }

  get size(): number {
    return this.waiting.size;
  }

  /** Forgets every waiter without calling it (the endpoint closes their connections itself). */
  clear(): void {
    for (const waiter of [...this.waiting]) this.remove(waiter);
  }

  private remove(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    this.waiting.delete(waiter);
  }
}
