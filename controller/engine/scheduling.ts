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
 * - A version that was rolled back or aborted on a channel never becomes stable and is never applied again there.
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
  const withdrawn = rec.history.flatMap((h) => (h.event === 'rolled-back' || h.event === 'aborted' ? [{ version: h.version, event: h.event as 'rolled-back' | 'aborted', rollout: h.rollout ?? '?', at: h.at }] : []));
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
export type LineageEvent = { event: 'stable' | 'rolled-back' | 'aborted'; version: string; at: string; reason: string };

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
  }
  return out;
}
