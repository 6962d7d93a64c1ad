/**
 * One tenant does not shut out the others (docs/security.md, "Tenant limits"): sessions per tenant and
 * memory quota committed per tenant over all cards, from the defaults (`sharing.tenantMaxSessions`,
 * `sharing.tenantMaxMemory`) or the token file's `sessions=` and `memory=`. A real
 * `gpupool daemon --simulate --tokens` (cards of 80 and 40 GiB) and raw clients holding idle sessions.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type WebSocket from 'ws';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import { startSimulatedDaemon } from '../helpers/simulated.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, computeStatus, eventually } from '../helpers/integration.js';
import { handshake, refused, type RawClientOptions } from '../helpers/raw-client.js';

const GiB = 1024 ** 3;
const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
const [hoarder, alice, carol, dave] = [newToken(), newToken(), newToken(), newToken()];
const tokens = join(fixture.dir, 'tokens');
writeFileSync(
  tokens,
  [`${tokenLine('hoarder', hoarder)} sessions=8`, `${tokenLine('alice', alice)} sessions=2`, `${tokenLine('carol', carol)} memory=15GiB`, tokenLine('dave', dave), ''].join('\n'),
  { mode: 0o600 },
);
// One daemon for every case; each case's sessions are gone (and their quota released) before the next.
const { daemon, server } = await startSimulatedDaemon(t, { ...QUICK_CONFIG, auth: { tokens }, sharing: { tenantMaxSessions: 3 } });
t.afterEach(async () => {
  await eventually('the sessions of the case to be freed', async () => ((await computeStatus(daemon)).sessions.length === 0 ? true : undefined));
});

/** Opens a session and keeps it (closed when the test ends); null when refused. */
async function hold(t: Test, server: string, token: string, options: RawClientOptions = {}): Promise<WebSocket | null> {
  const o = await handshake(server, token, options);
  if (!o.welcome) return null;
  t.teardown(() => o.ws.close());
  return o.ws;
}

t.test('a tenant hoarding idle sessions stops at the default memory limit; another tenant still gets in', async (t) => {
  let admitted = 0;
  for (let i = 0; i < 8; i++) if (await hold(t, server, hoarder)) admitted++;
  // 25% quotas: 20 GiB and 10 GiB sessions, spread over both cards; 75% of the host's 120 GiB is 90 GiB.
  t.equal(admitted, 6, 'six of the hoarder\'s eight sessions (90 GiB of quota) get in');
  const refusal = daemon.logs.find((l) => l.code === 'GPUPOOL_TENANT_LIMIT');
  t.match(refusal, { tenant: 'hoarder', msg: "handshake refused: the tenant's limit", reason: /tenant hoarder holds 90\.00 GiB of quota; \d+\.00 GiB more is over its limit of 90\.00 GiB \(sharing\.tenantMaxMemory\)/ });
  t.ok(await hold(t, server, alice, { request: { mem: 1024 * 1024 } }), 'another tenant\'s 1 MiB request is admitted');
});

t.test('sessions= caps a tenant\'s sessions; a waiting request gets in when one ends', async (t) => {
  const first = await hold(t, server, alice);
  t.ok(first && (await hold(t, server, alice)), 'two sessions');
  t.same(await refused(server, alice), { code: 4004, reason: 'tenant alice holds 2 session(s), its limit (its sessions=)' }, 'a third is refused');
  t.ok(await hold(t, server, carol, { request: { mem: GiB } }), 'another tenant is not counted against it');
  const waiting = handshake(server, alice, { request: { wait: 20 } });
  await new Promise((r) => setTimeout(r, 500));
  first!.close();
  const third = await waiting;
  t.ok(third.welcome, 'a third with wait=20 gets in once the first ends');
  if (third.welcome) third.ws.close();
});

t.test('memory= caps the quota a tenant holds over all cards together', async (t) => {
  t.ok(await hold(t, server, carol, { request: { mem: 8 * GiB } }), '8 GiB of 15');
  const over = await refused(server, carol, { request: { mem: 8 * GiB } });
  t.match(over, { code: 4004, reason: /^tenant carol holds 8\.00 GiB of quota; 8\.00 GiB more is over its limit of 15\.00 GiB \(its memory=\)/ });
  t.ok(await hold(t, server, carol, { request: { mem: 6 * GiB } }), '6 GiB more fits');
});

t.test('config: sharing.tenantMaxSessions applies to tenants without sessions=', async (t) => {
  for (let i = 0; i < 3; i++) t.ok(await hold(t, server, dave, { request: { mem: GiB } }), `dave's session ${i + 1}`);
  t.same(await refused(server, dave, { request: { mem: GiB } }), { code: 4004, reason: 'tenant dave holds 3 session(s), its limit (sharing.tenantMaxSessions)' });
});
