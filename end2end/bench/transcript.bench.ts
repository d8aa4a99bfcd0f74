// A transcript that scales (issue 23, point 6): applying one new message to an open
// conversation of 2,000 messages, at the end (the usual case) and near the top (a late
// message whose `seq` puts it among the first ones). Timed in the page, from the live feed's frame arriving
// on the WebSocket to the new message's element being in the transcript (a
// MutationObserver), and to the next frame painted after it; written into BENCHMARKS.md
// between its markers. Nothing here is asserted.
import { expect } from '@playwright/test';
import { appendEntries, said, signIn, started, tag, test } from '../tests/support';
import { ms, quantile, report, runLine } from './report';

const ROUNDS = Number(process.env.BENCH_TRANSCRIPT_ROUNDS ?? 30);
const MESSAGES = 2_000;

type Timings = { frameAt: number; inserted: number[]; painted: number[] };

test('transcript timings', async ({ page }) => {
  const t = tag();
  const conv = `long-${t}`;
  const speaker = (i: number) => (i % 2 ? 'assistant' : 'customer');
  appendEntries([
    started(conv, `APP-LONG${t}`),
    // Even seqs, so that a late message can go between two of the first ones.
    ...Array.from({ length: MESSAGES }, (_, i) => said(conv, 2 * i + 2, `message ${i + 1} of ${t}`, speaker(i))),
  ]);
  // When each frame of the live feed arrives: a listener added before the app's own.
  await page.addInitScript(() => {
    const w = window as unknown as { timings: Timings; WebSocket: typeof WebSocket };
    w.timings = { frameAt: 0, inserted: [], painted: [] };
    const Native = w.WebSocket;
    w.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        this.addEventListener('message', () => (w.timings.frameAt = performance.now()));
      }
    };
  });
  await signIn(page, `/conversations/${conv}`);
  const log = page.getByRole('log', { name: 'Transcript' });
  await expect(log.locator('article')).toHaveCount(MESSAGES, { timeout: 120_000 });
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  await page.evaluate(() => {
    const w = window as unknown as { timings: Timings };
    new MutationObserver((records) => {
      const added = records.some((r) => [...r.addedNodes].some((n) => n.nodeName === 'ARTICLE'));
      if (!added) return;
      const since = w.timings.frameAt;
      w.timings.inserted.push(performance.now() - since);
      requestAnimationFrame(() => w.timings.painted.push(performance.now() - since));
    }).observe(document.querySelector('[role="log"]') as Node, { childList: true, subtree: true });
  });

  const series = async (seq: (round: number) => number) => {
    await page.evaluate(() => {
      const w = window as unknown as { timings: Timings };
      w.timings.inserted = [];
      w.timings.painted = [];
    });
    for (let round = 0; round < ROUNDS; round++) {
      appendEntries([said(conv, seq(round), `new message ${round} of ${t}`, speaker(round))]);
      await page.waitForFunction(
        (n) => (window as unknown as { timings: Timings }).timings.painted.length > n,
        round,
      );
    }
    return page.evaluate(() => (window as unknown as { timings: Timings }).timings);
  };
  const atEnd = await series((round) => 2 * MESSAGES + 2 + 2 * round);
  const nearTop = await series((round) => 3 + 2 * round);
  await expect(log.locator('article')).toHaveCount(MESSAGES + 2 * ROUNDS);

  const p = (v: number[], q: number) => ms(quantile(v, q), 1);
  const rows = [
    runLine(ROUNDS),
    '',
    `| One new message applied to an open transcript of ${MESSAGES} messages | Target | p50 | p95 | |`,
    '|---|---|---|---|---|',
    ...[
      ['at the end', atEnd],
      ['near the top', nearTop],
    ].flatMap(([where, { inserted, painted }]) => [
      `| ${where}: frame received → its element in the transcript | ≤ 16 ms | ${p(inserted, 0.5)} | ${p(inserted, 0.95)} | ${quantile(inserted, 0.95) <= 16 ? 'met' : 'not met'} |`,
      `| ${where}: frame received → the next frame painted | | ${p(painted, 0.5)} | ${p(painted, 0.95)} | |`,
    ]),
    '',
  ].join('\n');
  report('transcript', rows);
});
