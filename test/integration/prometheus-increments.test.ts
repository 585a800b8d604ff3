/**
 * Aligned per-interval increments against a REAL Prometheus (Debian package) scraping a prom-client exporter of the
 * agent metrics contract every 250 ms: a candidate crashes at a steady rate for ten 2 s intervals, on two channels
 * at once, one of whose agents restarts (every counter back to 0) in the middle of the ring.
 *
 * - observeMetric returns all ten intervals, none skipped, none negative, with and without the reset;
 * - their sum matches the true event count (kept by the test, per event) within increase()'s extrapolation error,
 *   and the exposure matches hosts x time;
 * - the reset was real: the raw counter went down across it (what a difference of raw counters, or a skip of
 *   negative differences, would have stumbled on);
 * - the census: `ringmaster_agent_hosts` carries the `ring` label (contracts §4) and the contract's sums still add
 *   every ring up.
 */
import { observeMetric } from '../../controller/analysis/observe';
import { PrometheusProvider } from '../../controller/analysis/prometheus';
import type { IntervalCounts, RingContext } from '../../controller/analysis/types';
import type { MetricSpec } from '../../controller/spec/types';
import { AgentExporter } from '../helpers/agent-exporter';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus';

jest.setTimeout(90_000);

const OLD = '1.0.0';
const NEW = '2.0.0';
const INTERVAL_MS = 2_000;
const INTERVALS = 10;
const SCRAPE_S = 0.25;
/** Crashes per 100 ms tick: 50 per second. */
const PER_TICK = 5;
const RATE = PER_TICK * 10;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('per-interval increments over a ring add up to the true count, with and without a counter reset', async () => {
  const exporter = new AgentExporter();
  const target = await exporter.start();
  let prom: RunningPrometheus | undefined;
  let provider: PrometheusProvider | undefined;
  let ticker: NodeJS.Timeout | undefined;
  try {
    prom = await startPrometheus({ targets: [target], scrapeInterval: `${SCRAPE_S * 1000}ms` });
    for (const ch of ['steady', 'reset']) {
      exporter.setHosts(ch, OLD, 5000);
      exporter.setHosts(ch, NEW, { canary: 40, '': 160 });
    }
    await prom.waitFor('count(ringmaster_agent_hosts)', (v) => v >= 6);
    await sleep(1500);

    // The census: one series per ring; "" is stored as no ring label; the contract's sums add every ring up.
    expect(Number((await prom.query('sum(ringmaster_agent_hosts{channel="steady",ring="canary"})'))[0]?.value[1])).toBe(40);
    expect(Number((await prom.query(`sum(ringmaster_agent_hosts{channel="steady",version="${NEW}",ring=""})`))[0]?.value[1])).toBe(160);
    expect(Number((await prom.query(`sum(ringmaster_agent_hosts{channel="steady",version="${NEW}"})`))[0]?.value[1])).toBe(200);

    // The ring starts now; crashes at a steady rate, each one's time kept.
    const start = Date.now();
    const events: Record<string, number[]> = { steady: [], reset: [] };
    ticker = setInterval(() => {
      const t = Date.now();
      for (const ch of ['steady', 'reset']) {
        exporter.crash(ch, NEW, PER_TICK);
        for (let i = 0; i < PER_TICK; i++) events[ch]?.push(t);
      }
    }, 100);
    const end = (k: number): number => start + k * INTERVAL_MS;
    // An agent restart in the middle of interval 5; the raw counter just before it, read back from Prometheus.
    await sleep(end(4) + INTERVAL_MS / 2 - Date.now());
    const rawQuery = `sum(ringmaster_agent_crashes_total{channel="reset",version="${NEW}",kind="crash"})`;
    const beforeReset = Number((await prom.query(rawQuery))[0]?.value[1]);
    exporter.restart('reset', NEW);
    const resetAt = Date.now();
    await sleep(3 * SCRAPE_S * 1000);
    const afterReset = Number((await prom.query(rawQuery))[0]?.value[1]);
    await sleep(end(INTERVALS) + 600 - Date.now());
    clearInterval(ticker);
    ticker = undefined;

    provider = new PrometheusProvider({ url: prom.url, timeoutMs: 5000 });
    const metric: MetricSpec = { name: 'crashes', type: 'crash-rate' };
    const ctx = (channel: string): RingContext => ({
      channel,
      version: NEW,
      baselineVersion: OLD,
      ringStartedAt: new Date(start),
      now: new Date(end(INTERVALS) + 500),
      intervalMs: INTERVAL_MS,
      after: new Date(start),
    });
    const truthIn = (ch: string, k: number): number => (events[ch] ?? []).filter((t) => t > end(k - 1) && t <= end(k)).length;
    for (const ch of ['steady', 'reset']) {
      const obs = await observeMetric(provider, metric, ctx(ch));
      if (obs.kind !== 'counts') throw new Error(`${ch}: ${JSON.stringify(obs)}`);
      const intervals: IntervalCounts[] = obs.intervals;
      const sum = intervals.reduce((a, i) => a + i.candidate.events, 0);
      const exposure = intervals.reduce((a, i) => a + i.candidate.exposureHours, 0);
      const truth = Array.from({ length: INTERVALS }, (_, k) => truthIn(ch, k + 1));
      const total = truth.reduce((a, b) => a + b, 0);
      console.log(
        `${ch}: ${intervals.length} intervals, sum of increments ${sum.toFixed(1)} vs ${total} true events (${(((sum - total) / total) * 100).toFixed(2)}%); ` +
          `exposure ${exposure.toFixed(4)} vs ${((200 * INTERVALS * INTERVAL_MS) / 3_600_000).toFixed(4)} host-h; per interval ` +
          intervals.map((i, k) => `${i.candidate.events.toFixed(1)}/${truth[k]}`).join(' '),
      );
      // Every interval is there, in order, aligned on the grid: nothing skipped, nothing negative, nothing rounded.
      expect(intervals.map((i) => Date.parse(i.end))).toEqual(Array.from({ length: INTERVALS }, (_, k) => end(k + 1)));
      for (const i of intervals) expect(i.candidate.events).toBeGreaterThan(0);
      expect(intervals.some((i) => !Number.isInteger(i.candidate.events))).toBe(true);
      // The sum is the true count within the extrapolation error: events between a window's edge and its nearest
      // sample are estimated, not seen (at most about one scrape interval of events per edge, and those lost between
      // the last scrape before the restart and the restart itself).
      // A skipped or double-counted interval (100 events) is far outside this bound; a late scrape on a busy machine
      // is not.
      const edgeEvents = RATE * SCRAPE_S;
      const bound = 3 * edgeEvents + (ch === 'reset' ? edgeEvents : 0);
      expect(Math.abs(sum - total)).toBeLessThanOrEqual(bound);
      for (const [k, i] of intervals.entries()) expect(Math.abs(i.candidate.events - (truth[k] as number))).toBeLessThanOrEqual(bound);
      expect(exposure / ((200 * INTERVALS * INTERVAL_MS) / 3_600_000)).toBeGreaterThan(0.95);
      expect(exposure / ((200 * INTERVALS * INTERVAL_MS) / 3_600_000)).toBeLessThan(1.05);
      // The baseline: no crashes, its exposure is its 5,000 hosts'.
      expect(intervals.every((i) => i.baseline.events === 0)).toBe(true);
      expect(obs.candidateHosts).toBe(200);
      expect(obs.baselineHosts).toBe(5000);
    }
    // The reset was real: the raw counter went down across it.
    console.log(`reset: raw counter ${beforeReset} before the restart at +${((resetAt - start) / 1000).toFixed(2)} s, ${afterReset} just after it`);
    expect(beforeReset).toBeGreaterThan(300);
    expect(afterReset).toBeLessThan(beforeReset);
  } finally {
    if (ticker) clearInterval(ticker);
    provider?.close();
    await prom?.stop();
    await exporter.stop();
  }
});
