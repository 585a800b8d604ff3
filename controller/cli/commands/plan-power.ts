/**
 * `ringctl plan FILE --policy P --power --hosts N [--ring-hosts NAME=N,...] --baseline-rate R`: the power part of
 * the plan (controller/policy/power-plan.ts). R is events per host-hour on the baseline, one number for every metric
 * or `NAME=R,...` per metric.
 */
import { fmt } from '../../engine/judge';
import { PLANNED_POWER, poweredMetrics, type BaselineRates, type RingPower } from '../../policy/power-plan';
import type { RolloutSpec } from '../../spec/types';

/** `0.0005` (every metric) or `crashes=0.0005,bsod=0.0002`, checked against the rollout's metrics. */
export function parseBaselineRates(text: string | undefined, spec: RolloutSpec): { ok: true; rates: BaselineRates } | { ok: false; message: string } {
  const metrics = poweredMetrics(spec);
  if (text === undefined) {
    return { ok: false, message: `--power needs --baseline-rate R (events per host-hour on the baseline), or NAME=R for each of ${metrics.join(', ') || 'the metrics'}` };
  }
  const rate = (t: string): number | null => (/^\s*([0-9]*\.?[0-9]+(e-?[0-9]+)?)\s*$/i.test(t) && Number(t) > 0 ? Number(t) : null);
  const one = rate(text);
  if (one !== null) return { ok: true, rates: { '*': one } };
  const rates: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*=\s*(.+)$/.exec(part);
    const r = m ? rate(m[2] as string) : null;
    if (!m || r === null) return { ok: false, message: `invalid --baseline-rate ${JSON.stringify(text)}: write a rate > 0 (events per host-hour), or NAME=RATE pairs separated by commas, like crashes=0.0005` };
    if (!metrics.includes(m[1] as string)) return { ok: false, message: `--baseline-rate: the rollout has no counts metric "${m[1]}" (it has ${metrics.join(', ') || 'none'})` };
    rates[m[1] as string] = r;
  }
  const missing = metrics.filter((x) => rates[x] === undefined);
  if (missing.length > 0) return { ok: false, message: `--baseline-rate: no rate for ${missing.join(', ')} (give NAME=RATE for every counts metric, or one rate for all)` };
  return { ok: true, rates };
}

const n = (x: number): string => Math.round(x).toLocaleString('en-US');

/** "1h59m", "37m", "3d04h". */
export function humanHours(h: number): string {
  const minutes = Math.round(h * 60);
  if (minutes < 60) return `${minutes}m`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
  const hours = Math.round(h);
  return `${Math.floor(hours / 24)}d${String(hours % 24).padStart(2, '0')}h`;
}

export function renderPowerTable(rows: RingPower[]): string {
  const header = ['RING', 'METRIC', 'HOSTS (CANDIDATE / BASELINE)', 'BASELINE RATE', 'ALPHA', 'TO DETECT detectRatio: EXPOSURE, TIME', 'BAKE', 'DETECTABLE IN BAKE'];
  const body = rows.map((r) => [
    r.ring,
    r.metric,
    r.candidateHosts === null ? 'unknown' : `${n(r.candidateHosts)} / ${r.baselineHosts === null ? '?' : n(r.baselineHosts)}`,
    `${fmt(r.baselineRate)}/host-h`,
    fmt(r.alpha),
    r.problem !== null
      ? r.problem
      : r.exposureHours === null || r.hours === null
        ? `${fmt(r.detectRatio)}x: not within ${n(1e7)} intervals`
        : `${fmt(r.detectRatio)}x: ${n(r.exposureHours)} host-h, ${humanHours(r.hours)}`,
    humanHours(r.bakeHours),
    r.problem !== null ? '-' : r.smallestRatioInBake === null ? 'none (bake too short)' : `>= ${r.smallestRatioInBake.toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}

export function powerText(rows: RingPower[]): string {
  return [
    `Power of each metric's relative test (the judge's sequential test; ${Math.round(PLANNED_POWER * 100)}% power; Poisson counts at the baseline rate):`,
    renderPowerTable(rows),
    'Exposure is candidate host-hours; time assumes the ring wholly exposed (its waves come first), at the analysis interval.',
    "The candidate is every host of the rings so far, the baseline the rest of the fleet. ALPHA is the test's share of the rollout's alpha.",
    'The max guard and the catastrophic test can only fail a ring sooner; a noisier fleet than Poisson needs more exposure.',
  ].join('\n');
}
