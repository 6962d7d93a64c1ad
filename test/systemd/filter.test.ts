// The unit's SystemCallFilter= on the real daemon: gpupoold --simulate starts, answers status and
// serves a CUDA job under the same allow-list systemd would load (systemd-analyze names its groups;
// test/helpers/seccomp-exec.ts loads it), and a list without `bind` stops it, so the filter is real.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';
import { DaemonProcess, runCli } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { buildProgram } from '../helpers/programs.js';

const unitText = readFileSync(join(packageRoot, 'systemd', 'gpupoold.service'), 'utf8');
const launcher = join(packageRoot, 'test', 'helpers', 'seccomp-exec.ts');
const work = mkdtempSync(join(tmpdir(), 'gpupool-filter-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** `systemd-analyze syscall-filter`: each @group and what it lists (calls and other groups). */
function syscallGroups(): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const raw of execFileSync('systemd-analyze', ['syscall-filter'], { encoding: 'utf8' }).split('\n')) {
    const line = raw.trim();
    if (line.startsWith('@') && !raw.startsWith(' ')) groups.set(line, (current = []));
    else if (line === '' || line.startsWith('#')) continue;
    else current?.push(line);
  }
  return groups;
}

function expand(entries: string[], groups: Map<string, string[]>, out = new Set<string>()): Set<string> {
  for (const e of entries) {
    if (!e.startsWith('@')) out.add(e);
    else if (!groups.has(e)) throw new Error(`unknown group ${e}`);
    else expand(groups.get(e)!, groups, out);
  }
  return out;
}

/** The calls the unit allows: its allow-lists (and @default, which systemd always permits) less its `~` lists. */
function unitAllowList(groups: Map<string, string[]>): Set<string> {
  const lines = [...unitText.matchAll(/^SystemCallFilter=(.*)$/gm)].map((m) => m[1]!.trim());
  const allow = expand(['@default', ...lines.filter((l) => !l.startsWith('~')).flatMap((l) => l.split(/\s+/))], groups);
  for (const deny of expand(lines.filter((l) => l.startsWith('~')).flatMap((l) => l.slice(1).split(/\s+/)), groups)) allow.delete(deny);
  return allow;
}

function writeList(name: string, calls: Set<string>): string {
  const path = join(work, name);
  writeFileSync(path, JSON.stringify([...calls]));
  return path;
}

const groups = syscallGroups();
const allowed = unitAllowList(groups);
const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
const config = writeConfig(fixture.dir, QUICK_CONFIG);

t.test('gpupoold --simulate starts, reports and serves a job under the unit\'s system call filter', async (t) => {
  t.ok(allowed.has('bind') && allowed.has('io_uring_setup') === expand(['@system-service'], groups).has('io_uring_setup'), 'the list is @system-service\'s');
  t.notOk(allowed.has('chroot') || allowed.has('setuid') || allowed.has('reboot'), '@privileged calls left out');
  const list = writeList('allowed.json', allowed);
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', config], {}, 60_000, undefined, [launcher, list, process.execPath]);
  t.teardown(() => daemon.stop());
  const status = await runCli(['status', '--host', daemon.url, '-o', 'json']);
  t.equal(status.code, 0, status.stderr);
  t.match(JSON.parse(status.stdout), { devices: [{}, {}, {}, {}], hosts: [{ ok: true, status: { compute: { available: true } } }] }, 'vendor libraries and compute up');
  const job = await runCli(['run', '--servers', daemon.url.replace(/^http/, 'ws'), '--', buildProgram('quota.c')]);
  t.equal(job.code, 0, `${job.stdout}${job.stderr}`);
  t.match(job.stdout, /^PASS$/m, 'a CUDA job ran through it');
  t.equal(await daemon.stop(), 0, 'and it stops cleanly');
});

t.test('negative control: without `bind` in the list the daemon cannot listen', async (t) => {
  const noBind = new Set(allowed);
  noBind.delete('bind');
  const list = writeList('no-bind.json', noBind);
  await t.rejects(DaemonProcess.start(['--simulate', fixture.path, '--config', config], {}, 60_000, undefined, [launcher, list, process.execPath]), /daemon exited/);
});
