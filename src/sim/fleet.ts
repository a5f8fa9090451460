// The simulated fleet behind the engine's ports: Fleet (servers, releases, activation, health)
// and MetricsSource (one interval's samples per server), both driven by a FleetModel in virtual time.
import { DeployError } from '../core/errors.js';
import type { Artifact, Clock, Fleet, MetricsSource, Server, ServerSample } from '../ports.js';
import { FleetModel, type FleetModelOptions, type Regression, type ServerState } from './model.js';
import { createRandom } from './random.js';

export interface SimFleetOptions extends FleetModelOptions {
  seed?: number;
  /** Virtual ms an activation takes (install, switch, restart, health). */
  activateMs?: number;
}

export class SimFleet implements Fleet, MetricsSource {
  readonly model: FleetModel;
  private readonly list: Server[];
  private readonly states: ServerState[];
  private readonly releases: (string | undefined)[];
  /** Regressions by artifact id or commit sha. */
  private readonly behaviors = new Map<string, Regression>();
  private readonly lastSample = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly options: SimFleetOptions,
  ) {
    this.model = new FleetModel(options, createRandom(options.seed ?? 1));
    this.list = Array.from({ length: options.servers }, (_, i) => ({
      id: `sim-${String(i + 1).padStart(2, '0')}`,
      host: '127.0.0.1',
      port: 0,
      labels: { zone: ['a', 'b', 'c'][i % 3] },
    }));
    this.states = this.list.map(() => ({ since: clock.now() }));
    this.releases = this.list.map(() => undefined);
  }

  /** Make builds of this artifact id or commit sha behave badly. */
  inject(artifactOrSha: string, regression: Regression): void {
    this.behaviors.set(artifactOrSha, regression);
  }

  async servers(): Promise<Server[]> {
    return this.list;
  }

  private index(server: Server): number {
    const i = this.list.findIndex((s) => s.id === server.id);
    if (i < 0) throw new DeployError(`unknown simulated server ${server.id}`, { server: server.id });
    return i;
  }

  async release(server: Server): Promise<string | undefined> {
    return this.releases[this.index(server)];
  }

  async activate(server: Server, artifact: Artifact, signal: AbortSignal): Promise<void> {
    const i = this.index(server);
    await this.clock.sleep(this.options.activateMs ?? 1000, signal);
    this.releases[i] = artifact.id;
    this.states[i] = { since: this.clock.now(), regression: this.behaviors.get(artifact.id) ?? this.behaviors.get(artifact.sha) };
  }

  async health(server: Server): Promise<boolean> {
    const i = this.index(server);
    return !this.model.hung(this.states[i], this.clock.now());
  }

  async sample(servers: Server[], intervalMs: number): Promise<ServerSample[]> {
    const now = this.clock.now();
    const all = this.model.interval(this.states, now, intervalMs);
    return servers.map((s) => {
      const i = this.index(s);
      const first = !this.lastSample.has(s.id);
      this.lastSample.set(s.id, now);
      const values = all[i];
      if (!values) return { server: s.id, ok: false, error: 'scrape timed out', values: {} };
      // Like a real scrape, the first call only primes the counters.
      if (first) return { server: s.id, ok: true, values: Object.fromEntries(Object.keys(values).map((k) => [k, null])) };
      return { server: s.id, ok: true, values };
    });
  }

  async close(): Promise<void> {}
}
