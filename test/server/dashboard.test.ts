/**
 * The pool dashboard in a real headless Chromium (Debian's, driven by playwright-core): two simulated
 * daemons in one pool, clients running card_load on them, the page clicked through, its figures held
 * against /v1/status, a live update seen arriving, and screenshots of its main views
 * (docs/img/dashboard-*.png, rewritten only with UPDATE_SCREENSHOTS=1; the test compares the views'
 * structure with test/server/dashboard-views.json, not pixels).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Page } from 'playwright-core';
import { newToken, tokenLine } from '../../src/auth/tokens.js';
import { packageRoot } from '../../src/paths.js';
import type { PoolDocument } from '../../src/server/pool.js';
import type { StatusDocument } from '../../src/server/status.js';
import { launchChromium } from '../helpers/browser.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { FixtureFile, mixedHost } from '../helpers/fixture.js';
import { QUICK_CONFIG, eventually, writeConfig } from '../helpers/integration.js';
import { HeldJob } from '../helpers/job.js';
import { buildFatbin, buildProgram } from '../helpers/programs.js';

const UPDATE = process.env.UPDATE_SCREENSHOTS === '1';
const VIEWS = join(packageRoot, 'test', 'server', 'dashboard-views.json');
const IMG = join(packageRoot, 'docs', 'img');
/** A program whose name is markup: the page must show it as text. */
const HOSTILE_NAME = '<img src=x onerror=window.__xss=1>';
/** Batches of 10 ms of device time: busy cards, yet few round trips for a loaded CI machine. */
const TRAIN = ['train', '120', '2000', '5'];

async function json<T>(url: string): Promise<T> {
  return (await (await fetch(url)).json()) as T;
}

const MiB = 1024 * 1024;
/** A daemon's start, on a machine loaded by a browser and other tests. */
const START_MS = 60_000;

/**
 * A card_load job held until go, through `gpupool run`, holding `hold` bytes of device memory;
 * `program` may be a copy of card_load by another name.
 */
function loadJob(server: string, options: string[], hold: number, program = buildProgram('card_load.c')): HeldJob {
  const job = new HeldJob(['run', '--servers', server, ...options, '--', program, buildFatbin(), ...TRAIN], {
    GPUPOOL_LOAD_WAIT: '1',
    GPUPOOL_LOAD_DEVICE: '0',
    GPUPOOL_LOAD_HOLD: String(hold),
  });
  t.teardown(() => job.kill());
  return job;
}

/** What a view shows, as counts and names: what the stored screenshot is compared by. */
async function structure(page: Page): Promise<Record<string, unknown>> {
  const q = (s: string) => page.locator(s).count();
  const detail = page.locator('section.detail');
  return {
    hosts: await q('section.host'),
    cards: await q('article.card'),
    selectedCards: await q('article.card.selected'),
    clientRows: await q('tr.client'),
    detail: (await detail.count()) ? await detail.getAttribute('id') : null,
    charts: await page.locator('figure.chart-block').evaluateAll((figures) => figures.map((f) => f.getAttribute('data-chart'))),
    sparklines: await q('svg.spark'),
  };
}

async function shoot(t: Test, page: Page, name: string, views: Record<string, unknown>): Promise<void> {
  const shape = await structure(page);
  const file = join(IMG, `dashboard-${name}.png`);
  if (UPDATE) {
    mkdirSync(IMG, { recursive: true });
    await page.screenshot({ path: file, fullPage: true });
    views[name] = shape;
    return;
  }
  t.same(shape, views[name], `the ${name} view has the structure of its stored screenshot`);
  t.ok(existsSync(file), `docs/img/dashboard-${name}.png is in the repository`);
  const png = await page.screenshot({ fullPage: true });
  t.equal(png.subarray(1, 4).toString(), 'PNG', 'the page renders to a PNG');
}

// A browser, two daemons and five clients: on a loaded machine more than tap's default 120 s.
t.setTimeout(300_000);

t.test('the dashboard: a pool of two hosts with several clients, clicked through in Chromium', async (t) => {
  // binpack: this host's clients share its first card, as the card view shows them. No init probe in a
  // child process: the fake libraries cannot hang, and the test starts two daemons.
  const config = { ...QUICK_CONFIG, vendors: { probeInit: false }, sampling: { intervalMs: 1000 }, pool: { historySeconds: 60 }, sharing: { placement: 'binpack' } };
  const fixtureB = new FixtureFile(mixedHost());
  const fixtureA = new FixtureFile(mixedHost());
  t.teardown(() => [fixtureA, fixtureB].forEach((f) => f.remove()));
  // The browser starts while the daemons and their clients do.
  const browser = launchChromium(t);
  // A peer whose host name is markup, as a hostile or careless operator could set.
  const peer = await DaemonProcess.start(['--simulate', fixtureB.path, '--config', writeConfig(fixtureB.dir, { ...config, hostname: 'gpu-b<b>x</b>' })], {}, START_MS);
  t.teardown(() => peer.stop());
  const peerJob = loadJob(peer.url.replace(/^http/, 'ws'), ['--mem', '4GiB', '--share', '0.5'], 1536 * MiB);
  // This host asks for tokens: the page must never show one.
  const token = newToken();
  const tokens = join(fixtureA.dir, 'tokens');
  writeFileSync(tokens, `${tokenLine('research', token)}\n`, { mode: 0o600 });
  const daemon = await DaemonProcess.start(['--simulate', fixtureA.path, '--tokens', tokens, '--config', writeConfig(fixtureA.dir, { ...config, hostname: 'gpu-a', pool: { ...config.pool, peers: [peer.url] } })], {}, START_MS);
  t.teardown(() => daemon.stop());
  const server = daemon.url.replace(/^http/, 'ws');

  const hostileDir = join(fixtureA.dir, 'bin');
  mkdirSync(hostileDir, { recursive: true });
  const hostile = join(hostileDir, HOSTILE_NAME);
  copyFileSync(buildProgram('card_load.c'), hostile);
  const auth = ['--token', token];
  const jobs = [
    loadJob(server, [...auth, '--mem', '2GiB', '--share', '0.5', '--priority', 'high'], 1200 * MiB),
    loadJob(server, [...auth, '--mem', '1GiB', '--share', '0.25'], 700 * MiB),
    loadJob(server, [...auth, '--mem', '512MiB', '--share', '0.25', '--priority', 'low'], 300 * MiB, hostile),
    peerJob,
  ];
  await Promise.all(jobs.map((j) => j.ready(START_MS)));
  jobs.forEach((j) => j.child.stdin!.write('go\n'));
  // Shares are measured once a client has run a while (a client that has not yet run in the window
  // reads 0); the series need a few samples to draw. The low-priority client may read 0 all along:
  // beside saturating clients of higher classes it gets only the moments both leave the card idle
  // (docs/sharing.md, "Priorities"), and with calls as fast as they are now there may be none.
  await eventually('achieved shares measured', async () => {
    const st = await json<StatusDocument>(`${daemon.url}/v1/status`);
    const ran = (s: StatusDocument['compute']['sessions'][number]) =>
      s.cards.every((c) => c.achievedShare !== null && (c.achievedShare > 0 || s.scheduling?.effective === 'low'));
    return st.compute.sessions.length === 3 && st.compute.sessions.every(ran) ? true : undefined;
  }, START_MS, 200);

  const context = await browser;
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
  // Nothing may leave for anywhere but this daemon.
  const elsewhere: string[] = [];
  page.on('request', (req) => !req.url().startsWith(daemon.url) && elsewhere.push(req.url()));
  const views: Record<string, unknown> = UPDATE ? {} : (JSON.parse(readFileSync(VIEWS, 'utf8')) as Record<string, unknown>);

  await page.goto(`${daemon.url}/`);
  await page.waitForSelector('article.card');

  await t.test('the overview: every host of the pool and every card', async (t) => {
    const pool = await json<PoolDocument>(`${daemon.url}/v1/pool`);
    t.equal(await page.locator('section.host').count(), pool.hosts.length, 'a section per host');
    const devices = pool.hosts.reduce((n, h) => n + (h.ok ? h.status.devices.length : 0), 0);
    t.equal(await page.locator('article.card').count(), devices, 'a tile per card of every host');
    t.equal(await page.locator('#summary [data-field="sessions"]').getAttribute('data-value'), String(pool.summary.sessions), 'clients of the whole pool');
    t.match(await page.locator('section.host').nth(1).locator('h2').textContent(), /^gpu-b<b>x<\/b>/, "the peer's markup name shown as text");
    t.equal(await page.locator('section.host b').count(), 0, 'and not parsed');
    const self = pool.hosts[0]!;
    t.ok(self.ok);
    if (!self.ok) return;
    for (const d of self.status.devices) {
      const tile = page.locator(`section.host[data-host="${self.url}"] article.card[data-card="${d.uuid}"]`);
      t.equal(await tile.locator('[data-field="name"]').textContent(), d.name, `${d.name}: its name`);
      t.equal(await tile.locator('[data-field="temperature"]').getAttribute('data-value'), String(d.temperatureC ?? ''), `${d.name}: its temperature`);
      t.equal(await tile.locator('[data-field="health"]').textContent(), d.health.state, `${d.name}: its health`);
    }
  });

  await eventually('the time series drawn', async () => ((await page.locator('svg.spark path').count()) > 0 ? true : undefined));
  await shoot(t, page, 'overview', views);

  await t.test('a card: its clients, their figures as /v1/status has them, its time series', async (t) => {
    const status = await json<StatusDocument>(`${daemon.url}/v1/status`);
    const card0 = status.compute.cards.find((c) => c.ordinal === 0)!;
    await page.locator(`section.host[data-host="${daemon.url}"] article.card[data-card="${card0.uuid}"]`).click();
    const detail = page.locator('#card-detail');
    await detail.waitFor();
    const on0 = status.compute.sessions.filter((s) => s.cards.some((c) => c.ordinal === 0));
    t.equal(on0.length, 3, 'every client of this host is on card 0');
    t.equal(await detail.locator('tr.client').count(), on0.length, 'a row per client on the card');
    for (const s of on0) {
      const row = detail.locator(`tr.client[data-session="${s.id}"]`);
      const c = s.cards.find((x) => x.ordinal === 0)!;
      t.equal(await row.locator('[data-field="quota"]').getAttribute('data-value'), String(c.quota), `#${s.id}: quota`);
      t.equal(await row.locator('[data-field="used"]').getAttribute('data-value'), String(c.used), `#${s.id}: memory held`);
      t.ok(c.used > 0, `#${s.id}: holds memory`);
      t.equal(await row.locator('[data-field="share"]').getAttribute('data-value'), String(s.scheduling!.share), `#${s.id}: share asked`);
      t.equal(await row.locator('[data-field="priority"]').getAttribute('data-value'), s.scheduling!.effective, `#${s.id}: priority`);
      t.equal(await row.locator('[data-field="pid"]').getAttribute('data-value'), String(s.pid), `#${s.id}: pid`);
      t.equal(await row.locator('[data-field="tenant"]').getAttribute('data-value'), 'research', `#${s.id}: tenant`);
      const achieved = Number(await row.locator('[data-field="achieved"]').getAttribute('data-value'));
      const floor = s.scheduling!.effective === 'low' ? 0 : Number.MIN_VALUE; // low may read 0 (above)
      t.ok(achieved >= floor && achieved <= 1, `#${s.id}: an achieved share (${achieved})`);
    }
    t.equal(await detail.locator('figure.chart-block').count(), 2, 'shares and memory over time');
    await eventually('share lines with points', async () => ((await detail.locator('figure[data-chart="Share of the card over time"] path.series[d^="M"]').count()) >= on0.length ? true : undefined));
    await shoot(t, page, 'card', views);
  });

  await t.test('a client: its program shown as text, its cards, its shares over time', async (t) => {
    const status = await json<StatusDocument>(`${daemon.url}/v1/status`);
    const s = status.compute.sessions.find((x) => x.program.endsWith(HOSTILE_NAME))!;
    t.ok(s, 'the client with a markup name is listed');
    await page.locator(`#card-detail tr.client[data-session="${s.id}"]`).click();
    const detail = page.locator('#client-detail');
    await detail.waitFor();
    t.equal(await detail.locator('[data-field="programPath"]').textContent(), s.program, 'the whole path, as text');
    t.equal(await page.locator('main img').count(), 0, 'no element made of it');
    t.equal(await page.evaluate('window.__xss'), undefined, 'no script of it ran');
    t.equal(await detail.locator('table.client-cards tbody tr').count(), s.cards.length, 'a row per card');
    t.equal(await detail.locator('[data-field="quota"]').first().getAttribute('data-value'), String(s.cards[0]!.quota));
    await shoot(t, page, 'client', views);
    // Back to the card from the client's card link.
    await detail.locator('table.client-cards a').first().click();
    await page.locator('#card-detail').waitFor();
    t.pass('the card link leads back to the card');
  });

  await t.test('live: a client that arrives shows without a reload', async (t) => {
    const before = Number(await page.locator('#live').getAttribute('data-updates'));
    const late = loadJob(server, [...auth, '--mem', '256MiB', '--share', '0.1'], 200 * MiB);
    await late.ready(START_MS);
    const count = await eventually('the new client on the page', async () => {
      const n = await page.locator('#card-detail tr.client').count();
      return n === 4 ? n : undefined;
    }, START_MS, 100);
    t.equal(count, 4, 'four clients on card 0 now');
    t.ok(Number(await page.locator('#live').getAttribute('data-updates')) > before, 'updates arrived over the event stream');
    late.kill();
  });

  await t.test('keyboard and updates: Enter opens a card; focus and a closed list survive updates', async (t) => {
    const updates = async () => Number(await page.locator('#live').getAttribute('data-updates'));
    const afterUpdate = async () => {
      const before = await updates();
      await eventually('an update', async () => ((await updates()) > before ? true : undefined));
    };
    await page.goto(`${daemon.url}/#`);
    const tile = page.locator(`section.host[data-host="${peer.url}"] article.card`).nth(1);
    await tile.focus();
    await page.keyboard.press('Enter');
    await page.locator(`#card-detail[data-host="${peer.url}"]`).waitFor();
    t.pass("the peer's card opened from the keyboard");
    await afterUpdate();
    t.equal(await page.evaluate('document.activeElement?.dataset.card'), await tile.getAttribute('data-card'), 'focus stays on the card');
    const list = page.locator(`section.host[data-host="${daemon.url}"] details.host-clients`);
    await list.locator('summary').click();
    await afterUpdate();
    t.equal(await list.getAttribute('open'), null, 'a list the reader closed stays closed');
  });

  await t.test('read-only and no token anywhere', async (t) => {
    const html = await page.content();
    t.notOk(html.includes(token), 'the page holds no token');
    const events = await fetch(`${daemon.url}/v1/events`);
    const reader = events.body!.getReader();
    let text = '';
    while (!text.includes('event: pool')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    t.notOk(text.includes(token), 'nor the event stream');
    t.equal(events.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const res = await fetch(`${daemon.url}/`, { method: 'POST' });
    t.equal(res.status, 405, 'the page takes no writes');
    const page0 = await fetch(`${daemon.url}/`);
    t.match(page0.headers.get('content-security-policy'), /script-src 'self'/, 'scripts from the daemon only');
  });

  t.same(errors, [], 'no script error in the page');
  t.same(elsewhere, [], 'no request to anywhere but the daemon');
  if (UPDATE) writeFileSync(VIEWS, `${JSON.stringify(views, null, 2)}\n`);
});
