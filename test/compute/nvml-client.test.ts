/**
 * NVML inside a job (issue 10, item 4): `gpupool run` puts the client side of NVML
 * (build/native/shim/libnvidia-ml.so.1) in the job's library path. From C and from Python's ctypes (as
 * PyTorch loads it), NVML lists exactly the job's cards, in its device order, with the cards' names and
 * UUIDs and the job's quota as total memory: on a host without NVML, and on one whose NVML (the fake,
 * reporting the whole 80 GiB card) would say otherwise. torch.cuda.device_count() agrees.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { fakeLibraryDir, packageRoot } from '../../src/paths.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildProgram } from '../helpers/programs.js';

const QUOTA = 512 * 1024 ** 2;
const list = buildProgram('nvml_list.c');
const PYTHON = join(process.env.GPUPOOL_TORCH_VENV ?? join(packageRoot, '.venv-torch'), 'bin', 'python');
const SCRIPT = join(packageRoot, 'test', 'pytorch', 'nvml_job.py');

t.setTimeout(240_000);

t.test('NVML in the job: the job\'s cards, its quota as their memory', async (t) => {
  const host = mixedHost();
  const fixture = new FixtureFile(host);
  t.teardown(() => fixture.remove());
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, QUICK_CONFIG)], {}, 60_000);
  t.teardown(() => daemon.stop());
  const server = daemon.url.replace(/^http/, 'ws');
  const cards = host.nvidia!.cards;

  // Both NVIDIA cards of the daemon; the host's own NVML (the fake, on the fixture) later on the path.
  for (const [what, env] of [
    ['a host without NVML', {}],
    ["a host whose NVML reports the whole cards", { LD_LIBRARY_PATH: fakeLibraryDir, GPUPOOL_SIM_FIXTURE: fixture.path }],
  ] as const) {
    const run = await runCli(['run', '--servers', server, '--gpus', 'all', '--mem', String(QUOTA), '--', list], env);
    t.equal(run.code, 0, `${what}: the C program exits 0\n${run.stdout}${run.stderr}`);
    t.match(run.stdout, /^count 2$/m, `${what}: two cards, the job's`);
    for (const [i, card] of cards.slice(0, 2).entries()) {
      t.match(run.stdout, new RegExp(`^nvml ${i} ${card.name} ${card.uuid} total ${QUOTA} used 0$`, 'm'), `${what}: card ${i}, its name and UUID, the quota as total`);
      // The serving daemon's own figures (its NVML reads the fixture), NVML's units: percent, °C, mW.
      const figures = `figures ${i} utilization ${card.utilization}/${card.memoryUtilization} temperature ${card.temperature} power ${Math.round(card.power! * 1000)}`;
      t.ok(run.stdout.split('\n').includes(figures), `${what}: card ${i}'s utilization, temperature and power from its daemon (${figures})`);
    }
  }

  // One card, through ctypes; torch's own NVML count and its CUDA count agree; used memory is the job's.
  t.ok(existsSync(PYTHON), 'the PyTorch venv exists (.ci/torch-venv)');
  if (!existsSync(PYTHON)) return;
  const py = await runCli(['run', '--servers', server, '--mem', String(QUOTA), '--', PYTHON, SCRIPT, 'torch'], { LD_LIBRARY_PATH: fakeLibraryDir, GPUPOOL_SIM_FIXTURE: fixture.path });
  t.equal(py.code, 0, `python exits 0\n${py.stderr.slice(-2000)}`);
  const facts = JSON.parse(py.stdout.trim().split('\n').pop()!) as {
    count: number;
    devices: { name: string; uuid: string; total: number; used: number; processes: number[]; figures_rc: number[]; utilization: number[]; temperature: number; power_mw: number }[];
    torch_nvml_count: number;
    torch_count: number;
    holding: { used: number; processes: number[] }[];
    pid: number;
  };
  t.equal(facts.count, 1, 'ctypes: one card');
  t.equal(facts.devices[0]?.total, QUOTA, 'ctypes: the quota as total');
  const card = cards.find((c) => c.uuid === facts.devices[0]?.uuid)!; // the card placement gave the job
  t.ok(card, 'ctypes: the card is one of the daemon\'s');
  t.match(facts.devices[0], { figures_rc: [0, 0, 0], utilization: [card.utilization, card.memoryUtilization], temperature: card.temperature, power_mw: Math.round(card.power! * 1000) }, "ctypes: utilization, temperature and power from the card's daemon");
  t.equal(facts.torch_nvml_count, 1, "torch's NVML count agrees");
  t.equal(facts.torch_count, 1, 'torch.cuda.device_count() agrees');
  t.ok((facts.holding[0]?.used ?? 0) >= 4 << 20, 'used memory: what the job holds after allocating a tensor');
  t.same(facts.holding[0]?.processes, [facts.pid], "processes: the job's own");
});
