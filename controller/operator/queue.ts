/**
 * The operator's work queue, modelled on client-go's workqueue: informer events add object keys, workers take
 * them one at a time. The guarantees the reconciler relies on:
 *
 * - a key is queued at most once however many events arrive for it (`add` deduplicates);
 * - a key is never handed to two workers at once: an `add` while it is being processed marks it dirty, and it is
 *   queued again when the worker calls `done(key)`, so the latest change is still seen;
 * - failures back off per key (`addRateLimited`: base, doubling, capped; `forget` resets it after a success);
 * - `addAfter` re-queues later (a rollout waiting for its bake time), keeping the earliest time if asked twice;
 * - `shutdown()` (leadership lost, process stopping) drops what is queued, cancels the timers and releases every
 *   waiting `get()` with undefined. Unlike client-go it does not drain: a replica that stopped leading must not
 *   go on reconciling.
 *
 * Timers come from an injectable Clock (controller/runtime/clock.ts), so tests drive time with a VirtualClock.
 */
import { type Clock, realClock } from '../runtime/clock';
import type { Logger } from '../telemetry/log';

export interface WorkQueueOptions {
  /** The first failure's delay; doubled on each further failure of the same key. Default 100 ms. */
  baseDelayMs?: number;
  /** The cap of the per-key backoff. Default 60 s. */
  maxDelayMs?: number;
  /** Random extra delay as a fraction of the backoff (0.1 = up to +10%), still capped at maxDelayMs. Default 0. */
  jitter?: number;
  /** For jitter; Math.random by default. */
  random?: () => number;
  clock?: Clock;
}

interface Delayed {
  at: number;
  cancel: () => void;
}

export class WorkQueue<K = string> {
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private readonly clock: Clock;

  /** Keys ready to be handed out, in order. Every key here is also in `dirty`. */
  private readonly queue: K[] = [];
  /** Keys that need processing (queued, or added again while being processed). */
  private readonly dirty = new Set<K>();
  /** Keys a worker holds (between get and done). */
  private readonly processing = new Set<K>();
  private readonly waiters: Array<(key: K | undefined) => void> = [];
  private readonly failures = new Map<K, number>();
  private readonly delayed = new Map<K, Delayed>();
  private stopped = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.baseDelayMs = opts.baseDelayMs ?? 100;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
    this.jitter = opts.jitter ?? 0;
    this.random = opts.random ?? Math.random;
    this.clock = opts.clock ?? realClock;
    if (!(this.baseDelayMs > 0)) throw new Error(`work queue: baseDelayMs must be > 0 (got ${this.baseDelayMs})`);
    if (!(this.maxDelayMs >= this.baseDelayMs)) throw new Error(`work queue: maxDelayMs must be >= baseDelayMs (got ${this.maxDelayMs})`);
    if (!(this.jitter >= 0)) throw new Error(`work queue: jitter must be >= 0 (got ${this.jitter})`);
  }

  /** Queues the key unless it is already queued; a key being processed is re-queued when it is done. */
  add(key: K): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.enqueue(key);
  }

  /** Adds the key after ms (now when ms <= 0). A second call keeps the earlier of the two times. */
  addAfter(key: K, ms: number): void {
    if (this.stopped) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const prev = this.delayed.get(key);
    if (prev !== undefined) {
      if (prev.at <= at) return;
      prev.cancel();
    }
    const cancel = this.clock.setTimer(ms, () => {
      if (this.delayed.get(key)?.cancel !== cancel) return;
      this.delayed.delete(key);
      this.add(key);
    });
    this.delayed.set(key, { at, cancel });
  }

  /** Adds the key after its backoff (base * 2^failures, capped) and counts a failure. Returns the delay in ms. */
  addRateLimited(key: K): number {
    const delay = this.backoff(key);
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
    this.addAfter(key, delay);
    return delay;
  }

  /** The delay the next addRateLimited(key) would use. */
  backoff(key: K): number {
    const n = this.failures.get(key) ?? 0;
    // 2^n overflows to Infinity for large n; min() still gives the cap.
    const exp = Math.min(this.maxDelayMs, this.baseDelayMs * Math.pow(2, n));
    const jittered = this.jitter > 0 ? exp * (1 + this.jitter * this.random()) : exp;
    return Math.min(this.maxDelayMs, jittered);
  }

  /** Resets the key's backoff (after a successful reconcile). */
  forget(key: K): void {
    this.failures.delete(key);
  }

  /** How many failures the key has had since its last forget. */
  numRequeues(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key (waits for one); undefined once the queue is shut down. The caller must call done(key). */
  get(): Promise<K | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    if (this.queue.length > 0) return Promise.resolve(this.take(this.queue.shift() as K));
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The worker finished the key; if it was added meanwhile it is queued again. */
  done(key: K): void {
    this.processing.delete(key);
    if (!this.stopped && this.dirty.has(key)) this.enqueue(key);
  }

  /** Keys ready to be handed out (not those being processed or waiting on a timer). */
  len(): number {
    return this.queue.length;
  }

  /** Keys waiting on an addAfter / addRateLimited timer. */
  delayedLen(): number {
    return this.delayed.size;
  }

  isProcessing(key: K): boolean {
    return this.processing.has(key);
  }

  shuttingDown(): boolean {
    return this.stopped;
  }

  /** Drops the queued keys and timers and releases every waiting get() with undefined. Idempotent. */
  shutdown(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const d of this.delayed.values()) d.cancel();
    this.delayed.clear();
    this.queue.length = 0;
    this.dirty.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  private enqueue(key: K): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter(this.take(key));
    else this.queue.push(key);
  }

  private take(key: K): K {
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }
}

/**
 * Runs `concurrency` workers until the queue shuts down. Each takes a key and calls the handler: on success the
 * key's backoff is forgotten, on a throw it is re-queued with backoff and one warn line is logged; either way it
 * is done. Resolves when every worker has stopped.
 */
export async function runWorkers<K>(
  queue: WorkQueue<K>,
  concurrency: number,
  handler: (key: K) => Promise<void> | void,
  log: Pick<Logger, 'warn'>,
): Promise<void> {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`runWorkers: concurrency must be a positive integer (got ${concurrency})`);
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await handler(key);
        queue.forget(key);
      } catch (err) {
        const retryInMs = queue.addRateLimited(key);
        log.warn({ key: String(key), err: errorText(err), retryInMs, failures: queue.numRequeues(key) }, 'reconcile failed; retrying with backoff');
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
}

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? '';
}
