/**
 * Copies of any size, and what they leave behind (issue 12, items 9 and 11), on real processes: an
 * unmodified driver-API program (test/programs/large_copies.c) against `gpupool daemon --simulate`.
 * - 1 GiB and 2 GiB copies each way, synchronous and asynchronous, every byte checked: the client
 *   library slices them, so no message reaches compute.maxMessageBytes (1 GiB by default);
 * - once the client is gone, the daemon's resident memory comes back within 100 MiB of its idle
 *   figure, however large the copies that passed through it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { clientLibraryDir } from '../../src/paths.js';
import { startSimulatedDaemon } from '../helpers/simulated.js';
import { eventually } from '../helpers/integration.js';
import { buildProgram } from '../helpers/programs.js';

const MiB = 1024 ** 2;

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) * 1024;
}

async function run(program: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(program, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

t.test('1 GiB and 2 GiB copies each way arrive whole, and the daemon gives the memory back', async (t) => {
  const program = buildProgram('large_copies.c');
  const { daemon, server } = await startSimulatedDaemon(t);
  const env = { LD_LIBRARY_PATH: clientLibraryDir, GPUPOOL_SERVERS: server, GPUPOOL_REQUEST: 'mem=3GiB' };
  const pid = daemon.child.pid!;
  // Idle: after a first small session, so that what any session loads once (the driver's module
  // state, the addon's code) is in the figure.
  const warm = await run(program, ['1'], env);
  t.equal(warm.code, 0, 'a 1 MiB round trip', { output: warm.stdout + warm.stderr });
  const idle = rssBytes(pid);

  const copies = await run(program, ['1024', '2048'], env);
  t.equal(copies.code, 0, 'the program passed', { output: (copies.stdout + copies.stderr).slice(-3000) });
  t.match(copies.stdout, /^PASS$/m);
  for (const way of ['htod', 'dtoh', 'htod-async', 'dtoh-async']) {
    for (const mib of [1024, 2048]) t.match(copies.stdout, new RegExp(`^${way} ${mib} MiB \\d+ ms$`, 'm'), `${way} of ${mib} MiB done`);
  }
  t.notMatch(copies.stderr, /lost the daemon/, 'the session was never lost');
  t.comment(copies.stdout.trim().split('\n').join('; '));

  // Every session is gone; the daemon's memory goes back to about its idle figure.
  const after = await eventually(
    'the daemon back within 100 MiB of its idle memory',
    () => {
      const now = rssBytes(pid);
      return now - idle <= 100 * MiB ? now : undefined;
    },
    30_000,
    250,
  ).catch(() => rssBytes(pid));
  t.ok(after - idle <= 100 * MiB, `resident memory ${(after / MiB).toFixed(0)} MiB after the copies, ${(idle / MiB).toFixed(0)} MiB idle`);
});
