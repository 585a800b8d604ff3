/**
 * The judge's rules, one by one, on hand-built aligned per-interval observations: the catastrophic test and the
 * guards, minimum samples, no-data and errors, intervals consumed once, the per-interval cap, custom values,
 * carried state, α per rollout and the evidence a pass states.
 */
import type { IntervalCounts, Observation } from '../../controller/engine/observation';
import { alphaLedger, judgeMetric, judgeRing, LAMBDA_MAX, type MetricJudgeState } from '../../controller/engine/judge';
import type { MetricSpec, RolloutSpec } from '../../controller/spec/types';

const T0 = Date.UTC(2026, 10, 30, 14, 0);
const iso = (minute: number): string => new Date(T0 + minute * 60_000).toISOString();
const crash: MetricSpec = { name: 'crashes', type: 'crash-rate', max: 0.05, maxRatio: 1.2, minHosts: 50, minExposure: 25 };

/** One interval ending at `minute`: [candidate events, host-h], [baseline events, host-h]. */
const iv = (minute: number, c: [number, number], b: [number, number]): IntervalCounts => ({
  end: iso(minute),
  candidate: { events: c[0], exposureHours: c[1] },
  baseline: { events: b[0], exposureHours: b[1] },
});
const obs = (minute: number, intervals: IntervalCounts[], hosts: [number, number], extra: Partial<Extract<Observation, { kind: 'counts' }>> = {}): Observation => ({
  kind: 'counts',
  at: iso(minute),
  intervals,
  candidateHosts: hosts[0],
  baselineHosts: hosts[1],
  ...extra,
});

/** A ring of `hosts` candidate hosts in a 1M fleet: per-minute exposure and expected counts at `rate` x ratio. */
function steady(minute: number, hosts: number, rate: number, ratio: number): IntervalCounts {
  const e = hosts / 60;
  const f = (1_000_000 - hosts) / 60;
  return iv(minute, [Math.round(rate * ratio * e), e], [Math.round(rate * f), f]);
}

describe('judgeMetric', () => {
  test('a first-wave catastrophe fails on the first look that has minHosts touched hosts, naming the catastrophic test', () => {
    // The first wave: 50 hosts installed in the first minute, 47 crashed on boot (BSOD at install, no exposure);
    // 3 report. The relative test cannot fail on a first look; the catastrophic test can.
    const j = judgeMetric({ ...crash, name: 'bsod', type: 'bsod-rate', max: 0.02 }, obs(1, [iv(1, [47, 0.02], [5, 16_600])], [3, 999_950]), undefined);
    expect(j.verdict.result).toBe('fail');
    expect(j.verdict.reason).toMatch(/catastrophic bsod rate, above 10 x max 0\.02/);
    expect(j.verdict.reason).toMatch(/per rollout/);
    expect(j.verdict.sample?.touchedHosts).toBe(50);
    expect(j.verdict.guards.find((g) => g.guard === 'catastrophic')?.breached).toBe(true);
    expect(j.verdict.relative?.logE).toBe(0);
  });

  test('below the catastrophic level a guard breach cannot fail on the first look, but fails a few looks later', () => {
    // 3 x max: 0.15 crashes per host-hour on 2,000 hosts (5 per minute), baseline 0.02.
    let state: MetricJudgeState | undefined;
    const results: string[] = [];
    for (let m = 1; m <= 30 && results[results.length - 1] !== 'fail'; m++) {
      const j = judgeMetric({ ...crash, maxRatio: 100, detectRatio: 200 }, obs(m, [iv(m, [5, 2000 / 60], [330, 998_000 / 60])], [2000, 998_000]), state);
      state = j.state;
      results.push(j.verdict.result);
    }
    expect(results[0]).not.toBe('fail');
    expect(results[results.length - 1]).toBe('fail');
    expect(results.length).toBeGreaterThan(1);
    expect(state?.failure?.reason).toMatch(/above max 0\.05\/host-h/);
  });

  test('no data and provider errors are never a pass; a candidate without series is no data', () => {
    expect(judgeMetric(crash, { kind: 'no-data', at: iso(1), reason: 'empty vector' }, undefined).verdict.result).toBe('inconclusive');
    expect(judgeMetric(crash, { kind: 'error', at: iso(1), message: 'ECONNREFUSED' }, undefined).verdict.result).toBe('error');
    const missing = judgeMetric(crash, obs(1, [iv(1, [0, 0], [330, 16_600])], [0, 1_000_000], { candidateMissing: true }), undefined);
    expect(missing.verdict.result).toBe('inconclusive');
    expect(missing.verdict.reason).toMatch(/no data: the candidate has no series yet/);
    const ring = judgeRing([crash, { ...crash, name: 'bsod', type: 'bsod-rate' }], { crashes: obs(1, [steady(1, 2000, 0.02, 1)], [2000, 998_000]), bsod: { kind: 'no-data', at: iso(1), reason: 'NaN' } }, {});
    expect(ring.result).not.toBe('pass');
  });

  test('invalid increments (NaN, negative) are no data and are not consumed', () => {
    const bad = judgeMetric(crash, obs(1, [iv(1, [-3, 10], [330, 16_600])], [2000, 998_000]), undefined);
    expect(bad.verdict.result).toBe('inconclusive');
    expect(bad.verdict.reason).toMatch(/invalid counts/);
    expect(bad.state.consumedUntil).toBeNull();
    expect(judgeMetric(crash, obs(1, [iv(1, [NaN, 10], [330, 16_600])], [2000, 998_000]), undefined).state.intervals).toBe(0);
  });

  test('an interval is consumed once: the same observation twice does not count twice, a catch-up look brings several', () => {
    const first = judgeMetric(crash, obs(2, [steady(1, 10_000, 0.02, 1), steady(2, 10_000, 0.02, 1)], [10_000, 990_000]), undefined);
    expect(first.state.intervals).toBe(2);
    expect(first.state.consumedUntil).toBe(iso(2));
    const again = judgeMetric(crash, obs(2, [steady(1, 10_000, 0.02, 1), steady(2, 10_000, 0.02, 1)], [10_000, 990_000]), first.state);
    expect(again.state.intervals).toBe(2);
    expect(again.state.candidate).toEqual(first.state.candidate);
  });

  test('below minHosts or minExposure a clean ring is inconclusive, then passes once the sample is there', () => {
    let state: MetricJudgeState | undefined;
    const metric: MetricSpec = { ...crash, minExposure: 100 };
    const at = (m: number, hosts: number): string => {
      const j = judgeMetric(metric, obs(m, [steady(m, hosts, 0.02, 1)], [hosts, 1_000_000 - hosts]), state);
      state = j.state;
      return `${j.verdict.result}: ${j.verdict.reason}`;
    };
    expect(at(1, 20)).toMatch(/^inconclusive: crashes: 20 candidate hosts reporting, need minHosts 50/);
    expect(at(2, 2000)).toMatch(/^inconclusive: crashes: 33\.7 candidate host-hours, need minExposure 100/);
    expect(at(3, 2000)).toMatch(/^inconclusive: crashes: 67 candidate host-hours/);
    expect(at(4, 2000)).toMatch(/^pass: crashes: no regression detected/);
  });

  test('too few touched hosts cannot fail, however bad the rate looks; the verdict raises concern', () => {
    const j = judgeMetric(crash, obs(1, [iv(1, [10, 0.05], [330, 16_600])], [5, 999_000]), undefined);
    expect(j.verdict.result).toBe('inconclusive');
    expect(j.verdict.reason).toMatch(/only 15 candidate hosts ran the update/);
    expect(j.verdict.concern).toBe(true);
  });

  test('the relative statistic is carried between looks and a fail is sticky', () => {
    let state: MetricJudgeState | undefined;
    let result = '';
    let looks = 0;
    for (let m = 1; m <= 120 && result !== 'fail'; m++) {
      // candidate at 3x the baseline rate, below the guard (0.006 < 0.05)
      const j = judgeMetric({ ...crash, max: undefined }, obs(m, [steady(m, 10_000, 0.002, 3)], [10_000, 990_000]), state);
      state = j.state;
      result = j.verdict.result;
      looks = m;
    }
    expect(result).toBe('fail');
    expect(looks).toBeGreaterThan(2);
    expect(state?.failure?.reason).toMatch(/exceeds 1\.2x baseline \(e-value ln/);
    const again = judgeMetric(crash, obs(200, [steady(200, 10_000, 0.002, 1)], [10_000, 990_000]), state);
    expect(again.verdict.result).toBe('fail');
  });

  test('no single interval adds more than half of ln(1/alpha) to the relative statistic', () => {
    let state: MetricJudgeState | undefined;
    const metric: MetricSpec = { ...crash, max: undefined, alpha: 0.01 };
    // Ten minutes at 1.5x the baseline: the bets are on (the data point above maxRatio), the statistic is below 1/α.
    for (let m = 1; m <= 10; m++) state = judgeMetric(metric, obs(m, [steady(m, 10_000, 0.02, 1.5)], [10_000, 990_000]), state).state;
    expect(state?.relative.logE ?? 0).toBeLessThan(Math.log(100));
    // A burst: 1,000 candidate crashes in one minute against an expected 3.3.
    const j = judgeMetric(metric, obs(11, [iv(11, [1000, 10_000 / 60], [330, 990_000 / 60])], [10_000, 990_000]), state);
    const rel = j.verdict.relative;
    expect(rel).not.toBeNull();
    expect(rel?.maxIntervalIncrement).toBeCloseTo(Math.log(100) / 2, 12);
    expect(rel?.increment).toBeLessThanOrEqual((rel?.maxIntervalIncrement ?? 0) + 1e-12);
    expect(rel?.increment).toBeGreaterThan(0);
    expect(j.verdict.result).not.toBe('fail');
    expect(LAMBDA_MAX).toBeLessThan(1);
  });

  test('a pass states its evidence; requireEvidence holds the ring until a ratio <= detectRatio is ruled out', () => {
    const metric: MetricSpec = { ...crash, max: undefined, maxRatio: 1.1, detectRatio: 1.5 };
    let state: MetricJudgeState | undefined;
    let early = '';
    let last: ReturnType<typeof judgeMetric> | undefined;
    for (let m = 1; m <= 240; m++) {
      last = judgeMetric(metric, obs(m, [steady(m, 100_000, 0.02, 1)], [100_000, 900_000]), state, { requireEvidence: true });
      state = last.state;
      if (m === 12) early = `${last.verdict.result}: ${last.verdict.reason}`;
    }
    expect(early).toMatch(/^inconclusive: crashes: requireEvidence: /);
    expect(last?.verdict.result).toBe('pass');
    expect(last?.verdict.relative?.ruledOutRatio).not.toBeNull();
    expect(last?.verdict.relative?.ruledOutRatio ?? 99).toBeLessThanOrEqual(1.5);
    expect(last?.verdict.relative?.powerAtDetectRatio ?? 0).toBeGreaterThan(0.9);
    expect(last?.verdict.reason).toMatch(/ruled out, power at 1\.5x/);
  });

  test('a state from the older judge restarts the tests instead of misreading them', () => {
    const old = { v: 1, theta0: 1.2, theta1: 2, llr: 3 } as unknown as MetricJudgeState;
    const j = judgeMetric(crash, obs(1, [steady(1, 2000, 0.02, 1)], [2000, 998_000]), old);
    expect(j.state.v).toBe(2);
    expect(j.verdict.notes.join(' ')).toMatch(/older judge/);
  });

  test('custom metrics: max and maxRatio on a value; counts for a custom metric are an error', () => {
    const custom: MetricSpec = { name: 'p99', type: 'custom', query: { candidate: 'x', baseline: 'y' }, max: 5, maxRatio: 1.5, minHosts: 10 };
    expect(judgeMetric(custom, { kind: 'value', at: iso(1), candidate: 6, baseline: 1, candidateHosts: 100 }, undefined).verdict.result).toBe('fail');
    expect(judgeMetric(custom, { kind: 'value', at: iso(1), candidate: 2, baseline: 1, candidateHosts: 100 }, undefined).verdict.result).toBe('fail');
    expect(judgeMetric(custom, { kind: 'value', at: iso(1), candidate: 1.2, baseline: 1, candidateHosts: 100 }, undefined).verdict.result).toBe('pass');
    expect(judgeMetric(custom, obs(1, [steady(1, 2000, 0.02, 1)], [2000, 998_000]), undefined).verdict.result).toBe('error');
  });
});

describe('alpha per rollout', () => {
  const spec = {
    channel: 'c',
    version: '2.0.0',
    previousVersion: '1.0.0',
    artifact: { url: 'https://x/a', sha256: 'a'.repeat(64) },
    rings: [{ name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '30m' }, { name: 'early', percent: 1, bake: '2h' }, { name: 'broad', percent: 10, bake: '24h' }, { name: 'full', percent: 100, bake: '24h' }],
    analysis: { metrics: [crash, { ...crash, name: 'bsod', type: 'bsod-rate', max: 0.02 }] },
  } as unknown as RolloutSpec;

  test('alpha is split over rings, metrics and the built-in signals, and the verdict states the rollout rate', () => {
    const ledger = alphaLedger(spec);
    expect(ledger.rollout).toBe(0.01);
    expect(ledger.metrics).toEqual(['crashes', 'bsod', 'update-failures', 'silent-hosts']);
    expect(ledger.perMetric).toBeCloseTo(0.01 / 4 / 4, 15);
    const bsod = judgeRing(spec.analysis?.metrics ?? [], { bsod: obs(1, [iv(1, [47, 0.02], [5, 16_600])], [3, 999_950]) }, {}, { ledger });
    const v = bsod.metrics.find((m) => m.metric === 'bsod');
    expect(v?.result).toBe('fail');
    expect(v?.reason).toMatch(/false-fail rate <= 0\.01 per rollout/);
    expect(v?.guards.find((g) => g.guard === 'catastrophic')?.alpha).toBeCloseTo(((0.01 / 16) * 0.25 * 6) / Math.PI ** 2, 15);
    expect(bsod.touchedHosts).toBe(50);
  });

  test('the smallest alpha of the rollout\'s metrics is the rollout rate', () => {
    const strict = { ...spec, analysis: { metrics: [{ ...crash, alpha: 0.001 }, { ...crash, name: 'bsod', type: 'bsod-rate' }] } } as unknown as RolloutSpec;
    expect(alphaLedger(strict).rollout).toBe(0.001);
  });
});
