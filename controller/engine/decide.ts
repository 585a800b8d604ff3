/**
 * decide(state, facts, config) -> {state, transitions, actions}: the rollout state machine, pure.
 *
 * Order of precedence within one decision:
 *   1. the kill switch (never blocked by anything),
 *   2. human requests (abort and rollback are never blocked; pause/resume/approve as the phase allows),
 *   3. the phase's own step (start a ring when the window allows, judge the bake, finish a rollback).
 * Only starting a ring consults the policy window. Halts, rollbacks and the kill switch do not look at it:
 * there is no code path from a window fact to blocking them.
 */
import type {
  Action,
  Decision,
  EngineConfig,
  Facts,
  HaltReason,
  Phase,
  PhaseKind,
  Request,
  ResumablePhase,
  RollbackEnd,
  RolloutState,
  Transition,
  WaitNote,
} from './state';
import { TERMINAL_PHASES } from './state';
import { describeWave, firstWave, nextWave } from './ramp';

export const CONTROLLER_ACTOR = 'controller';

/** Accumulates the result of one decision. */
class Step {
  state: RolloutState;
  readonly transitions: Transition[] = [];
  readonly actions: Action[] = [];
  readonly requestOutcomes: Decision['requestOutcomes'] = [];

  constructor(
    state: RolloutState,
    readonly facts: Facts,
    readonly config: EngineConfig,
  ) {
    // Never mutated: every change makes a new object, so `state === prev` means nothing changed.
    this.state = state;
  }

  get now(): string {
    return this.facts.now;
  }

  go(to: Phase, reason: string, actor: string = CONTROLLER_ACTOR, patch: Partial<RolloutState> = {}, opts: { notify?: boolean } = {}): void {
    const from = this.state.phase.kind;
    const n = this.state.transitions + 1;
    this.state = { ...this.state, ...patch, phase: to, transitions: n };
    this.transitions.push({ n, at: this.now, from, to: to.kind, exposedRing: this.state.exposedRing, reason, actor });
    // Every transition changes what agents should see (state, exposure or both); publishing is idempotent.
    this.actions.push({ kind: 'publish-manifest' });
    if (opts.notify === false) return;
    const severity = to.kind === 'halted' || to.kind === 'rolling-back' ? 'critical' : to.kind === 'preflight-failed' ? 'warning' : 'info';
    this.actions.push({ kind: 'notify', severity, message: `${from} -> ${to.kind}: ${reason}` });
  }

  outcome(req: Request, applied: boolean, message: string): void {
    this.requestOutcomes.push({ id: req.id, applied, message });
  }
}

function ms(iso: string): number {
  return Date.parse(iso);
}

function ringName(config: EngineConfig, ring: number): string {
  return config.rings[ring]?.name ?? `#${ring}`;
}

/** The ring whose start the window fact is about, for the runtime to compute `facts.window`. */
export function ringAwaitingStart(state: RolloutState): number | undefined {
  const p = state.phase;
  switch (p.kind) {
    case 'pending':
    case 'blocked':
    case 'held':
    case 'preflight':
      // Each goes to ring 0's start gates in the decision that frees it (a resume, lineage matching again, a passed pre-flight).
      return 0;
    case 'waiting-for-window':
    case 'awaiting-approval':
      return p.ring;
    case 'progressing':
      return p.ring + 1;
    case 'paused':
      return ringAwaitingStart({ ...state, phase: p.from });
    case 'halted':
    case 'rolling-back':
    case 'rolled-back':
    case 'succeeded':
    case 'aborted':
    case 'preflight-failed':
      return undefined;
    default:
      return assertNever(p);
  }
}

export function isTerminal(phase: Phase): boolean {
  return TERMINAL_PHASES.has(phase.kind);
}

export function decide(prev: RolloutState, facts: Facts, config: EngineConfig): Decision {
  const s = new Step(prev, facts, config);
  if (!isTerminal(s.state.phase)) {
    applyKillSwitch(s);
    for (const req of facts.requests) applyRequest(s, req);
    if (!isTerminal(s.state.phase)) guardExposedRing(s);
    if (!isTerminal(s.state.phase)) stepPhase(s);
  } else {
    for (const req of facts.requests) s.outcome(req, false, `rollout already ${s.state.phase.kind}`);
  }
  return { state: s.state, transitions: s.transitions, actions: dedupe(s.actions), requestOutcomes: s.requestOutcomes };
}

function dedupe(actions: Action[]): Action[] {
  const out: Action[] = [];
  let published = false;
  for (const a of actions) {
    if (a.kind === 'publish-manifest') {
      if (published) continue;
      published = true;
    }
    out.push(a);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- kill switch

function applyKillSwitch(s: Step): void {
  const ks = s.facts.killSwitch;
  if (!ks.engaged) return;
  const p = s.state.phase;
  const why = `kill switch engaged (${ks.mode}) by ${ks.actor}: ${ks.reason}`;
  if (ks.mode === 'rollback') {
    if (p.kind === 'rolling-back') return;
    if (s.state.exposedRing >= 0) {
      beginRollback(s, why, 'rolled-back', ks.actor);
      return;
    }
    // Nothing exposed: nothing to roll back; the rollout holds (it cannot start while the switch is engaged).
  }
  switch (p.kind) {
    case 'waiting-for-window':
    case 'progressing':
    case 'awaiting-approval':
    case 'paused':
      halt(s, ringOf(p), 'kill-switch', why, ks.actor);
      return;
    case 'pending':
    case 'blocked':
    case 'preflight':
      // Not on any host: it holds, and releasing the switch does not start it (an explicit resume does; a rollout
      // held during its pre-flight runs its checks again).
      s.go({ kind: 'held', reason: why }, `${why}; held until someone resumes it after the switch is released`, ks.actor);
      return;
    case 'held':
    case 'halted':
    case 'rolling-back':
    case 'rolled-back':
    case 'succeeded':
    case 'aborted':
    case 'preflight-failed':
      return;
    default:
      assertNever(p);
  }
}

function ringOf(p: ResumablePhase | Extract<Phase, { kind: 'paused' }>): number {
  return p.kind === 'paused' ? p.from.ring : p.ring;
}

// ---------------------------------------------------------------------------------------------- requests

function applyRequest(s: Step, req: Request): void {
  const p = s.state.phase;
  if (isTerminal(p)) {
    s.outcome(req, false, `rollout already ${p.kind}`);
    return;
  }
  const label = `${req.verb} by ${req.actor}${req.reason ? `: ${req.reason}` : ''}`;
  switch (req.verb) {
    case 'abort':
    case 'rollback': {
      if (p.kind === 'rolling-back') {
        s.outcome(req, false, 'rollback already in progress');
        return;
      }
      const end: RollbackEnd = req.verb === 'abort' ? 'aborted' : 'rolled-back';
      if (s.state.exposedRing >= 0) beginRollback(s, label, end, req.actor);
      else s.go(end === 'aborted' ? { kind: 'aborted', reason: label } : { kind: 'rolled-back', reason: label }, label, req.actor);
      s.outcome(req, true, `${p.kind} -> ${s.state.phase.kind}`);
      return;
    }
    case 'pause': {
      if (p.kind === 'waiting-for-window' || p.kind === 'progressing' || p.kind === 'awaiting-approval') {
        s.go({ kind: 'paused', from: p, reason: label }, label, req.actor);
        s.outcome(req, true, `${p.kind} -> paused`);
      } else if (p.kind === 'preflight') {
        // Nothing is exposed: pausing holds it like the kill switch does; resume sends it back to pending, and
        // its checks run again when it gets the slot.
        s.go({ kind: 'held', reason: label }, `${label} (during pre-flight; resume runs the checks again)`, req.actor);
        s.outcome(req, true, 'preflight -> held');
      } else {
        s.outcome(req, false, `cannot pause a rollout that is ${p.kind}`);
      }
      return;
    }
    case 'resume': {
      if (s.facts.killSwitch.engaged) {
        s.outcome(req, false, 'kill switch engaged: disengage it before resuming');
        return;
      }
      if (p.kind === 'paused') {
        s.go(p.from, label, req.actor);
        s.outcome(req, true, `paused -> ${p.from.kind}`);
      } else if (p.kind === 'held') {
        s.go({ kind: 'pending', reason: label }, label, req.actor);
        s.outcome(req, true, 'held -> pending');
      } else if (p.kind === 'blocked') {
        s.outcome(req, false, `${p.reason}: resuming cannot change that; abort it and apply a rollout with previousVersion ${p.stableVersion}`);
      } else if (p.kind === 'halted') {
        resumeHalted(s, p.ring, label, req.actor);
        s.outcome(req, true, `halted -> ${s.state.phase.kind}`);
      } else {
        s.outcome(req, false, `cannot resume a rollout that is ${p.kind}`);
      }
      return;
    }
    case 'approve': {
      if (p.kind !== 'awaiting-approval') {
        s.outcome(req, false, `nothing to approve: rollout is ${p.kind}`);
        return;
      }
      if (s.facts.killSwitch.engaged) {
        s.outcome(req, false, 'kill switch engaged: no ring may start');
        return;
      }
      startRing(s, p.ring, label, req.actor, { approved: true });
      s.outcome(req, true, `awaiting-approval -> ${s.state.phase.kind}`);
      return;
    }
    default:
      assertNever(req.verb);
  }
}

/** A halted rollout resumes its ring with a fresh bake and fresh evidence; an unexposed ring re-enters its gates. */
function resumeHalted(s: Step, ring: number, reason: string, actor: string): void {
  if (s.state.exposedRing >= ring) {
    const ramping = (s.state.wave ?? null) !== null;
    s.go({ kind: 'progressing', ring, bakeStartedAt: ramping ? null : s.now }, `${reason} (${ramping ? 'ramp' : 'bake'} of ${ringName(s.config, ring)} resumes)`, actor, {
      ringStartedAt: s.now,
      ...freshEvidence(),
    });
  } else {
    startRing(s, ring, reason, actor, { approved: false });
  }
}

function freshEvidence(): Pick<RolloutState, 'noDataSince' | 'consecutiveErrors' | 'lastVerdict' | 'judgeStates'> {
  return { noDataSince: null, consecutiveErrors: 0, lastVerdict: null, judgeStates: {} };
}

function beginRollback(s: Step, reason: string, end: RollbackEnd, actor: string): void {
  s.go({ kind: 'rolling-back', since: s.now, reason, end }, reason, actor, { exposedRing: -1, ringStartedAt: null, wave: null });
}

function halt(s: Step, ring: number, reason: HaltReason, message: string, actor: string = CONTROLLER_ACTOR): void {
  s.go({ kind: 'halted', ring, reason, message }, message, actor);
}

/**
 * A failing verdict on the exposed ring stops the rollout whatever phase holds it (waiting for the next
 * window, awaiting approval, paused, halted): sick hosts are not less sick because a human is asked.
 * The progressing phase handles its verdicts itself (stepProgressing), including no-data and errors.
 */
function guardExposedRing(s: Step): void {
  const v = s.facts.verdict;
  const p = s.state.phase;
  if (!s.config.analysisEnabled || v === undefined || v.result !== 'fail' || v.ring !== s.state.exposedRing || s.state.exposedRing < 0) return;
  if (p.kind === 'progressing' || p.kind === 'rolling-back' || p.kind === 'pending' || p.kind === 'blocked' || p.kind === 'held') return;
  s.state = { ...s.state, lastVerdict: { ring: v.ring, at: s.now, result: v.result, reason: v.reason, metrics: v.metrics } };
  const why = `ring ${ringName(s.config, v.ring)} failed analysis while ${p.kind}: ${v.reason}`;
  if (s.config.automaticRollback) beginRollback(s, why, 'rolled-back', CONTROLLER_ACTOR);
  else if (p.kind !== 'halted') halt(s, v.ring, 'analysis-failed', why);
}

// ---------------------------------------------------------------------------------------------- phase steps

/**
 * Enter ring `ring` (or finish if past the last ring): approval first, then the window, then exposure.
 * The window is the only gate that consults the policy, and it is only ever consulted here.
 */
/** What a wait is for: the kinds of its reasons, and a freeze's own text (its name and end), without the clock. */
function waitKey(reasons: readonly WaitNote[]): string {
  return JSON.stringify(reasons.map((r) => (r.kind === 'freeze' ? `${r.kind}:${r.message}` : r.kind)));
}

function startRing(s: Step, ring: number, reason: string, actor: string, opts: { approved: boolean }): void {
  const { config, facts } = s;
  if (ring >= config.rings.length) {
    s.go({ kind: 'succeeded' }, reason, actor);
    return;
  }
  const spec = config.rings[ring];
  if (spec === undefined) throw new Error(`ring ${ring} out of range`);
  if (spec.approvalRequired && !opts.approved) {
    if (s.state.phase.kind !== 'awaiting-approval') {
      s.go({ kind: 'awaiting-approval', ring, reason: `ring ${spec.name} requires approval`, cause: 'approval-required' }, reason, actor);
    }
    return;
  }
  if (facts.killSwitch.engaged) return; // cannot start; the kill switch step has already halted in-flight phases
  if (!facts.window.allowed) {
    const reasons = facts.window.reasons;
    if (s.state.phase.kind === 'waiting-for-window' && s.state.phase.ring === ring) {
      // Refresh the reasons when what the rollout waits for changed (a freeze began, the window is now open but
      // the bake would not fit), not when only the clock in a message moved ("Sun 23:01 is outside ..."): that
      // would commit a new state revision every minute of a weekend.
      if (waitKey(s.state.phase.reasons) !== waitKey(reasons)) s.state = { ...s.state, phase: { kind: 'waiting-for-window', ring, reasons } };
    } else {
      s.go({ kind: 'waiting-for-window', ring, reasons }, `${reason}; ring ${spec.name} waits: ${reasons.map((r) => r.message).join('; ')}`, actor);
    }
    return;
  }
  // The ring ramps in waves (engine/ramp.ts) unless it has no ramp; its bake starts once it is wholly exposed.
  const wave = firstWave(spec.ramp, hostsOf(s.state.lastVerdict?.metrics), s.now, config.analysisEnabled);
  const how = wave === null ? '' : `, ${describeWave(wave, spec.name)}`;
  s.go({ kind: 'progressing', ring, bakeStartedAt: wave === null ? s.now : null }, `${reason}; ring ${spec.name} starts${how}`, actor, {
    exposedRing: ring,
    ringStartedAt: s.now,
    wave,
    ...freshEvidence(),
  });
}

/**
 * Candidate hosts reporting at the last look of the ring before (the largest sample.hosts); 0 when unknown. The next
 * ring's waves count the hosts that ran it beyond these (touched hosts, whose events are counted from the ring's
 * start, so the earlier rings' events do not make a wave look full).
 */
function hostsOf(metrics: ReadonlyArray<{ sample: { hosts: number | null } | null }> | undefined): number {
  let n = 0;
  for (const m of metrics ?? []) n = Math.max(n, m.sample?.hosts ?? 0);
  return n;
}

function stepPhase(s: Step): void {
  const p = s.state.phase;
  switch (p.kind) {
    case 'pending':
    case 'blocked':
      stepWaitingForSlot(s, p);
      return;
    case 'held':
      return; // until an explicit resume
    case 'preflight':
      stepPreflight(s, p);
      return;
    case 'waiting-for-window':
      startRing(s, p.ring, 'window open', CONTROLLER_ACTOR, { approved: true });
      return;
    case 'progressing':
      stepProgressing(s, p);
      return;
    case 'rolling-back':
      if (ms(s.now) - ms(p.since) >= s.config.rollbackDrainMs) {
        const to: Phase = p.end === 'aborted' ? { kind: 'aborted', reason: p.reason } : { kind: 'rolled-back', reason: p.reason };
        s.go(to, `rollback drained (${p.reason})`);
      }
      return;
    case 'awaiting-approval':
    case 'paused':
    case 'halted':
    case 'rolled-back':
    case 'succeeded':
    case 'aborted':
    case 'preflight-failed':
      return; // waits for a human (or is final)
    default:
      assertNever(p);
  }
}

/**
 * Pre-flight: waits for the result of its own run (the one that began at `since`). Passed: ring 0's gates, exactly as
 * a rollout without checks meets them (approval, the window, then exposure). Failed: final, nothing was exposed.
 */
function stepPreflight(s: Step, p: Extract<Phase, { kind: 'preflight' }>): void {
  const r = s.facts.preflight;
  if (r === undefined || r.since !== p.since) return;
  if (r.result === 'passed') {
    startRing(s, 0, `pre-flight passed (${r.checks} check${r.checks === 1 ? '' : 's'})`, CONTROLLER_ACTOR, { approved: false });
    return;
  }
  s.go({ kind: 'preflight-failed', reason: r.reason, check: r.check }, `pre-flight check ${r.check} failed: ${r.reason}`);
}

/** A rollout not yet on hosts: start ring 0 when the channel lets it, say why not otherwise. */
function stepWaitingForSlot(s: Step, p: Extract<Phase, { kind: 'pending' | 'blocked' }>): void {
  if (s.facts.killSwitch.engaged) return;
  const slot = s.facts.channelSlot;
  if (slot.free) {
    const why = p.kind === 'blocked' ? 'lineage matches again; channel slot free' : 'channel slot free';
    if (s.config.preflight === true) s.go({ kind: 'preflight', since: s.now, reason: 'pre-flight checks run' }, `${why}; pre-flight checks run before ring ${ringName(s.config, 0)}`);
    else startRing(s, 0, why, CONTROLLER_ACTOR, { approved: false });
    return;
  }
  if ('blocked' in slot) {
    if (p.kind === 'blocked' && p.reason === slot.reason) return;
    const to: Phase = { kind: 'blocked', reason: slot.reason, stableVersion: slot.stableVersion, expectedVersion: slot.expectedVersion };
    if (p.kind === 'blocked') s.state = { ...s.state, phase: to };
    else s.go(to, slot.reason);
    return;
  }
  if (p.kind === 'blocked') s.go({ kind: 'pending', reason: slot.reason }, `no longer blocked: ${slot.reason}`);
  else if (p.reason !== slot.reason) s.state = { ...s.state, phase: { kind: 'pending', reason: slot.reason } };
}

function stepProgressing(s: Step, p: Extract<Phase, { kind: 'progressing' }>): void {
  const { config, facts } = s;
  const ring = config.rings[p.ring];
  if (ring === undefined) throw new Error(`ring ${p.ring} out of range`);
  const name = ring.name;

  if (config.analysisEnabled && facts.verdict && facts.verdict.ring === p.ring) {
    const v = facts.verdict;
    s.state = {
      ...s.state,
      lastVerdict: { ring: v.ring, at: s.now, result: v.result, reason: v.reason, metrics: v.metrics },
      judgeStates: v.judgeStates,
    };
    switch (v.result) {
      case 'fail': {
        const why = `ring ${name} failed analysis: ${v.reason}`;
        if (config.automaticRollback) beginRollback(s, why, 'rolled-back', CONTROLLER_ACTOR);
        else halt(s, p.ring, 'analysis-failed', why);
        return;
      }
      case 'error': {
        const since = s.state.noDataSince ?? s.now;
        const errors = s.state.consecutiveErrors + 1;
        s.state = { ...s.state, noDataSince: since, consecutiveErrors: errors };
        if (errors >= config.maxConsecutiveErrors || ms(s.now) - ms(since) >= config.noDataGraceMs) {
          halt(s, p.ring, 'provider-error', `ring ${name}: metrics provider failing (${errors} consecutive errors): ${v.reason}`);
          return;
        }
        break;
      }
      case 'inconclusive':
        if (v.noData) {
          const since = s.state.noDataSince ?? s.now;
          s.state = { ...s.state, noDataSince: since, consecutiveErrors: 0 };
          if (ms(s.now) - ms(since) >= config.noDataGraceMs) {
            halt(s, p.ring, 'no-data', `ring ${name}: no usable data since ${since}: ${v.reason}`);
            return;
          }
        } else {
          s.state = { ...s.state, noDataSince: null, consecutiveErrors: 0 };
        }
        break;
      case 'pass':
        s.state = { ...s.state, noDataSince: null, consecutiveErrors: 0 };
        break;
      default:
        assertNever(v.result);
    }
  }

  const wave = s.state.wave ?? null;
  if (wave !== null || p.bakeStartedAt === null) {
    stepRamp(s, p, ring);
    return;
  }
  const baked = ms(s.now) - ms(p.bakeStartedAt);
  if (baked < ring.bakeMs) return;
  const lv = s.state.lastVerdict;
  const passed =
    !config.analysisEnabled ||
    (lv !== null && lv.ring === p.ring && lv.result === 'pass' && ms(lv.at) >= ms(p.bakeStartedAt) && s.state.noDataSince === null);
  if (passed) {
    const why = config.analysisEnabled ? `ring ${name} passed analysis after its bake` : `ring ${name} baked (no analysis configured)`;
    startRing(s, p.ring + 1, why, CONTROLLER_ACTOR, { approved: false });
    return;
  }
  if (ring.maxBakeMs !== null && baked >= ring.maxBakeMs) escalateMaxBake(s, p.ring, 'undecided');
}

/** A ring that could not decide within maxBake waits for a human to approve what comes next. */
function escalateMaxBake(s: Step, ring: number, what: 'undecided' | 'still ramping'): void {
  const { config } = s;
  const name = ringName(config, ring);
  const next = ring + 1;
  const lv = s.state.lastVerdict;
  const nextWhat = next >= config.rings.length ? 'completion' : `ring ${ringName(config, next)}`;
  s.go(
    { kind: 'awaiting-approval', ring: next, reason: `ring ${name} reached maxBake ${what === 'undecided' ? 'without a passing verdict' : 'before it was wholly exposed'}; a human must approve ${nextWhat}`, cause: 'max-bake' },
    `ring ${name} reached maxBake ${what} (last verdict: ${lv ? lv.result : 'none'})`,
  );
}

/** The ring ramps: grow the wave when the look allows it (engine/ramp.ts); the bake starts once the ring is wholly exposed. */
function stepRamp(s: Step, p: Extract<Phase, { kind: 'progressing' }>, ring: EngineConfig['rings'][number]): void {
  const wave = s.state.wave ?? null;
  if (wave === null || ring.ramp === null) {
    // Wholly exposed (an old state, or the ramp was removed): the bake starts now.
    s.state = { ...s.state, phase: { ...p, bakeStartedAt: s.now }, wave: null };
    return;
  }
  const verdict = s.facts.verdict !== undefined && s.facts.verdict.ring === p.ring ? s.facts.verdict : undefined;
  const step = nextWave(ring.ramp, wave, verdict, s.now, { sized: s.config.analysisEnabled, intervalMs: s.config.analysisIntervalMs });
  if (step.kind === 'grow') {
    const whole = step.wave === null;
    const what = step.wave === null ? `ring ${ring.name} wholly exposed; its bake (${formatMs(ring.bakeMs)}) starts` : `ring ${ring.name}: ${describeWave(step.wave, ring.name)}`;
    s.go({ kind: 'progressing', ring: p.ring, bakeStartedAt: whole ? s.now : null }, `${what} (${step.why})`, CONTROLLER_ACTOR, { wave: step.wave }, { notify: whole });
    return;
  }
  if (ring.maxBakeMs !== null && s.state.ringStartedAt !== null && ms(s.now) - ms(s.state.ringStartedAt) >= ring.maxBakeMs) escalateMaxBake(s, p.ring, 'still ramping');
}

/** 30m, 2h, 1h30m, 6s: for reasons. */
function formatMs(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  const m = Math.round(ms / 60_000);
  return m < 60 ? `${m}m` : `${Math.floor(m / 60)}h${m % 60 === 0 ? '' : `${m % 60}m`}`;
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value ${JSON.stringify(x)}`);
}

export type { PhaseKind };
