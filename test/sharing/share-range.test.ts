/**
 * Shares have a documented range, from MIN_SHARE (0.01) to 1, everywhere a share enters: `gpupool run
 * --share`, GPUPOOL_REQUEST (read by the client library), HELLO's request and `sharing.defaultShare`;
 * and a larger share never gets less of a card than a smaller one (docs/sharing.md). Real processes:
 * `gpupool daemon --simulate`, `gpupool run` with the client library, test/programs/card_load.c.
 */
import t from 'tap';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { MIN_SHARE } from '../../src/sharing/placement.js';
import { runCli } from '../helpers/daemon-process.js';
import { startSimulatedDaemon } from '../helpers/simulated.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { LoadJob } from '../helpers/load.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';
import { refused } from '../helpers/raw-client.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';

const fatbin = buildFatbin();
const driverApi = buildProgram('driver_api.c');

// One daemon for both cases.
const { daemon, server } = await startSimulatedDaemon(t);

t.test('a share under the minimum is refused wherever it enters', async (t) => {
  t.equal(MIN_SHARE, 0.01);
  const cli = await runCli(['run', '--servers', server, '--share', '1e-300', '--', driverApi, fatbin]);
  t.equal(cli.code, 2, 'gpupool run --share 1e-300: exit 2');
  t.match(cli.stderr, /--share 1e-300: expected a number from 0\.01 to 1/);

  const env = await runCli(['run', '--servers', server, '--', driverApi, fatbin], { GPUPOOL_REQUEST: 'share=0.001' });
  t.not(env.code, 0, 'GPUPOOL_REQUEST=share=0.001: the job fails');
  t.match(env.stderr, /share=0\.001 is not a number from 0\.01 to 1/, 'the client library says why');

  for (const share of [1e-300, 0.009, 0, -1, 1.5]) {
    t.match(await refused(server, null, { request: { share } }), { code: 4002, reason: /share must be a number from 0\.01 to 1/ }, `HELLO share ${share}: 4002`);
  }
  t.equal(await refused(server, null, { request: { share: MIN_SHARE } }), 'welcomed', 'the minimum itself is taken');

  const fixture = new FixtureFile(mixedHost());
  t.teardown(() => fixture.remove());
  const bad = await runCli(['daemon', '--simulate', fixture.path, '--listen', '127.0.0.1:0', '--config', writeConfig(fixture.dir, { ...QUICK_CONFIG, sharing: { defaultShare: 0.001 } })]);
  t.equal(bad.code, 2, 'sharing.defaultShare 0.001: the daemon exits 2');
  t.match(bad.stderr, /defaultShare/);
});

t.test('the order of shares is the order of device time, down to the minimum', async (t) => {
  const shares = [MIN_SHARE, 0.1, 0.5];
  const jobs = shares.map((s) => new LoadJob(server, ['--gpus', 'all', '--mem', '1GiB', '--share', String(s), '--priority', 'low'], { mode: 'train', seconds: 4, kernelUs: 200, batch: 10 }));
  t.teardown(() => jobs.forEach((j) => j.kill()));
  await Promise.all(jobs.map((j) => j.ready()));
  jobs.forEach((j) => j.go());
  const at = (ms: number) =>
    new Promise<SessionInfo[]>((resolve) =>
      setTimeout(async () => resolve(((await (await fetch(`${daemon.url}/v1/status`)).json()) as { compute: { sessions: SessionInfo[] } }).compute.sessions), ms),
    );
  const [first, second] = await Promise.all([at(1000), at(3500)]);
  await Promise.all(jobs.map((j) => j.result()));
  const byShare = shares.map((share) => {
    const s = second.find((x) => x.scheduling?.share === share)!;
    return s.cards[0]!.deviceNs - (first.find((f) => f.id === s.id)?.cards[0]!.deviceNs ?? 0);
  });
  t.ok(byShare.every((ns) => ns > 0), `every share progressed: ${byShare.map((ns) => (ns / 1e6).toFixed(0)).join(', ')} ms of device time`);
  for (let i = 1; i < shares.length; i++) {
    t.ok(byShare[i]! > byShare[i - 1]!, `share ${shares[i]} got more device time (${(byShare[i]! / 1e6).toFixed(0)} ms) than share ${shares[i - 1]} (${(byShare[i - 1]! / 1e6).toFixed(0)} ms)`);
  }
});
