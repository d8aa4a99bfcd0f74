// axe-core on every page, signed out and signed in, in the light and the dark colour
// scheme: no serious or critical violations of WCAG 2.1 A/AA, in the state a supervisor
// actually sees (hydrated, live, data loaded).
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page } from '@playwright/test';
import { ADMIN, hydrated, signIn, signInAs, test } from './support';

const CONV = 'cd613e30-d8f1-6adf-91b7-584a2265b1f5';

async function expectNoSeriousViolations(page: Page, what: string) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const serious = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(serious, what).toEqual([]);
}

test('side-by-side panels start level', async ({ page }) => {
  await page.setViewportSize({ width: 1600, height: 1000 });
  await signIn(page);
  // Every pair of panels next to each other in a grid row has the same top.
  const level = async (path: string) => {
    await page.goto(path);
    await hydrated(page);
    await expect(page.locator('.findings > .panel').nth(1)).toBeVisible();
    const boxes = await page.locator('.findings > .panel').evaluateAll((panels) =>
      panels.map((p) => {
        const r = p.getBoundingClientRect();
        return { x: r.x, y: r.y, name: p.querySelector('h2')?.textContent ?? '' };
      }),
    );
    const [a, b] = boxes;
    expect(Math.abs(a.x - b.x), `${a.name} and ${b.name} side by side on ${path}`).toBeGreaterThan(1);
    expect(Math.abs(a.y - b.y), `${a.name} and ${b.name} on ${path}`).toBeLessThan(1);
  };
  await level(`/conversations/${CONV}`);
  await level('/customers/C283FEFC');
});

// Both colour schemes: the dark one has its own colours to get right.
for (const colorScheme of ['light', 'dark'] as const) {
  test.describe(`${colorScheme} scheme`, () => {
    test.use({ colorScheme });

    test('the login pages', async ({ page }) => {
      await page.goto('/login/mfa?error=invalid');
      await expectNoSeriousViolations(page, 'second step');
      await page.goto('/login');
      await hydrated(page);
      await expectNoSeriousViolations(page, 'login');
      await page.goto('/login?error=invalid');
      await hydrated(page);
      await expectNoSeriousViolations(page, 'login with an error');
    });

    test('every signed-in page', async ({ page }) => {
      await signIn(page);
      const pages: [string, string][] = [
        ['/', '[data-testid="hours-chart"]'],
        ['/conversations?attention=1', 'h1'],
        ['/conversations', '.conversation-card'],
        ['/conversations?status=approved', '.tabs'],
        [`/conversations/${CONV}`, 'article.bubble'],
        ['/customers', '.customer-card'],
        ['/customers/C283FEFC', '[data-testid="customer-name"]'],
        ['/no/such/page', 'h1'],
      ];
      for (const [path, ready] of pages) {
        await page.goto(path);
        await hydrated(page);
        await expect(page.locator(ready).first()).toBeVisible();
        await expect(page.getByTestId('live-badge')).toHaveText('Live');
        if (path.startsWith('/conversations/')) {
          // Expanded panels too.
          for (const summary of await page.locator('details summary').all()) await summary.click();
        }
        await expectNoSeriousViolations(page, path);
      }
    });

    test('the account and admin pages', async ({ page }) => {
      await signInAs(page, ADMIN, '/account');
      // The overview as an admin sees it: with ingest's health.
      for (const path of ['/', '/account', '/admin/users', '/admin/tokens', '/admin/audit']) {
        await page.goto(path);
        await hydrated(page);
        await expect(page.locator('h1')).toBeVisible();
        await expect(page.getByTestId('live-badge')).toHaveText('Live');
        await expectNoSeriousViolations(page, path);
      }
      // Setting up two-step sign-in, with its QR code (started already in the other scheme's run).
      await page.goto('/account');
      const start = page.getByLabel('Your password, to set it up');
      if (await start.count()) {
        await start.fill(ADMIN.password);
        await page.getByRole('button', { name: 'Set up two-step sign-in' }).click();
      }
      await expect(page.getByRole('img', { name: 'QR code for your authenticator app' })).toBeVisible();
      await expectNoSeriousViolations(page, '/account, setting up two-step sign-in');
    });
  });
}
