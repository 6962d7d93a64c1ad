import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import t from 'tap';
import { poolName } from '../../../src/cluster/kubernetes/resource-slices.js';
import { clientLibraryDir } from '../../../src/paths.js';
import type { StatusDocument } from '../../../src/server/status.js';
import { DaemonProcess, runCli } from '../../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../../helpers/fixture.js';
import { eventually, QUICK_CONFIG, writeConfig } from '../../helpers/integration.js';
import { buildProgram } from '../../helpers/programs.js';
import { ComponentProcess } from '../component-process.js';
import { FakeApiServer } from './api-server.js';
import { DraClient, registerDraPlugin } from './kubelet.js';

const GiB = 1024 ** 3;
const quota = buildProgram('quota.c');

t.test('the DRA kubelet plugin: registration, prepare/unprepare, its restart, and a job run with the CDI edits', async (t) => {
  const fixture = new FixtureFile(mixedHost());
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-dra-'));
  t.teardown(() => {
    fixture.remove();
    rmSync(dir, { recursive: true, force: true });
  });
  // The namespace's tenant: a token the daemon knows, in a file named by the namespace (a mounted Secret).
  const made = JSON.parse((await runCli(['token', 'new', 'team-a', '--json'])).stdout) as { token: string; line: string };
  writeFileSync(join(dir, 'tokens'), `${made.line}\n`, { mode: 0o600 });
  const tokenDir = join(dir, 'secrets');
  mkdirSync(tokenDir);
  writeFileSync(join(tokenDir, 'team-a'), `${made.token}\n`);
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG), '--tokens', join(dir, 'tokens')]);
  t.teardown(() => daemon.stop());
  const status = async () => (await (await fetch(`${daemon.url}/v1/status`)).json()) as StatusDocument;
  const pool = poolName((await status()).host.hostname);

  const api = new FakeApiServer();
  await api.start();
  t.teardown(() => api.stop());
  writeFileSync(join(dir, 'api-token'), api.token);
  const claim = {
    apiVersion: 'resource.k8s.io/v1',
    kind: 'ResourceClaim',
    metadata: { namespace: 'team-a', name: 'train-gpu', uid: 'c0ffee00-0000-4000-8000-000000000001' },
    status: {
      allocation: {
        devices: {
          results: [{ request: 'gpu', driver: 'gpupool.io', pool, device: 'gpu-1', consumedCapacity: { memory: '1Gi', share: '250m' } }],
          config: [{ source: 'FromClass', requests: [], opaque: { driver: 'gpupool.io', parameters: { priority: 'high' } } }],
        },
      },
      reservedFor: [{ resource: 'pods', name: 'trainer-0', uid: 'p0d00000-0000-4000-8000-000000000001' }],
    },
  };
  api.addClaim(claim);
  api.addClaim({ metadata: { namespace: 'team-a', name: 'pending', uid: 'c0ffee00-0000-4000-8000-000000000002' } });
  const ref = { namespace: 'team-a', name: 'train-gpu', uid: claim.metadata.uid };
  const cdiDir = join(dir, 'cdi');
  const args = [
    'kube', 'dra-plugin', '--daemons', daemon.url, '--api-server', api.url, '--api-token-file', join(dir, 'api-token'),
    '--registry-dir', join(dir, 'plugins_registry'), '--plugin-dir', join(dir, 'plugins', 'gpupool.io'), '--cdi-dir', cdiDir, '--token-dir', tokenDir,
  ];
  let plugin = new ComponentProcess(args);
  t.teardown(() => plugin.stop());
  await plugin.waitFor((l) => l.msg === 'DRA plugin serving');

  const info = await registerDraPlugin(join(dir, 'plugins_registry', 'gpupool.io-reg.sock'));
  t.same(info, { type: 'DRAPlugin', name: 'gpupool.io', endpoint: join(dir, 'plugins', 'gpupool.io', 'dra.sock'), supported_versions: ['v1.DRAPlugin'] }, 'GetInfo: a dra/v1 DRA plugin');
  await plugin.waitFor((l) => l.msg === 'registered with the kubelet');

  let dra = new DraClient(info.endpoint);
  const first = await dra.prepare([ref]);
  const expected = { devices: [{ request_names: ['gpu'], pool_name: pool, device_name: 'gpu-1', cdi_device_ids: [`gpupool.io/claim=${ref.uid}`] }], error: '' };
  t.same(first.claims[ref.uid], expected, 'the claim is prepared as one CDI device');

  const specFile = join(cdiDir, `gpupool.io-claim_${ref.uid}.json`);
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as { kind: string; devices: { name: string; containerEdits: { env: string[]; mounts: { hostPath: string; containerPath: string; options: string[] }[] } }[] };
  t.equal(spec.kind, 'gpupool.io/claim');
  t.equal(spec.devices[0]!.name, ref.uid);
  const env = Object.fromEntries(spec.devices[0]!.containerEdits.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const server = daemon.url.replace(/^http/, 'ws');
  t.same(env, { LD_LIBRARY_PATH: '/usr/lib/gpupool', GPUPOOL_SERVERS: `${server}?gpus=1&cards=1&mem=${GiB}&share=0.25`, GPUPOOL_REQUEST: 'priority=high,namespace=team-a,pod=trainer-0', GPUPOOL_TOKEN: made.token }, 'the claim\'s daemon, memory, share, class parameters, its pod, and the namespace\'s token');
  const mounts = spec.devices[0]!.containerEdits.mounts;
  t.match(mounts[0], { hostPath: join(clientLibraryDir, 'libcuda.so.1'), containerPath: '/usr/lib/gpupool/libcuda.so.1', options: ['bind', 'nosuid', 'nodev', 'ro'] }, 'the client library, read-only');
  t.ok(mounts.some((m) => m.containerPath === '/usr/lib/gpupool/libwslay.so.1'), 'and the libraries it links');

  t.test('a job run with those edits gets the claimed memory and share, as the tenant', async (t) => {
    const job = spawn(quota, ['wait'], { env: { ...process.env, ...env, LD_LIBRARY_PATH: clientLibraryDir }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    job.stdout.on('data', (d: Buffer) => (out += d.toString()));
    job.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await eventually('the job holding its session', () => (/^ready$/m.test(out) ? true : undefined), 15_000);
    t.match(out, new RegExp(`^meminfo free \\d+ total ${GiB}$`, 'm'), 'cuMemGetInfo: total is the claimed memory');
    const session = (await status()).compute.sessions[0]!;
    t.match(session, { tenant: 'team-a', request: { mem: GiB, share: 0.25, priority: 'high', workload: { namespace: 'team-a', pod: 'trainer-0' } }, scheduling: { share: 0.25, priority: 'high' }, cards: [{ ordinal: 1, quota: GiB }] }, 'status: the claim\'s quota, share and pod, on the allocated card');
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    t.match(metrics, /^gpupool_client_share\{[^}]*namespace="team-a",pod="trainer-0",container="",job="",user=""[^}]*\} 0\.25$/m, 'the metrics carry the pod');
    job.stdin.end('go\n');
    await new Promise((r) => job.on('close', r));
  });

  const again = await dra.prepare([ref]);
  t.same(again.claims[ref.uid], expected, 'prepared again: the same answer');
  const claimGets = () => api.requests.filter((r) => r === `GET /apis/resource.k8s.io/v1/namespaces/team-a/resourceclaims/train-gpu`).length;
  t.equal(claimGets(), 1, 'from the checkpoint, without reading the claim again');

  const pending = await dra.prepare([{ namespace: 'team-a', name: 'pending', uid: 'c0ffee00-0000-4000-8000-000000000002' }]);
  t.match(pending.claims['c0ffee00-0000-4000-8000-000000000002'], { devices: [], error: /not allocated/ }, 'a claim that is not allocated: its error, not a failed call');

  // The plugin restarts (a new pod of the DaemonSet): the kubelet's calls go on as before.
  dra.close();
  await plugin.stop();
  plugin = new ComponentProcess(args);
  await plugin.waitFor((l) => l.msg === 'DRA plugin serving');
  t.same(await registerDraPlugin(join(dir, 'plugins_registry', 'gpupool.io-reg.sock')), info, 'registers again after its restart');
  dra = new DraClient(info.endpoint);
  t.teardown(() => dra.close());
  t.same((await dra.prepare([ref])).claims[ref.uid], expected, 'after the restart: the same answer');
  t.equal(claimGets(), 1, 'still from the checkpoint');

  t.same((await dra.unprepare([ref])).claims[ref.uid], { error: '' }, 'unprepared');
  t.notOk(existsSync(specFile), 'its CDI spec is gone');
  t.same((await dra.unprepare([ref])).claims[ref.uid], { error: '' }, 'unprepared again: nothing to do, no error');
  t.same(JSON.parse(readFileSync(join(dir, 'plugins', 'gpupool.io', 'checkpoint.json'), 'utf8')).claims, {}, 'the checkpoint holds no claim');
});
