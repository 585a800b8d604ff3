/**
 * Statistical properties of the judge (pure, seeded, no Prometheus), under continuous monitoring: the judge
 * looks at the cumulative counts every analysis interval for the whole ring, as the runtime does.
 *
 * Model of a 1% ring of a million-host fleet: 10,000 candidate hosts against 990,000 on the baseline, one look
 * per minute for 2 hours (120 looks), a baseline crash rate of 0.02 per host-hour. Noise is overdispersed: each
 * minute, each version's rate is multiplied by an independent gamma(shape 50) factor (CV 14%), on top of
 * Poisson counts, so the counts are gamma-Poisson, not Poisson.
 */
import { Rng } from '../../agent-sim/random';
import type { Observation } from '../../controller/analysis/types';
import { judgeMetric, type MetricJudgeState } from '../../controller/engine/judge';
import type { MetricSpec } from '../../controller/spec/types';

const RUNS = 500;
const LOOKS = 120;
const CAND_HOSTS = 10_000;
const BASE_HOSTS = 990_000;
const RATE = 0.02; // crashes per host-hour
const NOISE_SHAPE = 50;
const ALPHA = 0.01;

const metric: MetricSpec = { name: 'crashes', type: 'crash-rate', alpha: ALPHA, beta: 0.05, maxRatio: 1, detectRatio: 2, minHosts: 50, minExposure: 25 };

/** One ring: returns the look (1-based) of the first fail, or null. */
function ring(rng: Rng, ratio: number): { failAt: number | null; passes: number } {
  let state: MetricJudgeState | undefined;
  const c = { events: 0, exposureHours: 0, hosts: CAND_HOSTS };
  const b = { events: 0, exposureHours: 0, hosts: BASE_HOSTS };
  let passes = 0;
  for (let look = 1; look <= LOOKS; look++) {
    const ce = CAND_HOSTS / 60;
    const be = BASE_HOSTS / 60;
    c.exposureHours += ce;
    b.exposureHours += be;
    c.events += rng.poisson(RATE * ratio * ce * rng.gamma(NOISE_SHAPE, 1 / NOISE_SHAPE));
    b.events += rng.poisson(RATE * be * rng.gamma(NOISE_SHAPE, 1 / NOISE_SHAPE));
    const obs: Observation = { kind: 'counts', at: new Date(Date.UTC(2026, 10, 30, 14, look)).toISOString(), candidate: { ...c }, baseline: { ...b } };
    const j = judgeMetric(metric, obs, state);
    state = j.state;
    if (j.verdict.result === 'fail') return { failAt: look, passes };
    if (j.verdict.result === 'pass') passes++;
  }
  return { failAt: null, passes };
}

test(`false halts of healthy rings stay under alpha ${ALPHA} plus 3 standard errors (${RUNS} rings x ${LOOKS} looks, gamma-Poisson noise)`, () => {
  const rng = new Rng(20261122);
  let falseHalts = 0;
  let passedAtEnd = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = ring(rng, 1);
    if (r.failAt !== null) falseHalts++;
    if (r.passes > 0) passedAtEnd++;
  }
  const rate = falseHalts / RUNS;
  const margin = 3 * Math.sqrt((ALPHA * (1 - ALPHA)) / RUNS);
  console.log(`false-halt rate ${rate.toFixed(4)} (${falseHalts}/${RUNS}), alpha ${ALPHA}, margin ${margin.toFixed(4)}; rings that reached a pass: ${passedAtEnd}/${RUNS}`);
  expect(rate).toBeLessThanOrEqual(ALPHA + margin);
  // A healthy ring is not just "not failed": it passes once the minimum sample is there.
  expect(passedAtEnd).toBeGreaterThanOrEqual(RUNS - falseHalts);
});

test(`a 2x regression is detected in at least 95% of ${RUNS} rings within ${LOOKS} looks (${(CAND_HOSTS * LOOKS) / 60} candidate host-hours)`, () => {
  const rng = new Rng(7);
  const looks: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = ring(rng, 2);
    if (r.failAt !== null) looks.push(r.failAt);
  }
  looks.sort((a, b) => a - b);
  const rate = looks.length / RUNS;
  const median = looks[Math.floor(looks.length / 2)] ?? NaN;
  const p95 = looks[Math.floor(looks.length * 0.95)] ?? NaN;
  console.log(
    `2x regression detected in ${looks.length}/${RUNS} (${(100 * rate).toFixed(1)}%); looks to detection: median ${median} ` +
      `(${((median * CAND_HOSTS) / 60).toFixed(0)} candidate host-hours, ~${((median * CAND_HOSTS * RATE) / 60).toFixed(0)} expected baseline-rate events), 95th percentile ${p95}`,
  );
  expect(rate).toBeGreaterThanOrEqual(0.95);
});

test('a 1.2x regression, below what the test is designed for, is mostly not flagged within the ring (no over-sensitivity)', () => {
  const rng = new Rng(99);
  let flagged = 0;
  for (let i = 0; i < 200; i++) if (ring(rng, 1.2).failAt !== null) flagged++;
  console.log(`1.2x regression flagged in ${flagged}/200 rings`);
  // Sanity in both directions: more often than a healthy ring, less often than a 2x one.
  expect(flagged).toBeGreaterThan(0);
  expect(flagged).toBeLessThan(200);
});
