/**
 * Child process of the engine benchmark: an open-loop manifest poller, as agents poll (on their own schedule,
 * whether or not the server is busy). It sends GETs at a fixed rate and measures each one from the time it was
 * *due*, not from when a free connection sent it, so a server that stalls for a tick shows the stall in full.
 * wrk (closed loop) cannot: while the server is stalled its 50 connections record just 50 slow requests, and the
 * thousands answered in between fill the percentiles ("coordinated omission").
 *
 *   node probe.js URL RATE_PER_S DURATION_S   ->  one JSON line: {sent, ok, failed, latencyMs: Summary}
 */
import { Pool } from 'undici';
import { summarize } from './stats';

async function main(): Promise<void> {
  const [url, rateText, durationText] = process.argv.slice(2);
  if (!url || !rateText || !durationText) throw new Error('usage: probe.js URL RATE_PER_S DURATION_S');
  const rate = Number(rateText);
  const durationMs = Number(durationText) * 1000;
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: 64, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const latencies: number[] = [];
  let failed = 0;
  let sent = 0;
  const inflight: Array<Promise<void>> = [];
  const start = performance.now();
  const one = async (dueAt: number): Promise<void> => {
    try {
      const res = await pool.request({ path: target.pathname + target.search, method: 'GET' });
      await res.body.dump();
      if (res.statusCode === 200 || res.statusCode === 304) latencies.push(performance.now() - dueAt);
      else failed++;
    } catch {
      failed++;
    }
  };
  while (performance.now() - start < durationMs) {
    const due = Math.floor(((performance.now() - start) * rate) / 1000);
    for (; sent <= due; sent++) inflight.push(one(start + (sent * 1000) / rate));
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  await pool.close();
  process.stdout.write(JSON.stringify({ sent, ok: latencies.length, failed, ratePerS: rate, latencyMs: summarize(latencies) }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`probe: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
