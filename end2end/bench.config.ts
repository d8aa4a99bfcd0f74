import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// The browser-side benchmarks (`scripts/bench`): timings measured in the page with
// `performance.now()`, reported in BENCHMARKS.md, never asserted.
export default defineConfig({
  ...base,
  testDir: './bench',
  testMatch: '*.bench.ts',
  timeout: 600_000,
  retries: 0,
  // No trace: its DOM snapshots run in the page between and during the timed moves.
  use: { ...base.use, trace: 'off' },
});
