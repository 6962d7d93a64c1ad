/**
 * Kernels that launch kernels (dynamic parallelism, issue 11), by an unmodified program built with
 * relocatable device code (test/programs/device_launch.cu) run through `gpupool run` against a
 * simulated daemon: every grid of a launch tree has run when one host synchronisation returns, and a
 * child grid sees what its parent wrote before launching it (docs/emulator.md, "Device-side launches").
 * Kernels that malloc and free from the device heap (test/programs/device_heap.cu), within the heap
 * size the program set (docs/emulator.md, "The device heap").
 */
import t, { type Test } from 'tap';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildProgram } from '../helpers/programs.js';

const deviceLaunch = buildProgram('device_launch.cu', { rdc: true });
const deviceHeap = buildProgram('device_heap.cu');

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)]);
t.teardown(() => daemon.stop());
const server = daemon.url.replace(/^http/, 'ws');

/** Runs the program through gpupool: it exits 0 having printed "<check> ok" for each check, PASS, and names no call as not carried. */
async function runPassing(t: Test, program: string, checks: string[]): Promise<string> {
  const run = await runCli(['run', '--servers', server, '--', program]);
  t.equal(run.code, 0, `the program exits 0\n${run.stdout}${run.stderr}`);
  const lines = run.stdout.split('\n');
  for (const check of checks) t.ok(lines.includes(`${check} ok`), check);
  t.match(run.stdout, /^PASS$/m);
  t.notMatch(run.stderr, /not carried/, 'every call the program makes is carried');
  return run.stdout;
}

t.test('child grids run before the host sees their parent complete', async (t) => {
  const stdout = await runPassing(t, deviceLaunch, [
    'every grid of a launch tree ran before one host synchronisation returned',
    'each child grid saw what its parent wrote before launching it',
  ]);
  // The tree's blocks per depth, as the program counted them: 2, 4, 8, ... (two children per block).
  const depths = [...stdout.matchAll(/^depth (\d+): (\d+) blocks$/gm)].map((m) => ({ depth: Number(m[1]), blocks: Number(m[2]) }));
  t.ok(depths.length > 1, 'the tree has several levels');
  for (const { depth, blocks } of depths) t.equal(blocks, 2 ** (depth + 1), `depth ${depth}`);
});

t.test('kernels malloc and free from the device heap, within the size the program set', async (t) => {
  await runPassing(t, deviceHeap, [
    'the heap size is carried',
    "each thread's block is its own, aligned to 16",
    'a later kernel reads what a kernel wrote to the heap',
    'more than the heap answers NULL',
    'freed blocks are taken again',
    'the heap size is fixed once kernels used it',
  ]);
});
