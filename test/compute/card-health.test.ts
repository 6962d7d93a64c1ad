/**
 * A card that goes unhealthy mid-session (the fake NVML's fixture injects an Xid, or takes the card
 * off the bus): new clients are not given it, its sessions' later calls on it fail with a CUDA error
 * (ECC_UNCORRECTABLE after an ECC Xid, DEVICE_UNAVAILABLE otherwise), sessions on other cards run on,
 * status shows the card and the sessions hit, and a card that recovers (not after a sticky Xid) is
 * given to new clients again.
 */
import t from 'tap';
import { CUDA_ERROR_DEVICE_UNAVAILABLE, CUDA_ERROR_ECC_UNCORRECTABLE, poisonCode } from '../../src/compute/card-health.js';
import type { StatusDocument } from '../../src/server/status.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { eventually, writeConfig } from '../helpers/integration.js';
import { PROMPT_MS, runJob, startJob } from '../helpers/job-process.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';

t.test('the error a poisoned card answers', async (t) => {
  for (const xid of [48, 63, 64, 94, 95]) t.equal(poisonCode({ healthReason: `Xid ${xid}`, lastXid: xid }), CUDA_ERROR_ECC_UNCORRECTABLE, `Xid ${xid}: ECC`);
  t.equal(poisonCode({ healthReason: 'double-bit ECC error' }), CUDA_ERROR_ECC_UNCORRECTABLE, 'an NVML double-bit ECC event: ECC');
  t.equal(poisonCode({ healthReason: 'Xid 79', lastXid: 79 }), CUDA_ERROR_DEVICE_UNAVAILABLE, 'Xid 79 (fallen off the bus): unavailable');
  t.equal(poisonCode({ healthReason: 'nvmlDeviceGetMemoryInfo_v2: GPU is lost (15)' }), CUDA_ERROR_DEVICE_UNAVAILABLE, 'a card that cannot be read: unavailable');
});

const fatbin = buildFatbin();
const faultClient = buildProgram('fault_client.c');
const driverApi = buildProgram('driver_api.c');

t.test('a card that goes bad under running sessions', async (t) => {
  const host = mixedHost();
  const fixture = new FixtureFile(host);
  t.teardown(() => fixture.remove());
  const config = writeConfig(fixture.dir, { health: { xidWaitMs: 100 }, sampling: { intervalMs: 200 } });
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', config]);
  t.teardown(() => daemon.stop('SIGKILL'));
  const server = daemon.url.replace(/^http/, 'ws');
  const status = async () => (await (await fetch(`${daemon.url}/v1/status`)).json()) as StatusDocument;

  /** One checked round of a `step` job: its result line. */
  const step = async (job: ReturnType<typeof startJob>, k: number): Promise<string> => {
    job.line();
    const [line] = (await job.output(new RegExp(`^round ${k} .*$`, 'm'))) as unknown as [string];
    return line;
  };
  // Both jobs are given both cards, and each works on one of them.
  const onCard0 = startJob(t, server, [faultClient, fatbin, 'step'], { GPUPOOL_REQUEST: 'gpus=all' });
  const onCard1 = startJob(t, server, [faultClient, fatbin, 'step'], { GPUPOOL_REQUEST: 'gpus=all', GPUPOOL_FAULT_DEVICE: '1' });
  const [, pid0] = (await onCard0.output(/^ready (\d+)$/m)) as unknown as [string, string];
  const [, pid1] = (await onCard1.output(/^ready (\d+)$/m)) as unknown as [string, string];
  const sessionOf = async (pid: string) => (await daemon.waitFor((l) => l.msg === 'client connected' && l.pid === Number(pid))).session as number;
  const [s0, s1] = [await sessionOf(pid0), await sessionOf(pid1)];
  /** Both sessions, in the order the daemon lists them. */
  const both = [s0, s1].sort((a, b) => a - b);
  t.equal(await step(onCard0, 1), 'round 1 ok');
  t.equal(await step(onCard1, 1), 'round 1 ok');

  t.test('an ECC Xid on card 0: its sessions get CUDA_ERROR_ECC_UNCORRECTABLE there; card 1 runs on', async (t) => {
    host.nvidia!.cards[0]!.xid = [{ id: 1, xid: 48 }];
    fixture.write(host);
    const poisoned = await daemon.waitFor((l) => l.msg === "card unhealthy: its sessions' calls on it now fail" && l.ordinal === 0, PROMPT_MS);
    t.match(poisoned, { code: 'GPUPOOL_CARD_UNHEALTHY', reason: 'Xid 48', error: 'CUDA_ERROR_ECC_UNCORRECTABLE' });
    t.same(poisoned.sessions, both, 'every session given card 0 is named');
    t.equal(await step(onCard0, 2), 'round 2 cuMemcpyHtoD(dx, hx, sizeof hx) CUDA_ERROR_ECC_UNCORRECTABLE', 'the next call on card 0 fails, without reaching the driver');
    t.equal(await step(onCard0, 3), 'round 3 cuMemcpyHtoD(dx, hx, sizeof hx) CUDA_ERROR_ECC_UNCORRECTABLE', 'and every one after it');
    t.equal(await step(onCard1, 2), 'round 2 ok', 'a session working on card 1 is unaffected');

    const doc = await status();
    t.match(doc.devices.find((d) => d.vendor === 'nvidia' && d.index === 0)?.health, { state: 'unhealthy', reason: 'Xid 48', lastXid: 48 });
    t.match(doc.compute.cards, [{ ordinal: 0, health: 'unhealthy', healthReason: 'Xid 48', lastXid: 48, poisonedSessions: both }, { ordinal: 1, health: 'healthy', poisonedSessions: [] }]);
    t.match(doc.compute.sessions.find((s) => s.id === s0)?.cards, [{ ordinal: 0, poisoned: 'CUDA_ERROR_ECC_UNCORRECTABLE' }, { ordinal: 1, poisoned: null }]);

    const run = await runJob(server, [driverApi, fatbin]);
    t.equal(run.code, 0, `a new client runs ${run.stderr}`);
    t.match(run.stdout, /^devices 1 driver \d+\ndevice 0: NVIDIA A100-SXM4-40GB,/m, 'on card 1: placement does not give it the unhealthy card');
    t.match(run.stdout, /^PASS$/m);
    t.equal(daemon.child.exitCode, null, 'the daemon runs on');
  });

  t.test('card 1 lost (not sticky): DEVICE_UNAVAILABLE for its sessions, no new client; back, it serves again', async (t) => {
    host.nvidia!.cards[1]!.present = false;
    fixture.write(host);
    const poisoned = await daemon.waitFor((l) => l.msg === "card unhealthy: its sessions' calls on it now fail" && l.ordinal === 1, PROMPT_MS);
    t.match(poisoned, { error: 'CUDA_ERROR_DEVICE_UNAVAILABLE', sessions: both });
    t.equal(await step(onCard1, 3), 'round 3 cuMemcpyHtoD(dx, hx, sizeof hx) CUDA_ERROR_DEVICE_UNAVAILABLE');
    const none = await runJob(server, [driverApi, fatbin]);
    t.match(none.stderr, /refused the connection: 4004 no card has room for .*: card 0 is unhealthy \(Xid 48\); card 1 is unhealthy/, 'no card left for a new client: refused, saying why');
    t.match(none.stderr, /CUDA_ERROR_NO_DEVICE/);

    host.nvidia!.cards[1]!.present = true;
    fixture.write(host);
    await eventually('card 1 healthy again', async () => ((await status()).compute.cards[1]?.health === 'healthy' ? true : undefined), PROMPT_MS);
    const back = await runJob(server, [driverApi, fatbin]);
    t.equal(back.code, 0, `a new client runs on the recovered card ${back.stderr}`);
    t.match(back.stdout, /^devices 1 driver \d+\ndevice 0: NVIDIA A100-SXM4-40GB,/m, 'card 1 only: the Xid on card 0 sticks');
    t.equal(await step(onCard1, 4), 'round 4 cuMemcpyHtoD(dx, hx, sizeof hx) CUDA_ERROR_DEVICE_UNAVAILABLE', 'a session poisoned stays so: its state on the card was lost');
    const doc = await status();
    t.match(doc.compute.cards, [{ health: 'unhealthy' }, { health: 'healthy', poisonedSessions: both }]);
    t.equal(daemon.child.exitCode, null, 'the daemon runs on');
  });

  t.test('the jobs end; their sessions are freed', async (t) => {
    onCard0.child.stdin!.end();
    onCard1.child.stdin!.end();
    t.equal(await onCard0.finished(), 0);
    t.equal(await onCard1.finished(), 0);
    const end = await eventually('no session left', async () => {
      const doc = await status();
      return doc.compute.sessions.length === 0 ? doc : undefined;
    }, PROMPT_MS);
    t.same(end.compute.cards.map((c) => c.committed), [0, 0]);
    t.match(end.compute.emulator, { contexts: 0, allocations: 0, modules: 0 }, 'a poisoned session is torn down like any other');
  });
});
