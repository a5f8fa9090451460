// Shared zod pieces for configuration files: durations and fractions written the way people write them.
import { z } from 'zod';
import { parseDuration, parseFraction } from './load.js';

/** A duration ("500ms", "30s", "2m", "1h", or seconds as a number), parsed to milliseconds. */
export const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (try 30s, 2m, 500ms)` });
    return z.NEVER;
  }
  return ms;
});

/** A share ("10%" or 0.1), parsed to a fraction in [0, 1]. */
export const fraction = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const f = parseFraction(v);
  if (f === undefined || f < 0 || f > 1) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a share between 0% and 100%` });
    return z.NEVER;
  }
  return f;
});

/** A command as an argument array (never a shell string), or a string split on whitespace. */
export const command = z
  .union([z.array(z.string()).min(1), z.string().min(1)])
  .transform((v) => (typeof v === 'string' ? v.trim().split(/\s+/) : v));
