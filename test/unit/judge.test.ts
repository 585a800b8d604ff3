/** The judge's rules, one by one: guards, minimum samples, no-data and errors, custom values, carried state. */
import type { Observation } from '../../controller/analysis/types';
import { judgeMetric, judgeRing, type MetricJudgeState } from '../../controller/engine/judge';
import type { MetricSpec } from '../../controller/spec/types';

const AT = '2026-11-30T14:05:00.000Z';
const crash: MetricSpec = { name: 'crashes', type: 'crash-rate', max: 0.05, maxRatio: 1.2, minHosts: 50, minExposure: 25 };
const counts = (c: [number, number, number], b: [number, number, number]): Observation => ({
  kind: 'counts',
  at: AT,
  candidate: { events: c[0], exposureHours: c[1], hosts: c[2] },
  baseline: { events: b[0], exposureHours: b[1], hosts: b[2] },
});

describe('judgeMetric', () => {
  test('a catastrophic update fails on the first evaluation that sees it, with the numbers', () => {
    // 2,000 canary hosts, 1,900 crashed on boot and stopped reporting: the first look, 1 minute in.
    const j = judgeMetric(crash, counts([1900, 1.2, 100], [7, 16_600, 998_000]), undefined);
    expect(j.verdict.result).toBe('fail');
    expect(j.verdict.reason).toMatch(/above max 0\.05/);
    expect(j.verdict.candidate).toMatchObject({ events: 1900, hosts: 100 });
    expect(j.verdict.sample?.touchedHosts).toBeGreaterThanOrEqual(2000);
    expect(j.verdict.guards[0]).toMatchObject({ guard: 'max', limit: 0.05, breached: true });
    expect(j.verdict.sprt?.upper).toBeCloseTo(Math.log(100), 6);
  });

  test('no data and provider errors are never a pass', () => {
    expect(judgeMetric(crash, { kind: 'no-data', at: AT, reason: 'empty vector' }, undefined).verdict.result).toBe('inconclusive');
    expect(judgeMetric(crash, { kind: 'error', at: AT, message: 'ECONNREFUSED' }, undefined).verdict.result).toBe('error');
    const ring = judgeRing([crash, { ...crash, name: 'bsod', type: 'bsod-rate' }], { crashes: counts([0, 500, 2000], [10, 100_000, 998_000]), bsod: { kind: 'no-data', at: AT, reason: 'NaN' } }, {});
    expect(ring.result).not.toBe('pass');
  });

  test('below minHosts or minExposure a clean ring is inconclusive, then passes once the sample is there', () => {
    expect(judgeMetric(crash, counts([0, 10, 2000], [10, 100_000, 998_000]), undefined).verdict.result).toBe('inconclusive');
    expect(judgeMetric(crash, counts([0, 500, 20], [10, 100_000, 998_000]), undefined).verdict.result).toBe('inconclusive');
    expect(judgeMetric(crash, counts([0, 500, 2000], [10, 100_000, 998_000]), undefined).verdict.result).toBe('pass');
  });

  test('too few touched hosts cannot fail, however bad the rate looks', () => {
    const j = judgeMetric(crash, counts([10, 0.5, 5], [10, 100_000, 998_000]), undefined);
    expect(j.verdict.result).toBe('inconclusive');
    expect(j.verdict.reason).toMatch(/only 15 candidate hosts/);
  });

  test('the sequential statistic is carried between looks and a fail is sticky', () => {
    let state: MetricJudgeState | undefined;
    let result = '';
    const looks: string[] = [];
    for (let i = 1; i <= 30 && result !== 'fail'; i++) {
      // candidate at 3x the baseline rate, no guard breach (rate 0.006 < 0.05)
      const j = judgeMetric({ ...crash, max: undefined }, counts([Math.round(0.006 * 200 * i), 200 * i, 10_000], [Math.round(0.002 * 20_000 * i), 20_000 * i, 990_000]), state);
      state = j.state;
      result = j.verdict.result;
      looks.push(result);
    }
    expect(result).toBe('fail');
    expect(looks.length).toBeGreaterThan(1);
    const again = judgeMetric(crash, counts([0, 1e6, 10_000], [0, 1e6, 990_000]), state);
    expect(again.verdict.result).toBe('fail');
  });

  test('custom metrics: max and maxRatio on a value; counts for a custom metric are an error', () => {
    const custom: MetricSpec = { name: 'p99', type: 'custom', query: { candidate: 'x', baseline: 'y' }, max: 5, maxRatio: 1.5, minHosts: 10 };
    expect(judgeMetric(custom, { kind: 'value', at: AT, candidate: 6, baseline: 1, candidateHosts: 100 }, undefined).verdict.result).toBe('fail');
    expect(judgeMetric(custom, { kind: 'value', at: AT, candidate: 2, baseline: 1, candidateHosts: 100 }, undefined).verdict.result).toBe('fail');
    expect(judgeMetric(custom, { kind: 'value', at: AT, candidate: 1.2, baseline: 1, candidateHosts: 100 }, undefined).verdict.result).toBe('pass');
    expect(judgeMetric(custom, counts([1, 1, 1], [1, 1, 1]), undefined).verdict.result).toBe('error');
  });
});
