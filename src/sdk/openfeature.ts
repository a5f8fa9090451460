// immune as an OpenFeature server provider (import { ImmuneProvider } from 'immune/openfeature'):
// flags and experiments evaluated in-process by unleash-client from immune's Unleash client API
// (the same client as immune/sdk), an exposure recorded by a provider hook when an experiment is
// evaluated for a user, and conversions through OpenFeature's tracking API (client.track).
import {
  FlagNotFoundError,
  GeneralError,
  InvalidContextError,
  OpenFeatureEventEmitter,
  ParseError,
  ProviderEvents,
  TargetingKeyMissingError,
  TypeMismatchError,
  type EvaluationContext,
  type Hook,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
  type TrackingEventDetails,
} from '@openfeature/server-sdk';
import {
  resolveFlag,
  missingTargetingKey,
  unleashContext,
  type FlagDefinition,
  type UnleashContext,
  type VariantResult,
} from '../core/experiments/resolution.js';
import { createExperimentsClient, type ExperimentsClient, type ExperimentsClientOptions } from './index.js';

export type ImmuneProviderOptions = ExperimentsClientOptions;

type Kind = 'boolean' | 'string' | 'number' | 'object';

function contextOf(context: EvaluationContext): UnleashContext {
  const parsed = unleashContext(context);
  if (!parsed.ok) throw new InvalidContextError(parsed.errorDetails);
  return parsed.context;
}

export class ImmuneProvider implements Provider {
  readonly metadata = { name: 'immune' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  readonly hooks: Hook[];
  /** The underlying immune SDK client (branchFor, track, flush...). */
  readonly client: ExperimentsClient;

  /** Options as for createExperimentsClient (url, clientToken, appName, ...), or a client already made. */
  constructor(options: ImmuneProviderOptions | { client: ExperimentsClient }) {
    this.client = 'client' in options ? options.client : createExperimentsClient({ source: 'openfeature', ...options });
    this.client.unleash.on('changed', () =>
      this.events.emit(ProviderEvents.ConfigurationChanged, { message: 'flags changed on the server' }),
    );
    const client = this.client;
    this.hooks = [
      {
        // An experiment evaluated for a user (reason SPLIT, with its phase's groupId) is that user's exposure.
        after(hookContext, details) {
          const groupId = details.flagMetadata.groupId;
          if (typeof groupId !== 'string' || details.reason !== 'SPLIT' || details.variant === undefined) return;
          const parsed = unleashContext(hookContext.context);
          if (parsed.ok && parsed.context.userId) client.expose(details.flagKey, groupId, details.variant, parsed.context.userId);
        },
      },
    ];
  }

  /** Resolves once the first features have come from the server (readyTimeout). */
  async initialize(): Promise<void> {
    await this.client.ready();
  }

  /** Sends what is buffered, then stops. */
  async onClose(): Promise<void> {
    await this.client.close();
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    return Promise.resolve(this.resolve(flagKey, defaultValue, context, 'boolean'));
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>> {
    return Promise.resolve(this.resolve(flagKey, defaultValue, context, 'string'));
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): Promise<ResolutionDetails<number>> {
    return Promise.resolve(this.resolve(flagKey, defaultValue, context, 'number'));
  }

  resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<T>> {
    return Promise.resolve(this.resolve(flagKey, defaultValue, context, 'object'));
  }

  /**
   * A conversion on a goal (or guardrail) for the context's user (targetingKey or userId), with
   * details.value as its value (revenue). Without a user there is nothing to attribute it to.
   */
  track(trackingEventName: string, context: EvaluationContext, details: TrackingEventDetails): void {
    const userId = contextOf(context).userId;
    if (!userId) throw new TargetingKeyMissingError(`track("${trackingEventName}"): the context has no targetingKey or userId`);
    this.client.track(userId, trackingEventName, typeof details?.value === 'number' ? details.value : undefined);
  }

  private resolve<T>(flagKey: string, defaultValue: T, context: EvaluationContext, kind: Kind): ResolutionDetails<T> {
    const ctx = contextOf(context);
    const def = this.client.unleash.getFeatureToggleDefinition(flagKey) as FlagDefinition | undefined;
    if (!def) throw new FlagNotFoundError(`no flag or experiment "${flagKey}"`);
    const missing = missingTargetingKey(def, ctx);
    if (missing && !missing.ok) throw new TargetingKeyMissingError(missing.errorDetails);
    // getVariant alone: feature_enabled is isEnabled's answer, and the SDK's metrics count one evaluation.
    const v = this.client.unleash.getVariant(flagKey, ctx as never) as VariantResult;
    const r = resolveFlag(flagKey, def, Boolean(v.feature_enabled), v);
    if (!r.ok) {
      if (r.errorCode === 'PARSE_ERROR') throw new ParseError(r.errorDetails);
      if (r.errorCode === 'FLAG_NOT_FOUND') throw new FlagNotFoundError(r.errorDetails);
      throw new GeneralError(r.errorDetails);
    }
    const details = { reason: r.reason, ...(r.variant === undefined ? {} : { variant: r.variant }), flagMetadata: r.metadata };
    // No variant for a variant flag: the caller's default stands.
    if (r.value === undefined) return { value: defaultValue, ...details };
    const actual = Array.isArray(r.value) ? 'object' : typeof r.value;
    if (actual !== kind) throw new TypeMismatchError(`${flagKey} is a ${r.kind} flag, not ${kind}`);
    return { value: r.value as T, ...details };
  }
}
