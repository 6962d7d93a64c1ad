#!/usr/bin/env node
/**
 * Writes a seed corpus for decode_fuzz into DIR: WELCOMEs and reply frames as a daemon encodes them
 * (msgpackr, as src/compute/handshake.ts and the addon write them), and call frames of each argument
 * frame of src/protocol/frames.ts, each behind the harness's first byte (odd: WELCOME; low bits 00:
 * replies; 10: call frames, the frame picked by the byte's upper bits).
 *
 *   node native/shim/fuzz/seeds.mjs DIR
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { frames } from '../../../dist/protocol/frames.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: seeds.mjs DIR');
mkdirSync(dir, { recursive: true });
const packr = new Packr({ useRecords: false, variableMapSize: true });
const device = (ordinal) => ({
  ordinal,
  name: 'NVIDIA H100 80GB HBM3',
  uuid: Buffer.alloc(16, 0x11 * (ordinal + 1)),
  pciDomain: 0,
  pciBus: 0x17 + ordinal,
  pciDevice: 0,
  totalMem: 21474836480n,
  attributes: [[1, 1024], [75, 9], [76, 0], [16, 132]],
});
const seeds = {
  'welcome-1': [1, packr.pack({ protocol: 1, digest: 'caf06f62dc807990', session: 7, driverVersion: 13000, devices: [device(0)] })],
  'notice-waiting': [1, packr.pack({ notice: 'waiting', waited: 5, wait: 60, reason: 'no card has room for 8.00 GiB: card 0 has 2.00 GiB of 80.00 GiB uncommitted (6.00 GiB short)' })],
  'notice-refused': [1, packr.pack({ notice: 'refused', code: 4004, reason: 'x'.repeat(3000) })],
  'welcome-6': [3, packr.pack({ protocol: 1, digest: 'x', session: 2n ** 40n, driverVersion: 13000, devices: [0, 1, 2, 3, 4, 5].map(device), extra: { a: [1, 2] } })],
  'reply-empty': [0, packr.pack([1, 0])],
  'reply-error': [4, packr.pack([2, 400])],
  'reply-outs': [8, Buffer.concat([packr.pack([3, 0, 2n ** 47n, 42]), packr.pack([4, 0, -5, 1.5]), packr.pack([5, 0, 'kernel'])])],
  'reply-bin': [16, packr.pack([6, 0, Buffer.alloc(40, 7)])],
};
// One call frame per argument frame, in the table's order (the harness's order too): valid values
// of each field, a host-to-device pitched copy's rows (the 12-byte bin) sized width * height.
const sample = { u32: () => 3, u64: () => 4096, handle: () => 2n ** 47n, bin: () => Buffer.alloc(12, 1), pairs: () => [[3, Buffer.alloc(64, 2)]] };
const argumentFrames = Object.entries(frames).filter(([, f]) => !f.open);
argumentFrames.forEach(([name, frame], i) => {
  const values = [];
  for (const f of frame.fields) {
    if (f.when && values[frame.fields.findIndex((g) => g.name === f.when.field)] !== f.when.equals) continue;
    const given = { kind: 0, width: 4, height: 3 }[f.name]; // rows: the 12-byte bin, width * height
    if (given !== undefined) values.push(given);
    else for (let k = 0; k < (f.count ?? 1); k++) values.push(sample[f.type]());
  }
  seeds[`call-${name}`] = [2 + 4 * i, packr.pack([1, 0, 0, ...values])];
});
for (const [name, [how, bytes]] of Object.entries(seeds)) writeFileSync(join(dir, name), Buffer.concat([Buffer.from([how]), bytes]));
