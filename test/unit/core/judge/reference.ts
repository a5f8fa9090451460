// Loads the independently computed reference values (see test/fixtures/judge/README.md).
import { readFileSync } from 'node:fs';

/* eslint-disable @typescript-eslint/no-explicit-any */
export const REF: any = JSON.parse(readFileSync(new URL('../../../fixtures/judge/reference-values.json', import.meta.url), 'utf8'));

/** Relative closeness, with an absolute floor for values near zero. */
export function close(actual: number, expected: number, rel = 1e-9, abs = 1e-300): boolean {
  return Math.abs(actual - expected) <= Math.max(abs, rel * Math.abs(expected));
}
