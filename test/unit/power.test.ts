/**
 * The power calculation (controller/engine/power.ts, `ringctl plan --power`) checked against the judge itself:
 * for each setting, the judge's own judgeMetric runs on RUNS seeded simulated Poisson streams (bench/judge/noise.ts:
 * one ring of a 1,000,000-host fleet, one-minute intervals, one look per interval, candidate at `ratio` x the
 * baseline rate), for exactly the number of intervals intervalsForPower says gives 95% power.
 *
 * Bound: the number of rings detected must be at least the 0.1% quantile of Binomial(RUNS, 0.95): a judge whose
 * true power at that exposure is 95% falls below it in fewer than 1 seed in 1,000 (with RUNS = 400, 365 of 400,
 * i.e. 91.25%). At half that exposure the detection rate must be clearly lower (<= 85%), so the test can tell a
 * planned exposure from a far larger one. Seeds are fixed below; runs use seed, seed + 1, ... (noise.ts tally).
 */
import { binomialQuantile, SENSITIVE_METRIC, tally, FLEET_HOSTS } from '../../bench/judge/noise';
import { intervalsForPower, powerAfter, powerProblem, smallestDetectableRatio, type PowerSetting } from '../../controller/engine/power';
import { testAlphas } from '../../controller/engine/judge';

const RUNS = 400;
const POWER = 0.95;
const LOWER_BOUND = binomialQuantile(RUNS, POWER, 0.001);
const HALF_EXPOSURE_MAX_RATE = 0.85;

/** The example metric alone in a one-ring rollout: α 0.01, its relative test's share (TEST_SHARES) 0.005. */
const metric = SENSITIVE_METRIC;
const relativeAlpha = testAlphas({ rollout: 0.01, metric: 0.01 }, { max: metric.max }).relative;

function setting(ringHosts: number, rate: number): PowerSetting {
  return {
    baselineRate: rate,
    candidateHosts: ringHosts,
    baselineHosts: FLEET_HOSTS - ringHosts,
    intervalHours: 1 / 60,
    maxRatio: metric.maxRatio as number,
    detectRatio: metric.detectRatio as number,
    alpha: relativeAlpha,
  };
}

describe('plan --power: the planned exposure detects the ratio in >= 95% of simulated rings (judgeMetric, Poisson counts)', () => {
  test.each([
    // ring hosts, baseline rate (per host-hour), true ratio, seed
    [10_000, 0.02, 2, 20261202],
    [2_000, 0.02, 3, 20261203],
    [100_000, 0.001, 1.3, 20261204],
  ])('%d-host ring, baseline %d/host-h, ratio %d', (ringHosts, rate, ratio, seed) => {
    const s = setting(ringHosts, rate);
    const n = intervalsForPower(s, ratio, POWER);
    expect(n).not.toBeNull();
    const looks = n as number;
    const full = tally({ ringHosts, looks, ratio, noise: 'poisson', rate, metric }, RUNS, seed);
    const halfLooks = Math.max(1, Math.round(looks / 2));
    const half = tally({ ringHosts, looks: halfLooks, ratio, noise: 'poisson', rate, metric }, RUNS, seed + 100_000);
    console.log(
      `${ringHosts} hosts, rate ${rate}, ${ratio}x: plan says ${looks} intervals (${((looks * ringHosts) / 60).toFixed(0)} host-h) for 95%; ` +
        `judge detected ${full.fails}/${RUNS} (bound >= ${LOWER_BOUND}); at ${halfLooks} intervals ${half.fails}/${RUNS} (predicted ${(100 * powerAfter(s, ratio, halfLooks)).toFixed(1)}%)`,
    );
    expect(full.fails).toBeGreaterThanOrEqual(LOWER_BOUND);
    // The detections are the relative test's (the max guard is far above these rates): what the plan computes.
    expect(full.by.relative).toBe(full.fails);
    expect(half.fails / RUNS).toBeLessThanOrEqual(HALF_EXPOSURE_MAX_RATE);
  }, 180_000);
});

describe('power calculation: shape', () => {
  const s = setting(10_000, 0.02);

  test('power grows with exposure and with the ratio', () => {
    expect(powerAfter(s, 2, 10)).toBeLessThan(powerAfter(s, 2, 20));
    expect(powerAfter(s, 2, 20)).toBeLessThan(powerAfter(s, 2, 40));
    expect(powerAfter(s, 1.5, 30)).toBeLessThan(powerAfter(s, 2, 30));
  }, 60_000);

  test('a ratio at or below maxRatio is never "detected"', () => {
    expect(intervalsForPower(s, 1.1)).toBeNull();
    expect(intervalsForPower(s, 1.0)).toBeNull();
  });

  test('the smallest ratio detectable within the intervals that detect 2x is 2x (to 1%)', () => {
    const n = intervalsForPower(s, 2) as number;
    const r = smallestDetectableRatio(s, n) as number;
    expect(r).toBeGreaterThan(1.96);
    expect(r).toBeLessThan(2.02);
  }, 120_000);

  test('a longer bake detects smaller ratios', () => {
    expect(smallestDetectableRatio(s, 160) as number).toBeLessThan(smallestDetectableRatio(s, 40) as number);
  }, 120_000);

  test('no baseline hosts: no relative test to size (a 100% ring without holdback)', () => {
    expect(powerProblem({ ...s, baselineHosts: 0 })).toMatch(/no baseline hosts/);
    expect(intervalsForPower({ ...s, baselineHosts: 0 }, 2)).toBeNull();
  });
});
