/**
 * make bench, engine section: what one reconcile tick costs, and what the ticks cost the manifest path.
 *
 * 1. In process (bench/engine/ticks.ts): a real Controller (SQLite file in a temp dir, policy file, Telemetry) on
 *    a VirtualClock; N bake-only rollouts on N channels applied through applyRollout; then up to 200 ticks, 1 s
 *    of virtual time apart, each timed around `await reconcileAll()`, while every rollout progresses (about 1/30
 *    change ring per tick). N = 0 (baseline), 1,000 and 10,000.
 * 2. Terminal cost: the 10,000 are run to `succeeded`; ticks with them + 0 and + 10 active rollouts, against a
 *    fresh store with the same 10 (the ratio is the cost of the terminal ones).
 * 3. Manifest latency (bench/engine/serve.ts): `ringmaster serve --tick 1s` in its own process over a data dir
 *    holding 10,000 active rollouts (24 h bakes, so they stay active), polled by wrk (its own process) and by an
 *    open-loop poller (its own process); baseline: the same with only the polled channel's rollout.
 *
 * 4. SQLite transitions/s (every transition is a row the tick commits), RSS (the bench process after each size, with
 *    a full GC, and the serve process's peak with 10,000 active rollouts), per 1,000 rollouts, against what Argo
 *    Rollouts users reported in argoproj/argo-rollouts#2855 (ARGO_2855 below: quoted, not measured here).
 *
 * These machines are noisy (2 cores shared), so ratios to the baseline of the same run count, not absolute times.
 * BENCH_QUICK=1: 1,000 rollouts and shorter runs. Budgets (BENCH_APPLY_BUDGET_S, BENCH_TICK_BUDGET_S;
 * 0 = none) bound the run; a phase they cut short says so in the table and the JSON. BENCH_OUT names the JSON file.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { procStatusMB } from './sim/proc';
import { idleRollout, progressingRollout, PROGRESSING_MIN_LIFETIME_S, tempDir, writePolicies } from './engine/fixtures';
import { measureServe, type ServeRun } from './engine/serve';
import { ratio, summarize, type Summary } from './engine/stats';
import { applyAll, openController, phaseCounts, runToCompletion, sampleTicks, type ApplyStats, type CompletionStats, type TickStats } from './engine/ticks';

const QUICK = process.env.BENCH_QUICK === '1';
const num = (name: string, dflt: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${v}: expected a number of seconds >= 0`);
  return n;
};
const CONFIG = {
  quick: QUICK,
  sizes: QUICK ? [0, 1000] : [0, 1000, 10_000],
  maxTicks: QUICK ? 40 : 200,
  tickStepMs: 1000,
  tickBudgetS: num('BENCH_TICK_BUDGET_S', QUICK ? 20 : 60),
  applyBudgetS: num('BENCH_APPLY_BUDGET_S', QUICK ? 60 : 150),
  terminalFewActive: 10,
  terminalTicks: QUICK ? 20 : 100,
  terminalTickBudgetS: QUICK ? 10 : 30,
  completionBudgetS: num('BENCH_COMPLETION_BUDGET_S', QUICK ? 45 : 150),
  serveRollouts: QUICK ? 1000 : 10_000,
  serveDurationS: QUICK ? 5 : 15,
  probeRatePerS: 200,
  serveStartupBudgetS: 300,
};
/**
 * What Argo Rollouts users reported at this scale (not measured here: quoted from the issue, read 2026-12-02).
 * argoproj/argo-rollouts#2855 (v1.5.1, opened 2023-06-21): "Memory consumption is about 11-14Gb with limit of 32Gb,
 * cpu usage 2-3 cpu"; "The total amount of rollouts is about 11000-13000"; reconciliation "becomes very slow" after
 * about 48 h, and a controller restart restores it. #3112 (2023-10-17): at about 10,000 rollouts (one pod each), the
 * controller pod, requesting 16Gi, flapped (5 restarts) and could not handle the requests.
 */
export const ARGO_2855 = {
  url: 'https://github.com/argoproj/argo-rollouts/issues/2855',
  version: 'v1.5.1',
  rollouts: [11_000, 13_000],
  memoryGB: [11, 14],
  memoryLimitGB: 32,
  cpu: [2, 3],
  degradesAfterHours: 48,
  quote: 'Memory consumption is about 11-14Gb with limit of 32Gb, cpu usage 2-3 cpu. ... The total amount of rollouts is about 11000-13000.',
  related: { url: 'https://github.com/argoproj/argo-rollouts/issues/3112', rollouts: 10_000, memoryRequestGi: 16, note: 'controller pod flapped (5 restarts) at ~10k rollouts' },
  /** MB per 1,000 rollouts implied by the report: 11 GB / 13k .. 14 GB / 11k. */
  mbPer1000: [Math.round((11 * 1024) / 13), Math.round((14 * 1024) / 11)],
} as const;

/** Target thresholds of issue 9, item 11. */
const TARGETS = { tickP99Ms: 100, tickTargetActive: 1000, manifestP99Ms: 20, manifestTargetActive: 10_000, terminalRatioMax: 1.5 };

const log = (line: string): void => void process.stderr.write(`engine-bench: ${line}\n`);
const repo = path.resolve(__dirname, '../..');

interface Memory {
  /** Resident set of the bench process (VmRSS), after a full GC, MB. */
  rssMB: number | null;
  heapUsedMB: number;
}

interface SizeRun {
  active: number;
  apply: ApplyStats | null;
  ticks: TickStats;
  phasesAfter: Record<string, number>;
  /** With the store open and the rollouts ticked (before close). */
  memory: Memory;
}

/** A full GC where the flag can be set at run time, so that RSS and heap figures are of live data. */
const fullGc: (() => void) | null = (() => {
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
})();

function memoryNow(): Memory {
  fullGc?.();
  const m = process.memoryUsage();
  const rss = procStatusMB('self', 'VmRSS');
  return { rssMB: rss === null ? null : round3(rss), heapUsedMB: round3(m.heapUsed / 2 ** 20) };
}

async function inProcess(): Promise<{ sizes: SizeRun[]; terminal: Record<string, unknown> }> {
  const sizes: SizeRun[] = [];
  let terminal: Record<string, unknown> = {};
  const largest = Math.max(...CONFIG.sizes);
  if (CONFIG.maxTicks * (CONFIG.tickStepMs / 1000) >= PROGRESSING_MIN_LIFETIME_S) throw new Error('ticks would outlive the shortest rollout');
  for (const n of CONFIG.sizes) {
    log(`in process: ${n} active rollouts`);
    const b = await openController(`n${n}`);
    try {
      const apply = n > 0 ? await applyAll(b, n, (i) => progressingRollout('r', i), CONFIG.applyBudgetS, log) : null;
      if (apply) log(`  applied ${apply.applied} in ${apply.seconds} s (${apply.perSecond}/s; last tenth ${apply.lastTenthMsPerApply} ms each)${apply.incomplete ? `: ${apply.incomplete}` : ''}`);
      const ticks = await sampleTicks(b, { maxTicks: CONFIG.maxTicks, stepMs: CONFIG.tickStepMs, budgetS: CONFIG.tickBudgetS });
      log(`  ${ticks.tick.n} ticks: p50 ${ticks.tick.p50} ms, p99 ${ticks.tick.p99} ms, ${ticks.transitionsPerTick} transitions per tick${ticks.cutShort ? ` (${ticks.cutShort})` : ''}`);
      const phases = phaseCounts(b);
      const memory = memoryNow();
      log(`  memory: rss ${memory.rssMB} MB, heap used ${memory.heapUsedMB} MB; ${ticks.transitionsPerSecond} transitions/s of tick time`);
      sizes.push({ active: apply?.applied ?? 0, apply, ticks, phasesAfter: phases.byPhase, memory });
      if (n === largest && n > 0) terminal = await terminalCost(b);
    } finally {
      await b.close();
    }
  }
  log(`in process: a fresh store with the same ${CONFIG.terminalFewActive} active`);
  const fresh = await openController('fresh');
  try {
    await applyAll(fresh, CONFIG.terminalFewActive, (i) => idleRollout('few', i), 0, log);
    terminal.freshPlusFew = await sampleTicks(fresh, { maxTicks: CONFIG.terminalTicks, stepMs: CONFIG.tickStepMs, budgetS: CONFIG.terminalTickBudgetS });
  } finally {
    await fresh.close();
  }
  return { sizes, terminal };
}

/** On the store of the largest run: all of them to succeeded, then ticks with + 0 and + few active rollouts. */
async function terminalCost(b: Awaited<ReturnType<typeof openController>>): Promise<Record<string, unknown>> {
  log('terminal cost: running every rollout to succeeded');
  const t0 = Date.now();
  const completion = await runToCompletion(b, 60_000, 400, CONFIG.completionBudgetS);
  const completionTicks = completion.ticks;
  const phases = phaseCounts(b);
  log(`  ${phases.terminal} terminal after ${completionTicks} ticks (${((Date.now() - t0) / 1000).toFixed(1)} s): ${completion.transitions} transitions, ${completion.transitionsPerSecond}/s${completion.cutShort ? ` (${completion.cutShort}: terminal cost not measured)` : ''}`);
  if (completion.cutShort) return { terminalRollouts: phases.terminal, completionTicks, completion };
  const terminalOnly = await sampleTicks(b, { maxTicks: CONFIG.terminalTicks, stepMs: CONFIG.tickStepMs, budgetS: CONFIG.terminalTickBudgetS });
  await applyAll(b, CONFIG.terminalFewActive, (i) => idleRollout('few', i), 0, log);
  const terminalPlusFew = await sampleTicks(b, { maxTicks: CONFIG.terminalTicks, stepMs: CONFIG.tickStepMs, budgetS: CONFIG.terminalTickBudgetS });
  log(`  ticks: ${phases.terminal} terminal + 0 active p50 ${terminalOnly.tick.p50} ms; + ${CONFIG.terminalFewActive} active p50 ${terminalPlusFew.tick.p50} ms`);
  return { terminalRollouts: phases.terminal, completionTicks, completion, terminalOnly, terminalPlusFew };
}

/** A data dir with n active (idle) rollouts, applied through a Controller that is then stopped. */
async function populate(root: string, policiesDir: string, n: number): Promise<{ dataDir: string; apply: ApplyStats }> {
  const dataDir = path.join(root, `data-${n}`);
  fs.mkdirSync(dataDir, { mode: 0o700 });
  const b = await openController(`populate${n}`, { dataDir, policiesDir, start: Date.now() });
  try {
    const apply = await applyAll(b, n, (i) => idleRollout('serve', i), CONFIG.applyBudgetS, log);
    log(`  populated ${apply.applied} in ${apply.seconds} s${apply.incomplete ? `: ${apply.incomplete}` : ''}`);
    return { dataDir, apply };
  } finally {
    await b.close();
  }
}

async function serveRuns(): Promise<{ baseline: ServeRun; loaded: ServeRun; populate: ApplyStats }> {
  const root = tempDir('serve');
  try {
    const policiesDir = writePolicies(root);
    const common = {
      bin: path.join(repo, 'bin/ringmaster.js'),
      policiesDir,
      channel: 'serve-ch-0',
      durationS: CONFIG.serveDurationS,
      probeRatePerS: CONFIG.probeRatePerS,
      probeScript: path.join(__dirname, 'engine/probe.js'),
      startupBudgetS: CONFIG.serveStartupBudgetS,
    };
    log('serve: baseline, only the polled channel has a rollout');
    const one = await populate(root, policiesDir, 1);
    const baseline = await measureServe({ ...common, dataDir: one.dataDir, activeRollouts: 1, logFile: path.join(root, 'serve-1.log') });
    log(`  wrk p99 ${baseline.wrk.p99ms} ms, open loop p99 ${baseline.openLoop.latencyMs.p99} ms`);
    log(`serve: ${CONFIG.serveRollouts} active rollouts`);
    const many = await populate(root, policiesDir, CONFIG.serveRollouts);
    const loaded = await measureServe({ ...common, dataDir: many.dataDir, activeRollouts: many.apply.applied, logFile: path.join(root, 'serve-n.log') });
    log(`  wrk p99 ${loaded.wrk.p99ms} ms, open loop p99 ${loaded.openLoop.latencyMs.p99} ms, ${loaded.ticks.count} server ticks, mean ${loaded.ticks.meanMs} ms`);
    return { baseline, loaded, populate: many.apply };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function gitInfo(): { commit: string; uncommittedFiles: number | null } {
  const git = (args: string[]): string => execFileSync('git', args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  if (process.env.BENCH_COMMIT) return { commit: process.env.BENCH_COMMIT, uncommittedFiles: 0 };
  try {
    return { commit: git(['rev-parse', 'HEAD']), uncommittedFiles: git(['status', '--porcelain', '--', 'controller', 'bin']).split('\n').filter(Boolean).length };
  } catch {
    return { commit: 'unknown', uncommittedFiles: null };
  }
}

function machine(): Record<string, unknown> {
  const fsTypes: Record<number, string> = { 0xef53: 'ext4', 0x01021994: 'tmpfs', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x794c7630: 'overlayfs' };
  let tmpFs = 'unknown';
  try {
    const t = fs.statfsSync(os.tmpdir()).type;
    tmpFs = fsTypes[t] ?? `0x${t.toString(16)}`;
  } catch {
    /* statfs is not available everywhere */
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    tmpdir: os.tmpdir(),
    tmpdirFs: tmpFs,
    tmpdirFsyncMs: fsyncCost(),
  };
}

/** What one fsync of a 4 KiB write costs where the stores live (each SQLite commit pays at least one), ms. */
function fsyncCost(): Summary {
  const dir = tempDir('fsync');
  const fd = fs.openSync(path.join(dir, 'probe'), 'w');
  const samples: number[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      fs.writeSync(fd, Buffer.alloc(4096, i), 0, 4096, 0);
      const t = process.hrtime.bigint();
      fs.fsyncSync(fd);
      samples.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return summarize(samples);
}

type Verdict = { target: string; measured: string; pass: boolean | null; note?: string };

function verdicts(sizes: SizeRun[], terminal: Record<string, unknown>, serve: { baseline: ServeRun; loaded: ServeRun }): Verdict[] {
  const out: Verdict[] = [];
  const tp = terminal.terminalPlusFew as TickStats | undefined;
  const fp = terminal.freshPlusFew as TickStats | undefined;
  const n = (terminal.terminalRollouts as number | undefined) ?? 0;
  if (tp && fp) {
    const r = ratio(tp.tick.p50, fp.tick.p50);
    out.push({
      target: `terminal rollouts cost nothing per tick (p50 tick with ${n} terminal + ${CONFIG.terminalFewActive} active <= ${TARGETS.terminalRatioMax}x a fresh store with the same ${CONFIG.terminalFewActive})`,
      measured: `${tp.tick.p50} ms vs ${fp.tick.p50} ms = ${r}x (${round3(((tp.tick.p50 - fp.tick.p50) * 1000) / Math.max(1, n))} us per terminal rollout per tick)`,
      pass: r <= TARGETS.terminalRatioMax,
    });
  }
  const k = sizes.find((s) => s.active === TARGETS.tickTargetActive);
  out.push(
    k
      ? { target: `p99 tick < ${TARGETS.tickP99Ms} ms with ${TARGETS.tickTargetActive} active`, measured: `${k.ticks.tick.p99} ms over ${k.ticks.tick.n} ticks`, pass: k.ticks.tick.p99 < TARGETS.tickP99Ms }
      : { target: `p99 tick < ${TARGETS.tickP99Ms} ms with ${TARGETS.tickTargetActive} active`, measured: `not measured (${sizes.map((s) => s.active).join(', ')} active measured)`, pass: false },
  );
  const l = serve.loaded;
  const full = l.activeRollouts === TARGETS.manifestTargetActive;
  const errors = l.wrk.non2xx3xx + l.wrk.socketErrors.connect + l.wrk.socketErrors.read + l.wrk.socketErrors.write + l.wrk.socketErrors.timeout + l.openLoop.failed;
  const worst = Math.max(l.wrk.p99ms, l.openLoop.latencyMs.p99);
  out.push({
    target: `manifest p99 < ${TARGETS.manifestP99Ms} ms with ${TARGETS.manifestTargetActive} active (wrk and open loop, no errors)`,
    measured: `${l.activeRollouts} active: wrk p99 ${l.wrk.p99ms} ms, open-loop p99 ${l.openLoop.latencyMs.p99} ms, ${errors} errors`,
    pass: full ? worst < TARGETS.manifestP99Ms && errors === 0 : null,
    ...(full ? {} : { note: `not at ${TARGETS.manifestTargetActive} active rollouts: not evaluated` }),
  });
  return out;
}

/** Rows for SQLite throughput, RSS and the comparison with Argo Rollouts' reported figures; the figures for the JSON. */
function memoryRows(sizes: SizeRun[], terminal: Record<string, unknown>, serve: { baseline: ServeRun; loaded: ServeRun }, fsyncP50Ms: number): { lines: string[]; figures: Record<string, unknown> } {
  const lines: string[] = [];
  const dash = '| - | - | - | - | - | - |';
  const c = terminal.completion as CompletionStats | undefined;
  const n = (terminal.terminalRollouts as number | undefined) ?? 0;
  if (c) {
    const bound = fsyncP50Ms > 0 ? `; fsync p50 ${fsyncP50Ms} ms here, so one commit per transition could reach at most ~${Math.round(1000 / fsyncP50Ms)}/s` : '';
    lines.push(`| SQLite transitions/s, bulk (every rollout moves one ring per tick) | ${n} | ${c.transitions} ${dash} ${c.transitionsPerSecond}/s over ${c.ticks} ticks (${c.seconds} s of tick time)${bound}${c.cutShort ? ` (${c.cutShort})` : ''} |`);
  }
  const base = sizes.find((x) => x.active === 0)?.memory;
  const perK = (mb: number | null, baseMb: number | null | undefined, rollouts: number): number | null => (mb === null || baseMb === null || baseMb === undefined || rollouts <= 0 ? null : round3(((mb - baseMb) * 1000) / rollouts));
  const sizeFigures = sizes.map((x) => ({ active: x.active, rssMB: x.memory.rssMB, heapUsedMB: x.memory.heapUsedMB, rssMBPer1000: perK(x.memory.rssMB, base?.rssMB, x.active), heapMBPer1000: perK(x.memory.heapUsedMB, base?.heapUsedMB, x.active) }));
  for (const f of sizeFigures) {
    const per = f.active > 0 ? `; +${fmt(f.rssMBPer1000 ?? undefined)} MB RSS (+${fmt(f.heapMBPer1000 ?? undefined)} MB heap) per 1,000 rollouts over the empty store` : ' (the baseline)';
    lines.push(`| RSS, bench process after a full GC | ${f.active} active ${dash} ${fmt(f.rssMB ?? undefined)} MB RSS, ${f.heapUsedMB} MB heap${per} |`);
  }
  const sb = serve.baseline.serverMemory;
  const sl = serve.loaded.serverMemory;
  const servePerK = perK(sl.peakRssMB, sb.peakRssMB, serve.loaded.activeRollouts - serve.baseline.activeRollouts);
  lines.push(`| RSS, ringmaster serve (its own process) | ${serve.baseline.activeRollouts} active ${dash} peak ${fmt(sb.peakRssMB ?? undefined)} MB (${fmt(sb.readyRssMB ?? undefined)} MB once ready) |`);
  lines.push(`| RSS, ringmaster serve (its own process) | ${serve.loaded.activeRollouts} active ${dash} peak ${fmt(sl.peakRssMB ?? undefined)} MB (${fmt(sl.readyRssMB ?? undefined)} MB once ready); +${fmt(servePerK ?? undefined)} MB per 1,000 rollouts |`);
  const a = ARGO_2855;
  const argoMB = `${a.memoryGB[0]}-${a.memoryGB[1]} GB`;
  const vsArgo = sl.peakRssMB === null ? '-' : `${round3((a.memoryGB[0] * 1024) / sl.peakRssMB)}-${round3((a.memoryGB[1] * 1024) / sl.peakRssMB)}x less memory than the reported figure, at ${round3(serve.loaded.activeRollouts / a.rollouts[1])}-${round3(serve.loaded.activeRollouts / a.rollouts[0])}x its rollout count`;
  lines.push(
    `| Argo Rollouts ${a.version}, reported in #2855 (not measured here) | ${a.rollouts[0]}-${a.rollouts[1]} ${dash} ${argoMB} (limit ${a.memoryLimitGB} GB), ${a.cpu[0]}-${a.cpu[1]} CPUs, about ${a.mbPer1000[0]}-${a.mbPer1000[1]} MB per 1,000 rollouts; reconciliation "becomes very slow" after ~${a.degradesAfterHours} h until a restart (${a.url}); #3112: flapping at ~10k with a 16Gi request. Ringmaster serve with ${serve.loaded.activeRollouts} active: ${vsArgo}. Not like for like: Argo's controller also caches the cluster's ReplicaSets, Pods and AnalysisRuns, and this run lasts minutes, so it cannot show a 48 h degradation |`,
  );
  return {
    lines,
    figures: {
      sqliteTransitionsPerSecond: { bulk: c ? { rollouts: n, ...c } : null, progressing: sizes.filter((x) => x.active > 0).map((x) => ({ active: x.active, transitionsPerSecond: x.ticks.transitionsPerSecond, transitions: x.ticks.transitions, tickSeconds: x.ticks.tickSeconds })) },
      rss: {
        benchProcess: sizeFigures,
        benchProcessPeakMB: procStatusMB('self', 'VmHWM'),
        serve: { baseline: { active: serve.baseline.activeRollouts, ...sb }, loaded: { active: serve.loaded.activeRollouts, ...sl }, peakMBPer1000: servePerK },
      },
      vsArgoRollouts2855: {
        source: a.url,
        reported: { rollouts: a.rollouts, memoryGB: a.memoryGB, mbPer1000: a.mbPer1000, degradesAfterHours: a.degradesAfterHours },
        ringmaster: { rollouts: serve.loaded.activeRollouts, servePeakRssMB: sl.peakRssMB, mbPer1000: servePerK },
        memoryRatio: sl.peakRssMB === null ? null : [round3((a.memoryGB[0] * 1024) / sl.peakRssMB), round3((a.memoryGB[1] * 1024) / sl.peakRssMB)],
        caveat: "quoted, not measured here; Argo's figure is a long-running Kubernetes controller that also caches ReplicaSets, Pods and AnalysisRuns; this bench runs for minutes and cannot show the reported 48 h degradation",
      },
    },
  };
}

/** (mean tick - baseline mean tick) / rollouts, in us. */
function perRollout(meanMs: number, baseMeanMs: number | undefined, rollouts: number): number {
  return round3(((meanMs - (baseMeanMs ?? 0)) * 1000) / Math.max(1, rollouts));
}

function round3(x: number): number {
  return Number(x.toPrecision(3));
}

function fmt(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return '-';
  if (x === Infinity) return 'inf';
  return String(x);
}

function tickRow(what: string, rollouts: string, t: TickStats, base: Summary | undefined, note = ''): string {
  const s = t.tick;
  const vs = base ? `${ratio(s.p50, base.p50)}x` : '-';
  return `| ${what} | ${rollouts} | ${s.n} | ${fmt(s.p50)} | ${fmt(s.p95)} | ${fmt(s.p99)} | ${fmt(s.max)} | ${fmt(s.mean)} | ${vs} | ${note}${t.cutShort ? ` (${t.cutShort})` : ''} |`;
}

function serveRow(what: string, r: ServeRun, base: ServeRun | undefined): string[] {
  const w = r.wrk;
  const o = r.openLoop.latencyMs;
  const errs = w.non2xx3xx + w.socketErrors.connect + w.socketErrors.read + w.socketErrors.write + w.socketErrors.timeout;
  const ticks = `server ticks: ${r.ticks.count}, mean ${fmt(r.ticks.meanMs)} ms, p99 <= ${fmt(r.ticks.p99AtMostS)} s; load average ${r.loadavg1}`;
  return [
    `| manifest, wrk -c50 (${w.reqPerSec} req/s, ${errs} errors) | ${what} | ${w.requests} | ${w.p50ms} | - | ${w.p99ms} | ${w.maxMs} | ${w.meanMs} | ${base ? `${ratio(w.p99ms, base.wrk.p99ms)}x p99` : '-'} | ${ticks} |`,
    `| manifest, open loop ${r.openLoop.ratePerS}/s (${r.openLoop.failed} failed) | ${what} | ${r.openLoop.ok} | ${o.p50} | ${o.p95} | ${o.p99} | ${o.max} | ${o.mean} | ${base ? `${ratio(o.p99, base.openLoop.latencyMs.p99)}x p99` : '-'} | |`,
  ];
}

async function main(): Promise<void> {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed (Debian: apt-get install -y wrk); the manifest latency is measured with it');
  const started = Date.now();
  const loadStart = os.loadavg();
  const host = machine();
  log(`fsync in ${host.tmpdir} (${host.tmpdirFs}): p50 ${(host.tmpdirFsyncMs as Summary).p50} ms; load average ${loadStart.map(round3).join(' ')}`);
  const { sizes, terminal } = await inProcess();
  const serve = await serveRuns();
  const base = sizes.find((s) => s.active === 0)?.ticks.tick;
  const lines: string[] = [];
  lines.push(`engine tick cost (${QUICK ? 'BENCH_QUICK' : 'full'}): in-process ticks 1 s of virtual time apart, bake-only rollouts, ~1/30 change ring per tick; ms`);
  const loadEnd = os.loadavg();
  lines.push(
    `machine: ${host.cpus} cpus, load average ${round3(loadStart[0] as number)} at start, ${round3(loadEnd[0] as number)} at end; stores in ${host.tmpdir} (${host.tmpdirFs}, fsync p50 ${(host.tmpdirFsyncMs as Summary).p50} ms)`,
  );
  lines.push('| measurement | rollouts | samples | p50 | p95 | p99 | max | mean | vs baseline | notes |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const s of sizes) {
    const note = s.apply
      ? `${perRollout(s.ticks.tick.mean, base?.mean, s.active)} us per active rollout (mean); ${s.ticks.transitionsPerTick} transitions/tick (${s.ticks.transitionsPerSecond} SQLite transitions/s of tick time); longest loop block ${fmt(s.ticks.longestLoopBlockMs ?? undefined)} ms; applied in ${s.apply.seconds} s (${s.apply.perSecond}/s)${s.apply.incomplete ? `: ${s.apply.incomplete}` : ''}`
      : 'empty store (the baseline)';
    lines.push(tickRow('tick, progressing', `${s.active} active`, s.ticks, undefined, note));
  }
  const tn = (terminal.terminalRollouts as number | undefined) ?? 0;
  const fp = terminal.freshPlusFew as TickStats | undefined;
  const to = terminal.terminalOnly as TickStats | undefined;
  if (to) lines.push(tickRow('tick, terminal', `${tn} succeeded + 0 active`, to, undefined, `${perRollout(to.tick.mean, base?.mean, tn)} us per terminal rollout (mean, over the empty store)`));
  if (terminal.terminalPlusFew) lines.push(tickRow('tick, terminal', `${tn} succeeded + ${CONFIG.terminalFewActive} active`, terminal.terminalPlusFew as TickStats, fp?.tick, 'vs the fresh store below'));
  if (fp) lines.push(tickRow('tick, fresh store', `${CONFIG.terminalFewActive} active`, fp, undefined, 'same 10 rollouts (24 h bakes)'));
  lines.push(...serveRow('1 active (baseline)', serve.baseline, undefined));
  lines.push(...serveRow(`${serve.loaded.activeRollouts} active`, serve.loaded, serve.baseline));
  const memory = memoryRows(sizes, terminal, serve, (host.tmpdirFsyncMs as Summary).p50);
  lines.push(...memory.lines);
  const targets = verdicts(sizes, terminal, serve);
  for (const line of lines) console.log(line);
  for (const t of targets) console.log(`${t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'FAIL'}  ${t.target}: ${t.measured}${t.note ? ` (${t.note})` : ''}`);

  const outDir = path.join(repo, 'bench/results');
  fs.mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, process.env.BENCH_OUT ?? 'engine.json');
  const result = {
    at: new Date().toISOString(),
    git: gitInfo(),
    machine: { ...host, loadavgStart: loadStart.map(round3), loadavgEnd: loadEnd.map(round3) },
    config: CONFIG,
    targets: TARGETS,
    wallSeconds: Math.round((Date.now() - started) / 1000),
    inProcess: { sizes, terminal },
    serve,
    verdicts: targets,
    scale: memory.figures,
    argoRollouts: ARGO_2855,
    table: lines,
  };
  fs.writeFileSync(out, JSON.stringify(result, (_k, v: unknown) => (v === Infinity ? 'inf' : v), 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), out)} (${result.wallSeconds} s)`);
}

main().catch((err: unknown) => {
  console.error(`engine-bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
