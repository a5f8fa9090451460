// An Unleash evaluation (isEnabled + getVariant on one feature) said the OpenFeature way: a typed
// value, a variant, a reason and metadata, or an error code. One mapping for every path that speaks
// OpenFeature: OFREP on `serve` and the in-process OpenFeature provider (immune/openfeature).

/** What a feature looks like to the mapping (a structural subset of Unleash's feature format). */
export interface FlagDefinition {
  name: string;
  enabled: boolean;
  type?: string;
  stale?: boolean;
  strategies?: {
    name: string;
    parameters?: Record<string, unknown>;
    constraints?: unknown[];
    segments?: unknown[];
    variants?: VariantDefinition[];
  }[];
  variants?: VariantDefinition[];
}

interface VariantDefinition {
  name: string;
  weight?: number;
  payload?: { type: string; value: string };
}

/** unleash-client's getVariant answer. */
export interface VariantResult {
  name: string;
  enabled: boolean;
  feature_enabled?: boolean;
  payload?: { type: string; value: string };
}

export type FlagKind = 'boolean' | 'string' | 'number' | 'object';
export type ResolutionReason = 'STATIC' | 'TARGETING_MATCH' | 'SPLIT' | 'DISABLED' | 'DEFAULT';
export type ResolutionErrorCode =
  'FLAG_NOT_FOUND' | 'TARGETING_KEY_MISSING' | 'PARSE_ERROR' | 'INVALID_CONTEXT' | 'TYPE_MISMATCH' | 'GENERAL';
export type FlagValue = boolean | string | number | Record<string, unknown> | unknown[];

export type Resolution =
  | {
      ok: true;
      key: string;
      kind: FlagKind;
      /** Absent when no variant applies to a variant flag: the caller's default value stands. */
      value?: FlagValue;
      variant?: string;
      reason: ResolutionReason;
      metadata: Record<string, string | number | boolean>;
    }
  | { ok: false; key: string; errorCode: ResolutionErrorCode; errorDetails: string };

/** Unleash context fields that are not properties. */
const TOP_LEVEL = new Set(['userId', 'sessionId', 'remoteAddress', 'currentTime', 'appName', 'environment']);

export interface UnleashContext {
  userId?: string;
  sessionId?: string;
  remoteAddress?: string;
  currentTime?: Date;
  appName?: string;
  environment?: string;
  properties: Record<string, string>;
}

/**
 * An OpenFeature evaluation context as an Unleash context: `targetingKey` is the userId (unless
 * userId is given), the standard fields stay top-level, everything else becomes a property (scalars
 * as strings, dates as ISO strings, nested values as JSON). A context that is not an object is
 * INVALID_CONTEXT.
 */
export function unleashContext(context: unknown): { ok: true; context: UnleashContext } | { ok: false; errorDetails: string } {
  if (context === undefined || context === null) return { ok: true, context: { properties: {} } };
  if (typeof context !== 'object' || Array.isArray(context))
    return { ok: false, errorDetails: `context must be an object, got ${Array.isArray(context) ? 'an array' : typeof context}` };
  const out: UnleashContext = { properties: {} };
  const str = (v: unknown): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (v instanceof Date) return v.toISOString();
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  };
  const entries = Object.entries(context as Record<string, unknown>);
  for (const [k, v] of entries) {
    if (k === 'targetingKey' || k === 'properties') continue;
    const s = str(v);
    if (s === undefined) continue;
    if (k === 'currentTime') {
      const d = new Date(v instanceof Date ? v.getTime() : s);
      if (Number.isNaN(d.getTime())) return { ok: false, errorDetails: `context.currentTime: not a date (${JSON.stringify(s)})` };
      out.currentTime = d;
    } else if (TOP_LEVEL.has(k)) (out as unknown as Record<string, string>)[k] = s;
    else out.properties[k] = s;
  }
  // Unleash-shaped contexts (unleash-proxy-client, or users who know Unleash) nest properties.
  const nested = (context as Record<string, unknown>).properties;
  if (nested && typeof nested === 'object' && !Array.isArray(nested)) {
    for (const [k, v] of Object.entries(nested as Record<string, unknown>)) {
      const s = str(v);
      if (s !== undefined) out.properties[k] = s;
    }
  }
  const tk = (context as Record<string, unknown>).targetingKey;
  if (out.userId === undefined && tk !== undefined && tk !== null && tk !== '') out.userId = String(tk);
  return { ok: true, context: out };
}

const allVariants = (def: FlagDefinition): VariantDefinition[] => [
  ...(def.variants ?? []),
  ...(def.strategies ?? []).flatMap((s) => s.variants ?? []),
];

/** The experiment strategy (a groupId and variants), if this feature is an immune experiment. */
function experimentStrategy(def: FlagDefinition): NonNullable<FlagDefinition['strategies']>[number] | undefined {
  if (def.type !== 'experiment') return undefined;
  return def.strategies?.find((s) => typeof s.parameters?.groupId === 'string' && (s.variants?.length ?? 0) > 0);
}

/**
 * The type a flag evaluates to: boolean without variants; with variants, the payloads' type when
 * every variant has a payload of one type (number, json -> object, string/csv -> string), else the
 * variant name (string). Experiments are strings: the branch.
 */
export function flagKind(def: FlagDefinition): FlagKind {
  if (experimentStrategy(def)) return 'string';
  if (allVariants(def).length === 0) return 'boolean';
  const t = payloadType(def);
  return t === 'number' ? 'number' : t === 'json' ? 'object' : 'string';
}

/** The one payload type every variant has, if they all have one. */
function payloadType(def: FlagDefinition): string | undefined {
  const types = new Set(allVariants(def).map((v) => v.payload?.type ?? 'none'));
  const [t] = [...types];
  return types.size === 1 && t !== 'none' ? t : undefined;
}

/** The context field a flag's assignment sticks to, when it needs one (experiments and rollouts). */
function stickinessOf(def: FlagDefinition): string | undefined {
  for (const s of def.strategies ?? []) {
    const p = s.parameters ?? {};
    if (s.name === 'flexibleRollout' && Number(p.rollout ?? 100) < 100) return String(p.stickiness ?? 'default');
    if (experimentStrategy(def) === s) return String(p.stickiness ?? 'default');
  }
  return undefined;
}

function hasStickyKey(stickiness: string, ctx: UnleashContext): boolean {
  if (stickiness === 'default') return Boolean(ctx.userId || ctx.sessionId);
  if (stickiness === 'random') return true;
  const v = (ctx as unknown as Record<string, unknown>)[stickiness] ?? ctx.properties[stickiness];
  return v !== undefined && v !== '';
}

/**
 * TARGETING_KEY_MISSING before evaluating, when the flag assigns users by a key the context lacks:
 * without it Unleash would pick at random on every call, so one user would flip between branches.
 */
export function missingTargetingKey(def: FlagDefinition, ctx: UnleashContext): Resolution | undefined {
  const stickiness = stickinessOf(def);
  if (stickiness === undefined || hasStickyKey(stickiness, ctx)) return undefined;
  const field = stickiness === 'default' ? 'targetingKey (or userId / sessionId)' : `"${stickiness}"`;
  return {
    ok: false,
    key: def.name,
    errorCode: 'TARGETING_KEY_MISSING',
    errorDetails: `${def.name} assigns users by ${field}; the context has none`,
  };
}

function payloadValue(p: { type: string; value: string }): { ok: true; value: FlagValue } | { ok: false; why: string } {
  if (p.type === 'number') {
    const n = Number(p.value);
    return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, why: `payload ${JSON.stringify(p.value)} is not a number` };
  }
  if (p.type === 'json') {
    try {
      const v = JSON.parse(p.value) as unknown;
      if (v !== null && typeof v === 'object') return { ok: true, value: v as Record<string, unknown> };
      return { ok: false, why: 'json payload is not an object or array' };
    } catch (err) {
      return { ok: false, why: `json payload does not parse: ${(err as Error).message}` };
    }
  }
  return { ok: true, value: p.value };
}

/** Why an enabled flag gave this answer, as far as the definition tells. */
function matchReason(def: FlagDefinition): ResolutionReason {
  const strategies = (def.strategies ?? []).filter((s) => !('disabled' in s && (s as { disabled?: boolean }).disabled));
  const weighted = allVariants(def).filter((v) => (v.weight ?? 1) > 0).length > 1;
  const targeted = strategies.some((s) => (s.constraints?.length ?? 0) > 0 || (s.segments?.length ?? 0) > 0);
  if (targeted) return 'TARGETING_MATCH';
  const rollout = strategies.some(
    (s) => (s.name === 'flexibleRollout' && Number(s.parameters?.rollout ?? 100) < 100) || s.name.startsWith('gradualRollout'),
  );
  if (weighted || rollout) return 'SPLIT';
  if (strategies.every((s) => s.name === 'default' || s.name === 'flexibleRollout')) return 'STATIC';
  return 'TARGETING_MATCH';
}

/** The OpenFeature resolution of one evaluated feature (undefined definition: FLAG_NOT_FOUND). */
export function resolveFlag(key: string, def: FlagDefinition | undefined, enabled: boolean, variant: VariantResult): Resolution {
  if (!def) return { ok: false, key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `no flag or experiment "${key}"` };
  const kind = flagKind(def);
  const exp = experimentStrategy(def);
  if (exp) {
    const control = exp.variants![0]!.name;
    const metadata: Record<string, string | number | boolean> = { experiment: def.name, control };
    // A closed experiment (stale) sends everyone to its chosen branch, and nothing is measured.
    if (def.stale)
      return {
        ok: true,
        key,
        kind,
        value: variant.enabled ? variant.name : control,
        variant: variant.enabled ? variant.name : control,
        reason: 'STATIC',
        metadata: { ...metadata, closed: true },
      };
    if (!enabled || !variant.enabled)
      return { ok: true, key, kind, value: control, variant: control, reason: def.enabled ? 'DEFAULT' : 'DISABLED', metadata };
    return {
      ok: true,
      key,
      kind,
      value: variant.name,
      variant: variant.name,
      reason: 'SPLIT',
      metadata: { ...metadata, groupId: String(exp.parameters!.groupId) },
    };
  }
  const reasonOff: ResolutionReason = def.enabled ? 'DEFAULT' : 'DISABLED';
  if (kind === 'boolean')
    return {
      ok: true,
      key,
      kind,
      value: enabled,
      variant: enabled ? 'on' : 'off',
      reason: enabled ? matchReason(def) : reasonOff,
      metadata: {},
    };
  if (!enabled || !variant.enabled) return { ok: true, key, kind, reason: reasonOff, metadata: {} };
  let value: FlagValue = variant.name;
  if (payloadType(def)) {
    if (!variant.payload)
      return { ok: false, key, errorCode: 'GENERAL', errorDetails: `variant "${variant.name}" of ${key} has no payload` };
    const parsed = payloadValue(variant.payload);
    if (!parsed.ok) return { ok: false, key, errorCode: 'PARSE_ERROR', errorDetails: `${key}: variant "${variant.name}": ${parsed.why}` };
    value = parsed.value;
  }
  return { ok: true, key, kind, value, variant: variant.name, reason: matchReason(def), metadata: {} };
}
