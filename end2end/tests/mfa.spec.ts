// Two-step sign-in: enrolment with a TOTP app, signing in with a code, wrong codes
// throttled like passwords, single-use codes and recovery codes, an admin's reset, and
// admins made to enrol with MFA_REQUIRED=admins.
//
// Each test speaks through a proxy address of its own (the test server trusts 127.0.0.1
// as a proxy), so its failures count against no other test's sign-ins.
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { resolve } from 'node:path';
import { expect, type Browser, type Page } from '@playwright/test';
import { ADMIN, addUser, BASE_URL, freePort, hydrated, signInAs, startDashboard, tag, test } from './support';

/** The TOTP time step now (30 s). */
function currentStep(): number {
  return Math.floor(Date.now() / 30_000);
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret at time step `step`. */
function totp(secret: string, step = currentStep()): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/[\s=]/g, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g)?.map((b) => parseInt(b, 2)) ?? []);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, '0');
}

let address = 0;
/** A browser context whose requests come through the trusted proxy from an address of its own. */
async function contextFrom(browser: Browser) {
  address += 1;
  return browser.newContext({ extraHTTPHeaders: { 'X-Forwarded-For': `203.0.113.${(Date.now() + address) % 250}` } });
}

async function account() {
  const user = { email: `mfa.${tag().toLowerCase()}@billie.example`, password: 'a-two-step-password' };
  addUser(user.email, user.password);
  return user;
}

async function passwordStep(page: Page, user: { email: string; password: string }, base = '') {
  await page.goto(`${base}/login?next=%2Fcustomers`);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Enrols `user` (signed in on `page`); its secret and recovery codes. */
async function enrol(page: Page, user: { password: string }) {
  await page.goto('/account');
  await page.getByLabel('Your password, to set it up').fill(user.password);
  await page.getByRole('button', { name: 'Set up two-step sign-in' }).click();
  await expect(page.getByRole('img', { name: 'QR code for your authenticator app' })).toBeVisible();
  const secret = (await page.getByTestId('mfa-secret').textContent()) ?? '';
  const step = currentStep();
  await page.getByLabel('The 6-digit code it shows').fill(totp(secret, step));
  await page.getByRole('button', { name: 'Turn on two-step sign-in' }).click();
  const codes = page.getByTestId('recovery-codes').locator('li');
  await expect(codes).toHaveCount(10);
  const recovery = (await codes.allTextContents()).map((c) => c.trim());
  await page.getByRole('button', { name: 'I have kept them' }).click();
  await expect(page.getByTestId('mfa-state')).toHaveText('On, with 10 recovery codes left.');
  return { secret, step, recovery };
}

test('enrol, then sign in with a code; a code is good once', async ({ browser }) => {
  const user = await account();
  const context = await contextFrom(browser);
  const page = await context.newPage();
  await signInAs(page, user, '/conversations');
  const { secret, step } = await enrol(page, user);
  // Kept: the page shows the state, not the codes.
  await page.goto('/account');
  await expect(page.getByTestId('recovery-codes')).toHaveCount(0);
  await expect(page.getByTestId('mfa-state')).toHaveText('On, with 10 recovery codes left.');
  await page.getByRole('button', { name: 'Sign out' }).click();

  await passwordStep(page, user);
  await expect(page).toHaveURL(/\/login\/mfa$/);
  // The enrolment used its step's code: it is refused; the next step's is accepted (one
  // step of skew), whenever in those 30 s the test runs.
  await page.getByLabel('Code').fill(totp(secret, step));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('That code is not right, or was already used.');
  await page.getByLabel('Code').fill(totp(secret, step + 1));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/customers$/);
  await hydrated(page);
  await context.close();
});

test('wrong codes are throttled like passwords, and no session without the second step', async ({ browser }) => {
  const user = await account();
  const context = await contextFrom(browser);
  const page = await context.newPage();
  await signInAs(page, user, '/conversations');
  await enrol(page, user);
  await page.getByRole('button', { name: 'Sign out' }).click();

  await passwordStep(page, user);
  await expect(page).toHaveURL(/\/login\/mfa$/);
  // The password alone signs nobody in.
  const res = await page.request.post('/api/whoami', { form: {}, headers: { Origin: BASE_URL } });
  expect(res.status()).toBe(401);
  for (let i = 0; i < 5; i++) {
    await page.getByLabel('Code').fill('000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert')).toHaveText('That code is not right, or was already used.');
  }
  await page.getByLabel('Code').fill('000000');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText(/^Too many wrong codes\. Try again in \d+ minutes?\.$/);
  await context.close();
});

test('a recovery code signs in once', async ({ browser }) => {
  const user = await account();
  const context = await contextFrom(browser);
  const page = await context.newPage();
  await signInAs(page, user, '/conversations');
  const { recovery } = await enrol(page, user);
  await page.getByRole('button', { name: 'Sign out' }).click();

  await passwordStep(page, user);
  await page.getByLabel('Code').fill(recovery[3].toLowerCase());
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/customers$/);
  await page.goto('/account');
  await expect(page.getByTestId('mfa-state')).toHaveText('On, with 9 recovery codes left.');
  await page.getByRole('button', { name: 'Sign out' }).click();

  await passwordStep(page, user);
  await page.getByLabel('Code').fill(recovery[3]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('That code is not right, or was already used.');
  await context.close();
});

test('an admin resets a user\'s two-step sign-in', async ({ browser }) => {
  const user = await account();
  const context = await contextFrom(browser);
  const page = await context.newPage();
  await signInAs(page, user, '/conversations');
  await enrol(page, user);

  const adminContext = await contextFrom(browser);
  const admin = await adminContext.newPage();
  await signInAs(admin, ADMIN, '/admin/users');
  const row = admin.locator(`tr[data-email="${user.email}"]`);
  await row.getByRole('button', { name: 'Reset two-step' }).click();
  await expect(row.getByText('Off')).toBeVisible();
  // Its sessions ended: the open page is signed out.
  await expect(page).toHaveURL(/\/login\?ended=1$/);

  await passwordStep(page, user);
  await expect(page).toHaveURL(/\/customers$/);
  await admin.goto('/admin/audit');
  await expect(admin.getByText('user.mfa_reset').first()).toBeVisible();
  await context.close();
  await adminContext.close();
});

test('an operator resets two-step sign-in with the CLI', async ({ browser }) => {
  const user = await account();
  const context = await contextFrom(browser);
  const page = await context.newPage();
  await signInAs(page, user, '/conversations');
  await enrol(page, user);
  const bin = process.env.APP_BIN ?? resolve(__dirname, '../../target/debug/billie-dashboard');
  const out = execFileSync(bin, ['user', 'reset-mfa', '--email', user.email], { env: process.env }).toString();
  expect(out).toContain(`two-step sign-in reset for ${user.email}`);
  // The reset ended the session: the open page goes to the login page by itself when it
  // finds out, which would abort a navigation of the test's own. Sign in on a new page.
  await page.close();
  await context.clearCookies();
  const again = await context.newPage();
  await passwordStep(again, user);
  await expect(again).toHaveURL(/\/customers$/);
  await context.close();
});

test('with MFA_REQUIRED=admins, an admin enrols before anything else', async ({ browser }) => {
  const port = await freePort();
  const web = await startDashboard(port, { ENABLE_EVENT_PROCESSING: 'false', MFA_REQUIRED: 'admins' });
  try {
    const base = `http://127.0.0.1:${port}`;
    const admin = { email: `mfa.admin.${tag().toLowerCase()}@billie.example`, password: 'an-admin-two-step-password' };
    addUser(admin.email, admin.password, 'admin');
    const context = await contextFrom(browser);
    const page = await context.newPage();
    await passwordStep(page, admin, base);
    await expect(page).toHaveURL(`${base}/account?mfa=required#two-step`);
    await expect(page.getByText('Your role needs two-step sign-in. Set it up to go on.')).toBeVisible();
    await page.goto(`${base}/admin/users`);
    await expect(page).toHaveURL(/\/account\?mfa=required/);
    const fn = await page.request.post(`${base}/api/conversations/list`, { form: {}, headers: { Origin: base } });
    expect(fn.status()).toBe(403);
    await context.close();
  } finally {
    web.kill('SIGTERM');
  }
});
