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

/** Writes the unit into its own folder (the file name must stay gpupoold.service) and verifies it. */
async function verify(text: string): Promise<{ code: number | null; output: string }> {
  const dir = mkdtempSync(join(work, 'unit-'));
  const path = join(dir, 'gpupoold.service');
  writeFileSync(path, text);
  const child = spawn('systemd-analyze', ['verify', path], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
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
