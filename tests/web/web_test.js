// web_test.js — alegate-web in a real browser: Debian's chromium driven by
// playwright-core, against a real alegated guarding the client namespace.
// test_web.sh sets everything up and passes it in the environment:
//   AG_URL (the URL alegate-web printed), AG_NSC, AG_S4, AG_BIN (copies of
//   ag_connect, one per test), AG_CTL (alegatectl), AG_SOCK, AG_T (temp dir),
//   AG_SHOTS (optional: a directory for screenshots of every page).
// Prints "ok NAME" / "not ok NAME — why", like every test program here.
'use strict';
const { chromium } = require('playwright-core');
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const env = (k) => { if (!process.env[k]) throw new Error('missing ' + k); return process.env[k]; };
const URL0 = env('AG_URL'), NSC = env('AG_NSC'), S4 = env('AG_S4'), BIN = env('AG_BIN');
const CTL = env('AG_CTL'), SOCK = env('AG_SOCK'), T = env('AG_T'), SHOTS = process.env.AG_SHOTS;
const ORIGIN = new URL(URL0).origin;
const TOKEN = new URL(URL0).searchParams.get('token');
const PORT = new URL(URL0).port;

let failed = 0;
const pass = (n) => console.log('ok ' + n);
const fail = (n, why) => { failed++; console.log('not ok ' + n + ' — ' + String(why).replace(/\n/g, ' ')); };
async function check(name, fn) {
  try { await fn(); pass(name); } catch (e) { fail(name, e.message); }
}
function assert(c, why) { if (!c) throw new Error(why); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the client namespace ---------------------------------------------------------------
const kids = [];
// hold NAME — ag_connect copied as NAME connects to the server and waits for
// the connection to end (-w); its lines go to T/NAME.out.
function hold(name, timeout = 20000) {
  const exe = path.join(BIN, name);
  fs.copyFileSync(path.join(BIN, 'ag_connect'), exe);
  fs.chmodSync(exe, 0o755);
  const out = path.join(T, name + '.out');
  fs.writeFileSync(out, '');
  const fd = fs.openSync(out, 'a');
  const k = spawn('ip', ['netns', 'exec', NSC, exe, '-w', '-t', String(timeout), S4, '8080'],
    { stdio: ['ignore', fd, fd] });
  kids.push(k);
  return { exe, out, read: () => fs.readFileSync(out, 'utf8') };
}
function ctl(...args) { return execFileSync(CTL, ['-s', SOCK, ...args], { encoding: 'utf8' }); }
function ctlJSON(...args) { return JSON.parse(ctl(...args, '--json')); }
async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(50);
  }
}
function pendingOf(exe) { return ctlJSON('pending').find((p) => p.exe === exe); }

// ---- the browser -------------------------------------------------------------------------
const errors = [];
function watch(page, label) {
  page.on('pageerror', (e) => errors.push(label + ': ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(label + ': console: ' + m.text()); });
  page.on('requestfailed', (r) => {
    // an EventSource cut when a page closes is not an error of the page
    if (!r.url().includes('/api/events')) errors.push(label + ': request failed: ' + r.url() + ' ' + (r.failure() || {}).errorText);
  });
}
async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'web-' + name + '.png'), fullPage: false });
}

async function main() {
  // A fresh profile (--user-data-dir) each run: playwright passes it itself.
  const ctx = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(T, 'chromium-')), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 760 },
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  watch(page, 'page');

  // Record when each waiting row enters the page, in the page's own clock.
  await ctx.addInitScript(() => {
    window.__rowSeen = {};
    new MutationObserver((ms) => {
      for (const m of ms) for (const n of m.addedNodes)
        if (n.dataset && n.dataset.local) window.__rowSeen[n.dataset.local] = Date.now();
    }).observe(document, { childList: true, subtree: true });
  });

  await check('token_url_opens_the_page_and_leaves_no_token_in_the_address', async () => {
    const r = await page.goto(URL0);
    assert(r.ok(), 'status ' + r.status());
    assert(!page.url().includes('token'), 'address still holds the token: ' + page.url());
    await page.waitForSelector('#link:not(.down)', { timeout: 5000 });
    const cookies = await ctx.cookies();
    const c = cookies.find((x) => x.name === 'alegate_web_' + PORT);
    assert(c && c.httpOnly && c.sameSite === 'Strict', 'cookie: ' + JSON.stringify(cookies));
  });

  // ---- a held connection shows within 1 s; Allow lets it through ----------------------
  const a = hold('web_a');
  let rowA;
  await check('waiting_flow_shows_in_the_page_within_1s_of_its_pend', async () => {
    const p = await waitFor(() => pendingOf(a.exe), 5000, 'the pend');
    rowA = page.locator('#waiting-rows tr[data-id="' + p.id + '"]');
    await rowA.waitFor({ timeout: 5000 });
    const seen = await page.evaluate((l) => window.__rowSeen[l], p.local);
    const ev = ctlJSON('events', '--limit', '1000').filter((e) => e.type === 'pend' && e.local === p.local).pop();
    assert(ev, 'no pend event for ' + p.local);
    const lag = seen - ev.time_ms;
    assert(lag < 1000, 'row came ' + lag + ' ms after the pend');
    console.log('# pend to row: ' + lag + ' ms');
  });
  await check('waiting_row_shows_program_pid_user_destination_direction_countdown', async () => {
    const text = await rowA.innerText();
    const p = pendingOf(a.exe);
    for (const want of ['web_a', a.exe, 'pid ' + p.pid, S4, 'tcp 8080 · out'])
      assert(text.includes(want), 'row lacks "' + want + '": ' + text);
    assert(/uid|root/.test(text), 'no user: ' + text);
    const t1 = await rowA.locator('.secs').innerText();
    await sleep(2100);
    const t2 = await rowA.locator('.secs').innerText();
    const vis = await page.evaluate(() => document.visibilityState);
    assert(/\d+s/.test(t1) && parseInt(t2) < parseInt(t1), 'countdown did not move: ' + t1 + ' -> ' + t2 + ' (' + vis + ')');
    const buttons = await rowA.locator('button').allInnerTexts();
    assert(buttons[0] === 'Allow' && buttons[1] === 'Deny', 'buttons: ' + buttons);
    assert((await page.title()) === '(1) alegate', 'title: ' + (await page.title()));
  });
  await shot(page, 'waiting');
  await check('clicking_allow_lets_the_held_connection_through', async () => {
    await rowA.getByRole('button', { name: 'Allow', exact: true }).click();
    await waitFor(() => /^connected /m.test(a.read()), 5000, 'the connect: ' + a.read());
    await rowA.waitFor({ state: 'detached', timeout: 2000 });
    assert((await page.title()) === 'alegate', 'title: ' + (await page.title()));
  });

  // ---- Connections lists it ---------------------------------------------------------------
  await check('connections_page_lists_the_live_flow', async () => {
    await page.click('a[data-tab=connections]');
    await page.locator('#flows-rows tr').filter({ has: page.locator('.prog', { hasText: /^web_a$/ }) })
      .waitFor({ timeout: 5000 });
  });
  await shot(page, 'connections');

  // ---- Events shows a decision made elsewhere, live; the row leaves ---------------------
  await page.click('a[data-tab=events]');
  const b = hold('web_b');
  await check('events_page_shows_the_pend_and_the_decision_live', async () => {
    const p = await waitFor(() => pendingOf(b.exe), 5000, 'the pend of web_b');
    await page.locator('#events-rows tr[data-type=pend]', { hasText: 'web_b' }).first().waitFor({ timeout: 3000 });
    ctl('allow', String(p.id));
    await page.locator('#events-rows tr[data-type=complete]', { hasText: 'web_b' }).first().waitFor({ timeout: 3000 });
  });
  await shot(page, 'events');
  await check('waiting_row_leaves_when_the_flow_is_decided_elsewhere', async () => {
    await page.click('a[data-tab=waiting]');
    await page.locator('#waiting-rows tr', { hasText: 'web_b' }).waitFor({ state: 'detached', timeout: 2000 });
    await page.locator('#waiting-empty').waitFor({ state: 'visible', timeout: 2000 });
  });

  // ---- Deny always: a rule under Rules, and the live flow of web_a is torn down -------------
  {	// a second connection of web_a: not decided by the "once" before
    const fd = fs.openSync(path.join(T, 'web_a2.out'), 'w');
    kids.push(spawn('ip', ['netns', 'exec', NSC, a.exe, '-t', '20000', S4, '8080'], { stdio: ['ignore', fd, fd] }));
  }
  let denyRule;
  await check('deny_always_adds_a_rule_shown_under_rules', async () => {
    const p = await waitFor(() => ctlJSON('pending').find((x) => x.exe === a.exe), 5000, 'second pend of web_a');
    const row = page.locator('#waiting-rows tr[data-id="' + p.id + '"]');
    await row.waitFor({ timeout: 3000 });
    await row.locator('select.dur').selectOption('always');
    await row.locator('select.scope').selectOption('app');
    await row.getByRole('button', { name: 'Deny', exact: true }).click();
    await row.waitFor({ state: 'detached', timeout: 3000 });
    denyRule = await waitFor(() => ctlJSON('rules', 'list').find((r) => r.app === a.exe && r.action === 'deny'), 3000, 'the rule');
    assert(denyRule.lifetime === 'always', 'lifetime ' + denyRule.lifetime);
    await page.click('a[data-tab=rules]');
    await page.locator('#rules-rows tr[data-rule="' + denyRule.id + '"]', { hasText: 'deny' }).waitFor({ timeout: 3000 });
  });
  await check('deny_always_tears_down_the_matching_live_flow', async () => {
    await waitFor(() => /^(reset|error)/m.test(a.read()), 3000, 'the teardown of web_a: ' + a.read());
  });
  await shot(page, 'rules');

  // ---- Rules: add, edit, disable, delete --------------------------------------------------
  await check('rules_page_adds_edits_disables_and_deletes_a_rule', async () => {
    await page.click('#rule-new');
    const f = page.locator('#rule-form');
    await f.locator('[name=action]').selectOption('allow');
    await f.locator('[name=app]').fill('/usr/bin/web-test-tool');
    await f.locator('[name=host]').fill('example.org');
    await f.locator('[name=port]').fill('443');
    await f.locator('[name=proto]').selectOption('tcp');
    await f.locator('[name=name]').fill('web test rule');
    await f.locator('[name=lifetime]').selectOption('until-restart');
    await page.click('#rule-save');
    const added = await waitFor(() => ctlJSON('rules', 'list').find((r) => r.name === 'web test rule'), 3000, 'the added rule');
    assert(added.port == 443 && added.host === 'example.org' && added.lifetime === 'until-restart', JSON.stringify(added));
    const tr = page.locator('#rules-rows tr[data-rule="' + added.id + '"]');
    await tr.waitFor({ timeout: 3000 });
    await tr.getByRole('button', { name: 'Edit' }).click();
    await f.locator('[name=port]').fill('8443');
    await page.click('#rule-save');
    const edited = await waitFor(() => ctlJSON('rules', 'list').find((r) => r.name === 'web test rule' && r.port == 8443), 3000, 'the edited rule');
    assert(edited.id !== added.id, 'an edit kept the id');
    await waitFor(() => !ctlJSON('rules', 'list').some((r) => r.id === added.id), 3000, 'the old rule to go');
    const tr2 = page.locator('#rules-rows tr[data-rule="' + edited.id + '"]');
    await tr2.waitFor({ timeout: 3000 });
    await tr2.locator('input[type=checkbox]').uncheck();
    await waitFor(() => ctlJSON('rules', 'list').find((r) => r.id === edited.id && r.enabled === false), 3000, 'disabled');
    await page.locator('#rules-rows tr.off[data-rule="' + edited.id + '"]').waitFor({ timeout: 3000 });
    await tr2.locator('input[type=checkbox]').check();
    await waitFor(() => ctlJSON('rules', 'list').find((r) => r.id === edited.id && r.enabled !== false), 3000, 'enabled again');
    const del = page.locator('#rules-rows tr[data-rule="' + edited.id + '"]').getByRole('button', { name: /Delete|Confirm/ });
    await del.click();
    await del.click();
    await waitFor(() => !ctlJSON('rules', 'list').some((r) => r.id === edited.id), 3000, 'deleted');
  });

  // A rule pinned to one build of a program must stay pinned when edited here: an edit that
  // dropped the checksum would let any file at that path through.
  await check('rules_page_edit_keeps_the_sha256_of_a_rule', async () => {
    const sha = 'ab'.repeat(32);
    ctl('rules', 'add', '--action', 'allow', '--app', '/usr/bin/web-sha-tool', '--sha256', sha.toUpperCase(),
      '--port', '443', '--name', 'web sha rule', '--until-restart');
    const added = await waitFor(() => ctlJSON('rules', 'list').find((r) => r.name === 'web sha rule'), 3000, 'the sha rule');
    await page.click('a[data-tab=waiting]');	/* the rules page loads when shown */
    await page.click('a[data-tab=rules]');
    const tr = page.locator('#rules-rows tr[data-rule="' + added.id + '"]');
    await tr.waitFor({ timeout: 3000 });
    assert((await tr.textContent()).includes('sha256=' + sha), 'the row shows the checksum: ' + await tr.textContent());
    await tr.getByRole('button', { name: 'Edit' }).click();
    const f = page.locator('#rule-form');
    await f.locator('[name=port]').fill('8443');
    await page.click('#rule-save');
    const edited = await waitFor(() => ctlJSON('rules', 'list').find((r) => r.name === 'web sha rule' && r.port == 8443), 3000, 'the edited sha rule');
    assert(edited.sha256 === sha, 'the edit dropped or changed the checksum: ' + JSON.stringify(edited));
    ctl('rules', 'del', edited.id);
  });

  // A rule with a list and several values per condition: the page shows every condition, and an
  // edit of its name keeps them all (a list or a protocol dropped would widen the rule).
  await check('rules_page_edit_keeps_lists_and_several_values_per_condition', async () => {
    const list = T + '/web-ads.txt';
    fs.writeFileSync(list, '0.0.0.0 ads.example.test\n');
    fs.chmodSync(list, 0o644);
    ctl('rules', 'add', '--action', 'deny', '--host-list', list, '--proto', 'tcp', '--proto', 'udp',
      '--remote', '10.0.0.0/8', '--remote', 'fd00::/8', '--port', '80,443', '--name', 'web list rule', '--until-restart');
    const added = await waitFor(() => ctlJSON('rules', 'list').find((r) => r.name === 'web list rule'), 3000, 'the list rule');
    await page.click('a[data-tab=waiting]');
    await page.click('a[data-tab=rules]');
    const tr = page.locator('#rules-rows tr[data-rule="' + added.id + '"]');
    await tr.waitFor({ timeout: 3000 });
    const text = await tr.textContent();
    for (const want of ['host_list=' + list, 'remote=10.0.0.0/8,fd00::/8', 'port=80,443', 'proto=tcp,udp'])
      assert(text.includes(want), 'the row lacks ' + want + ': ' + text);
    await tr.getByRole('button', { name: 'Edit' }).click();
    const f = page.locator('#rule-form');
    await f.locator('[name=name]').fill('web list rule 2');
    await page.click('#rule-save');
    const edited = await waitFor(() => ctlJSON('rules', 'list').find((r) => r.name === 'web list rule 2'), 3000, 'the edited list rule');
    for (const k of ['host_list', 'remote', 'port', 'proto', 'direction', 'action'])
      assert(JSON.stringify(edited[k]) === JSON.stringify(added[k]), 'the edit changed ' + k + ': ' + JSON.stringify(added[k]) + ' -> ' + JSON.stringify(edited[k]));
    ctl('rules', 'del', edited.id);
  });

  // ---- keyboard --------------------------------------------------------------------------
  await page.click('a[data-tab=waiting]');
  const c = hold('web_c');
  await check('keyboard_a_allows_the_selected_flow', async () => {
    await page.locator('#waiting-rows tr', { hasText: 'web_c' }).waitFor({ timeout: 3000 });
    await page.locator('body').press('a');
    await waitFor(() => /^connected /m.test(c.read()), 3000, 'the connect of web_c: ' + c.read());
  });

  // ---- Status ---------------------------------------------------------------------------
  await check('status_page_shows_the_daemon_and_its_counters', async () => {
    await page.keyboard.press('5');
    await page.locator('#status-main dd').first().waitFor({ timeout: 3000 });
    const text = await page.locator('#status').innerText();
    assert(/backend/.test(text) && /pends/.test(text), text.slice(0, 200));
  });
  await shot(page, 'status');

  // ---- Traffic: a program's bytes and its plot over time ---------------------------------
  await check('traffic_page_plots_a_programs_bytes_over_time', async () => {
    const exe = path.join(BIN, 'web_t');
    fs.copyFileSync(path.join(BIN, 'ag_connect'), exe);
    fs.chmodSync(exe, 0o755);
    ctl('rules', 'add', '--action', 'allow', '--app', exe, '--always');
    // a closed connection's conntrack entry (and so its bytes) waits out
    // TIME_WAIT when conntrack decides it: one second in this namespace
    execFileSync('ip', ['netns', 'exec', NSC, 'sysctl', '-qw',
      'net.netfilter.nf_conntrack_tcp_timeout_time_wait=1']);
    execFileSync('ip', ['netns', 'exec', NSC, exe, '-t', '5000', '-s', '200000', S4, '8080']);
    await waitFor(() => ctlJSON('traffic').some((r) => r.exe === exe && r.bytes_out >= 200000),
      15000, 'web_t in traffic: ' + ctl('traffic'));
    await page.keyboard.press('6');
    const row = page.locator('#traffic-rows tr').filter({ has: page.locator('.prog', { hasText: /^web_t$/ }) });
    await row.waitFor({ timeout: 3000 });
    const text = await row.innerText();
    assert(/KiB/.test(text), 'row: ' + text);
    const points = await row.locator('svg.plot').getAttribute('data-points');
    assert(Number(points) >= 1, 'plot points: ' + points);
    assert(await row.locator('svg.plot rect.out').count() >= 1, 'no bar for the bytes sent');
  });
  await shot(page, 'traffic');

  // ---- background tab: a notification and the count in the title ------------------------
  await check('background_tab_raises_a_notification_and_counts_in_the_title', async () => {
    await page.keyboard.press('1');
    await page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      window.__notes = [];
      window.Notification = class { constructor(t, o) { window.__notes.push([t, o.body]); } };
      window.Notification.permission = 'granted';
    });
    const d = hold('web_d');
    await page.waitForFunction(() => window.__notes.length > 0, null, { timeout: 3000 });
    const notes = await page.evaluate(() => window.__notes);
    assert(notes[0][1].includes('web_d') && notes[0][1].includes(S4), JSON.stringify(notes));
    assert((await page.title()) === '(1) alegate', 'title ' + (await page.title()));
    const p = pendingOf(d.exe);
    if (p) ctl('deny', String(p.id), '--reject');
  });

  // ---- narrow screen ---------------------------------------------------------------------
  await check('narrow_screen_keeps_every_waiting_field_and_both_buttons_in_view', async () => {
    const e = hold('web_e');
    const mp = await ctx.newPage();
    await mp.setViewportSize({ width: 390, height: 800 });
    watch(mp, 'narrow');
    await mp.goto(URL0);
    const row = mp.locator('#waiting-rows tr', { hasText: 'web_e' });
    await row.waitFor({ timeout: 5000 });
    for (const name of ['Allow', 'Deny']) {
      const box = await row.getByRole('button', { name, exact: true }).boundingBox();
      assert(box && box.x >= 0 && box.x + box.width <= 390, name + ' at ' + JSON.stringify(box));
    }
    const width = await mp.evaluate(() => document.documentElement.scrollWidth);
    assert(width <= 390, 'the page scrolls sideways: ' + width + ' px');
    if (SHOTS) await mp.screenshot({ path: path.join(SHOTS, 'web-narrow.png') });
    await row.getByRole('button', { name: 'Deny', exact: true }).click();
    await row.waitFor({ state: 'detached', timeout: 3000 });
    await mp.close();
  });

  // ---- another origin cannot use the API, even holding the token ---------------------------
  await check('cross_origin_page_cannot_post_even_with_the_token', async () => {
    const op = await ctx.newPage();
    // localhost and 127.0.0.1 are different origins (and sites) of the same server
    await op.goto('http://localhost:' + PORT + '/?token=' + TOKEN);
    const before = ctlJSON('rules', 'list').length;
    const r = await op.evaluate(async ([target, token]) => {
      try {
        const res = await fetch(target + '/api/rules', { method: 'POST', headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' }, body: '{"action":"allow"}' });
        return 'status ' + res.status;
      } catch (e) { return 'blocked'; }
    }, [ORIGIN, TOKEN]);
    assert(r === 'blocked' || r === 'status 403', r);
    const direct = await op.request.post(ORIGIN + '/api/rules', { headers: { Origin: 'http://localhost:' + PORT, Authorization: 'Bearer ' + TOKEN }, data: { action: 'allow' } });
    assert(direct.status() === 403, 'direct POST: ' + direct.status());
    assert(ctlJSON('rules', 'list').length === before, 'a rule was added');
    await op.close();
  });

  await check('no_token_gets_401_in_the_browser', async () => {
    await page.close();
    await ctx.clearCookies();
    const fp = await ctx.newPage();
    const r = await fp.goto(ORIGIN + '/');
    assert(r.status() === 401, 'status ' + r.status());
    await fp.close();
  });


  await check('no_javascript_error_on_any_page', async () => {
    assert(errors.length === 0, errors.join(' | '));
  });
  await ctx.close();
}

main().catch((e) => fail('browser_run', e.stack || e.message)).finally(() => {
  for (const k of kids) { try { k.kill('SIGKILL'); } catch (e) { /* gone */ } }
  process.exit(failed ? 1 : 0);
});
