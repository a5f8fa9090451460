// `immune judge --input FILE`: one fixed-sample judgment of canary against baseline, the same
// statistics the gate uses, for scripts, CI and curious engineers.
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { withoutName } from '../../core/judge/evidence.js';
import { verdictLabel } from '../../core/format/words.js';
import { judgeFixed } from '../../core/judge/index.js';
import { parseJudgeInput } from '../../core/judge/input.js';
import type { JudgeOutput } from '../../core/judge/types.js';
import { InputError } from '../../core/errors.js';

const EXIT = { pass: 0, fail: 1, inconclusive: 3 } as const;

function human(out: JudgeOutput): string {
  const width = Math.max(6, ...out.metrics.map((m) => m.name.length));
  const lines = [`verdict: ${out.verdict}`];
  // The same words as the gate's, the API's and the page's: "no data" where a side has no samples.
  for (const m of out.metrics) lines.push(`  ${verdictLabel(m).padEnd(12)} ${m.name.padEnd(width)}  ${withoutName(m.name, m.explanation)}`);
  return lines.join('\n') + '\n';
}

export function register(program: Command): void {
  program
    .command('judge')
    .description('judge canary against baseline once (fixed sample, Holm across metrics)')
    .requiredOption(
      '--input <file>',
      'JSON: {"alpha": 0.01, "metrics": [{"name", "kind": "ratio"|"continuous"|"count", "bad": "increase"|"decrease", "tolerance": 0.1, "baseline": [[...], ...], "canary": [[...], ...]}]}; one array per server, one sample per interval; a ratio sample is [numerator, denominator], null is a missing interval',
    )
    .option('--json', 'print {"verdict", "metrics": [{"name", "verdict", "pValue", "effect", "ci", "samples", "explanation", ...}]}')
    .addHelpText('after', '\nExit codes: 0 pass, 1 fail (a regression beyond tolerance), 3 inconclusive (too little data), 2 bad input.')
    .action(async (opts: { input: string; json?: boolean }) => {
      let text: string;
      try {
        text = await readFile(opts.input, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new InputError(
          '--input',
          `cannot read ${opts.input}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (code ?? (err as Error).message)}`,
        );
      }
      const out = judgeFixed(parseJudgeInput(text, opts.input));
      process.stdout.write(opts.json ? JSON.stringify(out, null, 2) + '\n' : human(out));
      process.exitCode = EXIT[out.verdict];
    });
}
