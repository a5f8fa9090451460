import assert from 'node:assert/strict';
import { formatDeploy, formatLog, formatStatus } from '../../../src/cli/commands/line.js';
import type { DeploySummary, LineStatus } from '../../../src/engine/summary.js';

const c = (sha: string, author: string, subject = `change ${sha}`) => ({
  sha,
  author,
  email: 'x@example.test',
  subject,
  message: subject,
  time: 0,
});

describe('line command output', () => {
  const now = 1_000_000;

  it('an idle open line', () => {
    const s: LineStatus = { pipeline: 'shop', blocked: false, paused: false, live: null, inFlight: null, queue: [] };
    assert.equal(
      formatStatus(s, now),
      ['line       shop: open', 'live       nothing yet', 'in flight  none', 'queue      empty'].join('\n'),
    );
  });

  it('a paused line with a batch in flight and a queue', () => {
    const d: DeploySummary = {
      id: 'd7',
      shas: ['aaaaaaaa11', 'bbbbbbbb22', 'cccccccc33'],
      commits: [c('aaaaaaaa11', 'Ann'), c('bbbbbbbb22', 'Bob'), c('cccccccc33', 'Cy')],
      status: 'rolling_out',
      step: 0,
      steps: 3,
      serversOnNew: 1,
      serversTotal: 8,
      createdAt: now - 5000,
      updatedAt: now,
    };
    const s: LineStatus = {
      pipeline: 'shop',
      blocked: false,
      paused: true,
      live: { sha: 'ffffffff99', artifact: { id: 'a1' } },
      inFlight: d,
      queue: [
        c('dddddddd44', 'Dee', 'a subject that is long enough to be clipped somewhere after fifty characters'),
        c('eeeeeeee55', 'Ed'),
      ],
    };
    assert.equal(
      formatStatus(s, now),
      [
        'line       shop: paused',
        'live       ffffffff (artifact a1)',
        'in flight  d7 3 commits aaaaaaaa..cccccccc (Ann +2)',
        '           rolling out, step 1/3, 1/8 servers on the new build',
        'queue      2 commits',
        '           dddddddd  a subject that is long enough to be clipped somew…  Dee',
        '           eeeeeeee  change eeeeeeee55                                   Ed',
      ].join('\n'),
    );
  });

  it('a deploy promoted past a hold says so, in flight and in its record', () => {
    const warning = 'promoted by captain:ann past an inconclusive gate: gate inconclusive at rollout step 1 of 3';
    const d: DeploySummary = {
      id: 'd8',
      shas: ['aaaaaaaa11'],
      commits: [c('aaaaaaaa11', 'Ann')],
      status: 'baking',
      step: 1,
      steps: 3,
      createdAt: now - 5000,
      updatedAt: now,
      warnings: [warning],
    };
    const s: LineStatus = { pipeline: 'shop', blocked: false, paused: false, live: null, inFlight: d, queue: [] };
    assert.match(formatStatus(s, now), new RegExp(`\\n {11}warning: ${warning}\\n`));
    assert.match(formatDeploy({ deploy: { ...d, status: 'live', outcome: 'live' } }, now), new RegExp(`\\nwarning +${warning}\\n`));
  });

  it('a blocked line without details still says so', () => {
    const s: LineStatus = { pipeline: 'p', blocked: true, paused: true, live: null, inFlight: null, queue: [] };
    const out = formatStatus(s, now);
    assert.match(out, /^line\s+p: BLOCKED$/m);
    assert.match(out, /^why\s+\(no reason given\)$/m);
    assert.match(out, /^paused\s+yes$/m);
  });

  it('log: one aligned row per deploy, the revert when there is no reason', () => {
    const base = { steps: 3, updatedAt: 0 };
    const out = formatLog(
      [
        {
          ...base,
          id: 'd2',
          shas: ['2222222222'],
          commits: [c('2222222222', 'Bob')],
          status: 'failed',
          outcome: 'reverted',
          revertSha: 'abcdef0123',
          createdAt: now - 65_000,
          finishedAt: now - 5000,
        },
        { ...base, id: 'd10', shas: [], commits: [], status: 'testing', createdAt: now - 2500 },
      ],
      now,
    );
    assert.equal(
      out,
      [
        'DEPLOY  SHAS      AUTHOR  OUTCOME   DURATION  REASON',
        'd2      22222222  Bob     reverted  1 min     reverted in abcdef01',
        'd10     -         -       testing   2 s',
      ].join('\n'),
    );
    assert.equal(formatLog([], now), 'no deploys yet');
  });
});
