/**
 * The daemon's reader of a session worker's control channel (src/compute/worker-channel.ts, framing
 * from `workerControl` in src/protocol/frames.ts): frames cut anywhere across chunks come out whole
 * and in order, each with its session's number; a length the table does not allow (short of the type
 * and the session, past maxFrame) is reported once and
 * ends the reading, rather than holding bytes for ever or throwing on the daemon's event loop.
 */
import { PassThrough } from 'node:stream';
import type { Socket } from 'node:net';
import t from 'tap';
import { workerControl } from '../../src/protocol/frames.js';
import { FrameReader, WorkerMsg, sendFrame } from '../../src/compute/worker-channel.js';

/** What sendFrame writes for these frames, as one buffer. */
function encode(frames: [number, Buffer, number?][]): Buffer {
  const out: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => out.push(c));
  for (const [type, payload, session] of frames) sendFrame(sink as unknown as Socket, type, payload, session);
  return Buffer.concat(out);
}

function head(length: number, type: number): Buffer {
  const h = Buffer.alloc(workerControl.headBytes);
  h.writeUInt32LE(length, 0);
  h.writeUInt8(type, 4);
  h.writeUInt32LE(1, 5);
  return h;
}

t.test('every message of the table has a code of its own that fits the type byte', async (t) => {
  const codes = Object.values(WorkerMsg);
  t.equal(new Set(codes).size, codes.length, 'no two messages share a code');
  t.ok(codes.every((c) => c >= 1 && c <= 255), 'each fits the type byte');
  t.equal(workerControl.headBytes, 9, 'u32 length, u8 type, u32 session');
});

t.test('frames cut at every byte boundary come out whole, in order', async (t) => {
  // Sessions of a tenant's worker each have a number; 0 is the process's own.
  const frames: [number, Buffer, number][] = [
    [WorkerMsg.READY, Buffer.alloc(0), 0],
    [WorkerMsg.STATS, Buffer.from('{"calls":3}'), 1],
    [WorkerMsg.OUTPUT, Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff)), 0xfffffffe],
    [WorkerMsg.CLOSED, Buffer.from('{}'), 2],
  ];
  const bytes = encode(frames);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const got: [number, Buffer, number][] = [];
    const reader = new FrameReader((type, payload, session) => got.push([type, Buffer.from(payload), session]), (why) => t.fail(why));
    reader.push(bytes.subarray(0, cut));
    reader.push(bytes.subarray(cut));
    if (got.length !== frames.length || got.some(([type, p, session], i) => type !== frames[i]![0] || !p.equals(frames[i]![1]) || session !== frames[i]![2])) {
      t.fail(`cut at ${cut}: ${JSON.stringify(got.map(([type, p]) => [type, p.length]))}`);
      return;
    }
  }
  t.pass(`${bytes.length + 1} cuts, each read as the ${frames.length} frames sent`);
});

t.test('a length short of the type and session, or past maxFrame, is reported once and ends the reading', async (t) => {
  for (const length of [0, 4, workerControl.maxFrame + 1, 0xffffffff]) {
    const got: number[] = [];
    const malformed: string[] = [];
    const reader = new FrameReader((type) => got.push(type), (why) => malformed.push(why));
    reader.push(encode([[WorkerMsg.READY, Buffer.alloc(0)]]));
    reader.push(head(length, WorkerMsg.STATS));
    reader.push(encode([[WorkerMsg.CLOSED, Buffer.from('{}')]]));
    t.same(got, [WorkerMsg.READY], `length ${length}: the frame before it was read, none after`);
    t.same(malformed, [`a control frame of length ${length}`], `length ${length}: reported once`);
  }
});
