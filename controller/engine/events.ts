/**
 * Which notification events a committed decision produces: a pure function of the rollout, its transitions, the
 * state after them and the verdict it was decided on (and, for the kill switch, its previous and next states).
 * The runtime enqueues what this returns in the transaction that commits the decision (runtime/notifications.ts),
 * so that an event exists if and only if its transition committed.
 *
 * Each event has a stable id, its idempotency key: `<rollout>:<transition n>:<type>` for a rollout's events and
 * `killswitch:<time of the change>:<type>` for the kill switch. A redelivery carries the same id.
 */
import type { MetricVerdict } from './judge';
import type { KillSwitchState, PhaseKind, RingVerdict, RingVerdictNote, RolloutState, Transition } from './state';

export const EVENT_TYPES = [
  'ring.started',
  'ring.passed',
  'approval.required',
  'rollout.halted',
  'rollout.rolling-back',
  'rollout.rolled-back',
  'rollout.succeeded',
  'preflight.failed',
  'killswitch.engaged',
  'killswitch.released',
  'breakglass.used',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The evidence of one failing (or concerning) metric, as the judge's verdict carries it. */
export interface EventEvidence {
  metric: string;
  result: string;
  reason: string;
  candidateRate: number | null;
  baselineRate: number | null;
  ratio: number | null;
  /** ln e-process of the relative test and its boundary ln(1/alpha); null when the metric has no relative test. */
  statistic: number | null;
  boundary: number | null;
}

export interface NotificationEvent {
  /** The idempotency key. */
  id: string;
  type: EventType;
  /** ISO time of the transition (or of the kill switch change). */
  time: string;
  severity: 'info' | 'warning' | 'critical';
  rollout: string | null;
  channel: string | null;
  version: string | null;
  /** Ring index (0-based) and name the event is about; null when none. */
  ring: number | null;
  ringName: string | null;
  actor: string;
  reason: string;
  /** rollout.halted: the metrics that failed, with their evidence. */
  evidence?: EventEvidence[];
}

export interface DecisionEventInput {
  rollout: string;
  channel: string;
  version: string;
  /** The ring names of the spec, by index. */
  rings: readonly string[];
  /** The exposed ring before the first transition. */
  previousExposedRing: number;
  transitions: readonly Transition[];
  state: RolloutState;
  /** The verdict the decision was made on, if any (else state.lastVerdict is used for evidence). */
  verdict?: RingVerdict | RingVerdictNote | null;
}

const PHASE_EVENTS: Partial<Record<PhaseKind, { type: EventType; severity: NotificationEvent['severity'] }>> = {
  'awaiting-approval': { type: 'approval.required', severity: 'info' },
  halted: { type: 'rollout.halted', severity: 'critical' },
  'rolling-back': { type: 'rollout.rolling-back', severity: 'critical' },
  'rolled-back': { type: 'rollout.rolled-back', severity: 'warning' },
  succeeded: { type: 'rollout.succeeded', severity: 'info' },
  'preflight-failed': { type: 'preflight.failed', severity: 'warning' },
};

/** The events of one committed decision, in transition order. */
export function decisionEvents(input: DecisionEventInput): NotificationEvent[] {
  const out: NotificationEvent[] = [];
  let prevRing = input.previousExposedRing;
  const base = (t: Transition, type: EventType, severity: NotificationEvent['severity'], ring: number): NotificationEvent => ({
    id: `${input.rollout}:${t.n}:${type}`,
    type,
    time: t.at,
    severity,
    rollout: input.rollout,
    channel: input.channel,
    version: input.version,
    ring: ring >= 0 ? ring : null,
    ringName: ring >= 0 ? (input.rings[ring] ?? null) : null,
    actor: t.actor,
    reason: t.reason,
  });
  for (const t of input.transitions) {
    const ringAdvanced = t.exposedRing > prevRing;
    // A ring passed: the rollout left `progressing` for the next ring, a window wait, an approval or success.
    if (t.from === 'progressing' && prevRing >= 0 && (ringAdvanced || t.to === 'waiting-for-window' || t.to === 'succeeded' || (t.to === 'awaiting-approval' && passedOn(input))))
      out.push(base(t, 'ring.passed', 'info', prevRing));
    if (t.to === 'progressing' && ringAdvanced) out.push(base(t, 'ring.started', 'info', t.exposedRing));
    const mapped = PHASE_EVENTS[t.to];
    if (mapped) {
      const ev = base(t, mapped.type, mapped.severity, t.to === 'rolled-back' || t.to === 'rolling-back' ? prevRing : t.exposedRing);
      if (mapped.type === 'rollout.halted') ev.evidence = evidenceOf(input.verdict ?? input.state.lastVerdict);
      out.push(ev);
    }
    prevRing = t.exposedRing;
  }
  return out;
}

/** awaiting-approval after a pass (approval-required) rather than after the maximum bake without a verdict. */
function passedOn(input: DecisionEventInput): boolean {
  const phase = input.state.phase as { kind: string; cause?: string };
  return phase.kind !== 'awaiting-approval' || phase.cause !== 'max-bake';
}

/** The metrics that failed (or, when none did, that raised a concern), with rates and the relative test's statistic. */
export function evidenceOf(verdict: RingVerdict | RingVerdictNote | null | undefined): EventEvidence[] {
  if (!verdict) return [];
  const metrics = verdict.metrics as MetricVerdict[];
  const failing = metrics.filter((m) => m.result === 'fail' || m.result === 'error');
  const chosen = failing.length > 0 ? failing : metrics.filter((m) => m.concern);
  return chosen.map((m) => ({
    metric: m.metric,
    result: m.result,
    reason: m.reason,
    candidateRate: m.candidate?.rate ?? null,
    baselineRate: m.baseline?.rate ?? null,
    ratio: m.ratio ?? null,
    statistic: m.relative ? m.relative.logE : null,
    boundary: m.relative ? m.relative.threshold : null,
  }));
}

/** The event of a kill switch change (none when engaged did not change); `at` is the time of the change. */
export function killSwitchEvents(prev: KillSwitchState, next: KillSwitchState, at: string): NotificationEvent[] {
  if (prev.engaged === next.engaged) return [];
  const type: EventType = next.engaged ? 'killswitch.engaged' : 'killswitch.released';
  return [globalEvent(`killswitch:${at}:${type}`, type, at, next.engaged ? 'critical' : 'info', next.actor, next.engaged ? `${next.reason} (mode ${next.mode})` : next.reason)];
}

/** An event of the whole control plane (no rollout, channel or ring). */
function globalEvent(id: string, type: EventType, at: string, severity: NotificationEvent['severity'], actor: string, reason: string): NotificationEvent {
  return { id, type, time: at, severity, rollout: null, channel: null, version: null, ring: null, ringName: null, actor, reason };
}

/**
 * A break-glass credential engaged (or re-engaged) the kill switch: always critical, whether or not the switch moved,
 * so that the SRE team learns at once that the offline secret was used (and must be rotated).
 */
export function breakGlassEvents(next: KillSwitchState, at: string): NotificationEvent[] {
  return [globalEvent(`breakglass:${at}:breakglass.used`, 'breakglass.used', at, 'critical', next.actor, `break-glass credential used to engage the kill switch (mode ${next.mode}): ${next.reason}`)];
}

/** Whether `type` matches a filter entry: an exact name, `prefix.*`, or `*`. */
export function eventMatches(type: string, filter: readonly string[]): boolean {
  return filter.some((f) => f === '*' || f === type || (f.endsWith('.*') && type.startsWith(f.slice(0, -1))));
}
