/**
 * Statistical properties of the judge (pure, seeded, no Prometheus) under continuous monitoring: one look per
 * one-minute interval for the whole ring, as the runtime does, through the harness of bench/judge/noise.ts (a ring
 * of a 1,000,000-host fleet, baseline = the rest, baseline crash rate 0.02 per host-hour).
 *
 * False fails are measured at the boundary, true ratio = maxRatio (1.1), with the relative test alone spending the
 * whole α = 0.01 (the strict check; the example metric splits α over three tests), 500 runs per noise model. Each
 * measured count is asserted against the 99th percentile of Binomial(500, 0.01): a test that holds α fails this
 * assertion in fewer than 1% of seeds. The 2,000-run tables, 1,440 looks and the other ring sizes are in make soak
 * (bench/judge/soak.ts).
 */
import {
  binomialQuantile,
  CRASH_RATE,
  NOISE_MODELS,
  quantile,
  RELATIVE_ONLY_METRIC,
  SENSITIVE_METRIC,
  tally,
  type NoiseModel,
} from '../../bench/judge/noise';

const RUNS = 500;
const ALPHA = 0.01;
const BOUND = binomialQuantile(RUNS, ALPHA, 0.99);

describe(`false fails at the boundary stay within Binomial(${RUNS}, ${ALPHA})'s 99th percentile`, () => {
  test.each(NOISE_MODELS.map((n) => [n]))('%s noise: 10,000-host ring, 120 looks', (noise: NoiseModel) => {
    const t = tally({ ringHosts: 10_000, looks: 120, ratio: 1.1, noise, rate: CRASH_RATE, metric: RELATIVE_ONLY_METRIC }, RUNS, 20261201);
    console.log(`${noise}: ${t.fails}/${RUNS} false fails (bound ${BOUND}); ${t.passesAtEnd} rings passed at the end; ${t.belowCapRuns} rings hit the baseline cap`);
    expect(t.fails).toBeLessThanOrEqual(BOUND);
    // A healthy ring is not just "not failed": it passes once the minimum sample is there.
    expect(t.passesAtEnd).toBe(RUNS - t.fails);
  });

  test('the max guard at candidate rate = max under gamma(4) noise (guard and catastrophic test at alpha 0.01 each)', () => {
    const metric = { ...SENSITIVE_METRIC, maxRatio: 100, detectRatio: 200, max: 0.05 };
    const t = tally({ ringHosts: 10_000, looks: 120, ratio: 1, noise: 'gamma', rate: CRASH_RATE, metric, candidateRate: 1, opts: { alpha: { rollout: 4 * ALPHA, metric: 4 * ALPHA } } }, RUNS, 11);
    console.log(`guard at max: ${t.by.max} max-guard and ${t.by.catastrophic} catastrophic false fails / ${RUNS} (bound ${BOUND} each)`);
    expect(t.by.max).toBeLessThanOrEqual(BOUND);
    expect(t.by.catastrophic).toBeLessThanOrEqual(BOUND);
  });
});

describe('power of the example metric (maxRatio 1.1, detectRatio 1.5, max 0.05; alpha 0.01 over its tests)', () => {
  const power = (ringHosts: number, ratio: number, noise: NoiseModel, runs: number, seed: number): { rate: number; median: number | null; p95: number | null } => {
    const t = tally({ ringHosts, looks: 120, ratio, noise, rate: CRASH_RATE, metric: SENSITIVE_METRIC }, runs, seed);
    const out = { rate: t.fails / runs, median: quantile(t.looksToFail, 0.5), p95: quantile(t.looksToFail, 0.95) };
    console.log(`${ratio}x, ${ringHosts} hosts, ${noise}: detected ${t.fails}/${runs} within 120 looks; looks to detection median ${out.median}, 95th percentile ${out.p95}`);
    return out;
  };

  test('3x is caught in a 2,000-host canary within 120 looks in >= 95% of rings (Poisson and gamma(4) noise)', () => {
    expect(power(2_000, 3, 'poisson', 200, 3).rate).toBeGreaterThanOrEqual(0.95);
    expect(power(2_000, 3, 'gamma', 200, 4).rate).toBeGreaterThanOrEqual(0.95);
  });

  test('2x is caught in a 10,000-host ring within 120 looks in >= 95% of rings under gamma(4) noise', () => {
    expect(power(10_000, 2, 'gamma', 200, 5).rate).toBeGreaterThanOrEqual(0.95);
  });

  test('1.5x is caught in a 100,000-host ring within 120 looks in >= 90% of rings under common-mode noise', () => {
    expect(power(100_000, 1.5, 'common', 200, 6).rate).toBeGreaterThanOrEqual(0.9);
  });
});
