// Test runner adapter: local and SSH worker slots, mocha / node:test / command suites.
export { createTestRunner, type RunOptions, type RunReport, type ShardableRunner } from './test-runner.js';
export { localWorker } from './local-worker.js';
export { sshWorker } from './ssh-worker.js';
export type { Worker, Workspace } from './workspace.js';
