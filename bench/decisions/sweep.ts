/**
 * The decisions sweep: one scenario played in virtual time over many seeds, one `agent-sim --json` process per seed
 * (at most --jobs at a time, under `nice -n 10`), and the aggregate of their JSON: outcomes, halt reasons, the ring
 * each run reached or was stopped in, hosts that took the update, bricked and outside the canary, time to 100% of
 * the runs that succeeded, per-cause "first event -> halt" and the simulator's oracle when the tree prints them.
 *
 *   node dist/bench/decisions/sweep.js --scenario examples/scenarios/bad-content-update.yaml [--seeds 1..20]
 *       [--hosts N] [--tree DIR] [--label NAME] [--jobs 2] [--out FILE]
 *
 * `--tree DIR` runs DIR/bin/agent-sim.js (an older checkout, built) with its own copy of the scenario (a relative
 * --scenario is resolved in DIR). Older trees print fewer fields: a missing one is reported as "-", never guessed.
 * Prints a table and writes bench/results/decisions-<label>.json (label default: <commit>-<scenario name>).
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderTable } from '../../controller/cli/table';

export const REPO = path.resolve(__dirname, '..', '..', '..');

export interface SweepOptions {
  scenario: string;
  seeds: number[];
  hosts?: number;
  tree: string;
  jobs: number;
  /** Extra agent-sim flags (e.g. --timeline is never passed: the sweep keeps the JSON small). */
  extraArgs?: string[];
  onRun?: (seed: number, run: SeedRun) => void;
}

/** One seed's result: the fields of agent-sim's JSON the sweep reads (absent in older trees: undefined). */
export interface SeedRun {
  seed: number;
  exitCode: number | null;
  error?: string;
  outcome?: string;
  haltReason?: string | null;
  lastRing?: number;
  lastRingName?: string | null;
  hostsUpdated?: number;
  hostsUpdatedOutsideCanary?: number;
  hostsBricked?: number;
  virtualDurationHours?: number;
  /** Apply -> success, virtual hours (newer trees; older ones: virtualDurationHours of a succeeded run). */
  hoursToSucceeded?: number | null;
  /** The ring that was stopped, by the run's own account (newer trees). */
  haltRingName?: string | null;
  firstRingStart?: string | null;
  /** Minutes from the first exposure of hosts (the first wave) to the halt (newer trees). */
  haltMinutesAfterFirstExposure?: number | null;
  haltAt?: string | null;
  /** The transition that stopped the rollout (halted, rolling-back or aborted) or escalated it, if any. */
  stopTo?: string;
  stopReason?: string;
  /**
   * The ring the run was stopped in or left waiting at: the run's haltRingName (newer trees), else the ring named
   * by the stop's reason ("ring broad failed ..."), else lastRingName (which older trees report one ring too low
   * when a ring fails at its first look after an approval).
   */
  stoppedIn?: string | null;
  stopRing?: number;
  /** Minutes from the start of the ring that was stopped to the stop (from the transitions). */
  stopMinutesIntoRing?: number | null;
  firstCrashToHaltSeconds?: number | null;
  /** Per-cause "first event -> halt" (newer trees). */
  firstEventToHalt?: Record<string, number | null>;
  haltCause?: string | null;
  firstEventToHaltSeconds?: number | null;
  /** The oracle's figures (newer trees). */
  oracle?: { hostsUpdated?: number | null; haltAt?: string | null; [k: string]: unknown } | null;
  updateFailures?: Record<string, number>;
  wallTimeMs?: number;
  peakRssMB?: number;
}

export interface Spread {
  n: number;
  median: number | null;
  min: number | null;
  max: number | null;
}

export interface SweepResult {
  scenario: string;
  scenarioFile: string;
  tree: string;
  commit: string;
  /** Files of the tree (outside bench/results/) that differ from its commit (0: the figures are the commit's). */
  dirtyFiles: number;
  hosts: number | null;
  seeds: number[];
  at: string;
  outcomes: Record<string, number>;
  haltReasons: Record<string, number>;
  /** Where each run that did not succeed was stopped or left waiting (SeedRun.stoppedIn). */
  stopRings: Record<string, number>;
  /** Fails and rollbacks (what the issue calls a false halt on a healthy fleet); inconclusive/no-data apart. */
  failOrRollback: number;
  otherHalts: number;
  hostsUpdated: Spread;
  hostsUpdatedOutsideCanary: Spread;
  hostsBricked: Spread;
  /** Virtual hours to the end of the rollout, succeeded runs only. */
  hoursToFull: Spread;
  oracleHostsUpdated: Spread;
  haltCauses: Record<string, number>;
  /** The halt's own cause: first event of that kind -> halt, seconds (newer trees). */
  firstEventToHaltSeconds: Spread;
  /** First wave -> halt, minutes (newer trees). */
  minutesFirstExposureToHalt: Spread;
  runs: SeedRun[];
}

/** "1..20", "3", "1,4,9" or "1..5,9". */
export function parseSeeds(s: string): number[] {
  const out: number[] = [];
  for (const part of s.split(',')) {
    const m = /^\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new Error(`--seeds: expected like 1..20 or 1,2,5 (got ${JSON.stringify(s)})`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 10_000) throw new Error(`--seeds: bad range ${part}`);
    for (let k = a; k <= b; k++) out.push(k);
  }
  return out;
}

export function spread(xs: Array<number | null | undefined>): Spread {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { n: 0, median: null, min: null, max: null };
  const mid = v.length >> 1;
  const median = v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
  return { n: v.length, median, min: v[0] as number, max: v[v.length - 1] as number };
}

function treeCommit(tree: string): { commit: string; dirtyFiles: number } {
  try {
    const commit = execFileSync('git', ['-C', tree, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['-C', tree, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' });
    // The sweeps' own results (bench/results/) are not the code under test.
    return { commit, dirtyFiles: status.split('\n').filter((l) => l.trim() !== '' && !l.slice(3).startsWith('bench/results/')).length };
  } catch {
    return { commit: 'unknown', dirtyFiles: -1 };
  }
}

interface Transition {
  at: string;
  from: string;
  to: string;
  ring: number;
  reason: string;
}

const STOP = new Set(['halted', 'rolling-back', 'aborted']);

/** The fields the sweep keeps from one agent-sim JSON document. */
export function readRun(seed: number, exitCode: number | null, doc: Record<string, unknown>): SeedRun {
  const num = (k: string): number | undefined => (typeof doc[k] === 'number' ? (doc[k] as number) : undefined);
  const str = (k: string): string | null | undefined => (typeof doc[k] === 'string' || doc[k] === null ? (doc[k] as string | null) : undefined);
  const transitions = Array.isArray(doc.transitions) ? (doc.transitions as Transition[]) : [];
  const run: SeedRun = {
    seed,
    exitCode,
    outcome: str('outcome') ?? undefined,
    haltReason: str('haltReason'),
    lastRing: num('lastRing'),
    lastRingName: str('lastRingName'),
    hostsUpdated: num('hostsUpdated'),
    hostsUpdatedOutsideCanary: num('hostsUpdatedOutsideCanary'),
    hostsBricked: num('hostsBricked'),
    virtualDurationHours: num('virtualDurationHours'),
    hoursToSucceeded: typeof doc.hoursToSucceeded === 'number' || doc.hoursToSucceeded === null ? (doc.hoursToSucceeded as number | null) : undefined,
    haltRingName: str('haltRingName'),
    haltMinutesAfterFirstExposure: typeof doc.firstExposureAt === 'string' && typeof doc.haltAt === 'string' ? (Date.parse(doc.haltAt) - Date.parse(doc.firstExposureAt)) / 60_000 : undefined,
    firstRingStart: str('firstRingStart'),
    haltAt: str('haltAt'),
    firstCrashToHaltSeconds: typeof doc.firstCrashToHaltSeconds === 'number' || doc.firstCrashToHaltSeconds === null ? (doc.firstCrashToHaltSeconds as number | null) : undefined,
    wallTimeMs: num('wallTimeMs'),
    peakRssMB: num('peakRssMB'),
  };
  if (doc.firstEventToHalt && typeof doc.firstEventToHalt === 'object') run.firstEventToHalt = doc.firstEventToHalt as Record<string, number | null>;
  if (typeof doc.haltCause === 'string' || doc.haltCause === null) run.haltCause = doc.haltCause as string | null;
  if (typeof doc.firstEventToHaltSeconds === 'number' || doc.firstEventToHaltSeconds === null) run.firstEventToHaltSeconds = doc.firstEventToHaltSeconds as number | null;
  if (doc.oracle !== undefined) run.oracle = doc.oracle as SeedRun['oracle'];
  if (doc.updateFailures && typeof doc.updateFailures === 'object') run.updateFailures = doc.updateFailures as Record<string, number>;
  // The stop (or escalation): the first transition into a stopping phase, else the last into awaiting-approval.
  let stopIdx = transitions.findIndex((t) => STOP.has(t.to));
  if (stopIdx < 0 && run.outcome === 'awaiting-approval') stopIdx = transitions.map((t) => t.to).lastIndexOf('awaiting-approval');
  if (stopIdx >= 0) {
    const stop = transitions[stopIdx] as Transition;
    run.stopTo = stop.to;
    run.stopReason = stop.reason.length > 240 ? `${stop.reason.slice(0, 237)}...` : stop.reason;
    run.stoppedIn = run.haltRingName ?? /^ring (\S+?):? /.exec(stop.reason)?.[1] ?? run.lastRingName ?? null;
    // The ring stopped: the ring of the transition before the stop (a rollback's own ring is -1).
    const ring = stop.ring >= 0 ? stop.ring : (transitions[stopIdx - 1]?.ring ?? -1);
    run.stopRing = ring;
    // Its start: the earliest transition of the last run of transitions at that ring before the stop.
    let k = stopIdx - 1;
    while (k >= 0 && (transitions[k] as Transition).ring === ring) k--;
    const first = transitions[k + 1];
    run.stopMinutesIntoRing = first && first !== stop ? (Date.parse(stop.at) - Date.parse(first.at)) / 60_000 : null;
  }
  return run;
}

function runOne(opts: SweepOptions, seed: number): Promise<SeedRun> {
  const bin = path.join(opts.tree, 'bin', 'agent-sim.js');
  const args = [bin, '--scenario', opts.scenario, '--clock', 'virtual', '--seed', String(seed), '--json', '--no-compare', ...(opts.hosts === undefined ? [] : ['--hosts', String(opts.hosts)]), ...(opts.extraArgs ?? [])];
  return new Promise((resolve) => {
    const child = spawn('nice', ['-n', '10', process.execPath, ...args], { cwd: opts.tree, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('close', (code) => {
      const text = Buffer.concat(out).toString('utf8').trim();
      const line = text.split('\n').filter((l) => l.startsWith('{')).pop();
      if (!line) {
        resolve({ seed, exitCode: code, error: (Buffer.concat(err).toString('utf8').trim().split('\n')[0] ?? '') || `no JSON (exit ${code})` });
        return;
      }
      try {
        resolve(readRun(seed, code, JSON.parse(line) as Record<string, unknown>));
      } catch (e) {
        resolve({ seed, exitCode: code, error: `unreadable JSON: ${(e as Error).message}` });
      }
    });
  });
}

const count = (xs: Array<string | null | undefined>): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const x of xs) if (x !== undefined && x !== null) out[x] = (out[x] ?? 0) + 1;
  return out;
};

export async function runSweep(opts: SweepOptions): Promise<SweepResult> {
  const queue = [...opts.seeds];
  const runs: SeedRun[] = [];
  const worker = async (): Promise<void> => {
    for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) {
      const r = await runOne(opts, seed);
      runs.push(r);
      opts.onRun?.(seed, r);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.jobs) }, worker));
  runs.sort((a, b) => a.seed - b.seed);
  return aggregate(opts, runs);
}

export function aggregate(opts: Pick<SweepOptions, 'scenario' | 'tree' | 'hosts' | 'seeds'>, runs: SeedRun[]): SweepResult {
  const { commit, dirtyFiles } = treeCommit(opts.tree);
  const ok = runs.filter((r) => r.error === undefined);
  const notSucceeded = ok.filter((r) => r.outcome !== 'succeeded');
  const failOrRollback = ok.filter((r) => r.outcome === 'rolled-back' || r.outcome === 'rolling-back' || (r.outcome === 'halted' && r.haltReason === 'fail')).length;
  const otherHalts = ok.filter((r) => r.outcome === 'halted' && r.haltReason !== 'fail').length;
  const name = (r: SeedRun): string => r.stoppedIn ?? r.lastRingName ?? (r.lastRing === undefined ? '?' : String(r.lastRing));
  return {
    scenario: path.basename(opts.scenario).replace(/\.ya?ml$/, ''),
    scenarioFile: opts.scenario,
    tree: opts.tree,
    commit,
    dirtyFiles,
    hosts: opts.hosts ?? null,
    seeds: opts.seeds,
    at: new Date().toISOString(),
    outcomes: count(runs.map((r) => r.outcome ?? (r.error ? 'error' : undefined))),
    haltReasons: count(ok.map((r) => r.haltReason)),
    stopRings: count(notSucceeded.map(name)),
    failOrRollback,
    otherHalts,
    hostsUpdated: spread(ok.map((r) => r.hostsUpdated)),
    hostsUpdatedOutsideCanary: spread(ok.map((r) => r.hostsUpdatedOutsideCanary)),
    hostsBricked: spread(ok.map((r) => r.hostsBricked)),
    hoursToFull: spread(ok.filter((r) => r.outcome === 'succeeded').map((r) => (typeof r.hoursToSucceeded === 'number' ? r.hoursToSucceeded : r.virtualDurationHours))),
    oracleHostsUpdated: spread(ok.map((r) => (r.oracle && typeof r.oracle.hostsUpdated === 'number' ? r.oracle.hostsUpdated : undefined))),
    haltCauses: count(ok.map((r) => r.haltCause)),
    firstEventToHaltSeconds: spread(ok.map((r) => r.firstEventToHaltSeconds)),
    minutesFirstExposureToHalt: spread(ok.map((r) => r.haltMinutesAfterFirstExposure)),
    runs,
  };
}

const fmt = (x: number | null | undefined, digits = 0): string => (x === null || x === undefined ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const fmtSpread = (s: Spread, digits = 0): string => (s.n === 0 ? '-' : `${fmt(s.median, digits)} (${fmt(s.min, digits)}-${fmt(s.max, digits)})`);
const fmtCounts = (c: Record<string, number>): string => Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ') || '-';

/** The per-seed table and the summary lines. */
export function formatSweep(r: SweepResult): string {
  const head = ['seed', 'outcome', 'halt', 'ring', 'stopped in', 'took', 'bricked', 'outside', 'oracle', 'event->halt', 'into ring', 'hours', 'stop reason'];
  const rows = r.runs.map((x) => {
    if (x.error) return [String(x.seed), 'error', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', x.error.slice(0, 80)];
    const feh = x.firstEventToHalt ? Object.entries(x.firstEventToHalt).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${fmt(v as number)}s`).join(' ') : x.firstCrashToHaltSeconds === undefined || x.firstCrashToHaltSeconds === null ? '-' : `crash ${fmt(x.firstCrashToHaltSeconds)}s`;
    return [
      String(x.seed),
      x.outcome ?? '-',
      x.haltReason ?? '-',
      x.lastRingName ?? (x.lastRing === undefined ? '-' : String(x.lastRing)),
      x.stoppedIn ?? '-',
      fmt(x.hostsUpdated),
      fmt(x.hostsBricked),
      fmt(x.hostsUpdatedOutsideCanary),
      x.oracle && typeof x.oracle.hostsUpdated === 'number' ? fmt(x.oracle.hostsUpdated) : '-',
      feh || '-',
      x.stopMinutesIntoRing === undefined || x.stopMinutesIntoRing === null ? '-' : `${fmt(x.stopMinutesIntoRing, 1)} m`,
      fmt(x.virtualDurationHours, 1),
      (x.stopReason ?? '').slice(0, 90),
    ];
  });
  const out = [
    `${r.scenario} on ${r.commit}${r.dirtyFiles > 0 ? ` + ${r.dirtyFiles} changed files` : ''} (${r.tree}), ${r.hosts === null ? 'scenario' : fmt(r.hosts)} hosts, seeds ${r.seeds[0]}..${r.seeds[r.seeds.length - 1]} (${r.seeds.length})`,
    ...renderTable([head, ...rows]).split('\n'),
    '',
    `outcomes: ${fmtCounts(r.outcomes)}; halt reasons: ${fmtCounts(r.haltReasons)}`,
    `fail or rollback: ${r.failOrRollback}/${r.runs.length}; other halts (inconclusive, no-data): ${r.otherHalts}; not succeeded, by ring: ${fmtCounts(r.stopRings)}`,
    `hosts that took the update: median ${fmtSpread(r.hostsUpdated)}; bricked ${fmtSpread(r.hostsBricked)}; outside the canary ${fmtSpread(r.hostsUpdatedOutsideCanary)}`,
    `oracle (hosts that had it at the first look after the first event): ${fmtSpread(r.oracleHostsUpdated)}`,
    `halt causes: ${fmtCounts(r.haltCauses)}; first event of the cause -> halt (s): ${fmtSpread(r.firstEventToHaltSeconds)}; first wave -> halt (min): ${fmtSpread(r.minutesFirstExposureToHalt, 1)}`,
    `time to full (succeeded runs, virtual hours): ${fmtSpread(r.hoursToFull, 1)}`,
  ];
  return out.join('\n');
}

interface Cli {
  scenario?: string;
  seeds: string;
  hosts?: number;
  tree: string;
  label?: string;
  jobs: number;
  out?: string;
}

function parseArgs(argv: string[]): Cli {
  const cli: Cli = { seeds: '1..20', tree: REPO, jobs: 2 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--scenario') cli.scenario = v();
    else if (a === '--seeds') cli.seeds = v();
    else if (a === '--hosts') cli.hosts = Number(v());
    else if (a === '--tree') cli.tree = path.resolve(v());
    else if (a === '--label') cli.label = v();
    else if (a === '--jobs') cli.jobs = Number(v());
    else if (a === '--out') cli.out = v();
    else throw new Error(`unknown argument ${a}`);
  }
  if (!cli.scenario) throw new Error('--scenario FILE is required');
  if (cli.hosts !== undefined && !(Number.isInteger(cli.hosts) && cli.hosts >= 100)) throw new Error('--hosts must be an integer >= 100');
  if (!(Number.isInteger(cli.jobs) && cli.jobs >= 1 && cli.jobs <= 4)) throw new Error('--jobs must be 1..4');
  return cli;
}

export function writeResult(r: SweepResult, label: string, out?: string): string {
  const file = out ?? path.join(REPO, 'bench', 'results', `decisions-${label}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(r, null, 1)}\n`);
  return file;
}

async function main(): Promise<number> {
  let cli: Cli;
  try {
    cli = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`sweep: ${(e as Error).message}\n`);
    return 2;
  }
  const scenario = cli.scenario as string;
  const seeds = parseSeeds(cli.seeds);
  const t0 = Date.now();
  const r = await runSweep({
    scenario,
    seeds,
    ...(cli.hosts === undefined ? {} : { hosts: cli.hosts }),
    tree: cli.tree,
    jobs: cli.jobs,
    onRun: (seed, run) => process.stderr.write(`seed ${seed}: ${run.error ?? `${run.outcome} ring ${run.lastRingName ?? run.lastRing} took ${run.hostsUpdated}`} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`),
  });
  const label = cli.label ?? `${r.commit}-${r.scenario}`;
  process.stdout.write(`${formatSweep(r)}\n`);
  process.stdout.write(`written to ${path.relative(process.cwd(), writeResult(r, label, cli.out))}\n`);
  return r.runs.some((x) => x.error) ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`sweep: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
