// Server-side evaluation for the protocols that ask the server for answers (OFREP, the Unleash
// frontend API): unleash-client's own evaluator (its UnleashClient over the served features
// document), so every protocol answers exactly what an Unleash SDK computes locally.
import { EventEmitter } from 'node:events';
import * as clientModule from 'unleash-client/lib/client.js';
import * as strategyModule from 'unleash-client/lib/strategy/index.js';
import type { FeatureInterface } from 'unleash-client/lib/feature.js';
import type { Segment } from 'unleash-client/lib/strategy/strategy.js';
import type { Context } from 'unleash-client';
import type { FeaturesDocument } from '../core/experiments/features.js';
import {
  missingTargetingKey,
  resolveFlag,
  type Resolution,
  type UnleashContext,
  type VariantResult,
} from '../core/experiments/resolution.js';

/** What is used of unleash-client's evaluator (its UnleashClient class). */
interface Evaluator {
  getVariant(name: string, context: Context): unknown;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}
type EvaluatorClass = new (repository: never, strategies: unknown[]) => Evaluator;
// CommonJS modules: loaded as ESM, `default` is module.exports (whose own `default` is the class);
// loaded through a CommonJS transform (mocha with tsx), `default` is the class itself.
const loadedDefault = (clientModule as unknown as { default: EvaluatorClass | { default: EvaluatorClass } }).default;
const UnleashClient: EvaluatorClass = typeof loadedDefault === 'function' ? loadedDefault : loadedDefault.default;
const { defaultStrategies } = strategyModule as unknown as { defaultStrategies: unknown[] };

/** A read-only repository over one features document (unleash-client's RepositoryInterface). */
class DocumentRepository extends EventEmitter {
  private readonly features: Map<string, FeatureInterface>;
  private readonly segments: Map<number, Segment>;
  constructor(doc: FeaturesDocument) {
    super();
    this.features = new Map(doc.features.map((f) => [f.name, f as unknown as FeatureInterface]));
    this.segments = new Map((doc.segments ?? []).map((s) => [s.id, s as unknown as Segment]));
  }
  getToggle(name: string): FeatureInterface | undefined {
    return this.features.get(name);
  }
  getToggles(): FeatureInterface[] {
    return [...this.features.values()];
  }
  getTogglesWithSegmentData(): never[] {
    return [];
  }
  getSegment(id: number): Segment | undefined {
    return this.segments.get(id);
  }
  stop(): void {}
  async start(): Promise<void> {}
}

export interface Evaluation {
  name: string;
  enabled: boolean;
  variant: VariantResult;
  impressionData: boolean;
}

/** Evaluates one features document; build one per served ETag (see evaluatorFor). */
export class FlagEvaluator {
  private readonly client: Evaluator;
  private readonly repo: DocumentRepository;
  readonly names: string[];

  constructor(doc: FeaturesDocument) {
    this.repo = new DocumentRepository(doc);
    this.client = new UnleashClient(this.repo as never, defaultStrategies);
    // Unknown strategies and dependencies are warned about by the SDK; here they simply do not match.
    this.client.on('warn', () => undefined);
    this.client.on('error', () => undefined);
    this.names = doc.features.map((f) => f.name);
  }

  has(name: string): boolean {
    return this.repo.getToggle(name) !== undefined;
  }

  /** isEnabled and getVariant, as unleash-client computes them. */
  evaluate(name: string, ctx: UnleashContext): Evaluation {
    // getVariant alone: its feature_enabled is isEnabled's answer (dependencies included), in one evaluation.
    const v = this.client.getVariant(name, ctx as unknown as Context) as VariantResult;
    const enabled = Boolean(v.feature_enabled);
    return {
      name,
      enabled,
      variant: { name: v.name, enabled: v.enabled, feature_enabled: enabled, ...(v.payload ? { payload: v.payload } : {}) },
      impressionData: Boolean(this.repo.getToggle(name)?.impressionData),
    };
  }

  /** The OpenFeature resolution of one flag (FLAG_NOT_FOUND, TARGETING_KEY_MISSING, or a value). */
  resolve(name: string, ctx: UnleashContext): Resolution {
    const def = this.repo.getToggle(name);
    if (!def) return resolveFlag(name, undefined, false, { name: 'disabled', enabled: false });
    const missing = missingTargetingKey(def, ctx);
    if (missing) return missing;
    const e = this.evaluate(name, ctx);
    return resolveFlag(name, def, e.enabled, e.variant);
  }
}

let cached: { etag: string; evaluator: FlagEvaluator } | undefined;

/** The evaluator for a snapshot, built once per ETag (the document is parsed once per change). */
export function evaluatorFor(snap: { body: string; etag: string }): FlagEvaluator {
  if (cached?.etag !== snap.etag) cached = { etag: snap.etag, evaluator: new FlagEvaluator(JSON.parse(snap.body) as FeaturesDocument) };
  return cached.evaluator;
}
