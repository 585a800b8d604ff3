/**
 * Defaults of the Ringmaster documents, read from the `default` keywords of their JSON Schemas (schema.ts), the
 * one place a default is defined. Code that needs the value of a field a document left out uses these constants
 * (or the resolvers below), never a literal of its own.
 *
 * Only the defaults in MATERIALISED_DEFAULTS are written into a loaded document by ajv; `validationSchema` makes
 * the copy of a schema that ajv compiles, with every other `default` taken out (see schema.ts for why).
 */
import { MATERIALISED_DEFAULTS, metricSchema, policySchema, preflightCheckSchema, ringSchema, rolloutSchema } from './schema';
import type { MetricSpec, RolloutSpec } from './types';

const rolloutSpec = rolloutSchema.properties.spec.properties;
const analysis = rolloutSpec.analysis.properties;
const metric = metricSchema.properties;
const policySpec = policySchema.properties.spec.properties;

/** `spec.analysis`: interval, noDataGrace, maxConsecutiveErrors. */
export const ANALYSIS_DEFAULTS = {
  interval: analysis.interval.default,
  noDataGrace: analysis.noDataGrace.default,
  maxConsecutiveErrors: analysis.maxConsecutiveErrors.default,
} as const;

/** `spec.analysis.metrics[]`: the judge's parameters (engine/judge.ts resolves a metric with these). */
export const METRIC_DEFAULTS = {
  alpha: metric.alpha.default,
  beta: metric.beta.default,
  detectRatio: metric.detectRatio.default,
  maxRatio: metric.maxRatio.default,
  minHosts: metric.minHosts.default,
  minExposure: metric.minExposure.default,
} as const;

/** The rest of a Rollout: its policy, a ring's approval, automatic rollback, the ramp's growth, the holdback. */
export const ROLLOUT_DEFAULTS = {
  policy: rolloutSpec.policy.default,
  rampGrowth: ringSchema.properties.ramp.oneOf[1].properties.growth.default,
  /** The ramp's first wave when a ring does not set it: this, or the largest minHosts of the metrics if larger. */
  rampFirst: 50,
  holdbackPercent: rolloutSpec.holdback.properties.percent.default,
  requireEvidence: analysis.requireEvidence.default,
  ringApproval: ringSchema.properties.approval.default,
  rollbackAutomatic: rolloutSpec.rollback.properties.automatic.default,
} as const;

/** `spec.preflight[]`: how long an exec or webhook check may take. */
export const PREFLIGHT_DEFAULTS = {
  timeout: preflightCheckSchema.properties.timeout.default,
} as const;

/** A Policy's (these are also written into every loaded policy: a PolicySpec always has them). */
export const POLICY_DEFAULTS = {
  requireBakeWithinWindow: policySpec.requireBakeWithinWindow.default,
  maxConcurrentRolloutsPerChannel: policySpec.maxConcurrentRolloutsPerChannel.default,
  requireSignedArtifacts: policySpec.requireSignedArtifacts.default,
} as const;

// ------------------------------------------------------------------------------------------ resolvers

/** The analysis settings a rollout runs with, defaults filled in. */
export function analysisOf(spec: RolloutSpec): { interval: string; noDataGrace: string; maxConsecutiveErrors: number } {
  return {
    interval: spec.analysis?.interval ?? ANALYSIS_DEFAULTS.interval,
    noDataGrace: spec.analysis?.noDataGrace ?? ANALYSIS_DEFAULTS.noDataGrace,
    maxConsecutiveErrors: spec.analysis?.maxConsecutiveErrors ?? ANALYSIS_DEFAULTS.maxConsecutiveErrors,
  };
}

/**
 * A metric's judge parameters, defaults filled in. Whether a field was written still matters to the judge
 * (a custom metric checks only a maxRatio it sets; messages say "default"): ask the metric, not this.
 */
export function metricParamsOf(m: MetricSpec): { alpha: number; beta: number; detectRatio: number; maxRatio: number; minHosts: number; minExposure: number } {
  return {
    alpha: m.alpha ?? METRIC_DEFAULTS.alpha,
    beta: m.beta ?? METRIC_DEFAULTS.beta,
    detectRatio: m.detectRatio ?? METRIC_DEFAULTS.detectRatio,
    maxRatio: m.maxRatio ?? METRIC_DEFAULTS.maxRatio,
    minHosts: m.minHosts ?? METRIC_DEFAULTS.minHosts,
    minExposure: m.minExposure ?? METRIC_DEFAULTS.minExposure,
  };
}

export function policyNameOf(spec: RolloutSpec): string {
  return spec.policy ?? ROLLOUT_DEFAULTS.policy;
}

export function automaticRollbackOf(spec: RolloutSpec): boolean {
  return spec.rollback?.automatic ?? ROLLOUT_DEFAULTS.rollbackAutomatic;
}

/** A ring's ramp: its first wave in hosts and its growth factor, or null for `ramp: none`. */
export function rampOf(spec: RolloutSpec, ring: number): { first: number; growth: number } | null {
  const r = spec.rings[ring]?.ramp;
  if (r === 'none') return null;
  const minHosts = Math.max(0, ...(spec.analysis?.metrics ?? []).map((m) => m.minHosts ?? METRIC_DEFAULTS.minHosts));
  return { first: r?.first ?? Math.max(ROLLOUT_DEFAULTS.rampFirst, minHosts), growth: r?.growth ?? ROLLOUT_DEFAULTS.rampGrowth };
}

/** The holdback, percent of the fleet (0: none). */
export function holdbackOf(spec: RolloutSpec): number {
  return spec.holdback?.percent ?? ROLLOUT_DEFAULTS.holdbackPercent;
}

export function approvalRequired(ring: RolloutSpec['rings'][number]): boolean {
  return (ring.approval ?? ROLLOUT_DEFAULTS.ringApproval) === 'required';
}

// ------------------------------------------------------------------------------------------ for ajv

/**
 * A deep copy of `schema` in which only the `default` keywords at the given JSON Pointers remain, for ajv's
 * `useDefaults` to write in. Every other default stays an annotation of the schema (read through the constants).
 */
export function validationSchema<S extends object>(schema: S, materialised: readonly string[] = []): S {
  const keep = new Set(materialised);
  const copy = (node: unknown, pointer: string): unknown => {
    if (Array.isArray(node)) return node.map((v, i) => copy(v, `${pointer}/${i}`));
    if (node === null || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === 'default' && !keep.has(pointer)) continue;
      // `enum`, `const` and `default` hold data, not schemas: copied as they are.
      out[k] = k === 'enum' || k === 'const' || k === 'default' ? v : copy(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    }
    return out;
  };
  return copy(schema, '') as S;
}

/** The Rollout and Policy schemas as ajv compiles them. */
export const VALIDATION_SCHEMAS = {
  Rollout: validationSchema(rolloutSchema, MATERIALISED_DEFAULTS.Rollout),
  Policy: validationSchema(policySchema, MATERIALISED_DEFAULTS.Policy),
};
