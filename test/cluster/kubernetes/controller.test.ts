import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { KubeApi } from '../../../src/cluster/kubernetes/kube-api.js';
import { poolName, resourceSlice } from '../../../src/cluster/kubernetes/resource-slices.js';
import { KubernetesMembership } from '../../../src/cluster/membership.js';
import type { StatusDocument } from '../../../src/server/status.js';
import { DaemonProcess } from '../../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../../helpers/fixture.js';
import { eventually, writeConfig } from '../../helpers/integration.js';
import { ComponentProcess } from '../component-process.js';
import { FakeApiServer } from './api-server.js';

const GiB = 1024 ** 3;

interface Slice {
  metadata: { name: string };
  spec: { pool: { name: string; generation: number }; allNodes?: boolean; devices: { name: string; capacity: Record<string, { value: string }>; taints?: { key: string; effect: string }[] }[] };
}

t.test('the DRA controller publishes a valid ResourceSlice per daemon and follows its health', async (t) => {
  const host = mixedHost();
  const fixture = new FixtureFile(host);
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, { health: { xidWaitMs: 100 }, sampling: { intervalMs: 200 } })]);
  t.teardown(() => daemon.stop());
  const status = (await (await fetch(`${daemon.url}/v1/status`)).json()) as StatusDocument;
  const pool = poolName(status.host.hostname);

  const api = new FakeApiServer();
  await api.start();
  t.teardown(() => api.stop());
  writeFileSync(join(fixture.dir, 'api-token'), api.token);
  // A stale slice of a daemon that has left the pool: the controller withdraws it.
  const gone = resourceSlice({ ...status, host: { ...status.host, hostname: 'gone' } }, 'ws://gone:7760', { allNodes: true }, 1);
  t.equal(api.check(gone), null, 'the stale slice is valid too');
  api.slices.set(gone.metadata.name, gone);
  const controller = new ComponentProcess([
    'kube', 'dra-controller', '--daemons', `${daemon.url},http://127.0.0.1:9`, '--reach', 'all', '--interval-ms', '300',
    '--api-server', api.url, '--api-token-file', join(fixture.dir, 'api-token'),
  ]);
  t.teardown(() => controller.stop());

  const published = () => api.slices.get(`gpupool.io-${pool}`) as unknown as Slice | undefined;
  const slice = await eventually('the daemon\'s slice', published, 15_000);
  t.same(api.rejected, [], 'the API server\'s schema accepted every slice sent');
  t.equal(slice.spec.pool.name, pool, 'one pool per daemon host');
  t.equal(slice.spec.allNodes, true, '--reach all: remote cards, every node may use them');
  t.same(slice.spec.devices.map((d) => d.name), status.compute.cards.map((c) => `gpu-${c.ordinal}`), 'a device per card');
  t.match(slice.spec.devices[1], { capacity: { memory: { value: '40Gi' }, share: { value: '1' } }, allowMultipleAllocations: true }, 'memory and share as consumable capacity');
  await eventually('the stale slice withdrawn', () => (api.slices.has(gone.metadata.name) ? undefined : true));
  t.ok(controller.logs.some((l) => l.msg === 'daemon unreachable: its ResourceSlice is withdrawn' && l.daemon === 'http://127.0.0.1:9'), 'an unreachable daemon is logged');

  const members = new KubernetesMembership(new KubeApi({ server: api.url, token: api.token }));
  t.same(await members.peers(), [{ url: daemon.url }], 'pool membership from Kubernetes: the daemons of the published slices');

  host.nvidia!.cards[0]!.xid = [{ id: 1, xid: 79 }];
  fixture.write(host);
  const tainted = await eventually('card 0 tainted', () => (published()?.spec.devices[0]?.taints ? published() : undefined), 15_000);
  t.same(tainted.spec.devices[0]!.taints, [{ key: 'gpupool.io/unhealthy', value: 'true', effect: 'NoSchedule' }], 'the unhealthy card carries a NoSchedule taint');
  t.equal(tainted.spec.pool.generation, 2, 'a new pool generation');
  t.notOk(tainted.spec.devices[1]!.taints, 'the healthy card none');
  t.same(api.rejected, [], 'still valid');

  t.test('the schema is a real check: it refuses what the API server would', async (t) => {
    const bad = structuredClone(tainted) as unknown as Record<string, any>;
    delete bad.spec.driver;
    t.match(api.check(bad), /driver/, 'no driver');
    const twoSelections = structuredClone(tainted) as unknown as Record<string, any>;
    twoSelections.spec.nodeName = 'node-1';
    t.not(api.check(twoSelections), null, 'nodeName and allNodes together');
    const badName = structuredClone(tainted) as unknown as Record<string, any>;
    badName.spec.devices[0].name = 'GPU_0';
    t.match(api.check(badName), /pattern/, 'a device name that is not a DNS label');
  });
});
