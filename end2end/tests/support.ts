// Helpers shared by the end-to-end tests: the test account, the ledger, signing in.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test as base, expect, type Page } from '@playwright/test';

/**
 * Playwright's `test`, failing any test whose pages break the Content-Security-Policy:
 * Chromium reports each refusal on the console ("Refused to … Content Security Policy").
 */
export const test = base.extend({
  context: async ({ context }, use, testInfo) => {
    const violations: string[] = [];
    context.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) violations.push(`${msg.page()?.url()}: ${msg.text()}`);
    });
    await use(context);
    expect(violations, `CSP violations in "${testInfo.title}"`).toEqual([]);
  },
});

export const SUPERVISOR = { email: 'e2e.supervisor@billie.example', password: 'e2e-password-long-enough' };
export const ADMIN = { email: 'e2e.admin@billie.example', password: 'e2e-admin-password-long' };
export const BASE_URL = process.env.BASE_URL ?? 'http://127.0.0.1:8377';

/** Creates (or resets) an account with the CLI, as an operator would. */
export function addUser(email: string, password: string, role: 'supervisor' | 'admin' = 'supervisor') {
  addUserIn(process.env.DATABASE_URI ?? '', email, password, role);
}

/** As `addUser`, in the database `databaseUri`. */
export function addUserIn(databaseUri: string, email: string, password: string, role: 'supervisor' | 'admin' = 'supervisor') {
  const bin = process.env.APP_BIN ?? resolve(__dirname, '../../target/debug/billie-dashboard');
  execFileSync(bin, ['user', 'add', '--email', email, '--role', role, '--replace'], {
    input: `${password}\n`,
    stdio: ['pipe', 'ignore', 'inherit'],
    env: { ...process.env, DATABASE_URI: databaseUri },
  });
}

/** Signs in through the form as `account` (any account). */
export async function signInAs(page: Page, account: { email: string; password: string }, next = '/conversations') {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill(account.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(new RegExp(`${next.replace(/[/?]/g, '\\$&')}$`));
  await hydrated(page);
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const STREAM = process.env.LEDGER_STREAM ?? 'chatLedger';
const FIXTURES = process.env.CONTRACT_FIXTURES ?? resolve(__dirname, '../../tests/fixtures');

export type Fields = Record<string, string>;

export function fixtureEntries(name: string): Fields[] {
  return readFileSync(resolve(FIXTURES, name), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line).fields as Fields);
}

/** XADDs each entry to the ledger, as the chat platform does. */
export function appendEntries(entries: Fields[], stream = STREAM) {
  for (const fields of entries) {
    const args = ['-u', REDIS_URL, 'XADD', stream, '*'];
    for (const [k, v] of Object.entries(fields)) args.push(k, v);
    execFileSync('redis-cli', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  }
}

/** Scrolls a list until every page of it is loaded (its "Show older" link is gone). */
export async function loadEveryPage(page: Page) {
  const cards = page.locator('.conversation-card');
  const more = page.getByRole('link', { name: /^(Show older conversations|Loading…)$/ });
  while ((await more.count()) > 0) {
    const before = await cards.count();
    await page.mouse.wheel(0, 20_000);
    // The next page arrives (more cards), or the list has ended.
    await expect.poll(async () => (await cards.count()) > before || (await more.count()) === 0).toBe(true);
  }
}

/** Waits until the WASM has hydrated the page, so clicks reach live handlers. */
export async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

export async function signIn(page: Page, next = '/conversations', base = '') {
  await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Email').fill(SUPERVISOR.email);
  await page.getByLabel('Password').fill(SUPERVISOR.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(new RegExp(`${next.replace(/[/?]/g, '\\$&')}$`));
  await hydrated(page);
}

/** A unique tag for names and numbers a test creates, so reruns on one database agree. */
export function tag(): string {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.toUpperCase();
}

export function started(conv: string, applicationNumber: string, customerId?: string): Fields {
  const fields: Fields = {
    conv,
    typ: 'conversation_started',
    agt: 'broker',
    seq: '1',
    payload: JSON.stringify({ application_number: applicationNumber, customer_id: customerId }),
  };
  if (customerId) fields.usr = customerId;
  return fields;
}

export function said(conv: string, seq: number, utterance: string, speaker: 'customer' | 'assistant' = 'customer'): Fields {
  return {
    conv,
    typ: speaker === 'customer' ? 'user_input' : 'assistant_response',
    agt: 'broker',
    seq: String(seq),
    payload: JSON.stringify({ utterance, created_at: new Date().toISOString() }),
  };
}

/** The repository's root, where the dashboard is started from. */
export const ROOT = resolve(__dirname, '../..');

/** A TCP port nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

/** Waits until `url` answers 2xx (30 s at most). */
export async function waitFor(url: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts one more dashboard process (`args`, with `env` over the suite's) on `port`. */
export async function startDashboard(port: number, env: Record<string, string> = {}, args: string[] = []): Promise<ChildProcess> {
  const bin = process.env.APP_BIN ?? resolve(ROOT, 'target/debug/billie-dashboard');
  const child = spawn(bin, args, {
    cwd: ROOT,
    env: { ...process.env, LEPTOS_SITE_ADDR: `127.0.0.1:${port}`, ...env },
    stdio: 'ignore',
  });
  await waitFor(`http://127.0.0.1:${port}/healthz`);
  return child;
}
