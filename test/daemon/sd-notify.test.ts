// sd_notify against a real AF_UNIX datagram socket (python3 plays systemd), and the unit-level rules.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { SdNotifier, socketAddress, watchdogInterval } from '../../src/daemon/sd-notify.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { eventually, writeConfig } from '../helpers/integration.js';

// Binds the socket, says "bound", then prints every datagram as one JSON string per line.
const RECEIVER = String.raw`
import json, socket, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\0' + addr[1:] if addr.startswith('@') else addr)
print(json.dumps('bound'), flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps(data.decode('utf-8')), flush=True)
`;

/** A datagram as KEY=value pairs (the sd_notify format: newline-separated assignments). */
type Message = Record<string, string>;

class Receiver {
  readonly messages: Message[] = [];
  readonly raw: string[] = [];
  private readonly exit: Promise<unknown>;

  private constructor(private readonly child: ChildProcess) {
    this.exit = once(child, 'exit');
  }

  static async bind(address: string): Promise<Receiver> {
    const child = spawn('python3', ['-c', RECEIVER, address], { stdio: ['ignore', 'pipe', 'pipe'] });
    const r = new Receiver(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: child.stdout! });
    const bound = new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`python3 receiver exited (${code}): ${stderr}`)));
      lines.on('line', (line) => {
        const text = JSON.parse(line) as string;
        if (text === 'bound' && r.raw.length === 0) return resolve();
        r.raw.push(text);
        const msg: Message = {};
        for (const kv of text.split('\n').filter(Boolean)) {
          const eq = kv.indexOf('=');
          msg[kv.slice(0, eq)] = kv.slice(eq + 1);
        }
        r.messages.push(msg);
      });
    });
    await bound;
    return r;
  }

  count(key: string): number {
    return this.messages.filter((m) => key in m).length;
  }

  wait(what: string, match: (msgs: Message[]) => boolean): Promise<true> {
    return eventually(what, () => (match(this.messages) ? true : undefined));
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exit;
  }
}

const fixture = new FixtureFile(mixedHost());
const config = writeConfig(fixture.dir);
t.teardown(() => fixture.remove());
const sockets = mkdtempSync(join(tmpdir(), 'gpupool-notify-'));
t.teardown(() => rmSync(sockets, { recursive: true, force: true }));

t.test('unit: without NOTIFY_SOCKET the notifier is a no-op', async (t) => {
  const off = new SdNotifier({});
  t.equal(off.enabled, false);
  t.equal(off.notify({ READY: 1 }), false);
  const relative = new SdNotifier({ NOTIFY_SOCKET: 'run/notify' });
  t.equal(relative.enabled, false, 'a relative path is not a socket address');
  t.equal(relative.notify({ READY: 1 }), false);
  t.equal(new SdNotifier({ NOTIFY_SOCKET: '' }).enabled, false, 'empty');
  t.equal(new SdNotifier({ NOTIFY_SOCKET: '/run/systemd/notify' }).enabled, true);
  t.equal(new SdNotifier({ NOTIFY_SOCKET: '@abstract' }).enabled, true);
});

t.test('unit: socketAddress builds sockaddr_un for paths and abstract names', async (t) => {
  const path = socketAddress('/run/systemd/notify');
  t.equal(path.addr.readUInt16LE(0), 1, 'AF_UNIX');
  t.equal(path.length, 2 + '/run/systemd/notify'.length + 1, 'path: family + bytes + terminating NUL');
  t.equal(path.addr.toString('utf8', 2, 2 + 19), '/run/systemd/notify');
  t.equal(path.addr[2 + 19], 0);

  const abstract = socketAddress('@gpupool/notify');
  t.equal(abstract.addr.readUInt16LE(0), 1);
  t.equal(abstract.length, 2 + '@gpupool/notify'.length, 'abstract: leading NUL replaces @, no terminator counted');
  t.equal(abstract.addr[2], 0, 'leading NUL');
  t.equal(abstract.addr.toString('utf8', 3, abstract.length), 'gpupool/notify');

  t.equal(socketAddress(`/${'x'.repeat(106)}`).length, 110, '107 bytes still fit');
  t.throws(() => socketAddress(`/${'x'.repeat(107)}`), { message: /does not fit sockaddr_un/ }, '108 bytes do not');
  t.throws(() => socketAddress(''), { message: /does not fit sockaddr_un/ });
});

t.test('unit: watchdogInterval is half of WATCHDOG_USEC, for this pid only', async (t) => {
  t.equal(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 123), 15_000);
  t.equal(watchdogInterval({ WATCHDOG_USEC: '200000' }, 123), 100);
  t.equal(watchdogInterval({ WATCHDOG_USEC: '3000' }, 123), 1, 'rounded down');
  t.equal(watchdogInterval({ WATCHDOG_USEC: '1000' }, 123), 1, 'never below 1 ms');
  t.equal(watchdogInterval({}, 123), null, 'unset');
  t.equal(watchdogInterval({ WATCHDOG_USEC: '0' }, 123), null, 'zero');
  t.equal(watchdogInterval({ WATCHDOG_USEC: 'soon' }, 123), null, 'not a number');
  t.equal(watchdogInterval({ WATCHDOG_USEC: '-5' }, 123), null, 'negative');
  t.equal(watchdogInterval({ WATCHDOG_USEC: '200000', WATCHDOG_PID: '123' }, 123), 100, 'our pid');
  t.equal(watchdogInterval({ WATCHDOG_USEC: '200000', WATCHDOG_PID: '124' }, 123), null, 'another pid');
});

t.test('unit: notify() sends one datagram of KEY=value lines', async (t) => {
  const address = join(sockets, 'unit.sock');
  const receiver = await Receiver.bind(address);
  t.teardown(() => receiver.close());
  const notifier = new SdNotifier({ NOTIFY_SOCKET: address });
  t.equal(notifier.notify({ STATUS: 'two\nlines', ERRNO: 5 }), true, 'sent');
  await receiver.wait('the datagram', (m) => m.length === 1);
  t.same(receiver.raw, ['STATUS=two lines\nERRNO=5\n'], 'newlines in values are flattened');
  t.equal(new SdNotifier({ NOTIFY_SOCKET: join(sockets, 'nobody.sock') }).notify({ READY: 1 }), false, 'no listener: false, no throw');
});

for (const kind of ['path', 'abstract'] as const) {
  t.test(`daemon on ${kind === 'path' ? 'a path' : 'an abstract'} NOTIFY_SOCKET: READY, watchdog, STOPPING`, async (t) => {
    const address = kind === 'path' ? join(sockets, 'notify.sock') : `@gpupool-test-${process.pid}-${Date.now()}`;
    const receiver = await Receiver.bind(address);
    t.teardown(() => receiver.close());
    const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', config], {
      NOTIFY_SOCKET: address,
      WATCHDOG_USEC: '200000',
      WATCHDOG_PID: undefined,
    });
    t.teardown(() => daemon.stop('SIGKILL'));

    await receiver.wait('READY=1', (m) => m.some((x) => x.READY === '1'));
    const ready = receiver.messages.find((x) => x.READY === '1')!;
    t.match(ready.STATUS, /^serving 4 card\(s\) of nvidia, amd, ascend on 127\.0\.0\.1:\d+$/, 'STATUS names the cards');
    t.equal(receiver.messages[0]?.STATUS, 'reading cards', 'a STATUS while starting came first');
    const line = await daemon.waitFor((l) => l.msg === 'systemd watchdog enabled');
    t.equal(line.intervalMs, 100, 'half of WATCHDOG_USEC');

    await receiver.wait('two WATCHDOG=1', (m) => m.filter((x) => x.WATCHDOG === '1').length >= 2);
    t.ok(receiver.count('WATCHDOG') >= 2, `WATCHDOG=1 repeats (${receiver.count('WATCHDOG')} so far)`);
    const firstWatchdog = receiver.messages.findIndex((x) => x.WATCHDOG === '1');
    t.ok(firstWatchdog > receiver.messages.indexOf(ready), 'watchdog pings start after READY');

    t.equal(await daemon.stop('SIGTERM'), 0, 'exit code 0 after SIGTERM');
    // The daemon has exited; its last datagram is already queued on the socket.
    await receiver.wait('STOPPING=1', (m) => m.some((x) => x.STOPPING === '1'));
    const stopping = receiver.messages.find((x) => x.STOPPING === '1')!;
    t.equal(stopping.STATUS, 'stopping (SIGTERM)');
    const last = receiver.messages.indexOf(stopping);
    t.equal(receiver.messages.slice(last + 1).filter((x) => x.WATCHDOG !== undefined).length, 0, 'no watchdog ping after STOPPING');
    t.equal(receiver.count('READY'), 1, 'READY once');
  });
}

t.test('WATCHDOG_PID of another process: READY but no watchdog pings', async (t) => {
  const address = join(sockets, 'other-pid.sock');
  const receiver = await Receiver.bind(address);
  t.teardown(() => receiver.close());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', config], {
    NOTIFY_SOCKET: address,
    WATCHDOG_USEC: '200000',
    WATCHDOG_PID: String(process.pid), // the test's pid, not the daemon's
  });
  t.teardown(() => daemon.stop('SIGKILL'));
  await receiver.wait('READY=1', (m) => m.some((x) => x.READY === '1'));
  // Absence needs a window: five watchdog periods, in which a watchdog would have pinged five times.
  await new Promise((r) => setTimeout(r, 500));
  t.equal(await daemon.stop('SIGTERM'), 0);
  await receiver.wait('STOPPING=1', (m) => m.some((x) => x.STOPPING === '1'));
  t.equal(receiver.count('WATCHDOG'), 0, 'no WATCHDOG=1');
  t.notOk(daemon.logs.some((l) => l.msg === 'systemd watchdog enabled'), 'the watchdog was not enabled');
  t.ok(daemon.logs.some((l) => l.msg === 'stopped'), 'stopped cleanly');
});

t.test('no NOTIFY_SOCKET: the daemon runs and stops without systemd', async (t) => {
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', config], {
    NOTIFY_SOCKET: undefined,
    WATCHDOG_USEC: '200000',
    WATCHDOG_PID: undefined,
  });
  t.teardown(() => daemon.stop('SIGKILL'));
  const res = await fetch(`${daemon.url}/healthz`);
  t.equal(res.status, 200);
  await res.arrayBuffer();
  t.equal(await daemon.stop('SIGTERM'), 0);
  t.notOk(daemon.logs.some((l) => l.msg === 'systemd watchdog enabled'), 'no watchdog without a socket');
});
