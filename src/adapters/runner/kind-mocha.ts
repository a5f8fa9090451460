// mocha suites: listed by mocha's own dry run (or by warm runners, see run-listing.ts), each shard a
// mocha process with a generated config selecting its tests by grep and reporting as json-stream.
import { existsSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { TestsConfig } from '../../core/config/tests.js';
import type { SuiteTest } from '../../core/tests/shard-plan.js';
import { mochaCommand, mochaRcSource, parseMochaLine } from './mocha.js';
import { grepOf } from './mocha-session.js';
import type { RunnerKind } from './runner-kind.js';
import { dedupe, lastLines, PORT_BASE, rel, shardEnv, trimError } from './run-types.js';

export function mochaKind(config: TestsConfig): RunnerKind {
  return {
    name: 'mocha',
    warm: true,
    byName: true,
    perFile: false,
    opaque: false,
    async discover(ws, signal) {
      if (ws.worker === 'local' && !existsSync(join(ws.dir, 'node_modules', 'mocha', 'bin', 'mocha.js'))) {
        return {
          error: `mocha is not installed in the checkout (no node_modules/mocha): add an install step such as [npm, ci] to tests.setup`,
        };
      }
      const tmp = await ws.tempDir();
      const rc = posix.join(tmp, 'immune-mocharc.cjs');
      await ws.writeFile(rc, mochaRcSource({ spec: config.files, 'dry-run': true, reporter: 'json-stream', parallel: false }));
      const tests: SuiteTest[] = [];
      const res = await ws.exec(mochaCommand(rc), {
        env: shardEnv(tmp, PORT_BASE, -1),
        timeoutMs: config.timeout,
        signal,
        onLine: (line) => {
          const ev = parseMochaLine(line);
          if (ev?.kind === 'pass' && ev.fullTitle !== undefined) {
            const file = rel(ws.dir, ev.file ?? '');
            tests.push({ id: `${file}::${ev.fullTitle}`, file, title: ev.fullTitle });
            return true;
          }
          return false;
        },
      });
      if (res.exitCode !== 0 || res.killed)
        return {
          error: `mocha could not load the suite (${res.killed ? `killed: ${res.killed}` : `exit ${res.exitCode ?? '?'}`}):\n${lastLines(res.tail)}`,
        };
      if (!tests.length) return { error: `no tests found in ${config.files.join(', ')}` };
      return { tests: dedupe(tests) };
    },
    async shardCommand(job, ws, tmp, push) {
      const rc = posix.join(tmp, 'immune-mocharc.cjs');
      const { grep, invert } = grepOf(job.select ?? { only: job.tests.map((t) => t.title) }, {});
      await ws.writeFile(
        rc,
        mochaRcSource({
          spec: job.files,
          ...(grep ? { grep, invert: !!invert } : {}),
          reporter: 'json-stream',
          parallel: false,
          timeout: config.test_timeout,
          exit: true,
        }),
      );
      return {
        cmd: mochaCommand(rc),
        idleMs: config.test_timeout + 2_000,
        onLine: (line) => {
          const ev = parseMochaLine(line);
          if (!ev || (ev.kind !== 'pass' && ev.kind !== 'fail') || ev.fullTitle === undefined) return false;
          const file = rel(ws.dir, ev.file ?? '');
          push({
            id: `${file}::${ev.fullTitle}`,
            file,
            title: ev.fullTitle,
            state: ev.kind === 'pass' ? 'passed' : 'failed',
            durationMs: ev.durationMs ?? 0,
            ...(ev.error ? { error: trimError(ev.error) } : {}),
          });
          return true;
        },
      };
    },
    afterExit({ job, exec, why, seen }, push, results) {
      const unreported = job.tests.filter((t) => !seen.has(t.id));
      if (why && unreported.length) {
        const [hung, ...rest] = unreported;
        push({
          id: hung!.id,
          file: hung!.file,
          title: hung!.title,
          state: 'failed',
          durationMs: exec.durationMs,
          error: `${why}\n${lastLines(exec.tail)}`,
        });
        return rest;
      }
      // Selected but not reported: pending (it.skip) or excluded by .only. (Expected from history: perhaps gone, the caller decides.)
      if (!exec.killed && !job.fromHistory)
        for (const t of unreported) results.push({ id: t.id, file: t.file, title: t.title, state: 'skipped', durationMs: 0 });
      return [];
    },
  };
}
