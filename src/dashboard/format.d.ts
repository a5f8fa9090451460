// Types of format.js for the tests that check it (the evidence's words are core's, typed in src/core/format/words.d.ts).
export { formatChange, formatInterval, formatP, formatValue, plain, verdictLabel } from '../core/format/words.js';
export function pct(x: number, digits?: number, sign?: boolean): string;
export function num(x: number, digits?: number): string;
export function pValue(p: number): string;
export function tone(status: string): string;
export function words(status: string): string;
export function duration(ms: number | null | undefined): string;
export function ago(time: number, now?: number): string;
export const shortSha: (sha: string) => string;
