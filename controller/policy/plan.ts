/**
 * `ringctl plan`: when would each ring start under a policy, if every gate passed on time?
 *
 * Pure. Ring 0 starts at the first allowed start at or after `start`; every later ring at the first allowed
 * start at or after the end of the previous ring's minimum bake. A ring ends at its start plus its minimum
 * bake. The plan assumes every health check passes at once and every approval is given in time: approvals
 * are noted as a reason, they do not move the plan.
 */
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
}

export interface RolloutPlan {
  rings: PlannedRing[];
}

export function planRollout(spec: RolloutSpec, policy: PolicySpec, start: Date): RolloutPlan {
  const rings: PlannedRing[] = [];
  let cursor: Date | null = start;
  let unscheduled: string | null = null;
  for (const ring of spec.rings) {
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
      rings.push({ name: ring.name, start: null, end: null, waitReasons });
      cursor = null;
      continue;
    }
    const ringEnd = new Date(ringStart.getTime() + bakeMs);
    rings.push({
      name: ring.name,
      start: formatInPolicyZone(policy, ringStart),
      end: formatInPolicyZone(policy, ringEnd),
      waitReasons,
    });
    cursor = ringEnd;
  }
  return { rings };
}
