/**
 * Runs the health analysis of a rollout's exposed ring once per analysis interval: observe every declared metric
 * and every built-in signal (engine/signals.ts) from Prometheus or the simulator's counters (the same function
 * shape), each from the end of the last interval its test consumed, then let the pure judge decide with α split
 * per rollout (engine/judge.ts alphaLedger).
 */
import type { Observation, RingContext } from '../analysis/types';
import { alphaLedger, judgeRing, type MetricJudgeState } from '../engine/judge';
import { builtinSignals } from '../engine/signals';
import type { RingVerdict, RolloutState } from '../engine/state';
import type { MetricSpec, Rollout } from '../spec/types';
import { analysisIntervalMs } from './config';
import type { Analyzer } from './types';

export type ObserveFn = (metric: MetricSpec, ctx: RingContext) => Promise<Observation>;

export interface MetricsAnalyzerOptions {
  /**
   * Judge the built-in signals (default true). False without a metrics provider: a rollout that declares no metrics
   * then runs on bake time alone, as before (contracts §3).
   */
  signals?: boolean;
  /**
   * Where the numbers come from, when that is not Prometheus: appended to every verdict's reason in brackets
   * (agent-sim serve: "simulated metrics (agent-sim), not Prometheus"), so that whoever reads a verdict knows.
   */
  source?: string;
}

export class MetricsAnalyzer implements Analyzer {
  /** Last analysis per rollout and ring start; in memory: after a restart the next tick analyses at once. */
  private readonly last = new Map<string, number>();
  readonly judgesSignals: boolean;
  readonly source: string | undefined;

  constructor(
    private readonly observe: ObserveFn,
    opts: MetricsAnalyzerOptions = {},
  ) {
    this.judgesSignals = opts.signals !== false;
    this.source = opts.source;
  }

  /** The declared metrics and the signals this analyzer judges for a rollout. */
  private judged(rollout: Rollout): { metrics: MetricSpec[]; signals: MetricSpec[] } {
    return { metrics: rollout.spec.analysis?.metrics ?? [], signals: this.judgesSignals ? builtinSignals(rollout.spec) : [] };
  }

  /** Whether an analysis is due: something to judge, a ring exposed, and the last look for this ring an interval old. */
  due(rollout: Rollout, state: RolloutState, now: Date): boolean {
    const { metrics, signals } = this.judged(rollout);
    if (metrics.length + signals.length === 0 || state.exposedRing < 0 || state.ringStartedAt === null) return false;
    const last = this.last.get(keyOf(rollout, state));
    return last === undefined || now.getTime() - last >= analysisIntervalMs(rollout);
  }

  async analyze(rollout: Rollout, state: RolloutState, now: Date): Promise<RingVerdict | undefined> {
    if (!this.due(rollout, state, now) || state.ringStartedAt === null) return undefined;
    const { metrics, signals } = this.judged(rollout);
    this.last.set(keyOf(rollout, state), now.getTime());
    const ring = state.exposedRing;
    const baselineVersion = rollout.spec.previousVersion;
    const at = now.toISOString();
    const states = state.judgeStates as Record<string, MetricJudgeState>;
    const observed = [...signals, ...metrics];
    const observations: Record<string, Observation> = {};
    if (baselineVersion === undefined) {
      for (const m of observed) observations[m.name] = { kind: 'no-data', at, reason: 'spec.previousVersion is not set: no baseline to compare with' };
    } else {
      const ringStartedAt = new Date(state.ringStartedAt);
      const intervalMs = analysisIntervalMs(rollout);
      const results = await Promise.all(
        observed.map((m) => {
          const consumed = states[m.name]?.consumedUntil ?? null;
          const ctx: RingContext = {
            channel: rollout.spec.channel,
            version: rollout.spec.version,
            baselineVersion,
            ringStartedAt,
            now,
            intervalMs,
            after: consumed === null ? ringStartedAt : new Date(consumed),
          };
          return this.observe(m, ctx).catch((err: unknown): Observation => ({ kind: 'error', at, message: err instanceof Error ? err.message : String(err) }));
        }),
      );
      observed.forEach((m, i) => (observations[m.name] = results[i] as Observation));
    }
    const judged = judgeRing(metrics, observations, states, {
      signals,
      ledger: alphaLedger(rollout.spec),
      requireEvidence: rollout.spec.analysis?.requireEvidence === true,
    });
    const noData = Object.values(observations).some((o) => o.kind === 'no-data' || (o.kind === 'counts' && o.candidateMissing === true));
    return {
      ring,
      result: judged.result,
      reason: this.source === undefined ? judged.reason : `${judged.reason} [${this.source}]`,
      noData,
      metrics: judged.metrics,
      judgeStates: judged.states,
      touchedHosts: judged.touchedHosts,
      concern: judged.concern,
    };
  }
}

function keyOf(rollout: Rollout, state: RolloutState): string {
  return `${rollout.metadata.name}/${state.exposedRing}/${state.ringStartedAt ?? ''}`;
}
