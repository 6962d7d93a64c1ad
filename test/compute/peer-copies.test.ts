/**
 * Peer copies across two daemons (p2pBandwidthLatencyTest's pattern, docs/compatibility.md): one card on
 * each daemon, no peer path between them, so peer access is refused as a driver refuses it, and
 * cudaMemcpyPeerAsync travels through the client library in its stream's order. The two daemons hand
 * out the same device addresses: only the contexts a peer copy names say which memory is meant.
 */
import t from 'tap';
import { sameCardDaemons } from '../helpers/daemon-pair.js';
import { runCli } from '../helpers/daemon-process.js';
import { mixedHost } from '../helpers/fixture.js';
import { buildProgram } from '../helpers/programs.js';

const peerCopies = buildProgram('peer_copies.cu');

t.test('peer access refused and peer copies in stream order across two daemons', async (t) => {
  const host = mixedHost();
  host.nvidia!.cards = host.nvidia!.cards.slice(0, 1); // one card each: device 1 is the second daemon's
  const servers = await sameCardDaemons(t, host);
  const run = await runCli(['run', '--servers', servers, '--gpus', '2', '--', peerCopies, '3', String((1 << 18) + 3)]);
  t.equal(run.code, 0, `the program exits 0\n${run.stdout}${run.stderr}`);
  t.match(run.stdout, /^3 rounds of 262147 floats, 0 wrong$/m, 'every byte of every round arrived, after the kernels before it');
  t.notMatch(run.stdout + run.stderr, /want/, 'peer access answered as for cards with no peer path');
});
