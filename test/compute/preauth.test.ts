/**
 * Memory before authentication (docs/security.md, "Limits before authentication"): a client that has not
 * had its HELLO accepted may send a HELLO's worth of bytes (`auth.maxHelloBytes`) and no more. Huge
 * unauthenticated first messages, from a real `gpupool daemon --simulate --tokens` as a process, its RSS
 * read from /proc; a valid tenant gets in alongside.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { DaemonProcess, rssBytes as rss } from '../helpers/daemon-process.js';
import { QUICK_CONFIG, writeConfig } from '../helpers/integration.js';
import { frameHeader, handshake, rawConnection, rawUpgrade, refused, welcomed } from '../helpers/raw-client.js';

const MiB = 1024 * 1024;

const fixture = new FixtureFile(mixedHost());
t.teardown(() => fixture.remove());
const token = newToken();
const tokens = join(fixture.dir, 'tokens');
writeFileSync(tokens, `${tokenLine('alice', token)}\n`, { mode: 0o600 });

const daemon = await DaemonProcess.start(['--simulate', fixture.path, '--config', writeConfig(fixture.dir, { ...QUICK_CONFIG, auth: { tokens } }, 'preauth.json')]);
t.teardown(() => daemon.stop());
const server = daemon.url.replace(/^http/, 'ws');

t.test('huge unauthenticated first messages are cut after a HELLO\'s worth; the daemon keeps no memory for them', async (t) => {
  const pid = daemon.child.pid!;
  const before = rss(pid);
  const announced = 512 * MiB;
  const chunk = Buffer.alloc(MiB);
  let peak = before;
  // Three connections, each announcing a 512 MiB first message and streaming it (at most 256 MiB each
  // here: enough to grow a daemon that buffers it far past the bound below).
  const sent = await Promise.all(
    [0, 1, 2].map(async () => {
      const c = rawConnection(daemon.url);
      t.ok(await rawUpgrade(c.socket), 'the upgrade is answered');
      let open = true;
      void c.closed.then(() => (open = false));
      let reply = Buffer.alloc(0);
      c.socket.on('data', (d: Buffer) => (reply = Buffer.concat([reply, d])));
      c.socket.write(frameHeader(announced));
      let n = 0;
      while (open && n < 256 * MiB) {
        if (!c.socket.write(chunk)) await Promise.race([new Promise((r) => c.socket.once('drain', r)), c.closed]);
        n += chunk.length;
        peak = Math.max(peak, rss(pid));
      }
      const lasted = open;
      c.socket.destroy();
      await c.closed;
      return { n, lasted, reply };
    }),
  );
  for (const s of sent) {
    t.notOk(s.lasted, `the daemon closed the connection (after the client had written ${s.n / MiB} MiB into its socket)`);
    // A close frame: 0x88, its length, then the code 1009 and the reason.
    t.equal(s.reply[0], 0x88, 'with a close frame');
    t.equal(s.reply.readUInt16BE(2), 1009, 'code 1009 (message too big)');
    t.match(s.reply.subarray(4).toString(), /more than 16384 bytes before HELLO was accepted/);
  }
  await new Promise((r) => setTimeout(r, 500));
  peak = Math.max(peak, rss(pid));
  const after = rss(pid);
  t.ok(peak - before < 100 * MiB, `RSS grew ${((peak - before) / MiB).toFixed(0)} MiB at its peak (bound 100 MiB)`);
  t.ok(after - before < 100 * MiB, `and is ${((after - before) / MiB).toFixed(0)} MiB above where it started after`);
  t.equal(daemon.logs.filter((l) => l.msg === 'handshake refused: more than a HELLO before authentication').length, 3, 'each logged once');
  t.ok(await welcomed(server, token), 'a valid tenant gets in meanwhile');
});

t.test('a HELLO over auth.maxHelloBytes is refused, and so are out-of-range values; one under it, with a token, opens a session', async (t) => {
  t.same(await refused(server, token, { hello: { program: 'p'.repeat(17_000) } }), { code: 1009, reason: 'more than 16384 bytes before HELLO was accepted' });
  t.match(await refused(server, token, { hello: { cuda: -1 } }), { code: 4002, reason: /HELLO's cuda -1 is not a whole number/ }, 'cuda -1: 4002');
  t.match(await refused(server, token, { hello: { pid: -5 } }), { code: 4002, reason: /HELLO's pid -5 is not a whole number/ }, 'pid -5: 4002');
  const ok = await handshake(server, token, { hello: { program: 'p'.repeat(3000) } });
  t.ok(ok.welcome, 'a 3000-byte program name fits');
  if (ok.welcome) ok.ws.close();
});
