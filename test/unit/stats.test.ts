/**
 * engine/stats.ts against reference values. Every expected number below was computed independently with
 * SciPy 1.17.1 (python3 on this machine, 2026-12-01): scipy.special.gammaln, gammainc, gammaincc, betainc,
 * scipy.stats.poisson.sf(k - 1, mu), binom.sf(k - 1, n, p) and norm.cdf. The betting helpers are checked for the
 * properties the judge relies on.
 */
import { betLogFactor, binomialUpperTail, logGamma, lookAlpha, normalCdf, plugInBet, poissonUpperTail, regularizedBeta, regularizedGammaP, regularizedGammaQ } from '../../controller/engine/stats';

/** Relative closeness, for values spanning hundreds of orders of magnitude. */
function expectRel(actual: number, expected: number, rel = 1e-9): void {
  if (expected === 0) expect(Math.abs(actual)).toBeLessThan(1e-300);
  else expect(Math.abs(actual - expected) / Math.abs(expected)).toBeLessThan(rel);
}

describe('special functions (SciPy reference values)', () => {
  test('logGamma matches scipy.special.gammaln', () => {
    const cases: Array<[number, number]> = [
      [0.1, 2.252712651734206],
      [0.5, 0.5723649429247],
      [4.5, 2.4537365708424423],
      [10, 12.801827480081469],
      [171.5, 709.1431630309283],
      [1e5, 1051287.7089736569],
    ];
    for (const [x, want] of cases) expectRel(logGamma(x), want, 1e-12);
    expect(Math.abs(logGamma(1))).toBeLessThan(1e-14);
    expect(() => logGamma(0)).toThrow(RangeError);
  });

  test('regularizedGammaP and Q match scipy.special.gammainc / gammaincc', () => {
    const p: Array<[number, number, number]> = [
      [0.5, 0.1, 0.34527915398142317],
      [3, 2.5, 0.45618688411667035],
      [10, 12, 0.7576078383294875],
      [100, 90, 0.15822098918643007],
      [45, 0.004, 1.0308330566789266e-164],
    ];
    for (const [a, x, want] of p) expectRel(regularizedGammaP(a, x), want, 1e-9);
    const q: Array<[number, number, number]> = [
      [0.5, 8, 6.334248366623988e-5],
      [3, 2.5, 0.5438131158833297],
      [10, 30, 7.121750862815593e-6],
      [100, 140, 0.00016105717471255715],
    ];
    for (const [a, x, want] of q) expectRel(regularizedGammaQ(a, x), want, 1e-9);
  });

  test('regularizedBeta matches scipy.special.betainc', () => {
    const cases: Array<[number, number, number, number]> = [
      [0.4, 2, 3, 0.5248],
      [0.2, 0.5, 0.5, 0.2951672353008665],
      [0.1, 47, 4, 1.4388076000000037e-43],
      [0.02, 10, 200, 0.010010757270630772],
    ];
    for (const [x, a, b, want] of cases) expectRel(regularizedBeta(x, a, b), want, 1e-9);
  });
});

describe('distribution tails (SciPy reference values)', () => {
  test('poissonUpperTail(k, mu) = P(X >= k) matches scipy.stats.poisson.sf(k - 1, mu)', () => {
    const cases: Array<[number, number, number]> = [
      [3, 0.084, 9.276492138125384e-5],
      [45, 0.004, 1.0308330566789266e-164],
      [10, 4, 0.008132242796933871],
      [400, 330, 0.00010321618161983776],
    ];
    for (const [k, mu, want] of cases) expectRel(poissonUpperTail(k, mu), want, 1e-8);
    // Fractional counts (PromQL extrapolation) take the conservative side: X >= 3.7 is read as X >= 3.
    expect(poissonUpperTail(3.7, 0.084)).toBe(poissonUpperTail(3, 0.084));
    expect(poissonUpperTail(0, 5)).toBe(1);
    expect(poissonUpperTail(1, 0)).toBe(0);
  });

  test('binomialUpperTail(k, n, p) = P(X >= k) matches scipy.stats.binom.sf(k - 1, n, p)', () => {
    const cases: Array<[number, number, number, number]> = [
      [47, 50, 0.1, 1.4388076000000037e-43],
      [5, 100, 0.1, 0.9762889173365231],
      [20, 100, 0.1, 0.0019785608657712354],
    ];
    for (const [k, n, p, want] of cases) expectRel(binomialUpperTail(k, n, p), want, 1e-8);
    expect(binomialUpperTail(0, 10, 0.5)).toBe(1);
    expect(binomialUpperTail(11, 10, 0.5)).toBe(0);
  });

  test('normalCdf matches scipy.stats.norm.cdf, tails included', () => {
    const cases: Array<[number, number]> = [
      [-8, 6.22096057427174e-16],
      [-1.96, 0.024997895148220435],
      [0, 0.5],
      [1, 0.8413447460685429],
      [3.5, 0.9997673709209645],
    ];
    for (const [x, want] of cases) expectRel(normalCdf(x), want, 1e-9);
  });
});

describe('betting helpers', () => {
  test('betLogFactor caps one round at maxLog and reports an excess below -1', () => {
    expect(betLogFactor(0.5, 0.5, 10).logFactor).toBeCloseTo(Math.log(1.25), 12);
    const big = betLogFactor(1e6, 0.9, Math.log(100) / 2);
    expect(big.clipped).toBe(true);
    expect(big.logFactor).toBeCloseTo(Math.log(100) / 2, 12);
    const low = betLogFactor(-3, 0.9, 5);
    expect(low.belowCap).toBe(true);
    expect(low.logFactor).toBeCloseTo(Math.log(0.1), 12);
    expect(betLogFactor(2, 0, 5).logFactor).toBe(0);
  });

  test('a bet on an excess with mean <= 0 and x >= -1 has E[factor] <= 1 (two-point distributions)', () => {
    for (const [lo, hi] of [[-1, 1], [-0.2, 9], [-1, 0.01], [-0.5, 50]] as Array<[number, number]>) {
      const pHi = -lo / (hi - lo); // mean zero
      for (const lambda of [0.1, 0.5, 0.9]) {
        const mean = pHi * Math.exp(betLogFactor(hi, lambda, 100).logFactor) + (1 - pHi) * Math.exp(betLogFactor(lo, lambda, 100).logFactor);
        expect(mean).toBeLessThanOrEqual(1 + 1e-12);
      }
    }
  });

  test('plugInBet is mean/second clamped to [0, lambdaMax]; lookAlpha sums to alpha', () => {
    expect(plugInBet(0.2, 1, 0.9)).toBeCloseTo(0.2, 12);
    expect(plugInBet(5, 1, 0.9)).toBe(0.9);
    expect(plugInBet(-1, 1, 0.9)).toBe(0);
    let sum = 0;
    for (let k = 1; k <= 100_000; k++) sum += lookAlpha(0.01, k);
    expect(sum).toBeLessThanOrEqual(0.01);
    expect(sum).toBeGreaterThan(0.01 * 0.9999);
  });
});
