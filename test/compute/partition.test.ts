/**
 * A network partition between a client host and a GPU host (network namespaces joined by a veth pair;
 * the test cuts the link): both sides notice within their configured times. The client library fails
 * the call it is blocked in, and an idle client notices too, within GPUPOOL_TIMEOUT_MS; the daemon drops
 * the silent sessions after compute.clientGraceMs and frees them, stays up, and serves a new client
 * once the link is back.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import type { StatusDocument } from '../../src/server/status.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { eventually, writeConfig } from '../helpers/integration.js';
import { PROMPT_MS, runJob, startJob } from '../helpers/job-process.js';
import { createTestHosts, namespacesAvailable } from '../helpers/netns.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';

const fatbin = buildFatbin();
const faultClient = buildProgram('fault_client.c');
const lostDaemon = buildProgram('lost_daemon.c');
const driverApi = buildProgram('driver_api.c');

/** The client library's silence limit (GPUPOOL_TIMEOUT_MS). */
const CLIENT_TIMEOUT_MS = 1500;
const PING_MS = 500;
const GRACE_MS = 3000;
/** Slack for a loaded machine on top of each side's own limit. */
const MARGIN_MS = 2500;
/** The kernel the blocked client waits for: longer than its timeout, shorter than the daemon's grace. */
const KERNEL_MS = 2500;

const LOST = /^gpupool: lost the daemon at ws:\/\/10\.231\.\d+\.\d+:7760 \(connection closed or silent\); session \d+ there is gone/m;

const refused = namespacesAvailable();
t.test('a cut link: the client and the daemon each notice in time; the daemon serves again once it is back', { skip: refused ?? false }, async (t) => {
  const hosts = createTestHosts(1);
  t.teardown(() => hosts.destroy());
  const { ns, address } = hosts.hosts[0]!;
  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const token = newToken();
  const tokens = join(fixture.dir, 'tokens');
  writeFileSync(tokens, `${tokenLine('partition', token)}\n`, { mode: 0o600 });
  const config = writeConfig(fixture.dir, { health: { xidWaitMs: 100 }, compute: { pingIntervalMs: PING_MS, clientGraceMs: GRACE_MS } });
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', config, '--tokens', tokens, '--listen', `${address}:7760`], {}, 20_000, ns);
  t.teardown(() => daemon.stop('SIGKILL'));
  const server = `ws://${address}:7760`;
  const env = { GPUPOOL_TOKEN: token, GPUPOOL_TIMEOUT_MS: String(CLIENT_TIMEOUT_MS) };
  /** The daemon's compute status, asked from inside its own host (the test runs outside every namespace). */
  const status = async (): Promise<StatusDocument['compute']> => {
    const r = await runCli(['status', '--host', daemon.url, '--json'], {}, ns);
    const doc = JSON.parse(r.stdout) as { hosts: { status?: StatusDocument }[] };
    const compute = doc.hosts[0]?.status?.compute;
    if (!compute) throw new Error(`no status: ${r.stdout}${r.stderr}`);
    return compute;
  };

  const idle = startJob(t, server, [lostDaemon], env, hosts.client);
  await idle.output(/^ready \d+$/m);
  const live = await status();
  t.equal(live.sessions.length, 1, 'the idle client has a session');
  t.ok(live.cards.some((c) => c.committed > 0), 'with quota committed');
  // The blocked client last, and the cut right after it: its kernel must still be running then.
  const blocked = startJob(t, server, [faultClient, fatbin, 'block', String(KERNEL_MS)], env, hosts.client);
  const [, pid] = (await blocked.output(/^ready (\d+)$/m)) as unknown as [string, string];
  const second = await daemon.waitFor((l) => l.msg === 'client connected' && l.pid === Number(pid));
  await new Promise((r) => setTimeout(r, 200)); // the launch and cuCtxSynchronize on their way

  hosts.link(0, false);
  const cutAt = Date.now();

  // The client side.
  const failedAt = await blocked.lineAt(/^sync CUDA_ERROR_DEVICE_UNAVAILABLE \d+$/, 'stdout', CLIENT_TIMEOUT_MS + MARGIN_MS + PROMPT_MS);
  const [, waited] = /^sync \S+ (\d+)$/m.exec(blocked.stdout)!;
  t.ok(failedAt - cutAt <= CLIENT_TIMEOUT_MS + MARGIN_MS, `the blocked cuCtxSynchronize failed ${failedAt - cutAt} ms after the cut (GPUPOOL_TIMEOUT_MS ${CLIENT_TIMEOUT_MS})`);
  t.ok(Number(waited) < KERNEL_MS, `before its ${KERNEL_MS} ms kernel could have ended (${waited} ms after the launch): the silence ended it, not the kernel`);
  t.match(blocked.stderr, LOST, 'and the client library said why');
  const idleAt = await idle.lineAt(LOST, 'stderr', CLIENT_TIMEOUT_MS + MARGIN_MS + PROMPT_MS);
  t.ok(idleAt - cutAt <= CLIENT_TIMEOUT_MS + MARGIN_MS, `an idle client noticed ${idleAt - cutAt} ms after the cut, without making a call`);

  // The daemon side: both sessions dropped after the grace, and freed.
  const ids = [live.sessions[0]!.id, second.session as number];
  for (const id of ids) {
    const dropped = await daemon.waitFor((l) => l.msg === 'client stopped answering pings; dropping it' && l.session === id, GRACE_MS + PING_MS + MARGIN_MS + PROMPT_MS);
    t.ok((dropped.silentMs as number) > GRACE_MS, `session ${id} was dropped after ${dropped.silentMs as number} ms of silence (grace ${GRACE_MS})`);
    const freed = await daemon.waitFor((l) => l.msg === 'session freed' && l.session === id, PROMPT_MS);
    const freedMs = Date.parse(String(freed.time)) - cutAt;
    t.ok(freedMs <= GRACE_MS + PING_MS + MARGIN_MS, `session ${id} freed ${freedMs} ms after the cut (grace ${GRACE_MS} + ping ${PING_MS})`);
    t.match(freed.stats, { contexts: 0, allocations: 0, allocatedBytes: 0 });
  }
  const after = await eventually('the sessions gone from status', async () => {
    const c = await status();
    return c.sessions.length === 0 ? c : undefined;
  }, PROMPT_MS);
  t.same(after.cards.map((c) => c.committed), [0, 0], 'their quota uncommitted');
  t.equal(daemon.child.exitCode, null, 'the daemon is still running');

  // Back together: the old jobs stay failed, a new one runs.
  hosts.link(0, true);
  idle.line();
  t.equal(await idle.finished(), 0, `the idle job's later calls all failed as they should ${idle.stderr}`);
  t.match(idle.stdout, /^all unavailable$/m);
  blocked.line();
  t.equal(await blocked.finished(), 0);
  const run = await runJob(server, [driverApi, fatbin], env, hosts.client);
  t.equal(run.code, 0, `a new client runs once the link is back ${run.stderr}`);
  t.match(run.stdout, /^PASS$/m);
});
