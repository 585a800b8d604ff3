/**
 * `ringctl plan`: when would each ring start under a policy, if every gate passed on time?
 *
 * Pure. Ring 0 starts at the first allowed start at or after `start`; every later ring at the first allowed
 * start at or after the end of the previous ring. A ring ends at its start plus its ramp plus its minimum bake.
 * The plan assumes every health check passes at once and every approval is given in time: approvals are noted as
 * a reason, they do not move the plan.
 *
 * The ramp (engine/ramp.ts): a census look, then waves of `first`, `first·growth`, ... hosts, one clean look each at
 * the least, until the ring is wholly exposed; the bake starts then. The waves need the ring's size: percent rings
 * are sized from `fleetHosts`, selector rings from `ringHosts` (`ringctl plan --hosts N --ring-hosts canary=2000`).
 * A ring of unknown size lists its first waves and adds no ramp time (the plan says so).
 */
import { percentToBasisPoints } from '../engine/membership';
import { analysisOf, holdbackOf, rampOf } from '../spec/defaults';
import { durationMs } from '../spec/duration';
import type { PolicySpec, RolloutSpec } from '../spec/types';
import { formatInPolicyZone, nextAllowedStart, type WaitReason } from './windows';

/** Why a ring waits in the plan: the policy's reasons, plus what the plan itself notes. */
export type PlanWaitReason =
  | WaitReason
  | { kind: 'approval-required'; message: string }
  | { kind: 'previous-ring-unscheduled'; message: string };

export interface PlannedRing {
  name: string;
  /** ISO 8601 with the policy zone's offset, e.g. `2026-11-30T09:00:00.000-05:00`; null when it cannot start. */
  start: string | null;
  /** start + minimum bake, same format; null when the ring cannot start. */
  end: string | null;
  waitReasons: PlanWaitReason[];
  /** The ring's waves (null: `ramp: none`, the whole ring at once). */
  ramp: PlannedRamp | null;
}

export interface PlannedRamp {
  first: number;
  growth: number;
  /** The ring's hosts as planned (holdback out), or null when unknown. */
  ringHosts: number | null;
  /** Cumulative hosts of each wave, the last one the whole ring; with an unknown size, the first few waves. */
  waves: number[];
  /** Shortest ramp: the census look and one look per wave before the last, at the analysis interval; null: unknown. */
  minDurationMs: number | null;
}

export interface RolloutPlan {
  rings: PlannedRing[];
  /** Percent of the fleet held back on the previous version through the final ring (0: none). */
  holdbackPercent: number;
}

export interface PlanSizes {
  /** Hosts on the channel (sizes percent rings). */
  fleetHosts?: number;
  /** Hosts of selector rings, by ring name. */
  ringHosts?: Readonly<Record<string, number>>;
}

/**
 * The hosts ring `i` adds (holdback out), or null when unknown: a selector ring from `sizes.ringHosts`, a percent
 * ring from `sizes.fleetHosts` and the percent of the ring before it.
 */
export function plannedRingHosts(spec: RolloutSpec, i: number, sizes: PlanSizes = {}): number | null {
  const ring = spec.rings[i];
  if (ring?.selector !== undefined) return sizes.ringHosts?.[ring.name] ?? null;
  if (ring?.percent !== undefined && sizes.fleetHosts !== undefined) {
    const prev = Math.max(0, ...spec.rings.slice(0, i).map((r) => (r.percent === undefined ? 0 : percentToBasisPoints(r.percent))));
    const last = i === spec.rings.length - 1;
    const top = percentToBasisPoints(ring.percent) - (last ? percentToBasisPoints(holdbackOf(spec)) : 0);
    return Math.max(0, Math.round((sizes.fleetHosts * (top - prev)) / 10_000));
  }
  return null;
}

/** The planned waves of ring `i` (see the module comment). */
export function planRamp(spec: RolloutSpec, i: number, sizes: PlanSizes = {}): PlannedRamp | null {
  const ramp = rampOf(spec, i);
  if (ramp === null) return null;
  const ringHosts = plannedRingHosts(spec, i, sizes);
  const waves: number[] = [];
  for (let w = ramp.first; ringHosts === null ? waves.length < 4 : w < ringHosts; w *= ramp.growth) waves.push(Math.round(w));
  if (ringHosts !== null) waves.push(ringHosts);
  const intervalMs = durationMs(analysisOf(spec).interval);
  return { first: ramp.first, growth: ramp.growth, ringHosts, waves, minDurationMs: ringHosts === null ? null : waves.length * intervalMs };
}

export function planRollout(spec: RolloutSpec, policy: PolicySpec, start: Date, sizes: PlanSizes = {}): RolloutPlan {
  const rings: PlannedRing[] = [];
  let cursor: Date | null = start;
  let unscheduled: string | null = null;
  for (const [i, ring] of spec.rings.entries()) {
    const ramp = planRamp(spec, i, sizes);
    const bakeMs = durationMs(ring.bake);
    const waitReasons: PlanWaitReason[] = [];
    let ringStart: Date | null = null;
    if (cursor === null) {
      waitReasons.push({
        kind: 'previous-ring-unscheduled',
        message: `ring ${unscheduled ?? '?'} has no allowed start, so this ring cannot start either`,
      });
    } else {
      const next = nextAllowedStart(policy, cursor, bakeMs);
      waitReasons.push(...next.waitReasons);
      ringStart = next.start;
    }
    if (ring.approval === 'required') waitReasons.push({ kind: 'approval-required', message: 'approval required' });
    if (ringStart === null) {
      unscheduled ??= ring.name;
      rings.push({ name: ring.name, start: null, end: null, waitReasons, ramp });
      cursor = null;
      continue;
    }
    const ringEnd = new Date(ringStart.getTime() + (ramp?.minDurationMs ?? 0) + bakeMs);
    rings.push({
      name: ring.name,
      start: formatInPolicyZone(policy, ringStart),
      end: formatInPolicyZone(policy, ringEnd),
      waitReasons,
      ramp,
    });
    cursor = ringEnd;
  }
  return { rings, holdbackPercent: holdbackOf(spec) };
}
