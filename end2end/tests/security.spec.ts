// Access control to ASVS level 2: who is refused where, sessions, cross-site requests,
// sign-in throttling, no account enumeration, no open redirect.
import { randomBytes } from 'node:crypto';
import { request as http } from 'node:http';
import { expect, request as api, type BrowserContext } from '@playwright/test';
import { ADMIN, addUser, BASE_URL, signIn, signInAs, SUPERVISOR, tag, test } from './support';

const CONV = 'cd613e30-d8f1-6adf-91b7-584a2265b1f5';
const PAGES = ['/conversations', `/conversations/${CONV}`, '/customers', '/customers/C283FEFC', '/account', '/admin/users', '/admin/audit'];
const ADMIN_PAGES = ['/admin/users', '/admin/audit'];
const FUNCTIONS = [
  'conversations/list',
  'conversations/counts',
  'conversations/get',
  'customers/list',
  'customers/get',
  'whoami',
  'account/profile',
  'account/password',
  'admin/users/list',
  'admin/users/create',
  'admin/users/disabled',
  'admin/users/role',
  'admin/users/password',
  'admin/audit',
];
const ADMIN_FUNCTIONS = FUNCTIONS.filter((f) => f.startsWith('admin/'));
const SAME_SITE = { Origin: BASE_URL };

async function cookieHeader(context: BrowserContext): Promise<string> {
  return (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
}

async function session(context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies()).find((c) => c.name === 'billie_session');
  expect(cookie, 'a session cookie').toBeTruthy();
  return cookie?.value ?? '';
}

/** A client with exactly this cookie (or none), posting from this site. */
async function client(cookie?: string) {
  return api.newContext({
    baseURL: BASE_URL,
    extraHTTPHeaders: cookie ? { ...SAME_SITE, Cookie: cookie } : SAME_SITE,
  });
}

/** The status of a WebSocket upgrade of /ws (101 when accepted). */
async function upgradeStatus(cookie: string, origin: string): Promise<number> {
  return (await upgrade(cookie, origin)).status;
}

/** A WebSocket upgrade of /ws: its status (101 when accepted) and headers. */
function upgrade(cookie: string, origin: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  const url = new URL('/ws', BASE_URL);
  return new Promise((done, fail) => {
    const req = http({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        Origin: origin,
        Cookie: cookie,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      done({ status: 101, headers: res.headers });
    });
    req.on('response', (res) => {
      res.resume();
      done({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('error', fail);
    req.end();
  });
}

test('anonymous callers get no page, no server function and no live feed', async ({ page }) => {
  for (const path of PAGES) {
    await page.goto(path);
    await expect(page, path).toHaveURL(/\/login\?next=/);
    expect(decodeURIComponent(new URL(page.url()).searchParams.get('next') ?? ''), path).toBe(path);
  }
  const anonymous = await client();
  for (const fn of FUNCTIONS) {
    expect((await anonymous.post(`/api/${fn}`, { form: {} })).status(), fn).toBe(401);
  }
  expect(await upgradeStatus('', BASE_URL)).toBe(401);
});

test('security headers on pages, server functions, static files and the live feed', async ({ page, context }) => {
  const expectSafe = (headers: Record<string, string | string[] | undefined>, what: string, cached = false) => {
    expect(headers['x-content-type-options'], what).toBe('nosniff');
    expect(headers['referrer-policy'], what).toBe('same-origin');
    expect(headers['permissions-policy'], what).toContain('camera=()');
    expect(headers['content-security-policy'], what).toContain("frame-ancestors 'none'");
    expect(headers['content-security-policy'], what).toContain("object-src 'none'");
    if (!cached) expect(headers['cache-control'], what).toBe('no-store');
  };
  const login = await page.goto('/login');
  expectSafe(login?.headers() ?? {}, '/login');
  await signIn(page);
  for (const path of PAGES.filter((p) => !ADMIN_PAGES.includes(p))) {
    const headers = (await page.goto(path))?.headers() ?? {};
    expectSafe(headers, path);
    // The policy names this response's nonce, which the page's scripts carry.
    const nonce = await page.evaluate(() => (document.querySelector('script[nonce]') as HTMLScriptElement | null)?.nonce);
    expect(nonce, path).toBeTruthy();
    expect(headers['content-security-policy'], path).toContain(`script-src 'nonce-${nonce}' 'strict-dynamic' 'wasm-unsafe-eval'`);
  }
  const fn = await page.request.post('/api/whoami', { form: {}, headers: SAME_SITE });
  expectSafe(fn.headers(), '/api/whoami');
  const css = await page.request.get('/pkg/billie-dashboard.css');
  expect(css.status()).toBe(200);
  expectSafe(css.headers(), 'a static file', true);
  expect(css.headers()['cache-control'] ?? '').not.toBe('no-store');
  const socket = await upgrade(await cookieHeader(context), BASE_URL);
  expect(socket.status).toBe(101);
  expectSafe(socket.headers, '/ws');
});

test('a supervisor is refused the admin pages and functions', async ({ page, context }) => {
  await signIn(page);
  await expect(page.getByRole('link', { name: 'Users' })).toHaveCount(0);
  for (const path of ADMIN_PAGES) {
    const res = await page.goto(path);
    expect(res?.status(), path).toBe(403);
    await expect(page.getByRole('heading', { name: 'Not allowed' })).toBeVisible();
  }
  const supervisor = await client(await cookieHeader(context));
  for (const fn of ADMIN_FUNCTIONS) {
    expect((await supervisor.post(`/api/${fn}`, { form: { id: 'x', role: 'admin', disabled: 'true' } })).status(), fn).toBe(403);
  }
  expect((await supervisor.post('/api/whoami', { form: {} })).status()).toBe(200);
});

test('a disabled account is refused everywhere, and its open page is signed out at once', async ({ browser }) => {
  const account = { email: `disabled.${tag().toLowerCase()}@billie.example`, password: 'a-password-to-disable' };
  addUser(account.email, account.password);
  const userContext = await browser.newContext();
  const userPage = await userContext.newPage();
  await signInAs(userPage, account, `/conversations/${CONV}`);
  await expect(userPage.getByTestId('live-badge')).toHaveText('Live');
  const cookie = await cookieHeader(userContext);

  const adminContext = await browser.newContext();
  const adminPage = await adminContext.newPage();
  await signInAs(adminPage, ADMIN, '/admin/users');
  const row = adminPage.locator(`tr[data-email="${account.email}"]`);
  await row.getByRole('button', { name: 'Disable' }).click();
  await expect(row.locator('.user-status')).toHaveText('Disabled');

  // The open page learns at once, over its live feed.
  await expect(userPage).toHaveURL(/\/login\?ended=1$/);
  await expect(userPage.getByText('Your session has ended. Sign in again.')).toBeVisible();
  const old = await client(cookie);
  expect((await old.post('/api/conversations/list', { form: {} })).status()).toBe(401);
  expect((await old.get('/conversations', { maxRedirects: 0 })).status()).toBe(303);
  expect(await upgradeStatus(cookie, BASE_URL)).toBe(401);

  await userPage.getByLabel('Email').fill(account.email);
  await userPage.getByLabel('Password').fill(account.password);
  await userPage.getByRole('button', { name: 'Sign in' }).click();
  await expect(userPage.getByRole('alert')).toHaveText('That email and password do not match an account.');
  await userContext.close();
  await adminContext.close();
});

test('sessions: a new id at sign-in, safe cookie flags, and a dead cookie after sign-out', async ({ browser }) => {
  const context = await browser.newContext();
  await context.addCookies([{ name: 'billie_session', value: 'planted-by-someone-else', url: BASE_URL }]);
  const page = await context.newPage();
  await signIn(page);
  const first = await session(context);
  expect(first).not.toBe('planted-by-someone-else');
  const cookie = (await context.cookies()).find((c) => c.name === 'billie_session');
  expect(cookie?.httpOnly).toBe(true);
  expect(cookie?.sameSite).toBe('Lax');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  const old = await client(`billie_session=${first}`);
  expect((await old.post('/api/whoami', { form: {} })).status()).toBe(401);

  await signIn(page);
  expect(await session(context)).not.toBe(first);
  await context.close();
});

test('cross-site requests are refused: server functions, form posts and the WebSocket', async ({ page, context }) => {
  await signIn(page);
  const evil = { Origin: 'https://evil.example' };
  expect((await page.request.post('/api/conversations/list', { form: {}, headers: evil })).status()).toBe(403);
  expect((await page.request.post('/logout', { form: {}, headers: evil })).status()).toBe(403);
  expect((await page.request.post('/api/whoami', { form: {}, headers: { 'Sec-Fetch-Site': 'cross-site' } })).status()).toBe(403);
  // Server functions accept POST only.
  expect((await page.request.get('/api/whoami', { headers: SAME_SITE })).status()).toBe(405);
  // Still signed in: the forged sign-out did nothing.
  expect((await page.request.post('/api/whoami', { form: {}, headers: SAME_SITE })).status()).toBe(200);

  const cookie = await cookieHeader(context);
  expect(await upgradeStatus(cookie, 'https://evil.example')).toBe(403);
  expect(await upgradeStatus(cookie, BASE_URL)).toBe(101);
});

test('sign-in is throttled after 5 failures, even with the right password then', async ({ page }) => {
  const account = { email: `throttled.${tag().toLowerCase()}@billie.example`, password: 'the-right-password' };
  addUser(account.email, account.password);
  const attempt = async (password: string) => {
    await page.goto('/login');
    await page.getByLabel('Email').fill(account.email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };
  for (let i = 0; i < 5; i++) {
    await attempt(`wrong password ${i}`);
    await expect(page.getByRole('alert')).toHaveText('That email and password do not match an account.');
  }
  await attempt(account.password);
  await expect(page.getByRole('alert')).toHaveText(/^Too many failed sign-ins\. Try again in \d+ minutes?\.$/);
  await expect(page).toHaveURL(/\/login\?/);
});

/** A sign-in form post from `address` (the test server trusts 127.0.0.1 as a proxy). */
async function postLogin(email: string, password: string, address: string) {
  const res = await fetch(`${BASE_URL}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...SAME_SITE, 'Content-Type': 'application/x-www-form-urlencoded', 'X-Forwarded-For': address },
    body: new URLSearchParams({ email, password, next: '/conversations' }),
  });
  await res.arrayBuffer();
  return { status: res.status, location: res.headers.get('location') ?? '', retryAfter: res.headers.get('retry-after') };
}

test('a burst of 50 wrong passwords for one account: at most 5 are checked', async () => {
  const email = `burst.${tag().toLowerCase()}@billie.example`;
  addUser(email, 'the-right-password-here');
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, i) => postLogin(email, `wrong ${i}`, `198.18.${i}.${(i * 7) % 250}`)),
  );
  const checked = answers.filter((a) => a.location.includes('error=invalid')).length;
  const throttled = answers.filter((a) => a.location.includes('error=throttled')).length;
  expect(checked).toBeLessThanOrEqual(5);
  expect(checked + throttled + answers.filter((a) => a.status === 503).length).toBe(50);
});

test('a flood of sign-ins gets 503 with Retry-After, not a queue', async () => {
  const run = tag().toLowerCase();
  const answers = await Promise.all(
    Array.from({ length: 200 }, (_, i) => postLogin(`flood${i}.${run}@billie.example`, 'wrong', `198.19.${i % 250}.1`)),
  );
  const busy = answers.filter((a) => a.status === 503);
  expect(busy.length, 'more sign-ins than the queue holds').toBeGreaterThan(0);
  for (const answer of busy) expect(answer.retryAfter).toBe('5');
  for (const answer of answers.filter((a) => a.status !== 503)) expect(answer.location).toContain('error=invalid');
});

test('behind a trusted proxy, the throttle and the audit log see the client, not the proxy', async ({ page }) => {
  const client = `198.51.100.${Math.floor(Math.random() * 200) + 20}`;
  const email = `proxied.${tag().toLowerCase()}@billie.example`;
  for (let i = 0; i < 21; i++) await postLogin(`${email}${i}`, 'wrong', client);
  // That address is now over its limit (20); everyone else is not.
  expect((await postLogin(`${email}x`, 'wrong', client)).location).toContain('error=throttled');
  expect((await postLogin(`${email}y`, 'wrong', '198.51.100.2')).location).toContain('error=invalid');
  await signInAs(page, ADMIN, '/admin/audit');
  await expect(page.getByText(client).first()).toBeVisible();
});

test('an unknown account and a wrong password get the same answer', async ({ page }) => {
  const answers: string[] = [];
  for (const email of [`nobody.${tag().toLowerCase()}@billie.example`, SUPERVISOR.email]) {
    await page.goto('/login?next=%2Fcustomers');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('not the right password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert')).toBeVisible();
    answers.push(`${new URL(page.url()).search} ${await page.getByRole('alert').textContent()}`);
  }
  expect(answers[0]).toBe(answers[1]);
});

test('a redirect after sign-in never leaves the site', async ({ page }) => {
  for (const next of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)']) {
    await page.context().clearCookies();
    await page.goto(`/login?next=${encodeURIComponent(next)}`);
    await page.getByLabel('Email').fill(SUPERVISOR.email);
    await page.getByLabel('Password').fill(SUPERVISOR.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // The overview, the landing page.
    await expect(page, next).toHaveURL(`${BASE_URL}/`);
  }
});

test('in production the demo password is refused', async () => {
  const run = () =>
    addUser(`demo.${tag().toLowerCase()}@billie.example`, 'watch-the-chats-live');
  const production = process.env.PRODUCTION;
  process.env.PRODUCTION = 'true';
  try {
    expect(run).toThrow();
  } finally {
    if (production === undefined) delete process.env.PRODUCTION;
    else process.env.PRODUCTION = production;
  }
  // Outside production the demo password is fine (scripts/run uses it).
  run();
});
