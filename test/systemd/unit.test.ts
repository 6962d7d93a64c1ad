// systemd/gpupoold.service: systemd-analyze accepts it without a word, and it says what operations rely on.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

const unitText = readFileSync(join(packageRoot, 'systemd', 'gpupoold.service'), 'utf8');
const daemonBin = join(packageRoot, 'dist', 'cli', 'gpupoold.js');
const work = mkdtempSync(join(tmpdir(), 'gpupool-unit-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** `systemd-analyze verify` needs ExecStart= to exist, so point it at this checkout's build. */
function localCopy(text: string): string {
  return text.replace(/^ExecStart=.*$/m, `ExecStart=${daemonBin}`);
}

/** Writes the unit into its own folder (the file name must stay gpupoold.service) and runs `systemd-analyze VERB ... path` on it. */
async function analyze(text: string, ...verb: string[]): Promise<{ code: number | null; output: string }> {
  const dir = mkdtempSync(join(work, 'unit-'));
  const path = join(dir, 'gpupoold.service');
  writeFileSync(path, text);
  const child = spawn('systemd-analyze', [...verb, path], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_COLORS: '0' } });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

function verify(text: string): Promise<{ code: number | null; output: string }> {
  return analyze(text, 'verify');
}

/** `systemd-analyze security --offline=yes`: the unit's overall exposure (0 safest, 10 least safe), read from its last line. */
async function exposure(text: string): Promise<number> {
  const { code, output } = await analyze(text, 'security', '--offline=yes');
  const m = /Overall exposure level for gpupoold\.service: (\d+(?:\.\d+)?)/.exec(output);
  if (code !== 0 || !m) throw new Error(`systemd-analyze security failed (${code}): ${output}`);
  return Number(m[1]);
}

/** Every value of a directive in one section, in file order. */
function directive(section: string, key: string): string[] {
  const values: string[] = [];
  let current = '';
  for (const raw of unitText.split('\n')) {
    const line = raw.trim();
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1]!;
    else if (current === section && !line.startsWith('#')) {
      const eq = line.indexOf('=');
      if (eq > 0 && line.slice(0, eq).trim() === key) values.push(line.slice(eq + 1).trim());
    }
  }
  return values;
}

t.test('systemd-analyze verify: exit 0 and not a single warning', async (t) => {
  t.match(unitText, /^ExecStart=\/usr\/bin\/gpupoold$/m, 'the shipped unit runs the installed gpupoold');
  const copy = localCopy(unitText);
  t.match(copy, `ExecStart=${daemonBin}`, 'the copy runs this checkout');
  const { code, output } = await verify(copy);
  t.equal(code, 0);
  t.equal(output, '', 'systemd-analyze printed nothing');
});

t.test('negative control: a corrupted directive is reported, so the check can fail', async (t) => {
  const corrupted = localCopy(unitText).replace(/^DevicePolicy=closed$/m, 'DevicePolicy=bogus');
  t.not(corrupted, localCopy(unitText), 'the directive was replaced');
  const { code, output } = await verify(corrupted);
  t.equal(code, 0, 'systemd-analyze still exits 0 on a parse warning...');
  t.match(output, /DevicePolicy|device policy/i, '...but prints it, and that is what the check looks at');
  t.match(output, /bogus/);

  const typo = await verify(localCopy(unitText).replace(/^NoNewPrivileges=yes$/m, 'NoNewPrivilegs=yes'));
  t.match(typo.output, /NoNewPrivilegs/, 'an unknown directive is reported too');
});

t.test('service settings operations rely on', async (t) => {
  t.same(directive('Service', 'Type'), ['notify'], 'Type=notify: ready only after READY=1');
  t.same(directive('Service', 'NotifyAccess'), ['main']);
  t.equal(directive('Service', 'WatchdogSec').length, 1, 'WatchdogSec= set');
  t.match(directive('Service', 'WatchdogSec')[0], /^\d+s$/);
  t.same(directive('Service', 'Restart'), ['on-failure']);
  t.equal(directive('Service', 'ExecStart').length, 1);
  t.same(directive('Service', 'StateDirectory'), ['gpupool']);
  t.same(directive('Service', 'RuntimeDirectory'), ['gpupool']);
  t.same(directive('Service', 'ConfigurationDirectory'), ['gpupool']);
  t.same(directive('Install', 'WantedBy'), ['multi-user.target']);
});

t.test('hardening that keeps the cards reachable', async (t) => {
  t.same(directive('Service', 'NoNewPrivileges'), ['yes']);
  t.same(directive('Service', 'ProtectSystem'), ['strict']);
  t.same(directive('Service', 'ProtectHome'), ['yes']);
  t.same(directive('Service', 'PrivateTmp'), ['yes']);
  t.same(directive('Service', 'CapabilityBoundingSet'), [''], 'no capabilities');
  t.same(directive('Service', 'DevicePolicy'), ['closed']);
  const allowed = directive('Service', 'DeviceAllow');
  for (const group of ['char-nvidia*', 'char-kfd', 'char-drm', 'char-davinci*']) {
    t.ok(allowed.includes(`${group} rw`), `DeviceAllow=${group} rw`);
  }
  t.ok(allowed.every((a) => /^char-[\w*-]+ rw$/.test(a)), 'every DeviceAllow= is a char-<group> rw rule');
  t.same(directive('Service', 'PrivateDevices'), [], 'no PrivateDevices= (it would hide the cards)');
  t.notMatch(unitText, /^\s*PrivateDevices\s*=\s*(yes|true|1|on)/im);
  t.same(directive('Service', 'MemoryDenyWriteExecute'), [], "no MemoryDenyWriteExecute= (V8's JIT needs it off)");
});

t.test('least privilege: a dedicated user with the device groups, system calls filtered', async (t) => {
  t.same(directive('Service', 'User'), ['gpupool']);
  t.same(directive('Service', 'Group'), ['gpupool']);
  t.same(directive('Service', 'SupplementaryGroups'), ['video render'], "the groups /dev/kfd, the render nodes and NVIDIA's nodes belong to where set");
  t.same(directive('Service', 'SystemCallFilter'), ['@system-service', '~@privileged']);
  t.same(directive('Service', 'SystemCallErrorNumber'), ['EPERM'], 'a filtered call fails, it does not kill the daemon');
  t.same(directive('Service', 'ProcSubset'), [], 'no ProcSubset= (the vendor libraries read /proc/driver)');
  t.same(directive('Service', 'PrivateUsers'), [], 'no PrivateUsers= (it would unmap the device groups)');
  const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');
  t.match(readme, /useradd --system[^\n]* gpupool/, "README's install steps create the user");
  t.match(readme, /SupplementaryGroups=HwHiAiUser/, "and add Ascend's group where it exists");
});

t.test('ExecStartPre refuses a Node.js older than 24, and passes this one', async (t) => {
  const pre = directive('Service', 'ExecStartPre');
  t.equal(pre.length, 1);
  const m = /^\/usr\/bin\/env node -e "(.*)"$/.exec(pre[0]!);
  t.ok(m, 'runs node -e with a script');
  const run = (script: string) => spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  const [ok] = (await once(run(m![1]!), 'close')) as [number];
  t.equal(ok, 0, `Node ${process.version} passes`);
  const older = run(`Object.defineProperty(process.versions, 'node', { value: '20.19.0' }); ${m![1]!}`);
  let said = '';
  older.stderr!.on('data', (d: Buffer) => (said += d.toString()));
  const [code] = (await once(older, 'close')) as [number];
  t.equal(code, 1, 'Node 20 is refused');
  t.match(said, /needs Node\.js 24 or later/);
});

t.test('systemd-analyze security --offline: the exposure docs/operations.md records, at most', async (t) => {
  const ops = readFileSync(join(packageRoot, 'docs', 'operations.md'), 'utf8');
  const recorded = /`systemd-analyze security` rates the unit's exposure (\d+\.\d)/.exec(ops);
  t.ok(recorded, 'docs/operations.md records the score');
  const score = await exposure(localCopy(unitText));
  t.ok(score <= Number(recorded![1]), `exposure ${score} <= ${recorded![1]}`);
  // Negative control: the same unit as root and unfiltered scores worse, so the figure measures them.
  const loose = localCopy(unitText).replace(/^(User|Group|SupplementaryGroups|SystemCallFilter)=.*$/gm, '');
  t.ok((await exposure(loose)) > score, 'as root without a system call filter the exposure is higher');
});
