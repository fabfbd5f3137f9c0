// alegate-web's page: plain DOM, no framework, no inline script (the
// server's Content-Security-Policy forbids it).  Live data comes from one
// EventSource on /api/events; lists are fetched again whenever the stream
// (re)opens, so nothing is missed across a reconnect.  Text from the daemon
// is only ever set with textContent: a process name cannot inject markup.
'use strict';

const $ = (id) => document.getElementById(id);
const TABS = ['waiting', 'connections', 'events', 'rules', 'status', 'traffic'];
const EVENTS_SHOWN = 300;

const state = {
  tab: 'waiting',
  pending: new Map(),   // id -> { p, tr, deadline }
  resolved: new Set(),  // ids resolved before their snapshot arrived
  selected: null,       // id of the selected waiting row
  events: [],           // newest last, at most EVENTS_SHOWN
  eventSeqs: new Set(),
  eventsDirty: false,
  rules: new Map(),     // id -> rule, for names in Connections
  notifyQueue: [],
  up: false,
};

// ---- helpers ---------------------------------------------------------------
function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  if (props) for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
  return e;
}
function td(label, ...kids) { return el('td', { 'data-label': label }, ...kids); }
function basename(p) { return p ? p.slice(p.lastIndexOf('/') + 1) : null; }
function splitAddr(a) {
  if (!a) return ['', ''];
  const i = a.lastIndexOf(':');
  let h = a.slice(0, i);
  if (h.startsWith('[')) h = h.slice(1, -1);
  return [h, a.slice(i + 1)];
}
function fmtDur(ms) {
  if (ms < 1000) return Math.max(0, Math.round(ms)) + 'ms';
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  s %= 60;
  if (d) return d + 'd ' + h + 'h';
  if (h) return h + 'h ' + m + 'm';
  if (m) return m + 'm ' + s + 's';
  return s + 's';
}
function toast(msg, bad) {
  const t = $('toast');
  t.textContent = msg;
  t.className = 'toast' + (bad ? ' bad' : '');
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, bad ? 5000 : 2500);
}
async function api(path, opts = {}) {
  const init = { method: opts.method || 'GET', credentials: 'same-origin', headers: {} };
  if (opts.body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  const r = await fetch(path, init);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    const err = new Error((data && data.error) || r.status + ' ' + r.statusText);
    err.status = r.status;
    err.code = data && data.code;
    throw err;
  }
  return data;
}
function quietly(p) { p.catch((e) => toast(e.message, true)); }

// ---- tabs --------------------------------------------------------------------
function showTab(name) {
  if (!TABS.includes(name)) name = 'waiting';
  state.tab = name;
  for (const t of TABS) $(t).hidden = t !== name;
  for (const a of document.querySelectorAll('#tabs a'))
    a.classList.toggle('active', a.dataset.tab === name);
  if (name === 'connections') quietly(loadFlows());
  if (name === 'rules') quietly(loadRules());
  if (name === 'status') quietly(loadStatus());
  if (name === 'traffic') quietly(loadTraffic());
  followEvents(name === 'events');
  if (name === 'events') renderEvents(true);
}
window.addEventListener('hashchange', () => showTab(location.hash.slice(1)));

// ---- waiting flows -------------------------------------------------------------
const DURATIONS = [
  ['once', 'once', {}],
  ['5m', 'for 5 min', { duration: 'for', for: '5m' }],
  ['1h', 'for 1 hour', { duration: 'for', for: '1h' }],
  ['until-quit', 'until alegate-web quits', { duration: 'until-quit' }],
  ['until-restart', 'until restart', { duration: 'until-restart' }],
  ['always', 'always', { duration: 'always' }],
];

function scopeChoices(p) {
  const c = [];
  if (p.host) c.push(['app+host', 'this host']);
  c.push(['app+remote', 'this address']);
  c.push(['app+port', 'this port, any host']);
  c.push(['app', 'any host']);
  return c;
}

function pendingRow(p) {
  const name = basename(p.exe) || 'unknown program';
  const [addr, port] = splitAddr(p.remote);
  const dur = el('select', { class: 'dur', 'aria-label': 'how long' },
    ...DURATIONS.map(([v, label]) => el('option', { value: v, text: label })));
  const scope = el('select', { class: 'scope', 'aria-label': 'which flows' },
    ...scopeChoices(p).map(([v, label]) => el('option', { value: v, text: label })));
  const allow = el('button', { type: 'button', class: 'allow', text: 'Allow',
    onclick: () => decide(p.id, 'allow') });
  const deny = el('button', { type: 'button', class: 'deny', text: 'Deny',
    onclick: () => decide(p.id, 'deny') });
  const left = el('span', { class: 'secs' });
  const meter = el('i');
  const tr = el('tr', { 'data-id': String(p.id), 'data-local': p.local || '', class: 'new',
    onclick: (e) => { if (!e.target.closest('select,button')) select(p.id); } },
    td('Program', el('div', { class: 'prog', text: name }),
      el('div', { class: 'sub mono', text: p.exe || '(executable unknown)', title: p.cmdline || '' })),
    td('Destination', el('div', { class: 'dest', text: p.host || addr }),
      el('div', { class: 'sub mono', text: (p.host ? addr + ' ' : '') + p.proto + ' ' + port + ' · ' +
        (p.direction === 'in' ? 'in' : 'out') })),
    td('Who', el('div', { text: 'pid ' + (p.pid ?? '?') }),
      el('div', { class: 'sub', text: p.user ? p.user + ' (' + p.uid + ')' : 'uid ' + (p.uid ?? '?') })),
    td('Time left', el('div', { class: 'left' }, left, el('div', { class: 'meter' }, meter))),
    td('Decision', el('div', { class: 'decide' }, allow, deny, dur, scope)));
  return { tr, left, meter, dur, scope };
}

// Rows arrive in bursts (a program opening many connections, a reconnect):
// they are queued and put in the table together, one layout for all.
const arriving = [];
function addPending(p) {
  if (state.pending.has(p.id) || state.resolved.has(p.id)) return;
  const row = pendingRow(p);
  const now = performance.now();
  const entry = { p, ...row, deadline: now + (p.timeout_ms ?? 30000), total: (p.timeout_ms ?? 30000) + (p.age_ms ?? 0) };
  state.pending.set(p.id, entry);
  tickRow(entry, now);
  arriving.push(entry);
  if (arriving.length === 1) setTimeout(flushArriving, 0);
  if (document.hidden) queueNotify(p);
}

function flushArriving() {
  const frag = document.createDocumentFragment();
  for (const e of arriving.splice(0)) {
    if (!state.pending.has(e.p.id)) continue;	// decided before it was shown
    // the arrival highlight is for a person watching a few rows, not a flood
    if (state.pending.size > 20) e.tr.classList.remove('new');
    frag.append(e.tr);
    visibleRows.observe(e.tr);
  }
  $('waiting-rows').append(frag);
  if (state.selected === null || !state.pending.has(state.selected)) {
    const first = state.pending.keys().next();
    if (!first.done) select(first.value);
  }
  waitingChanged();
}

// Only rows on screen get their countdown redrawn each second.
const onScreen = new Set();
const visibleRows = new IntersectionObserver((entries) => {
  const now = performance.now();
  for (const en of entries) {
    const e = state.pending.get(Number(en.target.dataset.id)) || state.pending.get(en.target.dataset.id);
    if (!e) continue;
    if (en.isIntersecting) { onScreen.add(e); tickRow(e, now); } else onScreen.delete(e);
  }
});

function removePending(id) {
  const e = state.pending.get(id);
  if (!e) return;
  state.pending.delete(id);
  visibleRows.unobserve(e.tr);
  onScreen.delete(e);
  e.tr.remove();
  if (state.selected === id) {
    state.selected = null;
    const first = state.pending.keys().next();
    if (!first.done) select(first.value);
  }
  waitingChanged();
}

function waitingChanged() {
  const n = state.pending.size;
  $('waiting-table').hidden = n === 0;
  $('waiting-empty').hidden = n !== 0;
  $('count').hidden = n === 0;
  $('count').textContent = n;
  document.title = n ? '(' + n + ') alegate' : 'alegate';
}

function select(id) {
  const old = state.pending.get(state.selected);
  if (old) old.tr.classList.remove('sel');
  state.selected = id;
  const e = state.pending.get(id);
  if (e) {
    e.tr.classList.add('sel');
    e.tr.scrollIntoView({ block: 'nearest' });
  }
}

function moveSelection(step) {
  const ids = [...state.pending.keys()];
  if (!ids.length) return;
  let i = ids.indexOf(state.selected);
  i = i < 0 ? 0 : Math.min(ids.length - 1, Math.max(0, i + step));
  select(ids[i]);
}

function tickRow(e, now) {
  const ms = Math.max(0, e.deadline - now);
  e.left.textContent = fmtDur(ms);
  e.meter.style.width = Math.min(100, (100 * ms) / Math.max(1, e.total)).toFixed(1) + '%';
}

setInterval(() => {
  const now = performance.now();
  for (const e of onScreen) tickRow(e, now);
}, 1000);

async function decide(id, verdict, durationKey) {
  const e = state.pending.get(id);
  if (!e) return;
  const key = durationKey || e.dur.value;
  const body = { ...DURATIONS.find((d) => d[0] === key)[2] };
  if (key !== 'once') body.scope = e.scope.value;
  for (const b of e.tr.querySelectorAll('button')) b.disabled = true;
  try {
    const r = await api('/api/pending/' + encodeURIComponent(id) + '/' + verdict, { method: 'POST', body });
    removePending(id);
    toast((verdict === 'allow' ? 'Allowed ' : 'Denied ') + (basename(e.p.exe) || 'flow') +
      (r && r.rule ? ' · rule ' + r.rule + ' added' : ''));
    if (r && r.rule && state.tab === 'rules') loadRules().catch(() => {});
  } catch (err) {
    if (err.status === 404) { removePending(id); toast('Already decided elsewhere'); return; }
    for (const b of e.tr.querySelectorAll('button')) b.disabled = false;
    toast(err.message, true);
  }
}

// ---- notifications ----------------------------------------------------------------
function queueNotify(p) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  state.notifyQueue.push(p);
  if (state.notifyQueue.length === 1) setTimeout(flushNotify, 400);
}
function flushNotify() {
  const q = state.notifyQueue;
  state.notifyQueue = [];
  if (!q.length || !document.hidden) return;
  const p = q[0];
  const body = q.length === 1
    ? (basename(p.exe) || 'A program') + ' wants to connect to ' + (p.host || p.remote) +
      (p.host ? ' (' + p.remote + ')' : '')
    : q.length + ' new connections are waiting (' + state.pending.size + ' in all)';
  const n = new Notification('alegate: a connection is waiting', { body, tag: 'alegate-waiting', icon: '/favicon.svg' });
  n.onclick = () => { window.focus(); location.hash = '#waiting'; n.close(); };
}
function setupNotifyButton() {
  const b = $('notify');
  if (!('Notification' in window) || Notification.permission !== 'default') return;
  b.hidden = false;
  b.addEventListener('click', () => {
    Notification.requestPermission().then(() => { b.hidden = Notification.permission === 'default'; });
  });
}

// ---- events ---------------------------------------------------------------------------
const DECISIONS = new Set(['complete', 'timeout', 'teardown', 'block', 'veto']);

function addEvent(ev) {
  if (state.eventSeqs.has(ev.seq)) return;
  state.eventSeqs.add(ev.seq);
  state.events.push(ev);
  if (state.events.length > EVENTS_SHOWN * 2) {
    const gone = state.events.splice(0, state.events.length - EVENTS_SHOWN);
    for (const old of gone) state.eventSeqs.delete(old.seq);
    renderedUpTo = Math.max(0, renderedUpTo - gone.length);
  }
  if (!state.eventsDirty) {
    state.eventsDirty = true;
    // a flood is drawn once a second: nobody reads faster, and it spares the page
    setTimeout(renderEvents, performance.now() < floodUntil ? 1000 : 250);
  }
}

function eventRow(ev) {
  const [addr, port] = splitAddr(ev.remote);
  const t = new Date(ev.time_ms), two = (n) => String(n).padStart(2, '0');
  return el('tr', { 'data-seq': String(ev.seq), 'data-type': ev.type },
    td('Time', el('span', { class: 'mono', text: two(t.getHours()) + ':' + two(t.getMinutes()) + ':' + two(t.getSeconds()) + '.' + String(t.getMilliseconds()).padStart(3, '0') })),
    td('Type', el('span', { class: 'pill ' + ev.type, text: ev.type })),
    td('Verdict', el('span', { class: 'pill ' + (ev.verdict || ''), text: ev.verdict || '' })),
    td('Program', el('span', { text: basename(ev.exe) || (ev.pid ? 'pid ' + ev.pid : '—'), title: ev.exe || '' })),
    td('Proto', el('span', { text: (ev.proto || '') + ' ' + (ev.direction || '') })),
    td('Remote', el('span', { class: 'mono', text: ev.remote ? addr + ':' + port : '' })),
    td('Host', el('span', { text: ev.host || '' })),
    td('Rule', el('span', { class: 'mono', text: ev.rule ? ((state.rules.get(ev.rule) || {}).name || ev.rule) : '', title: ev.rule || '' })),
    td('Reason', el('span', { class: 'sub', text: ev.reason || '' })));
}

// New events go on top of the table, the oldest fall off the bottom: at a
// thousand events a second, rebuilding 300 rows each time is what costs.
let renderedUpTo = 0;	// index in state.events of the first event not drawn yet
let floodUntil = 0;	// while events come by the hundred, draw them less often
function renderEvents(full) {
  state.eventsDirty = false;
  if (state.tab !== 'events' || $('events-pause').checked) return;
  const f = $('events-filter').value;
  const keep = (ev) => !f || (f === 'decisions' ? DECISIONS.has(ev.type) : ev.type === f);
  const body = $('events-rows');
  const from = full === true ? 0 : Math.min(renderedUpTo, state.events.length);
  if (state.events.length - from > 100) floodUntil = performance.now() + 2000;
  const rows = [];
  for (let i = state.events.length - 1; i >= from && rows.length < EVENTS_SHOWN; i--)
    if (keep(state.events[i])) rows.push(eventRow(state.events[i]));
  renderedUpTo = state.events.length;
  if (full === true || rows.length >= EVENTS_SHOWN) body.replaceChildren(...rows);
  else body.prepend(...rows);
  while (body.childElementCount > EVENTS_SHOWN) body.lastElementChild.remove();
}
$('events-filter').addEventListener('change', () => renderEvents(true));
$('events-pause').addEventListener('change', () => renderEvents(true));

// ---- connections -------------------------------------------------------------------
async function loadFlows() {
  const [flows] = await Promise.all([api('/api/flows'), state.rules.size ? null : loadRulesCache()]);
  $('flows-empty').hidden = flows.length !== 0;
  $('flows-table').hidden = flows.length === 0;
  $('flows-note').textContent = flows.length + ' live, authorized connection' + (flows.length === 1 ? '' : 's');
  $('flows-rows').replaceChildren(...flows.slice(0, 2000).map((f) => {
    const r = f.rule ? state.rules.get(f.rule) : null;
    return el('tr', {},
      td('Program', el('span', { class: 'prog', text: basename(f.exe) || '—', title: f.exe || '' })),
      td('Proto', el('span', { text: f.proto })),
      td('Dir', el('span', { text: f.direction })),
      td('Local', el('span', { class: 'mono', text: f.local })),
      td('Remote', el('span', { class: 'mono', text: f.remote })),
      td('Host', el('span', { text: f.host || '' })),
      td('PID', el('span', { text: f.pid ?? '' })),
      td('UID', el('span', { text: f.uid ?? '' })),
      td('Rule', f.rule ? el('span', { class: 'mono', text: r && r.name ? r.name : f.rule, title: f.rule })
        : el('span', { class: 'sub', text: 'none (answered once, or the default)' })),
      td('Age', el('span', { text: fmtDur(f.age_ms) })));
  }));
}

// ---- traffic -----------------------------------------------------------------------------
function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i && n < 10 ? n.toFixed(1) : Math.round(n)) + ' ' + u[i];
}

// One program's bytes per bucket as bars on a shared time axis: received
// above the line, sent below, each scaled to that program's largest bucket.
const SVGNS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}
function trafficPlot(series, from, bucket, nb) {
  const W = 240, H = 40, mid = H / 2, bw = W / nb;
  let max = 1;
  for (const [, bin, bout] of series) max = Math.max(max, bin, bout);
  const g = svg('svg', { class: 'plot', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img' });
  g.append(svg('line', { x1: 0, x2: W, y1: mid, y2: mid, class: 'axis' }));
  let total = 0;
  for (const [t, bin, bout, n] of series) {
    const i = Math.floor((t - from) / bucket);
    if (i < 0 || i >= nb) continue;
    const hin = Math.max(bin ? 1 : 0, (bin / max) * (mid - 1));
    const hout = Math.max(bout ? 1 : 0, (bout / max) * (mid - 1));
    const r1 = svg('rect', { x: i * bw, y: mid - hin, width: Math.max(1, bw - 1), height: hin, class: 'in' });
    const r2 = svg('rect', { x: i * bw, y: mid, width: Math.max(1, bw - 1), height: hout, class: 'out' });
    const tip = svg('title', {});
    tip.textContent = new Date(t).toLocaleString() + ': ' + fmtBytes(bin) + ' received, ' +
      fmtBytes(bout) + ' sent, ' + n + ' connection' + (n === 1 ? '' : 's');
    r1.append(tip);
    g.append(r1, r2);
    total++;
  }
  g.setAttribute('aria-label', total + ' periods with traffic');
  g.dataset.points = String(total);
  return g;
}

async function loadTraffic() {
  const since = Number($('traffic-since').value);
  const nb = 48, bucket = Math.max(60, Math.ceil(since / nb)) * 1000;
  const rows = await api(`/api/traffic?since=${since}&bucket=${bucket / 1000}`);
  const from = Math.floor((Date.now() - since * 1000) / bucket) * bucket;
  $('traffic-empty').hidden = rows.length !== 0;
  $('traffic-table').hidden = rows.length === 0;
  $('traffic-rows').replaceChildren(...rows.slice(0, 200).map((r) => el('tr', { 'data-exe': r.exe || '' },
    td('Program', el('span', { class: 'prog', text: basename(r.exe) || 'unknown program', title: r.exe || '' })),
    td('Connections', el('span', { text: r.connections })),
    td('Received', el('span', { class: 'num', text: fmtBytes(r.bytes_in) })),
    td('Sent', el('span', { class: 'num', text: fmtBytes(r.bytes_out) })),
    td('Over time', trafficPlot(r.series || [], from, bucket, nb + 1)))));
}
$('traffic-since').addEventListener('change', () => quietly(loadTraffic()));

// ---- rules -------------------------------------------------------------------------------
const COND = ['app', 'sha256', 'user', 'host', 'remote', 'host_list', 'remote_list', 'port', 'proto', 'direction'];
const condText = (v) => (Array.isArray(v) ? v.join(',') : String(v));

async function loadRulesCache() {
  const rules = await api('/api/rules');
  state.rules = new Map(rules.map((r) => [r.id, r]));
  return rules;
}

function lastsText(r) {
  if (r.lifetime === 'timed') return 'for ' + fmtDur(r.expires_in_ms ?? 0) + ' more';
  return { always: 'always', 'until-restart': 'until restart', 'until-quit': 'until its client quits' }[r.lifetime] || r.lifetime || '';
}

async function loadRules() {
  const rules = await loadRulesCache();
  $('rules-empty').hidden = rules.length !== 0;
  $('rules-table').hidden = rules.length === 0;
  $('rules-rows').replaceChildren(...rules.map((r) => {
    const on = el('input', { type: 'checkbox', checked: r.enabled !== false, 'aria-label': 'enabled',
      onchange: () => quietly(api('/api/rules/' + encodeURIComponent(r.id) + '/' + (on.checked ? 'enable' : 'disable'),
        { method: 'POST' }).then(loadRules)) });
    const matches = el('div', { class: 'sub mono' });
    const parts = COND.filter((k) => r[k] !== undefined && r[k] !== null).map((k) => k + '=' + condText(r[k]));
    matches.textContent = parts.length ? parts.join('  ') : 'everything';
    const del = el('button', { type: 'button', class: 'link-btn danger', text: 'Delete' });
    del.addEventListener('click', () => {
      if (del.textContent !== 'Confirm') { del.textContent = 'Confirm'; setTimeout(() => { del.textContent = 'Delete'; }, 3000); return; }
      quietly(api('/api/rules/' + encodeURIComponent(r.id), { method: 'DELETE' }).then(() => { toast('Rule deleted'); return loadRules(); }));
    });
    return el('tr', { 'data-rule': r.id, class: r.enabled === false ? 'off' : null },
      td('On', on),
      td('Action', el('span', { class: 'pill ' + r.action, text: r.action })),
      td('Name', el('div', { text: r.name || '' }), el('div', { class: 'sub mono', text: r.id })),
      td('Matches', matches),
      td('Lasts', el('span', { text: lastsText(r) })),
      td('Weight', el('span', { text: r.weight ?? 0 })),
      td('', el('span', {}, el('button', { type: 'button', class: 'link-btn', text: 'Edit', onclick: () => editRule(r) }), del)));
  }));
}

let editing = null;
function editRule(r) {
  const f = $('rule-form');
  editing = r;
  f.reset();
  $('rule-form-title').textContent = r ? 'Edit rule ' + r.id : 'Add rule';
  // a choice the menus lack (several protocols) is offered as it is, so the edit keeps it
  for (const o of f.querySelectorAll('option[data-kept]')) o.remove();
  if (r) {
    for (const k of ['action', 'name', 'weight', ...COND]) {
      if (r[k] === undefined || r[k] === null) continue;
      const input = f.elements[k], text = condText(r[k]);
      if (input.tagName === 'SELECT' && ![...input.options].some((o) => o.value === text)) {
        input.append(el('option', { value: text, text: Array.isArray(r[k]) ? r[k].join(' or ') : text, 'data-kept': '' }));
      }
      input.value = text;
    }
    f.elements.lifetime.value = r.lifetime === 'timed' ? 'timed' : (r.lifetime || 'always');
    if (r.lifetime === 'timed') f.elements.for.value = Math.max(1, Math.round((r.expires_in_ms || 60000) / 60000)) + 'm';
  }
  $('rule-error').hidden = true;
  f.hidden = false;
  f.elements.app.focus();
}
$('rule-new').addEventListener('click', () => editRule(null));
$('rule-cancel').addEventListener('click', () => { $('rule-form').hidden = true; editing = null; });
$('rule-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target.elements;
  const rule = { action: f.action.value };
  for (const k of ['name', ...COND]) if (f[k].value.trim()) rule[k] = f[k].value.trim();
  // Several values are shown "a,b"; a program's path may hold a comma, so a
  // condition left as it was goes back as the list it was.
  for (const k of COND) if (editing && Array.isArray(editing[k]) && rule[k] === condText(editing[k])) rule[k] = editing[k];
  // what the form has no field for stays as it was: an edit must not widen a rule
  if (editing && editing.callout) rule.callout = editing.callout;
  if (editing && editing.enabled === false) rule.enabled = false;
  if (rule.port && /^\d+$/.test(rule.port)) rule.port = Number(rule.port);
  if (rule.user && /^\d+$/.test(rule.user)) rule.user = Number(rule.user);
  if (f.weight.value !== '') rule.weight = Number(f.weight.value);
  if (f.lifetime.value === 'timed') rule.for = f.for.value.trim() || '1h';
  else rule.lifetime = f.lifetime.value;
  try {
    // An edit adds the new rule before deleting the old one: no moment without either.
    const r = await api('/api/rules', { method: 'POST', body: rule });
    if (editing) await api('/api/rules/' + encodeURIComponent(editing.id), { method: 'DELETE' });
    toast(editing ? 'Rule saved as ' + r.rule : 'Rule ' + r.rule + ' added');
    $('rule-form').hidden = true;
    editing = null;
    await loadRules();
  } catch (err) {
    $('rule-error').textContent = err.message;
    $('rule-error').hidden = false;
  }
});

// ---- status ----------------------------------------------------------------------------------
function fillDl(dl, entries) {
  dl.replaceChildren(...entries.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: String(v) })]));
}
async function loadStatus() {
  const s = await api('/api/status');
  const main = Object.entries(s).filter(([k]) => k !== 'counters' && k !== 'lists').map(([k, v]) =>
    k === 'uptime_s' ? ['uptime', fmtDur(v * 1000)] : [k.replace(/_/g, ' '), v]);
  // one line per list file: how many entries are in force, when read, what went wrong
  for (const l of s.lists || []) {
    main.push(['list ' + l.path, l.entries + ' ' + (l.kind === 'hosts' ? 'names' : 'prefixes') +
      (l.read_ms ? ', read ' + new Date(l.read_ms).toLocaleString() : ', never read') +
      (l.reading ? ', being read again' : '') + (l.error ? '; last read failed: ' + l.error : '')]);
  }
  fillDl($('status-main'), main);
  fillDl($('status-counters'), Object.entries(s.counters || {}).map(([k, v]) => [k.replace(/_/g, ' '), v]));
}

setInterval(() => {
  if (document.hidden) return;
  if (state.tab === 'connections') loadFlows().catch(() => {});
  if (state.tab === 'status') loadStatus().catch(() => {});
}, 2000);

// ---- the live stream ------------------------------------------------------------------------
function setLink(up, why) {
  state.up = up;
  $('link').textContent = up ? 'connected' : 'alegated unreachable';
  $('link').classList.toggle('down', !up);
  $('banner').hidden = up;
  if (!up) $('banner').textContent = 'alegate-web cannot reach alegated' + (why ? ': ' + why : '') + '. Retrying…';
}

async function resync() {
  try {
    const pending = await api('/api/pending');
    setLink(true);
    state.resolved.clear();
    const ids = new Set(pending.map((p) => p.id));
    for (const id of [...state.pending.keys()]) if (!ids.has(id)) removePending(id);
    for (const p of pending) addPending(p);
  } catch (err) {
    if (err.status === 401) { setLink(false, 'the access token is missing or wrong: open the URL alegate-web printed'); return; }
    setLink(false, err.message);
  }
}

async function resyncEvents() {
  try {
    if (!state.rules.size) await loadRulesCache();
    for (const ev of await api('/api/events?limit=' + EVENTS_SHOWN)) addEvent(ev);
    state.events.sort((a, b) => a.seq - b.seq);
    renderEvents(true);
  } catch (err) { /* the main stream reports the link */ }
}

// Two streams: waiting flows always; events only while the Events page is
// shown (a busy machine makes many, and nothing else needs them).
function connect() {
  const es = new EventSource('/api/events?only=pending');
  es.addEventListener('hello', resync);
  es.addEventListener('resync', resync);
  es.addEventListener('pending', (m) => {
    const p = JSON.parse(m.data);
    state.resolved.delete(p.id);
    addPending(p);
  });
  es.addEventListener('resolved', (m) => {
    const r = JSON.parse(m.data);
    if (!state.pending.has(r.id)) state.resolved.add(r.id);
    removePending(r.id);
  });
  es.addEventListener('daemon', (m) => {
    const d = JSON.parse(m.data);
    if (d.up) resync(); else setLink(false, d.error);
  });
  es.onerror = () => { if (es.readyState !== EventSource.OPEN) setLink(false, 'alegate-web does not answer'); };
}

let eventStream = null;
function followEvents(on) {
  if (on && !eventStream) {
    eventStream = new EventSource('/api/events?only=events');
    eventStream.addEventListener('hello', resyncEvents);
    eventStream.addEventListener('resync', resyncEvents);
    eventStream.addEventListener('daemon', (m) => { if (JSON.parse(m.data).up) resyncEvents(); });
    eventStream.addEventListener('event', (m) => addEvent(JSON.parse(m.data)));
  } else if (!on && eventStream) {
    eventStream.close();
    eventStream = null;
  }
}

// ---- keys ------------------------------------------------------------------------------
document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target.closest('input, select, textarea')) return;
  const n = '123456'.indexOf(e.key);
  if (n >= 0) { location.hash = '#' + TABS[n]; return; }
  if (state.tab !== 'waiting') return;
  const id = state.selected;
  switch (e.key) {
  case 'j': case 'ArrowDown': moveSelection(1); break;
  case 'k': case 'ArrowUp': moveSelection(-1); break;
  case 'a': if (id !== null) decide(id, 'allow'); break;
  case 'd': if (id !== null) decide(id, 'deny'); break;
  case 'A': if (id !== null) decide(id, 'allow', 'always'); break;
  case 'D': if (id !== null) decide(id, 'deny', 'always'); break;
  default: return;
  }
  e.preventDefault();
});

document.addEventListener('visibilitychange', () => { if (!document.hidden) state.notifyQueue = []; });
setupNotifyButton();
showTab(location.hash.slice(1));
waitingChanged();
connect();
