/**
 * Cross-pull end to end: unmodified CUDA programs on a GPU-less client host run on the (emulated)
 * cards of daemons on other hosts. Hosts are network namespaces made here; where namespaces are
 * refused, the same checks run over loopback and the namespace test says why it was skipped.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import { clientLibraryDir } from '../../src/paths.js';
import { DaemonProcess, onTestTransport, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost, type Fixture } from '../helpers/fixture.js';
import { createTestHosts, namespacesAvailable } from '../helpers/netns.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';

/**
 * `gpupool run --servers LIST --gpus all [--token T] -- program args`, optionally inside the client
 * namespace: every card of every daemon, as these programs use several devices.
 */
function gpupoolRun(servers: string[], program: string[], netns?: string, token?: string) {
  return runCli(['run', '--servers', servers.join(','), '--gpus', 'all', ...(token === undefined ? [] : ['--token', token]), '--', ...program], {}, netns);
}

function hostWith(nvidiaCards: number, uuidSeed: string): Fixture {
  const host = mixedHost();
  const cards = host.nvidia!.cards;
  host.nvidia!.cards = Array.from({ length: nvidiaCards }, (_, i) => ({
    ...cards[i % cards.length]!,
    uuid: `GPU-${uuidSeed}${i.toString(16).padStart(4, '0')}-1111-2222-3333-444444444444`,
    pciBusId: `00000000:${(0x20 + i).toString(16)}:00.0`,
  }));
  return host;
}

const fatbin = buildFatbin();
const driverApi = buildProgram('driver_api.c');
const runtimeStatic = buildProgram('runtime.cu');
const runtimeShared = buildProgram('runtime.cu', { shared: true });
const streamOrder = buildProgram('stream_order.cu');

t.test('one daemon on loopback: driver-API and runtime programs, static and shared cudart', async (t) => {
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const config = writeConfig(fixture.dir, QUICK_CONFIG);
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', config]);
  t.teardown(() => daemon.stop());
  const server = daemon.url.replace(/^http/, 'ws');

  const drv = await gpupoolRun([server], [driverApi, fatbin]);
  t.equal(drv.code, 0, `driver_api exits 0\n${drv.stdout}${drv.stderr}`);
  t.match(drv.stdout, /devices 2 driver 13000/);
  // 21474836480 bytes: the default quota (sharing.defaultQuota, 25% of the 80 GiB card) is the total a job sees.
  t.match(drv.stdout, /device 0: NVIDIA H100 80GB HBM3, 21474836480 bytes, sm_90, 132 SMs, 0000:17:00\.0/);
  t.match(drv.stdout, /^PASS$/m);

  for (const [name, program] of [['static', runtimeStatic], ['shared', runtimeShared]] as const) {
    const run = await gpupoolRun([server], [program]);
    t.equal(run.code, 0, `runtime (${name} cudart) exits 0\n${run.stdout}${run.stderr}`);
    t.match(run.stdout, /devices 2/);
    t.match(run.stdout, /device 1: kernels ok/);
    t.match(run.stdout, /copy device 0 -> device 1 ok/);
    t.match(run.stdout, /^PASS$/m);
  }
});

t.test('LD_PRELOAD instead of LD_LIBRARY_PATH: the preloaded library answers cudart\'s dlopen', async (t) => {
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)]);
  t.teardown(() => daemon.stop());
  const child = spawnSync(runtimeStatic, [], {
    encoding: 'utf8',
    env: { ...process.env, LD_PRELOAD: join(clientLibraryDir, 'libcuda.so.1'), GPUPOOL_SERVERS: onTestTransport(daemon.url.replace(/^http/, 'ws')) },
    timeout: 60_000,
  });
  t.equal(child.status, 0, `runtime program with LD_PRELOAD exits 0\n${child.stdout}${child.stderr}`);
  t.match(child.stdout, /^PASS$/m);
});

const refused = namespacesAvailable();
t.test('a GPU-less client host and two GPU hosts as network namespaces', { skip: refused ?? false }, async (t) => {
  const hosts = createTestHosts(2);
  t.teardown(() => hosts.destroy());
  const fixtures = [new FixtureFile(hostWith(2, 'aaaa')), new FixtureFile(hostWith(1, 'bbbb'))];
  t.teardown(() => fixtures.forEach((f) => f.remove()));
  // A daemon on a network address must have a token file (docs/security.md); one tenant's token
  // opens sessions on both hosts.
  const token = newToken();
  const tokens = fixtures.map((f) => {
    const path = join(f.dir, 'tokens');
    writeFileSync(path, `${tokenLine('cross-pull', token)}\n`, { mode: 0o600 });
    return path;
  });
  const daemons = await Promise.all(
    hosts.hosts.map((h, i) =>
      DaemonProcess.start(['--simulate', fixtures[i]!.path, '--config', writeConfig(fixtures[i]!.dir, QUICK_CONFIG), '--tokens', tokens[i]!, '--listen', `${h.address}:7760`], {}, 20_000, h.ns),
    ),
  );
  t.teardown(() => Promise.all(daemons.map((d) => d.stop())));
  const servers = hosts.hosts.map((h) => `ws://${h.address}:7760`);

  const run = await gpupoolRun(servers, [runtimeStatic], hosts.client, token);
  t.equal(run.code, 0, `runtime program across two hosts exits 0\n${run.stdout}${run.stderr}`);
  t.match(run.stdout, /devices 3/, 'the device count is the sum of both daemons\' cards');
  t.match(run.stdout, /device 2: kernels ok/, 'a kernel ran on the second host');
  t.match(run.stdout, /copy device 0 -> device 2 ok/, 'a copy crossed from one host to the other');

  // simpleMultiGPU's pattern with --gpus all across the two hosts (issue 11): per card, an async copy
  // in, a kernel and an async copy back on the card's stream, from pinned memory; every round checked.
  const multi = await gpupoolRun(servers, [streamOrder, '8', '65536', '1'], hosts.client, token);
  t.equal(multi.code, 0, `stream_order across two hosts exits 0\n${multi.stdout}${multi.stderr}`);
  t.match(multi.stdout, /^3 devices, 8 rounds, 0 wrong$/m, 'every round of every card on both hosts is the copied input, scaled');

  const onB = await gpupoolRun(servers, [driverApi, fatbin, '2'], hosts.client, token);
  t.equal(onB.code, 0, `driver_api on the second host's card\n${onB.stdout}${onB.stderr}`);
  t.match(onB.stdout, /^PASS$/m);
});
