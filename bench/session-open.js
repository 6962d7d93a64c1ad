/**
 * What a session costs to open, its sessions run as threads of the daemon (`compute.sessionProcess:
 * "thread"`) or each in a worker process of its own (`"process"`, docs/architecture.md), started for
 * it (`compute.workerPoolSize: 0`) or taken from the pool of idle workers (the default, 2): one daemon
 * of each kind on the emulated driver, then, one session after the other (`--gap` ms apart), connect,
 * HELLO, WELCOME, the first call (cuDevicePrimaryCtxRetain, which in process mode waits for the
 * worker to start and open the driver unless a pooled one had), and the close. Prints the medians and
 * the 90th percentiles of the handshake and of the first call, per mode, and the daemon's CPU time per
 * session (the pool's refills included).
 *
 *   node bench/session-open.js [--sessions N] [--gap MS]   (default 40, 0; results in docs/benchmarks.md, issue 13)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ProtocolClient, helloMessage, loadOpTable } from '../dist/protocol/client.js';
import { Daemon, cpuMs, quantile } from './daemon.js';

const args = process.argv.slice(2);
const at = args.indexOf('--sessions');
const SESSIONS = at >= 0 ? Number(args[at + 1]) : 40;
if (!(SESSIONS > 0)) throw new Error('--sessions takes a positive count');
const gapAt = args.indexOf('--gap');
const GAP_MS = gapAt >= 0 ? Number(args[gapAt + 1]) : 0;
if (!(GAP_MS >= 0)) throw new Error('--gap takes milliseconds (0 or more)');

const ops = loadOpTable();
const retain = ops.code('cuDevicePrimaryCtxRetain_v7000');

async function measure(mode, compute) {
  const dir = mkdtempSync(join(tmpdir(), 'gpupool-bench-open-'));
  const daemon = await Daemon.start({}, dir, { compute });
  const server = `${daemon.server}/v1/compute`;
  const handshake = [];
  const firstCall = [];
  try {
    // One session first, not counted: the daemon's own first-time costs (JIT, the driver's load).
    await openOne(server, [], []);
    const cpuBefore = cpuMs(daemon.child.pid);
    for (let i = 0; i < SESSIONS; i++) {
      if (GAP_MS > 0) await new Promise((r) => setTimeout(r, GAP_MS));
      await openOne(server, handshake, firstCall);
    }
    const cpuPerSession = (cpuMs(daemon.child.pid) - cpuBefore) / SESSIONS;
    return { mode, handshake, firstCall, cpuPerSession };
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function openOne(server, handshake, firstCall) {
  const t0 = performance.now();
  const { client } = await ProtocolClient.connect(server, helloMessage({ digest: ops.digest, program: 'session-open' }));
  const t1 = performance.now();
  const r = await client.call(retain, 0, true, 0);
  const t2 = performance.now();
  if (r.rc !== 0) throw new Error(`cuDevicePrimaryCtxRetain failed: ${r.rc}`);
  handshake.push(t1 - t0);
  firstCall.push(t2 - t1);
  client.ws.close(1000);
  await client.closed;
}

const ms = (v) => `${v.toFixed(2)} ms`;
console.log(`${SESSIONS} sessions per mode, one after the other (${GAP_MS} ms apart), emulated driver; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
const MODES = [
  ['thread', { sessionProcess: 'thread' }],
  ['process, no pool', { sessionProcess: 'process', workerPoolSize: 0 }],
  ['process, pool of 2', { sessionProcess: 'process', workerPoolSize: 2 }],
];
for (const [mode, compute] of MODES) {
  const r = await measure(mode, compute);
  const open = r.handshake.map((h, i) => h + r.firstCall[i]);
  console.log(
    `${mode.padEnd(18)}  handshake median ${ms(quantile(r.handshake, 0.5))} p90 ${ms(quantile(r.handshake, 0.9))}` +
      `  first call median ${ms(quantile(r.firstCall, 0.5))} p90 ${ms(quantile(r.firstCall, 0.9))}` +
      `  open (both) median ${ms(quantile(open, 0.5))}  daemon CPU per session ${ms(r.cpuPerSession)}`,
  );
}
