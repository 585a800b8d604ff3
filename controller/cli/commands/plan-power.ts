/**
 * `ringctl plan FILE --policy P --power --hosts N [--ring-hosts NAME=N,...] --baseline-rate R`: the power part of
 * the plan (controller/policy/power-plan.ts). R is events per host-hour on the baseline, one number for every metric
 * or `NAME=R,...` per metric; with --prometheus-url the rates the flag does not give are read from Prometheus.
 */
import { builtinQueries, eventKindOf, promDuration } from '../../analysis/observe';
import type { MetricsProvider } from '../../analysis/provider';
import { fmt } from '../../engine/judge';
import { PLANNED_POWER, poweredMetrics, type BaselineRates, type RingPower } from '../../policy/power-plan';
import type { RolloutSpec } from '../../spec/types';

/** `0.0005` (every metric) or `crashes=0.0005,bsod=0.0002`, checked against the rollout's metrics. */
export function parseBaselineRates(text: string | undefined, spec: RolloutSpec): { ok: true; rates: BaselineRates } | { ok: false; message: string } {
  const metrics = poweredMetrics(spec);
  if (text === undefined) {
    return { ok: false, message: `--power needs --baseline-rate R (events per host-hour on the baseline, or NAME=R for each of ${metrics.join(', ') || 'the metrics'}) or --prometheus-url URL` };
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

/** What --prometheus-url found: the --baseline-rate text to use, and one note per metric read. */
export type PrometheusRates = { ok: true; text: string; notes: string[] } | { ok: false; message: string };

/**
 * Fills the rates --baseline-rate does not give from Prometheus, with the rollout's own baseline queries
 * (analysis/observe.ts builtinQueries for spec.previousVersion) over `windowMs` ending `now`:
 * rate = sum(increase(events[W])) / (sum(increase(host_seconds[W])) / 3600). The flag wins: one rate for every metric
 * leaves nothing to ask; NAME=RATE pairs leave the other metrics.
 */
export async function baselineRatesFromPrometheus(
  spec: RolloutSpec,
  provider: MetricsProvider,
  windowMs: number,
  flag: string | undefined,
  now: Date,
): Promise<PrometheusRates> {
  if (flag !== undefined && /^\s*[0-9.]+(e-?[0-9]+)?\s*$/i.test(flag)) return { ok: true, text: flag, notes: [] };
  const given = new Set((flag ?? '').split(',').map((p) => /^\s*([^=\s]+)\s*=/.exec(p)?.[1]).filter((x): x is string => x !== undefined));
  if (spec.previousVersion === undefined) return { ok: false, message: '--prometheus-url: the rollout has no previousVersion, so there is no baseline to query (pass --baseline-rate)' };
  const window = promDuration(windowMs);
  const pairs: string[] = flag === undefined || flag.trim() === '' ? [] : [flag];
  const notes: string[] = [];
  for (const metric of (spec.analysis?.metrics ?? []).filter((m) => poweredMetrics(spec).includes(m.name) && !given.has(m.name))) {
    const kind = eventKindOf(metric.type);
    if (kind === undefined) continue;
    const q = builtinQueries(kind, spec.channel, spec.previousVersion, window);
    const [events, exposure] = await Promise.all([provider.query(q.events, now), provider.query(q.exposure, now)]);
    for (const [what, r] of [['events', events], ['exposure', exposure]] as const) {
      if (r.kind === 'error') return { ok: false, message: `--prometheus-url: ${metric.name} baseline ${what}: ${r.message}` };
      if (r.kind === 'no-data') return { ok: false, message: `--prometheus-url: ${metric.name} baseline ${what}: ${r.reason} for ${spec.channel} ${spec.previousVersion} over ${window} (pass --baseline-rate ${metric.name}=R)` };
    }
    const e = (events as { value: number }).value;
    const x = (exposure as { value: number }).value;
    if (!(x > 0) || !(e > 0)) {
      return { ok: false, message: `--prometheus-url: ${metric.name}: ${fmt(e)} events over ${fmt(x)} host-h on ${spec.previousVersion} in ${window}: no rate to size with (pass --baseline-rate ${metric.name}=R)` };
    }
    pairs.push(`${metric.name}=${e / x}`);
    notes.push(`baseline rate of ${metric.name} from Prometheus: ${fmt(e)} events / ${fmt(x)} host-h on ${spec.previousVersion} over ${window} = ${fmt(e / x)}/host-h`);
  }
  return { ok: true, text: pairs.join(','), notes };
}
