// HELLO's request and WELCOME's device list, decoded and encoded without a daemon.
import { Unpackr } from 'msgpackr';
import t from 'tap';
import { CloseCodes, encodeHello, encodeWelcome, parseHello, type Hello } from '../../src/compute/handshake.js';
import type { DriverDevice } from '../../src/compute/native.js';

const DIGEST = 'abcdef0123456789';

function hello(request: unknown): Buffer {
  return encodeHello({ protocol: 1, digest: DIGEST, cuda: 13000, token: null, pid: 1, host: 'h', program: 'p', request } as Hello);
}

t.test('request: limit, gpus, policy and wait, each optional', async (t) => {
  t.same(parseHello(hello(undefined), DIGEST).request, { mem: null, share: null, priority: null, limit: false, gpus: null, policy: null, wait: null }, 'no request: the defaults');
  t.same(parseHello(hello({ mem: 2 ** 33, share: 0.5, priority: 'low:3', limit: true, gpus: 2, policy: 'binpack', wait: 60 }), DIGEST).request, {
    mem: 2 ** 33,
    share: 0.5,
    priority: 'low:3',
    limit: true,
    gpus: 2,
    policy: 'binpack',
    wait: 60,
  });
  t.match(parseHello(hello({ gpus: 'all', policy: null, wait: 0 }), DIGEST).request, { gpus: 'all', policy: null, wait: 0 });
  t.match(parseHello(hello({ gpus: 3n, wait: 5n }), DIGEST).request, { gpus: 3, wait: 5 }, 'wide integers');
  t.match(parseHello(hello({ mem: null, colour: 'red' }), DIGEST).request, { mem: null }, 'keys this daemon does not know are ignored');
});

t.test('a malformed request is a protocol error (4002) naming the key', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ gpus: 0 }, /gpus must be a whole number from 1 to 256, or "all"/],
    [{ gpus: 1.5 }, /gpus must be/],
    [{ gpus: 'some' }, /gpus must be/],
    [{ gpus: 257 }, /gpus must be/],
    [{ policy: 'tight' }, /policy must be one of binpack, spread/],
    [{ wait: -1 }, /wait must be a whole number of seconds from 0 to 86400/],
    [{ wait: 86401 }, /wait must be/],
    [{ wait: '60' }, /wait must be/],
  ];
  for (const [request, message] of cases) {
    t.throws(() => parseHello(hello(request), DIGEST), { closeCode: CloseCodes.PROTOCOL_ERROR, message }, JSON.stringify(request));
  }
});

t.test('HELLO\'s cuda and pid out of range are a protocol error (4002); names are bounded and escaped', async (t) => {
  const with_ = (fields: Record<string, unknown>) => encodeHello({ protocol: 1, digest: DIGEST, cuda: 13000, token: null, pid: 1, host: 'h', program: 'p', ...fields } as Hello);
  for (const [fields, message] of [
    [{ cuda: -1 }, /HELLO's cuda -1 is not a whole number from 0 to 1000000/],
    [{ pid: -5 }, /HELLO's pid -5 is not a whole number from 1 to 2147483647/],
    [{ pid: 0 }, /HELLO's pid 0 is not/],
    [{ pid: 1.5 }, /HELLO's pid 1.5 is not/],
    [{ cuda: '13000' }, /HELLO's cuda 13000 is not/],
    [{ pid: 2 ** 40 }, /HELLO's pid/],
  ] as const) {
    t.throws(() => parseHello(with_(fields), DIGEST), { closeCode: CloseCodes.PROTOCOL_ERROR, message }, JSON.stringify(fields));
  }
  t.match(parseHello(with_({ cuda: undefined, pid: undefined }), DIGEST), { cuda: 0, pid: 0 }, 'absent: 0, as from an old client');
  const parsed = parseHello(with_({ program: `a\u001b[31m${'x'.repeat(5000)}`, host: 'h\nINFO forged' }), DIGEST);
  t.ok(parsed.program.startsWith('a\\x1b[31mx') && Buffer.byteLength(parsed.program) <= 256, 'the program name is escaped and bounded');
  t.equal(parsed.host, 'h\\x0aINFO forged', 'a newline in the host name is escaped');
  t.throws(() => parseHello(encodeHello({ protocol: 'x'.repeat(10_000), digest: DIGEST } as unknown as Hello), DIGEST), { closeCode: CloseCodes.PROTOCOL_MISMATCH, message: /^protocol x+… is not 1$/ }, 'a refusal quotes a client\'s value short');
});

t.test('WELCOME lists the devices given, each with its ordinal on the daemon and its quota as totalMem', async (t) => {
  const device = (ordinal: number): DriverDevice => ({ ordinal, name: `card ${ordinal}`, uuid: Buffer.alloc(16, ordinal), pciDomain: 0, pciBus: ordinal, pciDevice: 0, totalMem: 80 * 2 ** 30, attributes: [[1, 2]] });
  const welcome = new Unpackr({ mapsAsObjects: true, int64AsType: 'number' }).unpack(encodeWelcome(7, DIGEST, 13000, [device(2)], [0, 0, 2 ** 31])) as { session: number; devices: { ordinal: number; totalMem: number; name: string }[] };
  t.equal(welcome.session, 7);
  t.match(welcome.devices, [{ ordinal: 2, name: 'card 2', totalMem: 2 ** 31 }]);
  t.equal(welcome.devices.length, 1);
});
