/**
 * Vendor libraries that crash (SIGSEGV) or hang in their init: probed in a child process first, they
 * are reported unavailable with the reason, the daemon stays up and the other vendors serve. Without
 * the probe (`vendors.probeInit: false`) the same library takes the daemon down, which is why it exists.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { fakeLibraryDir } from '../../src/paths.js';
import { probeInits } from '../../src/vendors/init-probe.js';
import { DeviceRegistry } from '../../src/vendors/registry.js';
import { CLI, DaemonProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost, type Fixture } from '../helpers/fixture.js';
import { QUICK_CONFIG, eventually, writeConfig } from '../helpers/integration.js';

function host(change: (h: Fixture) => void): Fixture {
  const h = mixedHost();
  change(h);
  return h;
}

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
const search = { dirs: [fakeLibraryDir], system: false };
const logger = pino({ level: 'silent' });
// The fakes in this process and in the probe's child read the fixture named here.
process.env.GPUPOOL_SIM_FIXTURE = fixture.path;

t.test('a crashing and a hanging library: each named with its reason, the others load', async (t) => {
  fixture.write(host((h) => {
    h.nvidia!.initCrash = true;
    h.ascend!.initDelayMs = 8000;
  }));
  // Generous for the libraries that answer (a loaded machine), short beside the hung one's 8 s.
  const config = loadConfig({ flags: { vendors: { initTimeoutMs: 2000 }, health: { xidWaitMs: 50 } } });
  const registry = await DeviceRegistry.probe({ config, logger, search });
  t.teardown(() => registry.close());
  const byVendor = Object.fromEntries(registry.vendors().map((v) => [v.vendor, v]));
  t.match(byVendor.nvidia, {
    available: false,
    library: /libnvidia-ml\.so\.1$/,
    error: { code: 'GPUPOOL_VENDOR_INIT_CRASHED', message: /^nvidia: .*libnvidia-ml\.so\.1: crashed during init \(SIGSEGV\); not loaded into the daemon$/ },
  });
  t.match(byVendor.ascend, { available: false, error: { code: 'GPUPOOL_VENDOR_INIT_TIMEOUT', message: /libdcmi\.so: hung during init \(no answer within 2000 ms\)/ } });
  t.match(byVendor.amd, { available: true, deviceCount: 1 }, 'the healthy library was loaded here');
  await registry.refresh();
  t.same(registry.devices().map((d) => d.vendor), ['amd'], 'and its card is read; this process is alive to say so');
});

t.test('two libraries crashing at once: each is probed again alone, and both are named', async (t) => {
  fixture.write(host((h) => {
    // Both still in their init when the first dies: the child cannot tell which one it was.
    h.nvidia!.initCrash = true;
    h.nvidia!.initDelayMs = 300;
    h.amd!.initCrash = true;
    h.amd!.initDelayMs = 300;
  }));
  const config = loadConfig({ flags: { vendors: { initTimeoutMs: 5000 } } });
  const results = await probeInits(['nvidia', 'amd', 'ascend'], search, config);
  t.match(Object.fromEntries(results), {
    nvidia: { outcome: 'crashed', signal: 'SIGSEGV', library: /libnvidia-ml\.so\.1$/ },
    amd: { outcome: 'crashed', signal: 'SIGSEGV', library: /librocm_smi64\.so$/ },
    ascend: { outcome: 'ok' },
  });
});

t.test('an init that fails as libraries fail is reported from the probe, not loaded again', async (t) => {
  fixture.write(host((h) => {
    h.nvidia!.initError = 9;
  }));
  const config = loadConfig({ flags: { vendors: { enabled: ['nvidia'] } } });
  const results = await probeInits(['nvidia'], search, config);
  t.match(results.get('nvidia'), { outcome: 'failed', error: { code: 'GPUPOOL_VENDOR_INIT_FAILED', message: /nvmlInit_v2 failed/ } });
});

t.test('the daemon: up and serving with a crashing library; down without the probe', async (t) => {
  const broken = new FixtureFile(host((h) => {
    h.nvidia!.initCrash = true;
  }));
  t.teardown(() => broken.remove());
  const daemon = await DaemonProcess.start(['--simulate', broken.path, '--config', writeConfig(broken.dir, QUICK_CONFIG)]);
  t.teardown(() => daemon.stop());
  const status = (await (await fetch(`${daemon.url}/v1/status`)).json()) as { vendors: { vendor: string; available: boolean; error?: { code: string; message: string } }[]; devices: { vendor: string }[] };
  t.match(status.vendors.find((v) => v.vendor === 'nvidia'), { available: false, error: { code: 'GPUPOOL_VENDOR_INIT_CRASHED', message: /crashed during init \(SIGSEGV\)/ } });
  t.same(status.devices.map((d) => d.vendor), ['amd', 'ascend'], 'the other vendors\' cards are served');
  t.ok(daemon.logs.some((l) => l.msg === "vendor libraries' init probed in a child process" && typeof l.ms === 'number'), 'the probe logs how long it took');

  const unprobed = writeConfig(broken.dir, { ...QUICK_CONFIG, vendors: { probeInit: false } }, 'unprobed.json');
  const child = spawn(process.execPath, [CLI, 'daemon', '--simulate', broken.path, '--config', unprobed, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  t.same([code, signal], [null, 'SIGSEGV'], 'with vendors.probeInit false, the same library kills the daemon');
  t.notMatch(out, /probed in a child process/, 'no probe ran');
  t.notMatch(out, /"msg":"listening"/);
});

t.test('a probe child hung in an init does not outlive a daemon killed meanwhile', async (t) => {
  const hung = new FixtureFile(host((h) => {
    h.amd!.initDelayMs = 60_000;
  }));
  t.teardown(() => hung.remove());
  const config = writeConfig(hung.dir, { ...QUICK_CONFIG, vendors: { initTimeoutMs: 30_000 } });
  const daemon = spawn(process.execPath, [CLI, 'daemon', '--simulate', hung.path, '--config', config, '--listen', '127.0.0.1:0'], { stdio: 'ignore' });
  const exited = once(daemon, 'exit');
  const children = () => spawnSync('pgrep', ['-P', String(daemon.pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  const [probe] = await eventually('the probe child', () => (children().length > 0 ? children() : undefined));
  daemon.kill('SIGKILL');
  await exited;
  // Gone, or a zombie waiting for whoever adopted it to reap it: either way it runs no more.
  const gone = await eventually('the probe child gone', () => {
    try {
      return / Z /.test(readFileSync(`/proc/${probe}/stat`, 'utf8').replace(/\(.*\)/, '()')) ? true : undefined;
    } catch {
      return true;
    }
  });
  t.ok(gone, `the probe child (pid ${probe}) ended with the daemon, its init still hung`);
});
