// What the browser-side benchmarks share: percentiles, and writing a section of
// BENCHMARKS.md between its `<!-- NAME:begin -->` and `<!-- NAME:end -->` markers.
import { readFileSync, writeFileSync } from 'node:fs';

export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export const ms = (v: number, digits = 0) => `${v.toFixed(digits)} ms`;

/** The run's first line: when, where, and how many rounds. */
export function runLine(rounds: number): string {
  const machine = process.env.BENCH_MACHINE ?? 'this machine';
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
  return `Run of ${when} UTC on ${machine}; Debian chromium (headless), ${rounds} rounds each.`;
}

/** Prints `rows`, and writes them into the report (`BENCH_REPORT`) as section `name`. */
export function report(name: string, rows: string): void {
  console.log(rows);
  const path = process.env.BENCH_REPORT;
  if (!path) return;
  const [BEGIN, END] = [`<!-- ${name}:begin -->`, `<!-- ${name}:end -->`];
  const text = readFileSync(path, 'utf8');
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (begin < 0 || end < 0) throw new Error(`${path} lacks the ${BEGIN} and ${END} markers`);
  writeFileSync(path, `${text.slice(0, begin)}${BEGIN}\n${rows}${text.slice(end)}`);
}
