import { WorkQueue, runWorkers } from '../../controller/operator/queue';
import { VirtualClock } from '../../controller/runtime/clock';
import { memoryLogger } from '../../controller/telemetry/log';

const flush = () => new Promise<void>((r) => setImmediate(r));

function make(opts: ConstructorParameters<typeof WorkQueue>[0] = {}) {
  const clock = new VirtualClock(0);
  const q = new WorkQueue<string>({ clock, ...opts });
  return { clock, q };
}

describe('WorkQueue', () => {
  test('add deduplicates queued keys and keeps order', async () => {
    const { q } = make();
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  test('a key added while processing is not handed out again until done, then it is re-queued once', async () => {
    const { q } = make();
    q.add('a');
    const k = await q.get();
    expect(k).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0);
    let second: string | undefined = 'pending';
    void q.get().then((x) => (second = x));
    await flush();
    expect(second).toBe('pending');
    q.done('a');
    await flush();
    expect(second).toBe('a');
    expect(q.isProcessing('a')).toBe(true);
    q.done('a');
    expect(q.len()).toBe(0);
    expect(q.isProcessing('a')).toBe(false);
  });

  test('done without a new add does not re-queue', async () => {
    const { q } = make();
    q.add('a');
    await q.get();
    q.done('a');
    expect(q.len()).toBe(0);
  });

  test('a waiting get receives the next added key', async () => {
    const { q } = make();
    const p = q.get();
    q.add('x');
    expect(await p).toBe('x');
    expect(q.isProcessing('x')).toBe(true);
  });

  test('backoff doubles per failure from the base and is capped; forget resets it', () => {
    const { q } = make({ baseDelayMs: 100, maxDelayMs: 1000 });
    const delays = Array.from({ length: 7 }, () => q.addRateLimited('k'));
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(q.numRequeues('k')).toBe(7);
    expect(q.addRateLimited('other')).toBe(100);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
    expect(q.addRateLimited('k')).toBe(100);
  });

  test('default backoff: 100 ms base, 60 s cap, and no overflow after many failures', () => {
    const { q } = make();
    expect(q.addRateLimited('k')).toBe(100);
    for (let i = 0; i < 2000; i++) q.addRateLimited('k');
    expect(q.addRateLimited('k')).toBe(60_000);
  });

  test('jitter adds up to the fraction and stays under the cap', () => {
    const { q } = make({ baseDelayMs: 100, maxDelayMs: 150, jitter: 0.5, random: () => 0.99 });
    expect(q.addRateLimited('k')).toBeCloseTo(149.5);
    expect(q.addRateLimited('k')).toBe(150);
  });

  test('addRateLimited queues the key only once its backoff elapsed', async () => {
    const { q, clock } = make({ baseDelayMs: 100 });
    q.addRateLimited('k');
    q.addRateLimited('k'); // 200 ms, but the earlier 100 ms time is kept
    expect(q.len()).toBe(0);
    clock.advance(99);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('k');
    q.done('k');
    clock.advance(1000);
    expect(q.len()).toBe(0);
  });

  test('addAfter waits, keeps the earliest time, and 0 adds now', () => {
    const { q, clock } = make();
    q.addAfter('a', 500);
    q.addAfter('a', 1000);
    q.addAfter('b', 300);
    q.addAfter('b', 100); // earlier: replaces 300
    expect(q.delayedLen()).toBe(2);
    clock.advance(100);
    expect(q.len()).toBe(1);
    clock.advance(200);
    expect(q.len()).toBe(1); // b's cancelled 300 ms timer did not add it again
    clock.advance(200);
    expect(q.len()).toBe(2);
    clock.advance(10_000);
    expect(q.len()).toBe(2);
    q.addAfter('c', 0);
    expect(q.len()).toBe(3);
  });

  test('shutdown releases waiting getters, drops queued and delayed keys, ignores later adds', async () => {
    const { q, clock } = make();
    const waiting = [q.get(), q.get()];
    q.shutdown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
    q.add('a');
    q.addAfter('b', 10);
    clock.advance(100);
    expect(q.len()).toBe(0);
    expect(await q.get()).toBeUndefined();

    const { q: q2, clock: c2 } = make();
    q2.add('x');
    q2.addAfter('y', 10);
    q2.shutdown();
    c2.advance(100);
    expect(q2.len()).toBe(0);
    expect(await q2.get()).toBeUndefined();
  });

  test('options are validated', () => {
    expect(() => new WorkQueue({ baseDelayMs: 0 })).toThrow(/baseDelayMs/);
    expect(() => new WorkQueue({ baseDelayMs: 100, maxDelayMs: 50 })).toThrow(/maxDelayMs/);
    expect(() => new WorkQueue({ jitter: -1 })).toThrow(/jitter/);
  });
});

describe('runWorkers', () => {
  test('one key is never processed by two workers at once, and every add after a start is seen', async () => {
    const { q } = make();
    const { log } = memoryLogger();
    const active = new Map<string, number>();
    let maxActiveSameKey = 0;
    let maxActive = 0;
    let running = 0;
    const processed: string[] = [];
    const handler = async (key: string) => {
      const n = (active.get(key) ?? 0) + 1;
      active.set(key, n);
      running++;
      maxActiveSameKey = Math.max(maxActiveSameKey, n);
      maxActive = Math.max(maxActive, running);
      await flush();
      // events keep arriving for keys being processed
      q.add(key);
      await flush();
      active.set(key, (active.get(key) ?? 1) - 1);
      running--;
      processed.push(key);
      if (processed.length >= 60) q.shutdown();
    };
    const done = runWorkers(q, 4, handler, log);
    for (const k of ['a', 'b', 'c', 'a', 'b', 'a']) q.add(k);
    await done;
    expect(maxActiveSameKey).toBe(1);
    expect(maxActive).toBeGreaterThan(1); // the workers did run in parallel (on different keys)
    expect(new Set(processed)).toEqual(new Set(['a', 'b', 'c']));
  });

  test('success forgets the backoff; a throw re-queues with backoff and logs one line', async () => {
    const { q, clock } = make({ baseDelayMs: 100 });
    const { log, lines } = memoryLogger();
    let calls = 0;
    const seen: number[] = [];
    const handler = (key: string) => {
      calls++;
      seen.push(clock.now());
      if (calls <= 3) throw new Error(`boom ${key}\nsecond line`);
      if (calls === 4) q.shutdown();
    };
    const done = runWorkers(q, 2, handler, log);
    q.add('k');
    for (let i = 0; i < 20; i++) {
      await flush();
      clock.advance(50);
    }
    await done;
    expect(calls).toBe(4);
    // 100, 200, 400 ms between the attempts
    expect(seen.slice(1).map((t, i) => t - (seen[i] as number))).toEqual([100, 200, 400]);
    const warns = lines.filter((l) => l.msg === 'reconcile failed; retrying with backoff');
    expect(warns).toHaveLength(3);
    expect(warns[0]).toMatchObject({ key: 'k', err: 'boom k', retryInMs: 100, failures: 1 });
    expect(q.numRequeues('k')).toBe(0);
  });

  test('rejects a bad concurrency', async () => {
    const { q } = make();
    await expect(runWorkers(q, 0, () => undefined, memoryLogger().log)).rejects.toThrow(/concurrency/);
  });
});
