// A server restart under a supervisor's eyes. This test runs its own web process (no
// ingest) beside the one the suite uses, stops it while events are appended, and starts
// it again: the badge must say the page is reconnecting and since when, and then the page
// must show what happened meanwhile, without a reload.
import { type ChildProcess } from 'node:child_process';
import { expect } from '@playwright/test';
import { appendEntries, BASE_URL, freePort, said, signIn, startDashboard, started, tag, test } from './support';

async function startServer(port: number): Promise<ChildProcess> {
  return startDashboard(port, { ENABLE_EVENT_PROCESSING: 'false' });
}

async function stopServer(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

test('a server restart: reconnecting, then everything appended meanwhile, without a reload', async ({ page }) => {
  test.setTimeout(90_000);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const t = tag();
  const conv = `restart-${t}`;
  appendEntries([started(conv, `APP-R${t}`), said(conv, 2, 'before the restart')]);

  let server = await startServer(port);
  try {
    await signIn(page, `/conversations/${conv}`, base);
    const badge = page.getByTestId('live-badge');
    await expect(badge).toHaveText('Live');
    const log = page.getByRole('log', { name: 'Transcript' });
    await expect(log).toContainText('before the restart');
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));

    await stopServer(server);
    await expect(badge).toHaveText(/^Reconnecting… stale since \d\d:\d\d$/);
    // The suite's own server ingests these while this one is down.
    appendEntries([said(conv, 3, 'during the restart'), said(conv, 4, 'still during it', 'assistant')]);
    // Once the suite's server has stored them, this page (its server down) still lacks them.
    await expect
      .poll(async () => {
        const res = await page.request.post(`${BASE_URL}/api/conversations/get`, { form: { id: conv }, headers: { Origin: BASE_URL } });
        return res.ok() ? res.text() : '';
      })
      .toContain('still during it');
    await expect(log).not.toContainText('during the restart');

    server = await startServer(port);
    await expect(badge).toHaveText('Live', { timeout: 30_000 });
    await expect(log).toContainText('during the restart');
    await expect(log).toContainText('still during it');
    await expect(log.locator('article')).toHaveCount(3);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
  } finally {
    await stopServer(server);
  }
});
