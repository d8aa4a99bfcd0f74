// `/api/v1`, as an integration sees it: tokens made by an admin (on the admin page and
// with the CLI), every endpoint's answer validated against the OpenAPI document, each bad
// input's problem, paging over 300+ conversations while events arrive, the change stream
// (live, filtered, resumed after a drop, resync when too old), revocation reaching a
// second web process at once, the rate limit, and the timeline (API and Events view).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { expect } from '@playwright/test';
import {
  ADMIN, appendEntries, BASE_URL, fixtureEntries, freePort, hydrated, ROOT, said, signIn, signInAs,
  startDashboard, started, tag, test, type Fields,
} from './support';

const BIN = process.env.APP_BIN ?? resolve(ROOT, 'target/debug/billie-dashboard');
const CONV = 'cd613e30-d8f1-6adf-91b7-584a2265b1f5';
const CUSTOMER = 'C283FEFC';

/** `billie-dashboard token create`: the token, printed alone on stdout. */
function cliToken(name: string): string {
  return execFileSync(BIN, ['token', 'create', '--name', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

function get(path: string, token?: string, headers: Record<string, string> = {}, base = BASE_URL) {
  return fetch(`${base}${path}`, { headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers } });
}

type Doc = { paths: Record<string, { get: { responses: Record<string, { content?: Record<string, { schema: object }> }> } }> };
let doc: Doc;
let ajv: Ajv2020;

/** Checks `body` against what the OpenAPI document says `template` answers with `status`. */
function expectDocumented(template: string, status: number, body: unknown) {
  const response = doc.paths[template]?.get.responses[String(status)];
  expect(response, `${template} documents ${status}`).toBeTruthy();
  const content = response.content ?? {};
  const schema = (content['application/json'] ?? content['application/problem+json'])?.schema;
  expect(schema, `${template} ${status} has a schema`).toBeTruthy();
  const validate = ajv.compile({ ...schema, components: (doc as any).components });
  const ok = validate(body);
  expect(ok ? [] : validate.errors, `${template} ${status} as documented`).toEqual([]);
}

/** Reads a problem answer: its content type, status and documented shape. */
async function expectProblem(res: Response, status: number, template: string, detail: RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = await res.json();
  expectDocumented(template, status, body);
  expect(body.status).toBe(status);
  expect(body.detail).toMatch(detail);
  return body;
}

/** A Server-Sent Events reader over fetch: events as they come, and the raw text. */
function openStream(url: string, headers: Record<string, string>) {
  const abort = new AbortController();
  const events: { event: string; id?: string; data: string }[] = [];
  let raw = '';
  let ended = false;
  const done = (async () => {
    try {
      const res = await fetch(url, { headers, signal: abort.signal });
      if (!res.body) return;
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of res.body as any) {
        const text = decoder.decode(chunk, { stream: true });
        raw += text;
        buffer += text;
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const e: { event: string; id?: string; data: string } = { event: 'message', data: '' };
          let field = false;
          for (const line of block.split('\n')) {
            const [name, ...rest] = line.split(':');
            const value = rest.join(':').replace(/^ /, '');
            if (name === 'event') (e.event = value), (field = true);
            if (name === 'id') (e.id = value), (field = true);
            if (name === 'data') (e.data += value), (field = true);
          }
          if (field) events.push(e);
        }
      }
    } catch {
      // aborted
    } finally {
      ended = true;
    }
  })();
  return { events, raw: () => raw, ended: () => ended, close: () => abort.abort(), done };
}

function changes(events: { event: string; data: string }[]) {
  return events.filter((e) => e.event === 'change').map((e) => JSON.parse(e.data) as { conversation_id: string; version: number });
}

test.describe.serial('the API', () => {
  let token: string;

  test.beforeAll(async () => {
    token = cliToken(`e2e ${tag()}`);
    const res = await get('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    doc = await res.json();
    ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  });

  test('the OpenAPI document is 3.1 and every endpoint answers as it says', async ({ page }) => {
    expect((doc as any).openapi).toMatch(/^3\.1\./);
    for (const path of ['/api/v1/conversations', '/api/v1/conversations/{id}', '/api/v1/conversations/{id}/events', '/api/v1/customers', '/api/v1/customers/{id}', '/api/v1/changes']) {
      expect(doc.paths[path], path).toBeTruthy();
    }
    const list = await get('/api/v1/conversations?limit=2', token);
    expect(list.status).toBe(200);
    const page1 = await list.json();
    expectDocumented('/api/v1/conversations', 200, page1);
    expect(page1.items).toHaveLength(2);
    expect(page1.next_cursor).toEqual(expect.any(String));
    const next = await (await get(`/api/v1/conversations?limit=2&cursor=${encodeURIComponent(page1.next_cursor)}`, token)).json();
    expect(next.items.map((c: any) => c.id)).not.toContain(page1.items[0].id);

    // The fixtures' declined conversation (they may still be arriving).
    const declined = async () => (await (await get('/api/v1/conversations?status=declined&limit=200', token)).json()).items;
    await expect.poll(async () => (await declined()).map((c: any) => c.id)).toContain('5804f922-8386-8a29-678a-5aa33b6fe507');
    expect((await declined()).every((c: any) => c.status === 'declined')).toBe(true);

    const detail = await (await get(`/api/v1/conversations/${CONV}`, token)).json();
    expectDocumented('/api/v1/conversations/{id}', 200, detail);
    expect(detail.id).toBe(CONV);
    expect(detail.application_number).toBe('APP-37519-B');
    expect(detail.customer).toEqual({ id: CUSTOMER, href: `/api/v1/customers/${CUSTOMER}` });
    expect(detail.transcript.length).toBeGreaterThan(3);
    expect(detail.transcript[0].at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(detail.assessments.length).toBeGreaterThan(0);
    expect(detail.noticeboard[0].versions.length).toBeGreaterThan(0);

    const search = await (await get('/api/v1/conversations?q=APP-37519-B', token)).json();
    expect(search.items.map((c: any) => c.id)).toEqual([CONV]);

    const events = await (await get(`/api/v1/conversations/${CONV}/events?limit=200`, token)).json();
    expectDocumented('/api/v1/conversations/{id}/events', 200, events);
    expect(events.items.length).toBeGreaterThanOrEqual(13);
    expect(events.items[0]).toMatchObject({ type: 'conversation_started', seq: 1, outcome: 'applied', changed: true });

    const customers = await (await get('/api/v1/customers?limit=200', token)).json();
    expectDocumented('/api/v1/customers', 200, customers);
    expect(customers.items.map((c: any) => c.id)).toContain(CUSTOMER);
    const customer = await (await get(`/api/v1/customers/${CUSTOMER}`, token)).json();
    expectDocumented('/api/v1/customers/{id}', 200, customer);
    expect(customer.full_name).toBe('Saanvi Citizen');
    expect(customer.conversations.map((c: any) => c.id)).toContain(CONV);

    // Each read of a conversation or customer is in the audit log, under the token's name.
    await signInAs(page, ADMIN, '/admin/audit');
    const name = `token:e2e`;
    await expect(page.getByTestId('audit').locator('tr', { hasText: 'view.conversation' }).filter({ hasText: name }).first()).toBeVisible();
    await expect(page.getByTestId('audit').locator('tr', { hasText: 'view.customer' }).filter({ hasText: name }).first()).toBeVisible();
  });

  test('bad input gets a problem a person can act on', async ({ page }) => {
    const list = '/api/v1/conversations';
    await expectProblem(await get(`${list}?limit=0`, token), 400, list, /limit must be a whole number from 1 to 200/);
    await expectProblem(await get(`${list}?limit=201`, token), 400, list, /limit/);
    await expectProblem(await get(`${list}?limit=ten`, token), 400, list, /limit/);
    await expectProblem(await get(`${list}?cursor=nonsense`, token), 400, list, /cursor/);
    await expectProblem(await get(`${list}?status=pending`, token), 400, list, /no conversation status called "pending"/);
    await expectProblem(await get(`${list}?sort=name`, token), 400, list, /unknown parameter `sort`/);
    await expectProblem(await get(`${list}?q=${'x'.repeat(101)}`, token), 400, list, /at most 100/);
    await expectProblem(await get(`${list}?limit=1&limit=2`, token), 400, list, /twice/);
    await expectProblem(await get('/api/v1/customers?cursor=nonsense', token), 400, '/api/v1/customers', /cursor/);
    await expectProblem(await get(`/api/v1/conversations/${CONV}/events?cursor=x`, token), 400, '/api/v1/conversations/{id}/events', /cursor/);
    await expectProblem(await get('/api/v1/changes', token, { 'Last-Event-ID': 'yesterday' }), 400, '/api/v1/changes', /Last-Event-ID/);

    await expectProblem(await get('/api/v1/conversations/no-such-conversation', token), 404, '/api/v1/conversations/{id}', /no conversation `no-such-conversation`/);
    await expectProblem(await get('/api/v1/conversations/no-such-conversation/events', token), 404, '/api/v1/conversations/{id}/events', /no entry/);
    await expectProblem(await get('/api/v1/customers/NOPE', token), 404, '/api/v1/customers/{id}', /no customer `NOPE`/);

    for (const [headers, detail] of [
      [{}, /Authorization: Bearer/],
      [{ Authorization: 'Bearer bdt_not-a-token' }, /not valid/],
      [{ Authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, /Bearer <token>/],
    ] as const) {
      const res = await get(list, undefined, headers as Record<string, string>);
      await expectProblem(res, 401, list, detail);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    // A signed-in browser's cookies open nothing here.
    await signIn(page);
    const withCookies = await page.request.get('/api/v1/conversations');
    expect(withCookies.status()).toBe(401);
    // The unknown token is in the audit log.
    await signInAs(page, ADMIN, '/admin/audit');
    await expect(page.getByTestId('audit').locator('tr', { hasText: 'api.refused' }).filter({ hasText: 'unknown token' }).first()).toBeVisible();
  });

  test('pages over 300+ conversations, each exactly once, while events arrive', async () => {
    test.setTimeout(180_000);
    const t = tag();
    const ids = Array.from({ length: 320 }, (_, i) => `page-${t}-${i}`);
    // Dated 2020 (`tsp`), so that they sort below the fixtures other tests look for on
    // the list's first page.
    const old = (i: number) => new Date(Date.UTC(2020, 0, 1) + i * 1000).toISOString();
    appendEntries(ids.map((id, i) => ({ ...started(id, `APP-${t}-${i}`), tsp: old(i) })));
    const q = encodeURIComponent(t);
    const all = async () => {
      let seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await get(`/api/v1/conversations?q=${q}&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token);
        const body = await res.json();
        seen = seen.concat(body.items.map((c: any) => c.id));
        cursor = body.next_cursor;
      } while (cursor);
      return seen;
    };
    await expect.poll(async () => (await all()).length, { timeout: 60_000 }).toBe(320);

    const seen: string[] = [];
    let cursor: string | null = null;
    let extra = 0;
    do {
      const res = await get(`/api/v1/conversations?q=${q}&limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token);
      expect(res.status).toBe(200);
      const body = await res.json();
      seen.push(...body.items.map((c: any) => c.id));
      cursor = body.next_cursor;
      // New conversations of the same search arrive as the client pages.
      if (seen.length % 70 === 0) {
        const id = `page-${t}-new-${extra}`;
        appendEntries([started(id, `APP-${t}-N${extra}`), said(id, 2, 'hello')]);
        extra += 1;
      }
    } while (cursor);
    const originals = seen.filter((id) => !id.includes('-new-'));
    expect(new Set(seen).size, 'no conversation twice').toBe(seen.length);
    expect(originals.sort()).toEqual([...ids].sort());
  });

  test('the change stream: live, filtered, resumed after a drop, resync when too old', async () => {
    test.setTimeout(90_000);
    const t = tag();
    const x = `sse-${t}-x`;
    const y = `sse-${t}-y`;
    const auth = { Authorization: `Bearer ${token}` };
    const first = openStream(`${BASE_URL}/api/v1/changes`, auth);
    // The stream is subscribed at some moment after it opens: a new message until one of
    // x's changes shows makes the test independent of that moment.
    appendEntries([started(x, `APP-${t}-X`)]);
    let seq = 2;
    await expect
      .poll(
        () => {
          const seen = changes(first.events).some((c) => c.conversation_id === x);
          if (!seen) appendEntries([said(x, seq++, 'ping')]);
          return seen;
        },
        { timeout: 20_000, intervals: [500] },
      )
      .toBe(true);
    const lastSeen = first.events.filter((e) => e.event === 'change').at(-1)?.id;
    expect(lastSeen).toMatch(/^\d+-\d+$/);
    first.close();
    await first.done;

    // Missed while disconnected.
    appendEntries([said(x, 100, 'one'), said(x, 101, 'two'), started(y, `APP-${t}-Y`)]);
    const api = (path: string) => get(path, token).then((r) => r.json());
    await expect.poll(async () => (await api(`/api/v1/conversations/${y}`)).version ?? 0).toBeGreaterThan(0);
    const xNow = (await api(`/api/v1/conversations/${x}`)).version;

    const resumed = openStream(`${BASE_URL}/api/v1/changes`, { ...auth, 'Last-Event-ID': lastSeen ?? '' });
    await expect.poll(() => changes(resumed.events).some((c) => c.conversation_id === y)).toBe(true);
    await expect.poll(() => changes(resumed.events).filter((c) => c.conversation_id === x).at(-1)?.version).toBe(xNow);
    const ids = resumed.events.filter((e) => e.event === 'change').map((e) => e.id ?? '');
    const order = (id: string) => id.split('-').map(Number);
    for (let i = 1; i < ids.length; i++) {
      const [a, b] = [order(ids[i - 1]), order(ids[i])];
      expect(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]), 'ids in order').toBe(true);
    }
    expect(order(ids[0])[0] >= order(lastSeen ?? '0-0')[0]).toBe(true);
    expect(resumed.events.some((e) => e.event === 'resync')).toBe(false);
    resumed.close();

    // Only one conversation's changes.
    const filtered = openStream(`${BASE_URL}/api/v1/changes?conversation=${encodeURIComponent(y)}`, { ...auth, 'Last-Event-ID': lastSeen ?? '' });
    await expect.poll(() => changes(filtered.events).length).toBeGreaterThan(0);
    expect(changes(filtered.events).every((c) => c.conversation_id === y)).toBe(true);
    filtered.close();

    // Older than the log: resync first.
    const old = openStream(`${BASE_URL}/api/v1/changes`, { ...auth, 'Last-Event-ID': '1-0' });
    await expect.poll(() => old.events[0]?.event).toBe('resync');
    old.close();
  });

  test('the timeline keeps arrival order, with duplicates, unknown types and refusals', async () => {
    const t = tag();
    const conv = `timeline-${t}`;
    // The fixture conversation's entries, under a new id, shuffled (seeded) and with some twice.
    // Its customer, name and application number too, so that the fixture conversation's
    // searches and customer page stay as other tests expect them.
    const renamed = (v: string) => v.replaceAll(CUSTOMER, `C${t}`).replaceAll('APP-37519-B', `APP-${t}`).replaceAll('Citizen', 'Timeline');
    const entries = fixtureEntries('conversations.jsonl')
      .filter((f) => f.conv === CONV)
      .map((f) => Object.fromEntries(Object.entries({ ...f, conv }).map(([k, v]) => [k, renamed(v)])));
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let i = entries.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [entries[i], entries[j]] = [entries[j], entries[i]];
    }
    const sent: Fields[] = [...entries, entries[0], entries[3], entries[5]];
    sent.push({ conv, typ: 'agent_mood_changed', agt: 'x', payload: '{}' });
    sent.push({ conv, typ: 'user_input', agt: 'broker', seq: '999', payload: '{not json' });
    appendEntries(sent);
    const read = async () => (await (await get(`/api/v1/conversations/${conv}/events?limit=200`, token)).json()).items ?? [];
    await expect.poll(async () => (await read()).length, { timeout: 20_000 }).toBe(sent.length);
    const items = await read();
    expect(items.map((i: any) => `${i.type}:${i.seq ?? ''}`)).toEqual(sent.map((f) => `${f.typ}:${f.seq ?? ''}`));
    const firstTime = new Set<string>();
    for (const item of items.slice(0, entries.length + 3)) {
      const key = String(item.seq);
      expect(item.outcome, `${item.type} ${item.seq}`).toBe(firstTime.has(key) ? 'duplicate' : 'applied');
      expect(item.changed).toBe(item.outcome === 'applied');
      firstTime.add(key);
    }
    expect(items.at(-2)).toMatchObject({ type: 'agent_mood_changed', outcome: 'ignored', changed: false });
    expect(items.at(-1)).toMatchObject({ type: 'user_input', seq: 999, outcome: 'refused', event_time: null });
    expect(items.at(-1).reason).toMatch(/payload is not JSON/);
  });

  test('the Events view follows the timeline live', async ({ page }) => {
    const t = tag();
    const conv = `events-${t}`;
    appendEntries([started(conv, `APP-${t}`), said(conv, 2, 'first words')]);
    await signIn(page);
    await page.goto(`/conversations/${conv}`);
    await hydrated(page);
    await expect(page.getByText('first words')).toBeVisible();
    const events = page.getByTestId('events');
    await events.locator('summary').click();
    const rows = events.locator('tbody tr');
    await expect(rows).toHaveCount(2);
    await expect(rows.nth(0)).toHaveAttribute('data-outcome', 'applied');
    // A duplicate changes nothing in the conversation, but appears here.
    appendEntries([said(conv, 2, 'first words')]);
    await expect(rows).toHaveCount(3);
    await expect(rows.nth(2)).toHaveAttribute('data-outcome', 'duplicate');
    await expect(rows.nth(2)).toContainText('Duplicate');
    // A refused entry, with its reason.
    appendEntries([{ conv, typ: 'user_input', agt: 'broker', seq: '3', payload: '[1, 2]' }]);
    await expect(rows).toHaveCount(4);
    await expect(rows.nth(3)).toContainText('Refused');
    await expect(rows.nth(3)).toContainText('payload is not an object');
    // A new message: the row appears, the earlier rows are kept.
    await rows.nth(0).evaluate((el) => el.setAttribute('data-kept', 'yes'));
    appendEntries([said(conv, 4, 'more words')]);
    await expect(rows).toHaveCount(5);
    await expect(rows.nth(0)).toHaveAttribute('data-kept', 'yes');
  });

  test('tokens from the admin page: last use, rate limit, revocation on every web process at once', async ({ page }) => {
    test.setTimeout(120_000);
    const port = await freePort();
    let second: ChildProcess | undefined;
    try {
      second = await startDashboard(port, { ENABLE_EVENT_PROCESSING: 'false', API_RATE_PER_MINUTE: '5', SSE_HEARTBEAT_SECS: '1' });
      const other = `http://127.0.0.1:${port}`;
      const name = `partner ${tag()}`;
      await signInAs(page, ADMIN, '/admin/tokens');
      await page.getByLabel('Who uses it').fill(name);
      await page.getByRole('button', { name: 'Create token' }).click();
      const shown = page.getByTestId('new-token').getByLabel('Token');
      await expect(shown).toHaveValue(/^bdt_/);
      const made = await shown.inputValue();
      const row = page.locator(`tr[data-token="${name}"]`);
      await expect(row).toContainText(ADMIN.email);
      await expect(row).toContainText('Never');

      // Both web processes take it.
      for (const base of [BASE_URL, other]) expect((await get('/api/v1/conversations?limit=1', made, {}, base)).status).toBe(200);
      await page.reload();
      await expect(row).not.toContainText('Never');

      // The second process's rate is 5 requests a minute per token.
      const rated = cliToken(`rated ${tag()}`);
      const statuses: number[] = [];
      let limited: Response | undefined;
      for (let i = 0; i < 12 && !limited; i++) {
        const res = await get('/api/v1/conversations?limit=1', rated, {}, other);
        statuses.push(res.status);
        if (res.status === 429) limited = res;
      }
      expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
      expect(limited, 'a 429 within twelve requests').toBeTruthy();
      if (limited) {
        expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
        await expectProblem(limited, 429, '/api/v1/conversations', /more than 5 requests this minute/);
      }

      // A stream open on the second process, with its heartbeats (every second there).
      const open = openStream(`${other}/api/v1/changes`, { Authorization: `Bearer ${made}` });
      await expect.poll(() => open.raw().includes(': heartbeat'), { timeout: 10_000 }).toBe(true);

      await row.getByRole('button', { name: `Revoke ${name}` }).click();
      await expect(row).toContainText('Revoked');
      for (const base of [BASE_URL, other]) {
        const res = await get('/api/v1/conversations?limit=1', made, {}, base);
        await expectProblem(res, 401, '/api/v1/conversations', /not valid/);
      }
      // Its open stream ends within a heartbeat.
      await expect.poll(() => open.ended(), { timeout: 10_000 }).toBe(true);
      await page.goto('/admin/audit');
      await expect(page.getByTestId('audit').locator('tr', { hasText: 'api.refused' }).filter({ hasText: 'revoked token' }).first()).toBeVisible();
      await expect(page.getByTestId('audit').locator('tr', { hasText: 'token.revoke' }).filter({ hasText: name }).first()).toBeVisible();
    } finally {
      second?.kill();
    }
  });
});

