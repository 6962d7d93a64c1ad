// The daemon in-process on the fake vendor libraries, asked over real HTTP: status, health, metrics.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { Notifier } from '../../src/daemon/sd-notify.js';
import { packageRoot } from '../../src/paths.js';
import type { StatusDocument } from '../../src/server/status.js';
import type { Device } from '../../src/vendors/device.js';
import { FAKE_FILES, FixtureFile, mixedHost, type Fixture } from '../helpers/fixture.js';
import { eventually, parseMetrics, type Sample } from '../helpers/integration.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const HOSTNAME = 'gpupool-http-test';
const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

class FakeNotifier implements Notifier {
  readonly enabled = true;
  readonly calls: Record<string, string | number>[] = [];
  notify(state: Record<string, string | number>): boolean {
    this.calls.push({ ...state });
    return true;
  }
}

const fixture = mixedHost();
const file = new FixtureFile(fixture);
t.teardown(() => file.remove());

const logs: Record<string, unknown>[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
const notifier = new FakeNotifier();
const config = loadConfig({
  flags: {
    listen: '127.0.0.1:0',
    hostname: HOSTNAME,
    simulate: file.path,
    sampling: { intervalMs: 100 },
    // Stopping waits for the NVML event wait in flight; keep it short.
    health: { xidWaitMs: 100 },
  },
});
const daemon = await Daemon.start(config, { logger, notifier });
// Stopped for good at the end; this only guards a failing test from leaving the process running.
t.teardown(() => daemon.stop('teardown'));
const base = `http://127.0.0.1:${daemon.address.port}`;

async function status(): Promise<StatusDocument> {
  const res = await fetch(`${base}/v1/status`);
  if (res.status !== 200) throw new Error(`status ${res.status}`);
  return (await res.json()) as StatusDocument;
}

async function metrics(): Promise<Sample[]> {
  return parseMetrics(await (await fetch(`${base}/metrics`)).text());
}

function card(doc: StatusDocument, vendor: string, index: number): Device {
  const found = doc.devices.find((d) => d.vendor === vendor && d.index === index);
  if (!found) throw new Error(`no ${vendor} card ${index} in status`);
  return found;
}

function series(samples: Sample[], name: string, device: string): Sample[] {
  return samples.filter((s) => s.name === name && s.labels.device === device);
}

/** Rewrites the fixture, then waits until the daemon's status satisfies `ready`. */
async function change(what: string, edit: (f: Fixture) => void, ready: (doc: StatusDocument) => boolean): Promise<StatusDocument> {
  edit(fixture);
  file.write(fixture);
  return eventually(what, async () => {
    const doc = await status();
    return ready(doc) ? doc : undefined;
  });
}

function promtool(body: string): Promise<{ code: number | null; output: string }> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  child.stdin.end(body);
  return once(child, 'close').then(([code]) => ({ code: code as number | null, output }));
}

t.test('startup: bound to a real port, told the service manager it is ready', async (t) => {
  t.equal(daemon.address.host, '127.0.0.1');
  t.ok(daemon.address.port > 0 && daemon.address.port < 65536, `a real port (${daemon.address.port})`);
  const ready = notifier.calls.find((c) => c.READY === 1);
  t.ok(ready, 'READY=1 sent');
  t.match(String(ready?.STATUS), /^serving 4 card\(s\) of nvidia, amd, ascend on 127\.0\.0\.1:\d+$/);
  t.equal(notifier.calls.findIndex((c) => c.STOPPING !== undefined), -1, 'no STOPPING yet');
  const listening = logs.find((l) => l.msg === 'listening');
  t.equal(listening?.address, `127.0.0.1:${daemon.address.port}`);
  t.equal(listening?.cards, 4);
  t.same(listening?.vendors, ['nvidia', 'amd', 'ascend']);
});

t.test('GET /v1/status: host, daemon, vendors and every card with the fixture figures', async (t) => {
  const res = await fetch(`${base}/v1/status`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^application\/json/);
  t.equal(res.headers.get('cache-control'), 'no-store');
  const doc = (await res.json()) as StatusDocument;

  t.equal(doc.apiVersion, 'gpupool.status/v1');
  t.equal(doc.host.hostname, HOSTNAME);
  t.equal(doc.host.os.platform, 'linux');
  t.type(doc.host.os.kernel, 'string');
  t.ok(doc.host.cpu.cores > 0, 'cpu cores');
  t.ok(doc.host.memory.totalBytes > 0 && doc.host.memory.availableBytes > 0, 'host memory');
  t.ok(doc.host.uptimeSeconds > 0, 'uptime');
  t.match(doc.daemon, { version, pid: process.pid, listen: `127.0.0.1:${daemon.address.port}`, simulated: true });
  t.ok(!Number.isNaN(Date.parse(doc.daemon.startedAt)), 'startedAt is a date');

  t.same(doc.vendors.map((v) => v.vendor), ['nvidia', 'amd', 'ascend']);
  for (const v of doc.vendors) {
    t.equal(v.enabled, true, `${v.vendor} enabled`);
    t.equal(v.available, true, `${v.vendor} available`);
    t.equal(v.error, undefined, `${v.vendor} has no error`);
    t.equal(v.library, join(packageRoot, 'build', 'native', 'fakes', FAKE_FILES[v.vendor]), `${v.vendor} loaded the fake`);
  }
  t.match(doc.vendors[0], { deviceCount: 2, versions: { driver: '580.95.05', library: '13.580.95.05' } });
  t.match(doc.vendors[1], { deviceCount: 1, versions: { library: '7.8.0' } });
  t.match(doc.vendors[2], { deviceCount: 1, versions: { library: '24.1.rc3' } });

  t.equal(doc.devices.length, 4);
  t.same(doc.summary, { devices: 4, healthy: 4, unhealthy: 0, vendorsAvailable: 3 });

  const h100 = card(doc, 'nvidia', 0);
  t.match(h100, {
    uuid: 'GPU-11111111-2222-3333-4444-555555555555',
    name: 'NVIDIA H100 80GB HBM3',
    pciBusId: '0000:17:00.0', // the fixture says 00000000:17:00.0
    devicePath: '/dev/nvidia0',
    computeCapability: '9.0',
    utilization: { gpuPercent: 42, memoryPercent: 17 },
    temperatureC: 51,
    powerW: 312.5, // reported in mW
  });
  // The fake adds the processes' memory to memoryUsed: 2 GiB + 1 GiB.
  t.same(h100.memory, { totalBytes: 80 * GiB, usedBytes: 3 * GiB, freeBytes: 77 * GiB });
  t.same(h100.processes, [{ pid: 4242, memoryBytes: GiB }]);
  t.same(h100.health, { state: 'healthy', since: h100.health.since, xidEvents: 0 });

  const a100 = card(doc, 'nvidia', 1);
  t.match(a100, {
    uuid: 'GPU-66666666-7777-8888-9999-aaaaaaaaaaaa',
    name: 'NVIDIA A100-SXM4-40GB',
    pciBusId: '0000:65:00.0',
    devicePath: '/dev/nvidia1',
    computeCapability: '8.0',
    utilization: { gpuPercent: 0, memoryPercent: 0 },
    temperatureC: 33,
    powerW: 61,
  });
  t.same(a100.memory, { totalBytes: 40 * GiB, usedBytes: 0, freeBytes: 40 * GiB });
  t.same(a100.processes, []);

  const mi210 = card(doc, 'amd', 0);
  t.match(mi210, {
    uuid: '0x7f1c3a9b5e2d4c60', // rsmi_dev_unique_id_get's 64-bit id, as hex
    name: 'AMD Instinct MI210',
    pciBusId: '0000:83:00.0',
    computeCapability: null,
    utilization: { gpuPercent: 73, memoryPercent: 21 },
    temperatureC: 58, // reported in millidegrees
    powerW: 250.25, // reported in µW
  });
  t.same(mi210.memory, { totalBytes: 64 * GiB, usedBytes: 4 * GiB, freeBytes: 60 * GiB });

  const ascend = card(doc, 'ascend', 0);
  t.match(ascend, {
    uuid: '0A1B2C3D-4E5F6071-8293A4B5-C6D7E8F9-13579BDF', // the VDie id
    name: 'Ascend910B3', // chip_type + chip_name
    pciBusId: '0000:c1:00.0',
    devicePath: '/dev/davinci0',
    computeCapability: null,
    utilization: { gpuPercent: 55, memoryPercent: 30 },
    temperatureC: 47,
    powerW: 213.5, // reported in 0.1 W
  });
  t.same(ascend.memory, { totalBytes: 64 * GiB, usedBytes: 3 * GiB, freeBytes: 61 * GiB });

  for (const d of doc.devices) {
    t.equal(d.health.state, 'healthy', `${d.vendor}${d.index} healthy`);
    t.ok(!Number.isNaN(Date.parse(d.sampledAt)), `${d.vendor}${d.index} sampledAt is a date`);
  }
});

t.test('GET /healthz', async (t) => {
  const res = await fetch(`${base}/healthz`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^application\/json/);
  t.same(await res.json(), { status: 'ok' });
});

t.test('GET /metrics: Prometheus text, a series per card with dcgm-style labels, promtool-clean', async (t) => {
  const res = await fetch(`${base}/metrics`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const body = await res.text();
  const samples = parseMetrics(body);
  const doc = await status();

  const figures: [string, (d: Device) => number | null][] = [
    ['gpupool_gpu_utilization_percent', (d) => d.utilization.gpuPercent],
    ['gpupool_gpu_memory_utilization_percent', (d) => d.utilization.memoryPercent],
    ['gpupool_gpu_memory_total_bytes', (d) => d.memory.totalBytes],
    ['gpupool_gpu_memory_used_bytes', (d) => d.memory.usedBytes],
    ['gpupool_gpu_memory_free_bytes', (d) => d.memory.freeBytes],
    ['gpupool_gpu_temperature_celsius', (d) => d.temperatureC],
    ['gpupool_gpu_power_watts', (d) => d.powerW],
    ['gpupool_gpu_healthy', () => 1],
    ['gpupool_gpu_processes', (d) => d.processes.length],
  ];
  for (const d of doc.devices) {
    const device = `${d.vendor}${d.index}`;
    const labels = { gpu: String(d.index), UUID: d.uuid, vendor: d.vendor, model_name: d.name, Hostname: HOSTNAME, pci_bus_id: d.pciBusId, device };
    for (const [name, value] of figures) {
      const found = series(samples, name, device);
      t.equal(found.length, 1, `one ${name} series for ${device}`);
      t.same(found[0]?.labels, labels, `${name} labels for ${device}`);
      t.equal(found[0]?.value, value(d), `${name} for ${device}`);
    }
    t.same(series(samples, 'gpupool_gpu_last_xid', device), [], `no last Xid for ${device} yet`);
  }
  // Spot checks against the fixture itself, not only against status.
  t.equal(series(samples, 'gpupool_gpu_power_watts', 'amd0')[0]?.value, 250.25);
  t.equal(series(samples, 'gpupool_gpu_temperature_celsius', 'amd0')[0]?.value, 58);
  t.equal(series(samples, 'gpupool_gpu_power_watts', 'ascend0')[0]?.value, 213.5);
  t.equal(series(samples, 'gpupool_gpu_memory_total_bytes', 'nvidia0')[0]?.value, 80 * GiB);
  t.equal(samples.filter((s) => s.name === 'gpupool_gpu_xid_events_total').length, 0, 'no Xid counted yet');

  for (const vendor of ['nvidia', 'amd', 'ascend']) {
    t.same(
      samples.filter((s) => s.name === 'gpupool_vendor_available' && s.labels.vendor === vendor).map((s) => [s.labels.Hostname, s.value]),
      [[HOSTNAME, 1]],
      `${vendor} available`,
    );
  }
  t.same(samples.filter((s) => s.name === 'gpupool_build_info').map((s) => s.labels), [{ version, Hostname: HOSTNAME }]);
  t.ok(samples.some((s) => s.name === 'process_resident_memory_bytes'), 'default process metrics');

  const checked = await promtool(body);
  t.equal(checked.code, 0, 'promtool check metrics exits 0');
  t.equal(checked.output, '', 'promtool has no complaint');
});

t.test('unknown path, wrong method, HEAD', async (t) => {
  const missing = await fetch(`${base}/v2/nothing`);
  t.equal(missing.status, 404);
  t.match(missing.headers.get('content-type'), /^application\/json/);
  t.same(await missing.json(), { error: { code: 'NOT_FOUND', message: 'no such path /v2/nothing' } });

  const post = await fetch(`${base}/v1/status`, { method: 'POST', body: '{}' });
  t.equal(post.status, 405);
  t.equal(post.headers.get('allow'), 'GET, HEAD');
  t.match(await post.json(), { error: { code: 'METHOD_NOT_ALLOWED', message: /POST/ } });

  const del = await fetch(`${base}/metrics`, { method: 'DELETE' });
  t.equal(del.status, 405);
  t.equal(del.headers.get('allow'), 'GET, HEAD');
  await del.arrayBuffer();

  const get = await fetch(`${base}/healthz`);
  const getBody = await get.text();
  const head = await fetch(`${base}/healthz`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(await head.text(), '', 'HEAD has no body');
  t.equal(head.headers.get('content-length'), String(Buffer.byteLength(getBody)), 'HEAD announces the GET length');
  t.match(head.headers.get('content-type'), /^application\/json/);

  const headStatus = await fetch(`${base}/v1/status`, { method: 'HEAD' });
  t.equal(headStatus.status, 200);
  t.equal(await headStatus.text(), '');
  t.ok(Number(headStatus.headers.get('content-length')) > 0, 'status HEAD has a length');

  const query = await fetch(`${base}/healthz?verbose=1`);
  t.equal(query.status, 200, 'a query string does not change the route');
  await query.arrayBuffer();
});

t.test('live figures: a rewritten fixture shows up after the next sampling round', async (t) => {
  const doc = await change(
    'NVIDIA card 0 at 88% and Ascend memory updated',
    (f) => {
      f.nvidia!.cards[0]!.utilization = 88;
      f.nvidia!.cards[0]!.power = 400.125;
      // DCMI reports whole MB: 1.5 MiB more is seen as 1 MiB more.
      f.ascend!.cards[0]!.memoryUsed = 3 * GiB + 1.5 * MiB;
    },
    (d) => card(d, 'nvidia', 0).utilization.gpuPercent === 88 && card(d, 'ascend', 0).memory.usedBytes !== 3 * GiB,
  );
  t.equal(card(doc, 'nvidia', 0).utilization.gpuPercent, 88);
  t.equal(card(doc, 'nvidia', 0).powerW, 400.125);
  t.same(card(doc, 'ascend', 0).memory, { totalBytes: 64 * GiB, usedBytes: 3 * GiB + MiB, freeBytes: 61 * GiB - MiB });
  t.equal(card(doc, 'nvidia', 1).utilization.gpuPercent, 0, 'the other cards are unchanged');
  const samples = await metrics();
  t.equal(series(samples, 'gpupool_gpu_utilization_percent', 'nvidia0')[0]?.value, 88, 'metrics follow');
  t.equal(series(samples, 'gpupool_gpu_memory_used_bytes', 'ascend0')[0]?.value, 3 * GiB + MiB);
});

t.test('Xid events: a critical Xid makes its card unhealthy for good, an application Xid does not', async (t) => {
  const doc = await change(
    'NVIDIA card 1 unhealthy after Xid 79',
    (f) => {
      // Lowest id first: the ignored Xid 13 on card 0 is delivered before Xid 79 on card 1.
      f.nvidia!.cards[0]!.xid = [{ id: 1, xid: 13 }];
      f.nvidia!.cards[1]!.xid = [{ id: 2, xid: 79 }];
    },
    (d) => card(d, 'nvidia', 1).health.state === 'unhealthy',
  );
  const a100 = card(doc, 'nvidia', 1);
  t.match(a100.health, { state: 'unhealthy', reason: 'Xid 79', lastXid: 79, xidEvents: 1 });
  t.same(card(doc, 'nvidia', 0).health, { state: 'healthy', since: card(doc, 'nvidia', 0).health.since, xidEvents: 0 }, 'Xid 13 is ignored');
  t.same(doc.summary, { devices: 4, healthy: 3, unhealthy: 1, vendorsAvailable: 3 });
  t.ok(
    logs.some((l) => l.msg === 'card unhealthy' && l.vendor === 'nvidia' && l.index === 1),
    'the daemon logged the unhealthy card',
  );

  const samples = await metrics();
  t.equal(series(samples, 'gpupool_gpu_healthy', 'nvidia1')[0]?.value, 0);
  t.equal(series(samples, 'gpupool_gpu_healthy', 'nvidia0')[0]?.value, 1);
  t.equal(series(samples, 'gpupool_gpu_last_xid', 'nvidia1')[0]?.value, 79);
  const xids = samples.filter((s) => s.name === 'gpupool_gpu_xid_events_total');
  t.equal(xids.length, 1, 'only the critical Xid is counted');
  t.same(xids[0]?.labels, {
    gpu: '1',
    UUID: a100.uuid,
    vendor: 'nvidia',
    model_name: a100.name,
    Hostname: HOSTNAME,
    pci_bus_id: '0000:65:00.0',
    device: 'nvidia1',
    xid: '79',
  });
  t.equal(xids[0]?.value, 1);
  const checked = await promtool(await (await fetch(`${base}/metrics`)).text());
  t.same(checked, { code: 0, output: '' }, 'still promtool-clean with the Xid counter');
});

t.test('polled health: a lost AMD card is unhealthy with the library reason, and healthy once back', async (t) => {
  const lost = await change(
    'AMD card unhealthy',
    (f) => {
      f.amd!.cards[0]!.present = false;
    },
    (d) => card(d, 'amd', 0).health.state === 'unhealthy',
  );
  const mi210 = card(lost, 'amd', 0);
  t.match(mi210.health.reason, /^rsmi_dev_\w+: RSMI_STATUS_NOT_FOUND: .* \(10\)$/, 'the library reason');
  t.equal(mi210.health.lastXid, undefined);
  t.same(mi210.memory, { totalBytes: null, usedBytes: null, freeBytes: null }, 'unreadable figures are null, not 0');
  t.equal(mi210.temperatureC, null);
  t.equal(mi210.utilization.gpuPercent, null);
  let samples = await metrics();
  t.equal(series(samples, 'gpupool_gpu_healthy', 'amd0')[0]?.value, 0);
  t.same(series(samples, 'gpupool_gpu_temperature_celsius', 'amd0'), [], 'no series for a figure that cannot be read');

  const back = await change(
    'AMD card healthy again',
    (f) => {
      f.amd!.cards[0]!.present = true;
    },
    (d) => card(d, 'amd', 0).health.state === 'healthy',
  );
  t.same(card(back, 'amd', 0).health, { state: 'healthy', since: card(back, 'amd', 0).health.since, xidEvents: 0 }, 'polled health is not sticky');
  t.equal(card(back, 'amd', 0).temperatureC, 58);
  t.ok(Date.parse(card(back, 'amd', 0).health.since) >= Date.parse(mi210.health.since), 'since moved on');
  t.match(card(back, 'nvidia', 1).health, { state: 'unhealthy', reason: 'Xid 79' }, 'the Xid stays sticky through later polls');
  samples = await metrics();
  t.equal(series(samples, 'gpupool_gpu_healthy', 'amd0')[0]?.value, 1);
});

t.test('polled health: Ascend DCMI health status', async (t) => {
  const sick = await change(
    'Ascend card unhealthy',
    (f) => {
      f.ascend!.cards[0]!.health = 1;
    },
    (d) => card(d, 'ascend', 0).health.state === 'unhealthy',
  );
  t.match(card(sick, 'ascend', 0).health, { state: 'unhealthy', reason: 'DCMI health status 1' });
  t.equal(card(sick, 'ascend', 0).powerW, 213.5, 'figures still read while the chip reports a fault');
  t.equal(series(await metrics(), 'gpupool_gpu_healthy', 'ascend0')[0]?.value, 0);

  const well = await change(
    'Ascend card healthy again',
    (f) => {
      f.ascend!.cards[0]!.health = 0;
    },
    (d) => card(d, 'ascend', 0).health.state === 'healthy',
  );
  t.equal(card(well, 'ascend', 0).health.reason, undefined);
});

t.test('stop: idempotent, ordered, and the service manager hears STOPPING', async (t) => {
  const first = daemon.stop('test');
  const second = daemon.stop('again');
  t.equal(first, second, 'a second stop() returns the same promise');
  await first;
  await t.resolves(daemon.stop(), 'stop() after stopping resolves');

  const ready = notifier.calls.findIndex((c) => c.READY === 1);
  const stopping = notifier.calls.findIndex((c) => c.STOPPING === 1);
  t.ok(ready >= 0 && stopping > ready, 'READY=1 then STOPPING=1');
  t.equal(notifier.calls.filter((c) => c.STOPPING === 1).length, 1, 'STOPPING sent once');
  t.equal(notifier.calls[stopping]?.STATUS, 'stopping (test)');
  const msgs = logs.map((l) => l.msg);
  t.equal(msgs.filter((m) => m === 'stopping').length, 1, 'one "stopping" line');
  t.ok(msgs.indexOf('stopped') > msgs.indexOf('stopping'), '"stopped" after "stopping"');
  t.equal(logs.filter((l) => l.level === 50 && l.msg === 'shutdown step failed').length, 0, 'every shutdown step succeeded');
  await t.rejects(fetch(`${base}/healthz`), 'the port is closed');
});
