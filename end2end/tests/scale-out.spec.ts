// Scale-out on one machine: two ingest-only processes and two web-only processes share
// one Redis and one store. The fixtures (some entries twice) and a load of conversations
// are appended; every conversation must be projected exactly once, and the browsers of
// both web processes must be told of every change (down to each conversation's final
// version).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, type Page } from '@playwright/test';
import { addUserIn, appendEntries, fixtureEntries, freePort, ROOT, said, started, SUPERVISOR, tag, type Fields, test, waitFor } from './support';

const BIN = process.env.APP_BIN ?? resolve(ROOT, 'target/debug/billie-dashboard');
const FIXTURES = process.env.CONTRACT_FIXTURES ?? resolve(__dirname, '../../tests/fixtures');

/** Collects the live-feed frames a page receives: the versions seen per conversation. */
function recordFrames(page: Page): Map<string, Set<number>> {
  const seen = new Map<string, Set<number>>();
  page.on('websocket', (ws) =>
    ws.on('framereceived', ({ payload }) => {
      const frame = JSON.parse(String(payload));
      if (frame.type !== 'changes') return;
      for (const { conversation } of frame.changes) {
        const id: string = conversation.id;
        if (!seen.has(id)) seen.set(id, new Set());
        seen.get(id)?.add(conversation.version);
      }
    }),
  );
  return seen;
}

test('two ingest and two web processes: exactly-once projections, every change to every browser', async ({ browser }) => {
  test.setTimeout(180_000);
  const t = tag().toLowerCase();
  const stream = `scale-${t}:chatLedger`;
  const database = (process.env.DATABASE_URI ?? '').replace(/\/([^/?]+)(\?|$)/, `/scale_${t}$2`);
  expect(database).toContain(`/scale_${t}`);
  const env = { ...process.env, LEDGER_STREAM: stream, LEDGER_DEAD_STREAM: `${stream}:dead`, DATABASE_URI: database };
  const processes: ChildProcess[] = [];
  const run = (args: string[], extra: Record<string, string>) => {
    const child = spawn(BIN, args, { cwd: ROOT, env: { ...env, ...extra }, stdio: 'ignore' });
    processes.push(child);
    return child;
  };
  try {
    run(['ingest'], { LEDGER_CONSUMER: `scale-a-${t}` });
    run(['ingest'], { LEDGER_CONSUMER: `scale-b-${t}` });
    const ports = [await freePort(), await freePort()];
    for (const port of ports) {
      run([], { LEPTOS_SITE_ADDR: `127.0.0.1:${port}`, ENABLE_EVENT_PROCESSING: 'false' });
    }
    await Promise.all(ports.map((port) => waitFor(`http://127.0.0.1:${port}/healthz`)));
    addUserIn(database, SUPERVISOR.email, SUPERVISOR.password);

    const pages: Page[] = [];
    const frames: Map<string, Set<number>>[] = [];
    for (const port of ports) {
      const page = await (await browser.newContext()).newPage();
      frames.push(recordFrames(page));
      await page.goto(`http://127.0.0.1:${port}/login?next=%2Fconversations`);
      await page.getByLabel('Email').fill(SUPERVISOR.email);
      await page.getByLabel('Password').fill(SUPERVISOR.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect(page.getByTestId('live-badge')).toHaveText('Live');
      pages.push(page);
    }

    // The fixtures, every fifth entry twice, and 40 conversations of 10 messages each.
    const fixtures = fixtureEntries('conversations.jsonl');
    const load: Fields[] = [];
    for (let c = 0; c < 40; c++) {
      const conv = `load-${t}-${c}`;
      load.push(started(conv, `APP-LOAD-${c}`));
      for (let m = 0; m < 10; m++) load.push(said(conv, m + 2, `message ${m}`, m % 2 ? 'assistant' : 'customer'));
    }
    const entries = [...fixtures, ...fixtures.filter((_, i) => i % 5 === 0), ...load];
    appendEntries(entries, stream);

    // Exactly once: the stored conversations say what the events say, once.
    const api = pages[0].request;
    const get = async (id: string) => {
      const res = await api.post(`http://127.0.0.1:${ports[0]}/api/conversations/get`, {
        form: { id },
        headers: { Origin: `http://127.0.0.1:${ports[0]}` },
      });
      expect(res.status()).toBe(200);
      return (await res.json()) as { summary: { version: number; message_count: number }; messages: unknown[] } | null;
    };
    const loadIds = Array.from({ length: 40 }, (_, c) => `load-${t}-${c}`);
    await expect
      .poll(async () => (await Promise.all(loadIds.map(get))).filter((d) => d?.summary.message_count === 10).length, {
        timeout: 90_000,
      })
      .toBe(40);
    for (const id of loadIds) {
      const detail = await get(id);
      expect(detail?.messages.length, id).toBe(10);
      expect(detail?.summary.version, id).toBe(11);
    }
    const fixtureIds = [...new Set(fixtures.map((f) => f.conv ?? f.cid))];
    const expected: { conversation_id: string; messages: number }[] = JSON.parse(
      readFileSync(resolve(FIXTURES, 'expected.json'), 'utf8'),
    );
    const wanted = new Map(expected.map((want) => [want.conversation_id, want.messages]));
    for (const id of fixtureIds) {
      await expect.poll(async () => (await get(id))?.summary.message_count, { timeout: 30_000 }).toBe(wanted.get(id));
    }

    // Every change reached the browsers of both web processes: ingest sends one notice
    // per conversation per batch, with its state after the batch, so each browser must
    // have been told of every conversation's final version.
    const finals = new Map<string, number>();
    for (const id of [...loadIds, ...fixtureIds]) finals.set(id, (await get(id))?.summary.version ?? 0);
    for (const [i, seen] of frames.entries()) {
      await expect
        .poll(
          () =>
            [...finals].filter(([id, final]) => {
              const got = seen.get(id);
              return !got || Math.max(...got) < final;
            }).length,
          { message: `web process ${i + 1}: conversations with a change missing`, timeout: 30_000 },
        )
        .toBe(0);
    }
  } finally {
    for (const child of processes) {
      if (child.exitCode === null) child.kill('SIGTERM');
    }
    await Promise.all(processes.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
  }
});
