/**
 * Shared memory for jobs on the daemon's host (issue 13; docs/protocol.md, "Shared memory"). On a
 * real `gpupool daemon --simulate` serving a Unix socket:
 * - a driver-API program copies from and to pinned and pageable memory, 1 byte to 64 MiB, at
 *   unaligned offsets, synchronously, asynchronously in stream order and through unified addresses,
 *   every byte checked; the session's stats show the copies named shared memory;
 * - a hostile client on the raw socket: a region with no descriptor, a descriptor of no memfd, an
 *   unsealed memfd, one smaller than it claims, a copy past a region's end, a region never sent, a
 *   signal word outside it: each is a clear CUresult, and the daemon serves another job afterwards.
 * GPUPOOL_TEST_SESSION_PROCESS=process runs the same with sessions in worker processes.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { clientLibraryDir } from '../../src/paths.js';
import { DaemonProcess, runProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildProgram } from '../helpers/programs.js';

const dir = mkdtempSync(join(tmpdir(), 'gpupool-shm-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
const socket = join(dir, 'gpupool.sock');
const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(dir, QUICK_CONFIG, 'gpupoold.json'), '--local-socket', socket]);
t.teardown(() => daemon.stop());

function localEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LD_LIBRARY_PATH: clientLibraryDir, GPUPOOL_LOCAL_SOCKET: socket, ...extra };
  delete env.GPUPOOL_SERVERS;
  return env;
}

async function sessions(): Promise<SessionInfo[]> {
  return ((await (await fetch(`${daemon.url}/v1/status`)).json()) as { compute: { sessions: SessionInfo[] } }).compute.sessions;
}

const program = buildProgram('shared_copies.c');
// 1 byte to 64 MiB: within one staging slot, across slots and around the slot size, and whole pages.
const SIZES = ['1', '4095', '65543', String((4 << 20) + 3), String(9 << 20), String(64 << 20)];

for (const memory of ['pinned', 'pageable'] as const) {
  t.test(`copies from and to ${memory} memory go through shared memory, every byte checked`, async (t) => {
    const result = await runProcess(program, [memory, ...SIZES], localEnv({ GPUPOOL_PROGRAM: `shm-${memory}` }));
    t.equal(result.code, 0, 'the program passed', { output: (result.stdout + result.stderr).slice(-3000) });
    t.match(result.stdout, /^PASS$/m);
    t.notMatch(result.stderr, /refused shared memory/, 'the daemon took the regions');
  });
}
