/**
 * Launch and texture features of NVIDIA's cuda-samples (issue 11), each by an unmodified program run
 * through `gpupool run` against a simulated daemon: test/programs/coop_launch.cu (cooperative grids
 * through cudaLaunchCooperativeKernel and cudaLaunchKernelEx, the grid bounded by the occupancy the
 * card reports, cache preferences), test/programs/device_assert.cu (a device-side assert:
 * cudaErrorAssert, its message in the job's stdout, the context unusable after; its kernel shares its
 * name and parameters with another program's, which the emulator tells apart by the image) and
 * test/programs/mipmaps.cu (surfaces on mipmap levels, levels of detail, integer texture reads).
 */
import t, { type Test } from 'tap';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildProgram } from '../helpers/programs.js';

const coopLaunch = buildProgram('coop_launch.cu');
const deviceAssert = buildProgram('device_assert.cu');
const devicePrintf = buildProgram('device_printf.cu');
const mipmaps = buildProgram('mipmaps.cu');

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)]);
t.teardown(() => daemon.stop());
const server = daemon.url.replace(/^http/, 'ws');

/** Runs the program through gpupool: it must exit 0, report each check ("<what> ok"), PASS, and use only carried calls. */
async function runPassing(t: Test, program: string, checks: string[]): Promise<{ stdout: string; stderr: string }> {
  const run = await runCli(['run', '--servers', server, '--', program]);
  t.equal(run.code, 0, `${program} exits 0\n${run.stdout}${run.stderr}`);
  const lines = run.stdout.split('\n');
  for (const check of checks) t.ok(lines.includes(`${check} ok`), check);
  t.match(run.stdout, /^PASS$/m);
  t.notMatch(run.stderr, /not carried/, 'every call the program makes is carried');
  return run;
}

t.test('cooperative launches and cache preferences', async (t) => {
  await runPassing(t, coopLaunch, [
    'the card says it launches cooperative grids',
    'but not one grid over several cards (not carried)',
    'cudaOccupancyMaxActiveBlocksPerMultiprocessor bounds the grid',
    'cudaLaunchCooperativeKernel: every block\'s sum before grid.sync(), the total after',
    'cudaLaunchKernelEx with the cooperative attribute',
    'a grid larger than the card holds at once is refused',
    'the same through cudaLaunchKernelEx',
    'a refused cooperative launch leaves the context usable',
    'cache preferences of a kernel and of the device',
  ]);
});

t.test('a device-side assert', async (t) => {
  const run = await runPassing(t, deviceAssert, [
    'a launch whose asserts hold succeeds',
    'a failed assert is cudaErrorAssert at the synchronisation',
    'the context is unusable afterwards',
  ]);
  const lines = run.stdout.split('\n').filter((l) => l !== '');
  // Threads 2 of blocks 0 and 1 fail `threadIdx.x < round` with round 2, printed at the synchronisation.
  const at = lines.indexOf('host: before cudaDeviceSynchronize');
  const asserts = lines.slice(at + 1, at + 3).sort();
  t.same(asserts, [0, 1].map((b) => `device_assert.cu:16: void greet(int): block: [${b},0,0], thread: [2,0,0] Assertion \`threadIdx.x < (unsigned)round\` failed.`), 'each failed assert\'s message, as a GPU prints it, in the job\'s stdout at the synchronisation');
  t.equal(lines[at + 3], 'host: after cudaDeviceSynchronize');
  t.notOk(daemon.logs.some((l) => /Assertion/.test(String(l.msg))), 'none of it in the daemon\'s stdout');
});

t.test('a kernel of the same name and parameters in another program runs its own implementation', async (t) => {
  const run = await runCli(['run', '--servers', server, '--', devicePrintf]);
  t.equal(run.code, 0, `device_printf exits 0 beside device_assert\n${run.stdout}${run.stderr}`);
  t.match(run.stdout, /^round 1: block 0 thread 0$/m, 'greet(int) of device_printf prints, never asserts');
  t.notMatch(run.stdout, /Assertion/);
});

t.test('mipmapped textures: surfaces on levels, levels of detail, integer reads', async (t) => {
  await runPassing(t, mipmaps, [
    'a surface object on a level of a mipmapped array',
    'a kernel writes the level through the surface',
    'tex2DLod at each level',
    'linear mipmap filtering between levels',
    'the level of detail clamped to the levels',
    'point mipmap filtering takes the nearest level',
    'a uint2 texture read as integers, exactly',
  ]);
});
