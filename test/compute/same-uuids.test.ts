/**
 * Device identity is (daemon, card), never a UUID or an address alone (issue 10, item 5): two daemons
 * that report the same cards (two daemons on one host, a daemon per tenant) hand out the same UUIDs and,
 * each in its own address space, the same device addresses. A peer copy from one to the other must
 * still read the first card and write the second.
 */
import t from 'tap';
import { sameCardDaemons } from '../helpers/daemon-pair.js';
import { runCli } from '../helpers/daemon-process.js';
import { mixedHost } from '../helpers/fixture.js';
import { buildProgram } from '../helpers/programs.js';

const runtime = buildProgram('runtime.cu');

t.test('a peer copy between two daemons that report the same card', async (t) => {
  const host = mixedHost();
  host.nvidia!.cards = host.nvidia!.cards.slice(0, 1); // one card each: device 0 and device 1 share a UUID
  const servers = await sameCardDaemons(t, host);

  const run = await runCli(['run', '--servers', servers, '--gpus', '2', '--', runtime]);
  t.equal(run.code, 0, `runtime program exits 0\n${run.stdout}${run.stderr}`);
  const names = [...run.stdout.matchAll(/^device (\d): (NVIDIA [^,]+), .*pci ([0-9a-f:]+)$/gm)].map((m) => `${m[2]} ${m[3]}`);
  t.equal(names.length, 2, 'two devices');
  t.equal(names[0], names[1], 'both are the same card (same name, same PCI location, same UUID)');
  t.match(run.stdout, /copy device 0 -> device 1 ok/, 'the copy from device 0 to device 1 arrives intact');
  t.match(run.stdout, /^PASS$/m);
});

// The two daemons hand out the same addresses: the client library keeps every copy to the card it
// means (test/programs/colliding_copies.cu), or refuses it; never success with the other card's bytes.
const colliding = buildProgram('colliding_copies.cu');

t.test('copies between two daemons that hand out the same device addresses', async (t) => {
  const host = mixedHost();
  // A small card: the emulator reserves twice its memory at an address taken from its UUID, which a
  // daemon's own scattered mappings then (almost) never occupy, so both daemons get the same range.
  host.nvidia!.cards = [{ ...host.nvidia!.cards[0]!, memoryTotal: 1024 ** 3, memoryUsed: 0, processes: [] }];
  const servers = await sameCardDaemons(t, host);

  const apart = await runCli(['run', '--servers', servers, '--gpus', '2', '--', colliding]);
  t.equal(apart.code, 0, `colliding_copies exits 0\n${apart.stdout}${apart.stderr}`);
  for (const check of [
    "device 1's memory lies apart from device 0's",
    'cuMemcpyPeer device 0 -> device 1',
    'cuMemcpyPeer device 1 -> device 0',
    'cuMemcpyDtoD device 0 -> device 1',
    'cuMemcpyDtoD device 1 -> device 0',
    'cudaMemcpy default device 0 -> device 1',
    'cudaMemcpy default device 1 -> device 0',
    'cudaMemcpy default within device 0',
  ]) {
    t.ok(apart.stdout.includes(`${check} ok`), check);
  }
  t.match(apart.stdout, /^PASS$/m);

  // A quota of one buffer per card leaves no room to ask for other addresses: the same address on both.
  const forced = await runCli(['run', '--servers', servers, '--gpus', '2', '--mem', '1MiB', '--', colliding, 'forced']);
  t.equal(forced.code, 0, `colliding_copies forced exits 0\n${forced.stdout}${forced.stderr}`);
  for (const check of [
    'both devices hold the same address (no room under the quota to ask again)',
    'each device keeps its own bytes at the same address',
    'cuMemcpyPeer device 0 -> device 1',
    'cuMemcpyPeer device 1 -> device 0',
    'cuMemcpyDtoD between the same addresses is refused',
    'cudaMemcpy default between the same addresses is refused',
  ]) {
    t.ok(forced.stdout.includes(`${check} ok`), check);
  }
  t.match(forced.stderr, /same addresses on two daemons/, 'the job is told that the addresses collide');
  t.match(forced.stderr, /cuMemcpyDtoD\(dst=0x[0-9a-f]+, src=0x[0-9a-f]+\): .* ambiguous; refused/, 'and which copy was refused, and why');
  t.match(forced.stdout, /^PASS$/m);
});
