// The dashboard as a single-page app: after the first page, moving between pages never
// loads a document, one WebSocket serves the whole visit, and Back returns to a list as it
// was left (every loaded page, the scroll position, the card that was opened), with what
// happened meanwhile applied.
import { expect, type Page } from '@playwright/test';
import { appendEntries, hydrated, loadEveryPage, said, signIn, started, tag, type Fields, test } from './support';

/** Counts what a tab loads: documents (main frame only) and WebSockets. */
function watchTab(page: Page) {
  const seen = { documents: 0, sockets: 0 };
  page.on('request', (r) => {
    if (r.resourceType() === 'document' && r.frame() === page.mainFrame()) seen.documents += 1;
  });
  page.on('websocket', () => (seen.sockets += 1));
  return seen;
}

/** Marks the document; `stillSameDocument` is true until a document is loaded. */
async function markDocument(page: Page) {
  await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
}
async function stillSameDocument(page: Page) {
  return page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument === true);
}

function profile(conv: string, seq: number, customerId: string, last: string): Fields {
  return {
    conv,
    typ: 'applicationDetail_changed',
    agt: 'broker',
    seq: String(seq),
    payload: JSON.stringify({
      applicationNumber: `APP-N${last}`,
      customer: { customer_id: customerId, first_name: 'Aroha', last_name: last },
    }),
  };
}

test('list, conversation, Back, customers, a customer, Back: one document, one WebSocket', async ({ page }) => {
  const t = tag();
  const conv = `spa-${t}`;
  const customerId = `CS${t}`;
  appendEntries([started(conv, `APP-N${t}`, customerId), profile(conv, 2, customerId, `Nav${t}`)]);
  const seen = watchTab(page);

  await signIn(page, `/conversations?q=N${t}`);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  const documents = seen.documents;
  expect(seen.sockets).toBe(1);
  await markDocument(page);

  // List → conversation.
  await page.locator(`[data-id="${conv}"] .card-link`).click();
  await expect(page).toHaveURL(new RegExp(`/conversations/${conv}$`));
  await expect(page.getByRole('log', { name: 'Transcript' })).toBeVisible();
  await expect(page.getByTestId('customer')).toHaveText(`Aroha Nav${t}`);

  // Back → the list, as it was (the search too).
  await page.goBack();
  await expect(page).toHaveURL(new RegExp(`/conversations\\?q=N${t}$`));
  await expect(page.getByLabel('Search conversations')).toHaveValue(`N${t}`);
  await expect(page.locator(`[data-id="${conv}"]`)).toBeVisible();

  // → customers → a customer → Back.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Customers' }).click();
  await expect(page).toHaveURL(/\/customers$/);
  await page.getByLabel('Search customers').fill(`nav${t}`);
  await expect(page).toHaveURL(new RegExp(`/customers\\?q=nav${t}$`, 'i'));
  const card = page.locator(`.customer-card[data-id="${customerId}"]`);
  await expect(card).toHaveCount(1);
  await card.getByRole('link').click();
  await expect(page).toHaveURL(new RegExp(`/customers/${customerId}$`));
  await expect(page.getByTestId('customer-name')).toHaveText(`Aroha Nav${t}`);
  await page.goBack();
  await expect(page).toHaveURL(new RegExp(`/customers\\?q=nav${t}$`, 'i'));
  await expect(page.getByLabel('Search customers')).toHaveValue(`nav${t}`);
  await expect(card).toHaveCount(1);

  // Forward, and the header's links, work the same way.
  await page.goForward();
  await expect(page.getByTestId('customer-name')).toHaveText(`Aroha Nav${t}`);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Conversations' }).click();
  await expect(page).toHaveURL(/\/conversations$/);
  await expect(page.locator('.conversation-card').first()).toBeVisible();

  expect(await stillSameDocument(page)).toBe(true);
  expect(seen.documents).toBe(documents);
  expect(seen.sockets).toBe(1);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
});

test('Back after scrolling through 320 conversations restores all of them, the place, and what changed meanwhile', async ({ page }) => {
  test.setTimeout(120_000);
  const t = tag();
  const total = 320;
  const convs = Array.from({ length: total }, (_, i) => `back-${t}-${String(i).padStart(3, '0')}`);
  appendEntries(convs.map((conv, i) => started(conv, `APP-B${t}-${i}`)));

  await signIn(page, `/conversations?q=B${t}`);
  await expect(page.locator('.tab[data-status="all"] .count')).toHaveText(String(total));
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  const cards = page.locator('.conversation-card');
  await loadEveryPage(page);
  await expect(cards).toHaveCount(total);
  await markDocument(page);

  // Open one far down the list.
  const opened = convs[40];
  const link = page.locator(`[data-id="${opened}"] .card-link`);
  await link.scrollIntoViewIfNeeded();
  const scrolled = await page.evaluate(() => window.scrollY);
  expect(scrolled).toBeGreaterThan(1000);
  await link.click();
  await expect(page).toHaveURL(new RegExp(`/conversations/${opened}$`));
  await expect(page.getByRole('log', { name: 'Transcript' })).toBeVisible();

  // Meanwhile: a new conversation, and new activity on one far down the list.
  const fresh = `back-${t}-new`;
  appendEntries([started(fresh, `APP-B${t}-new`), said(convs[200], 2, 'still here')]);
  // The open conversation's page hears of them (the feed stays open).
  await expect(page.getByTestId('live-badge')).toHaveText('Live');

  await page.goBack();
  await expect(page).toHaveURL(new RegExp(`/conversations\\?q=B${t}$`));
  // Every card is back at once, none twice, and the opened one is in view and focused.
  await expect(cards).toHaveCount(total + 1);
  await expect(page.locator(`[data-id="${opened}"] .card-link`)).toBeInViewport();
  await expect(page.locator(`[data-id="${opened}"] .card-link`)).toBeFocused();
  expect(Math.abs((await page.evaluate(() => window.scrollY)) - scrolled)).toBeLessThan(200);
  // What changed meanwhile is applied: the new one and the moved one on top.
  await expect(cards.nth(0)).toHaveAttribute('data-id', /back-.*-(new|200)$/);
  await expect(cards.nth(1)).toHaveAttribute('data-id', /back-.*-(new|200)$/);
  const ids = await cards.evaluateAll((els) => els.map((el) => el.getAttribute('data-id')));
  expect(new Set(ids).size).toBe(total + 1);
  expect(await stillSameDocument(page)).toBe(true);
});

test('an event appended while a conversation is open shows in the list after Back', async ({ page }) => {
  const t = tag();
  const [a, b] = [`evt-a-${t}`, `evt-b-${t}`];
  appendEntries([started(a, `APP-E${t}-A`), started(b, `APP-E${t}-B`)]);
  await signIn(page, `/conversations?q=E${t}`);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  const cards = page.locator('.conversation-card');
  await expect(cards).toHaveCount(2);
  await expect(cards.nth(0)).toHaveAttribute('data-id', b);

  await page.locator(`[data-id="${b}"] .card-link`).click();
  await expect(page.getByRole('log', { name: 'Transcript' })).toBeVisible();
  appendEntries([said(a, 2, 'A question while you were away')]);
  // The open page is told (the feed carries every change), then Back.
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  await page.goBack();
  await expect(cards.nth(0)).toHaveAttribute('data-id', a);
  await expect(cards.nth(0)).toContainText('1 message');
  await expect(cards).toHaveCount(2);
});

test('deep links and reloads show every page complete', async ({ page }) => {
  const t = tag();
  const conv = `deep-${t}`;
  const customerId = `CD${t}`;
  appendEntries([started(conv, `APP-N${t}`, customerId), profile(conv, 2, customerId, `Deep${t}`)]);
  await signIn(page);
  const pages: [string, (p: Page) => Promise<void>][] = [
    ['/conversations', (p) => expect(p.getByRole('heading', { name: 'Conversations' })).toBeVisible()],
    [`/conversations?q=N${t}`, (p) => expect(p.locator(`[data-id="${conv}"]`)).toBeVisible()],
    [`/conversations/${conv}`, (p) => expect(p.getByTestId('customer')).toHaveText(`Aroha Deep${t}`)],
    ['/customers', (p) => expect(p.getByRole('heading', { name: 'Customers' })).toBeVisible()],
    [`/customers/${customerId}`, (p) => expect(p.getByTestId('customer-name')).toHaveText(`Aroha Deep${t}`)],
    ['/account', (p) => expect(p.getByRole('heading', { name: 'Your account' })).toBeVisible()],
  ];
  for (const [path, shows] of pages) {
    await page.goto(path);
    await shows(page);
    await hydrated(page);
    await page.reload();
    await shows(page);
    await hydrated(page);
  }
});

test('the keyboard works across pages moved to in the browser', async ({ page }) => {
  const t = tag();
  appendEntries([0, 1, 2].map((i) => started(`keys-${t}-${i}`, `APP-K${t}-${i}`)));
  // Once the feed connects, the list refetches what it may have missed (and is drawn
  // anew): wait for that before moving the focus, or it would take the focus away.
  const refetched = page.waitForResponse((r) => r.url().includes('/api/conversations/list'));
  await signIn(page, `/conversations?q=K${t}`);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  await refetched;
  const links = page.locator('.conversation-card .card-link');
  await expect(links).toHaveCount(3);
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
  await markDocument(page);
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  await expect(links.nth(1)).toBeFocused();
  const href = await links.nth(1).getAttribute('href');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`${href}$`));
  await expect(page.getByRole('log', { name: 'Transcript' })).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page).toHaveURL(new RegExp(`/conversations\\?q=K${t}$`));
  // Back where it was: the card opened has the focus, and j moves on from it.
  await expect(links.nth(1)).toBeFocused();
  await page.keyboard.press('j');
  await expect(links.nth(2)).toBeFocused();
  await page.keyboard.press('/');
  await expect(page.getByLabel('Search conversations')).toBeFocused();
  expect(await stillSameDocument(page)).toBe(true);
});
