/**
 * The built-in signals (engine/signals.ts): which are added to a rollout, the tampered-manifest refusals halting
 * within two analysis intervals of the first wave with a reason that names them, healthy installs passing, and
 * candidate hosts that stop reporting.
 */
import type { IntervalCounts, Observation } from '../../controller/engine/observation';
import { alphaLedger, initialSignalJudgeState, judgeRing, shareOf, type MetricJudgeState } from '../../controller/engine/judge';
import { builtinSignals, describeSignals, judgeSignal, SILENT_HOSTS, UPDATE_FAILURES } from '../../controller/engine/signals';
import type { MetricSpec, RolloutSpec } from '../../controller/spec/types';

const T0 = Date.UTC(2026, 10, 30, 14, 0);
const iso = (minute: number): string => new Date(T0 + minute * 60_000).toISOString();
const iv = (minute: number, c: [number, number], b: [number, number]): IntervalCounts => ({
  end: iso(minute),
  candidate: { events: c[0], exposureHours: c[1] },
  baseline: { events: b[0], exposureHours: b[1] },
});
const obs = (minute: number, intervals: IntervalCounts[], hosts: [number, number]): Observation => ({ kind: 'counts', at: iso(minute), intervals, candidateHosts: hosts[0], baselineHosts: hosts[1] });

const bare = {
  channel: 'sensor-content',
  version: '7.16.291',
  previousVersion: '7.16.290',
  artifact: { url: 'https://x/a', sha256: 'a'.repeat(64) },
  rings: [{ name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '30m' }, { name: 'early', percent: 1, bake: '2h' }, { name: 'broad', percent: 10, bake: '24h' }, { name: 'full', percent: 100, bake: '24h' }],
} as unknown as RolloutSpec;
const crash: MetricSpec = { name: 'crashes', type: 'crash-rate', max: 0.05, maxRatio: 1.2, minHosts: 50, minExposure: 25 };

describe('builtinSignals', () => {
  test('every rollout gets update-failures and silent-hosts; a declared update-failure metric replaces the first', () => {
    expect(builtinSignals(bare).map((m) => [m.name, m.type, m.minHosts])).toEqual([
      [UPDATE_FAILURES, 'update-failure-rate', 50],
      [SILENT_HOSTS, 'bsod-rate', 50],
    ]);
    const own = { ...bare, analysis: { metrics: [{ name: 'refusals', type: 'update-failure-rate', minHosts: 20 }] } } as unknown as RolloutSpec;
    expect(builtinSignals(own).map((m) => [m.name, m.minHosts])).toEqual([[SILENT_HOSTS, 20]]);
    expect(describeSignals(bare)).toHaveLength(2);
    expect(describeSignals(bare)[0]).toMatch(/^update-failures: agents' update failures \(signature, hash, download, apply\)/);
  });
});

describe('update-failures', () => {
  const metric = builtinSignals(bare)[0] as MetricSpec;
  const alpha = shareOf(alphaLedger(bare), UPDATE_FAILURES);

  test('tampered manifest: refusals of the first wave fail within two analysis intervals, and the reason names them', () => {
    // The first wave: 50 hosts polling every 60 s (15 s jitter); every poll is refused (half signature, half hash),
    // nobody installs. About 40 refusals land in the first interval, 50 in each next one.
    let state: MetricJudgeState | undefined;
    const results: string[] = [];
    let reason = '';
    for (let m = 1; m <= 2; m++) {
      const j = judgeSignal(metric, obs(m, [iv(m, [m === 1 ? 40 : 50, 0], [300, 16_600])], [0, 1_000_000]), state ?? initialSignalJudgeState(metric), alpha);
      state = j.state;
      results.push(j.verdict.result);
      reason = j.verdict.reason;
      if (m === 1) expect(j.verdict.concern).toBe(true);
    }
    expect(results).toEqual(['inconclusive', 'fail']);
    expect(reason).toMatch(/agents refuse the update: 90 update failures \(agents' signature, hash, download or apply refusals\) and 0 successful installs/);
    expect(reason).toMatch(/false-fail rate <= 0\.01 per rollout/);
  });

  test('healthy installs with a few download failures pass', () => {
    let state: MetricJudgeState | undefined;
    let last = '';
    for (let m = 1; m <= 30; m++) {
      const hosts = Math.min(2000, 70 * m);
      const j = judgeSignal(metric, obs(m, [iv(m, [m % 10 === 0 ? 1 : 0, hosts / 60], [300, 16_600])], [hosts, 1_000_000 - hosts]), state ?? initialSignalJudgeState(metric), alpha);
      state = j.state;
      last = j.verdict.result;
      expect(j.verdict.result).not.toBe('fail');
    }
    expect(last).toBe('pass');
    expect(state?.signal?.attempts).toBe(2000 + 3);
  });
});

describe('silent-hosts', () => {
  const metric = builtinSignals(bare)[1] as MetricSpec;
  const alpha = shareOf(alphaLedger(bare), SILENT_HOSTS);

  test('hosts that crashed on boot and stopped reporting fail once minHosts took the update', () => {
    // 40 then 50 hosts took it; 95% crashed on boot (BSOD counted at install) and report nothing.
    const first = judgeSignal(metric, obs(1, [iv(1, [38, 0.02], [5, 16_600])], [2, 999_960]), initialSignalJudgeState(metric), alpha);
    expect(first.verdict.result).toBe('inconclusive');
    expect(first.verdict.concern).toBe(true);
    const second = judgeSignal(metric, obs(2, [iv(2, [10, 0.03], [5, 16_600])], [2, 999_950]), first.state, alpha);
    expect(second.verdict.result).toBe('fail');
    expect(second.verdict.reason).toMatch(/^silent-hosts: 48 of 50 candidate hosts that took the update no longer report/);
  });

  test('a healthy ring with ordinary BSODs (hosts that reboot and report) passes', () => {
    let state: MetricJudgeState | undefined;
    for (let m = 1; m <= 60; m++) {
      const j = judgeSignal(metric, obs(m, [iv(m, [m % 7 === 0 ? 1 : 0, 10_000 / 60], [50, 16_500])], [10_000, 990_000]), state ?? initialSignalJudgeState(metric), alpha);
      state = j.state;
      expect(j.verdict.result).toBe('pass');
    }
  });
});

describe('judgeRing with signals', () => {
  test('a rollout without declared metrics is judged on the signals alone, with the rollout rate', () => {
    const ledger = alphaLedger(bare);
    expect(ledger.metrics).toEqual([UPDATE_FAILURES, SILENT_HOSTS]);
    const healthy = obs(1, [iv(1, [0, 2000 / 60], [300, 16_600])], [2000, 998_000]);
    const ring = judgeRing([], { [UPDATE_FAILURES]: healthy, [SILENT_HOSTS]: healthy }, {}, { signals: builtinSignals(bare), ledger });
    expect(ring.result).toBe('pass');
    expect(ring.reason).toMatch(/false-fail rate <= 0\.01 per rollout/);
    expect(ring.metrics.map((m) => m.signal)).toEqual(['update-failures', 'silent-hosts']);
    expect(ring.touchedHosts).toBe(2000);
  });

  test('declared metrics and signals are judged together; the signal state is kept under its name', () => {
    const spec = { ...bare, analysis: { metrics: [crash] } } as unknown as RolloutSpec;
    const o = obs(1, [iv(1, [0, 2000 / 60], [5, 16_600])], [2000, 998_000]);
    const ring = judgeRing([crash], { crashes: o, [UPDATE_FAILURES]: o, [SILENT_HOSTS]: o }, {}, { signals: builtinSignals(spec), ledger: alphaLedger(spec) });
    expect(Object.keys(ring.states).sort()).toEqual(['crashes', SILENT_HOSTS, UPDATE_FAILURES].sort());
    expect(ring.states[UPDATE_FAILURES]?.signal?.kind).toBe('update-failures');
    expect(ring.result).toBe('pass');
    expect(ring.metrics.map((m) => m.metric)).toEqual(['crashes', UPDATE_FAILURES, SILENT_HOSTS]);
  });
});
