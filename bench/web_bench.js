// web_bench.js URL COUNT OUT — open alegate-web's Waiting page in chromium,
// wait until COUNT rows arrived, write {local: ms since the epoch when its
// row entered the page} to OUT.  Any JavaScript error is reported.
'use strict';
const path = require('path');
const fs = require('fs');
const os = require('os');
const { chromium } = require(path.join(__dirname, '..', 'tests', 'web', 'node_modules', 'playwright-core'));

(async () => {
  const [url, count, out] = process.argv.slice(2);
  const ctx = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'ag-webbench-')), {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
  });
  const errors = [];
  await ctx.addInitScript(() => {
    window.__rowSeen = {};
    window.__msgSeen = {};
    const add = EventSource.prototype.addEventListener;
    EventSource.prototype.addEventListener = function (type, fn, o) {
      if (type !== 'pending') return add.call(this, type, fn, o);
      return add.call(this, type, (m) => { window.__msgSeen[JSON.parse(m.data).local] = Date.now(); fn(m); }, o);
    };
    new MutationObserver((ms) => {
      const now = Date.now();
      for (const m of ms) for (const n of m.addedNodes)
        if (n.dataset && n.dataset.local && !window.__rowSeen[n.dataset.local]) window.__rowSeen[n.dataset.local] = now;
    }).observe(document, { childList: true, subtree: true });
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  if (process.env.EVENTS_TAB) {	// a second tab shows the events, live
    const ev = await ctx.newPage();
    ev.on('pageerror', (e) => errors.push(e.message));
    await ev.goto(url.replace(/\?.*/, '#events'));
  }
  console.log('page open');
  await page.waitForFunction((n) => Object.keys(window.__rowSeen).length >= n, Number(count),
    { timeout: 300000, polling: 1000 });
  const seen = await page.evaluate(() => window.__rowSeen);
  fs.writeFileSync(out + '.msg', JSON.stringify(await page.evaluate(() => window.__msgSeen)));
  const shown = await page.locator('#waiting-rows tr').count();
  fs.writeFileSync(out, JSON.stringify(seen));
  // the pages stay open (streams and all) until the load ends
  const until = Number(process.env.HOLD_UNTIL || 0);
  if (until > Date.now()) await page.waitForTimeout(until - Date.now());
  console.log('rows ' + shown + ', errors ' + errors.length + (errors.length ? ': ' + errors.join(' | ') : ''));
  await ctx.close();
})().catch((e) => { console.error(e); process.exit(1); });
