// How fast the single-page app moves (issue 20): opening a conversation of 50 messages
// from the list, and Back to a list of 320 loaded conversations. Each move is timed in the
// page, from the click (or `history.back()`) to the frame where the page shows what it
// should, and written into BENCHMARKS.md between its markers. Nothing here is asserted.
import { expect, type Page } from '@playwright/test';
import { appendEntries, loadEveryPage, said, signIn, started, tag, test } from '../tests/support';
import { ms, quantile, report, runLine } from './report';

const ROUNDS = Number(process.env.BENCH_NAV_ROUNDS ?? 20);

/** A move: click the card `open` (its conversation shown with `messages` messages at
 * least), or Back (the list shown with `cards` cards at least, scrolled to `scrollY`). */
type Move = { open: string; messages: number } | { back: true; cards: number; scrollY?: number };

/** Milliseconds from starting `move` in the page until the frame where it is done. The
 * page's policy allows no `eval`, so the moves are spelled out here. */
async function timed(page: Page, move: Move): Promise<number> {
  return page.evaluate(
    (move) =>
      new Promise<number>((resolve, reject) => {
        const start = performance.now();
        let done: () => boolean;
        if ('open' in move) {
          (document.querySelector(`[data-id="${move.open}"] .card-link`) as HTMLElement).click();
          done = () =>
            document.querySelector('[role="log"]') !== null &&
            document.querySelectorAll('[role="log"] article').length >= move.messages;
        } else {
          history.back();
          done = () =>
            location.pathname === '/conversations' &&
            document.querySelectorAll('.conversation-card').length >= move.cards &&
            (move.scrollY === undefined || Math.abs(window.scrollY - move.scrollY) < 50);
        }
        const check = () => {
          if (done()) resolve(performance.now() - start);
          else if (performance.now() - start > 10_000) reject(new Error(`not done: ${JSON.stringify(move)}`));
          else requestAnimationFrame(check);
        };
        requestAnimationFrame(check);
      }),
    move,
  );
}

test('navigation timings', async ({ page }) => {
  const t = tag();
  const total = 320;
  const convs = Array.from({ length: total }, (_, i) => `nav-${t}-${String(i).padStart(3, '0')}`);
  appendEntries(convs.map((conv, i) => started(conv, `APP-V${t}-${i}`)));
  // The one opened: 50 messages, on the list's first page.
  const opened = convs[total - 1];
  appendEntries(Array.from({ length: 50 }, (_, i) => said(opened, i + 2, `message ${i + 1}`, i % 2 ? 'assistant' : 'customer')));

  await signIn(page, `/conversations?q=V${t}`);
  await expect(page.getByTestId('live-badge')).toHaveText('Live');
  const cards = page.locator('.conversation-card');
  await expect(cards.first()).toHaveAttribute('data-id', opened);

  // The first open loads the conversation page's code; later ones do not.
  const open: Move = { open: opened, messages: 50 };
  const cold = await timed(page, open);
  await timed(page, { back: true, cards: 1 });
  const warm: number[] = [];
  const backs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    warm.push(await timed(page, open));
    backs.push(await timed(page, { back: true, cards: 1 }));
  }

  // Every page of the list loaded, scrolled far down, then open one and come back.
  await loadEveryPage(page);
  await expect(cards).toHaveCount(total);
  const far = convs[40];
  const backsFull: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    await page.locator(`[data-id="${far}"] .card-link`).scrollIntoViewIfNeeded();
    const scrollY = await page.evaluate(() => window.scrollY);
    await timed(page, { open: far, messages: 0 });
    backsFull.push(await timed(page, { back: true, cards: total, scrollY }));
  }

  const rows = [
    runLine(ROUNDS),
    '',
    '| Move | Target | p50 | p95 | |',
    '|---|---|---|---|---|',
    `| Open a conversation of 50 messages from the list, first time (its page's code loads) | ≤ 200 ms | ${ms(cold)} | | ${cold <= 200 ? 'met' : 'not met'} |`,
    `| Open a conversation of 50 messages from the list, later | ≤ 200 ms | ${ms(quantile(warm, 0.5))} | ${ms(quantile(warm, 0.95))} | ${quantile(warm, 0.95) <= 200 ? 'met' : 'not met'} |`,
    `| Back to the list (first page loaded) | ≤ 300 ms | ${ms(quantile(backs, 0.5))} | ${ms(quantile(backs, 0.95))} | ${quantile(backs, 0.95) <= 300 ? 'met' : 'not met'} |`,
    `| Back to the list with all ${total} conversations loaded, scrolled back to where it was | ≤ 300 ms | ${ms(quantile(backsFull, 0.5))} | ${ms(quantile(backsFull, 0.95))} | ${quantile(backsFull, 0.95) <= 300 ? 'met' : 'not met'} |`,
    '',
  ].join('\n');
  report('navigation', rows);
});
