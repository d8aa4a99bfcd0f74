// The walking skeleton: a supervisor signs in, sees a fixture conversation, opens it, and
// watches a new message arrive live, without a reload. Anonymous callers get nothing.
import { expect } from '@playwright/test';
import { ADMIN, appendEntries, BASE_URL, hydrated, signIn, test } from './support';

const CONV = 'cd613e30-d8f1-6adf-91b7-584a2265b1f5';

test('anonymous visitors are sent to the login page', async ({ page }) => {
  await page.goto('/conversations');
  await expect(page).toHaveURL(/\/login\?next=(%2F|\/)conversations$/);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
});

test('anonymous calls to a server function are refused with 401', async ({ request }) => {
  const res = await request.post('/api/conversations/list', { form: {}, headers: { Origin: BASE_URL } });
  expect(res.status()).toBe(401);
});

test('anonymous WebSocket connections are refused', async ({ page }) => {
  await page.goto('/login');
  const outcome = await page.evaluate(
    () =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`ws://${location.host}/ws`);
        ws.onopen = () => resolve('open');
        ws.onerror = () => resolve('refused');
        ws.onclose = () => resolve('refused');
      }),
  );
  expect(outcome).toBe('refused');
});

test('a wrong password is refused with a clear message', async ({ page }) => {
  await page.goto('/login');
  await page.getByLabel('Email').fill('nobody@billie.example');
  await page.getByLabel('Password').fill('not the password at all');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('That email and password do not match an account.');
});

test("each page's code is loaded when the page is first shown", async ({ page }) => {
  // The build is split (cargo leptos --split): a main module with the framework, the
  // router and the header, and the modules of each page (a lazy route).
  const loaded: string[] = [];
  page.on('request', (request) => {
    const path = new URL(request.url()).pathname;
    if (path.endsWith('.wasm')) loaded.push(path);
  });
  const pageCode = (route: string) => loaded.some((path) => path.includes(`__${route}_route_view_`));

  await page.goto('/login');
  await hydrated(page);
  expect(loaded).toContain('/pkg/billie-dashboard.wasm');
  expect(pageCode('login')).toBe(true);
  expect(pageCode('users')).toBe(false);

  const signingIn = loaded.length;
  await page.getByLabel('Email').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Sign-in lands on the overview.
  await expect(page).toHaveURL(/\/$/);
  await hydrated(page);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  const afterSignIn = loaded.slice(signingIn).filter((path) => path.includes('_route_view_'));
  expect(afterSignIn.length).toBe(1);
  expect(pageCode('overview')).toBe(true);
  expect(pageCode('conversations')).toBe(false);

  // Another page, moved to in the browser, loads its code, and the page works.
  await page.getByRole('link', { name: 'Users' }).click();
  await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
  expect(pageCode('users')).toBe(true);
  expect(pageCode('account')).toBe(false);
});

test('a new message appears live in the open conversation', async ({ page }) => {
  await signIn(page);
  const card = page.locator(`[data-id="${CONV}"]`);
  await expect(card).toContainText('APP-37519-B');
  await expect(page.getByTestId('live-badge')).toHaveText('Live');

  await card.getByRole('link').click();
  await expect(page).toHaveURL(new RegExp(`/conversations/${CONV}$`));
  await hydrated(page);
  const transcript = page.getByRole('log', { name: 'Transcript' });
  // The fixture conversation has 5 messages (more if this database saw earlier runs).
  await expect(transcript.locator('article').nth(4)).toBeVisible();
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  const shown = await transcript.locator('article').count();
  await expect(page.getByTestId('message-count')).toHaveText(String(shown));

  // Anything that survives in `window` proves there was no reload.
  await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
  const utterance = `Is my loan approved yet? (${Date.now()})`;
  appendEntries([
    {
      conv: CONV,
      typ: 'user_input',
      agt: 'broker',
      usr: 'C283FEFC',
      seq: String(Date.now()),
      cls: 'msg',
      payload: JSON.stringify({ utterance, created_at: new Date().toISOString() }),
    },
  ]);

  await expect(transcript.locator('article').last()).toContainText(utterance);
  await expect(transcript.locator('article')).toHaveCount(shown + 1);
  await expect(page.getByTestId('message-count')).toHaveText(String(shown + 1));
  expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
});

test('the list moves a conversation with new activity to the top, live', async ({ page }) => {
  await signIn(page);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  const first = page.locator('.conversation-card').first();
  const other = '2f978d87-1999-9e3f-a46d-6753ec148cb4';
  appendEntries([
    {
      conv: other,
      typ: 'assistant_response',
      agt: 'broker',
      seq: String(Date.now()),
      payload: JSON.stringify({ utterance: 'Still there?', created_at: new Date().toISOString() }),
    },
  ]);
  await expect(first).toHaveAttribute('data-id', other);
});

test('the open conversation shows what the agents found, and a decision arrives live', async ({ page }) => {
  const conv = `decision-${Date.now()}`;
  appendEntries([
    { conv, typ: 'conversation_started', agt: 'broker', seq: '1', payload: JSON.stringify({ application_number: 'APP-00001-Z' }) },
    {
      conv,
      typ: 'applicationDetail_changed',
      agt: 'broker',
      seq: '2',
      payload: JSON.stringify({ applicationNumber: 'APP-00001-Z', loanAmount: 900, loanPurpose: 'Car repairs' }),
    },
    { conv, typ: 'fraudCheck_assessment', agt: 'fraud_agent', seq: '3', payload: JSON.stringify({ severity: 'LOW', final_score: 2 }) },
  ]);
  await signIn(page, `/conversations/${conv}`);
  await expect(page.getByTestId('loan-amount')).toHaveText('$900.00');
  await expect(page.getByTestId('loan-purpose')).toHaveText('Car repairs');
  await expect(page.locator('details[data-kind="fraud_check"]')).toContainText('LOW · score 2');
  await expect(page.getByTestId('live-badge')).toHaveText('Live');

  appendEntries([{ conv, typ: 'final_decision', agt: 'broker', seq: '4', payload: JSON.stringify({ decision: 'APPROVED' }) }]);
  await expect(page.getByTestId('decision')).toHaveText('Final decision: APPROVED');
  await expect(page.getByTestId('status')).toHaveText('Approved');

  const post = (seq: string, text: string) => ({
    conv,
    typ: 'noticeboard_updated',
    agt: 'fraud_agent',
    seq,
    payload: JSON.stringify({ agent_name: 'fraud_agent::Fraud Signals', post: text }),
  });
  appendEntries([post('5', 'First look: nothing unusual.')]);
  const notice = page.locator('article.notice[data-agent="fraud_agent::Fraud Signals"]');
  await expect(notice.locator('.current')).toHaveText('First look: nothing unusual.');
  appendEntries([post('6', 'Device matches earlier applications.')]);
  await expect(notice.locator('.current')).toHaveText('Device matches earlier applications.');
  await expect(notice.locator('details summary')).toHaveText('1 earlier version(s)');

  // The summary is a part kept whole: the newest by seq is shown, in either spelling.
  const summary = page.getByRole('region', { name: 'Summary' });
  const recap = (seq: string, payload: object) => ({
    conv,
    typ: 'conversation_summary',
    agt: 'conversation_agent',
    seq,
    payload: JSON.stringify(payload),
  });
  appendEntries([recap('8', { conversation_purpose: 'Car repairs loan', conversation_facts: ['Owns the car'] })]);
  await expect(summary.locator('p')).toHaveText('Car repairs loan');
  await expect(summary.locator('li')).toHaveText(['Owns the car']);
  appendEntries([recap('7', { purpose: 'Older summary', facts: [] })]);
  appendEntries([post('9', 'Checked once more.')]);
  await expect(notice.locator('.current')).toHaveText('Checked once more.');
  await expect(summary.locator('p')).toHaveText('Car repairs loan');
});

test('a conversation that goes quiet shows paused, live', async ({ page }) => {
  const conv = `quiet-${Date.now()}`;
  // The last message is 2 min 50 s old: paused (3 min of silence) within seconds.
  const at = new Date(Date.now() - 170_000).toISOString();
  appendEntries([
    { conv, typ: 'user_input', agt: 'broker', seq: '1', payload: JSON.stringify({ utterance: 'brb', created_at: at }) },
  ]);
  await signIn(page, `/conversations/${conv}`);
  await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
  await expect(page.getByTestId('status')).toHaveText('Paused', { timeout: 30_000 });
  expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
});
