/**
 * A Flagger-style judge, written for the bench from Flagger's public documentation (bench/README.md cites it):
 * every interval each metric check runs; a check fails when its threshold is breached or the query returns no
 * value; failed checks accumulate over the analysis and are not reset by a passing check; the canary is rolled back
 * when the failed checks reach `threshold`. Pure.
 */

export interface FlaggerCheck {
  /** The query's value; null: no values returned (NaN included). */
  value: number | null;
  /** thresholdRange.max (and .min when set). */
  max?: number;
  min?: number;
}

export function checkFails(c: FlaggerCheck): boolean {
  if (c.value === null || Number.isNaN(c.value)) return true;
  if (c.max !== undefined && c.value > c.max) return true;
  if (c.min !== undefined && c.value < c.min) return true;
  return false;
}

export interface FlaggerState {
  failedChecks: number;
}

/** One interval's checks: the failed-check counter after it and whether the canary rolls back. */
export function flaggerStep(s: FlaggerState, checks: readonly FlaggerCheck[], threshold: number): { state: FlaggerState; rollback: boolean } {
  const failed = checks.some(checkFails) ? s.failedChecks + 1 : s.failedChecks;
  return { state: { failedChecks: failed }, rollback: failed >= threshold };
}
