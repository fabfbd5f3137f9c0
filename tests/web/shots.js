// shots.js — screenshots of every page of alegate-web for docs/img (run by
// tests/web/screenshots.sh, which makes the namespaces, flows and rules).
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const os = require('os');
const path = require('path');

async function main() {
  const [url, out] = process.argv.slice(2);
  const ctx = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'ag-shots-')), {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 720 }, deviceScaleFactor: 1,
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  await page.goto(url);
  await page.waitForSelector('#waiting-rows tr');
  await page.waitForTimeout(1500);	// the arrival highlight fades
  const take = async (name, p = page) => p.screenshot({ path: path.join(out, 'web-' + name + '.png') });
  await page.locator('#waiting-rows tr').nth(1).click({ position: { x: 20, y: 10 } });
  await take('waiting');
  for (const tab of ['connections', 'events', 'rules', 'status']) {
    await page.click('a[data-tab=' + tab + ']');
    await page.waitForTimeout(800);
    await take(tab);
  }
  const narrow = await ctx.newPage();
  await narrow.setViewportSize({ width: 390, height: 844 });
  await narrow.goto(url.replace(/\?.*/, ''));
  await narrow.waitForSelector('#waiting-rows tr');
  await narrow.waitForTimeout(1500);
  await take('narrow', narrow);
  await ctx.close();
}
main().catch((e) => { console.error(e); process.exit(1); });
