// Types of format.js for the tests that check it against src/core/judge/evidence.ts.
type Unit = { kind?: 'ratio' | 'continuous' | 'count'; unit?: string; intervalMs?: number };
export function plain(x: number, digits?: number): string;
export function count(x: number): string;
export function percent(x: number): string;
export function defaultUnit(kind?: string): string;
export function formatValue(x: number, u?: Unit): string;
export function formatChange(x: number): string;
export function formatInterval(lo: number, hi: number): string;
export function formatP(p: number): string;
export function pct(x: number, digits?: number, sign?: boolean): string;
export function num(x: number, digits?: number): string;
export function pValue(p: number): string;
export function tone(status: string): string;
export function words(status: string): string;
export function duration(ms: number): string;
export const shortSha: (sha: string) => string;
export function verdictLabel(
  m: { verdict: string; samples?: { canary: number; baseline: number }; shortage?: string },
  gateDecision?: string,
): string;
