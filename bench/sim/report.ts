/** Pure parts of the simulator-scale bench: ratios between rows and the target's verdict (unit-tested). */

export interface SimRow {
  hosts: number;
  /** Virtual hours played (the run ends when the rollout is over, at most maxVirtualHours). */
  virtualHours: number;
  maxVirtualHours: number;
  /** The child's wall time, as the parent measured it (process start to exit), s. */
  wallS: number;
  /** Of which: the ringed run, and the all-at-once comparison, s (the child's own clock). */
  runS: number;
  compareS: number;
  /** CPU time of the child (user + system), s: on the shared cores, wall time includes waiting for them. */
  cpuS: number;
  peakRssMB: number | null;
  scenario: string;
  scenarioName: string;
  seed: number;
  outcome: string;
  lastRing: number;
  hostsUpdated: number;
  hostsBricked: number;
  allAtOnce: { hostsUpdated: number; hostsBricked: number } | null;
  /** sha256 of the whole result but wall-clock figures: equal for the same scenario, seed and hosts across builds. */
  resultDigest: string;
}

export interface RatioRow {
  scenario: string;
  hosts: number;
  baselineHosts: number;
  /** wallS / the baseline row's wallS. */
  wallRatio: number | null;
  rssRatio: number | null;
  /** Wall seconds per million hosts. */
  wallSPerMillionHosts: number;
}

const r2 = (x: number): number => Math.round(x * 100) / 100;

/** Each row against the smallest row of its scenario (the baseline of the same run). */
export function ratioRows(rows: readonly SimRow[]): RatioRow[] {
  return rows.map((r) => {
    const base = rows.filter((x) => x.scenario === r.scenario).reduce<SimRow | undefined>((m, x) => (m === undefined || x.hosts < m.hosts ? x : m), undefined) as SimRow;
    return {
      scenario: r.scenario,
      hosts: r.hosts,
      baselineHosts: base.hosts,
      wallRatio: base.wallS > 0 ? r2(r.wallS / base.wallS) : null,
      rssRatio: r.peakRssMB !== null && base.peakRssMB !== null && base.peakRssMB > 0 ? r2(r.peakRssMB / base.peakRssMB) : null,
      wallSPerMillionHosts: r2(r.wallS / (r.hosts / 1e6)),
    };
  });
}

export interface Verdict {
  target: string;
  measured: string;
  /** null: not measured at the target's size (quick mode). */
  pass: boolean | null;
}

/** Target: `hosts` hosts x `virtualHours` h in under wallS and under peakRssMB. */
export function judgeTarget(row: SimRow | undefined, t: { hosts: number; virtualHours: number; wallS: number; peakRssMB: number }, scenario: string): Verdict {
  const target = `${scenario}: ${t.hosts.toLocaleString('en-US')} hosts x ${t.virtualHours} h (at most) in under ${t.wallS} s and ${t.peakRssMB} MB`;
  if (!row) return { target, measured: `not measured at ${t.hosts.toLocaleString('en-US')} hosts`, pass: null };
  const measured = `${row.wallS} s wall (${row.cpuS} s CPU), peak RSS ${row.peakRssMB ?? '?'} MB, ${row.virtualHours} virtual h played (${row.outcome})`;
  return { target, measured, pass: row.wallS < t.wallS && row.peakRssMB !== null && row.peakRssMB < t.peakRssMB };
}
