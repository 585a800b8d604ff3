/**
 * The decisions table of issue 10 (`make soak` runs it): every row of the issue's table played over 20 seeds at
 * 1,000,000 hosts with bench/decisions/sweep.ts, beside the "before" figures measured on e2d79b5
 * (bench/results/decisions-before-<scenario>.json) and the simulator's oracle, each with its target.
 *
 *   node dist/bench/decisions/main.js            (DECISIONS_SEEDS=1..20 DECISIONS_HOSTS=1000000 DECISIONS_JOBS=2
 *                                                 DECISIONS_ONLY=bad-content-update,tampered-manifest)
 *
 * Writes bench/results/decisions-after-<scenario>.json per row and bench/results/decisions-before-after.md (the table, the
 * commit and the command), prints the table, and exits 1 when a target is missed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatSweep, parseSeeds, REPO, runSweep, spread, type SeedRun, type Spread, type SweepResult, writeResult } from './sweep';

interface Row {
  scenario: string;
  case: string;
  target: string;
  /** The row's figure for one sweep (before or after). */
  figure: (r: SweepResult) => string;
  /** The oracle beside it ('' when the row has none). */
  oracle: (r: SweepResult) => string;
  /** Whether the after-sweep meets the target. */
  met: (r: SweepResult) => boolean;
}

const fmt = (x: number | null, digits = 0): string => (x === null ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const spreadText = (s: Spread, digits = 0): string => (s.n === 0 ? '-' : `median ${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`);
const counts = (c: Record<string, number>): string => Object.entries(c).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v} ${k}`).join(', ') || '-';

/** The ring each run was stopped in; runs of older sweeps carry no stoppedIn: read it from the stop's reason. */
function stoppedIn(run: SeedRun): string | null {
  if (run.outcome === 'succeeded') return null;
  if (run.stoppedIn !== undefined) return run.stoppedIn;
  return /^ring (\S+?):? /.exec(run.stopReason ?? '')?.[1] ?? run.lastRingName ?? null;
}
const stopRings = (r: SweepResult): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const run of r.runs) {
    const ring = stoppedIn(run);
    const key = run.outcome === 'succeeded' ? 'succeeded' : `${run.outcome ?? 'error'} in ${ring ?? '?'}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
};
const falseHalts = (r: SweepResult): string => {
  const byRing: Record<string, number> = {};
  for (const run of r.runs) if (run.outcome === 'rolled-back' || (run.outcome === 'halted' && run.haltReason === 'fail')) byRing[stoppedIn(run) ?? '?'] = (byRing[stoppedIn(run) ?? '?'] ?? 0) + 1;
  const other = r.runs.filter((x) => x.outcome === 'halted' && x.haltReason !== 'fail').length;
  return `${r.failOrRollback}/${r.runs.length} false halts${r.failOrRollback > 0 ? ` (${counts(byRing)})` : ''}${other > 0 ? `; ${other} other halts (no-data/inconclusive)` : ''}`;
};
const hoursToFull = (r: SweepResult): Spread => spread(r.runs.filter((x) => x.outcome === 'succeeded').map((x) => (typeof x.hoursToSucceeded === 'number' ? x.hoursToSucceeded : x.virtualDurationHours)));

/** Sum of the minimum bakes of examples/rollouts/content-update.yaml: 30m + 2h + 24h + 24h. */
const MIN_BAKES_H = 50.5;

export const ROWS: Row[] = [
  {
    scenario: 'bad-content-update',
    case: '`bad-content-update` (95% crash on boot), 2,000-host canary',
    target: 'median ≤ 100 took it, every seed ≤ 200, 0 outside the canary',
    figure: (r) => `${counts(stopRings(r))}; took it ${spreadText(r.hostsUpdated)}; bricked ${spreadText(r.hostsBricked)}; outside the canary max ${fmt(r.hostsUpdatedOutsideCanary.max)}`,
    oracle: (r) => (r.oracleHostsUpdated.n === 0 ? '-' : `took it ${spreadText(r.oracleHostsUpdated)}`),
    met: (r) => r.hostsUpdated.n === r.runs.length && (r.hostsUpdated.median ?? Infinity) <= 100 && (r.hostsUpdated.max ?? Infinity) <= 200 && r.hostsUpdatedOutsideCanary.max === 0,
  },
  {
    scenario: 'tampered-manifest',
    case: '`tampered-manifest`: signature and hash refusals',
    target: 'halts on the refusals within 2 analysis intervals (2 min) of the first wave, every seed',
    figure: (r) => `${counts(stopRings(r))}; causes ${counts(r.haltCauses)}; first wave → halt ${spreadText(r.minutesFirstExposureToHalt, 1)} min; took it max ${fmt(r.hostsUpdated.max)}`,
    oracle: (r) => (r.runs.some((x) => x.oracle) ? `halts ${spreadText(spread(r.runs.map((x) => (x.oracle?.haltAt && x.haltAt ? (Date.parse(x.haltAt) - Date.parse(x.oracle.haltAt)) / 60_000 : null))), 1)} min before the run` : '-'),
    met: (r) => r.runs.every((x) => (x.outcome === 'rolled-back' || x.outcome === 'halted') && x.haltCause === 'update-failure' && typeof x.haltMinutesAfterFirstExposure === 'number' && x.haltMinutesAfterFirstExposure <= 2),
  },
  {
    scenario: 'healthy-very-noisy',
    case: 'healthy, gamma noise shape 5 per version per interval, diurnal 0.9, hazard shape 0.5, crash rate 0.02, `content-update-sensitive.yaml`',
    target: '≤ 1 false halt in 20',
    figure: (r) => `${falseHalts(r)}; time to full ${spreadText(hoursToFull(r), 1)} h`,
    oracle: () => 'nothing to stop',
    met: (r) => r.failOrRollback <= 1,
  },
  {
    scenario: 'healthy-very-noisy-default',
    case: 'the same fleet, crash rate 0.002, default example rollout',
    target: '0 false halts in 20',
    figure: (r) => `${falseHalts(r)}; time to full ${spreadText(hoursToFull(r), 1)} h`,
    oracle: () => 'nothing to stop',
    met: (r) => r.failOrRollback === 0,
  },
  {
    scenario: 'subtle-regression',
    case: '1.5× crash rate (`subtle-regression`)',
    target: 'stopped before the last ring in ≥ 19 of 20',
    figure: (r) => `${counts(stopRings(r))}; took it ${spreadText(r.hostsUpdated)}`,
    oracle: (r) => (r.oracleHostsUpdated.n === 0 ? '-' : `took it ${spreadText(r.oracleHostsUpdated)}`),
    met: (r) => r.runs.filter((x) => x.outcome !== 'succeeded' && x.outcome !== undefined && stoppedIn(x) !== 'full' && x.haltCause !== 'no-data').length >= 19,
  },
  {
    scenario: 'regression-3x',
    case: '3× crash rate (`regression-3x`, sensitive rollout, crash rate 0.02)',
    target: 'stopped within the first two rings in 20 of 20',
    figure: (r) => `${counts(stopRings(r))}; took it ${spreadText(r.hostsUpdated)}`,
    oracle: (r) => (r.oracleHostsUpdated.n === 0 ? '-' : `took it ${spreadText(r.oracleHostsUpdated)}`),
    met: (r) => r.runs.every((x) => (x.outcome === 'rolled-back' || x.outcome === 'halted') && ['canary', 'early'].includes(stoppedIn(x) ?? '')),
  },
  {
    scenario: 'healthy-crash-loops',
    case: 'healthy, half the crashes in crash loops (compound Poisson, mean 10) plus common-mode noise (shape 10), sensitive rollout (not in the issue; the old simulator has neither)',
    target: '0 false halts in 20',
    figure: (r) => `${falseHalts(r)}; time to full ${spreadText(hoursToFull(r), 1)} h`,
    oracle: () => 'nothing to stop',
    met: (r) => r.failOrRollback === 0,
  },
  {
    scenario: 'healthy-noisy',
    case: '`healthy-noisy` (gamma shape 50, diurnal 0.4), time to full',
    target: `0 false halts; time to full ≤ 1.1 × ${MIN_BAKES_H} h = ${(1.1 * MIN_BAKES_H).toFixed(2)} h`,
    figure: (r) => `${falseHalts(r)}; time to full ${spreadText(hoursToFull(r), 2)} h`,
    oracle: () => 'nothing to stop',
    met: (r) => r.failOrRollback === 0 && hoursToFull(r).n === r.runs.length && (hoursToFull(r).max ?? Infinity) <= 1.1 * MIN_BAKES_H,
  },
];

/** A sweep written by an older sweep.ts lacks some aggregates: fill them from its runs (absent fields stay absent). */
function normalize(r: SweepResult): SweepResult {
  const tally = (xs: Array<string | null | undefined>): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const x of xs) if (typeof x === 'string') out[x] = (out[x] ?? 0) + 1;
    return out;
  };
  return {
    ...r,
    haltCauses: r.haltCauses ?? tally(r.runs.map((x) => x.haltCause)),
    firstEventToHaltSeconds: r.firstEventToHaltSeconds ?? spread(r.runs.map((x) => x.firstEventToHaltSeconds)),
    minutesFirstExposureToHalt: r.minutesFirstExposureToHalt ?? spread(r.runs.map((x) => x.haltMinutesAfterFirstExposure)),
    oracleHostsUpdated: r.oracleHostsUpdated ?? spread([]),
  };
}

function readSweep(kind: 'before' | 'after', scenario: string): SweepResult | null {
  const file = path.join(REPO, 'bench', 'results', `decisions-${kind}-${scenario}.json`);
  try {
    return normalize(JSON.parse(fs.readFileSync(file, 'utf8')) as SweepResult);
  } catch {
    return null;
  }
}

export function markdownTable(rows: Array<{ row: Row; before: SweepResult | null; after: SweepResult }>): string {
  const beforeCommit = rows.find((x) => x.before)?.before?.commit ?? '-';
  const after = rows[0]?.after;
  const afterLabel = after ? `${after.commit}${after.dirtyFiles > 0 ? ` + ${after.dirtyFiles} changed files` : ''}` : '-';
  const lines = [
    `| case (20 seeds, 1,000,000 hosts) | before (${beforeCommit}) | after (${afterLabel}) | oracle (after) | target | met |`,
    '|---|---|---|---|---|---|',
  ];
  for (const { row, before, after: a } of rows) {
    lines.push(`| ${row.case} | ${before ? row.figure(before) : 'not measurable'} | ${row.figure(a)} | ${row.oracle(a)} | ${row.target} | ${row.met(a) ? 'yes' : '**no**'} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  const seeds = parseSeeds(process.env.DECISIONS_SEEDS ?? '1..20');
  const hosts = Number(process.env.DECISIONS_HOSTS ?? 1_000_000);
  const jobs = Number(process.env.DECISIONS_JOBS ?? 2);
  const only = process.env.DECISIONS_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
  const rows = ROWS.filter((r) => !only || only.includes(r.scenario));
  const done: Array<{ row: Row; before: SweepResult | null; after: SweepResult }> = [];
  const t0 = Date.now();
  // DECISIONS_TABLE_ONLY=1: the table from the JSON already written (no runs).
  const tableOnly = process.env.DECISIONS_TABLE_ONLY === '1';
  for (const row of rows) {
    if (tableOnly) {
      const after = readSweep('after', row.scenario);
      if (after) done.push({ row, before: readSweep('before', row.scenario), after });
      continue;
    }
    const after = await runSweep({
      scenario: path.join('examples', 'scenarios', `${row.scenario}.yaml`),
      seeds,
      hosts,
      tree: REPO,
      jobs,
      onRun: (seed, run) => process.stderr.write(`${row.scenario} seed ${seed}: ${run.error ?? `${run.outcome} (${run.stoppedIn ?? run.lastRingName ?? '-'}) took ${run.hostsUpdated}`} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`),
    });
    writeResult(after, `after-${row.scenario}`);
    process.stdout.write(`${formatSweep(after)}\n\n`);
    done.push({ row, before: readSweep('before', row.scenario), after: normalize(after) });
  }
  const table = markdownTable(done);
  const command = `${tableOnly ? 'DECISIONS_TABLE_ONLY=1 ' : ''}node dist/bench/decisions/main.js${only ? ` (DECISIONS_ONLY=${only.join(',')})` : ''}${seeds.length !== 20 ? ` DECISIONS_SEEDS=${process.env.DECISIONS_SEEDS}` : ''}${hosts !== 1_000_000 ? ` DECISIONS_HOSTS=${hosts}` : ''}`;
  const md = [
    '# Decisions: before and after issue 10',
    '',
    `Printed by \`${command}\` (part of \`make soak\`) at ${new Date().toISOString()}${tableOnly ? ' from the JSON of the last sweeps' : `, ${((Date.now() - t0) / 60_000).toFixed(1)} min of sweeps`}.`,
    `The after sweeps ran at ${done.map((x) => `${x.row.scenario} ${x.after.commit}${x.after.dirtyFiles > 0 ? `+${x.after.dirtyFiles}` : ''} (${x.after.at.slice(0, 16)}Z)`).join(', ')}.`,
    'Each cell: 20 seeds (1..20) of `agent-sim --clock virtual --hosts 1000000 --seed N --json --no-compare`; the before figures are the same',
    'scenario files played by the tree at the before commit (bench/results/decisions-before-*.json), the after figures are in',
    'bench/results/decisions-after-*.json. A false halt is a fail or a rollback; "stopped in" is the ring that was halted or rolled back',
    "(older trees' lastRing read one ring too low after an auto-approval; the before column reads the ring from the stop's reason).",
    'The oracle halts at the first look (ring start + k × interval) after the first event the candidate caused.',
    '',
    table,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(REPO, 'bench', 'results', 'decisions-before-after.md'), md);
  process.stdout.write(`${table}\n\nwritten to bench/results/decisions-before-after.md\n`);
  return done.every((x) => x.row.met(x.after)) ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`decisions: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
