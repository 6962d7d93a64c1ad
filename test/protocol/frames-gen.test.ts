// The frames table (src/protocol/frames.ts) and what is generated from it, without a daemon.
import { Unpackr } from 'msgpackr';
import t from 'tap';
import { CUDA_API, type Forwarded } from '../../src/protocol/cuda-api.js';
import { frameValues } from '../../src/protocol/frame-codec.js';
import { frames, handshake, sharedMemoryOps } from '../../src/protocol/frames.js';
import { emitFramesHeader, emitFramesSource } from '../../src/protocol/gen/frames.js';
import { decodeDaemonMessage, encodeHandshake } from '../../src/protocol/handshake-codec.js';

const argumentFrames = Object.entries(frames).filter(([, f]) => !('open' in f)).map(([name]) => name);

t.test('every hand-encoded op names a frame of the table, and every frame is some op\'s', async (t) => {
  const used = new Set<string>();
  for (const [name, note] of Object.entries(CUDA_API)) {
    const wire = (note as Forwarded).wire;
    if (wire === undefined) continue;
    t.ok(argumentFrames.includes(wire), `${name}: ${wire}`);
    used.add(wire);
  }
  // gpupool's own frames (shared memory) have ops of their own, outside the CUDA table.
  for (const name of Object.keys(sharedMemoryOps)) used.add(name);
  t.same([...used].sort(), [...argumentFrames].sort(), 'no frame is left without an op');
});

t.test('the C library declares, for each frame, its struct and codec, and the bounds as macros', async (t) => {
  const header = emitFramesHeader();
  const source = emitFramesSource();
  for (const name of Object.keys(frames)) {
    t.match(header, new RegExp(`typedef struct gp_frame_${name} \\{`), `${name}: struct`);
    for (const fn of ['bound', 'values', 'encode', 'decode']) t.match(source, new RegExp(`gp_frame_${name}_${fn}\\(`), `${name}: _${fn}`);
  }
  t.match(header, /#define GP_FRAME_LAUNCH_EX_ATTRS_MAX 64u/);
  t.match(header, /#define GP_FRAME_MEMCPY_2D_KIND_MAX 2u/);
  t.match(source, /width \* height overflows/, 'a product of fields is checked for overflow');
  for (const [name, map] of Object.entries(handshake)) {
    const kind = map.from === 'client' ? 'encode' : 'decode';
    t.match(source, new RegExp(`gp_map_${name}_${kind}\\(`), `${name}: the client library's ${kind}r`);
  }
  t.match(header, /#define GP_KEY_REQUEST_CARDS_MAX 64/);
  t.match(header, /const char \*namespace_;/, 'a key that is a C++ keyword is renamed for the addon');
});

t.test('frameValues: wire order, counts spread, a field present only when its condition holds', async (t) => {
  const common = { kind: 1, dst_device: 10, dst_x: 0, dst_y: 0, dst_pitch: 64, src_device: 0, src_x: 0, src_y: 0, src_pitch: 0, width: 4, height: 3, rows: Buffer.alloc(12) };
  t.same(frameValues('memcpy_2d', common), [1, 10, 0, 0, 64, 0, 0, 0, 0, 4, 3], 'device-to-host: no rows');
  t.equal(frameValues('memcpy_2d', { ...common, kind: 0 }).length, 12, 'host-to-device: the rows follow');
  const value = Buffer.alloc(64, 1);
  t.same(frameValues('clusters', { fn: 5, grid: [1, 2, 3], block: [4, 5, 6], shared: 0, stream: 0, attrs: [[4, value]] }), [5, 1, 2, 3, 4, 5, 6, 0, 0, [[4, value]]]);
  t.throws(() => frameValues('memcpy', { dst: 1, src: 2 }), /no value for bytes/);
});

t.test('the handshake codec: a notice and a WELCOME told apart, keys as the table names them', async (t) => {
  const welcome = encodeHandshake('welcome', { protocol: 1, digest: 'd', session: 7, devices: [{ ordinal: 0, name: 'card', attributes: [[1, 2]] }] });
  t.same(decodeDaemonMessage(welcome), { welcome: { protocol: 1, digest: 'd', session: 7, devices: [{ ordinal: 0, name: 'card', attributes: [[1, 2]] }] } });
  const notice = encodeHandshake('notice', { notice: 'waiting', waited: 5, wait: 60, reason: 'no room' });
  t.same(decodeDaemonMessage(notice), { notice: { notice: 'waiting', waited: 5, wait: 60, reason: 'no room' } });
  t.same(new Unpackr({ mapsAsObjects: true }).unpack(encodeHandshake('request', { gpus: 'all', mem: null })), { gpus: 'all', mem: null }, 'nil and "all" travel as given');
});
