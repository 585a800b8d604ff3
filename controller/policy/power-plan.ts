/**
 * Ring sizing for `ringctl plan --power`: for each ring and each built-in (counts) metric of a rollout, the
 * exposure and time its relative test needs to detect the metric's detectRatio with 95% power, and the smallest
 * ratio it detects within the ring's bake. Pure: the numbers come from engine/power.ts (the judge's own test) with
 * the α the runtime gives the test (alphaLedger -> shareOf -> testAlphas) and the ring sizes of the plan.
 *
 * Hosts: the candidate of ring i is every host of rings 0..i (rings are cumulative), the baseline the rest of the
 * fleet (the last ring: the holdback). Time = intervals x the analysis interval, with the ring wholly exposed (the
 * ramp exposes it in waves first: count the waves' looks on top, `ringctl plan` lists them).
 */
import { alphaLedger, resolveParams, shareOf, testAlphas } from '../engine/judge';
import { intervalsForPower, powerProblem, smallestDetectableRatio, type PowerSetting } from '../engine/power';
import { analysisOf } from '../spec/defaults';
import { durationMs } from '../spec/duration';
import type { RolloutSpec } from '../spec/types';
import { plannedRingHosts, type PlanSizes } from './plan';

export const PLANNED_POWER = 0.95;

export interface RingPower {
  ring: string;
  metric: string;
  /** Events per host-hour assumed for the baseline. */
  baselineRate: number;
  candidateHosts: number | null;
  baselineHosts: number | null;
  /** The relative test's α in this ring. */
  alpha: number;
  maxRatio: number;
  detectRatio: number;
  /** To detect detectRatio with 95% power: intervals, candidate host-hours and hours; null: not possible. */
  intervals: number | null;
  exposureHours: number | null;
  hours: number | null;
  /** The ring's minimum bake, hours, and the smallest ratio detected with 95% power within it (null: none). */
  bakeHours: number;
  smallestRatioInBake: number | null;
  /** Why the numbers are missing (unknown size, no baseline, fewer hosts than minHosts), or null. */
  problem: string | null;
}

/** Rates by metric name; `*` applies to every metric without its own. */
export type BaselineRates = Readonly<Record<string, number>>;

/** The metrics --power sizes (built-in counts metrics; custom metrics are point comparisons). */
export function poweredMetrics(spec: RolloutSpec): string[] {
  return (spec.analysis?.metrics ?? []).filter((m) => m.type !== 'custom').map((m) => m.name);
}

export function planPower(spec: RolloutSpec, sizes: PlanSizes, rates: BaselineRates): RingPower[] {
  const out: RingPower[] = [];
  const ledger = alphaLedger(spec);
  const intervalMs = durationMs(analysisOf(spec).interval);
  const metrics = (spec.analysis?.metrics ?? []).filter((m) => m.type !== 'custom');
  let cumulative: number | null = 0;
  let unknownAt: string | null = null;
  for (const [i, ring] of spec.rings.entries()) {
    const added = plannedRingHosts(spec, i, sizes);
    if (added === null) unknownAt ??= ring.name;
    cumulative = cumulative === null || added === null ? null : cumulative + added;
    const fleet = sizes.fleetHosts;
    const candidateHosts = cumulative;
    const baselineHosts = candidateHosts === null || fleet === undefined ? null : Math.max(0, fleet - candidateHosts);
    const bakeMs = durationMs(ring.bake);
    const bakeIntervals = Math.floor(bakeMs / intervalMs);
    for (const metric of metrics) {
      const p = resolveParams(metric);
      const alpha = testAlphas(shareOf(ledger, metric.name), p).relative;
      const baselineRate = rates[metric.name] ?? rates['*'] ?? NaN;
      const row: RingPower = {
        ring: ring.name,
        metric: metric.name,
        baselineRate,
        candidateHosts,
        baselineHosts,
        alpha,
        maxRatio: p.maxRatio,
        detectRatio: p.detectRatio,
        intervals: null,
        exposureHours: null,
        hours: null,
        bakeHours: bakeMs / 3_600_000,
        smallestRatioInBake: null,
        problem: null,
      };
      if (candidateHosts === null || baselineHosts === null) {
        row.problem = `size of ring ${unknownAt ?? ring.name} unknown (pass --hosts N, and --ring-hosts NAME=N for selector rings)`;
      } else if (candidateHosts < p.minHosts) {
        row.problem = `${candidateHosts} candidate hosts, fewer than minHosts ${p.minHosts}: the ring can never fail`;
      } else {
        const setting: PowerSetting = { baselineRate, candidateHosts, baselineHosts, intervalHours: intervalMs / 3_600_000, maxRatio: p.maxRatio, detectRatio: p.detectRatio, alpha };
        row.problem = powerProblem(setting);
        if (row.problem === null) {
          const n = intervalsForPower(setting, p.detectRatio, PLANNED_POWER);
          if (n !== null) {
            row.intervals = n;
            row.exposureHours = n * candidateHosts * setting.intervalHours;
            row.hours = n * setting.intervalHours;
          }
          row.smallestRatioInBake = bakeIntervals >= 1 ? smallestDetectableRatio(setting, bakeIntervals, PLANNED_POWER) : null;
        }
      }
      out.push(row);
    }
  }
  return out;
}
