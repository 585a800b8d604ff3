/**
 * A bound on failed authentications per client (token bucket per IP): a client past it gets 429 for every
 * request that does not carry a valid token (auth.ts decides; a valid token is never refused for its address,
 * so a neighbour on the same address cannot lock an SRE out). Both operations are O(1) Map updates, so a
 * limited client flooding garbage costs no more than the parse of its header. Memory is bounded: at most
 * `maxClients` buckets are tracked, least recently used first out, and a bucket that has refilled completely is
 * forgotten (it is the same as no bucket).
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
  retryAfter(address: string): number {
    const b = this.refill(clientKey(address));
    if (!b || b.tokens >= 1) return 0;
    return Math.max(1, Math.ceil((1 - b.tokens) / this.ratePerMs / 1000));
  }

  /** Records one failed authentication. */
  fail(address: string): void {
    const client = clientKey(address);
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

/**
 * The bucket a peer address counts against: an IPv4-mapped IPv6 address is its IPv4 address, and an IPv6 address
 * is its /64 (one host or subscriber usually holds a whole /64, so rotating inside it must not reset the count).
 * Grouping costs nobody access: the limit never refuses a valid token.
 */
export function clientKey(address: string): string {
  if (!address.includes(':')) return address;
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice(7);
  const zone = lower.indexOf('%');
  const bare = zone < 0 ? lower : lower.slice(0, zone);
  const halves = bare.split('::');
  if (halves.length > 2) return lower;
  const head = (halves[0] ?? '') === '' ? [] : (halves[0] as string).split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? (halves[1] as string).split(':') : [];
  const groups = halves.length === 2 ? [...head, ...Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail] : head;
  if (groups.length !== 8) return lower;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
