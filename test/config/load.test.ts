import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { defaultConfig } from '../../src/config/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'gpupool-config-'));
function file(content: unknown): string {
  const path = join(dir, `c${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

t.test('defaults alone are valid', async (t) => {
  t.same(loadConfig({}), defaultConfig());
});

t.test('file, then environment, then flags: the later source wins key by key', async (t) => {
  const path = file({ listen: '0.0.0.0:1', logLevel: 'debug', vendors: { libraryPath: ['/a'], initTimeoutMs: 500 } });
  const config = loadConfig({
    file: path,
    env: { GPUPOOL_LISTEN: '127.0.0.1:2', GPUPOOL_LIBRARY_PATH: '/b::/c', GPUPOOL_VENDORS: 'nvidia, amd' },
    flags: { listen: '127.0.0.1:3' },
  });
  t.equal(config.listen, '127.0.0.1:3');
  t.equal(config.logLevel, 'debug');
  t.same(config.vendors, { enabled: ['nvidia', 'amd'], libraryPath: ['/b', '/c'], systemLibraries: true, initTimeoutMs: 500, probeInit: true });
  t.equal(loadConfig({ env: { GPUPOOL_CONFIG: path } }).listen, '0.0.0.0:1', 'GPUPOOL_CONFIG names the file');
});

t.test('errors name the source and the bad key', async (t) => {
  t.throws(() => loadConfig({ file: file({ vendors: { bogus: 1 } }) }), {
    code: 'GPUPOOL_CONFIG_INVALID',
    message: /config file .*: vendors\.bogus is not a known setting/,
    details: { keys: ['vendors.bogus'] },
  });
  t.throws(() => loadConfig({ file: file({ sampling: { intervalMs: 5 } }) }), { message: /sampling\.intervalMs must be >= 100/ });
  t.throws(() => loadConfig({ file: file({ logLevel: 'loud' }) }), { message: /logLevel must be one of "fatal"/ });
  t.throws(() => loadConfig({ file: file('{ not json') }), { code: 'GPUPOOL_CONFIG_INVALID', message: /not valid JSON/ });
  t.throws(() => loadConfig({ file: join(dir, 'missing.json') }), { code: 'GPUPOOL_CONFIG_UNREADABLE', message: /missing\.json: ENOENT/ });
  t.throws(() => loadConfig({ env: { GPUPOOL_SAMPLE_INTERVAL_MS: 'abc' } }), { message: /^environment GPUPOOL_SAMPLE_INTERVAL_MS: / });
  t.throws(() => loadConfig({ env: { GPUPOOL_VENDORS: 'nvidia,intel' } }), { message: /^environment GPUPOOL_VENDORS: vendors\.enabled\.1 must be one of/ });
  t.throws(() => loadConfig({ flags: { listen: 'nowhere' } }), { message: /^listen: expected HOST:PORT/ });
  t.throws(() => loadConfig({ flags: { simulate: '' } }), { message: /^command line: simulate/ });
});

t.test('statusListen and tls: what goes together', async (t) => {
  t.equal(loadConfig({ flags: { statusListen: '0.0.0.0:9400' } }).statusListen, '0.0.0.0:9400');
  t.throws(() => loadConfig({ flags: { statusListen: 'nowhere' } }), { code: 'GPUPOOL_CONFIG_INVALID', message: /^statusListen: expected HOST:PORT/ });
  t.throws(() => loadConfig({ flags: { listen: '127.0.0.1:7760', statusListen: '127.0.0.1:7760' } }), { message: /^statusListen: "127\.0\.0\.1:7760" is the listen address itself/ });
  t.doesNotThrow(() => loadConfig({ flags: { listen: '127.0.0.1:0', statusListen: '127.0.0.1:0' } }), 'two ports the kernel picks are two addresses');
  t.throws(() => loadConfig({ flags: { tls: { cert: 'c.pem' } } }), { message: /^tls\.key: tls\.cert and tls\.key go together/ });
  t.throws(() => loadConfig({ flags: { tls: { key: 'k.pem' } } }), { message: /^tls\.cert: tls\.cert and tls\.key go together/ });
  t.throws(() => loadConfig({ flags: { tls: { clientCa: 'ca.pem' } } }), { message: /^tls\.clientCa: client certificates need TLS/ });
  t.throws(() => loadConfig({ file: file({ tls: { cert: 'c.pem', key: 'k.pem', ca: 'x' } }) }), { message: /tls\.ca is not a known setting/ });
  t.throws(() => loadConfig({ file: file({ auth: { helloTimeoutMs: 10 } }) }), { message: /auth\.helloTimeoutMs must be >= 100/ });
});

t.test('sharing: scheduler settings and schedule windows are checked', async (t) => {
  const windows = [{ class: 'low', from: '22:00', to: '06:00', days: ['fri', 'sat'], as: 'high' }];
  const config = loadConfig({ file: file({ sharing: { sliceMs: 2, defaultShare: 0.1, windows } }) });
  t.same(config.sharing.windows, windows);
  t.equal(config.sharing.sliceMs, 2);
  t.equal(config.sharing.paceDepth, defaultConfig().sharing.paceDepth, 'unset keys keep their defaults');
  t.throws(() => loadConfig({ file: file({ sharing: { windows: [{ class: 'low', from: '25:00', to: '06:00', as: 'high' }] } }) }), { message: /sharing\.windows\.0\.from must match pattern/ });
  t.throws(() => loadConfig({ file: file({ sharing: { windows: [{ class: 'batch', from: '22:00', to: '06:00', as: 'high' }] } }) }), { message: /sharing\.windows\.0\.class must be one of/ });
  t.throws(() => loadConfig({ file: file({ sharing: { defaultShare: 0 } }) }), { message: /sharing\.defaultShare must be >= 0\.01/ });
  t.throws(() => loadConfig({ file: file({ sharing: { defaultShare: 1e-300 } }) }), { message: /sharing\.defaultShare must be >= 0\.01/ }, 'under the minimum share');
  t.throws(() => loadConfig({ file: file({ sharing: { tenantMaxMemory: 'lots' } }) }), { message: /sharing\.tenantMaxMemory/ });
});

t.test('compute.clientGraceMs: two ping intervals by default, and never at or below one', async (t) => {
  t.equal(defaultConfig().compute.clientGraceMs, null, 'null: two ping intervals');
  const config = loadConfig({ file: file({ compute: { pingIntervalMs: 500, clientGraceMs: 1500 } }) });
  t.equal(config.compute.clientGraceMs, 1500);
  t.throws(() => loadConfig({ file: file({ compute: { pingIntervalMs: 500, clientGraceMs: 500 } }) }), {
    code: 'GPUPOOL_CONFIG_INVALID',
    message: /compute\.clientGraceMs \(500\) must be more than compute\.pingIntervalMs \(500\)/,
    details: { keys: ['compute.clientGraceMs'] },
  });
  t.throws(() => loadConfig({ file: file({ vendors: { probeInit: 'yes' } }) }), { message: /vendors\.probeInit must be boolean/ });
});
