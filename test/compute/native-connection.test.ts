/**
 * The session owns its connection after the handshake (issue 13; docs/architecture.md): on a real
 * `gpupool daemon --simulate`, raw WebSocket frames written by hand reach the session's native reader,
 * which must take fragments split anywhere, answer pings between them, refuse unmasked frames (1002)
 * and messages over compute.maxMessageBytes (1009), echo the client's close and free the session;
 * status names each session's transport, and `compute.nativeConnections: false` keeps the event loop's.
 */
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import t from 'tap';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { ProtocolClient, frame, helloMessage, loadOpTable } from '../../src/protocol/client.js';
import { startSimulatedDaemon } from '../helpers/simulated.js';
import { eventually } from '../helpers/integration.js';

const ops = loadOpTable();
const MAX_MESSAGE = 65_536;

/** One client frame, masked as RFC 6455 wants (`masked: false` for the hostile kind). */
function clientFrame(opcode: number, payload: Buffer, fin = true, masked = true): Buffer {
  const len = payload.length;
  const ext = len < 126 ? Buffer.alloc(0) : len <= 0xffff ? Buffer.alloc(2) : Buffer.alloc(8);
  if (len >= 126 && len <= 0xffff) ext.writeUInt16BE(len);
  else if (len > 0xffff) ext.writeBigUInt64BE(BigInt(len));
  const head = Buffer.from([(fin ? 0x80 : 0) | opcode, (masked ? 0x80 : 0) | (len < 126 ? len : len <= 0xffff ? 126 : 127)]);
  if (!masked) return Buffer.concat([head, ext, payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, ext, mask, body]);
}

function socketOf(client: ProtocolClient): Socket {
  return (client.ws as unknown as { _socket: Socket })._socket;
}

async function open(server: string, program: string) {
  const { client } = await ProtocolClient.connect(`${server}/v1/compute`, helloMessage({ digest: ops.digest, program }));
  t.teardown(() => client.ws.terminate());
  return client;
}

const { daemon, server } = await startSimulatedDaemon(t, { health: { xidWaitMs: 100 }, compute: { maxMessageBytes: MAX_MESSAGE } });

async function sessions(url = daemon.url): Promise<SessionInfo[]> {
  return ((await (await fetch(`${url}/v1/status`)).json()) as { compute: { sessions: SessionInfo[] } }).compute.sessions;
}

t.test('fragments split anywhere, with a ping between them, make one call; status shows the native transport', async (t) => {
  const client = await open(server, 'fragments');
  const ctx = (await client.call(ops.code('cuDevicePrimaryCtxRetain_v7000'), 0, true, 0)).outs[0] as number;
  const seq = 4242;
  const message = frame(ops.code('cuCtxSynchronize_v2000'), seq, ctx, []);
  const third = Math.ceil(message.length / 3);
  const pingPayload = Buffer.from('are you there');
  const bytes = Buffer.concat([
    clientFrame(0x2, message.subarray(0, third), false),
    clientFrame(0x9, pingPayload),
    clientFrame(0x0, message.subarray(third, 2 * third), false),
    clientFrame(0x0, message.subarray(2 * third), true),
  ]);
  const pong = once(client.ws, 'pong');
  const reply = client.expect(seq);
  // Three bytes at a time, each its own write: heads and payloads cut at every place.
  for (let i = 0; i < bytes.length; i += 3) {
    socketOf(client).write(bytes.subarray(i, i + 3));
    await new Promise((r) => setImmediate(r));
  }
  t.equal((await reply).rc, 0, 'the call made of three fragments was answered');
  t.same((await pong)[0], pingPayload, 'the ping between the fragments was answered with its payload');
  const mine = (await sessions()).find((s) => s.program === 'fragments');
  t.same(mine?.transport, { socket: 'tcp', reader: 'native' }, 'status: read and written natively');
});

t.test('an unmasked frame closes with 1002 and frees the session', async (t) => {
  const client = await open(server, 'unmasked');
  socketOf(client).write(clientFrame(0x2, frame(ops.code('cuCtxSynchronize_v2000'), 7, 0, []), true, false));
  const closed = await client.closed;
  t.equal(closed.code, 1002, `closed with ${closed.code} ${closed.reason}`);
  t.match(closed.reason, /MASK/);
  await eventually('the session freed', async () => ((await sessions()).some((s) => s.program === 'unmasked') ? undefined : true));
});

t.test('a message over compute.maxMessageBytes closes with 1009, its bytes not awaited', async (t) => {
  const client = await open(server, 'too-big');
  // Only the head of a frame one byte too large: the daemon must not wait for its payload.
  const head = clientFrame(0x2, Buffer.alloc(MAX_MESSAGE + 1)).subarray(0, 2 + 8 + 4);
  socketOf(client).write(head);
  const closed = await client.closed;
  t.equal(closed.code, 1009, `closed with ${closed.code} ${closed.reason}`);
  await eventually('the session freed', async () => ((await sessions()).some((s) => s.program === 'too-big') ? undefined : true));
});

t.test("the client's close is echoed with its code, and the session freed", async (t) => {
  const client = await open(server, 'closer');
  client.ws.close(4321, 'done here');
  const closed = await client.closed;
  t.equal(closed.code, 4321, 'the same code came back');
  const line = await daemon.waitFor((l) => l.msg === 'client disconnected' && l.code === 4321);
  t.ok(line, 'the daemon logged the code');
  await eventually('the session freed', async () => ((await sessions()).some((s) => s.program === 'closer') ? undefined : true));
});

t.test('compute.nativeConnections false keeps every frame on the event loop', async (t) => {
  const js = await startSimulatedDaemon(t, { health: { xidWaitMs: 100 }, compute: { nativeConnections: false } });
  const client = await open(js.server, 'on-the-loop');
  const ctx = await client.call(ops.code('cuDevicePrimaryCtxRetain_v7000'), 0, true, 0);
  t.equal(ctx.rc, 0, 'calls work');
  const mine = (await sessions(js.daemon.url)).find((s) => s.program === 'on-the-loop');
  t.same(mine?.transport, { socket: 'tcp', reader: 'js' });
});
