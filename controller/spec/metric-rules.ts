/**
 * The health judge's defaults and its check of a metric, where both the spec's semantic validation
 * (spec/semantic.ts) and the judge (engine/judge.ts) can use them without the spec importing the engine.
 * Values come from the metric schema's `default` keywords (spec/defaults.ts); see docs/analysis.md.
 */
import { METRIC_DEFAULTS, metricParamsOf } from './defaults';
import type { MetricSpec } from './types';

/**
 * Values used when a metric leaves a field unset. alpha: the rollout's false-fail rate (the smallest alpha of its
 * metrics; split across rings, metrics and tests, docs/analysis.md "alpha per rollout"); beta: miss rate at
 * detectRatio; detectRatio: the regression the relative test is powered for; maxRatio: the tolerated
 * candidate/baseline ratio (its null); minHosts: candidate hosts before a pass or a fail; minExposureHours:
 * candidate host-hours before a pass (built-in metrics).
 */
export const JUDGE_DEFAULTS = {
  alpha: METRIC_DEFAULTS.alpha,
  beta: METRIC_DEFAULTS.beta,
  detectRatio: METRIC_DEFAULTS.detectRatio,
  maxRatio: METRIC_DEFAULTS.maxRatio,
  minHosts: METRIC_DEFAULTS.minHosts,
  minExposureHours: METRIC_DEFAULTS.minExposure,
} as const;

/**
 * A candidate rate at least this many times a metric's `max` is catastrophic: the only signal that may fail a ring
 * on its first look (docs/analysis.md, "The absolute guards").
 */
export const CATASTROPHIC_MULTIPLE = 10;

/** Resolved parameters of one metric (spec + defaults). */
export interface JudgeParams {
  alpha: number;
  beta: number;
  detectRatio: number;
  maxRatio: number;
  minHosts: number;
  minExposureHours: number;
  /** Absolute guard; undefined when the metric has none. */
  max: number | undefined;
  /** Whether maxRatio was set explicitly (custom metrics only check an explicit maxRatio). */
  maxRatioSet: boolean;
}

export function resolveParams(metric: MetricSpec): JudgeParams {
  const p = metricParamsOf(metric);
  return {
    alpha: p.alpha,
    beta: p.beta,
    detectRatio: p.detectRatio,
    maxRatio: p.maxRatio,
    minHosts: p.minHosts,
    minExposureHours: p.minExposure,
    max: metric.max,
    maxRatioSet: metric.maxRatio !== undefined,
  };
}

/**
 * Problems with a metric that the JSON Schema cannot express, as messages naming the field (empty when fine).
 * spec/semantic.ts reports them at validation; the judge returns 'error' for them.
 */
export function validateMetricForJudge(metric: MetricSpec): string[] {
  const problems: string[] = [];
  if (metric.type === 'custom') return problems;
  const p = resolveParams(metric);
  if (!(p.detectRatio > p.maxRatio)) {
    problems.push(
      `metric ${metric.name}: detectRatio (${p.detectRatio}${metric.detectRatio === undefined ? ', default' : ''}) ` +
        `must be greater than maxRatio (${p.maxRatio}${metric.maxRatio === undefined ? ', default' : ''})`,
    );
  }
  return problems;
}
