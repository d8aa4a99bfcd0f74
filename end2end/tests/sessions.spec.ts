// Sessions end where they should, and their live feeds with them: sign-out closes that
// session's sockets on every web process (and no other session's), an idle session's
// socket closes at its deadline, activity slides the deadline, and a web process that
// never hears the notice still closes the socket when it re-checks the session.
//
// Two web-only processes with a 6 s idle timeout share the test server's store. The
// second listens on another notice channel, so it never hears the first one's notices:
// it stands for a process whose notice was lost.
import { type ChildProcess } from 'node:child_process';
import { expect, type Browser, type Page } from '@playwright/test';
import { addUser, freePort, hydrated, startDashboard, tag, test } from './support';

const IDLE_SECS = 6;

const processes: ChildProcess[] = [];
let web1 = '';
let web2 = '';

test.beforeAll(async () => {
  const start = async (extra: Record<string, string>) => {
    const port = await freePort();
    processes.push(await startDashboard(port, { ENABLE_EVENT_PROCESSING: 'false', SESSION_IDLE_SECS: String(IDLE_SECS), ...extra }));
    return `http://127.0.0.1:${port}`;
  };
  web1 = await start({});
  // Another stream name: another notice channel, so none of web1's notices reach it.
  web2 = await start({ LEDGER_STREAM: `deaf-${tag().toLowerCase()}:chatLedger` });
});

test.afterAll(() => {
  for (const child of processes) child.kill('SIGTERM');
});

async function account() {
  const user = { email: `sessions.${tag().toLowerCase()}@billie.example`, password: 'a-session-password-long' };
  addUser(user.email, user.password);
  return user;
}

async function signInAt(page: Page, base: string, user: { email: string; password: string }) {
  await page.goto(`${base}/login?next=%2Fconversations`);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(`${base}/conversations`);
  await hydrated(page);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
}

/** A page of `browser`'s new context showing the list at `base`, live. */
async function livePage(browser: Browser, base: string, user: { email: string; password: string }) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signInAt(page, base, user);
  return page;
}

test('sign-out closes that session\'s sockets on every web process, and no other session\'s', async ({ browser }) => {
  const user = await account();
  const mine = await livePage(browser, web1, user);
  // The same session's page on the other process (cookies are per host, not per port).
  const mineElsewhere = await mine.context().newPage();
  await mineElsewhere.goto(`${web2}/conversations`);
  await hydrated(mineElsewhere);
  await expect(mineElsewhere.getByTestId('live-badge')).toHaveText('Live');
  const other = await livePage(browser, web1, user);

  const started = Date.now();
  await mine.getByRole('button', { name: 'Sign out' }).click();
  await expect(mine).toHaveURL(/\/login$/);
  // web2 never hears the notice: it finds out when it re-checks (every IDLE/2 = 3 s).
  await expect(mineElsewhere).toHaveURL(/\/login\?ended=1$/, { timeout: 5_000 });
  expect(Date.now() - started).toBeLessThan(5_000 + 1_000);
  // The same account's other session is untouched.
  await expect(other.getByTestId('live-badge')).toHaveText('Live');
  expect((await other.request.post(`${web1}/api/whoami`, { form: {}, headers: { Origin: web1 } })).status()).toBe(200);
  await mine.context().close();
  await other.context().close();
});

test('an idle session ends at its deadline, and its socket with it', async ({ browser }) => {
  const user = await account();
  const page = await livePage(browser, web1, user);
  const signedIn = Date.now();
  // No request, only the live feed: the session ends IDLE_SECS after the last request.
  await expect(page).toHaveURL(/\/login\?ended=1$/, { timeout: (IDLE_SECS + 5) * 1000 });
  expect(Date.now() - signedIn).toBeGreaterThanOrEqual((IDLE_SECS - 1) * 1000);
  const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  const res = await fetch(`${web1}/api/whoami`, { method: 'POST', headers: { Origin: web1, Cookie: cookie } });
  expect(res.status).toBe(401);
  await page.context().close();
});

test('requests slide the idle deadline', async ({ browser }) => {
  const user = await account();
  const page = await livePage(browser, web1, user);
  const until = Date.now() + 2 * IDLE_SECS * 1000;
  // A request every second for twice the idle timeout: the session lives on.
  while (Date.now() < until) {
    const res = await page.request.post(`${web1}/api/whoami`, { form: {}, headers: { Origin: web1 } });
    expect(res.status()).toBe(200);
    await page.waitForTimeout(1_000);
  }
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  await page.context().close();
});
