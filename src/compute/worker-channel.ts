import type { Socket } from 'node:net';
import { workerControl, type WorkerControlName } from '../protocol/frames.js';

/**
 * The control channel between the daemon and a session worker, as `workerControl` in
 * src/protocol/frames.ts defines it (native/worker/control.h is the other end, built from the same
 * table): frames of [u32 length, little-endian][u8 type][u32 session, little-endian][payload], length
 * counting type, session and payload. Session 0 is the worker process itself (INIT, READY, a failed
 * start); a tenant's worker runs several sessions, each under the number the daemon gave it.
 */
export const WorkerMsg = Object.fromEntries(Object.entries(workerControl.messages).map(([name, m]) => [name, m.code])) as {
  readonly [K in WorkerControlName]: (typeof workerControl.messages)[K]['code'];
};

export type WorkerMsgType = (typeof WorkerMsg)[keyof typeof WorkerMsg];

const HEAD_BYTES = workerControl.headBytes;
/** What a frame's length counts besides its payload: the type byte and the session. */
const LENGTH_OVERHEAD = HEAD_BYTES - 4;

/** Writes frames to the worker; a write after the channel broke is dropped (the worker's exit says why). */
export function sendFrame(socket: Socket, type: number, payload: Buffer | string = Buffer.alloc(0), session = 0): void {
  if (socket.destroyed || !socket.writable) return;
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.allocUnsafe(HEAD_BYTES);
  head.writeUInt32LE(body.length + LENGTH_OVERHEAD, 0);
  head.writeUInt8(type, 4);
  head.writeUInt32LE(session, 5);
  socket.write(head);
  if (body.length > 0) socket.write(body);
}

/**
 * Cuts the worker's byte stream into frames, handing each to `onFrame` in order. A length the table
 * does not allow (short of the type and session, or past workerControl.maxFrame) goes to `onMalformed` and ends the
 * reading: a worker is the tenant's process, and what it writes must not take the daemon down.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private held = 0;
  private broken = false;

  constructor(
    private readonly onFrame: (type: number, payload: Buffer, session: number) => void,
    private readonly onMalformed: (why: string) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.broken) return;
    this.chunks.push(chunk);
    this.held += chunk.length;
    for (;;) {
      if (this.held < HEAD_BYTES) return;
      const head = this.peek(HEAD_BYTES);
      const length = head.readUInt32LE(0);
      if (length < LENGTH_OVERHEAD || length > workerControl.maxFrame) {
        this.broken = true;
        this.chunks = [];
        return this.onMalformed(`a control frame of length ${length}`);
      }
      if (this.held < 4 + length) return;
      const frame = this.take(4 + length);
      this.onFrame(frame.readUInt8(4), frame.subarray(HEAD_BYTES), frame.readUInt32LE(5));
    }
  }

  private peek(bytes: number): Buffer {
    if (this.chunks[0]!.length >= bytes) return this.chunks[0]!;
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(bytes: number): Buffer {
    const whole = this.peek(bytes);
    const frame = whole.subarray(0, bytes);
    const rest = whole.subarray(bytes);
    this.chunks = rest.length > 0 ? [rest, ...this.chunks.slice(1)] : this.chunks.slice(1);
    this.held -= bytes;
    return frame;
  }
}
