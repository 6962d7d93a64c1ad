import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { poolName, resourceSlice } from '../../../src/cluster/kubernetes/resource-slices.js';
import { clientLibraryDir, packageRoot } from '../../../src/paths.js';
import type { StatusDocument } from '../../../src/server/status.js';
import { DaemonProcess } from '../../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../../helpers/fixture.js';
import { eventually, QUICK_CONFIG, writeConfig } from '../../helpers/integration.js';
import { CUDA_HOME, NVCC } from '../../helpers/programs.js';
import { ComponentProcess } from '../component-process.js';
import { FakeApiServer } from './api-server.js';
import { DraClient, registerDraPlugin } from './kubelet.js';

/**
 * A real container runtime: podman (with runc) runs a CUDA program in a container whose root holds
 * only the program and libc; its only way to a GPU is the CDI device the DRA plugin prepared (the
 * client library's mounts, GPUPOOL_SERVERS, GPUPOOL_REQUEST, GPUPOOL_TOKEN), found by podman in
 * /var/run/cdi, where the plugin writes it.
 */

const MiB = 1024 ** 2;
const CDI_DIR = '/var/run/cdi';

/** The program and the libraries it needs (ldd), less libcuda.so.1, which only the CDI device brings. */
function rootfs(dir: string, program: string): void {
  mkdirSync(join(dir, 'job'), { recursive: true });
  copyFileSync(program, join(dir, 'job', 'program'));
  const libs = [...execFileSync('ldd', [program], { encoding: 'utf8' }).matchAll(/(\/\S+\.so[.\d]*)/g)].map((m) => m[1]!);
  for (const lib of libs) {
    mkdirSync(join(dir, dirname(lib)), { recursive: true });
    copyFileSync(lib, join(dir, lib));
  }
  mkdirSync(join(dir, 'tmp'));
}

t.test('podman runs a CUDA program through gpupool with only the DRA plugin\'s CDI device', async (t) => {
  const fixture = new FixtureFile(mixedHost());
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-podman-'));
  const uid = `c0ffee00-0000-4000-8000-${String(process.pid).padStart(12, '0')}`;
  t.teardown(() => {
    fixture.remove();
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(CDI_DIR, `gpupool.io-claim_${uid}.json`), { force: true });
  });
  const program = join(dir, 'quota');
  execFileSync(NVCC, ['-o', program, join(packageRoot, 'test', 'programs', 'quota.c'), '-I', join(CUDA_HOME, 'include'), '-L', clientLibraryDir, '-l:libcuda.so.1'], { stdio: 'pipe' });
  rootfs(join(dir, 'rootfs'), program);
  t.notOk(existsSync(join(dir, 'rootfs', 'usr', 'lib', 'gpupool')), 'the container\'s root has no client library of its own');

  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)]);
  t.teardown(() => daemon.stop());
  const status = async () => (await (await fetch(`${daemon.url}/v1/status`)).json()) as StatusDocument;
  const api = new FakeApiServer();
  await api.start();
  t.teardown(() => api.stop());
  writeFileSync(join(dir, 'api-token'), api.token);
  const pool = poolName((await status()).host.hostname);
  api.addClaim({
    metadata: { namespace: 'team-b', name: 'infer', uid },
    status: { allocation: { devices: { results: [{ request: 'gpu', driver: 'gpupool.io', pool, device: 'gpu-0', consumedCapacity: { memory: '768Mi', share: '400m' } }] } } },
  });
  // The plugin finds the pool's daemon in the published ResourceSlice, as for a card on another node.
  api.slices.set('published', resourceSlice(await status(), daemon.url.replace(/^http/, 'ws'), { allNodes: true }, 1));
  const plugin = new ComponentProcess([
    'kube', 'dra-plugin', '--api-server', api.url, '--api-token-file', join(dir, 'api-token'),
    '--registry-dir', join(dir, 'plugins_registry'), '--plugin-dir', join(dir, 'plugin'), '--cdi-dir', CDI_DIR, '--install-dir', join(dir, 'node-lib'),
  ]);
  t.teardown(() => plugin.stop());
  await plugin.waitFor((l) => l.msg === 'DRA plugin serving');
  const info = await registerDraPlugin(join(dir, 'plugins_registry', 'gpupool.io-reg.sock'));
  const dra = new DraClient(info.endpoint);
  t.teardown(() => dra.close());
  const prepared = (await dra.prepare([{ namespace: 'team-b', name: 'infer', uid }])).claims[uid]!;
  t.equal(prepared.error, '');
  const [device] = prepared.devices[0]!.cdi_device_ids;
  const spec = JSON.parse(readFileSync(join(CDI_DIR, `gpupool.io-claim_${uid}.json`), 'utf8')) as { devices: { containerEdits: { mounts: { hostPath: string }[] } }[] };
  t.ok(spec.devices[0]!.containerEdits.mounts.every((m) => m.hostPath.startsWith(join(dir, 'node-lib'))), '--install-dir: the mounts name the node folder the library was copied to');

  // podman as the kubelet's runtime would run it: the CDI device by name, the host's network (the daemon is on loopback).
  // Explicit ulimits: without CAP_SYS_RESOURCE (as in this sandbox) podman's default rlimits cannot be set.
  const job = spawn('podman', ['run', '--rm', '-i', '--network', 'host', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096', '--device', device!, '--rootfs', join(dir, 'rootfs'), '/job/program', 'wait'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  job.stdout.on('data', (d: Buffer) => (out += d.toString()));
  job.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const closed = new Promise<number | null>((resolve) => job.on('close', resolve));
  t.teardown(() => job.kill('SIGKILL'));
  await eventually('the job in the container holding its session', () => {
    if (/^ready$/m.test(out)) return true;
    if (job.exitCode !== null) throw new Error(`podman exited ${job.exitCode}: ${out}`);
    return undefined;
  }, 60_000);
  t.match(out, new RegExp(`^meminfo free \\d+ total ${768 * MiB}$`, 'm'), 'cuMemGetInfo in the container: the claimed 768 MiB');
  const session = (await status()).compute.sessions[0]!;
  t.match(session, { request: { mem: 768 * MiB, share: 0.4 }, scheduling: { share: 0.4 }, cards: [{ ordinal: 0, quota: 768 * MiB }] }, 'the daemon\'s status: the claimed quota and share, on the allocated card');
  job.stdin.end('go\n');
  t.equal(await closed, 0, `the container's program exits 0: ${out}`);
  t.same((await dra.unprepare([{ namespace: 'team-b', name: 'infer', uid }])).claims[uid], { error: '' });
  t.notOk(existsSync(join(CDI_DIR, `gpupool.io-claim_${uid}.json`)), 'unprepared: the CDI spec is gone');
});
