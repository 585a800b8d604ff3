/**
 * Rules of Rollout and Policy documents that a JSON Schema cannot express: ring order, semver order,
 * time zones that exist, freezes that end after they start, template variables of custom queries...
 *
 * The checks run even when the schema found mistakes, so that a user sees every mistake of a file at
 * once. They therefore read the document defensively and skip any value the schema already rejects
 * (a percent of 150 is the schema's to report, not a reason to complain about ring order as well).
 */
import { isKnownZone, parseHoursRange, readPolicyTime, zoneNamed, type PolicyZone } from '../policy/times';
import * as semver from 'semver';
import { ANALYSIS_DEFAULTS } from './defaults';
import { validateMetricForJudge } from './metric-rules';
import { parseDuration } from './duration';
import type { MetricSpec } from './types';
import { DATETIME_PATTERN, DURATION_PATTERN, HOURS_PATTERN } from './schema';
import { describeValue, formatPath, type PathSegment, type Problem } from './errors';
import { policyTextProblems, rolloutTextProblems } from './text';
import { compileContentSchema } from '../content/schema';
import { PREFLIGHT_DEFAULTS } from './defaults';

/** Variables a custom metric's PromQL template may use; the analysis provider substitutes them. */
export const QUERY_TEMPLATE_VARIABLES = ['channel', 'version', 'baselineVersion', 'window'] as const;

export function rolloutProblems(doc: unknown): Problem[] {
  const spec = record(record(doc)?.spec);
  if (!spec) return [];
  return [...rolloutTextProblems(doc), ...versionProblems(spec), ...ringProblems(spec), ...analysisProblems(spec), ...preflightProblems(spec)];
}

export function policyProblems(doc: unknown): Problem[] {
  const spec = record(record(doc)?.spec);
  if (!spec) return [];
  const problems: Problem[] = [...policyTextProblems(doc)];
  const zone = typeof spec.timezone === 'string' ? spec.timezone : undefined;
  const zoneValid = zone !== undefined && isKnownZone(zone);
  if (zone !== undefined && zone !== '' && !zoneValid) {
    problems.push({
      path: ['spec', 'timezone'],
      message: `unknown time zone ${describeValue(zone)} (use an IANA name like America/New_York, Europe/Berlin or UTC)`,
    });
  }

  list(spec.allow).forEach((window, i) => {
    const hours = record(window)?.hours;
    if (typeof hours !== 'string' || !new RegExp(HOURS_PATTERN).test(hours)) return;
    const range = parseHoursRange(hours);
    if (range && range.startMin >= range.endMin) {
      problems.push({
        path: ['spec', 'allow', i, 'hours'],
        message: `start must be before end; split a window across midnight in two (got ${hours})`,
      });
    }
  });

  // Local freeze times are read in the policy's zone; with an unknown zone (reported above) UTC keeps the order check useful.
  const freezeZone = zoneNamed(zoneValid ? (zone as string) : 'UTC');
  list(spec.freezes).forEach((freeze, i) => {
    const f = record(freeze);
    if (!f) return;
    const from = instant(f.from, freezeZone, ['spec', 'freezes', i, 'from'], problems);
    const to = instant(f.to, freezeZone, ['spec', 'freezes', i, 'to'], problems);
    if (from !== undefined && to !== undefined && from >= to) {
      problems.push({
        path: ['spec', 'freezes', i, 'to'],
        message: `must be after from ${describeValue(f.from)} (got ${describeValue(f.to)})`,
      });
    }
  });

  problems.push(...duplicateNames(list(spec.tenants), ['spec', 'tenants'], 'tenant'));
  return problems;
}

function versionProblems(spec: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const valid: Partial<Record<'version' | 'previousVersion', string>> = {};
  for (const field of ['version', 'previousVersion'] as const) {
    const v = spec[field];
    if (typeof v !== 'string' || v === '') continue;
    const canonical = semver.valid(v);
    if (canonical === null) {
      problems.push({
        path: ['spec', field],
        message: `must be a semantic version like 7.16.291 or 2.0.0-rc.1 (got ${describeValue(v)})`,
      });
    } else if (canonical !== v) {
      // semver would read "v1.0.1" as 1.0.1, but agents report the version string as written (a metric label):
      // the two spellings would never match, and analysis would see no data.
      problems.push({
        path: ['spec', field],
        message: `must be written as a bare semantic version: ${canonical} (got ${describeValue(v)})`,
      });
    } else {
      valid[field] = v;
    }
  }
  if (valid.version !== undefined && valid.previousVersion !== undefined && !semver.gt(valid.version, valid.previousVersion)) {
    problems.push({
      path: ['spec', 'version'],
      message: `must be greater than previousVersion ${valid.previousVersion} (got ${valid.version})`,
    });
  }
  return problems;
}

function ringProblems(spec: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const rings = list(spec.rings);
  problems.push(...duplicateNames(rings, ['spec', 'rings'], 'ring'));

  const lastIndex = rings.length - 1;
  const last = record(rings[lastIndex]);
  const lastPercent = validPercent(last?.percent);

  let previous: { percent: number; name: string } | undefined;
  rings.forEach((ring, i) => {
    const r = record(ring);
    if (!r) return;
    const at = (...rest: PathSegment[]): PathSegment[] => ['spec', 'rings', i, ...rest];

    const percent = validPercent(r.percent);
    if (percent !== undefined) {
      // A last ring below 100 gets the one message that says what to do (reach 100), not two.
      const lastBelowFull = i === lastIndex && percent !== 100;
      if (previous && percent <= previous.percent && !lastBelowFull) {
        problems.push({
          path: at('percent'),
          message: `percent rings must strictly increase: must be > ${previous.percent}, the percent of ring ${describeValue(previous.name)} before it (got ${percent})`,
        });
      }
      if (!previous || percent > previous.percent) previous = { percent, name: String(r.name) };
    }

    // The first wave must be able to fail: it needs at least every metric's minHosts.
    const ramp = record(r.ramp);
    if (ramp && typeof ramp.first === 'number') {
      const needs = list(record(spec.analysis)?.metrics).map((m) => record(m)).filter((m): m is Record<string, unknown> => m !== undefined && typeof m.minHosts === 'number' && (m.minHosts as number) > (ramp.first as number));
      const worst = needs.sort((a, b) => (b.minHosts as number) - (a.minHosts as number))[0];
      if (worst) problems.push({ path: at('ramp', 'first'), message: `must be >= minHosts ${String(worst.minHosts)} of metric ${describeValue(String(worst.name))}, or its first wave can never fail (got ${ramp.first})` });
    }

    const bake = duration(r.bake, at('bake'), problems);
    const maxBake = duration(r.maxBake, at('maxBake'), problems);
    if (bake !== undefined && maxBake !== undefined && bake > maxBake) {
      problems.push({ path: at('bake'), message: `must be <= maxBake ${String(r.maxBake)} (got ${String(r.bake)})` });
    }
  });

  // The holdback comes out of the last ring: it must not reach into the ring before it.
  const holdback = record(spec.holdback);
  const penultimate = validPercent(record(rings[lastIndex - 1])?.percent);
  if (holdback && typeof holdback.percent === 'number' && penultimate !== undefined && holdback.percent > 0 && 100 - holdback.percent < penultimate) {
    problems.push({ path: ['spec', 'holdback', 'percent'], message: `must be <= ${Number((100 - penultimate).toFixed(2))}: the holdback comes out of the last ring, and ring ${describeValue(String(record(rings[lastIndex - 1])?.name))} already has ${penultimate}% (got ${holdback.percent})` });
  }

  if (last) {
    const isSelectorRing = last.selector !== undefined && last.percent === undefined;
    if (lastPercent !== undefined && lastPercent !== 100) {
      problems.push({
        path: ['spec', 'rings', lastIndex, 'percent'],
        message: `the last ring must reach the whole fleet: must be 100 (got ${lastPercent})`,
      });
    } else if (isSelectorRing) {
      problems.push({
        path: ['spec', 'rings', lastIndex],
        message: 'the last ring must reach the whole fleet (percent: 100), but this is a selector ring',
      });
    }
  }
  return problems;
}

function analysisProblems(spec: Record<string, unknown>): Problem[] {
  const analysis = record(spec.analysis);
  if (!analysis) return [];
  const problems: Problem[] = [];
  // An absent interval or grace takes its default, and the pair must still make sense.
  const intervalText = analysis.interval ?? ANALYSIS_DEFAULTS.interval;
  const graceText = analysis.noDataGrace ?? ANALYSIS_DEFAULTS.noDataGrace;
  const interval = duration(intervalText, ['spec', 'analysis', 'interval'], problems);
  const grace = duration(graceText, ['spec', 'analysis', 'noDataGrace'], problems);
  if (interval !== undefined && interval <= 0) {
    problems.push({ path: ['spec', 'analysis', 'interval'], message: `must be > 0 (got ${String(intervalText)})` });
  }
  if (interval !== undefined && interval > 0 && grace !== undefined && grace < interval) {
    const blame = analysis.noDataGrace === undefined ? 'interval' : 'noDataGrace';
    problems.push({
      path: ['spec', 'analysis', blame],
      message:
        blame === 'noDataGrace'
          ? `must be >= interval ${String(intervalText)} (got ${String(graceText)})`
          : `must be <= noDataGrace (default ${ANALYSIS_DEFAULTS.noDataGrace}); set a longer noDataGrace (got ${String(intervalText)})`,
    });
  }

  const metrics = list(analysis.metrics);
  problems.push(...duplicateNames(metrics, ['spec', 'analysis', 'metrics'], 'metric'));
  if (metrics.length > 0 && spec.previousVersion === undefined) {
    problems.push({ path: ['spec', 'analysis', 'metrics'], message: 'analysis compares the candidate with the baseline: spec.previousVersion is required when metrics are set' });
  }
  metrics.forEach((metric, i) => {
    const m = record(metric);
    if (m && typeof m.type === 'string' && m.type !== 'custom') {
      // The judge's own check (detectRatio > maxRatio, defaults included), so that validate catches what would
      // otherwise be an error verdict at run time.
      for (const message of validateMetricForJudge(m as unknown as MetricSpec)) {
        problems.push({ path: ['spec', 'analysis', 'metrics', i, m.detectRatio === undefined && m.maxRatio !== undefined ? 'maxRatio' : 'detectRatio'], message: message.replace(/^metric [^:]+: /, '') });
      }
    }
    const query = record(record(metric)?.query);
    if (!query) return;
    for (const side of ['candidate', 'baseline'] as const) {
      const text = query[side];
      if (typeof text === 'string') {
        problems.push(...templateProblems(text, ['spec', 'analysis', 'metrics', i, 'query', side]));
      }
    }
  });
  return problems;
}

/** The longest an exec or webhook pre-flight check may be given. */
export const MAX_PREFLIGHT_TIMEOUT_MS = 10 * 60_000;

/**
 * `spec.preflight`: names used once, inline schemas that compile (ajv, as the runner will), timeouts only where they
 * mean something and within bounds; `spec.previousArtifact` belongs to a previousVersion.
 */
function preflightProblems(spec: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const checks = list(spec.preflight);
  problems.push(...duplicateNames(checks, ['spec', 'preflight'], 'pre-flight check'));
  checks.forEach((check, i) => {
    const c = record(check);
    if (!c) return;
    const at = (...rest: PathSegment[]): PathSegment[] => ['spec', 'preflight', i, ...rest];
    const schema = record(c.schema);
    if (schema) {
      const compiled = compileContentSchema(schema);
      if (!compiled.ok) problems.push({ path: at('schema'), message: compiled.message });
      if (c.timeout !== undefined) problems.push({ path: at('timeout'), at: 'key', message: 'a schema check has no timeout (timeout applies to exec and webhook checks)' });
    }
    const ms = duration(c.timeout ?? PREFLIGHT_DEFAULTS.timeout, at('timeout'), problems);
    if (ms !== undefined && (ms <= 0 || ms > MAX_PREFLIGHT_TIMEOUT_MS)) {
      problems.push({ path: at('timeout'), message: `must be > 0 and at most 10m (got ${String(c.timeout)})` });
    }
  });
  if (spec.previousArtifact !== undefined && spec.previousVersion === undefined) {
    problems.push({ path: ['spec', 'previousArtifact'], at: 'key', message: 'is the artifact of previousVersion: spec.previousVersion is required with it' });
  }
  return problems;
}

/** Only {{channel}}, {{version}}, {{baselineVersion}} and {{window}} may appear in a query template. */
function templateProblems(text: string, path: PathSegment[]): Problem[] {
  const problems: Problem[] = [];
  const known: readonly string[] = QUERY_TEMPLATE_VARIABLES;
  const knownList = QUERY_TEMPLATE_VARIABLES.map((v) => `{{${v}}}`).join(', ');
  for (const m of text.matchAll(/\{\{\s*([^{}]*?)\s*\}\}/g)) {
    const name = m[1] ?? '';
    if (!known.includes(name)) {
      problems.push({ path, message: `unknown template variable ${m[0]} (known: ${knownList})` });
    }
  }
  const rest = text.replace(/\{\{[^{}]*\}\}/g, '');
  if (rest.includes('{{') || rest.includes('}}')) {
    problems.push({ path, message: `unbalanced {{ or }} in the query template (variables are written like {{channel}})` });
  }
  return problems;
}

/** Second and later items whose `name` repeats an earlier one. */
function duplicateNames(items: unknown[], listPath: PathSegment[], noun: string): Problem[] {
  const problems: Problem[] = [];
  const firstIndex = new Map<string, number>();
  items.forEach((item, i) => {
    const name = record(item)?.name;
    if (typeof name !== 'string') return;
    const first = firstIndex.get(name);
    if (first === undefined) {
      firstIndex.set(name, i);
      return;
    }
    problems.push({
      path: [...listPath, i, 'name'],
      message: `duplicate ${noun} name ${describeValue(name)} (already used by ${formatPath([...listPath, first])})`,
    });
  });
  return problems;
}

/** Milliseconds of a duration the schema accepts; a well-formed but unusable one (too large) is a problem. */
function duration(value: unknown, path: PathSegment[], problems: Problem[]): number | undefined {
  if (typeof value !== 'string' || !new RegExp(DURATION_PATTERN).test(value)) return undefined;
  const parsed = parseDuration(value);
  if (!parsed.ok) {
    problems.push({ path, message: parsed.message });
    return undefined;
  }
  return parsed.ms;
}

/** A local date-time is read in `zone`; one with Z or an offset stands for itself (policy/times.ts, as the windows read it). */
function instant(value: unknown, zone: PolicyZone, path: PathSegment[], problems: Problem[]): number | undefined {
  if (typeof value !== 'string' || !new RegExp(DATETIME_PATTERN).test(value)) return undefined;
  const t = readPolicyTime(value, zone);
  if (!t.ok) {
    problems.push({ path, message: `not a real date-time: ${t.why} (got ${value})` });
    return undefined;
  }
  return t.ms;
}

function validPercent(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= 100 ? value : undefined;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
