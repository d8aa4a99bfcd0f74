// What a supervisor does all day: search and filter the list, scroll through hundreds of
// conversations, watch one change live, look up the customer, and trust that untrusted
// chat text never runs and that a server restart loses nothing on screen.
import { expect } from '@playwright/test';
import { appendEntries, hydrated, said, signIn, started, tag, type Fields, test } from './support';

const CONV = 'cd613e30-d8f1-6adf-91b7-584a2265b1f5';

function details(conv: string, seq: number, app: string, customer: Record<string, string>): Fields {
  return {
    conv,
    typ: 'applicationDetail_changed',
    agt: 'broker',
    seq: String(seq),
    payload: JSON.stringify({ applicationNumber: app, loanAmount: 640, loanPurpose: 'Car rego', customer }),
  };
}

test('search finds conversations by customer name and by application number', async ({ page }) => {
  await signIn(page);
  const list = page.getByTestId('conversation-list');
  const search = page.getByLabel('Search conversations');

  await search.fill('saanvi citizen');
  await expect(page).toHaveURL(/\?q=saanvi%20citizen$/);
  await expect(list.locator(`[data-id="${CONV}"]`)).toBeVisible();
  for (const name of await list.locator('.name').allTextContents()) {
    expect(name.toLowerCase()).toContain('saanvi citizen');
  }

  await search.fill('37519-b');
  await expect(page).toHaveURL(/\?q=37519-b$/);
  await expect(list.locator('.conversation-card')).toHaveCount(1);
  await expect(list.locator('.conversation-card')).toContainText('APP-37519-B');
  await expect(list.locator('.conversation-card')).toContainText('Saanvi Citizen');

  await search.fill('no conversation is called this');
  await expect(page.getByText('No conversations match.')).toBeVisible();

  // The search lives in the URL: a reload (or a shared link) shows the same list.
  await page.goto('/conversations?q=APP-37519');
  await expect(page.getByLabel('Search conversations')).toHaveValue('APP-37519');
  await expect(page.locator('.conversation-card')).toHaveCount(1);
});

test('search as you type: the beginnings of words, any case, any accents, every term', async ({ page }) => {
  const t = tag();
  const convs = { jane: `jane-${t}`, chloe: `chloe-${t}`, aroha: `aroha-${t}` };
  appendEntries([
    started(convs.jane, 'APP-49938-E'),
    details(convs.jane, 2, 'APP-49938-E', { customer_id: `CJ${t}`, first_name: 'Jane', last_name: 'Smith' }),
    started(convs.chloe, `APP-${t}-C`),
    details(convs.chloe, 2, `APP-${t}-C`, { customer_id: `CC${t}`, first_name: 'Chloé', last_name: 'Martin' }),
    started(convs.aroha, `APP-${t}-T`),
    details(convs.aroha, 2, `APP-${t}-T`, { customer_id: `CT${t}`, first_name: 'Aroha', last_name: 'Tūhoe' }),
  ]);
  await signIn(page);
  const list = page.getByTestId('conversation-list');
  const search = page.getByLabel('Search conversations');
  const finds = async (q: string, conv: string) => {
    await search.fill(q);
    await expect(list.locator(`[data-id="${conv}"]`), `"${q}"`).toBeVisible();
  };
  await finds('smi', convs.jane);
  await finds('APP-49', convs.jane);
  await finds('jane sm', convs.jane);
  await finds('chloe', convs.chloe);
  await finds('CHLO', convs.chloe);
  await finds('tuhoe', convs.aroha);
  // Every card shown begins a word with each term (once the list shows this search).
  await search.fill('jane sm');
  await expect(page).toHaveURL(/\?q=jane%20sm$/);
  await expect
    .poll(async () => {
      const cards = await list.locator('.conversation-card').all();
      for (const card of cards) {
        const text = `${await card.locator('.name').textContent()} ${await card.locator('.application').textContent()}`;
        const words = text.toLowerCase().split(/[^\p{L}\p{N}]+/u);
        if (!['jane', 'sm'].every((term) => words.some((w) => w.startsWith(term)))) return text;
      }
      return cards.length > 0;
    })
    .toBe(true);
  // The middle of a word is not its beginning.
  await search.fill(`mith ${t}`);
  await expect(page.getByText('No conversations match.')).toBeVisible();

  // The customers list the same, and by their id and email address too.
  await page.goto('/customers');
  await hydrated(page);
  const customers = page.getByTestId('customer-list');
  const searchCustomers = page.getByLabel('Search customers');
  const findsCustomer = async (q: string, id: string) => {
    await searchCustomers.fill(q);
    await expect(customers.locator(`[data-id="${id}"]`), `"${q}"`).toBeVisible();
  };
  await findsCustomer('smi', `CJ${t}`);
  await findsCustomer('jane sm', `CJ${t}`);
  await findsCustomer('chloe', `CC${t}`);
  await findsCustomer('CHLO mar', `CC${t}`);
  await findsCustomer('tuhoe', `CT${t}`);
  await findsCustomer(`ct${t}`, `CT${t}`);
  await searchCustomers.fill(`mith cj${t}`);
  await expect(page.getByText('No customers match.')).toBeVisible();
});

test('a status tab filters the list, and its count follows live', async ({ page }) => {
  const t = tag();
  const conv = `declined-${t}`;
  await signIn(page, '/conversations?status=declined');
  const tab = page.locator('.tab[data-status="declined"]');
  await expect(tab).toHaveAttribute('aria-current', 'page');
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  const before = Number(await tab.locator('.count').textContent());
  for (const badge of await page.locator('.conversation-card .status').allTextContents()) {
    expect(badge).toBe('Declined');
  }

  appendEntries([
    started(conv, `APP-${t}`),
    { conv, typ: 'final_decision', agt: 'broker', seq: '2', payload: JSON.stringify({ decision: 'DECLINED' }) },
  ]);
  await expect(page.locator(`[data-id="${conv}"]`)).toContainText('Declined');
  await expect(tab.locator('.count')).toHaveText(String(before + 1));

  // Another tab, from the URL the tab links to.
  await page.locator('.tab[data-status="active"]').click();
  await expect(page).toHaveURL(/status=active/);
  await expect(page.locator(`[data-id="${conv}"]`)).toHaveCount(0);
  for (const badge of await page.locator('.conversation-card .status').allTextContents()) {
    expect(badge).toBe('Active');
  }
});

test('infinite scroll shows every one of 320 conversations exactly once, while they change', async ({ page }) => {
  test.setTimeout(120_000);
  const t = tag();
  const total = 320;
  const convs = Array.from({ length: total }, (_, i) => `scroll-${t}-${String(i).padStart(3, '0')}`);
  appendEntries(convs.map((conv, i) => started(conv, `APP-S${t}-${i}`)));

  await signIn(page, `/conversations?q=S${t}`);
  await expect(page.locator('.tab[data-status="all"] .count')).toHaveText(String(total));
  await expect(page.getByTestId('live-badge')).toHaveText('Live');

  const cards = page.locator('.conversation-card');
  // The link to the next page, which reads "Loading…" while that page is on its way.
  const more = page.getByRole('link', { name: /^(Show older conversations|Loading…)$/ });
  let moved = 0;
  for (let round = 0; round < 40; round++) {
    if ((await more.count()) === 0) break;
    // Meanwhile, conversations on pages not loaded yet get new activity (to the top)
    // and loaded ones do too: neither may show twice or go missing.
    if (round < 4) {
      appendEntries([said(convs[total - 1 - round * 40], 2, 'still here'), said(convs[round], 2, 'me too')]);
      moved += 2;
    }
    const before = await cards.count();
    await page.mouse.wheel(0, 20_000);
    // The next page arrives (more cards), or the list has ended.
    await expect
      .poll(async () => (await cards.count()) > before || (await more.count()) === 0)
      .toBe(true);
  }
  await expect(more).toHaveCount(0);
  await expect(cards).toHaveCount(total);
  const ids = await cards.evaluateAll((els) => els.map((el) => el.getAttribute('data-id')));
  expect(new Set(ids).size).toBe(total);
  expect([...ids].sort()).toEqual([...convs].sort());
  expect(moved).toBeGreaterThan(0);
});

test('the open conversation follows transcript, assessments, noticeboard and decision live', async ({ page }) => {
  const t = tag();
  const conv = `live-${t}`;
  appendEntries([started(conv, `APP-L${t}`), said(conv, 2, 'Hi, I need a loan')]);
  await signIn(page, `/conversations/${conv}`);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
  const log = page.getByRole('log', { name: 'Transcript' });

  appendEntries([
    {
      conv,
      typ: 'assistant_response',
      agt: 'broker',
      seq: '3',
      payload: JSON.stringify({ utterance: 'How much?', rationale: 'Ask for the amount', created_at: new Date().toISOString() }),
    },
  ]);
  await expect(log.locator('.from-assistant').last()).toContainText('How much?');
  await expect(log.locator('.from-assistant').last().locator('.rationale')).toHaveText('Why: Ask for the amount');
  await expect(log.locator('.from-customer')).toContainText('Hi, I need a loan');

  appendEntries([
    { conv, typ: 'identityRisk_assessment', agt: 'identity_agent', seq: '4', payload: JSON.stringify({ decision: 'PASS', severity: 'LOW', final_score: 12, checks: { document: 'verified' } }) },
  ]);
  const identity = page.locator('details[data-kind="identity_risk"]');
  await expect(identity.locator('summary')).toContainText('PASS · LOW · score 12');
  await identity.locator('summary').click();
  await expect(identity.locator('pre')).toContainText('"document": "verified"');

  appendEntries([
    { conv, typ: 'noticeboard_updated', agt: 'identity_agent', seq: '5', payload: JSON.stringify({ agent_name: 'identity_agent::Identity Check', post: 'Checking documents.' }) },
    { conv, typ: 'noticeboard_updated', agt: 'identity_agent', seq: '6', payload: JSON.stringify({ agent_name: 'identity_agent::Identity Check', post: 'Identity verified.' }) },
  ]);
  const notice = page.locator('article.notice[data-agent="identity_agent::Identity Check"]');
  await expect(notice.locator('.current')).toHaveText('Identity verified.');
  await notice.locator('details summary').click();
  await expect(notice.locator('.history')).toContainText('Checking documents.');

  appendEntries([{ conv, typ: 'final_decision', agt: 'broker', seq: '7', payload: JSON.stringify({ decision: 'REFERRED' }) }]);
  await expect(page.getByTestId('decision')).toHaveText('Final decision: REFERRED');
  await expect(page.getByTestId('status')).toHaveText('Referred');
  expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
});

test('the transcript follows new messages unless the reader scrolled up', async ({ page }) => {
  const t = tag();
  const conv = `follow-${t}`;
  appendEntries([started(conv, `APP-F${t}`), ...Array.from({ length: 30 }, (_, i) => said(conv, i + 2, `message ${i}`))]);
  await signIn(page, `/conversations/${conv}`);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  const log = page.getByRole('log', { name: 'Transcript' });
  const atBottom = () => log.evaluate((el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 2);
  expect(await log.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);
  await expect.poll(atBottom).toBe(true);

  appendEntries([said(conv, 40, 'new at the bottom', 'assistant')]);
  await expect(log).toContainText('new at the bottom');
  await expect.poll(atBottom).toBe(true);

  await log.evaluate((el) => el.scrollTo(0, 0));
  appendEntries([said(conv, 41, 'while the reader is above')]);
  await expect(log).toContainText('while the reader is above');
  // Whatever the new message moves happens by the next paint: wait for two frames.
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
  expect(await log.evaluate((el) => el.scrollTop)).toBe(0);
});

test('a list gets summaries; the open conversation gets its own new messages, applied in place', async ({ page }) => {
  const t = tag();
  const [shown, other] = [`watch-a-${t}`, `watch-b-${t}`];
  appendEntries([started(shown, `APP-WA${t}`), started(other, `APP-WB${t}`)]);
  // What the tab's feed brings (each change's conversation and new message), and says.
  const received: { id: string; messages: number; text: string | null }[] = [];
  const sent: string[] = [];
  page.on('websocket', (ws) => {
    ws.on('framereceived', ({ payload }) => {
      const frame = JSON.parse(String(payload));
      if (frame.type !== 'changes') return;
      for (const { conversation, message } of frame.changes) {
        received.push({ id: conversation.id, messages: conversation.message_count, text: message?.text ?? null });
      }
    });
    ws.on('framesent', ({ payload }) => sent.push(String(payload)));
  });
  const change = (id: string, messages: number) => received.find((c) => c.id === id && c.messages === messages);

  // A list: a new message comes as its conversation's summary alone.
  await signIn(page);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  appendEntries([said(other, 2, `for the list ${t}`)]);
  await expect.poll(() => change(other, 1)).toBeTruthy();
  expect(change(other, 1)?.text).toBeNull();

  // The open conversation: the tab says so, and its new message comes in the frame and
  // is shown without fetching the conversation again.
  await page.goto(`/conversations/${shown}`);
  await hydrated(page);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  await expect.poll(() => sent).toContain(JSON.stringify({ watch: shown }));
  let refetches = 0;
  page.on('request', (r) => {
    if (r.url().includes('/api/conversations/get')) refetches += 1;
  });
  appendEntries([said(shown, 2, `for the open one ${t}`)]);
  await expect(page.getByRole('log', { name: 'Transcript' })).toContainText(`for the open one ${t}`);
  expect(change(shown, 1)?.text).toBe(`for the open one ${t}`);
  expect(refetches).toBe(0);
  // Other conversations' messages still come as summaries.
  appendEntries([said(other, 3, `still for the list ${t}`)]);
  await expect.poll(() => change(other, 2)).toBeTruthy();
  expect(change(other, 2)?.text).toBeNull();

  // Back on the list, the tab no longer shows a conversation.
  await page.getByRole('link', { name: '← All conversations' }).click();
  await expect(page).toHaveURL(/\/conversations$/);
  await expect.poll(() => sent).toContain(JSON.stringify({ watch: null }));
});

test('a new message goes where its seq puts it; the messages before it and an open assessment stay as they are', async ({ page }) => {
  const t = tag();
  const conv = `insert-${t}`;
  appendEntries([
    started(conv, `APP-IN${t}`),
    said(conv, 2, `one ${t}`),
    said(conv, 4, `three ${t}`, 'assistant'),
    { conv, typ: 'fraudCheck_assessment', agt: 'fraud_agent', seq: '5', payload: JSON.stringify({ severity: 'LOW', final_score: 2 }) },
  ]);
  await signIn(page, `/conversations/${conv}`);
  const log = page.getByRole('log', { name: 'Transcript' });
  await expect(log.locator('article')).toHaveCount(2);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  const fraud = page.locator('details[data-kind="fraud_check"]');
  await fraud.locator('summary').click();
  await expect(fraud).toHaveAttribute('open', '');
  // Count what the transcript's DOM gains and loses, and mark the elements shown now.
  await page.evaluate(() => {
    const log = document.querySelector('[role="log"]') as HTMLElement;
    const w = window as unknown as { added: number; removed: number };
    w.added = 0;
    w.removed = 0;
    log.querySelectorAll('article').forEach((a) => ((a as unknown as { kept: boolean }).kept = true));
    new MutationObserver((records) => {
      for (const r of records) {
        r.addedNodes.forEach((n) => (w.added += n.nodeName === 'ARTICLE' ? 1 : 0));
        r.removedNodes.forEach((n) => (w.removed += n.nodeName === 'ARTICLE' ? 1 : 0));
      }
    }).observe(log, { childList: true, subtree: true });
  });

  // seq 3 arrives after seq 4: it goes between them.
  appendEntries([said(conv, 3, `two ${t}`)]);
  await expect(log.locator('article .text')).toHaveText([`one ${t}`, `two ${t}`, `three ${t}`]);
  const dom = await page.evaluate(() => {
    const w = window as unknown as { added: number; removed: number };
    const kept = [...document.querySelectorAll('[role="log"] article')].map((a) => Boolean((a as unknown as { kept?: boolean }).kept));
    return { added: w.added, removed: w.removed, kept };
  });
  // One insertion: every other message keeps its element, and the new one is new.
  expect(dom.kept).toEqual([true, false, true]);
  expect(dom).toMatchObject({ added: 1, removed: 0 });
  await expect(fraud).toHaveAttribute('open', '');
  await expect(page.getByTestId('message-count')).toHaveText('3');
});

test('the customer page shows the profile and links to their conversations', async ({ page }) => {
  const t = tag();
  const [first, second] = [`cust-a-${t}`, `cust-b-${t}`];
  const customerId = `CU${t}`;
  appendEntries([
    started(first, `APP-A${t}`, customerId),
    details(first, 2, `APP-A${t}`, {
      customer_id: customerId,
      first_name: 'Mereana',
      last_name: `Tane${t}`,
      email_address: `mereana.${t.toLowerCase()}@example.com`,
      mobile_phone_number: '+61400000001',
      date_of_birth: '1991-02-03',
    }),
    started(second, `APP-B${t}`, customerId),
  ]);
  await signIn(page, `/conversations/${second}`);
  // The later conversation knows the name from the customer's first one.
  await expect(page.getByTestId('customer')).toHaveText(`Mereana Tane${t}`);
  await page.getByTestId('customer').getByRole('link').click();
  await expect(page).toHaveURL(new RegExp(`/customers/${customerId}$`));
  await expect(page.getByTestId('customer-name')).toHaveText(`Mereana Tane${t}`);
  await expect(page.getByTestId('customer-email')).toHaveText(`mereana.${t.toLowerCase()}@example.com`);
  await expect(page.getByText('1991-02-03')).toBeVisible();
  await expect(page.locator(`[data-id="${first}"]`)).toContainText(`APP-A${t}`);
  await page.locator(`[data-id="${first}"] a`).click();
  await expect(page).toHaveURL(new RegExp(`/conversations/${first}$`));

  // And the customer list finds them by name, email or id.
  await page.goto('/customers');
  await hydrated(page);
  for (const q of [`tane${t}`, `MEREANA.${t}@`, customerId.toLowerCase()]) {
    await page.getByLabel('Search customers').fill(q);
    await expect(page.locator('.customer-card')).toHaveCount(1);
    await expect(page.locator('.customer-card')).toContainText(`Mereana Tane${t}`);
  }
});

test('a customer page follows the customer live: a profile change and a new conversation', async ({ page }) => {
  const t = tag();
  const [first, second] = [`live-a-${t}`, `live-b-${t}`];
  const customerId = `CL${t}`;
  appendEntries([
    started(first, `APP-L${t}`, customerId),
    details(first, 2, `APP-L${t}`, { customer_id: customerId, first_name: 'Aroha', last_name: `Ngata${t}` }),
  ]);
  await signIn(page, `/customers/${customerId}`);
  await expect(page.getByTestId('customer-name')).toHaveText(`Aroha Ngata${t}`);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));

  // A profile change, from an event of one of their conversations.
  appendEntries([
    details(first, 3, `APP-L${t}`, { customer_id: customerId, first_name: 'Aroha', last_name: `Ngata-Smith${t}`, email_address: `aroha.${t.toLowerCase()}@example.com` }),
  ]);
  await expect(page.getByTestId('customer-name')).toHaveText(`Aroha Ngata-Smith${t}`);
  await expect(page.getByTestId('customer-email')).toHaveText(`aroha.${t.toLowerCase()}@example.com`);

  // A new conversation of theirs.
  await expect(page.locator(`[data-id="${second}"]`)).toHaveCount(0);
  appendEntries([started(second, `APP-M${t}`, customerId)]);
  await expect(page.locator(`[data-id="${second}"]`)).toContainText(`APP-M${t}`);
  expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
});

test('HTML in an utterance is shown safely: allowed formatting only, no script runs', async ({ page }) => {
  const t = tag();
  const conv = `xss-${t}`;
  const hostile =
    '<b>bold</b> <img src=x onerror="window.__xss=1"><script>window.__xss=2</script>' +
    '<a href="javascript:window.__xss=3">click</a> <a href="https://billie.example/help">help</a>';
  appendEntries([started(conv, `APP-X${t}`), said(conv, 2, hostile)]);
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });

  await signIn(page, `/conversations/${conv}`);
  for (const round of ['server-rendered', 'arrived live']) {
    const text = page.getByRole('log', { name: 'Transcript' }).locator('.text').last();
    await expect(text.locator('b')).toHaveText('bold');
    await expect(text).toContainText('<script>window.__xss=2</script>');
    await expect(text).toContainText('<img src=x onerror="window.__xss=1">');
    await expect(text.locator('img, script')).toHaveCount(0);
    await expect(text.locator('a', { hasText: 'click' })).not.toHaveAttribute('href', /.*/);
    await expect(text.locator('a', { hasText: 'help' })).toHaveAttribute('href', 'https://billie.example/help');
    await text.locator('a', { hasText: 'click' }).click();
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), round).toBeUndefined();
    if (round === 'server-rendered') {
      await expect(page.getByTestId('live-badge')).toHaveText('Live');
      appendEntries([said(conv, 3, hostile)]);
      await expect(page.getByRole('log', { name: 'Transcript' }).locator('.text')).toHaveCount(2);
    }
  }
  expect(dialogs).toEqual([]);
});

test('a tab that is shown again refetches what it shows', async ({ page }) => {
  await signIn(page, `/conversations/${CONV}`);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  const refetched = page.waitForRequest((r) => r.url().includes('/api/conversations/get'));
  // What the browser fires when the supervisor comes back to the tab (it is visible here).
  await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await refetched;
});

test('the keyboard reaches everything: / to search, j and k to move, Enter to open, Esc back', async ({ page }) => {
  // The list refetches once the feed connects (and is drawn anew): wait for it first.
  const refetched = page.waitForResponse((r) => r.url().includes('/api/conversations/list'));
  await signIn(page);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  await refetched;
  await page.keyboard.press('/');
  await expect(page.getByLabel('Search conversations')).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(page.getByLabel('Search conversations')).not.toBeFocused();

  const links = page.locator('.conversation-card .card-link');
  await page.keyboard.press('j');
  await expect(links.nth(0)).toBeFocused();
  await page.keyboard.press('j');
  await expect(links.nth(1)).toBeFocused();
  await page.keyboard.press('k');
  await expect(links.nth(0)).toBeFocused();
  const href = await links.nth(0).getAttribute('href');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`${href}$`));
  await expect(page.getByRole('log', { name: 'Transcript' })).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page).toHaveURL(/\/conversations$/);
});

test('pages are complete without JavaScript', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/login?next=%2Fconversations%3Fq%3Dsaanvi');
  await page.getByLabel('Email').fill('e2e.supervisor@billie.example');
  await page.getByLabel('Password').fill('e2e-password-long-enough');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/conversations\?q=saanvi$/);
  await expect(page.locator(`[data-id="${CONV}"]`)).toContainText('Saanvi Citizen');
  await expect(page.locator('.tab[data-status="all"] .count')).not.toHaveText('');
  await page.goto(`/conversations/${CONV}`);
  await expect(page.getByRole('log', { name: 'Transcript' }).locator('article').first()).toBeVisible();
  await expect(page.getByTestId('loan-amount')).toHaveText('$750.00');
  await context.close();
});
