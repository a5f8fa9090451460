// Listing the suite in the warm runners on this machine: each lists a part of it (mocha's dry run),
// or, when history already knows the tests, the first one only names the spec files (mocha's
// rules, nothing loaded). The listing is done when every part is in, or fails with the loader's error.
import type { TestsConfig } from '../../core/config/tests.js';
import type { SuiteTest } from '../../core/tests/shard-plan.js';
import type { MochaSession } from './mocha-session.js';
import { dedupe, lastLines, type Listing } from './run-types.js';
import type { ExecResult } from './workspace.js';

type EndSession = (died?: ExecResult) => Promise<void>;

export class SuiteListing {
  /** Parts not yet taken by a runner. */
  private readonly parts: number[];
  private readonly listedTests: SuiteTest[][] = [];
  readonly done: Promise<Listing>;
  /** Settle the listing (the first call wins). */
  listed: (l: Listing) => void = () => undefined;

  constructor(
    private readonly config: TestsConfig,
    private readonly partCount: number,
    private readonly ctl: AbortController,
  ) {
    this.parts = Array.from({ length: partCount }, (_, i) => i);
    this.done = new Promise<Listing>((resolve) => (this.listed = resolve));
  }

  /** A warm runner on this machine helps list: the spec files (from history) or parts of the suite while it lives. */
  async listOn(session: () => MochaSession | undefined, endSession: EndSession, fromHistory: boolean): Promise<void> {
    if (!session() && this.parts.length) this.listed('fallback');
    if (fromHistory) {
      const s = session();
      if (s && this.parts.splice(0).length) await this.expandSpec(s, endSession);
      return;
    }
    for (let part = this.parts.shift(); part !== undefined && session(); part = this.parts.shift())
      await this.listPart(session()!, part, endSession);
  }

  private async expandSpec(s: MochaSession, endSession: EndSession): Promise<void> {
    const out = await s.expand(this.config.files);
    if ('files' in out)
      return this.listed(out.files.length ? { files: out.files } : { error: `no tests found in ${this.config.files.join(', ')}` });
    const b = out.failed;
    if (b.died) {
      await endSession(b.died);
      if (b.died.killed === 'aborted') return this.listed({ failed: this.ctl.signal.reason });
    }
    this.listed({ error: `mocha could not find the spec files:\n${lastLines(b.error ?? b.died?.tail ?? '')}` });
  }

  private async listPart(s: MochaSession, part: number, endSession: EndSession): Promise<void> {
    const b = await s.discover(this.config.files, part, this.partCount);
    if (b.died) {
      await endSession(b.died);
      if (b.died.killed === 'aborted') return this.listed({ failed: this.ctl.signal.reason });
      return this.listed({
        error: `mocha could not load the suite (${b.died.killed ? `killed: ${b.died.killed}` : `exit ${b.died.exitCode ?? '?'}`}):\n${lastLines(b.died.tail)}`,
      });
    }
    if (b.error) return this.listed({ error: `mocha could not load the suite:\n${lastLines(b.error)}` });
    this.listedTests[part] = b.results.map((r) => ({ id: r.id, file: r.file, title: r.title }));
    if (this.listedTests.filter(Boolean).length < this.partCount) return;
    const all = dedupe(this.listedTests.flat());
    this.listed(all.length ? { tests: all } : { error: `no tests found in ${this.config.files.join(', ')}` });
  }
}
