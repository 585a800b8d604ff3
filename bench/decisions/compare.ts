/**
 * Decision quality, side by side (issue 13): every scenario x strategy over seeded runs at 100,000 hosts, with common
 * random numbers (the same seed gives every strategy the same hosts, hazards and noise draws; see bench/README.md).
 *
 *   node dist/bench/decisions/compare.js          (BENCH_QUICK=1: 2 seeds; else DECISIONS_SEEDS, default 16)
 *       env: DECISIONS_SEEDS=N  DECISIONS_HOSTS=100000  DECISIONS_JOBS=2  DECISIONS_ONLY=scenario,scenario
 *            DECISIONS_HEADLINE_SEEDS=N (default 2; quick 0) DECISIONS_HEADLINE_HOSTS=1000000
 *
 * Per scenario and seed, in a worker process (at most DECISIONS_JOBS, under nice -n 10):
 * - (a) Ringmaster: the scenario's rollout as written, with the controller's own analysis (runVirtual);
 * - the bake-only trajectory: the same rings and bakes without ramp or metrics; (b) Argo, (c) Flagger and (d)
 *   Kayenta judge it side by side (ObserverAnalyzer) and their first stop is read off it; (e) bake only is the
 *   trajectory itself;
 * - (b), (c), (d) "+ ramp": the ramp trajectory (the rollout as written, Ringmaster's in-ring ramp, every look a
 *   pass) with the same seed, judged by the three peers at once, ended once all three have stopped;
 * - (f) all at once (runAllAtOnce) and (g) the oracle (RunResult.oracle of the Ringmaster run).
 * Writes bench/results/decisions.json, bench/results/decisions.md (the table) and bench/results/decisions.svg.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadScenario, type Scenario } from '../../agent-sim/scenario';
import { loadScenarioDocuments, runAllAtOnce, runVirtual, type RunResult } from '../../agent-sim/virtual';
import { engineConfigFor } from '../../controller/runtime/config';
import { REPO } from './sweep';
import { bakeOnly, makePeer, ObserverAnalyzer, type PeerName, type PeerStop } from './strategies';
import { chartSvg } from './chart';

export const STRATEGIES = ['ringmaster', 'argo', 'flagger', 'kayenta', 'argo+ramp', 'flagger+ramp', 'kayenta+ramp', 'bake-only', 'all-at-once', 'oracle'] as const;
export type Strategy = (typeof STRATEGIES)[number];
const PEERS: PeerName[] = ['argo', 'flagger', 'kayenta'];
/** Host groups for the Kayenta-style judge's per-host-group rates. */
export const HOST_GROUPS = 50;

export interface ScenarioDef {
  id: string;
  file: string;
  label: string;
  headline: boolean;
}
export const SCENARIOS: ScenarioDef[] = [
  { id: 'catastrophic', file: 'examples/scenarios/bad-content-update.yaml', label: 'catastrophic (crash on boot 0.95)', headline: true },
  { id: 'regression-3x', file: 'bench/decisions/scenarios/regression-3x.yaml', label: '3× crash rate', headline: false },
  { id: 'regression-1.5x', file: 'examples/scenarios/subtle-regression.yaml', label: '1.5× crash rate (sensitive analysis)', headline: true },
  { id: 'regression-1.2x', file: 'bench/decisions/scenarios/regression-1.2x.yaml', label: '1.2× crash rate (sensitive analysis)', headline: false },
  { id: 'healthy-diurnal', file: 'examples/scenarios/healthy-noisy.yaml', label: 'healthy, overdispersed diurnal noise', headline: true },
  { id: 'healthy-noise-45', file: 'bench/decisions/scenarios/healthy-noise-45.yaml', label: 'healthy, independent per-interval noise CV 45%', headline: true },
  { id: 'healthy-gaps', file: 'bench/decisions/scenarios/healthy-gaps.yaml', label: 'healthy, Prometheus gaps 3/6/15 min', headline: false },
  { id: 'tampered', file: 'bench/decisions/scenarios/tampered-manifest.yaml', label: 'agents refuse the install (tampered manifest)', headline: false },
];

/** One strategy's outcome on one seed. */
export interface RunRow {
  scenario: string;
  strategy: Strategy;
  seed: number;
  hosts: number;
  hostsExposed: number;
  hostsBricked: number;
  /** The strategy stopped the rollout: automatically (fail) or for a human. */
  stop: 'fail' | 'human' | null;
  /** First attributable event -> stop, seconds (null: no stop, or no event before it). */
  timeToHaltS: number | null;
  /** The rollout entered its last ring (100%) before any stop. */
  reachedFull: boolean;
  hoursToFull: number | null;
  wallMs: number;
}

const sinceEvent = (eventAt: string | null | undefined, at: number | null): number | null => {
  if (eventAt === null || eventAt === undefined || at === null) return null;
  const e = Date.parse(eventAt);
  return at >= e ? (at - e) / 1000 : null;
};

/** When the last ring was first exposed in a run (null: never). */
function fullRingStart(run: RunResult, lastIndex: number): number | null {
  const t = run.transitions.find((x) => x.exposedRing === lastIndex);
  return t ? Date.parse(t.at) : null;
}

/** The hosts that had taken the candidate, and were bricked, at virtual time `at` (the timeline point then). */
function exposureAt(run: RunResult, at: number): { took: number; bricked: number } {
  const start = Date.parse(run.startedAt);
  let took = 0;
  let bricked = 0;
  for (const p of run.timeline) {
    if (p.t + start > at) break;
    took = p.took;
    bricked = p.bricked;
  }
  return { took, bricked };
}

/** Ringmaster's own stop: a rollback or a fail halt is automatic; another halt, or a max-bake escalation, needs a human. */
function ringmasterStop(run: RunResult): 'fail' | 'human' | null {
  if (run.outcome === 'rolled-back' || run.outcome === 'aborted' || (run.outcome === 'halted' && run.haltReason === 'fail')) return 'fail';
  if (run.outcome === 'halted') return 'human';
  if (run.outcome === 'awaiting-approval') return 'human';
  return run.haltAt !== null ? 'fail' : null;
}

function fromRun(scenario: string, strategy: Strategy, seed: number, run: RunResult, stop: 'fail' | 'human' | null, lastIndex: number, wallMs: number): RunRow {
  const full = fullRingStart(run, lastIndex);
  const haltAt = run.haltAt === null ? null : Date.parse(run.haltAt);
  return {
    scenario,
    strategy,
    seed,
    hosts: run.hosts,
    hostsExposed: run.hostsUpdated,
    hostsBricked: run.hostsBricked,
    stop,
    timeToHaltS: stop === null ? null : sinceEvent(run.oracle?.eventAt, haltAt),
    reachedFull: full !== null && (haltAt === null || haltAt > full),
    hoursToFull: run.hoursToSucceeded,
    wallMs,
  };
}

/** Every strategy on one scenario and seed. */
export async function runSeed(def: ScenarioDef, seed: number, hosts: number): Promise<RunRow[]> {
  const sc: Scenario = loadScenario(path.join(REPO, def.file), { seed, hosts });
  const original = loadScenarioDocuments(sc).rollout;
  const lastIndex = original.spec.rings.length - 1;
  const rows: RunRow[] = [];
  let t0 = Date.now();
  const rm = await runVirtual(sc);
  rows.push(fromRun(def.id, 'ringmaster', seed, rm, ringmasterStop(rm), lastIndex, Date.now() - t0));
  // (g) the oracle of the same run.
  const o = rm.oracle;
  rows.push({
    scenario: def.id,
    strategy: 'oracle',
    seed,
    hosts: rm.hosts,
    hostsExposed: o ? o.hostsUpdated : rm.hostsUpdated,
    hostsBricked: o ? o.hostsBricked : 0,
    stop: o ? 'fail' : null,
    timeToHaltS: o ? (Date.parse(o.haltAt) - Date.parse(o.eventAt)) / 1000 : null,
    reachedFull: false,
    hoursToFull: null,
    wallMs: 0,
  });

  // The bake-only trajectory, and the ramp trajectory, each judged by every peer at once.
  const observe = async (mode: 'bake-only' | 'ramp'): Promise<{ traj: RunResult; stops: PeerStop[]; wallMs: number }> => {
    const t1 = Date.now();
    let observer: ObserverAnalyzer | undefined;
    const traj = await runVirtual(sc, undefined, {
      ...(mode === 'bake-only' ? { rollout: bakeOnly } : { stopWhen: () => observer?.allStopped() === true }),
      hostGroups: HOST_GROUPS,
      analyzer: (ctx) => (observer = new ObserverAnalyzer(original, () => ctx, PEERS.map((p) => makePeer(p, original, seed)), mode)),
    });
    return { traj, stops: observer?.stops ?? [], wallMs: Date.now() - t1 };
  };
  const peerRows = (traj: RunResult, stops: PeerStop[], suffix: '' | '+ramp'): void => {
    const trajFull = fullRingStart(traj, lastIndex);
    for (const p of PEERS) {
      const strategy = `${p}${suffix}` as Strategy;
      const stop = stops.find((s) => s.peer === p);
      if (!stop) {
        // The peer never stopped it; the controller may still have (a ramp that reached maxBake waits for a human).
        const own = ringmasterStop(traj);
        rows.push({ ...fromRun(def.id, strategy, seed, traj, own, lastIndex, 0), ...(own === null ? { timeToHaltS: null } : {}) });
        continue;
      }
      const ex = exposureAt(traj, stop.at);
      rows.push({
        scenario: def.id,
        strategy,
        seed,
        hosts: traj.hosts,
        hostsExposed: ex.took,
        hostsBricked: ex.bricked,
        stop: stop.kind,
        timeToHaltS: sinceEvent(traj.oracle?.eventAt, stop.at),
        reachedFull: trajFull !== null && stop.at > trajFull,
        hoursToFull: null,
        wallMs: 0,
      });
    }
  };
  const bake = await observe('bake-only');
  rows.push({ ...fromRun(def.id, 'bake-only', seed, bake.traj, null, lastIndex, bake.wallMs), timeToHaltS: null });
  peerRows(bake.traj, bake.stops, '');
  // (b), (c), (d) with Ringmaster's ramp: the same seed, the ramp's pace, one trajectory for the three.
  const ramp = await observe('ramp');
  peerRows(ramp.traj, ramp.stops, '+ramp');
  const rampRow = rows[rows.length - 3];
  if (rampRow) rampRow.wallMs = ramp.wallMs;

  // (f) all at once.
  t0 = Date.now();
  const all = runAllAtOnce(sc);
  rows.push({ scenario: def.id, strategy: 'all-at-once', seed, hosts: sc.fleet.hosts, hostsExposed: all.hostsUpdated, hostsBricked: all.hostsBricked, stop: null, timeToHaltS: null, reachedFull: all.hostsUpdated > 0, hoursToFull: (sc.fleet.pollIntervalMs + sc.fleet.pollJitterMs) / 3_600_000, wallMs: Date.now() - t0 });
  return rows;
}

// ------------------------------------------------------------------------------------------ aggregation

/**
 * Settles what a row can only know beside the others. The oracle has nothing to stop on a run where the candidate caused nothing (a healthy update): it lets the rollout
 * go on, so its exposure is that of the same rings and bakes (the bake-only trajectory of the same seed).
 */
export function settleOracle(rows: RunRow[]): RunRow[] {
  return rows.map((r) => {
    // All at once puts 100% in the manifest; the regression reached 100% only if hosts installed it.
    if (r.strategy === 'all-at-once') return { ...r, reachedFull: r.hostsExposed > 0 };
    if (r.strategy !== 'oracle' || r.stop !== null) return r;
    const b = rows.find((x) => x.strategy === 'bake-only' && x.scenario === r.scenario && x.seed === r.seed && x.hosts === r.hosts);
    return b ? { ...r, hostsExposed: b.hostsExposed, hostsBricked: b.hostsBricked, reachedFull: b.reachedFull, hoursToFull: b.hoursToFull } : r;
  });
}

export interface Cell {
  scenario: string;
  label: string;
  strategy: Strategy;
  kind: 'healthy' | 'regression';
  runs: number;
  hosts: number;
  hostsExposedMedian: number | null;
  hostsExposedP95: number | null;
  hostsBricked: number | null;
  hostsBrickedP95: number | null;
  timeToHaltMedianS: number | null;
  timeToHaltP95S: number | null;
  falseHaltRate: number | null;
  missRate: number | null;
  timeToFullMedianH: number | null;
  minBakesH: number;
  /** Runs that stopped for a human (a pause, an inconclusive run, a maxBake escalation). */
  humanDecisions: number;
  /** Runs stopped automatically. */
  automaticStops: number;
}

/** The q-quantile (nearest rank) of the finite values; null when none. */
export function quantile(xs: Array<number | null>, q: number): number | null {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  if (q === 0.5) {
    const mid = v.length >> 1;
    return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
  }
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))] as number;
}

export function isHealthy(sc: Scenario): boolean {
  return sc.candidate.crashRateMultiplier <= 1 && sc.candidate.crashOnBoot === 0 && sc.candidate.updateFailure === 0 && !sc.tamper.artifact && sc.tamper.manifestShare === 0;
}

export function aggregate(def: ScenarioDef, strategy: Strategy, rows: RunRow[], healthy: boolean, minBakesH: number): Cell {
  const r = rows.filter((x) => x.scenario === def.id && x.strategy === strategy);
  const n = r.length;
  const fails = r.filter((x) => x.stop === 'fail').length;
  return {
    scenario: def.id,
    label: def.label,
    strategy,
    kind: healthy ? 'healthy' : 'regression',
    runs: n,
    hosts: r[0]?.hosts ?? 0,
    hostsExposedMedian: quantile(r.map((x) => x.hostsExposed), 0.5),
    hostsExposedP95: quantile(r.map((x) => x.hostsExposed), 0.95),
    hostsBricked: quantile(r.map((x) => x.hostsBricked), 0.5),
    hostsBrickedP95: quantile(r.map((x) => x.hostsBricked), 0.95),
    timeToHaltMedianS: healthy ? null : quantile(r.map((x) => x.timeToHaltS), 0.5),
    timeToHaltP95S: healthy ? null : quantile(r.map((x) => x.timeToHaltS), 0.95),
    falseHaltRate: healthy && n > 0 ? fails / n : null,
    missRate: !healthy && n > 0 ? r.filter((x) => x.reachedFull).length / n : null,
    timeToFullMedianH: healthy ? quantile(r.map((x) => x.hoursToFull), 0.5) : null,
    minBakesH,
    humanDecisions: r.filter((x) => x.stop === 'human').length,
    automaticStops: fails,
  };
}

// ------------------------------------------------------------------------------------------ output

const num = (x: number | null, digits = 0): string => (x === null ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const pct = (x: number | null): string => (x === null ? '–' : `${(100 * x).toFixed(x > 0 && x < 0.01 ? 1 : 0)}%`);

export function markdown(cells: Cell[]): string {
  const lines = [
    '| scenario | strategy | runs × hosts | exposed median | exposed p95 | bricked median | halt median s | halt p95 s | false halts | misses | full median h (min bakes) | human decisions |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of cells) {
    lines.push(
      `| ${c.label} | ${c.strategy} | ${c.runs} × ${c.hosts.toLocaleString('en-US')} | ${num(c.hostsExposedMedian)} | ${num(c.hostsExposedP95)} | ${num(c.hostsBricked)} | ${num(c.timeToHaltMedianS)} | ${num(c.timeToHaltP95S)} | ${pct(c.falseHaltRate)} | ${pct(c.missRate)} | ${c.kind === 'healthy' ? `${num(c.timeToFullMedianH, 1)} (${num(c.minBakesH, 1)})` : '–'} | ${c.humanDecisions} |`,
    );
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------ workers

interface Job {
  def: ScenarioDef;
  seed: number;
  hosts: number;
}

/** Runs jobs in at most `jobs` worker processes (nice -n 10), each a persistent `compare.js --worker`. */
async function runJobs(all: Job[], jobs: number, onRows: (rows: RunRow[], job: Job) => void): Promise<void> {
  const queue = [...all];
  const worker = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn('nice', ['-n', '10', process.execPath, '--max-old-space-size=4096', __filename, '--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      let current: Job | undefined;
      const next = (): void => {
        current = queue.shift();
        if (!current) {
          child.send({ done: true });
          return;
        }
        child.send({ job: current });
      };
      child.on('message', (m: { rows?: RunRow[]; error?: string }) => {
        if (m.error !== undefined) process.stderr.write(`decisions: ${current?.def.id} seed ${current?.seed}: ${m.error}\n`);
        else if (m.rows && current) onRows(m.rows, current);
        next();
      });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code}`))));
      next();
    });
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
}

function workerMain(): void {
  process.on('message', (m: { job?: Job; done?: boolean }) => {
    if (m.done) {
      process.disconnect?.();
      return;
    }
    const job = m.job as Job;
    runSeed(job.def, job.seed, job.hosts).then(
      (rows) => process.send?.({ rows: rows.map((r) => ({ ...r })) }),
      (err: unknown) => process.send?.({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  });
}

function minBakesHours(def: ScenarioDef): number {
  const sc = loadScenario(path.join(REPO, def.file));
  const cfg = engineConfigFor(loadScenarioDocuments(sc).rollout);
  return cfg.rings.reduce((s, r) => s + r.bakeMs, 0) / 3_600_000;
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  // What fits in make bench's 30 minutes (measured on 2 cores, seed 1 at 100,000 hosts: 2-5 s of one core for the
  // regressions, ~9 s for the tampered manifest, ~20 s for each healthy scenario, which plays 51 h of the real
  // controller three times: Ringmaster, the bake-only trajectory and the ramp trajectory; at 1,000,000 hosts 9 s,
  // 18 s and 53 s): quick 2 seeds (~1.5 min), full 16 seeds plus 2 seeds at 1,000,000 hosts for the headline
  // scenarios (~13 min; 20 seeds took 968 s, and make bench 30 min 5 s in all). The issue's 200 seeds and 20 headline seeds need DECISIONS_SEEDS=200
  // DECISIONS_HEADLINE_SEEDS=20 (about 3.5 h on these 2 cores; docs/benchmarks.md says so beside the table).
  const seeds = Number(process.env.DECISIONS_SEEDS ?? (quick ? 2 : 16));
  const hosts = Number(process.env.DECISIONS_HOSTS ?? 100_000);
  const jobs = Number(process.env.DECISIONS_JOBS ?? 2);
  const headlineSeeds = Number(process.env.DECISIONS_HEADLINE_SEEDS ?? (quick ? 0 : 2));
  const headlineHosts = Number(process.env.DECISIONS_HEADLINE_HOSTS ?? 1_000_000);
  const only = process.env.DECISIONS_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
  const defs = SCENARIOS.filter((d) => !only || only.includes(d.id));
  const t0 = Date.now();
  const all: Job[] = [];
  // Seed-major: the runs done so far cover every scenario alike (DECISIONS_TABLE_ONLY=1 tables a run cut short).
  // The 1,000,000-host jobs first: the longest jobs start first, so the two workers finish together.
  for (let s = 1; s <= headlineSeeds; s++) for (const def of defs.filter((d) => d.headline)) all.push({ def, seed: s, hosts: headlineHosts });
  for (let s = 1; s <= seeds; s++) for (const def of defs) all.push({ def, seed: s, hosts });
  let rows: RunRow[] = [];
  let done = 0;
  const out = path.join(REPO, 'bench', 'results');
  // DECISIONS_TABLE_ONLY=1: the table, JSON and chart again from the runs of the last decisions.json (no runs).
  const previous = process.env.DECISIONS_TABLE_ONLY === '1' ? (JSON.parse(fs.readFileSync(path.join(out, 'decisions.json'), 'utf8')) as { runs: RunRow[]; wallS: number; seeds: number; hosts: number; headlineSeeds: number; headlineHosts: number; at: string }) : null;
  if (previous) {
    rows = previous.runs.map((r) => ({ ...r, wallMs: 0 }));
    all.length = 0;
    for (const r of rows) if (!all.some((j) => j.def.id === r.scenario && j.hosts === r.hosts)) all.push({ def: SCENARIOS.find((d) => d.id === r.scenario) as ScenarioDef, seed: r.seed, hosts: r.hosts });
  } else
    await runJobs(all, jobs, (r, job) => {
      rows.push(...r);
      done++;
      // The runs so far, as they come (a run cut short can still be tabled with DECISIONS_TABLE_ONLY=1).
      fs.mkdirSync(out, { recursive: true });
      fs.writeFileSync(path.join(out, 'decisions.json'), `${JSON.stringify({ partial: true, seeds, hosts, headlineSeeds, headlineHosts, wallS: (Date.now() - t0) / 1000, at: new Date(t0).toISOString(), runs: rows.map(({ wallMs: _w, ...x }) => x) })}\n`);
      const wall = r.reduce((s, x) => s + x.wallMs, 0);
      process.stderr.write(`decisions: ${done}/${all.length} ${job.def.id} seed ${job.seed} ${job.hosts} hosts ${(wall / 1000).toFixed(1)} s (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
    });
  rows = settleOracle(rows);
  const cells: Cell[] = [];
  for (const def of defs) {
    const sc = loadScenario(path.join(REPO, def.file));
    const healthy = isHealthy(sc);
    const mb = minBakesHours(def);
    for (const h of [...new Set(all.filter((j) => j.def.id === def.id).map((j) => j.hosts))]) {
      const rs = rows.filter((x) => x.hosts === h);
      for (const st of STRATEGIES) cells.push(aggregate(def, st, rs, healthy, mb));
    }
  }
  const wallS = previous ? previous.wallS : (Date.now() - t0) / 1000;
  fs.mkdirSync(out, { recursive: true });
  const meta = { command: `${quick ? 'BENCH_QUICK=1 ' : ''}node dist/bench/decisions/compare.js`, seeds: previous?.seeds ?? seeds, hosts: previous?.hosts ?? hosts, headlineSeeds: previous?.headlineSeeds ?? headlineSeeds, headlineHosts: previous?.headlineHosts ?? headlineHosts, hostGroups: HOST_GROUPS, jobs, wallS, at: previous?.at ?? new Date().toISOString(), machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}` };
  fs.writeFileSync(path.join(out, 'decisions.json'), `${JSON.stringify({ ...meta, cells, runs: rows.map(({ wallMs: _w, ...r }) => r) }, null, 1)}\n`);
  const table = markdown(cells);
  const md = [
    '# Decision quality, side by side',
    '',
    `Printed by \`${meta.command}\` at ${meta.at} in ${wallS.toFixed(0)} s on ${meta.machine}: ${previous ? `the ${rows.length / STRATEGIES.length} seeds × scenarios a run of ${meta.seeds} seeds per scenario had finished` : `${meta.seeds} seeds per scenario`} at ${meta.hosts.toLocaleString('en-US')} hosts${meta.headlineSeeds > 0 ? `, plus ${meta.headlineSeeds} seeds at ${meta.headlineHosts.toLocaleString('en-US')} hosts for the headline scenarios` : ''}${previous ? ' (table regenerated from its decisions.json)' : ''}.`,
    'Every strategy sees the same seed (hosts, hazards, noise). "exposed": hosts that took the candidate before the stop; halt: first attributable event → stop;',
    'false halts: automatic stops on a healthy update; misses: the regression entered the last (100%) ring; human decisions: runs that stopped for a human',
    '(the row counts the run as stopped there: no later exposure, no time to full). See bench/README.md for the peers\' rules.',
    '',
    table,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(out, 'decisions.md'), md);
  fs.writeFileSync(path.join(out, 'decisions.svg'), chartSvg(cells));
  process.stdout.write(`${table}\n\nwritten to bench/results/decisions.json, decisions.md, decisions.svg (${wallS.toFixed(0)} s)\n`);
}

if (require.main === module) {
  if (process.argv.includes('--worker')) workerMain();
  else if (process.argv.includes('--one')) {
    // node compare.js --one <scenario id> <seed> <hosts>: one job in this process, rows as JSON (for timing).
    const [id, seed, hosts] = process.argv.slice(process.argv.indexOf('--one') + 1);
    const def = SCENARIOS.find((d) => d.id === id);
    if (!def) throw new Error(`unknown scenario ${id}`);
    runSeed(def, Number(seed ?? 1), Number(hosts ?? 100_000)).then(
      (rows) => process.stdout.write(`${JSON.stringify(rows, null, 1)}\n`),
      (err: unknown) => {
        process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
        process.exitCode = 1;
      },
    );
  } else
    main().catch((err: unknown) => {
      process.stderr.write(`decisions: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    });
}
