/**
 * The client library's local parts (export tables, integrity check, cuGetProcAddress, device answers)
 * under unmodified nvcc-built programs, static and shared cudart, with no daemon at all: the harness in
 * native/shim/test builds a stand-in libcuda.so.1 from them and checks what cudart sees.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

t.test('cudart runs its device queries over the local parts; unit tests pass', async (t) => {
  const run = spawnSync('bash', [join(packageRoot, 'native', 'shim', 'test', 'run-probe.sh')], { encoding: 'utf8', timeout: 120_000 });
  const output = `${run.stdout}${run.stderr}`;
  t.equal(run.status, 0, `run-probe.sh exits 0\n${output}`);
  for (const step of ['md2 and procaddress unit tests', 'shim unit tests on the probe library', 'probe_static on', 'probe_shared on', 'all passed']) {
    t.match(output, step, `ran: ${step}`);
  }
});
