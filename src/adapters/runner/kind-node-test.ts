// node:test suites: the files matching `tests.files`, each run by `node --test` with our reporter
// (one marked line per finished test); planned and counted by file.
import { posix } from 'node:path';
import type { TestsConfig } from '../../core/config/tests.js';
import { expandGlobs, nodeTestCommand, nodeTestReporterSource, parseNodeTestLine } from './node-test.js';
import type { RunnerKind } from './runner-kind.js';
import { rel, trimError } from './run-types.js';

export function nodeTestKind(config: TestsConfig): RunnerKind {
  return {
    name: 'node-test',
    warm: false,
    byName: false,
    perFile: true,
    opaque: false,
    async discover(ws) {
      if (ws.worker !== 'local') throw new Error('discovery runs on the local worker');
      const files = await expandGlobs(ws.dir, config.files);
      if (!files.length) return { error: `no test files match ${config.files.join(', ')}` };
      return { tests: files.map((f) => ({ id: f, file: f, title: f })) };
    },
    async shardCommand(job, ws, tmp, push) {
      const reporter = posix.join(tmp, 'immune-reporter.mjs');
      await ws.writeFile(reporter, nodeTestReporterSource);
      return {
        cmd: nodeTestCommand(reporter, config.test_timeout, job.files),
        idleMs: config.test_timeout + 2_000,
        onLine: (line) => {
          const ev = parseNodeTestLine(line);
          if (!ev) return false;
          const file = rel(ws.dir, ev.file);
          push({
            id: `${file}::${ev.title}`,
            file,
            title: ev.title,
            state: ev.kind === 'pass' ? 'passed' : ev.kind === 'fail' ? 'failed' : 'skipped',
            durationMs: ev.durationMs,
            ...(ev.error ? { error: trimError(ev.error) } : {}),
          });
          return true;
        },
      };
    },
    afterExit: () => [],
  };
}
