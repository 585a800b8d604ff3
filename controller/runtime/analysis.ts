/**
 * Runs the health analysis of a rollout's exposed ring once per analysis interval: observe every metric
 * (Prometheus or the simulator's counters, through the same function shape), then let the pure judge decide.
 */
import type { Observation, RingContext } from '../analysis/types';
import { judgeRing, type MetricJudgeState } from '../engine/judge';
import type { RingVerdict, RolloutState } from '../engine/state';
import type { MetricSpec, Rollout } from '../spec/types';
import { analysisIntervalMs } from './config';
import type { Analyzer } from './types';

export type ObserveFn = (metric: MetricSpec, ctx: RingContext) => Promise<Observation>;

export class MetricsAnalyzer implements Analyzer {
  /** Last analysis per rollout and ring start; in memory: after a restart the next tick analyses at once. */
  private readonly last = new Map<string, number>();

  constructor(private readonly observe: ObserveFn) {}

  /** Whether an analysis is due: the ring has metrics and the last one for this ring start is an interval old. */
  due(rollout: Rollout, state: RolloutState, now: Date): boolean {
    const metrics = rollout.spec.analysis?.metrics ?? [];
    if (metrics.length === 0 || state.exposedRing < 0 || state.ringStartedAt === null) return false;
    const last = this.last.get(keyOf(rollout, state));
    return last === undefined || now.getTime() - last >= analysisIntervalMs(rollout);
  }

  async analyze(rollout: Rollout, state: RolloutState, now: Date): Promise<RingVerdict | undefined> {
    if (!this.due(rollout, state, now)) return undefined;
    const metrics = rollout.spec.analysis?.metrics ?? [];
    if (state.ringStartedAt === null) return undefined;
    this.last.set(keyOf(rollout, state), now.getTime());
    const ring = state.exposedRing;
    const baselineVersion = rollout.spec.previousVersion;
    const at = now.toISOString();
    const observations: Record<string, Observation> = {};
    if (baselineVersion === undefined) {
      for (const m of metrics) observations[m.name] = { kind: 'no-data', at, reason: 'spec.previousVersion is not set: no baseline to compare with' };
    } else {
      const ctx: RingContext = {
        channel: rollout.spec.channel,
        version: rollout.spec.version,
        baselineVersion,
        ringStartedAt: new Date(state.ringStartedAt),
        now,
      };
      const results = await Promise.all(
        metrics.map((m) =>
          this.observe(m, ctx).catch((err: unknown): Observation => ({ kind: 'error', at, message: err instanceof Error ? err.message : String(err) })),
        ),
      );
      metrics.forEach((m, i) => (observations[m.name] = results[i] as Observation));
    }
    const judged = judgeRing(metrics, observations, state.judgeStates as Record<string, MetricJudgeState>);
    const noData = Object.values(observations).some((o) => o.kind === 'no-data');
    return { ring, result: judged.result, reason: judged.reason, noData, metrics: judged.metrics, judgeStates: judged.states };
  }
}

function keyOf(rollout: Rollout, state: RolloutState): string {
  return `${rollout.metadata.name}/${state.exposedRing}/${state.ringStartedAt ?? ''}`;
}
