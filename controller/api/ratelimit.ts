/**
 * A bound on failed authentications per client (token bucket per IP), so that tokens cannot be guessed
 * at line rate. Memory is bounded: at most `maxClients` buckets are tracked, least recently used first out,
 * and a bucket that has refilled completely is forgotten (it is the same as no bucket).
 */

export interface FailedAuthLimit {
  /** Sustained rate of failures allowed per client, per minute. */
  perMinute: number;
  /** Failures allowed in a burst. */
  burst: number;
  /** Clients tracked at most (LRU). */
  maxClients: number;
}

export const DEFAULT_FAILED_AUTH_LIMIT: FailedAuthLimit = { perMinute: 10, burst: 20, maxClients: 10_000 };

interface Bucket {
  tokens: number;
  at: number;
}

export class FailedAuthLimiter {
  /** Map iteration order is insertion order: re-inserting on use makes the first key the least recently used. */
  private readonly buckets = new Map<string, Bucket>();
  private readonly ratePerMs: number;

  constructor(
    private readonly limit: FailedAuthLimit = DEFAULT_FAILED_AUTH_LIMIT,
    private readonly now: () => number = Date.now,
  ) {
    this.ratePerMs = limit.perMinute / 60_000;
  }

  get trackedClients(): number {
    return this.buckets.size;
  }

  /** Seconds until this client may try again, or 0 when it may try now. Does not consume. */
  retryAfter(client: string): number {
    const b = this.refill(client);
    if (!b || b.tokens >= 1) return 0;
    return Math.max(1, Math.ceil((1 - b.tokens) / this.ratePerMs / 1000));
  }

  /** Records one failed authentication. */
  fail(client: string): void {
    const b = this.refill(client) ?? { tokens: this.limit.burst, at: this.now() };
    b.tokens = Math.max(0, b.tokens - 1);
    this.buckets.delete(client);
    this.buckets.set(client, b);
    while (this.buckets.size > this.limit.maxClients) {
      const oldest = this.buckets.keys().next().value;
      if (oldest === undefined) break;
      this.buckets.delete(oldest);
    }
  }

  private refill(client: string): Bucket | undefined {
    const b = this.buckets.get(client);
    if (!b) return undefined;
    const now = this.now();
    b.tokens = Math.min(this.limit.burst, b.tokens + (now - b.at) * this.ratePerMs);
    b.at = now;
    if (b.tokens >= this.limit.burst) {
      this.buckets.delete(client);
      return undefined;
    }
    return b;
  }
}
