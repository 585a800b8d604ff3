/**
 * MetricsAnalyzer (controller/runtime/analysis.ts): the contexts it builds (intervalMs from spec.analysis.interval,
 * `after` from each test's consumedUntil), the built-in signals for a rollout without metrics (and none without a
 * provider), and the typed RingVerdict it returns (concern, touchedHosts, noData).
 */
import type { Observation, RingContext } from '../../controller/analysis/types';
import { pendingIntervalEnds } from '../../controller/engine/observation';
import { initialState, type RolloutState } from '../../controller/engine/state';
import { MetricsAnalyzer } from '../../controller/runtime/analysis';
import type { MetricSpec, Rollout } from '../../controller/spec/types';

const START = new Date('2026-11-30T14:00:00.000Z');
const rollout = (metrics: MetricSpec[] | undefined): Rollout =>
  ({
    apiVersion: 'ringmaster.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'r1' },
    spec: {
      channel: 'sensor-content',
      version: '2.0.0',
      previousVersion: '1.0.0',
      artifact: { url: 'https://x/a', sha256: 'a'.repeat(64) },
      rings: [{ name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '30m' }, { name: 'full', percent: 100, bake: '1h' }],
      analysis: { interval: '2m', ...(metrics ? { metrics } : {}) },
    },
  }) as unknown as Rollout;
const exposed = (judgeStates: RolloutState['judgeStates'] = {}): RolloutState => ({ ...initialState(), exposedRing: 0, ringStartedAt: START.toISOString(), judgeStates });

/** An observer that records each context and answers a clean 2,000-host ring for every pending interval. */
function recorder(): { seen: Array<{ metric: string; ctx: RingContext }>; observe: (m: MetricSpec, ctx: RingContext) => Promise<Observation> } {
  const seen: Array<{ metric: string; ctx: RingContext }> = [];
  return {
    seen,
    observe: (m, ctx) => {
      seen.push({ metric: m.name, ctx });
      const intervals = pendingIntervalEnds(ctx).map((end) => ({
        end: end.toISOString(),
        candidate: { events: 0, exposureHours: (2000 * 2) / 60 },
        baseline: { events: 20, exposureHours: (998_000 * 2) / 60 },
      }));
      return Promise.resolve({ kind: 'counts', at: ctx.now.toISOString(), intervals, candidateHosts: 2000, baselineHosts: 998_000 });
    },
  };
}

test('a rollout without metrics is judged on the built-in signals, with contexts on the 2m grid from the ring start', async () => {
  const r = recorder();
  const analyzer = new MetricsAnalyzer(r.observe);
  const now = new Date(START.getTime() + 5 * 60_000);
  const v = await analyzer.analyze(rollout(undefined), exposed(), now);
  expect(r.seen.map((s) => s.metric)).toEqual(['update-failures', 'silent-hosts']);
  expect(r.seen[0]?.ctx).toMatchObject({ intervalMs: 120_000, after: START, ringStartedAt: START, now, version: '2.0.0', baselineVersion: '1.0.0' });
  expect(v?.result).toBe('pass');
  expect(v?.touchedHosts).toBe(2000);
  expect(v?.concern).toBe(false);
  expect(v?.noData).toBe(false);
  expect(v?.judgeStates['update-failures']?.consumedUntil).toBe('2026-11-30T14:04:00.000Z');
});

test('the next look asks each test for the intervals after the one it consumed last', async () => {
  const metric: MetricSpec = { name: 'crashes', type: 'crash-rate', max: 0.05, maxRatio: 1.2, minHosts: 50, minExposure: 25 };
  const first = recorder();
  const v1 = await new MetricsAnalyzer(first.observe).analyze(rollout([metric]), exposed(), new Date(START.getTime() + 5 * 60_000));
  const second = recorder();
  await new MetricsAnalyzer(second.observe).analyze(rollout([metric]), exposed(v1?.judgeStates), new Date(START.getTime() + 9 * 60_000));
  const crashCtx = second.seen.find((s) => s.metric === 'crashes')?.ctx as RingContext;
  expect(crashCtx.after.toISOString()).toBe('2026-11-30T14:04:00.000Z');
  expect(pendingIntervalEnds(crashCtx).map((d) => d.toISOString())).toEqual(['2026-11-30T14:06:00.000Z', '2026-11-30T14:08:00.000Z']);
});

test('without a provider (signals: false) a rollout without metrics is not analysed; a missing candidate is no data', async () => {
  const r = recorder();
  const off = new MetricsAnalyzer(r.observe, { signals: false });
  expect(off.due(rollout(undefined), exposed(), new Date(START.getTime() + 5 * 60_000))).toBe(false);
  const missing = new MetricsAnalyzer((m, ctx) =>
    Promise.resolve({ kind: 'counts', at: ctx.now.toISOString(), intervals: [], candidateHosts: 0, baselineHosts: 1_000_000, candidateMissing: true }),
  );
  const v = await missing.analyze(rollout(undefined), exposed(), new Date(START.getTime() + 60_000));
  expect(v?.noData).toBe(true);
  expect(v?.result).toBe('inconclusive');
});
