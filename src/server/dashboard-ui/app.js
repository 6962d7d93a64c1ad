// The pool dashboard: the daemon's pool view (every host, its cards and their clients) and each
// host's recent samples, live from /v1/events. Read-only. Every string from a host or a client is put
// in as text (h() below), never parsed as markup.
import { PALETTE, legend, lineChart, sparkline } from './charts.js';
import { bytes, celsius, clock, percent, programName, seconds, share, watts } from './format.js';

const state = {
  /** The latest pool document. */
  pool: null,
  /** Per host URL, its samples oldest first (HistorySample of src/server/history.ts). */
  samples: new Map(),
  windowMs: 300_000,
  updates: 0,
  lastUpdate: null,
  connected: false,
  /** Hosts whose client list the reader opened or closed, by URL: kept across updates. */
  clientsOpen: new Map(),
};

/** An element with attributes and children; strings and numbers become text nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A table cell showing `text` and keeping the raw figure for scripts and tests. */
function cell(field, value, text) {
  return h('td', { 'data-field': field, 'data-value': value === null || value === undefined ? '' : value }, text);
}

// ---- selection, kept in the address so a view can be linked and reloaded --------------------------

function selection() {
  const params = new URLSearchParams(location.hash.slice(1));
  const host = params.get('host');
  if (params.has('card') && host) return { kind: 'card', host, card: params.get('card') };
  if (params.has('client') && host) return { kind: 'client', host, session: Number(params.get('client')) };
  return null;
}

function select(params) {
  location.hash = params ? new URLSearchParams(params).toString() : '';
}

// ---- the model: a host's cards as the vendor sampler and the compute driver see them ---------------

/** Each card of a host once: vendor devices joined to compute cards by UUID, then compute-only ones. */
function cardsOf(status) {
  const compute = status.compute?.cards ?? [];
  const byUuid = new Map(compute.filter((c) => c.uuid).map((c) => [c.uuid, c]));
  const cards = status.devices.map((d) => ({ key: d.uuid, device: d, cuda: byUuid.get(d.uuid) ?? null }));
  const seen = new Set(status.devices.map((d) => d.uuid));
  for (const c of compute) if (!c.uuid || !seen.has(c.uuid)) cards.push({ key: `cuda${c.ordinal}`, device: null, cuda: c });
  return cards;
}

function clientsOn(status, card) {
  if (!card.cuda) return [];
  return (status.compute?.sessions ?? []).filter((s) => s.cards.some((c) => c.ordinal === card.cuda.ordinal));
}

function hostName(host) {
  return host.ok ? host.status.host.hostname : host.url;
}

function findHost(url) {
  return state.pool?.hosts.find((h) => h.url === url) ?? null;
}

// ---- series from the samples -----------------------------------------------------------------------

function deviceSeries(hostUrl, uuid, field) {
  return (state.samples.get(hostUrl) ?? []).map((s) => [s.t, s.devices.find((d) => d.uuid === uuid)?.[field] ?? null]);
}

/** A client's figure on one card over time (null where it was not there). */
function clientSeries(hostUrl, session, ordinal, field) {
  return (state.samples.get(hostUrl) ?? []).map((s) => [s.t, s.clients.find((c) => c.session === session && c.card === ordinal)?.[field] ?? null]);
}

// ---- views ------------------------------------------------------------------------------------------

function healthBadge(health, reason) {
  return h('span', { class: `badge ${health}`, title: reason ?? null, 'data-field': 'health' }, health);
}

function memoryBar(used, total) {
  const bar = h('div', { class: 'bar', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': total ?? 0, 'aria-valuenow': used ?? 0 });
  const fill = h('div', { class: 'fill' });
  fill.style.width = total ? `${Math.min(100, ((used ?? 0) / total) * 100).toFixed(1)}%` : '0';
  bar.append(fill);
  return bar;
}

function cardTile(host, status, card, selected) {
  const d = card.device;
  const c = card.cuda;
  const clients = clientsOn(status, card);
  const health = d ? d.health.state : c.health;
  const used = d ? d.memory.usedBytes : c.committed;
  const total = d ? d.memory.totalBytes : c.totalMem;
  const open = () => select({ host: host.url, card: card.key });
  return h(
    'article',
    {
      class: `card${selected ? ' selected' : ''}${health === 'healthy' ? '' : ' sick'}`,
      'data-card': card.key,
      'data-host': host.url,
      tabindex: 0,
      role: 'button',
      'aria-pressed': selected ? 'true' : 'false',
      onclick: open,
      onkeydown: (e) => (e.key === 'Enter' || e.key === ' ') && open(),
    },
    h('header', {}, h('span', { class: 'name', 'data-field': 'name' }, d ? d.name : c.name), healthBadge(health, d?.health.reason ?? c?.healthReason)),
    h('div', { class: 'sub' }, d ? `${d.vendor} ${d.index}` : 'CUDA only', c ? ` · CUDA ${c.ordinal}` : '', ' · ', h('span', { class: 'mono', title: card.key }, card.key.length > 14 ? `${card.key.slice(0, 13)}…` : card.key)),
    memoryBar(used, total),
    h('div', { class: 'figures' },
      h('span', { 'data-field': 'memory', 'data-value': used ?? '' }, `${bytes(used)} / ${bytes(total)}`),
      h('span', { 'data-field': 'utilization', 'data-value': d?.utilization.gpuPercent ?? '' }, percent(d?.utilization.gpuPercent)),
      h('span', { 'data-field': 'temperature', 'data-value': d?.temperatureC ?? '' }, celsius(d?.temperatureC)),
      h('span', { 'data-field': 'power', 'data-value': d?.powerW ?? '' }, watts(d?.powerW)),
    ),
    c
      ? h('div', { class: 'clients-line' },
          h('span', { 'data-field': 'clients', 'data-value': clients.length }, `${clients.length} client${clients.length === 1 ? '' : 's'}`),
          ` · shares ${share(c.shares)} · quota ${bytes(c.committed)}`,
          c.waiting ? h('span', { class: 'waiting' }, ` · ${c.waiting} waiting`) : '',
        )
      : h('div', { class: 'clients-line muted' }, 'no compute on this card'),
    d
      ? h('div', { class: 'sparks' },
          h('figure', {}, sparkline(deviceSeries(host.url, d.uuid, 'util'), { max: 100, title: 'utilization over time', color: PALETTE[0] }), h('figcaption', {}, 'utilization')),
          h('figure', {}, sparkline(deviceSeries(host.url, d.uuid, 'used'), { max: d.memory.totalBytes, title: 'memory over time', color: PALETTE[2] }), h('figcaption', {}, 'memory')),
        )
      : '',
  );
}

function clientRow(host, s, ordinal) {
  // On a card's view, its figures there; elsewhere a client of one card shows that card's, one of several their sums.
  const on = ordinal === undefined ? (s.cards.length === 1 ? s.cards[0] : null) : s.cards.find((c) => c.ordinal === ordinal);
  const sum = (f) => s.cards.reduce((n, c) => n + c[f], 0);
  const quota = on ? on.quota : sum('quota');
  const used = on ? on.used : sum('used');
  const achieved = on ? on.achievedShare : null;
  const open = (e) => {
    e.stopPropagation();
    select({ host: host.url, client: s.id });
  };
  return h(
    'tr',
    { class: 'client', 'data-session': s.id, tabindex: 0, onclick: open, onkeydown: (e) => e.key === 'Enter' && open(e) },
    cell('session', s.id, `#${s.id}`),
    h('td', { 'data-field': 'program', title: s.program }, programName(s.program)),
    cell('pid', s.pid, `${s.pid} @ ${s.host}`),
    cell('tenant', s.tenant, s.tenant ?? '–'),
    h('td', { 'data-field': 'state', 'data-value': s.state }, h('span', { class: `state ${s.state}` }, s.state)),
    cell('priority', s.scheduling?.effective ?? '', s.scheduling ? s.scheduling.effective : '–'),
    cell('quota', quota, bytes(quota)),
    cell('used', used, bytes(used)),
    cell('share', s.scheduling?.share ?? '', share(s.scheduling?.share), s.scheduling?.limit ? ' (limit)' : ''),
    cell('achieved', achieved ?? '', share(achieved)),
    cell('deviceNs', on ? on.deviceNs : sum('deviceNs'), seconds(on ? on.deviceNs : sum('deviceNs'))),
    cell('waitNs', on ? on.waitNs : sum('waitNs'), seconds(on ? on.waitNs : sum('waitNs'))),
  );
}

function clientsTable(host, sessions, ordinal) {
  if (sessions.length === 0) return h('p', { class: 'muted empty-clients' }, 'No clients.');
  const head = ['session', 'program', 'pid @ host', 'tenant', 'state', 'priority', 'quota', 'memory used', 'share asked', 'achieved (10 s)', 'device time', 'waited'];
  return h('table', { class: 'clients' }, h('thead', {}, h('tr', {}, head.map((t) => h('th', {}, t)))), h('tbody', {}, sessions.map((s) => clientRow(host, s, ordinal))));
}

function facts(rows) {
  return h('dl', { class: 'facts' }, rows.flatMap(([k, v, field, raw]) => [h('dt', {}, k), h('dd', { 'data-field': field ?? null, 'data-value': raw ?? null }, v)]));
}

function chartBlock(title, series, options) {
  return h('figure', { class: 'chart-block', 'data-chart': title }, h('figcaption', {}, title), lineChart(series, { ...options, title }), legend(series));
}

function cardDetail(host, status, card) {
  const d = card.device;
  const c = card.cuda;
  const clients = clientsOn(status, card);
  const shareSeries = clients.flatMap((s, i) => [
    { name: `#${s.id} ${programName(s.program)} achieved`, color: PALETTE[i % PALETTE.length], points: clientSeries(host.url, s.id, c.ordinal, 'achieved') },
    { name: `#${s.id} asked`, color: PALETTE[i % PALETTE.length], dashed: true, points: clientSeries(host.url, s.id, c.ordinal, 'share') },
  ]);
  const memSeries = [
    ...(d ? [{ name: 'card used', color: '#333', points: deviceSeries(host.url, d.uuid, 'used') }] : []),
    ...clients.map((s, i) => ({ name: `#${s.id} ${programName(s.program)}`, color: PALETTE[i % PALETTE.length], points: clientSeries(host.url, s.id, c.ordinal, 'used') })),
  ];
  return h(
    'section',
    { class: 'detail', id: 'card-detail', 'data-card': card.key, 'data-host': host.url },
    h('header', {}, h('h2', {}, d ? d.name : c.name, ' ', h('small', {}, `on ${hostName(host)}`)), h('button', { class: 'close', onclick: () => select(null), 'aria-label': 'close' }, '×')),
    facts([
      ['health', d ? `${d.health.state}${d.health.reason ? ` (${d.health.reason})` : ''}` : c.health, 'health', d ? d.health.state : c.health],
      ['vendor, index', d ? `${d.vendor} ${d.index}` : '–'],
      ['UUID', card.key.startsWith('cuda') ? c.uuid ?? '–' : card.key, 'uuid'],
      ['PCI bus', d?.pciBusId ?? '–'],
      ['memory used', d ? `${bytes(d.memory.usedBytes)} of ${bytes(d.memory.totalBytes)}` : '–', 'memoryUsed', d?.memory.usedBytes],
      ['utilization', d ? `${percent(d.utilization.gpuPercent)} (memory ${percent(d.utilization.memoryPercent)})` : '–', 'utilization', d?.utilization.gpuPercent],
      ['temperature, power', d ? `${celsius(d.temperatureC)}, ${watts(d.powerW)}` : '–'],
      ...(c
        ? [
            ['CUDA ordinal', c.ordinal],
            ['quota committed', `${bytes(c.committed)} of ${bytes(c.totalMem)}`, 'committed', c.committed],
            ['shares committed', share(c.shares), 'shares', c.shares],
            ['waiting for the card', c.waiting, 'waiting', c.waiting],
            ['device time, all clients', seconds(c.deviceNs), 'deviceNs', c.deviceNs],
          ]
        : []),
    ]),
    c ? h('div', { class: 'charts' }, chartBlock('Share of the card over time', shareSeries, { yMax: 1, format: share }), chartBlock('Memory over time', memSeries, { format: bytes })) : '',
    h('h3', {}, 'Clients on this card'),
    clientsTable(host, clients, c?.ordinal),
  );
}

function clientDetail(host, status, s) {
  const uuids = new Map((status.compute?.cards ?? []).map((c) => [c.ordinal, c.uuid]));
  const r = s.request ?? {};
  const requested = Object.entries(r)
    .filter(([, v]) => v !== null && v !== undefined && v !== false)
    .map(([k, v]) => `${k}=${k === 'mem' && typeof v === 'number' ? bytes(v) : v}`)
    .join(', ');
  const shareSeries = s.cards.flatMap((c, i) => [
    { name: `CUDA ${c.ordinal} achieved`, color: PALETTE[i % PALETTE.length], points: clientSeries(host.url, s.id, c.ordinal, 'achieved') },
    { name: `CUDA ${c.ordinal} asked`, color: PALETTE[i % PALETTE.length], dashed: true, points: clientSeries(host.url, s.id, c.ordinal, 'share') },
  ]);
  const memSeries = s.cards.map((c, i) => ({ name: `CUDA ${c.ordinal} held`, color: PALETTE[i % PALETTE.length], points: clientSeries(host.url, s.id, c.ordinal, 'used') }));
  const maxQuota = Math.max(1, ...s.cards.map((c) => c.quota));
  return h(
    'section',
    { class: 'detail', id: 'client-detail', 'data-session': s.id, 'data-host': host.url },
    h('header', {}, h('h2', { 'data-field': 'program', title: s.program }, programName(s.program), ' ', h('small', {}, `#${s.id} on ${hostName(host)}`)), h('button', { class: 'close', onclick: () => select(null), 'aria-label': 'close' }, '×')),
    facts([
      ['program', s.program, 'programPath'],
      ['pid @ host', `${s.pid} @ ${s.host}`, 'pid', s.pid],
      ['tenant', s.tenant ?? '–', 'tenant'],
      ['state', s.state, 'state', s.state],
      ['connected', `${clock(Date.parse(s.connectedAt))} (${seconds((Date.now() - Date.parse(s.connectedAt)) * 1e6)} ago)`],
      ['asked for', requested || 'the defaults'],
      ['share', s.scheduling ? `${share(s.scheduling.share)}${s.scheduling.limit ? ', a limit' : ', more when the card is idle'}` : '–', 'share', s.scheduling?.share],
      ['priority', s.scheduling ? `${s.scheduling.effective}${s.scheduling.effective === s.scheduling.priority ? '' : ` (asked ${s.scheduling.priority})`}` : '–', 'priority', s.scheduling?.effective],
      ['paused (backlog)', s.pauses, 'pauses', s.pauses],
    ]),
    h('h3', {}, 'Cards'),
    s.cards.length === 0
      ? h('p', { class: 'muted' }, s.state === 'waiting' ? 'Waiting for a card with room.' : 'No card yet.')
      : h('table', { class: 'client-cards' },
          h('thead', {}, h('tr', {}, ['card', 'quota', 'memory used', 'achieved (10 s)', 'device time', 'waited', ''].map((t) => h('th', {}, t)))),
          h('tbody', {}, s.cards.map((c) => h('tr', { 'data-ordinal': c.ordinal },
            h('td', {}, h('a', { href: `#${new URLSearchParams({ host: host.url, card: uuids.get(c.ordinal) ?? `cuda${c.ordinal}` })}` }, `CUDA ${c.ordinal}`)),
            cell('quota', c.quota, bytes(c.quota)),
            cell('used', c.used, bytes(c.used)),
            cell('achieved', c.achievedShare ?? '', share(c.achievedShare)),
            cell('deviceNs', c.deviceNs, seconds(c.deviceNs)),
            cell('waitNs', c.waitNs, seconds(c.waitNs)),
            h('td', { class: 'bad' }, c.poisoned ? `failed: ${c.poisoned}` : ''),
          ))),
        ),
    h('div', { class: 'charts' }, chartBlock('Share asked and achieved over time', shareSeries, { yMax: 1, format: share }), chartBlock('Memory held over time', memSeries, { yMax: maxQuota, format: bytes })),
  );
}

function hostSection(host, sel) {
  if (!host.ok) {
    return h('section', { class: 'host down', 'data-host': host.url }, h('h2', {}, host.url), h('p', { class: 'bad', 'data-field': 'error' }, `${host.error.code}: ${host.error.message}`));
  }
  const st = host.status;
  const cards = cardsOf(st);
  const sessions = st.compute?.sessions ?? [];
  const vendors = st.vendors.filter((v) => v.available).map((v) => v.vendor);
  return h(
    'section',
    { class: 'host', 'data-host': host.url },
    h('h2', {}, st.host.hostname, ' ', h('small', {}, `${host.url} · gpupoold ${st.daemon.version}${st.daemon.simulated ? ' · simulated' : ''} · ${vendors.join(', ') || 'no vendor library'}`)),
    h('div', { class: 'cards' }, cards.map((c) => cardTile(host, st, c, sel?.kind === 'card' && sel.host === host.url && sel.card === c.key))),
    h('details', {
      class: 'host-clients',
      open: state.clientsOpen.get(host.url) ?? (sessions.length > 0 && sessions.length <= 12),
      ontoggle: (e) => state.clientsOpen.set(host.url, e.target.open),
    },
      h('summary', {}, `${sessions.length} client${sessions.length === 1 ? '' : 's'} on ${st.host.hostname}`),
      clientsTable(host, sessions),
    ),
  );
}

function detailView(sel) {
  if (!sel || !state.pool) return null;
  const host = findHost(sel.host);
  if (!host?.ok) return null;
  if (sel.kind === 'card') {
    const card = cardsOf(host.status).find((c) => c.key === sel.card);
    return card ? cardDetail(host, host.status, card) : h('section', { class: 'detail gone' }, 'That card is no longer reported.');
  }
  const s = host.status.compute?.sessions.find((x) => x.id === sel.session);
  return s ? clientDetail(host, host.status, s) : h('section', { class: 'detail gone', id: 'client-gone' }, `Client #${sel.session} has left.`);
}

/** Where a focused card tile or client row is, to find its successor after an update. */
function focusKey(el) {
  if (!el || !el.matches?.('article.card, tr.client')) return null;
  const selector = el.matches('article.card') ? 'article.card' : 'tr.client';
  return { selector, index: [...document.querySelectorAll(selector)].indexOf(el) };
}

function render() {
  const main = document.getElementById('main');
  const summary = document.getElementById('summary');
  const live = document.getElementById('live');
  live.className = state.connected ? 'live on' : 'live off';
  live.dataset.updates = String(state.updates);
  live.textContent = state.connected ? `live · ${state.lastUpdate ? clock(state.lastUpdate) : '…'}` : 'reconnecting…';
  if (!state.pool) return;
  const p = state.pool.summary;
  summary.replaceChildren(
    h('span', { 'data-field': 'hosts', 'data-value': p.hosts }, `${p.reachable}/${p.hosts} hosts`),
    h('span', { 'data-field': 'cards', 'data-value': p.cards }, `${p.cards} compute cards`),
    h('span', { 'data-field': 'sessions', 'data-value': p.sessions }, `${p.sessions} clients`),
  );
  const sel = selection();
  // Keep the reader's place in the page across updates: the scroll position and the focused card or row.
  const y = window.scrollY;
  const focused = focusKey(document.activeElement);
  main.replaceChildren(detailView(sel) ?? '', ...state.pool.hosts.map((host) => hostSection(host, sel)));
  window.scrollTo(0, y);
  if (focused) main.querySelectorAll(focused.selector)[focused.index]?.focus({ preventScroll: true });
}

// ---- live updates -----------------------------------------------------------------------------------

function trim(samples) {
  const newest = samples.length ? samples[samples.length - 1].t : 0;
  while (samples.length && samples[0].t < newest - state.windowMs) samples.shift();
}

function connect() {
  const source = new EventSource('/v1/events');
  source.addEventListener('open', () => {
    state.connected = true;
    render();
  });
  source.addEventListener('error', () => {
    // EventSource reconnects by itself after a dropped stream (the history comes again with the new
    // one), but not after a refusal (503: too many readers): then try again later.
    state.connected = false;
    render();
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 10_000);
  });
  source.addEventListener('history', (e) => {
    const histories = JSON.parse(e.data);
    state.samples = new Map();
    for (const [url, doc] of Object.entries(histories)) {
      if (doc) state.windowMs = Math.max(state.windowMs, doc.windowMs);
      state.samples.set(url, doc ? doc.samples : []);
    }
  });
  source.addEventListener('pool', (e) => {
    const update = JSON.parse(e.data);
    state.pool = update.pool;
    for (const [url, sample] of Object.entries(update.samples)) {
      const list = state.samples.get(url) ?? [];
      if (!list.length || list[list.length - 1].t < sample.t) list.push(sample);
      trim(list);
      state.samples.set(url, list);
    }
    state.updates++;
    state.lastUpdate = Date.now();
    render();
  });
}

window.addEventListener('hashchange', render);
connect();
