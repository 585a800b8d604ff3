/**
 * Turns a metric of spec.analysis.metrics into an Observation for the judge, from Prometheus (observeMetric)
 * or from in-process counters (observeFromCounts, used by the fleet simulator).
 *
 * Built-in metrics are observed as aligned per-interval increments (engine/observation.ts). The ring's time is cut
 * into intervals of I = spec.analysis.interval from the ring's start; for every complete interval not yet consumed
 * (`pendingIntervalEnds(ctx)`: ends t_k in (after, now]) the events and the exposure of the candidate and of the
 * baseline over (t_k - I, t_k] come from one range query per series, evaluated exactly at those ends (step I):
 *
 *   events    sum(increase(ringmaster_agent_crashes_total{channel,version,kind="crash"}[I]))   (bsod: kind="bsod";
 *             update-failure-rate: ringmaster_agent_update_failures_total, all reasons)
 *   exposure  sum(increase(ringmaster_agent_host_seconds_total{channel,version}[I])) / 3600     (host-hours)
 *   hosts     sum(ringmaster_agent_hosts{channel,version})                                      (instant, at now)
 *
 * increase() handles counter resets (agent restarts) inside each window, so a reset costs no bias and nothing is
 * skipped; its extrapolation to the window's edges makes counts fractional, and they are kept as they are (no
 * rounding). Adjacent windows do not overlap, so the increments of a ring add up to its total within that
 * extrapolation error.
 *
 * Missing data is never zero:
 * - a candidate point that is absent or NaN/±Inf makes that interval missing: it is left out of the observation
 *   (and named in the log; when every pending interval is missing the observation is no-data and its reason names
 *   them). A missing interval followed by present ones is skipped for good: later data cannot fill it, and whether a
 *   point is missing does not depend on its value, so skipping it costs no bias.
 * - a baseline point that is NaN/±Inf makes the interval missing too; an absent baseline point or series is zero:
 *   nobody runs the baseline any more (a 100% ring), which turns the relative test off (the judge says so).
 * - no candidate series at all (no events, exposure or hosts series) while the baseline has series:
 *   `candidateMissing: true`, zero candidate increments (nobody runs the candidate yet; the judge calls the look no
 *   data for health, the baseline's numbers are real). Some candidate series without the others breaks the agent
 *   contract (counters start at 0): no-data.
 */
import type { MetricSpec } from '../spec/types';
import type { Logger } from '../telemetry/log';
import type { MetricsProvider, RangeResult } from './provider';
import { pendingIntervalEnds, type Counts, type Increment, type IntervalCounts, type Observation, type QueryResult, type RingContext } from './types';

export type EventKind = 'crash' | 'bsod' | 'update-failure';

/**
 * In-process counters (the simulator). `counts(channel, version, kind, from, to)`: the events and host-hours of one
 * version over (from, to] (exact counter differences) and its hosts at `to`;
 * `'no-data'`: nothing was scraped at `to` (a metrics gap); `'absent'`: the version has no series at `to` (nobody
 * has run it).
 */
export interface CountsSource {
  counts(channel: string, version: string, kind: EventKind, from: Date, to: Date): Counts | 'no-data' | 'absent';
}

export interface ObserveOptions {
  /** Shortest {{window}} of custom metrics: below about two scrape intervals Prometheus has too few samples. Default 60 s. */
  minWindowSeconds?: number;
  /** Intervals left out because their data is missing are logged here (warn), one line per metric and look. */
  log?: Logger;
}

/** At most this many intervals per look (Prometheus refuses a range of more than 11,000 points); the rest come next look. */
export const MAX_INTERVALS_PER_LOOK = 10_000;

const BUILTIN_KIND: Record<string, EventKind> = { 'crash-rate': 'crash', 'bsod-rate': 'bsod', 'update-failure-rate': 'update-failure' };

/** The event kind a built-in metric type counts; undefined for custom metrics. */
export function eventKindOf(type: string): EventKind | undefined {
  return BUILTIN_KIND[type];
}

/** A PromQL string literal: backslashes and double quotes escaped, newlines removed. */
export function promString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/[\r\n]/g, '')}"`;
}

/** A PromQL duration of `ms`: whole seconds as `60s`, otherwise `1500ms`. */
export function promDuration(ms: number): string {
  const whole = Math.round(ms);
  return whole % 1000 === 0 ? `${whole / 1000}s` : `${whole}ms`;
}

/** The {{window}} of custom metrics: time since the ring started, at least `minWindowSeconds`. */
export function windowFor(ctx: Pick<RingContext, 'now' | 'ringStartedAt'>, opts: ObserveOptions = {}): string {
  const seconds = Math.ceil((ctx.now.getTime() - ctx.ringStartedAt.getTime()) / 1000);
  return `${Math.max(opts.minWindowSeconds ?? 60, seconds)}s`;
}

/** The PromQL of a built-in metric for one version: per-interval events and exposure (range `interval`), hosts (instant). */
export function builtinQueries(kind: EventKind, channel: string, version: string, interval: string): { events: string; exposure: string; hosts: string } {
  const sel = `channel=${promString(channel)},version=${promString(version)}`;
  const events =
    kind === 'update-failure'
      ? `sum(increase(ringmaster_agent_update_failures_total{${sel}}[${interval}]))`
      : `sum(increase(ringmaster_agent_crashes_total{${sel},kind=${promString(kind)}}[${interval}]))`;
  return {
    events,
    exposure: `sum(increase(ringmaster_agent_host_seconds_total{${sel}}[${interval}])) / 3600`,
    hosts: `sum(ringmaster_agent_hosts{${sel}})`,
  };
}

/** Fills {{channel}}, {{version}}, {{baselineVersion}} (as escaped label values, without quotes) and {{window}}. */
export function renderTemplate(template: string, ctx: Pick<RingContext, 'channel' | 'version' | 'baselineVersion'>, window: string): string {
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

/** The interval ends this look asks for: pendingIntervalEnds(ctx), at most MAX_INTERVALS_PER_LOOK of them (the oldest). */
export function lookEnds(ctx: RingContext): Date[] {
  // Ends are I apart: (after, after + MAX·I] holds at most MAX of them, and the long list is never built.
  const cap = ctx.after.getTime() + MAX_INTERVALS_PER_LOOK * ctx.intervalMs;
  return pendingIntervalEnds(cap < ctx.now.getTime() ? { ...ctx, now: new Date(cap) } : ctx);
}

export async function observeMetric(provider: MetricsProvider, metric: MetricSpec, ctx: RingContext, opts: ObserveOptions = {}): Promise<Observation> {
  if (metric.type === 'custom') return observeCustom(provider, metric, ctx, opts);
  const at = ctx.now.toISOString();
  const kind = BUILTIN_KIND[metric.type];
  if (kind === undefined) return { kind: 'error', at, message: `metric ${metric.name}: unknown type ${metric.type}` };
  const ends = lookEnds(ctx);
  const interval = promDuration(ctx.intervalMs);
  const cq = builtinQueries(kind, ctx.channel, ctx.version, interval);
  const bq = builtinQueries(kind, ctx.channel, ctx.baselineVersion, interval);
  const range = (q: string): Promise<RangeResult | undefined> =>
    ends.length === 0 ? Promise.resolve(undefined) : provider.queryRange(q, ends[0] as Date, ends[ends.length - 1] as Date, ctx.intervalMs / 1000);
  const [ch, bh, ce, cx, be, bx] = await Promise.all([
    provider.query(cq.hosts, ctx.now),
    provider.query(bq.hosts, ctx.now),
    range(cq.events),
    range(cq.exposure),
    range(bq.events),
    range(bq.exposure),
  ]);
  const series = {
    candidateEvents: pointsOf(ce, ends),
    candidateExposure: pointsOf(cx, ends),
    baselineEvents: pointsOf(be, ends),
    baselineExposure: pointsOf(bx, ends),
  };
  return assemble(metric, ctx, ends, { candidate: hostsOf(ch), baseline: hostsOf(bh) }, series, opts);
}

/** The same observation from in-process counters (the simulator's MetricsProvider): exact differences at the same ends. */
export function observeFromCounts(source: CountsSource, metric: MetricSpec, ctx: RingContext, opts: ObserveOptions = {}): Observation {
  const at = ctx.now.toISOString();
  const kind = BUILTIN_KIND[metric.type];
  if (kind === undefined) return { kind: 'no-data', at, reason: `metric ${metric.name}: custom PromQL metrics need Prometheus` };
  const ends = lookEnds(ctx);
  const hosts = (version: string): Hosts => {
    const c = source.counts(ctx.channel, version, kind, ctx.now, ctx.now);
    return c === 'absent' ? { kind: 'absent' } : c === 'no-data' ? { kind: 'absent', reason: 'empty vector (no series matched): metrics gap' } : { kind: 'value', value: c.hosts };
  };
  const perInterval = (version: string): { events: Series; exposure: Series } => {
    const events: Point[] = [];
    const exposure: Point[] = [];
    let seen = false;
    for (const end of ends) {
      const c = source.counts(ctx.channel, version, kind, new Date(end.getTime() - ctx.intervalMs), end);
      if (typeof c === 'string') {
        events.push({ kind: 'absent' });
        exposure.push({ kind: 'absent' });
      } else {
        seen = true;
        events.push({ kind: 'value', value: c.events });
        exposure.push({ kind: 'value', value: c.exposureHours });
      }
    }
    // Like a range query: no sample at any end is an empty matrix (no look ends: an empty range).
    return seen || ends.length === 0 ? { events: { kind: 'points', points: events }, exposure: { kind: 'points', points: exposure } } : { events: NO_SERIES, exposure: NO_SERIES };
  };
  const c = perInterval(ctx.version);
  const b = perInterval(ctx.baselineVersion);
  return assemble(
    metric,
    ctx,
    ends,
    { candidate: hosts(ctx.version), baseline: hosts(ctx.baselineVersion) },
    { candidateEvents: c.events, candidateExposure: c.exposure, baselineEvents: b.events, baselineExposure: b.exposure },
    opts,
  );
}

/** The ObserveFn the runtime's MetricsAnalyzer takes, over Prometheus. */
export function prometheusObserver(provider: MetricsProvider, opts: ObserveOptions = {}): (metric: MetricSpec, ctx: RingContext) => Promise<Observation> {
  return (metric, ctx) => observeMetric(provider, metric, ctx, opts);
}

// ---------------------------------------------------------------------------------------------------------------

/** One point of a per-interval series: a finite value, absent (no sample), or not finite (NaN, ±Inf). */
type Point = { kind: 'value'; value: number } | { kind: 'absent' } | { kind: 'bad'; what: string };
/** A per-interval series: points at the look's ends, no series at all, or a provider problem. */
type Series = { kind: 'points'; points: Point[] } | { kind: 'none'; reason: string } | { kind: 'error'; message: string };
/** The hosts gauge at now. */
type Hosts = { kind: 'value'; value: number } | { kind: 'absent'; reason?: string } | { kind: 'bad'; reason: string } | { kind: 'error'; message: string };

const NO_SERIES: Series = { kind: 'none', reason: 'empty matrix (no series matched)' };

function pointsOf(r: RangeResult | undefined, ends: Date[]): Series {
  if (r === undefined) return { kind: 'points', points: [] };
  if (r.kind === 'error') return { kind: 'error', message: r.message };
  if (r.kind === 'no-data') return { kind: 'none', reason: r.reason };
  if (r.series.length > 1) return { kind: 'error', message: `prometheus: range query returned ${r.series.length} series, expected 1 (aggregate it, e.g. with sum())` };
  const byTime = new Map<number, number>();
  for (const [t, v] of r.series[0]?.points ?? []) byTime.set(Math.round(t * 1000), v);
  return {
    kind: 'points',
    points: ends.map((end): Point => {
      const v = byTime.get(end.getTime());
      if (v === undefined) return { kind: 'absent' };
      if (!Number.isFinite(v)) return { kind: 'bad', what: Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf' };
      return { kind: 'value', value: v };
    }),
  };
}

function hostsOf(r: QueryResult): Hosts {
  if (r.kind === 'error') return { kind: 'error', message: r.message };
  if (r.kind === 'no-data') return r.reason.startsWith('empty') ? { kind: 'absent', reason: r.reason } : { kind: 'bad', reason: r.reason };
  return { kind: 'value', value: r.value };
}

interface Inputs {
  candidateEvents: Series;
  candidateExposure: Series;
  baselineEvents: Series;
  baselineExposure: Series;
}

/** The shared rules (see the top of the file) from hosts at now and per-interval points, whichever path gave them. */
function assemble(metric: MetricSpec, ctx: RingContext, ends: Date[], hosts: { candidate: Hosts; baseline: Hosts }, s: Inputs, opts: ObserveOptions): Observation {
  const at = ctx.now.toISOString();
  const named: Array<[string, Series | Hosts]> = [
    ['candidate hosts', hosts.candidate],
    ['candidate events', s.candidateEvents],
    ['candidate exposure', s.candidateExposure],
    ['baseline hosts', hosts.baseline],
    ['baseline events', s.baselineEvents],
    ['baseline exposure', s.baselineExposure],
  ];
  for (const [what, x] of named) if (x.kind === 'error') return { kind: 'error', at, message: `${what}: ${x.message}` };
  for (const [what, x] of named) if (x.kind === 'bad') return { kind: 'no-data', at, reason: `${what}: ${x.reason}` };

  const baselineHosts = hosts.baseline.kind === 'value' ? Math.max(0, Math.round(hosts.baseline.value)) : 0;
  // Which candidate series exist. Without pending intervals only the hosts gauge can tell.
  const candidateThere = [hosts.candidate.kind === 'value', ...(ends.length === 0 ? [] : [s.candidateEvents.kind === 'points', s.candidateExposure.kind === 'points'])];
  if (!candidateThere.includes(true)) {
    const baselineThere = hosts.baseline.kind === 'value' || (ends.length > 0 && (s.baselineEvents.kind === 'points' || s.baselineExposure.kind === 'points'));
    if (!baselineThere) return { kind: 'no-data', at, reason: `no series of either version (candidate hosts: ${absentReason(hosts.candidate)})` };
    const intervals = ends.map((end, i): IntervalCounts => ({ end: end.toISOString(), candidate: { ...ZERO }, baseline: baselineIncrement(s, i) ?? { ...ZERO } }));
    return { kind: 'counts', at, intervals, candidateHosts: 0, baselineHosts, candidateMissing: true };
  }
  if (candidateThere.includes(false)) {
    const [what, x] = named.slice(0, 3).find(([, v]) => v.kind === 'none' || v.kind === 'absent') as [string, Series | Hosts];
    return { kind: 'no-data', at, reason: `${what}: ${absentReason(x)}` };
  }

  const intervals: IntervalCounts[] = [];
  const missing: Array<{ end: string; why: string }> = [];
  ends.forEach((end, i) => {
    const iso = end.toISOString();
    const ce = pointAt(s.candidateEvents, i);
    const cx = pointAt(s.candidateExposure, i);
    const why = problem('candidate events', ce) ?? problem('candidate exposure', cx) ?? baselineProblem(s, i);
    if (why !== undefined) {
      missing.push({ end: iso, why });
      return;
    }
    intervals.push({ end: iso, candidate: { events: valueOf(ce), exposureHours: valueOf(cx) }, baseline: baselineIncrement(s, i) ?? { ...ZERO } });
  });
  const candidateHosts = hosts.candidate.kind === 'value' ? Math.max(0, Math.round(hosts.candidate.value)) : 0;
  if (missing.length > 0) {
    const text = describeMissing(missing);
    if (intervals.length === 0) return { kind: 'no-data', at, reason: `no data for ${text}` };
    opts.log?.warn({ metric: metric.name, channel: ctx.channel, version: ctx.version, missing: missing.length }, `metric ${metric.name}: skipped ${text}`);
  }
  return { kind: 'counts', at, intervals, candidateHosts, baselineHosts };
}

const ZERO: Increment = { events: 0, exposureHours: 0 };

function absentReason(x: Series | Hosts): string {
  return (x.kind === 'none' || x.kind === 'absent') && x.reason !== undefined ? x.reason : 'empty vector (no series matched)';
}

function pointAt(s: Series, i: number): Point {
  return s.kind === 'points' ? (s.points[i] ?? { kind: 'absent' }) : { kind: 'absent' };
}

function valueOf(p: Point): number {
  return p.kind === 'value' ? p.value : 0;
}

function problem(what: string, p: Point): string | undefined {
  if (p.kind === 'absent') return `${what}: no sample`;
  if (p.kind === 'bad') return `${what}: ${p.what}`;
  return undefined;
}

/** A baseline point that is NaN/±Inf is a problem; an absent one is zero (the baseline is gone). */
function baselineProblem(s: Inputs, i: number): string | undefined {
  const be = pointAt(s.baselineEvents, i);
  const bx = pointAt(s.baselineExposure, i);
  if (be.kind === 'bad') return `baseline events: ${be.what}`;
  if (bx.kind === 'bad') return `baseline exposure: ${bx.what}`;
  return undefined;
}

function baselineIncrement(s: Inputs, i: number): Increment | undefined {
  if (baselineProblem(s, i) !== undefined) return undefined;
  return { events: valueOf(pointAt(s.baselineEvents, i)), exposureHours: valueOf(pointAt(s.baselineExposure, i)) };
}

/** "the interval ending 12:01:00.000Z (candidate events: no sample)" or "3 intervals ending 12:01:00.000Z..12:03:00.000Z (...)". */
function describeMissing(missing: Array<{ end: string; why: string }>): string {
  const whys = [...new Set(missing.map((m) => m.why))];
  const first = missing[0] as { end: string };
  const last = missing[missing.length - 1] as { end: string };
  const when = missing.length === 1 ? `the interval ending ${first.end}` : `${missing.length} intervals ending ${first.end}..${last.end}`;
  return `${when} (${whys.slice(0, 3).join('; ')}${whys.length > 3 ? '; ...' : ''})`;
}

async function observeCustom(provider: MetricsProvider, metric: MetricSpec, ctx: RingContext, opts: ObserveOptions): Promise<Observation> {
  const at = ctx.now.toISOString();
  const q = metric.query;
  if (!q) return { kind: 'error', at, message: `metric ${metric.name}: custom metric without query` };
  const window = windowFor(ctx, opts);
  const [cand, base, hosts] = await Promise.all([
    provider.query(renderTemplate(q.candidate, ctx, window), ctx.now),
    q.baseline === undefined ? Promise.resolve(undefined) : provider.query(renderTemplate(q.baseline, ctx, window), ctx.now),
    provider.query(builtinQueries('crash', ctx.channel, ctx.version, window).hosts, ctx.now),
  ]);
  const parts: Array<[string, QueryResult]> = [['candidate', cand], ...(base === undefined ? [] : ([['baseline', base]] as Array<[string, QueryResult]>))];
  for (const [what, r] of parts) if (r.kind === 'error') return { kind: 'error', at, message: `${what}: ${r.message}` };
  for (const [what, r] of parts) if (r.kind === 'no-data') return { kind: 'no-data', at, reason: `${what}: ${r.reason}` };
  return {
    kind: 'value',
    at,
    candidate: (cand as { value: number }).value,
    ...(base === undefined ? {} : { baseline: (base as { value: number }).value }),
    ...(hosts.kind === 'value' ? { candidateHosts: hosts.value } : {}),
  };
}
