// The token file, the failure limit and the exposure rule, in-process: what each accepts, and how
// each refuses (a stable code, and FILE:LINE for the file).
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import t from 'tap';
import { Authenticator, RefusalReasons, peerKey } from '../../src/auth/authenticator.js';
import { checkExposure, isLoopback } from '../../src/auth/exposure.js';
import { FailureLimiter } from '../../src/auth/rate-limit.js';
import { newToken, parseBytes, parseTokenFile, readTokenFile, tokenDigest, tokenLine } from '../../src/auth/tokens.js';
import { defaultConfig } from '../../src/config/schema.js';
import { ErrorCodes } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'gpupool-tokens-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const hashOf = (token: string) => `sha256:${tokenDigest(token).toString('hex')}`;

function capture(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

t.test('tokens: 32 random bytes, base64url, gpt_ prefix; the line holds the SHA-256 only', async (t) => {
  const a = newToken();
  const b = newToken();
  t.match(a, /^gpt_[A-Za-z0-9_-]{43}$/);
  t.not(a, b);
  t.equal(Buffer.from(a.slice(4), 'base64url').length, 32);
  const line = tokenLine('alice', a);
  t.equal(line, `alice ${hashOf(a)}`);
  t.notMatch(line, a.slice(4), 'the token is not in the line');
  t.equal(tokenDigest('abc').toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'SHA-256 of the UTF-8 bytes');
});

t.test('good lines: comments, blank lines, limits, several tokens per tenant', async (t) => {
  const [a, b, c] = [newToken(), newToken(), newToken()];
  const text = [
    '# gpupool tokens',
    '',
    `alice ${hashOf(a)}   # trailing comment`,
    `   bob\t${hashOf(b).toUpperCase().replace('SHA256', 'sha256')} cards=0,GPU-11111111-2222-3333-4444-555555555555 quota=8GiB priority=high`,
    `bob ${hashOf(c)} priority=high cards=0,GPU-11111111-2222-3333-4444-555555555555 quota=8589934592`,
    '\t  ',
    '#',
  ].join('\r\n');
  const table = parseTokenFile(text, '/etc/gpupool/tokens');
  t.equal(table.entries.length, 3);
  t.match(table.entries[0], { tenant: 'alice', where: '/etc/gpupool/tokens:3', limits: { cards: null, quota: null, priority: null } });
  t.same(table.entries[1]!.limits, { cards: [0, 'GPU-11111111-2222-3333-4444-555555555555'], quota: 8 * 1024 ** 3, priority: 'high', sessions: null, memory: null });
  t.match(parseTokenFile(`erin ${hashOf(newToken())} sessions=4 memory=64GiB\nfrank ${hashOf(newToken())} memory=50%`, 'f').entries, [
    { tenant: 'erin', limits: { sessions: 4, memory: { bytes: 64 * 1024 ** 3 } } },
    { tenant: 'frank', limits: { sessions: null, memory: { fraction: 0.5 } } },
  ], 'tenant limits: sessions= and memory= (bytes or a share of the host)');
  t.ok(table.entries[1]!.digest!.equals(tokenDigest(b)), 'hex digits in either case');
  t.equal(table.entries[2]!.where, '/etc/gpupool/tokens:5');
  t.same(parseTokenFile('', 'empty').entries, [], 'an empty file admits nobody');

  // Client certificates: a tenant by its certificate's CN, with or without limits, next to its tokens.
  const certs = parseTokenFile(
    [`carol cert=carol.example.org cards=1 priority=normal:2`, `carol ${hashOf(a)} priority=normal:2 cards=1`, 'dave quota=2GiB cert=CN-with.odd_chars'].join('\n'),
    'f',
  );
  t.match(certs.entries, [
    { tenant: 'carol', cert: 'carol.example.org', digest: null, limits: { cards: [1], priority: 'normal:2' } },
    { tenant: 'carol', cert: null, limits: { cards: [1], priority: 'normal:2' } },
    { tenant: 'dave', cert: 'CN-with.odd_chars', digest: null, limits: { quota: 2 * 1024 ** 3 } },
  ]);
});

t.test('bad lines: GPUPOOL_TOKENS_INVALID naming FILE:LINE and what is wrong', async (t) => {
  const token = newToken();
  const h = hashOf(token);
  const cases: [string, string, RegExp][] = [
    ['unknown key', `alice ${h} cards=0 burst=2`, /^f:2: unknown key "burst" \(known keys: cert, cards, quota, priority, sessions, memory\)$/],
    ['zero sessions', `alice ${h} sessions=0`, /^f:2: sessions=0: expected a whole number of sessions from 1 to 100000/],
    ['fractional sessions', `alice ${h} sessions=1.5`, /^f:2: sessions=1\.5: expected a whole number/],
    ['bad memory', `alice ${h} memory=plenty`, /^f:2: memory=plenty: expected a size in bytes \(64GiB\) or a share of the host's cards' memory \(50%\)/],
    ['memory over 100%', `alice ${h} memory=150%`, /^f:2: memory=150%: expected a size/],
    ['not key=value', `alice ${h} fast`, /^f:2: "fast" is not key=value/],
    ['key twice', `alice ${h} quota=1GiB quota=2GiB`, /^f:2: key "quota" is given twice/],
    ['bad hash: too short', 'alice sha256:abcd', /^f:2: tenant alice: expected sha256: and 64 hex digits/],
    ['bad hash: not hex', `alice sha256:${'z'.repeat(64)}`, /^f:2: tenant alice: expected sha256:/],
    ['bad hash: another algorithm', `alice md5:${'0'.repeat(32)}`, /^f:2: tenant alice: expected sha256:/],
    ['no hash', 'alice', /^f:2: tenant alice has no token hash/],
    ['bad tenant name', `al/ice ${h}`, /^f:2: tenant "al\/ice" must be/],
    ['bad quota', `alice ${h} quota=lots`, /^f:2: quota=lots: expected a positive size/],
    ['zero quota', `alice ${h} quota=0`, /^f:2: quota=0: expected a positive size/],
    ['bad priority', `alice ${h} priority=urgent`, /^f:2: priority=urgent: expected high, normal or low, optionally with a level 0-9 \(high:3\)/],
    ['bad priority level', `alice ${h} priority=high:10`, /^f:2: priority=high:10: expected high, normal or low/],
    ['hash and cert', `alice ${h} cert=alice`, /^f:2: tenant alice: a line holds a token hash or cert=, not both/],
    ['neither hash nor cert', 'alice quota=1GiB', /^f:2: tenant alice has no token hash or cert=/],
    ['cert with a #', 'alice cert=a#b', /^f:2: cert=a#b: expected a certificate's subject CN, 1-64 characters without spaces/],
    ['empty cert', 'alice cert=', /^f:2: cert=: expected a certificate's subject CN/],
    ['cert twice', 'bob cert=zed.example', /^f:2: cert=zed\.example is already on f:1 \(tenant zed\)/],
    ['empty card', `alice ${h} cards=0,,1`, /^f:2: cards=0,,1: expected a comma-separated list/],
    ['card twice', `alice ${h} cards=1,1`, /^f:2: cards=1,1: a card is listed twice/],
    ['odd card', `alice ${h} cards=0,<gpu>`, /^f:2: cards=0,<gpu>: "<gpu>" is neither a card index nor a UUID/],
    ['duplicate hash', `bob ${h}`, /^f:2: this token hash is already on f:1 \(tenant alice\)/],
  ];
  for (const [name, line, message] of cases) {
    // Line 1 is a good one (so the error is on line 2); the duplicate case reuses its hash.
    const first = name === 'duplicate hash' ? `alice ${h}` : name === 'cert twice' ? 'zed cert=zed.example' : `zed ${hashOf(newToken())}`;
    t.throws(() => parseTokenFile(`${first}\n${line}\n`, 'f'), { code: ErrorCodes.TOKENS_INVALID, message }, name);
  }
  t.throws(() => parseTokenFile(`alice ${h}\nalice ${hashOf(newToken())} priority=low\n`, 'f'), { message: /^f:2: tenant alice's limits differ from f:1/ }, 'one tenant, different limits');
  // A token pasted where its hash belongs: refused, and the message does not repeat it.
  try {
    parseTokenFile(`alice ${token}\n`, 'f');
    t.fail('a raw token was accepted');
  } catch (err) {
    t.match(err, { code: ErrorCodes.TOKENS_INVALID, message: /^f:1: tenant alice: this is a token itself, not its hash/ });
    t.notMatch((err as Error).message, token.slice(4), 'the token is not echoed');
  }
  t.throws(() => readTokenFile(join(dir, 'missing')), { code: ErrorCodes.TOKENS_UNREADABLE, message: /token file .*missing: ENOENT/ });
});

t.test('sizes', async (t) => {
  t.equal(parseBytes('8GiB'), 8 * 1024 ** 3);
  t.equal(parseBytes('8gi'), 8 * 1024 ** 3);
  t.equal(parseBytes('512MiB'), 512 * 1024 ** 2);
  t.equal(parseBytes('1.5GiB'), 1.5 * 1024 ** 3);
  t.equal(parseBytes('2GB'), 2e9);
  t.equal(parseBytes('4096'), 4096);
  t.equal(parseBytes('10 KiB'), 10240);
  for (const bad of ['', 'GiB', '-1GiB', '1.3B', '8XB', '0', '1e3', '99999999TiB']) t.equal(parseBytes(bad), null, bad);
});

t.test('the failure limit: N per sliding window, blocked attempts do not extend it, memory bounded', async (t) => {
  let now = 1_000_000;
  const limiter = new FailureLimiter(3, 10_000, 4, () => now);
  t.equal(limiter.fail('a'), 1);
  now += 1000;
  limiter.fail('a');
  t.notOk(limiter.blocked('a'), 'two failures: not yet');
  now += 1000;
  t.equal(limiter.fail('a'), 3);
  t.ok(limiter.blocked('a'), 'three: blocked');
  t.notOk(limiter.blocked('b'), 'another address is not');
  now += 7999; // the first failure is 9999 ms old
  t.ok(limiter.blocked('a'), 'still inside the window');
  now += 1;
  t.notOk(limiter.blocked('a'), 'the first failure aged out: one more attempt allowed');
  now += 20_000;
  t.notOk(limiter.blocked('a'));
  t.equal(limiter.size(), 0, 'nothing kept for an address whose failures aged out');
  for (const peer of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']) limiter.fail(peer);
  t.ok(limiter.size() <= 4, 'at most maxPeers addresses kept');
  t.equal(peerKey('::ffff:10.1.2.3'), '10.1.2.3', 'IPv4-mapped addresses count as their IPv4 address');
  t.equal(peerKey('fe80::1'), 'fe80::1');
});

t.test('the authenticator: tenants by token, refusals by reason, reload keeps the old table on a bad file', async (t) => {
  const [a, b] = [newToken(), newToken()];
  const path = join(dir, 'auth-tokens');
  writeFileSync(path, `${tokenLine('alice', a, { quota: '1GiB' })}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  const { logger, lines } = capture();
  let now = 0;
  const auth = new Authenticator({ tokens: path, maxFailures: 2, failureWindowMs: 1000 }, logger, null, () => now);
  t.ok(auth.enabled);
  t.same(auth.tenants(), ['alice']);
  t.match(auth.check(a, '10.0.0.1'), { ok: true, tenant: 'alice', limits: { quota: 1024 ** 3 } });
  t.same(auth.check(null, '10.0.0.1'), { ok: false, reason: RefusalReasons.MISSING });
  t.same(auth.check(b, '10.0.0.1'), { ok: false, reason: RefusalReasons.UNKNOWN });
  t.ok(auth.blocked('10.0.0.1'), 'two failures: the address is blocked');
  t.same(auth.check(b, '10.0.0.1'), { ok: false, reason: RefusalReasons.BLOCKED, blocked: true }, 'a wrong token is refused as blocked');
  t.match(auth.check(a, '10.0.0.1'), { ok: true, tenant: 'alice' }, 'the right token still gets in');
  t.match(auth.check(a, '10.0.0.2'), { ok: true }, 'other addresses are not affected');
  t.ok(lines.some((l) => l.level === 40 && l.peer === '10.0.0.1' && l.failures === 2), 'the block is logged once, with the address');
  now += 1001;
  t.notOk(auth.blocked('10.0.0.1'), 'the block lifts when the failures age out');
  t.same(auth.check(b, '10.0.0.1'), { ok: false, reason: RefusalReasons.UNKNOWN }, 'and a wrong token is checked and counted again');

  writeFileSync(path, `alice ${hashOf(a)} colour=blue\n`);
  t.notOk(auth.reload(), 'a bad file is not taken');
  const refused = lines.find((l) => l.msg === 'token file not reloaded; the previous tokens stay in force');
  t.match(refused, { level: 50, code: ErrorCodes.TOKENS_INVALID, err: new RegExp(`^${path}:1: unknown key "colour"`) });
  t.match(auth.check(a, '10.0.0.3'), { ok: true, tenant: 'alice' }, 'the old table stays in force');

  writeFileSync(path, `${tokenLine('bob', b)}\n`);
  chmodSync(path, 0o666);
  t.ok(auth.reload());
  t.match(lines.find((l) => l.msg === 'token file reloaded'), { added: ['bob'], removed: ['alice'], tenants: 1 });
  t.ok(lines.some((l) => l.level === 40 && /writable by group or others/.test(String(l.msg))), 'a file others may write is warned about');
  t.same(auth.check(a, '10.0.0.4'), { ok: false, reason: RefusalReasons.UNKNOWN }, 'a removed token is refused');
  t.match(auth.check(b, '10.0.0.4'), { ok: true, tenant: 'bob' });
  t.notOk(JSON.stringify(lines).includes(a) || JSON.stringify(lines).includes(b), 'no token in any log line');

  const open = new Authenticator({ tokens: null, maxFailures: 2, failureWindowMs: 1000 }, logger);
  t.notOk(open.enabled);
  t.same(open.check(null, '10.0.0.1', 'alice'), { ok: true, tenant: null, limits: null }, 'a certificate changes nothing when none is required');
  t.same(open.check(null, '10.0.0.1'), { ok: true, tenant: null, limits: null }, 'without a file everyone gets in');
  t.notOk(open.reload(), 'nothing to reload');
});

t.test('client certificates: the CN, or its cert= line, is the tenant; a token still decides when there is a file', async (t) => {
  const token = newToken();
  const path = join(dir, 'cert-tokens');
  writeFileSync(path, `ops cert=build-host-7 cards=0 priority=low\n${tokenLine('alice', token)}\n`, { mode: 0o600 });
  const { logger } = capture();
  const auth = new Authenticator({ tokens: path, maxFailures: 2, failureWindowMs: 1000, certificates: true }, logger);
  t.ok(auth.enabled);
  t.same(auth.check(null, '10.0.0.1', 'build-host-7'), { ok: true, tenant: 'ops', limits: { cards: [0], quota: null, priority: 'low', sessions: null, memory: null } }, 'mapped by its cert= line');
  t.same(auth.check(null, '10.0.0.1', 'bob'), { ok: true, tenant: 'bob', limits: null }, 'unmapped: the CN itself, no limits');
  t.match(auth.check(token, '10.0.0.1', 'bob'), { ok: true, tenant: 'alice' }, 'a token, with a file to check it in, decides');
  t.same(auth.check(null, '10.0.0.1', null), { ok: false, reason: RefusalReasons.NO_CERTIFICATE }, 'no verified certificate');
  t.match(auth.check(null, '10.0.0.1', 'Bob Smith'), { ok: false, reason: /^certificate CN "Bob Smith" is not a tenant name; map it with a cert= line$/ });
  t.ok(auth.blocked('10.0.0.1'), 'refusals count against the address like bad tokens');

  const certsOnly = new Authenticator({ tokens: null, maxFailures: 2, failureWindowMs: 1000, certificates: true }, logger);
  t.ok(certsOnly.enabled, 'client certificates alone are authentication');
  t.same(certsOnly.check(token, '10.0.0.2', 'carol'), { ok: true, tenant: 'carol', limits: null }, 'without a token file a token is not looked at');
});

t.test('loopback and exposure', async (t) => {
  for (const host of ['127.0.0.1', '127.8.9.10', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) t.ok(isLoopback(host), host);
  for (const host of ['0.0.0.0', '::', '10.231.0.2', '128.0.0.1', '::ffff:10.0.0.1', 'gpu-17.example', 'localhost.example']) t.notOk(isLoopback(host), host);
  const config = defaultConfig();
  t.doesNotThrow(() => checkExposure(config), 'the default listens on loopback');
  t.throws(() => checkExposure({ ...config, listen: '0.0.0.0:7760' }), { code: ErrorCodes.CONFIG_INSECURE, message: /^listen 0\.0\.0\.0:7760 is not a loopback address and no token file is set/ });
  t.throws(() => checkExposure({ ...config, listen: '[::]:7760' }), { code: ErrorCodes.CONFIG_INSECURE });
  t.doesNotThrow(() => checkExposure({ ...config, listen: '0.0.0.0:7760', auth: { ...config.auth, tokens: '/etc/gpupool/tokens' } }), 'with tokens');
  t.doesNotThrow(() => checkExposure({ ...config, listen: '0.0.0.0:7760', tls: { cert: 'c.pem', key: 'k.pem', clientCa: 'ca.pem' } }), 'with client certificates');
  t.throws(() => checkExposure({ ...config, listen: '0.0.0.0:7760', tls: { cert: 'c.pem', key: 'k.pem', clientCa: null } }), { code: ErrorCodes.CONFIG_INSECURE }, 'TLS alone does not say who may connect');
  t.doesNotThrow(() => checkExposure({ ...config, listen: '0.0.0.0:7760', compute: { ...config.compute, enabled: false } }), 'status and metrics only');
});
