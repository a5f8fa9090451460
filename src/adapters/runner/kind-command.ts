// A suite that is one opaque command (`tests.command`): one "test" that passes when it exits 0.
import type { TestsConfig } from '../../core/config/tests.js';
import type { RunnerKind } from './runner-kind.js';
import { lastLines } from './run-types.js';

export function commandKind(config: TestsConfig): RunnerKind {
  const command = config.command ?? [];
  return {
    name: 'command',
    warm: false,
    byName: false,
    perFile: false,
    opaque: true,
    discover: async () => ({ tests: [{ id: 'command', file: '', title: command.join(' ') }] }),
    shardCommand: async () => ({ cmd: command }),
    afterExit({ exec, cmd, why }, push) {
      const ok = exec.exitCode === 0 && !exec.killed;
      if (exec.killed !== 'aborted')
        push({
          id: 'command',
          file: '',
          title: cmd.join(' '),
          state: ok ? 'passed' : 'failed',
          durationMs: exec.durationMs,
          ...(ok ? {} : { error: `${why ?? `exit ${exec.exitCode ?? '?'}`}\n${lastLines(exec.tail)}` }),
        });
      return [];
    },
  };
}
