// Operations endpoints: reachable without signing in, and they show no customer data.
import { expect, type APIRequestContext } from '@playwright/test';
import { appendEntries, test } from './support';

test('healthz and readyz answer', async ({ request }) => {
  expect(await (await request.get('/healthz')).text()).toBe('ok');
  const ready = await request.get('/readyz');
  expect(ready.status()).toBe(200);
  expect(await ready.text()).toBe('ready');
});

async function metric(request: APIRequestContext, line: RegExp): Promise<number> {
  const text = await (await request.get('/metrics')).text();
  const match = text.match(line);
  return match ? Number(match[1]) : 0;
}

test('metrics count applied events by type and show the backlog', async ({ request }) => {
  const applied = /^billie_events_applied_total\{type="user_input"\} (\d+)$/m;
  const before = await metric(request, applied);
  appendEntries([
    {
      conv: `metrics-${Date.now()}`,
      typ: 'user_input',
      agt: 'broker',
      seq: '1',
      payload: JSON.stringify({ utterance: 'hello' }),
    },
  ]);
  await expect.poll(() => metric(request, applied)).toBe(before + 1);

  const text = await (await request.get('/metrics')).text();
  expect(text).toMatch(/^billie_ingest_batch_seconds_count [1-9]\d*$/m);
  expect(text).toMatch(/^billie_ingest_entry_age_seconds_count [1-9]\d*$/m);
  expect(text).toMatch(/^billie_consumer_pending \d+$/m);
  expect(text).toMatch(/^billie_consumer_lag \d+$/m);
});
