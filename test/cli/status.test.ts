// `gpupool status` as a user runs it, against real daemon processes on simulated cards.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { main } from '../../src/cli/main.js';
import { packageRoot } from '../../src/paths.js';
import type { StatusDocument } from '../../src/server/status.js';
import type { Device } from '../../src/vendors/device.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost, type Fixture } from '../helpers/fixture.js';
import { writeConfig } from '../helpers/integration.js';

type HostResult = { url: string; ok: true; status: StatusDocument } | { url: string; ok: false; error: { code: string; message: string } };
interface StatusJson {
  hosts: HostResult[];
  devices: (Device & { host: string })[];
}

const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
const GiB = 1024 ** 3;

function nvidiaOnly(): Fixture {
  return {
    nvidia: {
      driverVersion: '570.1.2',
      cards: [
        {
          name: 'NVIDIA L40S',
          uuid: 'GPU-abcdefab-0000-1111-2222-333333333333',
          pciBusId: '0000:3b:00.0',
          memoryTotal: 48 * GiB,
          memoryUsed: GiB,
          utilization: 9,
          temperature: 40,
          power: 90,
        },
      ],
    },
  };
}

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function parse(stdout: string): StatusJson {
  return JSON.parse(stdout) as StatusJson;
}

const mixed = new FixtureFile(mixedHost());
const single = new FixtureFile(nvidiaOnly());
t.teardown(() => {
  mixed.remove();
  single.remove();
});
const [hostA, hostB] = await Promise.all([
  DaemonProcess.start(['--simulate', mixed.path, '--config', writeConfig(mixed.dir), '--hostname', 'host-a']),
  DaemonProcess.start(['--simulate', single.path, '--config', writeConfig(single.dir), '--hostname', 'host-b']),
]);
t.teardown(async () => {
  await Promise.all([hostA.stop(), hostB.stop()]);
});

// A port nothing listens on: bound by the kernel, then released.
const closed = createTcpServer();
const closedPort = await listen(closed);
closed.close();
await once(closed, 'close');
const closedUrl = `http://127.0.0.1:${closedPort}`;

// Something that answers HTTP, but is not gpupoold.
const impostor = createHttpServer((req, res) => {
  if (req.url === '/text') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
  } else if (req.url === '/broken') {
    res.writeHead(500).end('{}');
  } else if (req.url === '/silent') {
    // Never answers: the client's --timeout must end the wait.
  } else {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  }
});
const impostorUrl = `http://127.0.0.1:${await listen(impostor)}`;
t.teardown(() => {
  impostor.closeAllConnections();
  impostor.close();
});

/** `gpupool` in this process (main() returns the exit code), for usage variants that need no child process. */
async function mainInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = new Writable({ write: (chunk: Buffer, _enc, done) => ((stdout += chunk.toString()), done()) });
  const err = new Writable({ write: (chunk: Buffer, _enc, done) => ((stderr += chunk.toString()), done()) });
  const code = await main(['node', 'gpupool', ...args], out, err);
  return { code, stdout, stderr };
}

t.test('--json on one host: every vendor, live figures', async (t) => {
  const { code, stdout, stderr } = await runCli(['status', '--host', hostA.url, '--json']);
  t.equal(code, 0, 'exit 0: reachable and healthy');
  t.equal(stderr, '');
  const out = parse(stdout);
  t.equal(out.hosts.length, 1);
  const host = out.hosts[0]!;
  t.match(host, { url: hostA.url, ok: true, status: { apiVersion: 'gpupool.status/v1', host: { hostname: 'host-a' }, daemon: { version, simulated: true } } });
  t.equal(out.devices.length, 4);
  t.same([...new Set(out.devices.map((d) => d.vendor))].sort(), ['amd', 'ascend', 'nvidia']);
  for (const d of out.devices) {
    const name = `${d.vendor}${d.index}`;
    t.equal(d.host, hostA.url, `${name} names its host`);
    t.type(d.utilization.gpuPercent, 'number', `${name} utilization`);
    t.type(d.memory.totalBytes, 'number', `${name} memory total`);
    t.type(d.memory.usedBytes, 'number', `${name} memory used`);
    t.type(d.temperatureC, 'number', `${name} temperature`);
    t.type(d.powerW, 'number', `${name} power`);
    t.equal(d.health.state, 'healthy', `${name} healthy`);
  }
  t.match(out.devices.find((d) => d.vendor === 'nvidia' && d.index === 0), { utilization: { gpuPercent: 42 }, temperatureC: 51, powerW: 312.5 });
  t.match(out.devices.find((d) => d.vendor === 'amd'), { temperatureC: 58, powerW: 250.25 });
  t.match(out.devices.find((d) => d.vendor === 'ascend'), { powerW: 213.5 });
});

t.test('two hosts (as host:port and as a full /v1/status URL): devices of both, each with its host', async (t) => {
  const hostPort = hostA.url.replace(/^http:\/\//, '');
  const [json, table] = await Promise.all([
    runCli(['status', '--host', hostPort, '-H', `${hostB.url}/v1/status`, '--json']),
    runCli(['status', '--host', hostA.url, '--host', hostB.url]),
  ]);
  t.equal(json.code, 0);
  const out = parse(json.stdout);
  t.same(out.hosts.map((h) => [h.url, h.ok]), [[hostA.url, true], [hostB.url, true]]);
  t.equal(out.devices.length, 5);
  t.same(out.devices.filter((d) => d.host === hostB.url).map((d) => [d.vendor, d.name]), [['nvidia', 'NVIDIA L40S']]);
  t.equal(out.devices.filter((d) => d.host === hostA.url).length, 4);
  const b = out.hosts[1]!;
  t.ok(b.ok && b.status.host.hostname === 'host-b', 'the second host is host-b');

  // The table a person reads: hosts, vendors, a row per card.
  const { code, stdout, stderr } = table;
  t.equal(code, 0);
  t.equal(stderr, '');
  t.match(stdout, `host-a (${hostA.url}) gpupoold ${version}, simulated cards`);
  t.match(stdout, `host-b (${hostB.url}) gpupoold ${version}, simulated cards`);
  t.match(stdout, /nvidia: 2 card\(s\) \(driver 580\.95\.05, library 13\.580\.95\.05\)/);
  t.match(stdout, /amd: 1 card\(s\) \(library 7\.8\.0\)/);
  t.match(stdout, /ascend: 1 card\(s\) \(driver 24\.1\.rc3, library 24\.1\.rc3\)/);
  t.match(stdout, /nvidia: 1 card\(s\) \(driver 570\.1\.2/);
  for (const name of ['NVIDIA H100 80GB HBM3', 'NVIDIA A100-SXM4-40GB', 'AMD Instinct MI210', 'Ascend910B3', 'NVIDIA L40S']) {
    t.match(stdout, name, `row for ${name}`);
  }
  t.match(stdout, /3\.0 GiB \/ 80\.0 GiB/, 'memory used / total');
  t.match(stdout, /312\.5 W/);
  t.match(stdout, /58 C/);
  t.equal(stdout.match(/ healthy$/gm)?.length, 5, 'five healthy cards');
  t.notMatch(stdout, /UNHEALTHY/);
});

t.test('a host that is down: exit 3, and the message names it', async (t) => {
  const [table, json] = await Promise.all([
    runCli(['status', '--host', closedUrl]),
    runCli(['status', '--host', hostA.url, '--host', closedUrl, '--json']),
  ]);
  t.equal(table.code, 3);
  t.match(table.stderr, 'cannot reach the daemon');
  t.match(table.stderr, closedUrl);
  t.match(table.stderr, /ECONNREFUSED/);
  t.equal(table.stdout, '');

  t.equal(json.code, 3, 'one host down is enough for exit 3');
  const out = parse(json.stdout);
  t.match(out.hosts, [
    { url: hostA.url, ok: true },
    { url: closedUrl, ok: false, error: { code: 'GPUPOOL_HOST_UNREACHABLE', message: /cannot reach the daemon/ } },
  ]);
  t.equal(out.devices.length, 4, 'the reachable host still reports its cards');
  t.ok(out.devices.every((d) => d.host === hostA.url));
});

t.test('something that is not gpupoold: exit 3 with GPUPOOL_HOST_BAD_RESPONSE', async (t) => {
  const [json, silent, table] = await Promise.all([
    runCli(['status', '--host', impostorUrl, '--host', `${impostorUrl}/text`, '--host', `${impostorUrl}/broken`, '--json']),
    // Only this one gets a short timeout: the others must not time out on a busy machine.
    runCli(['status', '--host', `${impostorUrl}/silent`, '--timeout', '300', '--json']),
    runCli(['status', '--host', impostorUrl]),
  ]);
  t.equal(json.code, 3);
  t.match(parse(json.stdout).hosts, [
    { ok: false, error: { code: 'GPUPOOL_HOST_BAD_RESPONSE', message: /not a gpupool\.status\/v1 document/ } },
    { ok: false, error: { code: 'GPUPOOL_HOST_BAD_RESPONSE', message: /not JSON/ } },
    { ok: false, error: { code: 'GPUPOOL_HOST_BAD_RESPONSE', message: /HTTP 500/ } },
  ]);
  t.equal(silent.code, 3);
  t.match(parse(silent.stdout).hosts, [{ ok: false, error: { code: 'GPUPOOL_HOST_UNREACHABLE', message: /no answer within 300 ms/ } }]);
  t.equal(table.code, 3);
  t.match(table.stderr, `${impostorUrl}: not a gpupool.status/v1 document`);
});

t.test('usage errors: exit 2', async (t) => {
  const [ftp, timeout, unknown, none] = await Promise.all([
    runCli(['status', '--host', 'ftp://x']),
    runCli(['status', '--timeout', 'abc']),
    runCli(['status', '--bogus']),
    runCli([]),
  ]);
  t.equal(ftp.code, 2);
  t.match(ftp.stderr, /--host ftp:\/\/x: use http:\/\/ or https:\/\//);
  t.equal(ftp.stdout, '');
  t.equal(timeout.code, 2);
  t.match(timeout.stderr, /--timeout/);
  t.match(timeout.stderr, /positive number of milliseconds/);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown option '--bogus'/);
  t.equal(none.code, 2, 'no command');
  t.match(none.stderr, /Usage: gpupool/);

  // The same rules without a child process each.
  const notUrl = await mainInProcess(['status', '--host', 'http://[nope']);
  t.equal(notUrl.code, 2);
  t.match(notUrl.stderr, /not a URL/);
  t.equal((await mainInProcess(['status', '--timeout', '0'])).code, 2, '--timeout 0');
  t.equal((await mainInProcess(['status', '--timeout', '1.5'])).code, 2, '--timeout 1.5');
  const wrong = await mainInProcess(['frobnicate']);
  t.equal(wrong.code, 2, 'unknown command');
  t.match(wrong.stderr, /unknown command 'frobnicate'/);
});

t.test('--version and --help', async (t) => {
  const v = await runCli(['--version']);
  t.equal(v.code, 0);
  t.equal(v.stdout.trim(), version);
  const help = await mainInProcess(['status', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /--host <url>/);
  t.match(help.stdout, /--json/);
});

t.test('an unhealthy card: exit 1, and the table says why', async (t) => {
  const fixture = nvidiaOnly();
  fixture.nvidia!.cards[0]!.xid = [{ id: 1, xid: 79 }];
  single.write(fixture);
  await hostB.waitFor((l) => l.msg === 'card unhealthy');

  const [json, table, withDown] = await Promise.all([
    runCli(['status', '--host', hostB.url, '--json']),
    runCli(['status', '--host', hostA.url, '--host', hostB.url]),
    runCli(['status', '--host', hostB.url, '--host', closedUrl, '--json']),
  ]);
  t.equal(json.code, 1);
  const out = parse(json.stdout);
  t.match(out.devices, [{ vendor: 'nvidia', name: 'NVIDIA L40S', health: { state: 'unhealthy', reason: 'Xid 79', lastXid: 79 } }]);
  t.equal(table.code, 1, 'one unhealthy card among healthy ones');
  t.match(table.stdout, 'UNHEALTHY: Xid 79');
  t.equal(table.stdout.match(/ healthy$/gm)?.length, 4, 'the other cards stay healthy');
  t.equal(withDown.code, 3, 'an unreachable host outranks an unhealthy card');
});
