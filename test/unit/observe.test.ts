/**
 * The observation path of built-in metrics (controller/analysis/observe.ts): aligned per-interval increments.
 *
 * - Against a scripted MetricsProvider: the queries asked (one range query per series, evaluated exactly at the
 *   pending interval ends), no rounding, missing and NaN points never zero, candidateMissing, errors.
 * - On a simulated fleet (agent-sim): the Prometheus code path (observeMetric over the simulator's PromQL answers)
 *   and the CountsSource path (observeFromCounts) give the same observation, the increments of successive looks add
 *   up to the exact totals, and a missed look is caught up without double counting.
 */
import * as path from 'node:path';
import { Fleet } from '../../agent-sim/fleet';
import { SimMetricsProvider } from '../../agent-sim/provider';
import { loadScenario } from '../../agent-sim/scenario';
import { SimChannel } from '../../agent-sim/signed';
import { builtinQueries, MAX_INTERVALS_PER_LOOK, observeFromCounts, observeMetric, promDuration } from '../../controller/analysis/observe';
import type { MetricsProvider, RangeResult } from '../../controller/analysis/provider';
import type { Observation, QueryResult, RingContext } from '../../controller/analysis/types';
import { type Exposure } from '../../controller/engine/membership';
import { channelSalt } from '../../controller/runtime/manifest';
import type { MetricSpec } from '../../controller/spec/types';
import { memoryLogger } from '../../controller/telemetry/log';

const START = new Date('2026-12-01T10:00:00Z');
const MIN = 60_000;
const crash: MetricSpec = { name: 'crashes', type: 'crash-rate' };

function ctxAt(minutes: number, afterMinutes = 0, intervalMs = MIN): RingContext {
  return {
    channel: 'c',
    version: '2',
    baselineVersion: '1',
    ringStartedAt: START,
    now: new Date(START.getTime() + minutes * MIN),
    intervalMs,
    after: new Date(START.getTime() + afterMinutes * MIN),
  };
}

/** A scripted provider: instant answers by query, range answers as a value per evaluation time (undefined: no point). */
class Scripted implements MetricsProvider {
  readonly instant: Array<{ q: string; at: number }> = [];
  readonly ranges: Array<{ q: string; start: number; end: number; step: number }> = [];
  constructor(
    private readonly instantAnswers: Record<string, QueryResult>,
    private readonly rangeAnswers: Record<string, RangeResult | ((t: number) => number | undefined)>,
  ) {}
  query(q: string, at: Date): Promise<QueryResult> {
    this.instant.push({ q, at: at.getTime() });
    return Promise.resolve(this.instantAnswers[q] ?? { kind: 'no-data', reason: 'empty vector (no series matched)' });
  }
  queryRange(q: string, start: Date, end: Date, step: number): Promise<RangeResult> {
    this.ranges.push({ q, start: start.getTime(), end: end.getTime(), step });
    const a = this.rangeAnswers[q];
    if (a === undefined) return Promise.resolve({ kind: 'no-data', reason: 'empty matrix (no series matched)' });
    if (typeof a !== 'function') return Promise.resolve(a);
    const points: Array<[number, number]> = [];
    for (let t = start.getTime(); t <= end.getTime(); t += step * 1000) {
      const v = a(t);
      if (v !== undefined) points.push([t / 1000, v]);
    }
    return Promise.resolve(points.length ? { kind: 'series', series: [{ labels: {}, points }] } : { kind: 'no-data', reason: 'empty matrix (no series matched)' });
  }
  isOnline(): Promise<true | string> {
    return Promise.resolve(true);
  }
}

const cq = builtinQueries('crash', 'c', '2', '60s');
const bq = builtinQueries('crash', 'c', '1', '60s');
const hosts = (c: number, b: number): Record<string, QueryResult> => ({ [cq.hosts]: { kind: 'value', value: c }, [bq.hosts]: { kind: 'value', value: b } });
const minuteOf = (t: number): number => (t - START.getTime()) / MIN;

describe('observeMetric (Prometheus path)', () => {
  test('one range query per series at exactly the pending ends (step I), fractional increments kept as they are', async () => {
    const p = new Scripted(hosts(200, 5000), {
      [cq.events]: (t) => 0.5 + minuteOf(t) / 10,
      [cq.exposure]: () => 3.3,
      [bq.events]: (t) => 10.25 * minuteOf(t),
      [bq.exposure]: () => 83.4,
    });
    const obs = await observeMetric(p, crash, { ...ctxAt(5.5, 2) });
    expect(p.ranges.map((r) => [r.q, minuteOf(r.start), minuteOf(r.end), r.step])).toEqual(
      [cq.events, cq.exposure, bq.events, bq.exposure].map((q) => [q, 3, 5, 60]),
    );
    expect(p.instant.map((q) => [q.q, minuteOf(q.at)])).toEqual([
      [cq.hosts, 5.5],
      [bq.hosts, 5.5],
    ]);
    expect(cq.events).toBe('sum(increase(ringmaster_agent_crashes_total{channel="c",version="2",kind="crash"}[60s]))');
    expect(obs).toEqual({
      kind: 'counts',
      at: '2026-12-01T10:05:30.000Z',
      candidateHosts: 200,
      baselineHosts: 5000,
      intervals: [3, 4, 5].map((k) => ({
        end: new Date(START.getTime() + k * MIN).toISOString(),
        candidate: { events: 0.5 + k / 10, exposureHours: 3.3 },
        baseline: { events: 10.25 * k, exposureHours: 83.4 },
      })),
    });
  });

  test('no complete interval pending: no range query, hosts only', async () => {
    const p = new Scripted(hosts(7, 9), {});
    expect(await observeMetric(p, crash, ctxAt(3.9, 3))).toEqual({ kind: 'counts', at: ctxAt(3.9).now.toISOString(), intervals: [], candidateHosts: 7, baselineHosts: 9 });
    expect(p.ranges).toEqual([]);
  });

  test('an interval whose candidate point is absent or NaN is left out and logged, never zero; all missing is no-data naming them', async () => {
    const log = memoryLogger();
    const p = new Scripted(hosts(200, 5000), {
      [cq.events]: (t) => (minuteOf(t) === 2 ? undefined : minuteOf(t) === 3 ? NaN : 1),
      [cq.exposure]: () => 2,
      [bq.events]: () => 4,
      [bq.exposure]: () => 40,
    });
    const obs = await observeMetric(p, crash, ctxAt(4, 0), { log: log.log });
    expect(obs.kind === 'counts' && obs.intervals.map((i) => [i.end.slice(11, 16), i.candidate.events])).toEqual([
      ['10:01', 1],
      ['10:04', 1],
    ]);
    expect(log.lines.map((l) => l.msg)).toEqual([
      'metric crashes: skipped 2 intervals ending 2026-12-01T10:02:00.000Z..2026-12-01T10:03:00.000Z (candidate events: no sample; candidate events: NaN)',
    ]);
    expect(await observeMetric(p, crash, ctxAt(3, 1))).toEqual({
      kind: 'no-data',
      at: ctxAt(3).now.toISOString(),
      reason: 'no data for 2 intervals ending 2026-12-01T10:02:00.000Z..2026-12-01T10:03:00.000Z (candidate events: no sample; candidate events: NaN)',
    });
  });

  test('a baseline point that is NaN drops the interval; an absent baseline point or series is zero (the baseline is gone)', async () => {
    const p = new Scripted(hosts(200, 0), {
      [cq.events]: () => 1,
      [cq.exposure]: () => 2,
      [bq.events]: (t) => (minuteOf(t) === 1 ? NaN : minuteOf(t) === 2 ? 3 : undefined),
      [bq.exposure]: (t) => (minuteOf(t) <= 2 ? 30 : undefined),
    });
    const obs = await observeMetric(p, crash, ctxAt(3));
    expect(obs.kind === 'counts' && obs.intervals.map((i) => [i.end.slice(11, 16), i.baseline])).toEqual([
      ['10:02', { events: 3, exposureHours: 30 }],
      ['10:03', { events: 0, exposureHours: 0 }],
    ]);
    const gone = new Scripted({ [cq.hosts]: { kind: 'value', value: 200 } }, { [cq.events]: () => 1, [cq.exposure]: () => 2 });
    const all = await observeMetric(gone, crash, ctxAt(2));
    expect(all).toMatchObject({ kind: 'counts', baselineHosts: 0, intervals: [{ baseline: { events: 0, exposureHours: 0 } }, { baseline: { events: 0, exposureHours: 0 } }] });
  });

  test('no candidate series while the baseline is there: candidateMissing with zero increments and the real baseline', async () => {
    const p = new Scripted({ [bq.hosts]: { kind: 'value', value: 5000 } }, { [bq.events]: () => 4, [bq.exposure]: () => 80 });
    expect(await observeMetric(p, crash, ctxAt(2))).toEqual({
      kind: 'counts',
      at: ctxAt(2).now.toISOString(),
      candidateMissing: true,
      candidateHosts: 0,
      baselineHosts: 5000,
      intervals: [1, 2].map((k) => ({ end: new Date(START.getTime() + k * MIN).toISOString(), candidate: { events: 0, exposureHours: 0 }, baseline: { events: 4, exposureHours: 80 } })),
    });
    // Before the first interval ends, the hosts gauges alone tell.
    expect(await observeMetric(p, crash, ctxAt(0.5))).toMatchObject({ kind: 'counts', candidateMissing: true, intervals: [], baselineHosts: 5000 });
    // Neither version has series: no data.
    expect(await observeMetric(new Scripted({}, {}), crash, ctxAt(2))).toEqual({
      kind: 'no-data',
      at: ctxAt(2).now.toISOString(),
      reason: 'no series of either version (candidate hosts: empty vector (no series matched))',
    });
  });

  test('some candidate series without the others breaks the contract: no-data naming the missing one', async () => {
    const p = new Scripted(hosts(200, 5000), { [cq.exposure]: () => 2, [bq.events]: () => 4, [bq.exposure]: () => 80 });
    expect(await observeMetric(p, crash, ctxAt(2))).toMatchObject({ kind: 'no-data', reason: 'candidate events: empty matrix (no series matched)' });
    const nan = new Scripted({ ...hosts(200, 5000), [cq.hosts]: { kind: 'no-data', reason: 'the query returned NaN' } }, { [cq.events]: () => 1, [cq.exposure]: () => 2 });
    expect(await observeMetric(nan, crash, ctxAt(2))).toMatchObject({ kind: 'no-data', reason: 'candidate hosts: the query returned NaN' });
  });

  test('a provider error is an error naming the series; two series are an error (aggregate)', async () => {
    const p = new Scripted(hosts(200, 5000), { [cq.events]: () => 1, [cq.exposure]: () => 2, [bq.events]: { kind: 'error', message: 'prometheus: POST http://p/api/v1/query_range: timed out after 5000 ms' } });
    expect(await observeMetric(p, crash, ctxAt(2))).toMatchObject({ kind: 'error', message: 'baseline events: prometheus: POST http://p/api/v1/query_range: timed out after 5000 ms' });
    const two: RangeResult = { kind: 'series', series: [{ labels: { a: '1' }, points: [] }, { labels: { a: '2' }, points: [] }] };
    const q = new Scripted(hosts(200, 5000), { [cq.events]: two, [cq.exposure]: () => 2 });
    expect(await observeMetric(q, crash, ctxAt(2))).toMatchObject({ kind: 'error', message: expect.stringMatching(/^candidate events: .*2 series, expected 1/) });
  });

  test('update failures and bsods use their own counters; a non-second interval is written in ms', async () => {
    expect(builtinQueries('update-failure', 'c', '2', promDuration(1500)).events).toBe('sum(increase(ringmaster_agent_update_failures_total{channel="c",version="2"}[1500ms]))');
    expect(builtinQueries('bsod', 'c', '2', promDuration(120_000)).events).toBe('sum(increase(ringmaster_agent_crashes_total{channel="c",version="2",kind="bsod"}[120s]))');
  });

  test('a long catch-up is capped per look (Prometheus refuses more than 11,000 points); the rest come next look', async () => {
    const c1 = builtinQueries('crash', 'c', '2', '1s');
    const b1 = builtinQueries('crash', 'c', '1', '1s');
    const answers = { [c1.events]: () => 0, [c1.exposure]: () => 1, [b1.events]: () => 0, [b1.exposure]: () => 1 };
    const p = new Scripted({ [c1.hosts]: { kind: 'value', value: 1 }, [b1.hosts]: { kind: 'value', value: 1 } }, answers);
    const obs = await observeMetric(p, crash, ctxAt(200, 0, 1000));
    expect(obs.kind === 'counts' && obs.intervals.length).toBe(MAX_INTERVALS_PER_LOOK);
    expect(p.ranges[0]).toMatchObject({ start: START.getTime() + 1000, end: START.getTime() + MAX_INTERVALS_PER_LOOK * 1000, step: 1 });
  });
});

describe('on a simulated fleet: the Prometheus path and the CountsSource path agree', () => {
  const sc = loadScenario(path.join(__dirname, '..', '..', 'examples', 'scenarios', 'bad-content-update.yaml'), { hosts: 20_000 });
  const channel = new SimChannel('sensor-content', { baseline: '1', candidate: '2' });
  const salt = channelSalt('sensor-content');
  const scenario = { ...sc, candidate: { ...sc.candidate, crashRateMultiplier: 3, crashOnBoot: 0, updateFailure: 0.05 }, fleet: { ...sc.fleet, crashRate: 0.05, bsodRate: 0.02 } };
  const fleet = new Fleet(scenario, channel.agent(), 0);
  // Nobody takes the candidate for the first 10 minutes; then half the fleet does (signed manifests, as agents get them).
  const none = channel.publish(null);
  const exposure: Exposure = { salt, activeRing: 0, rings: [{ name: 'half', basisPoints: 5_000 }] };
  const half = channel.publish(exposure);
  for (let t = 0; t < 3_600_000; t += sc.tickMs) fleet.step(t, sc.tickMs, t < 600_000 ? none : half);
  const provider = new SimMetricsProvider(fleet, 'sensor-content', { baseline: '1', candidate: '2' }, [{ from: 3_000_000, to: 3_300_000 }]);
  const ctx = (nowMs: number, afterMs: number, intervalMs = MIN): RingContext => ({
    channel: 'sensor-content',
    version: '2',
    baselineVersion: '1',
    ringStartedAt: new Date(0),
    now: new Date(nowMs),
    intervalMs,
    after: new Date(afterMs),
  });
  const both = async (metric: MetricSpec, c: RingContext): Promise<Observation> => {
    const counts = observeFromCounts(provider, metric, c);
    expect(await observeMetric(provider, metric, c)).toEqual(counts);
    return counts;
  };

  test.each(['crash-rate', 'bsod-rate', 'update-failure-rate'] as const)('%s: the same observation both ways, and the increments add up to the exact total', async (type) => {
    const metric = { name: type, type } as MetricSpec;
    // Looks every 5 minutes from minute 15 to 45 (before the gap), each consuming what the last one did not.
    let after = 600_000;
    let events = 0;
    let exposure = 0;
    for (let now = 900_000 + 7_000; now < 2_800_000; now += 300_000) {
      const obs = await both(metric, ctx(now, after));
      expect(obs.kind).toBe('counts');
      if (obs.kind !== 'counts') continue;
      expect(obs.candidateMissing).toBeUndefined();
      expect(obs.intervals.length).toBeGreaterThan(0);
      expect(obs.candidateHosts + obs.baselineHosts).toBe(fleet.n);
      for (const i of obs.intervals) {
        expect(Date.parse(i.end)).toBeGreaterThan(after);
        events += i.candidate.events;
        exposure += i.candidate.exposureHours;
      }
      after = Date.parse(obs.intervals[obs.intervals.length - 1]?.end ?? '');
    }
    const total = provider.counts('sensor-content', '2', type === 'crash-rate' ? 'crash' : type === 'bsod-rate' ? 'bsod' : 'update-failure', new Date(600_000), new Date(after));
    expect(typeof total).toBe('object');
    if (typeof total === 'object') {
      expect(events).toBe(total.events);
      expect(events).toBeGreaterThan(0);
      expect(exposure).toBeCloseTo(total.exposureHours, 6);
    }
  });

  test('before anyone runs the candidate: candidateMissing both ways; in a metrics gap: no data both ways', async () => {
    const early = await both(crash, ctx(300_000, 0));
    expect(early).toMatchObject({ kind: 'counts', candidateMissing: true, candidateHosts: 0, baselineHosts: fleet.n });
    expect(early.kind === 'counts' && early.intervals).toHaveLength(5);
    expect(early.kind === 'counts' && early.intervals.every((i) => i.candidate.events === 0 && i.baseline.exposureHours > 0)).toBe(true);
    const gap = await both(crash, ctx(3_100_000, 2_940_000));
    expect(gap.kind).toBe('no-data');
    // After the gap: the intervals that ended inside it are left out, the later ones are there.
    const after = await both(crash, ctx(3_420_000, 2_940_000));
    expect(after.kind === 'counts' && after.intervals.map((i) => Date.parse(i.end) / MIN)).toEqual([55, 56, 57]);
  });

  test('a missed look is caught up: one look over ten intervals equals ten looks of one', async () => {
    const one = await both(crash, ctx(2_400_000, 1_800_000));
    const ten: number[] = [];
    for (let k = 31; k <= 40; k++) {
      const o = await both(crash, ctx(k * MIN, (k - 1) * MIN));
      if (o.kind === 'counts') ten.push(...o.intervals.map((i) => i.candidate.events));
    }
    expect(one.kind === 'counts' && one.intervals.map((i) => i.candidate.events)).toEqual(ten);
    expect(ten).toHaveLength(10);
  });
});
