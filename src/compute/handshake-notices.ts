import { Packr } from 'msgpackr';

/**
 * Handshake notices (docs/protocol.md, "Handshake"), for clients whose HELLO says `notices: true`:
 * maps with a `notice` key sent before WELCOME or before a refusal's close. A close frame's reason
 * holds 123 bytes; a notice holds the whole reason, and while a request's `wait` holds the handshake,
 * what the client waits for.
 */

const packr = new Packr({ useRecords: false, variableMapSize: true });

/** `{notice: "refused", code, reason}`: sent just before the connection is closed with `code`. */
export function encodeRefused(code: number, reason: string): Buffer {
  return packr.pack({ notice: 'refused', code, reason });
}

/** `{notice: "waiting", waited, wait, reason}`: held `waited` of `wait` seconds, and why. */
export function encodeWaiting(waitedS: number, waitS: number, reason: string): Buffer {
  return packr.pack({ notice: 'waiting', waited: waitedS, wait: waitS, reason });
}

/** How often a held client hears that it still waits, when nothing changed meanwhile. */
export const PROGRESS_INTERVAL_MS = 5000;

/**
 * The progress of one held handshake: a notice when it starts waiting, whenever the reason changes
 * (another session came or went), and every PROGRESS_INTERVAL_MS otherwise.
 */
export class WaitProgress {
  private readonly started = Date.now();
  private readonly timer: NodeJS.Timeout;
  private reason = '';

  constructor(
    private readonly send: (message: Buffer) => void,
    private readonly waitS: number,
    intervalMs = PROGRESS_INTERVAL_MS,
  ) {
    this.timer = setInterval(() => this.tell(), intervalMs);
    this.timer.unref();
  }

  update(reason: string): void {
    if (reason === this.reason) return;
    this.reason = reason;
    this.tell();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tell(): void {
    this.send(encodeWaiting(Math.floor((Date.now() - this.started) / 1000), this.waitS, this.reason));
  }
}
