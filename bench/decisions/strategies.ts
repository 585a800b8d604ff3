/**
 * The peer strategies of the decisions comparison (bench/decisions/compare.ts), as Analyzers over the simulated
 * fleet's counts: Argo-, Flagger- and Kayenta-style runs (judges/*.ts) that keep their own state per rollout and
 * decide at every analysis interval whether the peer would roll back, stop for a human, or go on.
 *
 * Two ways to run them:
 * - ObserverAnalyzer on the bake-only trajectory (the rollout without a ramp and without metrics, so the controller
 *   advances on bake time alone and ignores verdicts): every peer judges the same looks and the first stop of each is
 *   recorded. Peers that expose hosts at the same pace (the same rings and bakes) and differ only in when they stop
 *   share this one simulated trajectory per seed.
 * - ObserverAnalyzer on the ramp trajectory (the rollout as written, with Ringmaster's in-ring ramp): every look is
 *   a `pass`, so the ramp grows and the ring advances after its bake, as a peer's canary steps advance after their
 *   pause unless the analysis failed; each peer's first stop is read off it the same way ("+ ramp" rows).
 *
 * Metrics: the rollout's declared crash-rate and bsod-rate metrics, each with its maxRatio as the peer's threshold
 * (candidate rate > maxRatio x baseline rate), over the analysis interval (Argo, Flagger) or from the ring's start
 * (Kayenta's growing window). Before any candidate host reports in a ring, for up to 10 minutes after the ring
 * started (the peers' progress deadline, 600 s by default in Argo Rollouts and Flagger), a look is skipped: the
 * canary "is not up yet". After that, missing data counts as each peer counts it.
 */
import type { RingVerdict, RolloutState } from '../../controller/engine/state';
import type { MetricVerdict } from '../../controller/engine/judge';
import type { Analyzer } from '../../controller/runtime/types';
import { analysisIntervalMs, engineConfigFor } from '../../controller/runtime/config';
import type { Rollout } from '../../controller/spec/types';
import type { VirtualRunContext } from '../../agent-sim/virtual';
import { assess, count, evaluateResult, newCounters, type ArgoCounters, type ArgoLimits, type ArgoMetric } from './judges/argo';
import { flaggerStep, type FlaggerCheck } from './judges/flagger';
import { classify, decideScore, KAYENTA_JUDGE_CLASSIFIER, KAYENTA_THRESHOLDS, score, type ScoredMetric } from './judges/kayenta';

export type PeerName = 'argo' | 'flagger' | 'kayenta';
export const PROGRESS_DEADLINE_MS = 600_000;

export interface PeerMetric {
  name: string;
  kind: 'crash' | 'bsod';
  maxRatio: number;
}

/** The peers' metrics: the rollout's crash-rate and bsod-rate metrics with their tolerated ratio. */
export function peerMetrics(rollout: Rollout): PeerMetric[] {
  const out: PeerMetric[] = [];
  for (const m of rollout.spec.analysis?.metrics ?? []) {
    if (m.type !== 'crash-rate' && m.type !== 'bsod-rate') continue;
    out.push({ name: m.name, kind: m.type === 'crash-rate' ? 'crash' : 'bsod', maxRatio: (m as { maxRatio?: number }).maxRatio ?? 1.2 });
  }
  return out;
}

/** One look of a peer: where the ring is, what time it is, and the fleet. */
export interface Look {
  ring: number;
  ringStartedAt: number;
  /** The previous look of this ring (or the ring's start). */
  since: number;
  now: number;
  /** Whether the ring's bake is over at this look (Kayenta's final analysis). */
  final: boolean;
  ctx: VirtualRunContext;
}

export type LookResult = { kind: 'continue'; noData: boolean } | { kind: 'fail' | 'human'; reason: string };

export interface Peer {
  readonly name: PeerName;
  look(l: Look): LookResult;
}

type Reading = { events: number; exposureHours: number; hosts: number } | 'no-data' | 'absent';

function reading(l: Look, version: string, kind: 'crash' | 'bsod', from: number): Reading {
  const r = l.ctx.provider.counts(l.ctx.rollout.spec.channel, version, kind, new Date(from), new Date(l.now));
  return r;
}

/** Argo Rollouts: a background analysis over the whole rollout, one measurement per metric per interval. */
export class ArgoPeer implements Peer {
  readonly name = 'argo' as const;
  private readonly counters = new Map<string, ArgoCounters>();
  constructor(
    private readonly metrics: PeerMetric[],
    private readonly versions: { baseline: string; candidate: string },
    private readonly limits: ArgoLimits = { failureLimit: 3, inconclusiveLimit: 0, consecutiveErrorLimit: 4 },
  ) {}

  look(l: Look): LookResult {
    let noData = false;
    for (const m of this.metrics) {
      const cand = reading(l, this.versions.candidate, m.kind, l.since);
      const base = reading(l, this.versions.baseline, m.kind, l.since);
      // The query's result: [candidate rate, baseline rate] per host-hour; no series: an empty result.
      let result: number[] = [];
      if (typeof cand === 'object' && typeof base === 'object') result = [cand.events / cand.exposureHours, base.events / base.exposureHours];
      else noData = true;
      const metric: ArgoMetric = {
        successCondition: (r) => {
          const a = r as number[];
          if (a.length === 0) throw new Error('index out of range');
          return (a[0] as number) <= m.maxRatio * (a[1] as number);
        },
        failureCondition: (r) => {
          const a = r as number[];
          if (a.length === 0) throw new Error('index out of range');
          return (a[0] as number) > m.maxRatio * (a[1] as number);
        },
      };
      const phase = evaluateResult(result, metric).phase;
      const c = count(this.counters.get(m.name) ?? newCounters(), phase);
      this.counters.set(m.name, c);
      const run = assess(c, this.limits);
      if (run === 'Failed') return { kind: 'fail', reason: `${m.name}: failed (${c.failed}) > failureLimit (${this.limits.failureLimit})` };
      if (run === 'Error') return { kind: 'fail', reason: `${m.name}: consecutiveErrors (${c.consecutiveError}) > consecutiveErrorLimit (${this.limits.consecutiveErrorLimit})` };
      if (run === 'Inconclusive') return { kind: 'human', reason: `${m.name}: inconclusive (${c.inconclusive}) > inconclusiveLimit (${this.limits.inconclusiveLimit}): the rollout pauses` };
    }
    return { kind: 'continue', noData };
  }
}

/** Flagger: one failed check per interval when any metric breaches its threshold or returns no value; threshold 5. */
export class FlaggerPeer implements Peer {
  readonly name = 'flagger' as const;
  private state = { failedChecks: 0 };
  constructor(
    private readonly metrics: PeerMetric[],
    private readonly versions: { baseline: string; candidate: string },
    private readonly threshold = 5,
  ) {}

  look(l: Look): LookResult {
    let noData = false;
    const checks: FlaggerCheck[] = this.metrics.map((m) => {
      const cand = reading(l, this.versions.candidate, m.kind, l.since);
      const base = reading(l, this.versions.baseline, m.kind, l.since);
      if (typeof cand !== 'object' || typeof base !== 'object') {
        noData = true;
        return { value: null, max: m.maxRatio };
      }
      // The check's query: candidate rate / baseline rate (NaN for 0/0: no value).
      const ratio = cand.events / cand.exposureHours / (base.events / base.exposureHours);
      return { value: Number.isNaN(ratio) ? null : ratio, max: m.maxRatio };
    });
    const r = flaggerStep(this.state, checks, this.threshold);
    this.state = r.state;
    if (r.rollback) return { kind: 'fail', reason: `failed checks ${r.state.failedChecks} reached threshold ${this.threshold}` };
    return { kind: 'continue', noData };
  }
}

/**
 * Kayenta: per look, per metric, the candidate's per-host-group rates against the baseline's from the ring's start
 * (Spinnaker's canary stage without a lookback window analyses from the start), classified with the judge's
 * Mann-Whitney classifier (confidence 0.98, tolerance 0.25, direction increase); scored; an interim score at or
 * below marginal (75) fails, the final analysis (the ring's bake over) must reach pass (95), and in between it stops
 * for a human.
 */
export class KayentaPeer implements Peer {
  readonly name = 'kayenta' as const;
  private readonly finalDone = new Set<number>();
  constructor(
    private readonly metrics: PeerMetric[],
    private readonly seed: number,
  ) {}

  look(l: Look): LookResult {
    if (this.finalDone.has(l.ring)) return { kind: 'continue', noData: false };
    const fleet = l.ctx.fleet;
    const inGap = l.ctx.gaps.some((g) => l.now >= g.from && l.now < g.to);
    const a = fleet.groupAt(l.ringStartedAt);
    const b = fleet.groupAt(l.now);
    if (a === null || b === null) throw new Error('kayenta: the fleet has no host groups (VirtualOptions.hostGroups)');
    const results: ScoredMetric[] = [];
    let noData = false;
    for (const m of this.metrics) {
      const ev = m.kind === 'crash' ? [a.crashes, b.crashes] : [a.bsods, b.bsods];
      const rates = (v: 0 | 1): number[] => {
        const out: number[] = [];
        if (inGap) return out;
        for (let k = 0; k < fleet.groups; k++) {
          const hours = ((b.hostSeconds[v][k] as number) - (a.hostSeconds[v][k] as number)) / 3600;
          // Events per 1000 host-hours: values of order 1, the scale Kayenta's root tolerance (1e-4) is made for.
          if (hours > 0) out.push((1000 * (((ev[1] as [Float64Array, Float64Array])[v][k] as number) - ((ev[0] as [Float64Array, Float64Array])[v][k] as number))) / hours);
        }
        return out;
      };
      const experiment = rates(1);
      const control = rates(0);
      if (experiment.length === 0 || control.length === 0) noData = true;
      const c = classify(control, experiment, { config: KAYENTA_JUDGE_CLASSIFIER, direction: 'increase', nanStrategy: 'remove', name: m.name, seed: this.seed + l.now });
      results.push({ name: m.name, classification: c.classification, critical: c.critical, groups: [m.name] });
    }
    const s = score(results);
    const d = decideScore(s.summaryScore, l.final, KAYENTA_THRESHOLDS);
    if (d === 'fail') return { kind: 'fail', reason: `score ${s.summaryScore} <= marginal ${KAYENTA_THRESHOLDS.marginal}${s.reason ? ` (${s.reason})` : ''}` };
    if (d === 'human') return { kind: 'human', reason: `final score ${s.summaryScore} between marginal ${KAYENTA_THRESHOLDS.marginal} and pass ${KAYENTA_THRESHOLDS.pass}` };
    if (d === 'pass') this.finalDone.add(l.ring);
    return { kind: 'continue', noData };
  }
}

export interface PeerStop {
  peer: PeerName;
  kind: 'fail' | 'human';
  at: number;
  ring: number;
  reason: string;
}

/** The looks of one rollout: once per analysis interval per ring, with the progress-deadline skip. */
class LookClock {
  private readonly last = new Map<string, number>();
  constructor(private readonly intervalMs: number) {}

  due(state: RolloutState, now: Date): boolean {
    if (state.exposedRing < 0 || state.ringStartedAt === null) return false;
    const last = this.last.get(`${state.exposedRing}/${state.ringStartedAt}`);
    return last === undefined ? now.getTime() - Date.parse(state.ringStartedAt) >= this.intervalMs : now.getTime() - last >= this.intervalMs;
  }

  /** The look now, or null when none is due or the canary is not up yet. */
  take(rollout: Rollout, state: RolloutState, now: Date, ctx: VirtualRunContext, bakeMs: (ring: number) => number): Look | null {
    if (!this.due(state, now) || state.ringStartedAt === null) return null;
    const key = `${state.exposedRing}/${state.ringStartedAt}`;
    const ringStartedAt = Date.parse(state.ringStartedAt);
    const t = now.getTime();
    const since = this.last.get(key) ?? ringStartedAt;
    const hosts = ctx.fleet.hostsOn[1];
    if (hosts === 0 && t - ringStartedAt < PROGRESS_DEADLINE_MS) {
      this.last.set(key, t);
      return null;
    }
    this.last.set(key, t);
    const p = state.phase;
    const bakeStart = p.kind === 'progressing' ? (p.bakeStartedAt === null ? null : Date.parse(p.bakeStartedAt)) : ringStartedAt;
    const final = p.kind !== 'progressing' || (bakeStart !== null && t - bakeStart >= bakeMs(state.exposedRing));
    void rollout;
    return { ring: state.exposedRing, ringStartedAt, since, now: t, final, ctx };
  }
}

const verdictOf = (ring: number, result: 'pass' | 'fail' | 'inconclusive', reason: string, noData: boolean, hosts: number, at: string): RingVerdict => ({
  ring,
  result,
  reason,
  noData,
  metrics: [{ metric: 'peer', type: 'crash-rate', result, reason, at, sample: { hosts, touchedHosts: hosts } } as unknown as MetricVerdict],
  judgeStates: {},
  touchedHosts: hosts,
  concern: false,
});

/**
 * Every peer on one shared trajectory: records each one's first stop; the controller never sees a peer's verdict.
 * - `bake-only`: on the bake-only rollout (no metrics): the verdicts are ignored and rings advance on bake time.
 * - `ramp`: on the rollout as written, with Ringmaster's in-ring ramp: every look is a `pass` (no data while no
 *   candidate host reports), so the ramp grows and the ring advances after its bake, at the pace a peer configured
 *   with equivalent weight steps would go (Argo's and Flagger's steps advance on their pause, not on the data).
 * Peers stop, they never speed a rollout up, so until its own stop every peer's rollout is this one trajectory.
 */
export class ObserverAnalyzer implements Analyzer {
  readonly stops: PeerStop[] = [];
  private readonly clock: LookClock;
  private readonly stopped = new Set<PeerName>();
  constructor(
    private readonly original: Rollout,
    private readonly ctx: () => VirtualRunContext,
    private readonly peers: Peer[],
    private readonly mode: 'bake-only' | 'ramp' = 'bake-only',
  ) {
    this.clock = new LookClock(analysisIntervalMs(original));
  }

  judges(): boolean {
    return this.mode === 'ramp';
  }

  /** Every peer has stopped: the rest of the trajectory changes no peer's row. */
  allStopped(): boolean {
    return this.stopped.size === this.peers.length;
  }

  due(_r: Rollout, state: RolloutState, now: Date): boolean {
    return (this.mode === 'ramp' || this.stopped.size < this.peers.length) && this.clock.due(state, now);
  }

  analyze(rollout: Rollout, state: RolloutState, now: Date): Promise<RingVerdict | undefined> {
    const cfg = engineConfigFor(this.original);
    const ring = state.exposedRing;
    const at = now.toISOString();
    const hosts = this.ctx().fleet.hostsOn[1];
    const look = this.clock.take(rollout, state, now, this.ctx(), (r) => cfg.rings[r]?.bakeMs ?? 0);
    if (look === null) {
      if (this.mode === 'bake-only' || this.clock.due(state, now)) return Promise.resolve(undefined);
      // The canary is not up yet: a no-data look (the ramp's census look is one).
      return Promise.resolve(verdictOf(ring, 'inconclusive', 'the canary is not up yet', true, hosts, at));
    }
    let noData = false;
    for (const p of this.peers) {
      if (this.stopped.has(p.name)) continue;
      const r = p.look(look);
      if (r.kind !== 'continue') {
        this.stopped.add(p.name);
        this.stops.push({ peer: p.name, kind: r.kind, at: look.now, ring: look.ring, reason: r.reason });
      } else noData ||= r.noData;
    }
    if (this.mode === 'bake-only') return Promise.resolve(verdictOf(look.ring, 'inconclusive', 'observer', false, hosts, at));
    if (this.stopped.size === this.peers.length) noData = candidateSilent(look);
    return Promise.resolve(verdictOf(ring, 'pass', 'observer: running', noData, hosts, at));
  }
}

/** Whether no candidate host reported crash data in the look (once every peer stopped, the ramp still needs it). */
function candidateSilent(l: Look): boolean {
  return typeof reading(l, l.ctx.rollout.spec.version, 'crash', l.since) !== 'object';
}

/** The rollout of the bake-only trajectory: no ramp, no declared metrics (bake time alone). */
export function bakeOnly(r: Rollout): Rollout {
  const c = structuredClone(r);
  c.spec.rings = c.spec.rings.map((x) => ({ ...x, ramp: 'none' as const }));
  if (c.spec.analysis) c.spec.analysis = { ...c.spec.analysis, metrics: [] };
  return c;
}

export function makePeer(name: PeerName, rollout: Rollout, seed: number): Peer {
  const metrics = peerMetrics(rollout);
  const versions = { baseline: rollout.spec.previousVersion ?? '0.0.0', candidate: rollout.spec.version };
  if (name === 'argo') return new ArgoPeer(metrics, versions);
  if (name === 'flagger') return new FlaggerPeer(metrics, versions);
  return new KayentaPeer(metrics, seed);
}
