/**
 * Stream order holds across daemons: a job with one card on each of two daemons queues, per card, an
 * async host-to-device copy, a kernel and an async copy back on the card's stream, issuing the copies
 * with card 0 current (CUDA allows a copy on another device's stream). The two daemons hand out the
 * same device addresses, so only the stream says which daemon a copy belongs to: a copy sent to the
 * current card's daemon instead left the other card's kernel scaling stale memory and the copy back
 * reading the input unscaled (simpleMultiGPU's failure across two daemons, docs/compatibility.md).
 */
import t from 'tap';
import { sameCardDaemons } from '../helpers/daemon-pair.js';
import { runCli } from '../helpers/daemon-process.js';
import { mixedHost } from '../helpers/fixture.js';
import { buildProgram } from '../helpers/programs.js';

const streamOrder = buildProgram('stream_order.cu');

t.test('per-stream order of copies and kernels across two daemons', async (t) => {
  const host = mixedHost();
  host.nvidia!.cards = host.nvidia!.cards.slice(0, 1); // one card each: device 1 is the second daemon's
  const servers = await sameCardDaemons(t, host);
  const run = (args: string[]) => runCli(['run', '--servers', servers, '--gpus', '2', '--', streamOrder, ...args]);

  const small = await run(['40', '65536', '0']);
  t.equal(small.code, 0, `pageable memory, many rounds: the program exits 0\n${small.stdout}${small.stderr}`);
  t.match(small.stdout, /^2 devices, 40 rounds, 0 wrong$/m, 'every round of both cards is the copied input, scaled');

  // Over the 16 MiB slice: each copy travels in several frames; pinned host memory as simpleMultiGPU's.
  const sliced = await run(['3', String(5 << 20), '1']);
  t.equal(sliced.code, 0, `pinned memory, sliced copies: the program exits 0\n${sliced.stdout}${sliced.stderr}`);
  t.match(sliced.stdout, /^2 devices, 3 rounds, 0 wrong$/m, 'every round of both cards is the copied input, scaled');

  // Just over the 1 MiB after which the worker's reader reads the next message while the session runs
  // this one (docs/architecture.md, "A call"): each round's copy in hands the socket over, and the
  // kernel behind it must still run after it (it once overtook the copy, queued first by the reader).
  const handed = await run(['30', String((1 << 18) + 1024), '1']);
  t.equal(handed.code, 0, `copies the reader reads past, many rounds: the program exits 0\n${handed.stdout}${handed.stderr}`);
  t.match(handed.stdout, /^2 devices, 30 rounds, 0 wrong$/m, 'every round of both cards is the copied input, scaled');
});
