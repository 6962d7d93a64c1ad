/**
 * The daemon's N-API addon under AddressSanitizer and UBSan: `make -C native addon-asan` builds it from
 * the same sources into build/asan/addon, and a daemon loads it instead of build/Release's
 * (GPUPOOL_ADDON), with libasan preloaded since Node itself is not built with it. Real programs then
 * run against that daemon:
 * - streamed_copies: asynchronous 16 MiB device-to-host copies on 4 streams into registered memory,
 *   one synchronize at the end (cuda-samples' simpleStreams; issue 12, item 0: it aborted the daemon);
 * - large_copies: 64 MiB each way, sliced by the client library;
 * - driver_api and a runtime program (static cudart): the calls an ordinary program makes;
 * - array_copies, textures, link_jit, device_printf, graph_conditional: box copies, texture objects, JIT
 *   linking, device printf and graphs with conditional nodes built on the daemon (issue 11);
 * - a burst of protocol fuzzing.
 * Any sanitizer report fails, as does a daemon that does not stop cleanly. Leak detection is off:
 * Node's own allocations are not meant to be freed at exit.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { clientLibraryDir, packageRoot } from '../../src/paths.js';
import { loadOpTable } from '../../src/protocol/client.js';
import { runFuzz } from '../../src/protocol/fuzz/run.js';
import { DaemonProcess, onTestTransport } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildFatbin, buildProgram, buildPtx } from '../helpers/programs.js';

const ADDON = join(packageRoot, 'build', 'asan', 'addon', 'gpupool_compute.node');
const build = spawnSync('make', ['-C', join(packageRoot, 'native'), 'addon-asan'], { encoding: 'utf8' });
const libasan = spawnSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim();
const REPORT = /ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|Undefined)|double free|free\(\): /;

async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

t.test('make -C native addon-asan builds the sanitized addon', async (t) => {
  t.equal(build.status, 0, 'built', { output: `${build.stdout}${build.stderr}`.slice(-4000) });
  t.match(libasan, /^\/.*libasan\.so/, 'gcc names its libasan');
});

t.test('a daemon on the sanitized addon runs ordinary programs and fuzzing without a report', async (t) => {
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const env = {
    LD_PRELOAD: libasan,
    GPUPOOL_ADDON: ADDON,
    ASAN_OPTIONS: 'detect_leaks=0:exitcode=23:abort_on_error=0',
    UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1:exitcode=24',
  };
  // Sessions as threads: the sanitized addon runs the session core only there (a worker process
  // links its own copy, built without the sanitizers).
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, { ...QUICK_CONFIG, compute: { sessionProcess: 'thread' } })], env, 60_000);
  t.teardown(() => daemon.stop());
  const server = daemon.url.replace(/^http/, 'ws');
  const maps = readFileSync(`/proc/${daemon.child.pid}/maps`, 'utf8');
  t.ok(maps.includes(ADDON), 'the daemon runs the sanitized addon');
  t.match(maps, /libasan\.so/, 'with the ASan runtime');
  const client = { LD_LIBRARY_PATH: clientLibraryDir, GPUPOOL_SERVERS: onTestTransport(server) };
  const fatbin = buildFatbin();
  for (const [what, argv] of [
    ['streamed_copies (64 async 16 MiB copies on 4 streams)', [buildProgram('streamed_copies.c'), '64', '16']],
    ['large_copies (64 MiB each way)', [buildProgram('large_copies.c'), '64']],
    ['driver_api', [buildProgram('driver_api.c'), fatbin]],
    ['runtime (static cudart)', [buildProgram('runtime.cu')]],
    // Issue 11's surface: box copies naming arrays, texture and surface objects, JIT linking, device printf.
    ['array_copies', [buildProgram('array_copies.cu')]],
    ['textures', [buildProgram('textures.cu')]],
    ['link_jit', [buildProgram('link_jit.c'), buildPtx()]],
    ['graph_conditional', [buildProgram('graph_conditional.cu')]],
    ['device_printf', [buildProgram('device_printf.cu')]],
  ] as const) {
    const r = await run([...argv], client);
    t.equal(r.code, 0, `${what} exits 0`, { output: r.output.slice(-3000) });
    t.match(r.output, /^PASS/m, `${what} passed`);
  }
  const report = await runFuzz({ url: `${server}/v1/compute`, ops: loadOpTable(), seed: 11, cases: 600, floods: 0, floodBytes: 0, oversized: 0, maxMessageBytes: 2 ** 30, concurrency: 2, timeoutMs: 20_000 });
  t.same(report.failures.slice(0, 5), [], `${report.cases} fuzz cases ended as they should`);
  t.equal(await daemon.stop(), 0, 'the daemon stopped cleanly');
  t.notMatch(daemon.stderr.join(''), REPORT, 'no sanitizer report from the daemon');
});
