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
  RollbackCause,
  RollbackEnd,
  RolloutState,
  WindowStatus,
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
    // Final: only `retry` may bring it back (to pending; the next pass gathers its channel slot); the rest are refused.
    for (const req of facts.requests) {
      if (isTerminal(s.state.phase)) applyTerminalRequest(s, req);
      else s.outcome(req, false, `${phaseWords(s)} (retried in this same decision); send it again`);
    }
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
      beginRollback(s, why, 'rolled-back', ks.actor, 'kill-switch');
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
    applyTerminalRequest(s, req);
    return;
  }
  const label = `${verbWord(req.verb)} by ${req.actor}${req.reason ? `: ${req.reason}` : ''}`;
  const refuse = (message: string): void => s.outcome(req, false, message);
  switch (req.verb) {
    case 'abort':
    case 'rollback':
    case 'supersede': {
      if (p.kind === 'rolling-back') {
        refuse(`${phaseWords(s)}; a rollback is already in progress and ends by itself after the drain`);
        return;
      }
      const end: RollbackEnd = req.verb === 'abort' ? 'aborted' : 'rolled-back';
      const cause: RollbackCause = req.verb === 'supersede' ? 'superseded' : 'request';
      if (s.state.exposedRing >= 0) beginRollback(s, label, end, req.actor, cause);
      else s.go(end === 'aborted' ? { kind: 'aborted', reason: label, cause } : { kind: 'rolled-back', reason: label, cause }, label, req.actor);
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
        refuse(`${phaseWords(s)}; ${nextWords(s, 'pause')}`);
      }
      return;
    }
    case 'resume':
    case 'retry': {
      if (s.facts.killSwitch.engaged) {
        refuse(`the kill switch is engaged (${s.facts.killSwitch.mode}, by ${s.facts.killSwitch.actor}: ${s.facts.killSwitch.reason}); release it (ringctl unkill) before ${req.verb === 'retry' ? 'retrying' : 'resuming'}`);
        return;
      }
      if (p.kind === 'halted') {
        // retry and resume agree here: the failed ring again, with a fresh bake and fresh evidence.
        resumeHalted(s, p.ring, label, req.actor);
        s.outcome(req, true, `halted -> ${s.state.phase.kind}`);
      } else if (req.verb === 'resume' && p.kind === 'paused') {
        s.go(p.from, label, req.actor);
        s.outcome(req, true, `paused -> ${p.from.kind}`);
      } else if (req.verb === 'resume' && p.kind === 'held') {
        s.go({ kind: 'pending', reason: label }, label, req.actor);
        s.outcome(req, true, 'held -> pending');
      } else if (p.kind === 'blocked') {
        refuse(`${phaseWords(s)}; ${req.verb === 'retry' ? 'retrying' : 'resuming'} cannot change that: abort it (ringctl abort ${nameOf(s)}) and apply a rollout with previousVersion ${p.stableVersion}`);
      } else {
        refuse(`${phaseWords(s)}; ${nextWords(s, req.verb)}`);
      }
      return;
    }
    case 'approve': {
      if (p.kind !== 'awaiting-approval') {
        refuse(`nothing awaits approval: ${phaseWords(s)}; ${nextWords(s, 'approve')}`);
        return;
      }
      if (s.facts.killSwitch.engaged) {
        refuse(`the kill switch is engaged (by ${s.facts.killSwitch.actor}: ${s.facts.killSwitch.reason}): no ring may start; release it first (ringctl unkill)`);
        return;
      }
      startRing(s, p.ring, label, req.actor, { approved: true });
      s.outcome(req, true, `awaiting-approval -> ${s.state.phase.kind}`);
      return;
    }
    case 'promote':
    case 'promote-full':
      promote(s, req, label);
      return;
    default:
      assertNever(req.verb);
  }
}

/** What the verb is called in a transition's reason. */
function verbWord(verb: Request['verb']): string {
  return verb === 'promote-full' ? 'promoted to full' : verb === 'supersede' ? 'superseded' : verb === 'promote' ? 'promoted' : verb;
}

/** The rollout's name as it goes in a command line (`ringctl resume NAME`). */
function nameOf(s: Step): string {
  return s.config.name ?? 'NAME';
}

/**
 * The rollout's state in plain words, for refusals: `sensor-content-7.16.291 was rolled back (terminal): ...`.
 */
export function phaseWords(s: { state: RolloutState; config: EngineConfig }): string {
  const name = s.config.name ?? 'the rollout';
  const p = s.state.phase;
  const ring = (i: number): string => ringName(s.config, i);
  switch (p.kind) {
    case 'pending':
      return `${name} is pending, not started yet (${p.reason})`;
    case 'blocked':
      return `${name} is blocked (${p.reason})`;
    case 'held':
      return `${name} is held, not started (${p.reason})`;
    case 'preflight':
      return `${name} is running its pre-flight checks (since ${p.since}); no host has it yet`;
    case 'preflight-failed':
      return `${name} failed its pre-flight check ${p.check} (terminal; no host received it): ${p.reason}`;
    case 'waiting-for-window':
      return `${name} waits for the policy window to start ring ${ring(p.ring)} (${p.reasons.map((r) => r.message).join('; ') || 'outside the window'})`;
    case 'progressing':
      return (s.state.wave ?? null) !== null || p.bakeStartedAt === null ? `${name} is ramping ring ${ring(p.ring)} in waves` : `${name} is baking ring ${ring(p.ring)} (since ${p.bakeStartedAt})`;
    case 'awaiting-approval':
      return `${name} awaits approval for ${p.ring >= s.config.rings.length ? 'completion' : `ring ${ring(p.ring)}`} (${p.reason})`;
    case 'paused':
      return `${name} is paused (${p.reason})`;
    case 'halted':
      return `${name} is halted in ring ${ring(p.ring)} (${p.reason}: ${p.message})`;
    case 'rolling-back':
      return `${name} is rolling back since ${p.since} (${p.reason})`;
    case 'rolled-back':
      return `${name} was rolled back (terminal): ${p.reason}`;
    case 'succeeded':
      return `${name} succeeded (terminal)`;
    case 'aborted':
      return `${name} was aborted (terminal): ${p.reason}`;
    default:
      return assertNever(p);
  }
}

/** What the user can do instead, for a verb refused in the rollout's phase. */
function nextWords(s: Step, verb: Request['verb']): string {
  const name = nameOf(s);
  const p = s.state.phase;
  const channel = s.config.channel ?? 'CHANNEL';
  switch (p.kind) {
    case 'pending':
    case 'held':
    case 'blocked':
      return p.kind === 'held' && verb !== 'resume' ? `ringctl resume ${name} queues it again once the kill switch is released` : `it starts by itself when its channel lets it; ringctl abort ${name} cancels it`;
    case 'preflight':
      return `its checks are running; ringctl pause ${name} holds it, ringctl abort ${name} cancels it`;
    case 'waiting-for-window':
      return `it starts ring ${ringName(s.config, p.ring)} by itself when the window opens; nothing to ${verb}`;
    case 'progressing':
      return verb === 'approve' ? 'nothing to approve: it advances by itself after a passing bake' : `it is running; nothing to ${verb} (ringctl pause ${name} holds it)`;
    case 'awaiting-approval':
      return `ringctl approve ${name} (role approver) starts it, ringctl rollback ${name} withdraws it`;
    case 'paused':
      return verb === 'pause' ? `it is already paused; ringctl resume ${name} continues it` : `ringctl resume ${name} continues it`;
    case 'halted':
      return `ringctl resume ${name} (or retry) restarts ring ${ringName(s.config, p.ring)} with fresh evidence, ringctl rollback ${name} withdraws it`;
    case 'rolling-back':
      return 'a rollback cannot be stopped; it ends by itself after the drain';
    case 'rolled-back':
      if (p.cause === 'analysis-failed') return `its version failed analysis and is withdrawn from channel ${channel} for good: give the fix a new version and apply it`;
      if (p.cause === undefined || p.cause === 'superseded') return `its version is withdrawn from channel ${channel}: apply a new version`;
      return `apply a new version, or ringctl retry ${name} to run it again from the first ring`;
    case 'aborted':
      return `ringctl retry ${name} runs it again from the first ring (if its channel allows), or apply a new version`;
    case 'succeeded':
      return `its version is the channel's stable version; apply a new version, or ringctl undo ${channel} --to VERSION to go back`;
    case 'preflight-failed':
      return 'fix the artifact and apply it as a new rollout (new name and version)';
    default:
      return assertNever(p);
  }
}

/**
 * A request to a final rollout. Only `retry` may bring one back, and only an aborted rollout or one rolled back for
 * another reason than a failing verdict, when its channel allows it (facts.retry, engine/scheduling.retryLineage: it
 * builds on the channel's stable version, and nothing else is queued or in flight there). It goes back to `pending`
 * with nothing exposed and fresh evidence: the candidate was withdrawn from every host, so the evidence of its earlier
 * rings is void, and it starts again from the first ring (pre-flight included) when the next pass gives it the slot.
 */
function applyTerminalRequest(s: Step, req: Request): void {
  const p = s.state.phase;
  if (req.verb !== 'retry') {
    s.outcome(req, false, `${phaseWords(s)}; ${nextWords(s, req.verb)}`);
    return;
  }
  const retryable = p.kind === 'aborted' || (p.kind === 'rolled-back' && p.cause !== undefined && p.cause !== 'analysis-failed' && p.cause !== 'superseded');
  if (!retryable) {
    s.outcome(req, false, `${phaseWords(s)}; ${nextWords(s, req.verb)}`);
    return;
  }
  if (s.facts.killSwitch.engaged) {
    s.outcome(req, false, `the kill switch is engaged (by ${s.facts.killSwitch.actor}: ${s.facts.killSwitch.reason}); release it (ringctl unkill) before retrying`);
    return;
  }
  const lineage = s.facts.retry;
  if (lineage === undefined || !lineage.ok) {
    s.outcome(req, false, `${phaseWords(s)}; it cannot run again: ${lineage === undefined ? 'its channel was not checked' : lineage.reason}`);
    return;
  }
  const label = `retry by ${req.actor}${req.reason ? `: ${req.reason}` : ''}`;
  s.go({ kind: 'pending', reason: `${label}; starts again from ring ${ringName(s.config, 0)}` }, `${label} (was ${p.kind}; starts again from ring ${ringName(s.config, 0)} with fresh evidence)`, req.actor, {
    exposedRing: -1,
    ringStartedAt: null,
    wave: null,
    ...freshEvidence(),
  });
  s.outcome(req, true, `${p.kind} -> pending (starts again from ring ${ringName(s.config, 0)} when its channel lets it)`);
}

/**
 * promote: end the exposed ring's bake early and start the next ring (promote-full: the last ring), never past a
 * failing, inconclusive or missing verdict, never during a ramp (the blast-radius waves are not skipped), never through
 * a closed window or the kill switch. A ring that awaits approval (approval-required) is approved by a promote; one that
 * awaits a human after maxBake without a passing verdict is not (that is `approve`: a human accepting an undecided ring).
 * promote-full approves the gates of every ring it skips and of the last ring: going to full is its point. The last
 * ring still ramps in waves and bakes with analysis before the rollout succeeds.
 */
function promote(s: Step, req: Request, label: string): void {
  const { config, facts } = s;
  const p = s.state.phase;
  const full = req.verb === 'promote-full';
  const last = config.rings.length - 1;
  const refuse = (message: string): void => s.outcome(req, false, message);
  if (facts.killSwitch.engaged) {
    refuse(`the kill switch is engaged (${facts.killSwitch.mode}, by ${facts.killSwitch.actor}: ${facts.killSwitch.reason}): no ring may start; release it first (ringctl unkill)`);
    return;
  }
  const windowFor = (ring: number): WindowStatus => (full && ring === last ? (facts.lastRingWindow ?? facts.window) : facts.window);
  const go = (target: number, from: string): void => {
    const skipped = full ? config.rings.slice(Math.min(target, ringIndexAfter(p)), last).map((r) => r.name) : [];
    const why = `${label}${skipped.length > 0 ? ` (skips ring${skipped.length === 1 ? '' : 's'} ${skipped.join(', ')})` : ''}`;
    startRing(s, target, why, req.actor, { approved: full || p.kind === 'awaiting-approval', window: windowFor(target) });
    s.outcome(req, true, `${from} -> ${where(s)}${s.state.phase.kind === 'waiting-for-window' ? ' (the policy window is closed: it starts when the window opens)' : ''}`);
  };
  const at = `${p.kind}${'ring' in p ? ` ${ringName(config, p.ring)}` : ''}`;
  switch (p.kind) {
    case 'progressing': {
      const ring = config.rings[p.ring];
      if (ring === undefined) throw new Error(`ring ${p.ring} out of range`);
      if ((s.state.wave ?? null) !== null || p.bakeStartedAt === null) {
        refuse(`ring ${ring.name} is still ramping in waves; promote ends a bake, it never skips the blast-radius waves: wait until the ring is wholly exposed`);
        return;
      }
      // This decision's own verdict on the ring, if any, is the latest (a fail in it is never promoted past).
      const v = facts.verdict !== undefined && facts.verdict.ring === p.ring ? facts.verdict : undefined;
      const lv = v === undefined ? s.state.lastVerdict : { ring: v.ring, at: s.now, result: v.result, reason: v.reason };
      if (config.analysisEnabled) {
        if (lv === null || lv.ring !== p.ring || Date.parse(lv.at) < Date.parse(p.bakeStartedAt)) {
          refuse(`ring ${ring.name} has no verdict on the wholly exposed ring yet; promote needs a passing verdict: wait for the next analysis`);
          return;
        }
        if (lv.result !== 'pass' || s.state.noDataSince !== null) {
          const what = lv.result === 'pass' ? 'pass, but data stopped since' : lv.result;
          refuse(`ring ${ring.name}'s last verdict is ${what} (${lv.reason}); promote never goes past a verdict that is not a pass`);
          return;
        }
      }
      go(full ? Math.max(last, p.ring + 1) : p.ring + 1, at);
      return;
    }
    case 'awaiting-approval': {
      if (p.cause === 'max-bake') {
        refuse(`${phaseWords(s)}: it has no passing verdict, and promote never goes past one; ringctl approve ${nameOf(s)} if you accept the undecided ring, or ringctl rollback ${nameOf(s)}`);
        return;
      }
      go(full ? Math.max(last, p.ring) : p.ring, at);
      return;
    }
    case 'waiting-for-window': {
      if (!full || p.ring >= last) {
        refuse(`${phaseWords(s)}; promote does not bypass the policy window: ring ${ringName(config, p.ring)} starts when it opens`);
        return;
      }
      go(last, at);
      return;
    }
    case 'halted':
      refuse(`${phaseWords(s)}; promote never goes past a halt: ringctl resume ${nameOf(s)} (fresh evidence) or ringctl rollback ${nameOf(s)}`);
      return;
    case 'paused':
      refuse(`${phaseWords(s)}; ringctl resume ${nameOf(s)} first, then promote`);
      return;
    default:
      refuse(`${phaseWords(s)}; nothing to promote${isTerminal(p) ? '' : `: ${nextWords(s, req.verb)}`}`);
  }
}

/** `progressing ring full`, `succeeded`: the phase and its ring, for a promote's outcome. */
function where(s: Step): string {
  const p = s.state.phase;
  return `${p.kind}${'ring' in p ? ` ${p.ring >= s.config.rings.length ? '(completion)' : ringName(s.config, p.ring)}` : ''}`;
}

/** The first ring a promote-full skips: the one after the exposed ring (progressing) or the awaited one. */
function ringIndexAfter(p: Phase): number {
  return p.kind === 'progressing' ? p.ring + 1 : p.kind === 'awaiting-approval' || p.kind === 'waiting-for-window' ? p.ring : 0;
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

function beginRollback(s: Step, reason: string, end: RollbackEnd, actor: string, cause: RollbackCause): void {
  s.go({ kind: 'rolling-back', since: s.now, reason, end, cause }, reason, actor, { exposedRing: -1, ringStartedAt: null, wave: null });
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
  if (s.config.automaticRollback) beginRollback(s, why, 'rolled-back', CONTROLLER_ACTOR, 'analysis-failed');
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

function startRing(s: Step, ring: number, reason: string, actor: string, opts: { approved: boolean; window?: WindowStatus }): void {
  const { config, facts } = s;
  const window = opts.window ?? facts.window;
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
  if (!window.allowed) {
    const reasons = window.reasons;
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
    case 'waiting-for-window': {
      // A promote-full in this decision may have made the last ring the awaited one: its own window fact applies.
      const window = p.ring === s.config.rings.length - 1 && s.facts.lastRingWindow !== undefined ? s.facts.lastRingWindow : s.facts.window;
      startRing(s, p.ring, 'window open', CONTROLLER_ACTOR, { approved: true, window });
      return;
    }
    case 'progressing':
      stepProgressing(s, p);
      return;
    case 'rolling-back':
      if (ms(s.now) - ms(p.since) >= s.config.rollbackDrainMs) {
        const cause = p.cause === undefined ? {} : { cause: p.cause };
        const to: Phase = p.end === 'aborted' ? { kind: 'aborted', reason: p.reason, ...cause } : { kind: 'rolled-back', reason: p.reason, ...cause };
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
        if (config.automaticRollback) beginRollback(s, why, 'rolled-back', CONTROLLER_ACTOR, 'analysis-failed');
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
