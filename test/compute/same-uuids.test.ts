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
