/**
 * Summary statistics of the engine benchmark's samples (tick durations in ms): nearest-rank percentiles, so every
 * reported figure is one measured sample, never an interpolation between two.
 */

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of ascending `sorted` (0 < p <= 1): the smallest sample with at least p of them at or below it. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1] as number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 0.5)),
    p95: round(percentile(sorted, 0.95)),
    p99: round(percentile(sorted, 0.99)),
    max: round(sorted.length ? (sorted[sorted.length - 1] as number) : NaN),
    mean: round(sorted.length ? sum / sorted.length : NaN),
  };
}

/** Three significant digits below 100, whole-ish above: enough for noisy timings, no false precision. */
export function round(x: number): number {
  if (!Number.isFinite(x)) return x;
  return Math.abs(x) >= 100 ? Math.round(x * 10) / 10 : Number(x.toPrecision(3));
}

/** a / b to two decimals; NaN when b is not positive. */
export function ratio(a: number, b: number): number {
  return b > 0 ? Math.round((a / b) * 100) / 100 : NaN;
}
