/**
 * agent-sim: the fleet simulator.
 *
 *   agent-sim --scenario FILE [--clock virtual] [--hosts N] [--seed S] [--json [--timeline]] [--plot FILE.svg] [--no-compare]
 *   agent-sim --scenario FILE --clock live [--controller URL] [--pin-key BASE64] [--metrics-listen HOST:PORT] [--duration D] [--hosts N]
 *   agent-sim --scenario FILE --clock live --pollers K [--duration 10s]      (load mode)
 *   agent-sim --scenario FILE --clock live --agents K [--agents-dir DIR] [--pin-key BASE64] (K real reference agents)
 *   agent-sim serve --scenario FILE [--listen HOST:PORT] [--data DIR] [--tokens FILE] [--pid-file FILE] ...
 *     (the real controller and its HTTP API in real time, the simulated fleet as its fleet and metrics: serve.ts)
 *
 * Virtual clock: plays the scenario against the real controller runtime in process and prints the story and a
 * summary table, with the same scenario and seed "all at once" (no rings) for comparison, and the oracle (a judge
 * that halts at the first look after the first event the candidate caused). --json prints one JSON object instead
 * (outcome, numbers, oracle, transitions, wall time, peak RSS; the per-step timeline only with --timeline, so that
 * every transition can be checked against the data). Exit codes: 0 the run matched the scenario's
 * `expect` block (or it has none); 1 it did not; 2 bad usage or an invalid scenario.
 */
import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { plotSvg } from './plot';
import { InputError } from '../controller/spec/errors';
import { renderTable } from '../controller/cli/table';
import { intFlag, runProgram } from './flags';
import { loadScenario, type Scenario } from './scenario';
import { runAllAtOnce, runVirtual, type AllAtOnceResult, type RunResult } from './virtual';

interface Flags {
  scenario: string;
  clock: 'virtual' | 'live';
  hosts?: string;
  seed?: string;
  json?: boolean;
  timeline?: boolean;
  plot?: string;
  compare: boolean;
  controller?: string;
  metricsListen?: string;
  duration?: string;
  pinKey?: string;
  pollers?: string;
  agents?: string;
  agentsDir?: string;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'serve') return (await import('./serve')).serveMain(argv.slice(1));
  let exit = 0;
  const program = new Command('agent-sim')
    .description('Ringmaster fleet simulator: plays a scenario against the controller')
    .requiredOption('--scenario <file>', 'scenario YAML (examples/scenarios/*.yaml)')
    .addOption(new Option('--clock <clock>', 'virtual: discrete events in process; live: real time over HTTP').choices(['virtual', 'live']).default('virtual'))
    .option('--hosts <n>', 'fleet size (overrides the scenario)')
    .option('--seed <n>', 'random seed (overrides the scenario)')
    .option('--json', 'print one JSON object')
    .option('--timeline', 'with --json: include the per-step timeline (exposure, crashes, ring, wave, phase)')
    .option('--plot <file.svg>', 'write an SVG of exposure and crashes over time')
    .option('--no-compare', 'skip the "all at once" comparison run')
    .option('--controller <url>', 'live/load: controller URL, loopback only (default http://127.0.0.1:8080)')
    .option('--metrics-listen <host:port>', 'live: where to serve the agent metrics (default 127.0.0.1:9464)')
    .option('--duration <duration>', 'live: stop after this long (default: until Ctrl-C); load: default 10s, max 120s')
    .option('--pin-key <base64>', "live: the controller's manifest public key the agents pin (without it: the key served at start, trusted on first use, with a warning)")
    .option('--pollers <k>', 'load mode: K real HTTP pollers against the manifest endpoint (with --clock live)')
    .option('--agents <k>', 'live: K (<= 50) real reference agents (agent/) instead of the simulated fleet, each with its own state directory')
    .option('--agents-dir <dir>', "with --agents: keep the agents' state directories in DIR/<host id> (default: a temp directory, removed)")
    .action(async (flags: Flags) => {
      exit = await run(flags);
    });
  return runProgram(program, 'agent-sim', argv, () => exit);
}

async function run(flags: Flags): Promise<number> {
  const wall0 = process.hrtime.bigint();
  let sc: Scenario;
  try {
    const hosts = intFlag('hosts', flags.hosts, 100, 10_000_000);
    const seed = intFlag('seed', flags.seed, 0, 2 ** 31);
    sc = loadScenario(flags.scenario, { ...(hosts === undefined ? {} : { hosts }), ...(seed === undefined ? {} : { seed }) });
  } catch (err) {
    if (err instanceof InputError) {
      for (const l of err.lines) process.stderr.write(`agent-sim: ${l}\n`);
      return 2;
    }
    throw err;
  }
  if (flags.clock === 'live') {
    const { runLive } = await import('./live');
    return runLive(sc, flags);
  }
  let result: RunResult;
  let allAtOnce: AllAtOnceResult | undefined;
  try {
    result = await runVirtual(sc, flags.json ? undefined : (line) => process.stdout.write(`${line}\n`));
    if (flags.compare) allAtOnce = runAllAtOnce(sc);
  } catch (err) {
    if (err instanceof InputError) {
      for (const l of err.lines) process.stderr.write(`agent-sim: ${l}\n`);
      return 2;
    }
    throw err;
  }
  const wallMs = Number(process.hrtime.bigint() - wall0) / 1e6;
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  if (flags.plot) fs.writeFileSync(flags.plot, plotSvg(result, `${sc.name}: ${sc.fleet.hosts.toLocaleString('en-US')} simulated hosts`, allAtOnce));
  const problems = checkExpectations(sc, result);
  if (flags.json) {
    const { timeline, transitions, ...rest } = result;
    process.stdout.write(
      `${JSON.stringify({ ...rest, transitions: transitions.map((t) => ({ at: t.at, from: t.from, to: t.to, ring: t.exposedRing, reason: t.reason })), ...(flags.timeline ? { timeline } : {}), allAtOnce: allAtOnce ? withoutTimeline(allAtOnce) : null, wallTimeMs: Math.round(wallMs), peakRssMB: Math.round(peakRssMB), expectationsMet: problems.length === 0, problems })}\n`,
    );
  } else {
    process.stdout.write(`\n${summaryTable(result, allAtOnce)}\n`);
    process.stdout.write(`virtual time: ${virtualSpan(result.virtualDurationHours)} simulated in ${(wallMs / 1000).toFixed(1)} s of wall time (peak RSS ${Math.round(peakRssMB)} MB)${flags.plot ? `; plot written to ${flags.plot}` : ''}\n`);
    for (const p of problems) process.stdout.write(`UNEXPECTED: ${p}\n`);
    process.stdout.write(`${whatNext(flags.scenario)}\n`);
  }
  return problems.length === 0 ? 0 : 1;
}

/** The all-at-once numbers without the per-step timeline (kept for the plot). */
function withoutTimeline(a: AllAtOnceResult): Omit<AllAtOnceResult, 'timeline'> {
  const { timeline: _timeline, ...rest } = a;
  return rest;
}

/** "13 min", "14 h", "3.5 days" of virtual time. */
export function virtualSpan(hours: number): string {
  if (hours < 1) return `${Math.max(1, Math.round(hours * 60))} min`;
  if (hours < 48) return `${Number(hours.toPrecision(2))} h`;
  return `${Number((hours / 24).toPrecision(2))} days`;
}

/** The closing line of a human run: where to go from here. */
export function whatNext(scenario: string): string {
  const other = scenario.endsWith('subtle-regression.yaml') ? 'examples/scenarios/bad-content-update.yaml' : 'examples/scenarios/subtle-regression.yaml';
  return (
    `next: another scenario (node bin/agent-sim.js --scenario ${other} --clock virtual; all in examples/scenarios/), ` +
    'the same in real time against a real server and Prometheus (make demo-live), or drive a rollout yourself (README, Quick start).'
  );
}

export function checkExpectations(sc: Scenario, r: RunResult): string[] {
  const e = sc.expect;
  const out: string[] = [];
  if (e.outcome !== undefined && e.outcome !== r.outcome) out.push(`outcome ${r.outcome}, expected ${e.outcome}`);
  if (e.haltReason !== undefined && e.haltReason !== r.haltReason && !r.transitions.some((t) => t.reason.includes(e.haltReason as string))) out.push(`halt reason ${r.haltReason ?? 'none'}, expected ${e.haltReason}`);
  if (e.lastRing !== undefined && e.lastRing !== r.lastRing) out.push(`last ring exposed ${r.lastRing}, expected ${e.lastRing}`);
  if (e.maxHostsOutsideCanary !== undefined && r.hostsUpdatedOutsideCanary > e.maxHostsOutsideCanary) out.push(`${r.hostsUpdatedOutsideCanary} hosts outside the canary ring took the update, expected at most ${e.maxHostsOutsideCanary}`);
  if (e.maxHostsUpdated !== undefined && r.hostsUpdated > e.maxHostsUpdated) out.push(`${r.hostsUpdated} hosts took the update, expected at most ${e.maxHostsUpdated}`);
  if (e.minRecoveredShare !== undefined) {
    const share = recoveredShare(r);
    if (share === null || share < e.minRecoveredShare) out.push(`${share === null ? 'no host crashed on boot' : `${(100 * share).toFixed(1)}% of the hosts that crashed on boot recovered locally`}, expected at least ${(100 * e.minRecoveredShare).toFixed(1)}%`);
  }
  if (e.firstRingStart !== undefined && (r.firstRingStart === null || Date.parse(r.firstRingStart) !== Date.parse(e.firstRingStart))) out.push(`first ring started ${r.firstRingStart ?? 'never'}, expected ${e.firstRingStart}`);
  return out;
}

/** Of the hosts the update left unable to boot, the share their agents brought back: recovered / (recovered + bricked). */
export function recoveredShare(r: { hostsRecoveredLocally: number; hostsBricked: number }): number | null {
  const crashed = r.hostsRecoveredLocally + r.hostsBricked;
  return crashed === 0 ? null : r.hostsRecoveredLocally / crashed;
}

const fmt = (n: number): string => n.toLocaleString('en-US');
const pct = (n: number, of: number): string => (of > 0 ? `${((100 * n) / of).toFixed(n / of < 0.01 ? 3 : 1)}%` : '-');

/** "crash 30 s" for the halt's own cause, then the other kinds that preceded the halt in brackets. */
function firstEventText(r: RunResult): string {
  const names: Record<string, string> = { crash: 'first crash', updateFailure: 'first update failure', dataGap: 'start of the data gap' };
  const parts = Object.entries(r.firstEventToHalt)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${names[k] ?? k} ${Math.round(v as number)} s`);
  return parts.length === 0 ? '-' : parts.join(', ');
}

export function summaryTable(r: RunResult, all: AllAtOnceResult | undefined): string {
  const rows: Array<[string, string, string]> = [
    ['', 'with rings (Ringmaster)', 'all at once'],
    ['outcome', `${r.outcome}${r.haltReason ? ` (${r.haltReason})` : ''}`, all ? 'no gate' : '-'],
    ['furthest ring exposed', r.lastRingName === null ? 'none' : `${r.lastRing} (${r.lastRingName})`, all ? '100%' : '-'],
    ['hosts that took the update', `${fmt(r.hostsUpdated)} (${pct(r.hostsUpdated, r.hosts)})`, all ? `${fmt(all.hostsUpdated)} (${pct(all.hostsUpdated, r.hosts)})` : '-'],
    ['  of them outside the canary ring', fmt(r.hostsUpdatedOutsideCanary), all ? fmt(all.hostsUpdatedOutsideCanary) : '-'],
    ['hosts bricked (boot loop)', `${fmt(r.hostsBricked)} (${pct(r.hostsBricked, r.hosts)})`, all ? `${fmt(all.hostsBricked)} (${pct(all.hostsBricked, r.hosts)})` : '-'],
    ['hosts recovered locally (agent fallback)', `${fmt(r.hostsRecoveredLocally)} (${pct(r.hostsRecoveredLocally, r.hosts)})`, all ? `${fmt(all.hostsRecoveredLocally)} (${pct(all.hostsRecoveredLocally, r.hosts)})` : '-'],
    ['halt cause', r.haltCause === null ? '-' : `${r.haltCause}${r.haltRing >= 0 ? ` in ring ${r.haltRing} (${r.haltRingName ?? '?'})` : ''}`, '-'],
    ['first event -> halt', firstEventText(r), '-'],
    ['oracle: halts at', r.oracle === null ? 'nothing to stop' : `${r.oracle.haltAt} (ring ${r.oracle.ring}: ${r.oracle.ringName ?? '?'}, after the first ${r.oracle.event} at ${r.oracle.eventAt})`, '-'],
    ['oracle: hosts that took the update', r.oracle === null ? '-' : `${fmt(r.oracle.hostsUpdated)} (${pct(r.oracle.hostsUpdated, r.hosts)})`, '-'],
    ['manifest revision that rolled back', r.rollbackRevision === null ? '-' : String(r.rollbackRevision), '-'],
    ['update failures (signature/hash/apply)', `${r.updateFailures.signature ?? 0}/${r.updateFailures.hash ?? 0}/${r.updateFailures.apply ?? 0}`, '-'],
    ['virtual time played', `${r.virtualDurationHours.toFixed(1)} h`, '-'],
  ];
  return `${r.scenario}: ${fmt(r.hosts)} hosts, ${fmt(r.canaryHosts)} in the canary ring\n${renderTable(rows, { style: 'boxed' })}`;
}
