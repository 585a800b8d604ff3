/**
 * The Prometheus provider's hard deadline against a REAL Prometheus (Debian package) that is SIGSTOPped: the
 * kernel still accepts connections, nothing answers. observeMetric (six parallel queries per metric, two instant and
 * four range; here 8 metrics at once: more queries than the client has connections) must come back with an error
 * within the provider's timeout, and answer again once Prometheus is resumed. The reconciler relies on this bound.
 */
import { observeMetric } from '../../controller/analysis/observe';
import { PrometheusProvider } from '../../controller/analysis/prometheus';
import type { Observation, RingContext } from '../../controller/analysis/types';
import type { MetricSpec } from '../../controller/spec/types';
import { AgentExporter } from '../helpers/agent-exporter';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus';

jest.setTimeout(60_000);

const TIMEOUT_MS = 1500;

test('a SIGSTOPped Prometheus: every observation is an error within the timeout, and data again after SIGCONT', async () => {
  const exporter = new AgentExporter();
  const target = await exporter.start();
  let prom: RunningPrometheus | undefined;
  const provider = { p: undefined as PrometheusProvider | undefined };
  try {
    prom = await startPrometheus({ targets: [target], scrapeInterval: '200ms' });
    exporter.setHosts('stopped', '2.0.0', 100);
    exporter.setHosts('stopped', '1.0.0', 1000);
    // increase() needs two samples of each series in the window.
    await prom.waitFor('count(increase(ringmaster_agent_host_seconds_total{channel="stopped"}[60s]) > 0)', (v) => v >= 2);
    // Samples over the two intervals below (the first scrape only just landed).
    await new Promise((r) => setTimeout(r, 2_600));
    const p = new PrometheusProvider({ url: prom.url, timeoutMs: TIMEOUT_MS, retries: 2, retryBackoffMs: 100 });
    provider.p = p;
    const now = new Date();
    // Two complete 1 s intervals, so every metric sends its four range queries as well as its two instant ones.
    const ringStartedAt = new Date(now.getTime() - 2_400);
    const ctx: RingContext = { channel: 'stopped', version: '2.0.0', baselineVersion: '1.0.0', ringStartedAt, now, intervalMs: 1_000, after: ringStartedAt };
    const metrics: MetricSpec[] = Array.from({ length: 8 }, (_, i) => ({ name: `m${i}`, type: i % 2 === 0 ? 'crash-rate' : 'bsod-rate' }) as MetricSpec);
    const observeAll = (): Promise<Observation[]> => Promise.all(metrics.map((m) => observeMetric(p, m, ctx)));

    const healthy = await observeAll();
    expect(healthy.map((o) => (o.kind === 'counts' ? o.kind : JSON.stringify(o)))).toEqual(new Array(8).fill('counts'));
    for (const o of healthy) expect(o.kind === 'counts' && o.intervals.length).toBe(2);

    prom.signal('SIGSTOP');
    const t0 = Date.now();
    const stopped = await observeAll();
    const ms = Date.now() - t0;
    console.log(`SIGSTOPped Prometheus: 8 metrics x 6 queries answered in ${ms} ms (timeout ${TIMEOUT_MS} ms): ${stopped[0]?.kind === 'error' ? stopped[0].message : ''}`);
    expect(stopped.map((o) => o.kind)).toEqual(new Array(8).fill('error'));
    for (const o of stopped) expect(o.kind === 'error' && o.message).toMatch(new RegExp(`prometheus: POST ${prom.url.replace(/\./g, '\\.')}/api/v1/query(_range)?: timed out after ${TIMEOUT_MS} ms$`));
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 10);
    expect(ms).toBeLessThan(TIMEOUT_MS + 750);
    expect(await p.isOnline()).toBe(`prometheus: GET ${prom.url}/-/ready: timed out after ${TIMEOUT_MS} ms`);

    prom.signal('SIGCONT');
    const resumed = await observeAll();
    expect(resumed.map((o) => o.kind)).toEqual(new Array(8).fill('counts'));
  } finally {
    prom?.signal('SIGCONT');
    provider.p?.close();
    await prom?.stop();
    await exporter.stop();
  }
});
