/**
 * `ringctl plan ROLLOUT.yaml --policy POLICY.yaml [--start WHEN] [--hosts N] [--ring-hosts NAME=N,...] [--json]
 *   [--power --baseline-rate R]`
 *
 * --power adds the rings' sizing (policy/power-plan.ts, commands/plan-power.ts): per ring and counts metric, the
 * exposure and time to detect detectRatio with 95% power, and the smallest ratio detected within the bake.
 *
 * Shows when each ring of a rollout would start and end under a policy, if every ring passed its health
 * checks at the end of its minimum bake and approvals came in time, and why a ring has to wait. Each ring's
 * waves (its ramp) are listed; with the fleet's size (--hosts) and the selector rings' sizes (--ring-hosts) they
 * are complete and their shortest duration moves the plan.
 *
 * --json prints one line: {"rings":[{"name":"canary","start":"2026-11-30T09:00:00.000-05:00",
 *   "end":"2026-11-30T09:30:00.000-05:00","waitReasons":[{"kind":"outside-window","message":"..."}]}]}
 * Times are ISO 8601 in the policy's zone with its offset; null when a ring cannot start within the search
 * horizon. Each wait reason is an object {kind, message}; kinds: outside-window, freeze,
 * bake-ends-outside-window, no-allowed-start, approval-required, previous-ring-unscheduled.
 *
 * Exit codes: 0 planned; 1 a document is invalid (its errors are printed, one per line), or --prometheus-url could
 * not give a baseline rate; 2 bad usage,
 * e.g. an unreadable --start.
 */
import type { Command } from 'commander';
import { DateTime } from 'luxon';
import { formatSpecError } from '../../spec/errors';
import { loadPolicyFile, loadRolloutFile } from '../../spec/load';
import { planRollout, type PlannedRamp, type PlanSizes, type RolloutPlan } from '../../policy/plan';
import { describePolicyWindows, policyTimeErrors } from '../../policy/windows';
import type { PolicySpec } from '../../spec/types';
import { planPower, type RingPower } from '../../policy/power-plan';
import { baselineRatesFromPrometheus, parseBaselineRates, powerText } from './plan-power';
import { PrometheusProvider } from '../../analysis/prometheus';
import { parseDuration } from '../../spec/duration';
import { renderTable } from '../table';

export interface PlanOptions {
  policy: string;
  start?: string;
  json?: boolean;
  hosts?: string;
  ringHosts?: string;
  power?: boolean;
  baselineRate?: string;
  prometheusUrl?: string;
  baselineWindow?: string;
}

/** --hosts and --ring-hosts (`canary=2000,dogfood=300`), or a one-line usage error. */
export function parseSizes(opts: Pick<PlanOptions, 'hosts' | 'ringHosts'>): { ok: true; sizes: PlanSizes } | { ok: false; message: string } {
  const sizes: { fleetHosts?: number; ringHosts?: Record<string, number> } = {};
  const count = (text: string): number | null => (/^[0-9]{1,9}$/.test(text.trim()) ? Number(text.trim()) : null);
  if (opts.hosts !== undefined) {
    const n = count(opts.hosts);
    if (n === null || n < 1) return { ok: false, message: `invalid --hosts ${JSON.stringify(opts.hosts)}: must be a whole number of hosts, 1 or more` };
    sizes.fleetHosts = n;
  }
  if (opts.ringHosts !== undefined) {
    sizes.ringHosts = {};
    for (const part of opts.ringHosts.split(',')) {
      const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*=\s*([0-9]+)\s*$/.exec(part);
      const n = m ? count(m[2] as string) : null;
      if (!m || n === null) return { ok: false, message: `invalid --ring-hosts ${JSON.stringify(opts.ringHosts)}: write NAME=HOSTS pairs separated by commas, like canary=2000` };
      sizes.ringHosts[m[1] as string] = n;
    }
  }
  return { ok: true, sizes };
}

/** What --start may say, before the policy's zone is known. */
export type StartSpec =
  | { kind: 'now' }
  | { kind: 'iso'; text: string; hasOffset: boolean }
  | { kind: 'weekday'; weekday: number; hour: number; minute: number };

const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const START_HELP = 'use ISO 8601 (2026-11-27T15:00:00-05:00), "now" or "<weekday> HH:MM" (Friday 15:00)';

/** Reads --start: ISO 8601 (with an offset: absolute; without: local to the policy zone), `now`, `Friday 15:00`. */
export function parseStart(text: string): { ok: true; start: StartSpec } | { ok: false; message: string } {
  const trimmed = text.trim();
  if (trimmed.toLowerCase() === 'now') return { ok: true, start: { kind: 'now' } };
  const wd = /^([A-Za-z]+)\s+([01]?[0-9]|2[0-3]):([0-5][0-9])$/.exec(trimmed);
  if (wd) {
    const name = (wd[1] as string).toLowerCase();
    const index = name.length >= 3 ? WEEKDAYS.findIndex((d) => d.startsWith(name)) : -1;
    if (index >= 0) {
      return { ok: true, start: { kind: 'weekday', weekday: index + 1, hour: Number(wd[2]), minute: Number(wd[3]) } };
    }
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed) && DateTime.fromISO(trimmed, { zone: 'UTC' }).isValid) {
    const hasOffset = /(Z|[+-]\d{2}(:?\d{2})?)$/i.test(trimmed) && trimmed.includes('T');
    return { ok: true, start: { kind: 'iso', text: trimmed, hasOffset } };
  }
  return { ok: false, message: `invalid --start ${JSON.stringify(text)}: ${START_HELP}` };
}

/** The instant of a parsed --start in the policy's zone, relative to `now` for `now` and weekdays. */
export function resolveStart(start: StartSpec, timezone: string, now: Date): Date {
  switch (start.kind) {
    case 'now':
      return now;
    case 'iso': {
      const dt = start.hasOffset ? DateTime.fromISO(start.text, { setZone: true }) : DateTime.fromISO(start.text, { zone: timezone });
      return dt.toJSDate();
    }
    case 'weekday': {
      const base = DateTime.fromJSDate(now, { zone: timezone }).startOf('minute');
      for (let d = 0; d <= 7; d++) {
        const candidate = base.plus({ days: d }).set({ hour: start.hour, minute: start.minute, second: 0, millisecond: 0 });
        if (candidate.weekday === start.weekday && candidate >= base) return candidate.toJSDate();
      }
      throw new Error('unreachable: a weekday recurs within 8 days');
    }
    default: {
      const unknown: never = start;
      throw new Error(`unknown start ${JSON.stringify(unknown)}`);
    }
  }
}

/** The --json document: waitReasons reduced to {kind, message}; with --power, the power rows. */
export function planJson(plan: RolloutPlan, power?: RingPower[]): string {
  return JSON.stringify({
    rings: plan.rings.map((r) => ({
      name: r.name,
      start: r.start,
      end: r.end,
      waitReasons: r.waitReasons.map((w) => ({ kind: w.kind, message: w.message })),
      ramp: r.ramp,
    })),
    holdbackPercent: plan.holdbackPercent,
    ...(power ? { power } : {}),
  });
}

/** "50 > 100 > ... > 2000 hosts (7 looks)"; "none (whole ring at once)"; an unknown size ends with "...". */
export function describeRamp(ramp: PlannedRamp | null): string {
  if (ramp === null) return 'none (whole ring at once)';
  const n = (x: number): string => x.toLocaleString('en-US');
  if (ramp.ringHosts === null) return `${ramp.waves.map(n).join(' > ')} > ... hosts (x${ramp.growth}; size unknown)`;
  const looks = ramp.waves.length;
  const shown = ramp.waves.length > 6 ? [...ramp.waves.slice(0, 3).map(n), '...', ...ramp.waves.slice(-2).map(n)] : ramp.waves.map(n);
  return `${shown.join(' > ')} hosts (${looks} looks, the census included)`;
}

function humanTime(iso: string | null, timezone: string): string {
  if (iso === null) return 'never';
  return DateTime.fromISO(iso, { zone: timezone }).setLocale('en-US').toFormat('ccc yyyy-MM-dd HH:mm ZZ');
}

/** The human table: one row per ring, extra lines for further reasons. */
export function renderPlanTable(plan: RolloutPlan, policy: PolicySpec): string {
  const header = ['RING', `START (${policy.timezone})`, 'END', 'WAVES', 'WAITS FOR'];
  const rows: string[][] = [];
  for (const ring of plan.rings) {
    const reasons = ring.waitReasons.map((w) => w.message);
    rows.push([ring.name, humanTime(ring.start, policy.timezone), humanTime(ring.end, policy.timezone), describeRamp(ring.ramp), reasons[0] ?? '-']);
    for (const more of reasons.slice(1)) rows.push(['', '', '', '', more]);
  }
  return renderTable([header, ...rows]);
}

function describeFreezes(policy: PolicySpec): string {
  const freezes = policy.freezes ?? [];
  if (freezes.length === 0) return 'none';
  return freezes.map((f) => `${f.reason} ${f.from} .. ${f.to}`).join('; ');
}

export function runPlan(rolloutFile: string, opts: PlanOptions, now: Date = new Date()): number {
  const err = (text: string): void => {
    process.stderr.write(`${text}\n`);
  };
  const parsedStart = opts.start === undefined ? ({ ok: true, start: { kind: 'now' } } as const) : parseStart(opts.start);
  if (!parsedStart.ok) {
    err(`ringctl plan: ${parsedStart.message}`);
    return 2;
  }
  const parsedSizes = parseSizes(opts);
  if (!parsedSizes.ok) {
    err(`ringctl plan: ${parsedSizes.message}`);
    return 2;
  }
  const rollout = loadRolloutFile(rolloutFile);
  const policy = loadPolicyFile(opts.policy);
  let invalid = false;
  for (const loaded of [rollout, policy]) {
    if (!loaded.ok) {
      for (const e of loaded.errors) err(formatSpecError(e));
      invalid = true;
    }
  }
  if (!rollout.ok || !policy.ok || invalid) return [rollout, policy].some((l) => !l.ok && l.errors.some((e) => e.unreadable)) ? 2 : 1;
  const timeErrors = policyTimeErrors(policy.doc.spec);
  if (timeErrors.length > 0) {
    for (const e of timeErrors) err(`${opts.policy}: ${e}`);
    return 1;
  }
  const policySpec = policy.doc.spec;
  const spec = rollout.doc.spec;
  if (spec.policy !== undefined && spec.policy !== policy.doc.metadata.name) {
    err(`note: the rollout names policy "${spec.policy}"; planning with "${policy.doc.metadata.name}" (${opts.policy})`);
  }
  let power: RingPower[] | undefined;
  if (opts.power) {
    if (parsedSizes.sizes.fleetHosts === undefined) {
      err("ringctl plan: --power needs the fleet's size: --hosts N (and --ring-hosts NAME=N for selector rings)");
      return 2;
    }
    const rates = parseBaselineRates(opts.baselineRate, spec);
    if (!rates.ok) {
      err(`ringctl plan: ${rates.message}`);
      return 2;
    }
    power = planPower(spec, parsedSizes.sizes, rates.rates);
  }
  const start = resolveStart(parsedStart.start, policySpec.timezone, now);
  const plan = planRollout(spec, policySpec, start, parsedSizes.sizes);
  const unknown = plan.rings.filter((r) => r.ramp !== null && r.ramp.ringHosts === null).map((r) => r.name);
  if (opts.json) {
    process.stdout.write(`${planJson(plan, power)}\n`);
    return 0;
  }
  const startText = DateTime.fromJSDate(start, { zone: policySpec.timezone })
    .setLocale('en-US')
    .toFormat('ccc yyyy-MM-dd HH:mm ZZ');
  process.stdout.write(
    [
      `Plan for rollout ${rollout.doc.metadata.name} (${spec.channel} ${spec.version}) under policy ${policy.doc.metadata.name}`,
      `Windows: ${describePolicyWindows(policySpec)} ${policySpec.timezone}; freezes: ${describeFreezes(policySpec)}`,
      `Requested start: ${startText}`,
      '',
      renderPlanTable(plan, policySpec),
      '',
      'Assumes each ring passes its health checks when its minimum bake ends and approvals come in time.',
      'Each ring ramps in waves (one clean look each at the least, after a census look); its bake starts when it is wholly exposed.',
      ...(unknown.length > 0 ? [`Ring sizes unknown for ${unknown.join(', ')}: their ramp time is not in the plan (pass --hosts N, and --ring-hosts NAME=N for selector rings).`] : []),
      ...(plan.holdbackPercent > 0 ? [`Holdback: ${plan.holdbackPercent}% of the fleet stays on ${spec.previousVersion ?? 'the previous version'} through the last ring, until its bake passes.`] : []),
      '',
      ...(power ? [powerText(power), ''] : []),
    ].join('\n'),
  );
  return 0;
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('show when each ring of a rollout would start under a policy, and why it waits')
    .argument('<rollout>', 'rollout YAML file')
    .requiredOption('--policy <file>', 'policy YAML file')
    .option('--start <when>', `when the rollout would begin (default: now); ${START_HELP}`)
    .option('--hosts <n>', "the fleet's size, to size the waves of percent rings")
    .option('--ring-hosts <pairs>', 'sizes of selector rings, e.g. canary=2000 (comma-separated)')
    .option('--power', "size the rings: exposure and time each metric's test needs to detect its detectRatio (95% power), and the smallest ratio detected within each bake (needs --hosts, and --baseline-rate or --prometheus-url)")
    .option('--baseline-rate <rate>', 'with --power: baseline events per host-hour, one rate or NAME=RATE per metric (crashes=0.0005,bsod=0.0002)')
    .option('--prometheus-url <url>', "with --power: read the rates --baseline-rate does not give from Prometheus, with the rollout's own baseline queries")
    .option('--baseline-window <duration>', 'with --prometheus-url: the window the baseline rate is measured over (default 24h)')
    .option('--json', 'print the plan as one JSON document')
    .action(async (rolloutFile: string, opts: PlanOptions) => {
      const rates = opts.power && opts.prometheusUrl !== undefined ? await prometheusRates(rolloutFile, opts) : { ok: true as const, opts };
      process.exitCode = rates.ok ? runPlan(rolloutFile, rates.opts) : rates.exit;
    });
}

/**
 * --power --prometheus-url: the baseline rates from Prometheus (plan-power.ts), handed to runPlan as --baseline-rate.
 * A rollout that does not load is left to runPlan, which prints its errors. Exit 2 for a bad URL or window, 1 when
 * Prometheus cannot give a rate.
 */
async function prometheusRates(rolloutFile: string, opts: PlanOptions): Promise<{ ok: true; opts: PlanOptions } | { ok: false; exit: number }> {
  const fail = (message: string, exit: number): { ok: false; exit: number } => {
    process.stderr.write(`ringctl plan: ${message}\n`);
    return { ok: false, exit };
  };
  const rollout = loadRolloutFile(rolloutFile);
  if (!rollout.ok) return { ok: true, opts };
  const window = parseDuration(opts.baselineWindow ?? '24h');
  if (!window.ok) return fail(`invalid --baseline-window ${JSON.stringify(opts.baselineWindow)}: ${window.message}`, 2);
  let provider: PrometheusProvider;
  try {
    provider = new PrometheusProvider({ url: opts.prometheusUrl as string, timeoutMs: 10_000 });
  } catch (e) {
    return fail(`--prometheus-url: ${(e as Error).message}`, 2);
  }
  const r = await baselineRatesFromPrometheus(rollout.doc.spec, provider, window.ms, opts.baselineRate, new Date());
  if (!r.ok) return fail(r.message, 1);
  for (const note of r.notes) process.stderr.write(`${note}\n`);
  return { ok: true, opts: { ...opts, baselineRate: r.text } };
}
