/**
 * In-process half of the engine benchmark: a real Controller (real SQLite file in a temp dir, real policy file,
 * real Telemetry observer) on a VirtualClock. Rollouts go in through `applyRollout`; each tick is one
 * `reconcileAll()`, timed with hrtime around the awaited call. The clock is advanced by the bench before each
 * tick, so bakes end and rings start as they would in real time, but nothing waits for the wall clock.
 */
import * as fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Controller } from '../../controller/runtime/controller';
import { VirtualClock } from '../../controller/runtime/clock';
import { TERMINAL_PHASES } from '../../controller/engine/state';
import type { Rollout } from '../../controller/spec/types';
import { Telemetry } from '../../controller/telemetry/metrics';
import { tempDir, writePolicies } from './fixtures';
import { round, summarize, type Summary } from './stats';

/** Every virtual run starts here (a Monday; the policy is always open anyway). */
export const VIRTUAL_START = Date.parse('2027-03-01T00:00:00Z');

/** The real telemetry, also keeping what the runtime itself reports: its tick durations and transitions. */
class RecordingTelemetry extends Telemetry {
  readonly reconcileMs: number[] = [];
  transitionCount = 0;

  constructor() {
    super({ defaultMetrics: false });
  }

  override reconcileDuration(seconds: number): void {
    this.reconcileMs.push(seconds * 1000);
    super.reconcileDuration(seconds);
  }

  override transition(toPhase: string): void {
    this.transitionCount++;
    super.transition(toPhase);
  }
}

export interface BenchController {
  controller: Controller;
  clock: VirtualClock;
  telemetry: RecordingTelemetry;
  dataDir: string;
  policiesDir: string;
  close(): Promise<void>;
}

/** Opens a Controller on a fresh data dir (or `dataDir`, kept on close when given). */
export async function openController(label: string, opts: { dataDir?: string; policiesDir?: string; start?: number } = {}): Promise<BenchController> {
  const root = tempDir(label);
  const dataDir = opts.dataDir ?? root;
  const policiesDir = opts.policiesDir ?? writePolicies(root);
  const clock = new VirtualClock(opts.start ?? VIRTUAL_START);
  const telemetry = new RecordingTelemetry();
  const controller = await Controller.open({ dataDir, policiesDir, trustedKeys: [], clock, observer: telemetry });
  return {
    controller,
    clock,
    telemetry,
    dataDir,
    policiesDir,
    async close() {
      await controller.stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface ApplyStats {
  requested: number;
  applied: number;
  seconds: number;
  perSecond: number;
  /** Mean ms per apply over the last 10% of applies (apply cost can grow with what is already stored). */
  lastTenthMsPerApply: number;
  /** Set when the budget ran out before every rollout was applied. */
  incomplete?: string;
}

/** Applies rollouts build(0..n-1) one after the other, as the API would; stops when budgetS (> 0) is spent. */
export async function applyAll(
  b: BenchController,
  n: number,
  build: (i: number) => Rollout,
  budgetS: number,
  progress: (line: string) => void,
): Promise<ApplyStats> {
  const t0 = process.hrtime.bigint();
  const elapsedS = (): number => Number(process.hrtime.bigint() - t0) / 1e9;
  const tenth = Math.max(1, Math.floor(n / 10));
  let tenthStart = 0;
  let applied = 0;
  for (let i = 0; i < n; i++) {
    const rollout = build(i);
    const res = await b.controller.applyRollout(rollout, 'bench');
    if (res.status !== 'created') {
      const { rollout: _view, ...why } = res as typeof res & { rollout?: unknown };
      throw new Error(`apply ${rollout.metadata.name}: ${res.status} ${JSON.stringify(why)}`);
    }
    applied++;
    if (i === n - tenth) tenthStart = elapsedS();
    if (applied % Math.max(1, Math.floor(n / 4)) === 0 && applied < n) progress(`  applied ${applied}/${n} in ${elapsedS().toFixed(1)} s`);
    if (budgetS > 0 && elapsedS() > budgetS && applied < n) {
      const s = elapsedS();
      return { requested: n, applied, seconds: round(s), perSecond: round(applied / s), lastTenthMsPerApply: NaN, incomplete: `apply budget of ${budgetS} s spent after ${applied} of ${n} rollouts` };
    }
  }
  const seconds = elapsedS();
  const tenthMs = ((seconds - tenthStart) * 1000) / tenth;
  return { requested: n, applied, seconds: round(seconds), perSecond: round(applied / seconds), lastTenthMsPerApply: round(tenthMs) };
}

export interface TickStats {
  /** reconcileAll() as the bench timed it (hrtime around the awaited call), ms. */
  tick: Summary;
  /** The runtime's own report of the same ticks (RuntimeObserver.reconcileDuration), ms. */
  runtimeReported: Summary;
  /** The longest the event loop was blocked during the sampling (perf_hooks monitorEventLoopDelay), ms. */
  longestLoopBlockMs: number | null;
  transitions: number;
  transitionsPerTick: number;
  /** Transitions committed to SQLite per second of tick time (transitions / the sum of the ticks' durations). */
  transitionsPerSecond: number;
  /** The sum of the ticks' durations, s. */
  tickSeconds: number;
  virtualStepMs: number;
  wallSeconds: number;
  /** Set when the wall-time budget stopped the sampling before maxTicks. */
  cutShort?: string;
}

/** Advances the clock by stepMs and runs one reconcileAll, up to maxTicks times or until budgetS (> 0) is spent. */
export async function sampleTicks(b: BenchController, opts: { maxTicks: number; stepMs: number; budgetS: number }): Promise<TickStats> {
  const durations: number[] = [];
  const reportedBefore = b.telemetry.reconcileMs.length;
  const transitionsBefore = b.telemetry.transitionCount;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const t0 = process.hrtime.bigint();
  const elapsedS = (): number => Number(process.hrtime.bigint() - t0) / 1e9;
  let cutShort: string | undefined;
  for (let k = 0; k < opts.maxTicks; k++) {
    b.clock.advance(opts.stepMs);
    const started = process.hrtime.bigint();
    await b.controller.reconcileAll();
    durations.push(Number(process.hrtime.bigint() - started) / 1e6);
    // Let the loop turn once between ticks, as the server's timer does; the delay monitor samples only then.
    await new Promise((r) => setImmediate(r));
    if (opts.budgetS > 0 && elapsedS() > opts.budgetS && k + 1 < opts.maxTicks) {
      cutShort = `tick budget of ${opts.budgetS} s spent after ${k + 1} of ${opts.maxTicks} ticks`;
      break;
    }
  }
  loop.disable();
  const transitions = b.telemetry.transitionCount - transitionsBefore;
  const stats: TickStats = {
    tick: summarize(durations),
    runtimeReported: summarize(b.telemetry.reconcileMs.slice(reportedBefore)),
    longestLoopBlockMs: loop.count > 0 ? round(loop.max / 1e6) : null,
    transitions,
    transitionsPerTick: round(transitions / Math.max(1, durations.length)),
    transitionsPerSecond: round(transitions / Math.max(1e-9, durations.reduce((a, x) => a + x, 0) / 1000)),
    tickSeconds: round(durations.reduce((a, x) => a + x, 0) / 1000),
    virtualStepMs: opts.stepMs,
    wallSeconds: round(elapsedS()),
  };
  if (cutShort) stats.cutShort = cutShort;
  return stats;
}

/** Rollouts by phase, as the service lists them. */
export function phaseCounts(b: BenchController): { active: number; terminal: number; byPhase: Record<string, number> } {
  const byPhase: Record<string, number> = {};
  let active = 0;
  let terminal = 0;
  for (const v of b.controller.listRollouts()) {
    byPhase[v.phase.kind] = (byPhase[v.phase.kind] ?? 0) + 1;
    if (TERMINAL_PHASES.has(v.phase.kind)) terminal++;
    else active++;
  }
  return { active, terminal, byPhase };
}

export interface CompletionStats {
  ticks: number;
  /** Transitions in those ticks (every active rollout moves one ring per tick: bulk SQLite writes). */
  transitions: number;
  /** The ticks' wall time, s. */
  seconds: number;
  /** transitions / seconds. */
  transitionsPerSecond: number;
  /** Rollouts still active when the budget ran out (absent: every rollout is terminal). */
  cutShort?: string;
}

/**
 * Runs ticks with clock steps longer than any bake until every rollout is terminal (each ring's waves and bake
 * pass in a few such ticks), up to maxTicks.
 */
export async function runToCompletion(b: BenchController, stepMs: number, maxTicks: number, budgetS = 0): Promise<CompletionStats> {
  let k = 0;
  const first = b.telemetry.transitionCount;
  let busy = 0;
  while (k < maxTicks) {
    const before = b.telemetry.transitionCount;
    b.clock.advance(stepMs);
    const started = process.hrtime.bigint();
    await b.controller.reconcileAll();
    busy += Number(process.hrtime.bigint() - started) / 1e9;
    k++;
    // A tick without a transition: done when nothing is active (a ring's ramp may also wait a tick between waves).
    if (b.telemetry.transitionCount === before && phaseCounts(b).active === 0) break;
    if (budgetS > 0 && busy > budgetS) break;
  }
  const left = phaseCounts(b);
  const transitions = b.telemetry.transitionCount - first;
  const stats: CompletionStats = { ticks: k, transitions, seconds: round(busy), transitionsPerSecond: round(transitions / Math.max(1e-9, busy)) };
  if (left.active > 0 && budgetS > 0 && busy > budgetS) stats.cutShort = `completion budget of ${budgetS} s spent after ${k} ticks: ${left.active} rollouts still active`;
  else if (left.active > 0) throw new Error(`${left.active} rollouts still active after ${k} ticks of ${stepMs} ms: ${JSON.stringify(left.byPhase)}`);
  return stats;
}
