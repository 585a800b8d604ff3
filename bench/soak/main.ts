/**
 * make soak: the long reliability run of a real `ringmaster serve` (docs/reliability.md).
 *   part 1  kill -9 at random points while rollouts progress: 0 lost, 0 duplicated, 0 skipped transitions,
 *           the audit chain verifies, every rollout ends in a terminal phase;
 *   part 2  generated malformed inputs: no 5xx, no stack trace, no state change;
 *   part 3  manifest polls from wrk at 20,000 req/s or more while a rollout runs and the kill switch fires:
 *           no errors, and the switch is seen at the next poll.
 * Prints a markdown table of the figures (each with its target), writes them as JSON (bench/results/soak.json)
 * and exits 1 when a target is missed. Loopback only; it stops by itself (SOAK_TIMEOUT_S) and removes every
 * process and temp dir it made. Sizes and seed come from the environment (./config.ts).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readConfig, SoakConfigError, type Part, type SoakConfig } from './config';
import { runFuzzSoak, type FuzzSoakResult } from './fuzz-soak';
import { runKillSoak, type KillSoakResult } from './kill-soak';
import { appRoot, cleanupAll, keepTempDirs, ROOT } from './sandbox';
import { runWrkSoak, type WrkSoakResult } from './wrk-soak';

export interface Figure {
  part: string;
  figure: string;
  value: string;
  target: string;
  ok: boolean | null;
}

export interface SoakReport {
  at: string;
  node: string;
  cpus: number;
  loadAverageAtStart: number[];
  /** The commit dist/ was built on, and how many files of the working tree differed from it. */
  tree: { commit: string; changedFiles: number };
  config: Omit<SoakConfig, 'parts'> & { parts: Part[] };
  figures: Figure[];
  ok: boolean;
  kill?: KillSoakResult;
  fuzz?: FuzzSoakResult;
  wrk?: WrkSoakResult;
  errors: string[];
  durationS: number;
}

const fig = (part: string, figure: string, value: string | number, target: string, ok: boolean | null): Figure => ({ part, figure, value: String(value), target, ok });

export function killFigures(k: KillSoakResult, cfg: SoakConfig): Figure[] {
  const P = 'kill -9';
  const modes = Object.entries(k.killsByMode)
    .filter(([, n]) => n > 0)
    .map(([m, n]) => `${m} ${n}`)
    .join(', ');
  const t = k.rollouts.terminal;
  return [
    fig(P, 'kill -9s of ringmaster serve', k.kills, `${cfg.kills}`, k.kills >= cfg.kills),
    fig(P, 'kills aimed at (random / in-flight call / drain / startup)', modes, 'info', null),
    fig(P, 'restarts during approval', k.restartsDuringApproval, '> 0', k.restartsDuringApproval > 0),
    fig(P, 'restarts during a rollback drain', k.restartsDuringDrain, '> 0', k.restartsDuringDrain > 0),
    fig(P, 'restarts during a verb call', k.restartsDuringVerb, '> 0', k.restartsDuringVerb > 0),
    fig(P, 'restarts during a kill-switch call / while engaged', `${k.restartsDuringKillSwitchCall} / ${k.restartsWhileKillSwitchEngaged}`, '> 0', k.restartsDuringKillSwitchCall + k.restartsWhileKillSwitchEngaged > 0),
    fig(P, 'calls in flight at a kill: verbs (recorded, applied) / kill switch / apply', `${k.inFlightAtKill.verbs} (${k.inFlightAtKill.recorded}, ${k.inFlightAtKill.applied}) / ${k.inFlightAtKill.killSwitchCalls} / ${k.inFlightAtKill.applies}`, 'info', null),
    fig(P, 'lost (transitions, audit entries, acknowledged calls)', k.lost, '0', k.lost === 0),
    fig(P, 'duplicated (numbering, calls recorded or applied twice, ring restarted)', k.duplicated, '0', k.duplicated === 0),
    fig(P, 'skipped (ring jumps, unbaked rings, approvals)', k.skipped, '0', k.skipped === 0),
    fig(P, 'verbs refused (409) that took effect later', k.phantom, '0', k.phantom === 0),
    fig(
      P,
      'ringctl audit --verify ok (runs with the pinned audit key)',
      `${k.auditVerify.ok} of ${k.auditVerify.runs} (${k.auditVerify.withPinnedKey})`,
      'all',
      k.auditVerify.runs > 0 && k.auditVerify.ok === k.auditVerify.runs,
    ),
    fig(P, 'rollouts / terminal (succeeded, rolled-back, aborted)', `${k.rollouts.total} / ${k.rollouts.total - k.rollouts.notTerminal.length} (${t.succeeded ?? 0}, ${t['rolled-back'] ?? 0}, ${t.aborted ?? 0})`, 'all terminal', k.rollouts.total > 0 && k.rollouts.notTerminal.length === 0),
    fig(P, 'transitions / audit entries checked', `${k.transitions} / ${k.auditEntries}`, 'info', null),
    fig(P, 'calls: verbs (applied, refused) / kill switch / apply', `${k.calls.verbs} (${k.calls.verbsApplied}, ${k.calls.verbsRefused}) / ${k.calls.killSwitch} / ${k.calls.applies}`, 'info', null),
    fig(P, '5xx answers', k.calls.serverErrors, '0', k.calls.serverErrors === 0),
    fig(P, 'restart to ready, p50 / max ms', `${k.restartMs.p50} / ${k.restartMs.max}`, 'info', null),
    fig(P, 'server log: error lines / stack lines', `${k.serverLog.errorLines} / ${k.serverLog.stackLines}`, 'info', null),
    fig(P, 'exit after SIGTERM at the end', k.cleanShutdown, '0', k.cleanShutdown === '0'),
  ];
}

export function fuzzFigures(f: FuzzSoakResult, cfg: SoakConfig): Figure[] {
  const P = 'malformed inputs';
  const statuses = Object.entries(f.statuses)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([s, n]) => `${s}: ${n}`)
    .join(', ');
  return [
    fig(P, 'malformed inputs sent', f.inputs, `>= ${cfg.inputs}`, f.inputs >= cfg.inputs),
    fig(P, 'answers by status', statuses, 'info', null),
    fig(P, '5xx answers', f.responses5xx, '0', f.responses5xx === 0),
    fig(P, 'stack traces or server paths in answers', f.stackTraces, '0', f.stackTraces === 0),
    fig(P, 'stack traces in the server log', f.serverLog.stackLines, '0', f.serverLog.stackLines === 0),
    fig(P, 'state changed (every table, kill switch, rollouts, manifests)', f.stateChanged ? `yes (${f.stateDiff.length} differences)` : 'no', 'no', !f.stateChanged && f.idleDrift.length === 0),
    fig(P, 'accepted (2xx/3xx) where a refusal was due', f.unexpectedAccepts, '0', f.unexpectedAccepts === 0),
    fig(P, 'no answer (timeout or reset) / closed on a short body', `${f.noAnswer} / ${f.closedOnTruncation}`, '0 / any', f.noAnswer === 0),
    fig(P, '4xx bodies not in the documented error shape', f.nonConformingErrors, 'info', null),
    fig(P, 'a valid token after the bad credentials', f.validTokenAfterBadAuth, '200', f.validTokenAfterBadAuth === 200),
    fig(P, 'server log: error lines', f.serverLog.errorLines, 'info', null),
    fig(P, 'exit after SIGTERM at the end', f.exit, '0', f.exit === '0'),
  ];
}

export function wrkFigures(w: WrkSoakResult, cfg: SoakConfig): Figure[] {
  const P = 'manifest polls (wrk)';
  const ks = w.killSwitch;
  return [
    fig(P, `req/s (wrk -t1 -c${w.connections} -d${w.seconds}s)`, w.reqPerSec, `>= ${cfg.minRps}`, w.reqPerSec >= cfg.minRps),
    fig(P, 'requests / statuses', `${w.requests} / ${Object.entries(w.statuses).map(([s, n]) => `${s}: ${n}`).join(', ')}`, 'info', null),
    fig(P, 'errors (socket errors + statuses other than 200/304)', w.errors, '0', w.errors === 0),
    fig(P, 'latency p50 / p99 / max ms', `${w.p50Ms} / ${w.p99Ms} / ${w.maxMs}`, 'info', null),
    fig(P, 'kill switch: API answer ms (at s)', `${ks.answerMs} (${ks.sentAtS})`, '< 1000', ks.status === 200 && ks.answerMs < 1000),
    fig(P, 'kill switch seen at the next poll', ks.seenAtNextPoll ? 'yes' : 'no', 'yes', ks.seenAtNextPoll),
    fig(
      P,
      'kill switch: API answer to first engaged manifest ms (that poll started after ms, took ms)',
      ks.seenAfterMs === null ? 'never' : `${ks.seenAfterMs} (${ks.seenPollStartedAfterMs}, ${ks.seenPollTookMs})`,
      `started <= ${ks.pollIntervalMs} (one poll interval)`,
      ks.seenPollStartedAfterMs !== null && ks.seenPollStartedAfterMs <= ks.pollIntervalMs,
    ),
    fig(P, 'kill switch persisted / rollout phase after', `${ks.persisted ? 'yes' : 'no'} / ${ks.rolloutPhaseAfter}`, 'yes / halted', ks.persisted && ks.rolloutPhaseAfter === 'halted'),
    fig(P, 'exit after SIGTERM at the end', w.exit, '0', w.exit === '0'),
  ];
}

export function renderTable(figures: readonly Figure[]): string {
  const lines = ['| part | figure | value | target | ok |', '|---|---|---|---|---|'];
  for (const f of figures) lines.push(`| ${f.part} | ${f.figure} | ${f.value.replace(/\|/g, '/')} | ${f.target} | ${f.ok === null ? '' : f.ok ? 'yes' : '**NO**'} |`);
  return lines.join('\n');
}

export async function runSoak(cfg: SoakConfig, say: (line: string) => void): Promise<SoakReport> {
  const t0 = Date.now();
  const report: SoakReport = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    tree: treeState(),
    config: { ...cfg, parts: [...cfg.parts] },
    figures: [],
    ok: false,
    errors: [],
    durationS: 0,
  };
  const part = async <T>(name: Part, runPart: () => Promise<T>, figures: (r: T) => Figure[], set: (r: T) => void): Promise<void> => {
    if (!cfg.parts.has(name)) return;
    say(`soak: part ${name}: starting`);
    try {
      const r = await runPart();
      set(r);
      report.figures.push(...figures(r));
    } catch (err) {
      const msg = `part ${name} failed: ${err instanceof Error ? err.message : String(err)}`;
      report.errors.push(msg);
      report.figures.push(fig(name, 'completed', 'no', 'yes', false));
      say(`soak: ${msg}`);
    }
  };
  await part('kill', () => runKillSoak(cfg, say), (r) => killFigures(r, cfg), (r) => (report.kill = r));
  await part('fuzz', () => runFuzzSoak(cfg, say), (r) => fuzzFigures(r, cfg), (r) => (report.fuzz = r));
  await part('wrk', () => runWrkSoak(cfg, say), (r) => wrkFigures(r, cfg), (r) => (report.wrk = r));
  report.ok = report.errors.length === 0 && report.figures.every((f) => f.ok !== false);
  report.durationS = Math.round((Date.now() - t0) / 1000);
  return report;
}

function treeState(): { commit: string; changedFiles: number } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const changed = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter((l) => l.trim() !== '').length;
    return { commit, changedFiles: changed };
  } catch {
    return { commit: 'unknown', changedFiles: -1 };
  }
}

async function main(): Promise<number> {
  let cfg: SoakConfig;
  try {
    cfg = readConfig(process.env, path.join(ROOT, 'bench/results/soak.json'));
  } catch (err) {
    if (err instanceof SoakConfigError) {
      process.stderr.write(`soak: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  keepTempDirs(cfg.keep);
  const hardStop = setTimeout(() => {
    process.stderr.write(`soak: stopped after SOAK_TIMEOUT_S=${cfg.timeoutS} s\n`);
    cleanupAll();
    process.exit(1);
  }, cfg.timeoutS * 1000);
  hardStop.unref();
  const say = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  say(`soak: running a copy of bin/ and dist/ in ${appRoot()}`);
  say(`soak: seed ${cfg.seed}, ${cfg.kills} kills, ${cfg.inputs} inputs, wrk ${cfg.wrkSeconds} s; parts ${[...cfg.parts].join(', ')}`);
  const report = await runSoak(cfg, say);
  const kept = cleanupAll();
  clearTimeout(hardStop);
  const cpu = `${report.cpus} cores, load average ${report.loadAverageAtStart.join(' ')} at start`;
  const tree = `tree ${report.tree.commit}${report.tree.changedFiles > 0 ? ` + ${report.tree.changedFiles} changed files` : ''}`;
  process.stdout.write(`make soak: seed ${cfg.seed}, ${Math.round(report.durationS / 6) / 10} min, ${tree}, ${report.node}, ${cpu}\n\n${renderTable(report.figures)}\n\n`);
  for (const e of report.errors) process.stdout.write(`error: ${e}\n`);
  const details = [...(report.kill?.violations ?? []), ...(report.kill?.auditVerify.failures ?? []), ...(report.fuzz?.failures ?? []), ...(report.fuzz?.stateDiff ?? []).map((d) => `state: ${d}`), ...(report.fuzz?.idleDrift ?? []).map((d) => `idle drift: ${d}`)];
  for (const d of details.slice(0, 30)) process.stdout.write(`detail: ${d}\n`);
  fs.mkdirSync(path.dirname(cfg.out), { recursive: true });
  fs.writeFileSync(cfg.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${report.ok ? 'soak: every target met' : 'soak: TARGETS MISSED (see the table)'}; wrote ${path.relative(process.cwd(), cfg.out)}\n`);
  if (kept.length > 0) process.stdout.write(`soak: kept ${kept.join(', ')}\n`);
  return report.ok ? 0 : 1;
}

if (require.main === module) {
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`soak: ${signal}: cleaning up\n`);
    cleanupAll();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => cleanupAll());
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      cleanupAll();
      process.exitCode = 1;
    },
  );
}
