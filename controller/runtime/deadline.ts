/**
 * Hard deadlines for fact gathering. A metrics query that hangs (a SIGSTOPped Prometheus, a black-holed
 * network) must not hold a reconcile pass, so every gather races a real-time timer and loses nothing but
 * that one verdict. The timer is real time even under a virtual clock: I/O happens in real time.
 */
export class DeadlineError extends Error {}

export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what} did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/** Runs fn over items with at most `limit` in flight; resolves when all have settled. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Lets the event loop serve requests (manifests, the kill switch) in the middle of a long pass. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
