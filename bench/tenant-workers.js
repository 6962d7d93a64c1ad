/**
 * What a tenant's many sessions cost with a worker per session (`compute.workerScope: "session"`)
 * and with one worker per tenant (`"tenant"`, docs/architecture.md, "Workers by tenant"): one daemon
 * of each scope on the emulated driver (its pool of 2 idle workers, the default), one tenant (a token)
 * opening N sessions that stay open together, one after the other: connect, HELLO, WELCOME, the first
 * call (cuDevicePrimaryCtxRetain, a context on card 0). Prints the medians and 90th percentiles of
 * opening a session (handshake and first call), the worker processes the N sessions hold and their
 * resident memory together (VmRSS), and the daemon's CPU time per session.
 *
 *   node bench/tenant-workers.js [--sessions N]   (default 16)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { newToken, tokenLine } from '../dist/auth/tokens.js';
import { ProtocolClient, helloMessage, loadOpTable } from '../dist/protocol/client.js';
import { Daemon, cpuMs, quantile } from './daemon.js';

const args = process.argv.slice(2);
const at = args.indexOf('--sessions');
const SESSIONS = at >= 0 ? Number(args[at + 1]) : 16;
if (!(SESSIONS > 0)) throw new Error('--sessions takes a positive count');

const ops = loadOpTable();
const retain = ops.code('cuDevicePrimaryCtxRetain_v7000');

/** The process's resident memory, in bytes (/proc/PID/status, VmRSS). */
function rssBytes(pid) {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kib ?? 0) * 1024;
}

async function measure(scope) {
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-bench-tenant-'));
  const token = newToken();
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, `${tokenLine('bench', token)}\n`, { mode: 0o600 });
  // A small quota each: the tenant's sessions together stay under its memory limit (sharing.tenantMaxMemory).
  const daemon = await Daemon.start({}, dir, { auth: { tokens }, sharing: { defaultQuota: '1GiB' }, compute: { sessionProcess: 'process', workerScope: scope } });
  const server = `${daemon.server}/v1/compute`;
  const open = [];
  const clients = [];
  try {
    const cpuBefore = cpuMs(daemon.child.pid);
    for (let i = 0; i < SESSIONS; i++) {
      const t0 = performance.now();
      const { client } = await ProtocolClient.connect(server, helloMessage({ digest: ops.digest, program: 'tenant-workers', token }));
      const r = await client.call(retain, 0, true, 0);
      open.push(performance.now() - t0);
      if (r.rc !== 0) throw new Error(`cuDevicePrimaryCtxRetain failed: ${r.rc}`);
      clients.push(client);
    }
    const cpuPerSession = (cpuMs(daemon.child.pid) - cpuBefore) / SESSIONS;
    const sessions = (await daemon.status()).compute.sessions;
    const pids = [...new Set(sessions.map((s) => s.workerPid))];
    const rss = pids.reduce((sum, pid) => sum + rssBytes(pid), 0);
    return { scope, open, workers: pids.length, rss, cpuPerSession };
  } finally {
    for (const c of clients) c.ws.close(1000);
    await Promise.all(clients.map((c) => c.closed));
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const ms = (v) => `${v.toFixed(2)} ms`;
console.log(`${SESSIONS} sessions of one tenant held open together, per scope, emulated driver; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
for (const scope of ['session', 'tenant']) {
  const r = await measure(scope);
  console.log(
    `${scope.padEnd(8)}  open median ${ms(quantile(r.open, 0.5))} p90 ${ms(quantile(r.open, 0.9))}` +
      `  workers ${r.workers}  their RSS ${(r.rss / 2 ** 20).toFixed(1)} MiB (${(r.rss / 2 ** 20 / SESSIONS).toFixed(2)} MiB per session)` +
      `  daemon CPU per session ${ms(r.cpuPerSession)}`,
  );
}
