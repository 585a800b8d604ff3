/**
 * Channel scheduling and lineage, pure: which pending rollout may start on a channel, whether a rollout may be
 * applied at all, and what a rollout's transitions mean for the channel's stable version.
 *
 * The rules:
 * - FIFO per channel: a rollout starts when fewer than `maxConcurrentRolloutsPerChannel` rollouts hold a slot and
 *   no older rollout of the channel is still pending.
 * - Lineage: a rollout builds on its `previousVersion`, which must be the channel's stable version (the last
 *   version that succeeded on it, or the first rollout's previousVersion) when it starts. One that expects a
 *   version still in flight waits for it; one that expects anything else is `blocked` and never starts as it is.
 * - A version that was rolled back or aborted on a channel never becomes stable and is never applied again there,
 *   unless its own rollout is retried (retryLineage).
 */
import type { Phase, SlotFact, Transition } from './state';
import { NOT_STARTED_PHASES, SLOT_PHASES, TERMINAL_PHASES } from './state';

/** A rollout of the channel, as scheduling sees it. */
export interface SlotRollout {
  name: string;
  /** Creation order on the controller (FIFO). */
  seq: number;
  version: string;
  previousVersion: string | undefined;
  phase: Phase;
}

/** What the channel runs, and what it withdrew. `null`: the channel has no record yet (no rollout ever ran). */
export interface ChannelLineage {
  stableVersion: string;
  /** Versions rolled back or aborted on the channel. */
  withdrawn: ReadonlyArray<{ version: string; event: 'rolled-back' | 'aborted'; rollout: string; at: string }>;
}

/** The lineage the engine reads from a channel's durable record: its stable version, and every version withdrawn. */
export function lineageOfRecord(rec: { stable: { version: string }; history: ReadonlyArray<{ version: string; event: string; rollout: string | null; at: string }> }): ChannelLineage {
  // A version retried after it was withdrawn is not withdrawn any more (until it is withdrawn again).
  const byVersion = new Map<string, { version: string; event: 'rolled-back' | 'aborted'; rollout: string; at: string }>();
  for (const h of rec.history) {
    if (h.event === 'rolled-back' || h.event === 'aborted') byVersion.set(h.version, { version: h.version, event: h.event, rollout: h.rollout ?? '?', at: h.at });
    else if (h.event === 'retried') byVersion.delete(h.version);
  }
  const withdrawn = [...byVersion.values()];
  return { stableVersion: rec.stable.version, withdrawn };
}

/** Phases that are not on hosts and do not hold a slot: they wait for one. */
const WAITING = NOT_STARTED_PHASES;

/**
 * Whether a rollout holds a channel slot (counts against maxConcurrentRolloutsPerChannel): it is in flight, or its
 * pre-flight checks run (it got the slot; it must not lose it to a younger rollout before ring 0).
 */
export function holdsChannelSlot(phase: Phase): boolean {
  return SLOT_PHASES.has(phase.kind);
}

/**
 * May `self` (pending, blocked, or held: for when it is resumed) start now? `others`: the channel's other non-terminal rollouts.
 * Lineage is checked first, so a hopeless rollout says so at once instead of queueing.
 */
export function channelSlot(self: SlotRollout, others: readonly SlotRollout[], lineage: ChannelLineage | null, limit: number): SlotFact {
  if (!WAITING.has(self.phase.kind)) return { free: true };
  const expected = self.previousVersion;
  if (lineage !== null && expected !== undefined && expected !== lineage.stableVersion) {
    const builder = others.find((o) => o.version === expected && !WAITING.has(o.phase.kind));
    if (builder !== undefined) {
      return { free: false, reason: `waiting for ${builder.name} (${expected}) to succeed: this rollout expects ${expected} as the stable version of the channel, which runs ${lineage.stableVersion}` };
    }
    const withdrawn = lineage.withdrawn.find((w) => w.version === expected);
    const why = withdrawn ? `${expected} was ${withdrawn.event} (${withdrawn.rollout})` : `nothing in flight delivers ${expected}`;
    return {
      free: false,
      blocked: true,
      reason: `blocked: the channel runs ${lineage.stableVersion}, this rollout expects ${expected}; ${why}`,
      stableVersion: lineage.stableVersion,
      expectedVersion: expected,
    };
  }
  const holders = others.filter((o) => holdsChannelSlot(o.phase));
  if (holders.length >= limit) {
    return { free: false, reason: `waiting for ${holders.map((h) => h.name).join(', ')} (maxConcurrentRolloutsPerChannel ${limit})` };
  }
  const older = others.filter((o) => o.phase.kind === 'pending' && o.seq < self.seq).sort((a, b) => a.seq - b.seq)[0];
  if (older !== undefined) return { free: false, reason: `queued behind ${older.name}` };
  return { free: true };
}

export type ApplyLineage = { ok: true } | { ok: false; message: string };

/**
 * May a rollout of `version` on `previousVersion` be applied to the channel? Its previousVersion must be the
 * channel's stable version or the version of a rollout in flight there (it then waits for that one), and its
 * version must not be one the channel withdrew.
 */
export function lineageAtApply(
  channel: string,
  version: string,
  previousVersion: string | undefined,
  lineage: ChannelLineage | null,
  inFlight: readonly SlotRollout[],
): ApplyLineage {
  if (lineage === null) return { ok: true };
  const withdrawn = lineage.withdrawn.find((w) => w.version === version);
  if (withdrawn) {
    return {
      ok: false,
      message: `version ${version} was ${withdrawn.event} on channel ${channel} (${withdrawn.rollout}, ${withdrawn.at}); a withdrawn version is never published again: give the fix a new version`,
    };
  }
  if (previousVersion === undefined || previousVersion === lineage.stableVersion) return { ok: true };
  const candidates = inFlight.filter((r) => !TERMINAL_PHASES.has(r.phase.kind)).map((r) => r.version);
  if (candidates.includes(previousVersion)) return { ok: true };
  const flying = candidates.length === 0 ? 'no version is in flight' : `in flight: ${[...new Set(candidates)].join(', ')}`;
  return {
    ok: false,
    message: `previousVersion ${previousVersion} is not what channel ${channel} runs: its stable version is ${lineage.stableVersion} (${flying}); set previousVersion: ${lineage.stableVersion}`,
  };
}

/** What a committed transition means for the channel's lineage. */
export type LineageEvent = { event: 'stable' | 'rolled-back' | 'aborted' | 'retried'; version: string; at: string; reason: string };

/**
 * `succeeded` makes the version stable. A rollback that drained (`rolling-back` -> `rolled-back` or `aborted`)
 * withdraws it for good. A rollout cancelled before any host took it (pending -> aborted), or stopped by its
 * pre-flight checks (preflight -> preflight-failed), withdraws nothing.
 */
export function lineageEvents(version: string, transitions: readonly Transition[]): LineageEvent[] {
  const out: LineageEvent[] = [];
  for (const t of transitions) {
    if (t.to === 'succeeded') out.push({ event: 'stable', version, at: t.at, reason: t.reason });
    else if ((t.to === 'rolled-back' || t.to === 'aborted') && t.from === 'rolling-back') out.push({ event: t.to, version, at: t.at, reason: t.reason });
    // retry: a final rollout runs again; its version is no longer withdrawn (it may still fail, and be withdrawn again).
    else if (t.to === 'pending' && (t.from === 'rolled-back' || t.from === 'aborted')) out.push({ event: 'retried', version, at: t.at, reason: t.reason });
  }
  return out;
}

/**
 * May a final rollout (aborted, or rolled back for another reason than a failing verdict) run again on its channel
 * (`retry`)? Only when it builds on the channel's stable version (its previousVersion is what the channel runs), its
 * version is not the stable version already, and nothing else is queued or in flight on the channel: a retried
 * rollout never takes the slot of, or races, a rollout applied after it. `others`: the channel's other non-terminal
 * rollouts.
 */
export function retryLineage(self: SlotRollout, others: readonly SlotRollout[], lineage: ChannelLineage | null): { ok: true } | { ok: false; reason: string } {
  if (lineage !== null && lineage.stableVersion === self.version) return { ok: false, reason: `${self.version} is already the stable version of the channel` };
  if (lineage !== null && self.previousVersion !== undefined && self.previousVersion !== lineage.stableVersion) {
    return { ok: false, reason: `it builds on ${self.previousVersion}, but the channel now runs ${lineage.stableVersion}: apply a new rollout with previousVersion ${lineage.stableVersion}` };
  }
  const busy = others.filter((o) => !TERMINAL_PHASES.has(o.phase.kind));
  const same = busy.find((o) => o.version === self.version);
  if (same !== undefined) return { ok: false, reason: `${same.name} delivers ${self.version} on the channel (${same.phase.kind})` };
  if (busy.length > 0) {
    return { ok: false, reason: `the channel has ${busy.map((o) => `${o.name} (${o.phase.kind})`).join(', ')}: a retry must not race a newer rollout; wait for ${busy.length === 1 ? 'it' : 'them'} or withdraw ${busy.length === 1 ? 'it' : 'them'} first` };
  }
  return { ok: true };
}

/**
 * apply --supersede: which rollouts of the channel a new version withdraws, or why it may not. The new rollout must
 * build on the channel's stable version (the candidate it replaces was never stable); it withdraws every rollout of
 * the channel that is not final and not already rolling back: the one in flight (rolled back: its candidate is
 * withdrawn from the hosts) and the ones queued (pending, blocked, held: they end rolled-back with nothing exposed),
 * since each would start after it, or be blocked, on a lineage the new version replaces. The new rollout then waits
 * in `pending` until the rollbacks drained (a rollback holds the channel's slot).
 */
export function supersedePlan(
  channel: string,
  version: string,
  previousVersion: string | undefined,
  lineage: ChannelLineage | null,
  inFlight: readonly SlotRollout[],
): { ok: true; withdraw: string[] } | { ok: false; message: string } {
  const holders = inFlight.filter((r) => !TERMINAL_PHASES.has(r.phase.kind) && r.phase.kind !== 'rolling-back');
  const replaced = holders.find((r) => r.version === previousVersion);
  if (lineage !== null && previousVersion !== lineage.stableVersion) {
    const what = replaced ? `${previousVersion} is the candidate it replaces (${replaced.name}), which was never stable` : `the channel's stable version is ${lineage.stableVersion}`;
    return { ok: false, message: `--supersede: the new rollout must build on what channel ${channel} runs: ${what}; set previousVersion: ${lineage.stableVersion}` };
  }
  if (holders.some((r) => r.version === version)) return { ok: false, message: `--supersede: ${version} is the version in flight on channel ${channel}; a new version supersedes it, not the same one` };
  return { ok: true, withdraw: holders.map((r) => r.name) };
}

/** A channel's record as undo reads it: its stable version and the history of versions that were stable on it. */
export interface UndoChannel {
  stableVersion: string;
  /** The rollout that made the stable version stable; null for the founding version. */
  stableRollout: string | null;
  history: ReadonlyArray<{ version: string; event: string; rollout: string | null }>;
}

/**
 * `undo CHANNEL --to VERSION`: may the channel go back to VERSION, and from which rollouts are the new rollout's
 * artifact (`artifactFrom`: the rollout that made VERSION stable, or for the founding version the first rollout, whose
 * previousArtifact it is) and rings (`ringsFrom`: the rollout of the current stable version) taken? VERSION must have
 * been stable on the channel (founding or succeeded), not be the stable version now, and not have been withdrawn since;
 * nothing may be queued or in flight on the channel.
 */
export function undoPlan(
  channel: string,
  to: string,
  rec: UndoChannel | null,
  nonTerminal: readonly SlotRollout[],
): { ok: true; artifactFrom: { rollout: string; field: 'artifact' | 'previousArtifact' }; ringsFrom: string | null } | { ok: false; status: 404 | 409 | 422; message: string } {
  if (rec === null) return { ok: false, status: 404, message: `no channel named "${channel}" (nothing was ever applied to it)` };
  if (to === rec.stableVersion) return { ok: false, status: 409, message: `channel ${channel} already runs ${to}: nothing to undo` };
  const stableEvents = rec.history.filter((h) => h.version === to && (h.event === 'stable' || h.event === 'initial'));
  const last = stableEvents[stableEvents.length - 1];
  if (last === undefined) {
    const stables = [...new Set(rec.history.filter((h) => h.event === 'stable' || h.event === 'initial').map((h) => h.version))].filter((v) => v !== rec.stableVersion);
    return { ok: false, status: 422, message: `${to} was never stable on channel ${channel}; undo goes back to an earlier stable version (${stables.length > 0 ? stables.join(', ') : 'none yet'})` };
  }
  const withdrawn = rec.history.filter((h) => h.version === to && (h.event === 'rolled-back' || h.event === 'aborted'));
  if (withdrawn.length > 0) return { ok: false, status: 409, message: `${to} was withdrawn from channel ${channel} after it was stable; it is never published again` };
  if (last.rollout === null) return { ok: false, status: 409, message: `channel ${channel} records no rollout, and so no artifact, for ${to}` };
  if (nonTerminal.length > 0) {
    return { ok: false, status: 409, message: `channel ${channel} has ${nonTerminal.map((o) => `${o.name} (${o.phase.kind})`).join(', ')}: undo replaces the stable version only when nothing else is queued or in flight; wait, or withdraw ${nonTerminal.length === 1 ? 'it' : 'them'} first` };
  }
  return { ok: true, artifactFrom: { rollout: last.rollout, field: last.event === 'initial' ? 'previousArtifact' : 'artifact' }, ringsFrom: rec.stableRollout };
}
