/**
 * The local transport (issue 13): jobs on the daemon's host reach it through a Unix socket, found
 * without GPUPOOL_SERVERS. On a real `gpupool daemon --simulate` serving a socket in a temp folder
 * (GPUPOOL_LOCAL_SOCKET names it to the client library, as docs/operations.md says):
 * - an unmodified driver-API program with no GPUPOOL_SERVERS runs there, every byte checked;
 * - status shows the session's transport `unix`, read natively, with the peer's pid and uid as the
 *   kernel recorded them, and the socket's mode as configured;
 * - connections before their HELLO are counted one by one per uid: several at once leave no count
 *   behind (all local connections share an empty address, which once made them one);
 * - with a token file, the socket asks for a token as TCP does;
 * - a stale socket (its daemon died) is replaced; one a live daemon serves is never taken;
 * - `gpupool run` with no --servers hands the job the local socket.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import type { SessionInfo } from '../../src/compute/endpoint.js';
import { clientLibraryDir } from '../../src/paths.js';
import { ProtocolClient, helloMessage, loadOpTable } from '../../src/protocol/client.js';
import { CLI, DaemonProcess, runCli, runProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, eventually, writeConfig } from '../helpers/integration.js';
import { buildProgram } from '../helpers/programs.js';

const ops = loadOpTable();
const dir = mkdtempSync(join(tmpdir(), 'gpupool-local-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());

async function startDaemon(socket: string, config: object = QUICK_CONFIG): Promise<DaemonProcess> {
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(dir, config, `gpupoold-${Date.now()}.json`), '--local-socket', socket]);
  t.teardown(() => daemon.stop());
  return daemon;
}

/** The job's environment with no GPUPOOL_SERVERS at all: the client library must find the socket itself. */
function localEnv(socket: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LD_LIBRARY_PATH: clientLibraryDir, GPUPOOL_LOCAL_SOCKET: socket };
  delete env.GPUPOOL_SERVERS;
  return env;
}

const socket = join(dir, 'gpupool.sock');
const daemon = await startDaemon(socket, { ...QUICK_CONFIG, localSocket: { mode: '0660' } });

async function sessions(): Promise<SessionInfo[]> {
  return ((await (await fetch(`${daemon.url}/v1/status`)).json()) as { compute: { sessions: SessionInfo[] } }).compute.sessions;
}

t.test('a job with no GPUPOOL_SERVERS runs on the local daemon through its socket, every byte checked', async (t) => {
  const program = buildProgram('large_copies.c');
  const result = await runProcess(program, ['1', '3s'], localEnv(socket));
  t.equal(result.code, 0, 'the program passed', { output: (result.stdout + result.stderr).slice(-3000) });
  t.match(result.stdout, /^PASS$/m);
  const line = daemon.logs.find((l) => l.msg === 'client connected' && String(l.program).includes('large_copies'));
  t.match(String(line?.peer), /^unix:pid=\d+,uid=\d+$/, 'the session is logged with the peer\'s pid and uid');
});

t.test('status shows the unix transport, read natively, with the kernel\'s record of the peer', async (t) => {
  const { client } = await ProtocolClient.connect(`ws+unix://${socket}:/v1/compute`, helloMessage({ digest: ops.digest, program: 'unix-status' }));
  t.teardown(() => client.ws.terminate());
  // A call answered means the session runs (and, native, has its connection).
  const ctx = await client.call(ops.code('cuDevicePrimaryCtxRetain_v7000'), 0, true, 0);
  t.equal(ctx.rc, 0, 'a call over the Unix socket is answered');
  const mine = (await sessions()).find((s) => s.program === 'unix-status');
  t.same(mine?.transport, { socket: 'unix', reader: 'native' }, 'transport: unix, read and written by the session');
  t.equal(mine?.credentials?.pid, process.pid, 'SO_PEERCRED: this process');
  t.equal(mine?.credentials?.uid, process.getuid!(), 'SO_PEERCRED: this uid');
  t.equal(statSync(socket).mode & 0o777, 0o660, 'the socket file has the configured mode');
  const status = (await (await fetch(`${daemon.url}/v1/status`)).json()) as { daemon: { localSocket: string | null } };
  t.equal(status.daemon.localSocket, socket, 'status names the socket');
});

t.test('gpupool run with no --servers gives the job the local socket', async (t) => {
  const result = await runCli(['run', '--', 'sh', '-c', 'echo "servers=$GPUPOOL_SERVERS"'], { GPUPOOL_LOCAL_SOCKET: socket, GPUPOOL_SERVERS: undefined });
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, `servers=unix://${socket}`);
});

t.test('a stale socket is replaced; a live one is never taken', async (t) => {
  // A socket file no daemon answers on: what a daemon killed with SIGKILL leaves behind.
  const stale = join(dir, 'stale.sock');
  const holder = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(holder.stdout, 'data');
  holder.kill('SIGKILL');
  await once(holder, 'exit');
  t.ok(statSync(stale).isSocket(), 'a leftover socket file is there');
  const second = await startDaemon(stale);
  t.ok(second.logs.some((l) => l.msg === 'listening' && l.localSocket === stale), 'the daemon serves the stale path');
  const taken = spawn(process.execPath, [CLI, 'daemon', '--simulate', fixture.path, '--listen', '127.0.0.1:0', '--local-socket', socket], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  taken.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(taken, 'exit')) as [number | null];
  t.not(code, 0, 'a daemon asked for a path another daemon serves exits');
  t.match(out, /GPUPOOL_LISTEN_FAILED/, 'with LISTEN_FAILED');
  t.match(out, /another daemon serves it/, 'saying why');
  t.ok(statSync(socket).isSocket(), 'the first daemon keeps its socket');
});

t.test('with a token file the local socket asks for a token, as TCP does', async (t) => {
  const token = newToken();
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, `${tokenLine('alice', token)}\n`, { mode: 0o600 });
  const guarded = join(dir, 'guarded.sock');
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(dir, QUICK_CONFIG, 'guarded.json'), '--local-socket', guarded, '--tokens', tokens]);
  t.teardown(() => daemon.stop());
  const program = buildProgram('large_copies.c');
  const without = await runProcess(program, ['1'], localEnv(guarded));
  t.not(without.code, 0, 'a job with no token is refused');
  t.match(without.stderr, /refused the connection/, without.stderr);
  const withToken = await runProcess(program, ['1'], { ...localEnv(guarded), GPUPOOL_TOKEN: token });
  t.equal(withToken.code, 0, 'a job with the token runs', { output: withToken.stderr.slice(-2000) });
  const line = daemon.logs.find((l) => l.msg === 'client connected');
  t.equal(line?.tenant, 'alice', 'as the token\'s tenant');
});

t.test('connections before their HELLO are counted one by one: several at once leave nothing behind', async (t) => {
  const counted = join(dir, 'counted.sock');
  const config = { ...QUICK_CONFIG, auth: { maxPendingPerAddress: 2 } };
  const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(dir, config, 'counted.json'), '--local-socket', counted]);
  t.teardown(() => daemon.stop());
  for (let round = 0; round < 3; round++) {
    // Two silent connections at once (the limit), then both go. A round may start before the daemon
    // has seen the last one's connections end: such a connection is refused, which is the guard
    // working, not a count left behind. Each socket's end is awaited from its start, so one the
    // daemon closed first is not waited for forever.
    const pair = [connect(counted), connect(counted)];
    const closed = pair.map((s) => once(s, 'close'));
    pair.forEach((s) => s.on('error', () => {}));
    await Promise.all(pair.map((s) => Promise.race([once(s, 'connect'), once(s, 'close')])));
    await new Promise((r) => setTimeout(r, 100));
    for (const s of pair) s.destroy();
    await Promise.all(closed);
  }
  // A count left behind stays for ever (the old bug): a job is then refused however long it waits.
  const program = buildProgram('large_copies.c');
  const run = await eventually('a job gets in after them', async () => {
    const r = await runProcess(program, ['1'], localEnv(counted));
    return r.code === 0 ? r : undefined;
  }, 10_000, 250);
  t.equal(run.code, 0, 'a job still gets in after them');
});
