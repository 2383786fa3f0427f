#!/usr/bin/env node
// The auditor console signs in through Keycloak's real login page (headless Debian Chromium,
// driven by playwright-core). Started by tests/it/keycloak.rs, which runs Keycloak with the realm as
// shipped, both services and one order delivered to the log.
//
//   1. auditor: "Sign in" -> Keycloak's login form -> back at the console, "Signed in as auditor"
//      (preferred_username, not Keycloak's UUID sub), the order's record listed.
//   2. alice (no txlog:read role): Keycloak signs her in but leaves txlog:read out of the
//      token, so the log answers 403 and the console says the scope is missing.
//
// Environment: CONSOLE_URL (…/console/), KEYCLOAK_URL, ORDER_ID, ARTIFACTS (screenshots).
// Exit 0 when every check held; otherwise 1 with what failed.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const consoleUrl = env('CONSOLE_URL');
const keycloakUrl = env('KEYCLOAK_URL');
const orderId = env('ORDER_ID');
const artifacts = env('ARTIFACTS');
const TIMEOUT = 30_000;
mkdirSync(artifacts, { recursive: true });

const problems = [];

async function signIn(browser, user, step) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // Nothing leaves the machine: only the console and Keycloak, both on loopback.
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => {
    problems.push(`${user}: request off the machine: ${route.request().url()}`);
    return route.abort();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (error) => problems.push(`${user}: script error: ${error.message}`));
  await page.goto(consoleUrl, { waitUntil: 'domcontentloaded' });
  await page.locator('#sign-in').click();
  // Keycloak's own login page, served by Keycloak.
  await page.waitForURL((url) => url.href.startsWith(`${keycloakUrl}/realms/`));
  await page.locator('#username').fill(user);
  await page.locator('#password').fill(user);
  await page.screenshot({ path: join(artifacts, `${step}-${user}-keycloak-login.png`), fullPage: true });
  await page.locator('#kc-login').click();
  await page.waitForURL((url) => url.href.startsWith(consoleUrl) && !url.search.includes('code='));
  await page.locator('#account', { hasText: `Signed in as ${user}` }).waitFor();
  return page;
}

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const auditor = await signIn(browser, 'auditor', '01');
    await auditor.waitForFunction(
      (id) => [...document.querySelectorAll('#records tbody tr')].some((row) => row.textContent.includes(id)),
      orderId,
    );
    await auditor.screenshot({ path: join(artifacts, '02-auditor-records.png'), fullPage: true });
    console.log('auditor: signed in through Keycloak, records listed');

    const alice = await signIn(browser, 'alice', '03');
    await alice.getByText('The token lacks the txlog:read scope').waitFor();
    await alice.screenshot({ path: join(artifacts, '04-alice-refused.png'), fullPage: true });
    console.log('alice: signed in, txlog:read not granted, the log answered 403');
  } finally {
    await browser.close();
  }
  if (problems.length) throw new Error(problems.join('\n'));
}

main().catch((error) => {
  console.error(`keycloak.e2e: ${error.stack ?? error}`);
  process.exit(1);
});
