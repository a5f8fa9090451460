// Types of words.js (plain JavaScript so that the dashboard can load it too); the TypeScript side
// imports it through these declarations.
import type { MetricKind, ValueUnit } from '../judge/types.js';

/** How a metric's values read, from its kind and declared unit. */
export interface UnitInfo {
  kind: MetricKind;
  unit?: ValueUnit;
  /** Sampling interval: a count reads per minute with it. */
  intervalMs?: number;
  /** A count per unit of exposure ("request"): it reads "0.052 per request". */
  exposure?: string;
}

export const HUGE_RATIO: number;
export function bounded(x: unknown): x is number;
export function plain(x: number, digits?: number): string;
export function count(x: number): string;
export function percent(x: number): string;
export function defaultUnit(kind?: MetricKind): ValueUnit;
/** "850 ms", "3 min 5 s", "2 h 10 min", "3 d 4 h"; `parts: 1` the largest unit only; `none` (default "n/a") when not a length of time. */
export function formatDuration(ms: number | null | undefined, o?: { parts?: 1 | 2; none?: string }): string;
/** Without a unit (or a kind) a value reads as a plain number. */
export function formatValue(x: number, u?: Partial<UnitInfo>): string;
export function formatDifference(d: number, u: Partial<UnitInfo>): string;
export function formatChange(x: number): string;
export function formatInterval(lo: number, hi: number): string;
export function formatP(p: number): string;
export function formatTolerance(t: number): string;
export function isNoData(m: { samples?: { canary: number; baseline: number } } | undefined): boolean;
export function verdictLabel(
  m: { verdict: string; samples?: { canary: number; baseline: number }; shortage?: string },
  gateDecision?: string,
): string;
