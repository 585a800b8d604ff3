/**
 * The Reconciler, level-triggered: for each non-terminal rollout, read its state, gather facts (the verdict
 * needs Prometheus: with a hard deadline, outside anything a human verb waits on), call the engine's `decide`,
 * commit, then perform the actions.
 *
 * Deciding and committing is synchronous and re-reads the rollout first: a verdict gathered on a state that
 * has since moved to another ring is dropped (optimistic concurrency on the revision it read), and the decision
 * is recomputed on the fresh state. Human verbs (`decideNow`) go through the same function and never wait for a
 * pass or a metrics query. The kill switch is read last, right before a decision that widens exposure commits.
 */
import { lineageEvents } from '../engine/scheduling';
import { decide, isTerminal } from '../engine/decide';
import type { Decision, Facts, RingVerdict, RolloutState } from '../engine/state';
import { StoreConflictError } from '../store/store';
import type { RolloutRecord, StateStore } from '../store/types';
import type { Logger } from '../telemetry/log';
import type { Clock } from './clock';
import type { Notifier } from './notifications';
import { decisionEvents } from '../engine/events';
import { forEachLimited, withDeadline, yieldToLoop } from './deadline';
import type { FactSource } from './facts';
import type { ActionRunner } from './outbox';
import type { Analyzer, CensusSource, PreflightSource, RuntimeObserver } from './types';

export interface ReconcilerOptions {
  /** Hard deadline of one rollout's analysis (all its metrics), real time. Default 10 s. */
  analysisDeadlineMs?: number;
  /** Analyses in flight at once. Default 8. */
  analysisConcurrency?: number;
  /** Ring sizes for the ramp's waves (agents' census); without it, a ramping ring's waves go by share. */
  census?: CensusSource;
  /** Runs the pre-flight checks of rollouts in phase `preflight` (runtime/preflight.ts); without it they wait. */
  preflight?: PreflightSource;
  /** Writes the notification events of each decision in its transaction (runtime/notifications.ts); none without. */
  notifier?: Notifier;
}

/** What a verdict was computed on: it applies only while the same ring exposure is in effect. */
export interface Gathered {
  exposedRing: number;
  ringStartedAt: string | null;
  verdict: RingVerdict;
}

/** Work between two yields to the event loop during a pass, so manifests and verbs are served meanwhile. */
const SLICE_MS = 4;

export class Reconciler {
  private pass: Promise<void> = Promise.resolve();
  /** Analyses that have not settled yet (a hung provider): no second query is stacked on them. */
  private readonly inflight = new Set<string>();
  private readonly deadlineMs: number;
  private readonly concurrency: number;
  private readonly census: CensusSource | undefined;
  private readonly preflight: PreflightSource | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly facts: FactSource,
    private readonly actions: ActionRunner,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly analyzer: Analyzer | undefined,
    private readonly observer: RuntimeObserver | undefined,
    opts: ReconcilerOptions = {},
  ) {
    this.deadlineMs = opts.analysisDeadlineMs ?? 10_000;
    this.concurrency = opts.analysisConcurrency ?? 8;
    this.census = opts.census;
    this.preflight = opts.preflight;
    this.notifier = opts.notifier;
  }

  private readonly notifier: Notifier | undefined;

  /** One pass over every non-terminal rollout. Passes never overlap: a second call runs after the first. */
  reconcileAll(): Promise<void> {
    const run = this.pass.then(() => this.runPass());
    this.pass = run.catch(() => undefined);
    return run;
  }

  /**
   * Decides each rollout now in one transaction (the kill switch): each failure is logged and the others go on;
   * the actions run once, at the end.
   */
  decideEach(names: readonly string[]): void {
    const nowMs = this.clock.now();
    this.store.transaction(() => {
      for (const name of names) {
        try {
          this.decideAndCommit(name, nowMs, undefined);
        } catch (err) {
          this.log.error({ rollout: name, err: (err as Error).message }, 'decision failed');
        }
      }
      this.actions.runPending();
    });
  }

  /** Resolves when the pass in progress (if any) has ended. */
  idle(): Promise<void> {
    return this.pass;
  }

  /** Decides one rollout now, without a verdict and without waiting for anything (human verbs, apply). */
  decideNow(name: string): void {
    this.store.transaction(() => {
      this.decideAndCommit(name, this.clock.now(), undefined);
      this.actions.runPending();
    });
  }

  /**
   * One rollout's verdict, if one is due, within the deadline (the operator's work queue: one key at a time). Pass
   * it to decideOne; a verdict gathered on an exposure that has since moved is dropped there.
   */
  async gatherOne(name: string): Promise<Gathered | undefined> {
    const rec = this.store.getRollout(name);
    if (!rec || isTerminal(rec.state.phase)) return undefined;
    return (await this.gather([rec], this.clock.now())).get(name);
  }

  /** Decides one rollout on its freshest state with what gatherOne found; true when something was committed. */
  decideOne(name: string, gathered: Gathered | undefined): boolean {
    return this.store.transaction(() => {
      const changed = this.decideAndCommit(name, this.clock.now(), gathered);
      if (changed) this.actions.runPending();
      return changed;
    });
  }

  private async runPass(): Promise<void> {
    const started = process.hrtime.bigint();
    const gathered = await this.gather(this.store.listRollouts({ activeOnly: true }), this.clock.now());
    const nowMs = this.clock.now();
    // Re-listed: rollouts applied or finished while the verdicts were being gathered are seen as they are now.
    const names = this.store.listRollouts({ activeOnly: true }).map((r) => r.name);
    // Decided in slices of a few ms, each slice one transaction (one fsync), with the event loop free in between.
    for (let i = 0; i < names.length; ) {
      const sliceEnd = performance.now() + SLICE_MS;
      this.store.transaction(() => {
        do {
          const name = names[i++] as string;
          try {
            // Its actions (the manifest it changes) run at once, in the slice's transaction: the slice's time budget counts them.
            if (this.decideAndCommit(name, nowMs, gathered.get(name))) this.actions.runPending();
          } catch (err) {
            this.log.error({ rollout: name, err: (err as Error).message, stack: (err as Error).stack }, 'reconcile failed');
          }
        } while (i < names.length && performance.now() < sliceEnd);
      });
      if (i < names.length) await yieldToLoop();
    }
    this.observer?.killSwitch(this.store.getKillSwitch().engaged);
    this.observer?.reconcileDuration(Number(process.hrtime.bigint() - started) / 1e9);
  }

  /** The verdicts due this pass, each within the deadline; a query that does not answer yields an `error` verdict. */
  private async gather(active: RolloutRecord[], nowMs: number): Promise<Map<string, Gathered>> {
    const out = new Map<string, Gathered>();
    const analyzer = this.analyzer;
    if (!analyzer) return out;
    const now = new Date(nowMs);
    const due = active.filter((r) => r.state.exposedRing >= 0 && !isTerminal(r.state.phase) && (analyzer.due?.(r.spec, r.state, now) ?? true));
    await forEachLimited(due, this.concurrency, async (rec) => {
      const basis = { exposedRing: rec.state.exposedRing, ringStartedAt: rec.state.ringStartedAt };
      if (this.inflight.has(rec.name)) {
        out.set(rec.name, { ...basis, verdict: errorVerdict(rec.state, 'the previous metrics analysis has not answered yet') });
        return;
      }
      this.inflight.add(rec.name);
      const work = analyzer.analyze(rec.spec, rec.state, now);
      work.then(
        () => this.inflight.delete(rec.name),
        () => this.inflight.delete(rec.name),
      );
      try {
        const v = await withDeadline(work, this.deadlineMs, 'the metrics analysis');
        if (v) out.set(rec.name, { ...basis, verdict: await this.withCensus(rec, v, now) });
      } catch (err) {
        out.set(rec.name, { ...basis, verdict: errorVerdict(rec.state, err instanceof Error ? err.message : String(err)) });
      }
    });
    return out;
  }

  /** While the exposed ring ramps, the verdict carries the ring's size from the census (null when unknown). */
  private async withCensus(rec: RolloutRecord, v: RingVerdict, now: Date): Promise<RingVerdict> {
    const ring = rec.spec.spec.rings[rec.state.exposedRing];
    if (!this.census || (rec.state.wave ?? null) === null || ring === undefined) return v;
    let ringHosts: number | null = null;
    try {
      ringHosts = await withDeadline(this.census.ringHosts(rec.channel, ring.name, now), this.deadlineMs, 'the ring census');
    } catch (err) {
      this.log.warn({ rollout: rec.name, err: err instanceof Error ? err.message : String(err) }, 'ring census failed');
    }
    return { ...v, census: { ringHosts } };
  }

  /** Decides one rollout on its freshest state; true when something was committed. */
  private decideAndCommit(name: string, nowMs: number, gathered: Gathered | undefined): boolean {
    for (let attempt = 0; attempt < 3; attempt++) {
      const rec = this.store.getRollout(name);
      // A final rollout is decided only for the requests sent to it (retry; every other verb gets its refusal in words).
      if (!rec || (isTerminal(rec.state.phase) && this.store.pendingRequests(name).length === 0)) {
        this.preflight?.release(name);
        return false;
      }
      const fresh = gathered && gathered.exposedRing === rec.state.exposedRing && gathered.ringStartedAt === rec.state.ringStartedAt;
      const verdict = fresh ? gathered.verdict : undefined;
      const facts = this.facts.facts(rec, nowMs, verdict);
      const d = decide(rec.state, facts, this.facts.engineConfig(rec));
      if (verdict) this.observeVerdict(rec, verdict, nowMs);
      if (d.state === rec.state && d.transitions.length === 0 && d.requestOutcomes.length === 0) {
        // A rollout in preflight after a restart (or whose run was lost): its checks run (again).
        this.followPreflight(rec);
        return false;
      }
      // The kill switch, last: a decision that widens exposure never commits on a switch that moved since it was read.
      if (d.state.exposedRing > rec.state.exposedRing && this.store.getKillSwitch().engaged !== facts.killSwitch.engaged) continue;
      try {
        this.commit(rec, d, facts);
        this.store.afterCommit(() => this.followPreflight({ ...rec, state: d.state }));
        return true;
      } catch (err) {
        if (!(err instanceof StoreConflictError)) throw err;
        this.log.debug({ rollout: name, attempt }, 'stale read: decision recomputed');
      }
    }
    return false;
  }

  /** Starts the pre-flight run of a rollout in phase preflight (at once, without waiting); lets go of it otherwise. */
  private followPreflight(rec: RolloutRecord): void {
    if (!this.preflight) return;
    if (rec.state.phase.kind === 'preflight') this.preflight.ensure(rec);
    else this.preflight.release(rec.name);
  }

  private commit(rec: RolloutRecord, d: Decision, facts: Facts): void {
    const name = rec.name;
    const revision = rec.revision + 1;
    const audit = d.transitions.map((t) => ({
      actor: t.actor,
      action: 'rollout.transition',
      target: name,
      reason: t.reason,
      payload: { n: t.n, from: t.from, to: t.to, exposedRing: t.exposedRing, revision },
    }));
    for (const o of d.requestOutcomes) {
      const req = facts.requests.find((r) => r.id === o.id);
      audit.push({
        actor: req?.actor ?? 'controller',
        action: o.applied ? 'request.applied' : 'request.rejected',
        target: name,
        reason: o.message,
        payload: { n: d.state.transitions, from: rec.state.phase.kind, to: d.state.phase.kind, exposedRing: d.state.exposedRing, revision },
      });
    }
    const lastN = d.transitions[d.transitions.length - 1]?.n ?? d.state.transitions;
    const actions = d.actions.map((a, i) => ({ key: `${name}:${revision}:${lastN}:${i}`, kind: a.kind, payload: { ...a, channel: rec.channel, rollout: name } }));
    const input = {
      name,
      expectedRevision: rec.revision,
      state: d.state,
      transitions: d.transitions,
      audit,
      actions,
      requestOutcomes: d.requestOutcomes,
      lineage: lineageEvents(rec.spec.spec.version, d.transitions),
    };
    const notifier = this.notifier;
    if (!notifier || d.transitions.length === 0) this.store.commitDecision(input);
    else {
      // The decision and its notification events commit together: an event exists iff its transition committed.
      this.store.transaction(() => {
        this.store.commitDecision(input);
        notifier.enqueue(
          decisionEvents({
            rollout: name,
            channel: rec.channel,
            version: rec.spec.spec.version,
            rings: rec.spec.spec.rings.map((r) => r.name),
            previousExposedRing: rec.state.exposedRing,
            transitions: d.transitions,
            state: d.state,
            verdict: facts.verdict ?? null,
          }),
          this.clock.now(),
        );
      });
    }
    const log = this.log.child({ rollout: name, channel: rec.channel });
    for (const t of d.transitions) {
      this.observer?.transition(t.to);
      const level = t.to === 'halted' || t.to === 'rolling-back' ? 'warn' : 'info';
      log[level]({ n: t.n, from: t.from, to: t.to, ring: t.exposedRing, reason: t.reason, actor: t.actor }, 'transition');
    }
    this.observer?.rolloutPhase(name, rec.channel, d.state.phase.kind, d.state.exposedRing);
    // The actions run at the end of the batch, in its transaction (see ActionRunner): after this commit is written.
  }

  private observeVerdict(rec: RolloutRecord, v: RingVerdict, nowMs: number): void {
    const obs = this.observer;
    if (!obs) return;
    for (const m of v.metrics as Array<{ metric?: string; result?: string }>) {
      if (m && typeof m.metric === 'string' && typeof m.result === 'string') obs.verdict(rec.name, m.metric, m.result);
    }
    const started = rec.state.ringStartedAt ? Date.parse(rec.state.ringStartedAt) : nowMs;
    if (v.result === 'pass' || v.result === 'fail') {
      if (rec.state.lastVerdict === null || rec.state.lastVerdict.result === 'inconclusive' || rec.state.lastVerdict.ring !== v.ring) {
        obs.verdictLatency((nowMs - started) / 1000);
      }
    }
    const since = rec.state.noDataSince;
    obs.noDataSeconds(rec.name, rec.channel, v.ring, v.noData || v.result === 'error' ? (since ? (nowMs - Date.parse(since)) / 1000 : 0) : 0);
  }
}

/** A verdict for a query that failed or did not answer: it counts toward provider-error, never toward a pass. */
function errorVerdict(state: RolloutState, reason: string): RingVerdict {
  return { ring: state.exposedRing, result: 'error', reason, metrics: [], judgeStates: state.judgeStates, touchedHosts: null, concern: false };
}
