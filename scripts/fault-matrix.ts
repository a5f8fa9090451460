// The fault matrix on the simulated fleet: every port call of a good and of a bad change, in each
// mode (fail, hang, crash before the call, crash after it), then a restart; prints points x outcome.
import { matrix } from '../test/helpers/fault-sim.js';

const t0 = Date.now();
const rows = await matrix();
const by = new Map<string, { runs: number; held: number; broken: string[] }>();
for (const r of rows) {
  const key = `${r.change} ${r.call.padEnd(26)} ${r.mode}`;
  const e = by.get(key) ?? { runs: 0, held: 0, broken: [] };
  e.runs++;
  if (r.broken.length) e.broken.push(`#${r.n}: ${r.broken.join('; ')}`);
  else e.held++;
  by.set(key, e);
}
for (const [k, e] of by)
  console.log(`${k.padEnd(48)} ${e.held}/${e.runs}${e.broken.length ? `  ${e.broken.slice(0, 2).join(' | ')}` : ''}`);
const bad = rows.filter((r) => r.broken.length).length;
console.log(
  `\n${rows.length} runs, ${rows.length - bad} ended consistent, ${bad} broke an invariant (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
);
process.exitCode = bad ? 1 : 0;
