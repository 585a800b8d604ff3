/**
 * Turns a metric of spec.analysis.metrics into an Observation for the judge, from Prometheus (observeMetric)
 * or from in-process counters (observeFromCounts, used by the fleet simulator).
 *
 * Built-in metrics count events and exposure since the ring started, for the candidate and the baseline
 * version, from the agent metrics contract (docs/metrics.md):
 *
 *   events    sum(increase(ringmaster_agent_crashes_total{channel,version,kind="crash"}[W]))   (bsod: kind="bsod";
 *             update-failure-rate: ringmaster_agent_update_failures_total, all reasons)
 *   exposure  sum(increase(ringmaster_agent_host_seconds_total{channel,version}[W])) / 3600   (host-hours)
 *   hosts     sum(ringmaster_agent_hosts{channel,version})
 *
 * with W = time since the ring started. The contract requires agents to initialise their counters at 0, so a
 * missing candidate series is no-data, never zero. A missing baseline series means nobody runs the baseline
 * any more (a 100% ring): zero exposure, which turns the relative test off (the judge says so).
 */
import type { MetricSpec } from '../spec/types';
import type { MetricsProvider } from './provider';
import type { Counts, Observation, QueryResult, RingContext } from './types';

export type EventKind = 'crash' | 'bsod' | 'update-failure';

/** In-process counts (the simulator): events, host-hours and hosts of one version since `since`; undefined = no data. */
export interface CountsSource {
  counts(channel: string, version: string, kind: EventKind, since: Date, now: Date): Counts | undefined;
}

export interface ObserveOptions {
  /** Shortest range for increase(): below about two scrape intervals Prometheus has too few samples. Default 60 s. */
  minWindowSeconds?: number;
}

const BUILTIN_KIND: Record<string, EventKind> = { 'crash-rate': 'crash', 'bsod-rate': 'bsod', 'update-failure-rate': 'update-failure' };

/** A PromQL string literal: backslashes and double quotes escaped, newlines removed. */
export function promString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/[\r\n]/g, '')}"`;
}

export function windowFor(ctx: RingContext, opts: ObserveOptions = {}): string {
  const seconds = Math.ceil((ctx.now.getTime() - ctx.ringStartedAt.getTime()) / 1000);
  return `${Math.max(opts.minWindowSeconds ?? 60, seconds)}s`;
}

/** The three PromQL queries of a built-in metric for one version. */
export function builtinQueries(kind: EventKind, channel: string, version: string, window: string): { events: string; exposure: string; hosts: string } {
  const sel = `channel=${promString(channel)},version=${promString(version)}`;
  const events =
    kind === 'update-failure'
      ? `sum(increase(ringmaster_agent_update_failures_total{${sel}}[${window}]))`
      : `sum(increase(ringmaster_agent_crashes_total{${sel},kind=${promString(kind)}}[${window}]))`;
  return {
    events,
    exposure: `sum(increase(ringmaster_agent_host_seconds_total{${sel}}[${window}])) / 3600`,
    hosts: `sum(ringmaster_agent_hosts{${sel}})`,
  };
}

/** Fills {{channel}}, {{version}}, {{baselineVersion}} (as escaped label values, without quotes) and {{window}}. */
export function renderTemplate(template: string, ctx: RingContext, window: string): string {
  const esc = (v: string): string => promString(v).slice(1, -1);
  return template.replace(/\{\{\s*(channel|version|baselineVersion|window)\s*\}\}/g, (_m, key: string) => {
    switch (key) {
      case 'channel':
        return esc(ctx.channel);
      case 'version':
        return esc(ctx.version);
      case 'baselineVersion':
        return esc(ctx.baselineVersion);
      default:
        return window;
    }
  });
}

export async function observeMetric(provider: MetricsProvider, metric: MetricSpec, ctx: RingContext, opts: ObserveOptions = {}): Promise<Observation> {
  const at = ctx.now.toISOString();
  const window = windowFor(ctx, opts);
  if (metric.type === 'custom') {
    const q = metric.query;
    if (!q) return { kind: 'error', at, message: `metric ${metric.name}: custom metric without query` };
    const [cand, base, hosts] = await Promise.all([
      provider.query(renderTemplate(q.candidate, ctx, window), ctx.now),
      q.baseline === undefined ? Promise.resolve(undefined) : provider.query(renderTemplate(q.baseline, ctx, window), ctx.now),
      provider.query(builtinQueries('crash', ctx.channel, ctx.version, window).hosts, ctx.now),
    ]);
    const bad = firstProblem([['candidate', cand], ...(base === undefined ? [] : ([['baseline', base]] as Array<[string, QueryResult]>))], at);
    if (bad) return bad;
    return {
      kind: 'value',
      at,
      candidate: (cand as { value: number }).value,
      ...(base === undefined ? {} : { baseline: (base as { value: number }).value }),
      ...(hosts.kind === 'value' ? { candidateHosts: hosts.value } : {}),
    };
  }
  const kind = BUILTIN_KIND[metric.type];
  if (kind === undefined) return { kind: 'error', at, message: `metric ${metric.name}: unknown type ${metric.type}` };
  const cq = builtinQueries(kind, ctx.channel, ctx.version, window);
  const bq = builtinQueries(kind, ctx.channel, ctx.baselineVersion, window);
  const results = await Promise.all([cq.events, cq.exposure, cq.hosts, bq.events, bq.exposure, bq.hosts].map((q) => provider.query(q, ctx.now)));
  const [ce, cx, ch, be, bx, bh] = results as [QueryResult, QueryResult, QueryResult, QueryResult, QueryResult, QueryResult];
  const bad = firstProblem(
    [
      ['candidate events', ce],
      ['candidate exposure', cx],
      ['candidate hosts', ch],
    ],
    at,
  );
  if (bad) return bad;
  // The baseline may be gone (a 100% ring): empty means zero. Errors and NaN are still problems.
  const baselineParts: Array<[string, QueryResult]> = [
    ['baseline events', be],
    ['baseline exposure', bx],
    ['baseline hosts', bh],
  ];
  const baseBad = firstProblem(
    baselineParts.filter(([, r]) => !(r.kind === 'no-data' && r.reason.startsWith('empty'))),
    at,
  );
  if (baseBad) return baseBad;
  const v = (r: QueryResult): number => (r.kind === 'value' ? r.value : 0);
  return {
    kind: 'counts',
    at,
    // increase() extrapolates to the window's edges, so counts of integer events come back fractional.
    candidate: { events: Math.max(0, Math.round(v(ce))), exposureHours: Math.max(0, v(cx)), hosts: Math.max(0, Math.round(v(ch))) },
    baseline: { events: Math.max(0, Math.round(v(be))), exposureHours: Math.max(0, v(bx)), hosts: Math.max(0, Math.round(v(bh))) },
  };
}

function firstProblem(parts: Array<[string, QueryResult]>, at: string): Observation | undefined {
  for (const [what, r] of parts) if (r.kind === 'error') return { kind: 'error', at, message: `${what}: ${r.message}` };
  for (const [what, r] of parts) if (r.kind === 'no-data') return { kind: 'no-data', at, reason: `${what}: ${r.reason}` };
  return undefined;
}

/** The same observation from in-process counters (the simulator's MetricsProvider). */
export function observeFromCounts(source: CountsSource, metric: MetricSpec, ctx: RingContext): Observation {
  const at = ctx.now.toISOString();
  const kind = BUILTIN_KIND[metric.type];
  if (kind === undefined) return { kind: 'no-data', at, reason: `metric ${metric.name}: custom PromQL metrics need Prometheus` };
  const candidate = source.counts(ctx.channel, ctx.version, kind, ctx.ringStartedAt, ctx.now);
  if (candidate === undefined) return { kind: 'no-data', at, reason: 'candidate counters missing' };
  const baseline = source.counts(ctx.channel, ctx.baselineVersion, kind, ctx.ringStartedAt, ctx.now) ?? { events: 0, exposureHours: 0, hosts: 0 };
  return { kind: 'counts', at, candidate, baseline };
}

/** The ObserveFn the runtime's MetricsAnalyzer takes, over Prometheus. */
export function prometheusObserver(provider: MetricsProvider, opts: ObserveOptions = {}): (metric: MetricSpec, ctx: RingContext) => Promise<Observation> {
  return (metric, ctx) => observeMetric(provider, metric, ctx, opts);
}
