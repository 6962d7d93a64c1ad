import type { DeviceHealth, HealthState } from './device.js';

export interface HealthChange {
  previous: HealthState;
  health: DeviceHealth;
  /** The Xid that caused this change, when one did. */
  xid?: number;
}

/**
 * One card's health. Events the library pushes (Xids, ECC) are sticky, as the NVIDIA device plugin
 * treats them: the card needs an operator or a reset. Failed polls clear once the card reads again.
 */
export class HealthTracker {
  private state: HealthState = 'healthy';
  private reason: string | undefined;
  private since: string;
  private sticky = false;
  private lastXid: number | undefined;
  private xidEvents = 0;

  constructor(private readonly now: () => Date = () => new Date()) {
    this.since = this.now().toISOString();
  }

  /** A poll's verdict: `problem` undefined means the card read fine. */
  polled(problem: string | undefined): HealthChange | null {
    if (this.sticky) return null;
    return problem === undefined ? this.set('healthy', undefined) : this.set('unhealthy', problem);
  }

  /** A pushed event: the card stays unhealthy from now on. */
  event(reason: string, xid?: number): HealthChange | null {
    if (xid !== undefined) {
      this.lastXid = xid;
      this.xidEvents += 1;
    }
    this.sticky = true;
    const change = this.set('unhealthy', reason) ?? { previous: 'unhealthy' as const, health: this.snapshot() };
    return xid === undefined ? change : { ...change, xid };
  }

  private set(state: HealthState, reason: string | undefined): HealthChange | null {
    if (state === this.state && reason === this.reason) return null;
    const previous = this.state;
    if (state !== this.state) this.since = this.now().toISOString();
    this.state = state;
    this.reason = reason;
    return { previous, health: this.snapshot() };
  }

  snapshot(): DeviceHealth {
    return {
      state: this.state,
      ...(this.reason === undefined ? {} : { reason: this.reason }),
      since: this.since,
      ...(this.lastXid === undefined ? {} : { lastXid: this.lastXid }),
      xidEvents: this.xidEvents,
    };
  }
}
