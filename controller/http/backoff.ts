/**
 * Retry delays of the HTTP client: exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): before retry n (1, 2, ...) wait a uniform random time in [0, min(maxMs, baseMs * 2^(n-1))).
 * Full jitter spreads the retries of many clients that failed together (a Prometheus restart seen by every
 * reconcile at once) instead of sending them back in lock-step waves.
 */

export interface BackoffOptions {
  /** The cap of the first delay. */
  baseMs: number;
  /** No delay is longer than this. */
  maxMs: number;
  /** Uniform on [0, 1); Math.random unless a test pins it. */
  random?: () => number;
}

/** The upper bound of the delay before retry `n` (n >= 1). */
export function backoffCap(n: number, opts: Pick<BackoffOptions, 'baseMs' | 'maxMs'>): number {
  return Math.min(opts.maxMs, opts.baseMs * 2 ** Math.max(0, n - 1));
}

/** The delay before retry `n` (n >= 1): full jitter under the cap. */
export function backoffDelay(n: number, opts: BackoffOptions): number {
  const r = (opts.random ?? Math.random)();
  return Math.floor(Math.min(Math.max(r, 0), 1) * backoffCap(n, opts));
}
