// Before any test: wait until the server answers (cargo leptos end-to-end does not wait),
// create the test supervisor and admin, and append the contract's fixture conversations.
import { execFileSync } from 'node:child_process';
import { ADMIN, appendEntries, fixtureEntries, SUPERVISOR } from './tests/support';

export default async function globalSetup() {
  const base = process.env.BASE_URL ?? 'http://127.0.0.1:8377';
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`the dashboard did not answer at ${base}`);
    await new Promise((r) => setTimeout(r, 250));
  }

  const bin = process.env.APP_BIN ?? '../target/debug/billie-dashboard';
  for (const [account, role] of [
    [SUPERVISOR, 'supervisor'],
    [ADMIN, 'admin'],
  ] as const) {
    execFileSync(bin, ['user', 'add', '--email', account.email, '--role', role, '--replace'], {
      input: `${account.password}\n`,
      stdio: ['pipe', 'inherit', 'inherit'],
    });
  }
  appendEntries(fixtureEntries('conversations.jsonl'));
}
