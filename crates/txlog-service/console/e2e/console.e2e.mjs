#!/usr/bin/env node
// The auditor console end to end in headless Chromium (Debian's, driven by playwright-core).
// Started by crates/txlog-service/tests/it/console_e2e.rs, which runs the identity provider and the
// log, appends the records and tampers with the store between the two phases:
//
//   node e2e/console.e2e.mjs verify     sign in, filter by order id, open a record: proof verified
//   node e2e/console.e2e.mjs tampered   sign in, open the same record: the proof fails
//
// Environment: CONSOLE_URL (…/console/), ORDER_ID, ORDER_RECORDS (how many the order has),
// RECORD_SEQ (the record to open), RECORDS (how many the log holds), READ_TOKEN (a txlog:read
// token to paste instead of signing in), ARTIFACTS (screenshot directory). Exit 0 when every check
// held; otherwise 1 with what failed.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const phase = process.argv[2];
const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const consoleUrl = env('CONSOLE_URL');
const orderId = env('ORDER_ID');
const orderRecords = Number(env('ORDER_RECORDS'));
const recordSeq = env('RECORD_SEQ');
const records = Number(env('RECORDS'));
const readToken = env('READ_TOKEN');
const artifacts = env('ARTIFACTS');
const TIMEOUT = 20_000;
mkdirSync(artifacts, { recursive: true });

const problems = [];
let current = null;
function check(condition, what) {
  if (!condition) throw new Error(what);
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  console.log(`screenshot ${name}.png`);
}

/** Watches the console's page: CSP violations, script errors and calls off this machine. */
function watch(page) {
  page.on('console', (message) => {
    if (message.type() === 'error' && page.url().startsWith(consoleUrl)) problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
}

async function open(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // Nothing leaves the machine (the identity provider's own login page asks for a web font).
  // The console itself must ask for nothing from elsewhere.
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => {
    const from = route.request().frame()?.url() ?? '';
    if (from.startsWith(consoleUrl)) problems.push(`the console requested ${route.request().url()}`);
    return route.abort();
  });
  const page = await context.newPage();
  current = page;
  page.setDefaultTimeout(TIMEOUT);
  watch(page);
  return page;
}

/** Signs in at the identity provider, reaching the console's button by keyboard alone. */
async function signIn(page, step) {
  await page.goto(consoleUrl, { waitUntil: 'domcontentloaded' });
  await page.locator('#sign-in').waitFor();
  if (step) await shot(page, `${step}-sign-in`);
  for (let i = 0; i < 10; i++) {
    if (await page.evaluate(() => document.activeElement?.id === 'sign-in')) break;
    await page.keyboard.press('Tab');
  }
  check(await page.evaluate(() => document.activeElement?.id === 'sign-in'), 'the sign-in button cannot be reached by Tab');
  await page.keyboard.press('Enter');
  await page.locator('input[name=login]').fill('auditor');
  await page.locator('input[name=password]').fill('any');
  await page.locator('button[type=submit]').click();
  await page.locator('button[type=submit]', { hasText: 'Continue' }).click();
  await page.waitForURL((url) => url.href.startsWith(consoleUrl) && !url.search.includes('code='));
  await page.locator('#account', { hasText: 'Signed in as auditor' }).waitFor();
}

/** The seqs in the records table, top to bottom. */
async function seqs(page) {
  return page.locator('#records tbody tr td:first-child').allTextContents();
}

/** Newest first, 25 a page: the second page goes on where the first stopped. */
async function pageThrough(page) {
  await page.locator('#records tbody tr').first().waitFor();
  const first = await seqs(page);
  check(first.length === 25 && first[0] === String(records - 1), `first page: ${first}`);
  await page.locator('.pager a', { hasText: 'Older' }).click();
  await page.waitForFunction((top) => document.querySelector('#records tbody td')?.textContent === top, String(records - 26));
  const second = await seqs(page);
  check(second.length === Math.min(25, records - 25), `second page: ${second}`);
  await page.locator('.pager a', { hasText: 'Newest' }).click();
  await page.waitForFunction((top) => document.querySelector('#records tbody td')?.textContent === top, String(records - 1));
}

async function filterByOrder(page, shots) {
  await page.locator('#records tbody tr').first().waitFor();
  if (shots) await shot(page, '02-records');
  if (shots) await pageThrough(page);
  await page.getByLabel('Order id').fill(orderId);
  await page.getByLabel('Order id').press('Enter');
  await page.waitForFunction(
    ([id, n]) => {
      const rows = [...document.querySelectorAll('#records tbody tr')];
      return rows.length === n && rows.every((row) => row.textContent.includes(id));
    },
    [orderId, orderRecords],
  );
  if (shots) await shot(page, '03-filtered-by-order');
}

async function proofStatus(page, expected) {
  const status = page.locator(`#proof-status.${expected}`);
  await status.waitFor();
  return status.textContent();
}

async function verifyPhase(browser) {
  const page = await open(browser);
  await signIn(page, '01');
  await filterByOrder(page, true);
  await page.locator('#records a', { hasText: new RegExp(`^${recordSeq}$`) }).click();
  const verified = await proofStatus(page, 'verified');
  check(/^Verified against checkpoint size \d+\.$/.test(verified), `unexpected proof status: ${verified}`);
  await page.locator('.chain', { hasText: 'Next record' }).waitFor();
  await shot(page, '04-proof-verified');
  await page.locator('.fields a', { hasText: orderId }).click();
  await page.waitForFunction((n) => document.querySelectorAll('.timeline li').length === n, orderRecords);
  await shot(page, '05-order-story');
  await page.locator('header a', { hasText: 'Activity' }).click();
  await page.locator('svg.chart rect.bar').first().waitFor();
  await page.locator('#chain-status.verified').waitFor();
  await page.locator('#checkpoint-status.verified').waitFor();
  await shot(page, '06-activity');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goBack();
  await page.goBack();
  await proofStatus(page, 'verified');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the record page is ${overflow}px wider than a phone`);
  await shot(page, '07-phone-record');
  await pastedToken(browser);
}

/** Without signing in: a pasted token works the same, and stays out of the page's storage. */
async function pastedToken(browser) {
  const page = await open(browser);
  await page.goto(`${consoleUrl}#/records`, { waitUntil: 'domcontentloaded' });
  await page.locator('summary', { hasText: 'paste a bearer token' }).click();
  await page.getByLabel('Bearer token (txlog:read)').fill(readToken);
  await page.locator('button', { hasText: 'Use this token' }).click();
  await page.locator('#records tbody tr').first().waitFor();
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  check(!stored.includes(readToken.slice(-20)), 'the token was written to web storage');
}

async function tamperedPhase(browser) {
  const page = await open(browser);
  await signIn(page, null);
  await filterByOrder(page, false);
  await page.locator('#records a', { hasText: new RegExp(`^${recordSeq}$`) }).click();
  const failed = await proofStatus(page, 'failed');
  check(failed.startsWith('Not verified: the record is not in the signed tree'), `unexpected proof status: ${failed}`);
  await page.locator('.steps li', { hasText: 'but the record says' }).waitFor();
  await page.locator('.steps li', { hasText: 'the record was changed after it was logged' }).waitFor();
  await shot(page, '08-proof-failed');
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  if (phase === 'verify') await verifyPhase(browser);
  else if (phase === 'tampered') await tamperedPhase(browser);
  else throw new Error(`unknown phase ${phase}: verify or tampered`);
  check(problems.length === 0, problems.join('; '));
  console.log(`console e2e ${phase}: passed`);
} catch (error) {
  console.error(`console e2e ${phase}: FAILED: ${error.message}${problems.length ? `\n${problems.join('\n')}` : ''}`);
  if (current) {
    console.error(`at ${current.url()}: ${await current.locator('main').innerText().catch(() => '?')}`);
    await shot(current, `failed-${phase}`).catch(() => {});
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
