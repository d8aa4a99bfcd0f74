// The overview (`/`) and the attention queue, on a dashboard of their own (its own
// database and ledger) so that every figure has a known answer: conversations in
// progress, waits, today's decisions in the browser's zone, the last 24 hours, the
// queue entering and leaving live with a short WAIT_ALERT_SECS, and desktop
// notifications (permission granted by the test, the Notification API recorded).
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, type Browser, type Page } from '@playwright/test';
import { ADMIN, addUserIn, appendEntries, freePort, hydrated, ROOT, SUPERVISOR, tag, test, waitFor, type Fields } from './support';

const BIN = process.env.APP_BIN ?? resolve(ROOT, 'target/debug/billie-dashboard');
const M = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

function ev(conv: string, seq: number, typ: string, payload: object, at: number, usr?: string): Fields {
  const fields: Fields = { conv, typ, agt: 'broker', seq: String(seq), tsp: iso(at), payload: JSON.stringify(payload) };
  if (usr) fields.usr = usr;
  return fields;
}
const started = (conv: string, app: string, at: number) => ev(conv, 1, 'conversation_started', { application_number: app }, at);
const message = (conv: string, seq: number, speaker: 'customer' | 'assistant', at: number) =>
  ev(conv, seq, speaker === 'customer' ? 'user_input' : 'assistant_response', { utterance: 'words', created_at: iso(at) }, at);
const decided = (conv: string, seq: number, outcome: string, at: number) => ev(conv, seq, 'final_decision', { decision: outcome }, at);
const named = (conv: string, seq: number, first: string, last: string, at: number) =>
  ev(conv, seq, 'applicationDetail_changed', { customer: { customer_id: `C-${conv}`, first_name: first, last_name: last } }, at, `C-${conv}`);

// A zone where it is now between noon and one in the afternoon, so that "today" and the
// last 24 hours hold every time below whenever the test runs (Etc/GMT-N is UTC+N).
function middayZone(now: number): { zone: string; offsetMinutes: number } {
  let hours = 12 - new Date(now).getUTCHours();
  if (hours > 14) hours -= 24;
  if (hours < -11) hours += 24;
  return { zone: hours === 0 ? 'Etc/UTC' : `Etc/GMT${hours > 0 ? '-' : '+'}${Math.abs(hours)}`, offsetMinutes: hours * 60 };
}

test.describe.serial('the overview and the attention queue', () => {
  const t = tag().toLowerCase();
  const stream = `overview-${t}:chatLedger`;
  const database = (process.env.DATABASE_URI ?? '').replace(/\/([^/?]+)(\?|$)/, `/overview_${t}$2`);
  let server: ChildProcess | undefined;
  let base = '';
  // Set when the data is appended (test files are all loaded before any runs).
  let now = 0;
  let zone = '';
  let dayStart = 0;
  const id = (name: string) => `${name}-${t}`;

  test.beforeAll(async () => {
    now = Date.now();
    const { zone: z, offsetMinutes } = middayZone(now);
    zone = z;
    dayStart = Math.floor((now + offsetMinutes * M) / (24 * 60 * M)) * 24 * 60 * M - offsetMinutes * M;
    expect(database).toContain(`/overview_${t}`);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(BIN, [], {
      cwd: ROOT,
      env: {
        ...process.env,
        LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
        LEDGER_STREAM: stream,
        LEDGER_DEAD_STREAM: `${stream}:dead`,
        DATABASE_URI: database,
        WAIT_ALERT_SECS: '3',
        STATUS_TICK_SECS: '1',
      },
      stdio: 'ignore',
    });
    await waitFor(`${base}/healthz`);
    addUserIn(database, SUPERVISOR.email, SUPERVISOR.password);
    addUserIn(database, ADMIN.email, ADMIN.password, 'admin');
    appendEntries(
      [
        // Decided today: approved after 30 and 20 minutes, declined after 10.
        started(id('a'), 'APP-A', now - 31 * M),
        message(id('a'), 2, 'customer', now - 30 * M),
        message(id('a'), 3, 'assistant', now - 29 * M),
        decided(id('a'), 4, 'APPROVED', now - M),
        started(id('b'), 'APP-B', now - 10 * M - 50_000),
        decided(id('b'), 2, 'DECLINED', now - 50_000),
        started(id('c'), 'APP-C', now - 20 * M - 40_000),
        decided(id('c'), 2, 'APPROVED', now - 40_000),
        // Referred a minute before the browser's midnight: yesterday, and in the queue.
        started(id('y'), 'APP-Y', dayStart - 2 * M),
        decided(id('y'), 2, 'REFERRED', dayStart - M),
        // Waiting for a reply for two minutes.
        started(id('w'), 'APP-W', now - 5 * M),
        named(id('w'), 2, 'Wanda', 'Waits', now - 5 * M),
        message(id('w'), 3, 'customer', now - 2 * M),
        // Answered, with a high fraud risk.
        started(id('p'), 'APP-P', now - 4 * M),
        message(id('p'), 2, 'customer', now - 90_000),
        message(id('p'), 3, 'assistant', now - 60_000),
        ev(id('p'), 4, 'fraudCheck_assessment', { severity: 'HIGH', final_score: 92 }, now - 30_000),
        // Quiet for eight minutes: paused.
        started(id('q'), 'APP-Q', now - 10 * M),
        message(id('q'), 2, 'assistant', now - 8 * M),
      ],
      stream,
    );
  });

  test.afterAll(() => {
    server?.kill();
  });

  async function open(
    browser: Browser,
    path: string,
    options: Parameters<Browser['newContext']>[0] = {},
    account = SUPERVISOR,
  ): Promise<Page> {
    const context = await browser.newContext({ baseURL: base, timezoneId: zone, ...options });
    const page = await context.newPage();
    await page.goto(`/login?next=${encodeURIComponent(path)}`);
    await page.getByLabel('Email').fill(account.email);
    await page.getByLabel('Password').fill(account.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await hydrated(page);
    return page;
  }

  test("the overview's figures, in the browser's day, each linking to what it counts", async ({ browser }) => {
    // The landing page after sign-in.
    const page = await open(browser, '/');
    await expect(page).toHaveURL(`${base}/`);
    await expect(page.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
    const figure = (name: string) => page.getByTestId(`figure-${name}`);
    await expect(figure('paused')).toHaveText('1', { timeout: 30_000 });
    await expect(figure('active')).toHaveText('2');
    await expect(figure('waiting')).toHaveText('1');
    await expect(page.getByTestId('longest-wait')).toHaveText(/^2 min$/);
    await expect(figure('decided')).toHaveText('3');
    await expect(figure('approved')).toHaveText('2');
    await expect(figure('declined')).toHaveText('1');
    await expect(figure('referred')).toHaveText('0');
    await expect(figure('approval-rate')).toHaveText('67 %');
    await expect(figure('median-decision')).toHaveText('20 min');
    await expect(figure('attention')).toHaveText('3');
    // The chart, and its table in the browser's hours: now is the 12:00 hour.
    await expect(page.getByTestId('hours-chart')).toHaveAttribute('aria-label', /7 started, 4 decided/);
    const rows = page.getByTestId('hours-table').locator('tbody tr');
    await expect(rows).toHaveCount(24);
    await expect(rows.last().locator('th')).toHaveText('12:00');
    await expect(rows.first().locator('th')).toHaveText('13:00');
    // The queue: the wait, the fraud risk and yesterday's referral, each with its reason.
    const queue = page.getByTestId('attention-queue');
    await expect(queue.locator(`[data-id="${id('w')}"] [data-reason="waiting"]`)).toHaveText('Waiting for reply');
    await expect(queue.locator(`[data-id="${id('p')}"] [data-reason="fraud_high"]`)).toBeVisible();
    await expect(queue.locator(`[data-id="${id('y')}"] [data-reason="referred"]`)).toBeVisible();
    await expect(queue.locator('li')).toHaveCount(3);
    // Ingest's health is for admins.
    await expect(page.getByRole('heading', { name: 'Ingest' })).toHaveCount(0);

    // Each number opens the list of what it counts.
    await figure('approved').click();
    await expect(page).toHaveURL(new RegExp(`/conversations\\?status=approved&decided_since=${dayStart}$`));
    const cards = page.locator('.conversation-card');
    await expect(cards).toHaveCount(2);
    await expect(page.locator(`.conversation-card[data-id="${id('a')}"]`)).toBeVisible();
    await expect(page.locator(`.conversation-card[data-id="${id('c')}"]`)).toBeVisible();
    await page.goBack();
    await figure('waiting').click();
    await expect(page).toHaveURL(/\/conversations\?waiting=1$/);
    await expect(cards).toHaveCount(1);
    await expect(cards.first().locator('[data-reason="waiting"]')).toBeVisible();
    await page.goBack();
    await figure('attention').click();
    await expect(page).toHaveURL(/\/conversations\?attention=1$/);
    await expect(page.getByRole('heading', { name: 'Needs attention', level: 1 })).toBeVisible();
    await expect(cards).toHaveCount(3);
    await page.context().close();
  });

  test('conversations enter the queue as a wait passes WAIT_ALERT_SECS and leave it when answered', async ({ browser }) => {
    test.setTimeout(120_000);
    const page = await open(browser, '/');
    const queue = page.getByTestId('attention-queue');
    const e = id('e');
    appendEntries([started(e, 'APP-E', Date.now()), message(e, 2, 'customer', Date.now())], stream);
    // No event comes after the customer's message: time alone puts it in (3 s here), when
    // it is due, not at the page clock's next 15-second tick.
    await expect(queue.locator(`[data-id="${e}"] [data-reason="waiting"]`)).toBeVisible({ timeout: 8_000 });
    await expect(page.getByTestId('figure-attention')).toHaveText('4');
    appendEntries([message(e, 3, 'assistant', Date.now())], stream);
    await expect(queue.locator(`[data-id="${e}"]`)).toHaveCount(0);
    await expect(page.getByTestId('figure-attention')).toHaveText('3');

    // The list filtered to the queue does the same.
    await page.goto('/conversations?attention=1');
    await hydrated(page);
    const cards = page.locator('.conversation-card');
    await expect(cards).toHaveCount(3);
    appendEntries([message(e, 4, 'customer', Date.now())], stream);
    await expect(page.locator(`.conversation-card[data-id="${e}"] [data-reason="waiting"]`)).toBeVisible({ timeout: 40_000 });
    appendEntries([message(e, 5, 'assistant', Date.now())], stream);
    await expect(page.locator(`.conversation-card[data-id="${e}"]`)).toHaveCount(0);
    await expect(cards).toHaveCount(3);
    await page.context().close();
  });

  test('desktop notifications: opted into, remembered, one when a conversation enters the queue', async ({ browser }) => {
    const page = await open(browser, '/', { permissions: ['notifications'] });
    // Record what the page asks the Notification API to show.
    await page.context().addInitScript(() => {
      const shown: { title: string; body?: string; tag?: string }[] = [];
      (window as unknown as { shown: typeof shown }).shown = shown;
      const Real = window.Notification;
      class Recorded {
        onclick: unknown = null;
        constructor(title: string, options?: NotificationOptions) {
          shown.push({ title, body: options?.body, tag: options?.tag });
        }
        static get permission() {
          return Real.permission;
        }
        static requestPermission() {
          return Real.requestPermission();
        }
        close() {}
      }
      (window as unknown as { Notification: unknown }).Notification = Recorded;
    });
    await page.reload();
    await hydrated(page);
    const toggle = page.getByTestId('notify-toggle');
    await expect(toggle).toBeEnabled();
    await expect(toggle).not.toBeChecked();
    await toggle.check();
    await expect(toggle).toBeChecked();
    // Remembered for this account.
    await page.reload();
    await hydrated(page);
    await expect(toggle).toBeChecked();

    const n = id('n');
    appendEntries(
      [
        started(n, 'APP-N', Date.now()),
        named(n, 2, 'Nora', 'Notify', Date.now()),
        ev(n, 3, 'fraudCheck_assessment', { severity: 'HIGH' }, Date.now()),
      ],
      stream,
    );
    const shown = () => page.evaluate(() => (window as unknown as { shown: { title: string; body?: string; tag?: string }[] }).shown);
    await expect.poll(async () => (await shown()).filter((s) => s.tag === n)).toEqual([
      { title: 'Needs attention: Nora Notify', body: 'High fraud risk · APP-N', tag: n },
    ]);
    // Already there when notifications were turned on: no notification for those.
    expect((await shown()).map((s) => s.tag)).toEqual([n]);

    await toggle.uncheck();
    await page.reload();
    await hydrated(page);
    await expect(toggle).not.toBeChecked();
    await page.context().close();
  });

  test("admins see ingest's health: dead letters of the last 24 hours and the lag", async ({ browser }) => {
    const page = await open(browser, '/', {}, ADMIN);
    await expect(page.getByRole('heading', { name: 'Ingest' })).toBeVisible();
    await expect(page.getByTestId('ingest-lag')).toHaveText('0');
    await expect(page.getByTestId('dead-letters')).toHaveText('0');
    // An entry without a type breaks the contract: dead-lettered, and counted.
    appendEntries([{ conv: id('bad'), agt: 'broker', payload: '{}' }], stream);
    appendEntries([message(id('w'), 9, 'assistant', Date.now())], stream);
    // The reply to W changes the overview, which reads the figures again.
    await expect(page.getByTestId('dead-letters')).toHaveText('1');
    await page.context().close();
  });
});
