// Account management: an admin adds users, changes roles and resets passwords; everyone
// edits their own name, avatar and password; the audit log records all of it.
import { expect } from '@playwright/test';
import { ADMIN, addUser, hydrated, signInAs, tag, test } from './support';

const CONV = 'cd613e30-d8f1-6adf-91b7-584a2265b1f5';
// A real 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

test('an admin adds a user, gives them a role, and resets their password', async ({ browser }) => {
  const email = `new.${tag().toLowerCase()}@billie.example`;
  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  await signInAs(admin, ADMIN, '/admin/users');

  await admin.getByLabel('Email').fill(email);
  await admin.getByLabel('Role').selectOption('supervisor');
  await admin.getByLabel('Password (12 to 128 characters)').fill('short');
  await admin.getByLabel('Password (12 to 128 characters)').evaluate((el) => el.removeAttribute('minlength'));
  await admin.getByRole('button', { name: 'Add user' }).click();
  await expect(admin.getByRole('alert')).toContainText('at least 12 characters');
  await admin.getByLabel('Password (12 to 128 characters)').fill('first-password-ok');
  await admin.getByRole('button', { name: 'Add user' }).click();
  const row = admin.locator(`tr[data-email="${email}"]`);
  await expect(row).toContainText('supervisor');

  const userContext = await browser.newContext();
  const user = await userContext.newPage();
  await signInAs(user, { email, password: 'first-password-ok' }, `/conversations/${CONV}`);
  await expect(user.getByTestId('live-badge')).toHaveText('Live');

  // A role change reloads the user's open pages, as the new role sees them.
  const reloaded = user.waitForEvent('framenavigated');
  await row.getByRole('button', { name: 'Make admin' }).click();
  await expect(row).toContainText('admin');
  await reloaded;
  await hydrated(user);
  await expect(user.getByRole('link', { name: 'Users' })).toBeVisible();
  await user.goto('/admin/audit');
  await expect(user.getByRole('heading', { name: 'Audit log' })).toBeVisible();

  // A reset ends the user's sessions at once.
  await row.getByLabel(`New password for ${email}`).fill('second-password-ok');
  await row.getByRole('button', { name: 'Reset' }).click();
  await expect(admin.getByText('Password reset; their sessions have ended.')).toBeVisible();
  await expect(user).toHaveURL(/\/login\?ended=1$/);
  await signInAs(user, { email, password: 'second-password-ok' });

  // The audit log has it all.
  await admin.goto('/admin/audit');
  const log = admin.getByTestId('audit');
  for (const action of ['user.create', 'user.role', 'user.password_reset']) {
    await expect(log.locator('tr', { hasText: action }).filter({ hasText: email }).first()).toBeVisible();
  }
  await expect(log.locator('tr', { hasText: 'view.conversation' }).filter({ hasText: email }).first()).toContainText(CONV);
  await expect(log.locator('tr', { hasText: 'login.success' }).filter({ hasText: email }).first()).toContainText('127.0.0.1');
  await adminContext.close();
  await userContext.close();
});

test('everyone edits their own name and avatar', async ({ browser }) => {
  const account = { email: `profile.${tag().toLowerCase()}@billie.example`, password: 'profile-password-ok' };
  addUser(account.email, account.password);
  const page = await (await browser.newContext()).newPage();
  await signInAs(page, account, '/account');

  await page.getByLabel('First name').fill('Aroha');
  await page.getByLabel('Last name').fill('Ngata');
  await page.getByRole('button', { name: 'Save name' }).click();
  await expect(page.getByText('Your name is saved.')).toBeVisible();
  await expect(page.getByTestId('who')).toHaveText('Aroha Ngata');

  await page.getByLabel('PNG, JPEG or WebP, at most 256 KiB').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: PNG });
  await page.getByRole('button', { name: 'Upload avatar' }).click();
  await expect(page.getByText('Your avatar is saved.')).toBeVisible();
  const src = await page.locator('header img.avatar').getAttribute('src');
  expect(src).toMatch(/^\/avatars\/[0-9a-f]{24}\?v=1$/);
  const image = await page.request.get(src ?? '');
  expect(image.headers()['content-type']).toBe('image/png');
  expect(image.headers()['x-content-type-options']).toBe('nosniff');

  // Whatever the browser claims, a script is not an image.
  await page.getByLabel('PNG, JPEG or WebP, at most 256 KiB').setInputFiles({
    name: 'evil.png',
    mimeType: 'image/png',
    buffer: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
  });
  await page.getByRole('button', { name: 'Upload avatar' }).click();
  await expect(page.getByText('That file is not a PNG, JPEG or WebP image.')).toBeVisible();
});

test('changing your password signs you out everywhere', async ({ browser }) => {
  const account = { email: `password.${tag().toLowerCase()}@billie.example`, password: 'old-password-is-long' };
  addUser(account.email, account.password);
  const other = await (await browser.newContext()).newPage();
  await signInAs(other, account, `/conversations/${CONV}`);
  await expect(other.getByTestId('live-badge')).toHaveText('Live');

  const page = await (await browser.newContext()).newPage();
  await signInAs(page, account, '/account');
  await page.getByLabel('Current password').fill('not-my-password');
  await page.getByLabel('New password (12 to 128 characters)').fill('new-password-is-long');
  await page.getByLabel('New password again').fill('new-password-is-long');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('alert')).toContainText('The current password is not right');

  await page.getByLabel('Current password').fill(account.password);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page).toHaveURL(/\/login\?changed=password$/);
  await expect(page.getByText('Your password is changed. Sign in with the new one.')).toBeVisible();
  // The other browser is signed out at once.
  await expect(other).toHaveURL(/\/login\?ended=1$/);
  await signInAs(page, { ...account, password: 'new-password-is-long' });
});

test('a new password is refused when common, or when it contains the email or the service\'s name', async ({ page }) => {
  const account = { email: `commons.${tag().toLowerCase()}@billie.example`, password: 'an-uncommon-password' };
  addUser(account.email, account.password);
  await signInAs(page, account, '/account');
  const attempt = async (password: string, message: string) => {
    await page.getByLabel('Current password').fill(account.password);
    await page.getByLabel('New password (12 to 128 characters)').fill(password);
    await page.getByLabel('New password again').fill(password);
    await page.getByRole('button', { name: 'Change password' }).click();
    await expect(page.getByRole('alert')).toHaveText(message);
  };
  await attempt('1qaz2wsx3edc', 'That password is one of the most common ones: choose another.');
  await attempt(`${account.email.split('@')[0]}-plus`, 'The password must not contain the email address.');
  await attempt('my billie passphrase', 'The password must not contain billie, supervisor or dashboard.');
  // The CLI applies the same rules.
  expect(() => addUser(`commons2.${tag().toLowerCase()}@billie.example`, '123qweasdzxc')).toThrow();
});

test('wrong current passwords on the account page are throttled and audited', async ({ browser }) => {
  const account = { email: `guessed.${tag().toLowerCase()}@billie.example`, password: 'the-real-password-here' };
  addUser(account.email, account.password);
  const context = await browser.newContext({ extraHTTPHeaders: { 'X-Forwarded-For': `192.0.2.${Date.now() % 250}` } });
  const page = await context.newPage();
  await signInAs(page, account, '/account');
  for (let i = 0; i < 5; i++) {
    await page.getByLabel('Current password').fill(`guess number ${i}`);
    await page.getByLabel('New password (12 to 128 characters)').fill('a-new-password-to-set');
    await page.getByLabel('New password again').fill('a-new-password-to-set');
    await page.getByRole('button', { name: 'Change password' }).click();
    await expect(page.getByRole('alert')).toHaveText('The current password is not right.');
  }
  await page.getByLabel('Current password').fill(account.password);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('alert')).toHaveText(/^Too many wrong passwords: try again in \d+ minutes?\.$/);
  const admin = await (await browser.newContext()).newPage();
  await signInAs(admin, ADMIN, '/admin/audit');
  await expect(admin.locator('tr', { hasText: account.email }).filter({ hasText: 'self.password.failure' }).first()).toBeVisible();
  await context.close();
});

test('the header shows admins their admin pages', async ({ page }) => {
  await signInAs(page, ADMIN);
  await page.getByRole('link', { name: 'Users' }).click();
  await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
  await page.getByRole('link', { name: 'Audit log' }).click();
  await expect(page.getByTestId('audit')).toBeVisible();
});
