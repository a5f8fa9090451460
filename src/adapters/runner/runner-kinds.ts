// The one place that maps `tests.runner` to its kind; everything else asks the kind.
import type { TestsConfig } from '../../core/config/tests.js';
import { commandKind } from './kind-command.js';
import { mochaKind } from './kind-mocha.js';
import { nodeTestKind } from './kind-node-test.js';
import type { RunnerKind } from './runner-kind.js';

const KINDS: Record<TestsConfig['runner'], (config: TestsConfig) => RunnerKind> = {
  mocha: mochaKind,
  'node-test': nodeTestKind,
  command: commandKind,
};

export function runnerKind(config: TestsConfig): RunnerKind {
  return KINDS[config.runner](config);
}
