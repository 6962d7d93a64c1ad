import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DaemonProcess } from '../../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../../helpers/fixture.js';
import { eventually, writeConfig } from '../../helpers/integration.js';
import { ComponentProcess } from '../component-process.js';
import { DeviceManager } from './kubelet.js';

const GiB = 1024 ** 3;

t.test('the device plugin: registration, ListAndWatch health from an Xid, Allocate, a kubelet restart', async (t) => {
  const host = mixedHost();
  const fixture = new FixtureFile(host);
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-dp-'));
  t.teardown(() => {
    fixture.remove();
    rmSync(dir, { recursive: true, force: true });
  });
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, { health: { xidWaitMs: 100 }, sampling: { intervalMs: 200 } })]);
  t.teardown(() => daemon.stop());
  const kubelet = new DeviceManager(dir);
  await kubelet.start();
  t.teardown(() => kubelet.stop());

  const plugin = new ComponentProcess(['kube', 'device-plugin', '--daemon', daemon.url, '--device-dir', dir, '--split', '2', '--poll-ms', '200']);
  t.teardown(() => plugin.stop());
  await eventually('the plugin registering', () => (kubelet.registrations.length > 0 ? true : undefined), 15_000);
  t.same(kubelet.registrations[0], { version: 'v1beta1', endpoint: 'gpupool.sock', resource_name: 'gpupool.io/gpu', options: { pre_start_required: false, get_preferred_allocation_available: false } });
  const all = (health0: string) => [
    { ID: 'card0-0', health: health0 },
    { ID: 'card0-1', health: health0 },
    { ID: 'card1-0', health: 'Healthy' },
    { ID: 'card1-1', health: 'Healthy' },
  ];
  const latest = () => kubelet.lists.at(-1)?.map(({ ID, health }) => ({ ID, health }));
  await eventually('the first device list', () => (kubelet.lists.length > 0 ? true : undefined));
  t.same(latest(), all('Healthy'), 'each of the two cards split in two, healthy');

  const allocated = await kubelet.allocate(['card1-0']);
  const server = daemon.url.replace(/^http/, 'ws');
  t.match(allocated.container_responses[0]!.envs, { LD_LIBRARY_PATH: '/usr/lib/gpupool', GPUPOOL_SERVERS: `${server}?gpus=1&mem=${20 * GiB}&share=0.5` }, 'half of the 40 GiB card, and half its time');
  t.ok(allocated.container_responses[0]!.mounts.some((m) => m.container_path === '/usr/lib/gpupool/libcuda.so.1' && m.read_only), 'the client library, read-only');
  await t.rejects(kubelet.allocate(['card9-0']), /unknown device card9-0/, 'an unknown device is refused');

  // An Xid on card 0: the daemon marks it unhealthy, and ListAndWatch says so for both its devices.
  host.nvidia!.cards[0]!.xid = [{ id: 1, xid: 79 }];
  fixture.write(host);
  await eventually('card 0 unhealthy in ListAndWatch', () => (JSON.stringify(latest()) === JSON.stringify(all('Unhealthy')) ? true : undefined), 15_000);
  t.pass('ListAndWatch: card 0\'s devices Unhealthy after the Xid, card 1\'s still Healthy');

  // The kubelet restarts: kubelet.sock is made anew and the plugin's socket removed; the plugin serves and registers again.
  const before = kubelet.lists.length;
  await kubelet.restart(join(dir, 'gpupool.sock'));
  await eventually('the plugin registering again', () => (kubelet.registrations.length === 2 ? true : undefined), 15_000);
  await eventually('a list on the new stream', () => (kubelet.lists.length > before ? true : undefined));
  t.same(latest(), all('Unhealthy'), 'after the kubelet\'s restart: registered again, the same devices and health');
});
