// A server restart under a supervisor's eyes. This test runs its own web process (no
// ingest) beside the one the suite uses, stops it while events are appended, and starts
// it again: the badge must say the page is reconnecting and since when, and then the page
// must show what happened meanwhile, without a reload.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { expect } from '@playwright/test';
import { appendEntries, BASE_URL, said, signIn, started, tag, test } from './support';

const ROOT = resolve(__dirname, '../..');

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

async function startServer(port: number): Promise<ChildProcess> {
  const bin = process.env.APP_BIN ?? resolve(ROOT, 'target/debug/billie-dashboard');
  const child = spawn(bin, [], {
    cwd: ROOT,
    env: { ...process.env, LEPTOS_SITE_ADDR: `127.0.0.1:${port}`, ENABLE_EVENT_PROCESSING: 'false' },
    stdio: 'ignore',
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('the second web process did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
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
