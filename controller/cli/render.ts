/**
 * Text rendering of rollouts for ringctl get/status and the status --watch screen (pure: view + now in, text out,
 * so it is unit-tested). Times are shown in the policy's time zone (the view carries it), or in UTC with --utc.
 */
import { DateTime } from 'luxon';
import type { Phase } from '../engine/state';
import type { MetricVerdict } from '../engine/judge';
import { builtinSignals } from '../engine/signals';
import type { RolloutView } from '../runtime/service';
import { formatDuration as formatSpecDuration } from '../spec/duration';
import type { RolloutSpec } from '../spec/types';
import { renderTable, truncate } from './table';

/** Bake times to the second: "1h29m5s". */
function formatDuration(ms: number): string {
  return formatSpecDuration(Math.max(0, Math.round(ms / 1000) * 1000));
}

export function phaseLabel(phase: Phase): string {
  switch (phase.kind) {
    case 'halted':
      return `halted (${phase.reason})`;
    case 'rolling-back':
      // One phase: the candidate is withdrawn and agents revert; it then ends as rolled-back or aborted.
      return phase.end === 'rolled-back' ? 'rolling-back' : 'rolling-back (then aborted)';
    case 'paused':
      return `paused (was ${phase.from.kind})`;
    case 'preflight-failed':
      return `preflight-failed (${phase.check})`;
    case 'blocked':
    case 'held':
    case 'pending':
    case 'preflight':
    case 'waiting-for-window':
    case 'progressing':
    case 'awaiting-approval':
    case 'rolled-back':
    case 'succeeded':
    case 'aborted':
      return phase.kind;
    default: {
      const never: never = phase;
      return String(never);
    }
  }
}

/** `ringctl get`: one line per rollout; `-o wide` adds the previous version, policy, exposed ring, revisions and age. */
export function renderList(views: RolloutView[], opts: { wide?: boolean; now?: Date } = {}): string {
  if (views.length === 0) return 'no rollouts';
  const wide = opts.wide === true;
  const now = opts.now ?? new Date();
  const rows = [['NAME', 'CHANNEL', 'VERSION', 'PHASE', 'RING', ...(wide ? ['PREVIOUS', 'POLICY', 'EXPOSED', 'ROLLOUT-REV', 'MANIFEST-REV', 'AGE'] : []), 'WAITING']];
  for (const v of views) {
    const extra = wide
      ? [v.previousVersion ?? '-', v.policy, v.exposedRing < 0 ? 'none' : `${v.exposedRing}:${v.spec.spec.rings[v.exposedRing]?.name ?? '?'}`, String(v.revision), v.manifestRevision == null ? 'n/a' : String(v.manifestRevision), formatDuration(now.getTime() - Date.parse(v.createdAt))]
      : [];
    rows.push([v.name, v.channel, v.version, phaseLabel(v.phase), v.ring ? `${v.ring.index}:${v.ring.name}` : '-', ...extra, v.waitingReason ?? '']);
  }
  return renderTable(rows);
}

/** How times are shown: the policy's zone from the view, or UTC (--utc, or a server that does not say). */
export interface TimeOptions {
  utc?: boolean;
}

export function displayZone(v: RolloutView, opts: TimeOptions): string {
  return opts.utc || !v.timezone ? 'UTC' : v.timezone;
}

/** `2026-12-02 12:30:58 EST` (status), `12:30:58` (the watch screen, same day), ISO with offset (logs). */
export function formatTime(iso: string, zone: string, style: 'full' | 'short' | 'iso', now?: Date): string {
  const t = DateTime.fromISO(iso, { zone });
  if (!t.isValid) return iso;
  if (style === 'iso') return zone === 'UTC' ? t.toFormat("yyyy-MM-dd'T'HH:mm:ss'Z'") : t.toFormat("yyyy-MM-dd'T'HH:mm:ssZZ");
  if (style === 'short') {
    const sameDay = now !== undefined && DateTime.fromJSDate(now, { zone }).hasSame(t, 'day');
    return t.toFormat(sameDay ? 'HH:mm:ss' : 'MM-dd HH:mm');
  }
  return t.setLocale('en-US').toFormat('yyyy-MM-dd HH:mm:ss ZZZZ');
}

function num(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  return Math.abs(x) >= 1000 ? String(Math.round(x)) : String(Number(x.toPrecision(4)));
}

/**
 * For a rollout that declares no metrics, what guards it (contracts §3), for `ringctl validate` and `status`:
 * "declares no metrics: only the built-in signals update-failures and silent-hosts guard it". null when it declares
 * metrics (the signals then guard it beside them).
 */
export function signalsOnlyText(spec: RolloutSpec): string | null {
  if ((spec.analysis?.metrics ?? []).length > 0) return null;
  const names = builtinSignals(spec).map((m) => m.name);
  return `declares no metrics: only the built-in signal${names.length === 1 ? '' : 's'} ${names.join(' and ')} guard${names.length === 1 ? 's' : ''} it`;
}

/**
 * `ringctl status`'s line for a rollout that declares no metrics. The built-in signals are judged only when the
 * controller has a metrics provider: the view says so (`judged`). A server older than that field is read from what
 * happened: a verdict or a ring passed on analysis (signals judged), or a ring that baked without analysis.
 */
export function guardLine(v: RolloutView): string | null {
  const text = signalsOnlyText(v.spec.spec);
  if (text === null) return null;
  if (v.judged !== undefined) {
    return v.judged ? `analysis: ${text}` : 'analysis: declares no metrics and the controller has no metrics provider: unguarded, its rings advance on bake time alone';
  }
  const judged = v.lastVerdict !== null || v.history.some((t) => /passed analysis/.test(t.reason));
  if (!judged && v.history.some((t) => /no analysis configured/.test(t.reason))) {
    return 'analysis: declares no metrics and the controller has no metrics provider: unguarded, its rings advance on bake time alone';
  }
  return judged ? `analysis: ${text}` : `analysis: ${text}, once the controller has a metrics provider (without one: bake time alone)`;
}

/** Progress of one ring, as `ringctl status` marks it. */
export type RingProgress = 'done' | 'active' | 'halted' | 'next' | 'pending' | 'withdrawn';

export const RING_MARK: Record<RingProgress, string> = { done: '[x]', active: '[>]', halted: '[!]', next: '[ ]', pending: '[ ]', withdrawn: '[<]' };

/**
 * Where each ring stands. Rings 0..exposedRing are exposed; the one the phase is about is active (baking),
 * halted, or next (waiting for its window or an approval). Once the candidate is withdrawn, every ring that
 * had been exposed (the highest exposure in the history) is withdrawn.
 */
export function ringProgress(v: RolloutView): RingProgress[] {
  const n = v.spec.spec.rings.length;
  const reached = Math.max(v.exposedRing, ...v.history.map((t) => t.exposedRing));
  const about = v.ring?.index;
  const out: RingProgress[] = [];
  for (let i = 0; i < n; i++) {
    if (v.phase.kind === 'succeeded') out.push('done');
    else if (v.phase.kind === 'rolling-back' || v.phase.kind === 'rolled-back' || v.phase.kind === 'aborted') out.push(i <= reached ? 'withdrawn' : 'pending');
    else if (v.phase.kind === 'halted' && i === v.phase.ring) out.push('halted');
    else if (i < v.exposedRing) out.push('done');
    else if (i === v.exposedRing) out.push(about === i ? 'active' : 'done');
    else if (i === about) out.push('next');
    else out.push('pending');
  }
  return out;
}

/**
 * The pre-flight line of `ringctl status`: the artifact's fetch and verification, then each check in order, with how
 * far they got (they run in order and stop at the first failure).
 */
function preflightLine(v: RolloutView): string | null {
  const checks = v.spec.spec.preflight ?? [];
  if (checks.length === 0) return null;
  const names = ['artifact', ...checks.map((c) => `${c.name} (${c.schema !== undefined ? 'schema' : c.exec !== undefined ? `exec ${c.exec}` : `webhook ${c.webhook ?? '?'}`})`)];
  const p = v.phase;
  switch (p.kind) {
    case 'pending':
    case 'blocked':
    case 'held':
      return `preflight: not run yet: ${names.join(', ')}`;
    case 'preflight':
      return `preflight: running: ${names.join(', ')}`;
    case 'preflight-failed': {
      const at = p.check === 'artifact' ? 0 : 1 + checks.findIndex((c) => c.name === p.check);
      return `preflight: ${names.map((n, i) => `${n} ${i < at ? 'passed' : i === at ? 'FAILED' : 'not run'}`).join(', ')}`;
    }
    default:
      return v.history.some((t) => t.from === 'preflight' && t.to !== 'held' && t.to !== 'aborted' && t.to !== 'rolled-back') ? `preflight: passed: ${names.join(', ')}` : null;
  }
}

/** The verbs a human can run next, where the rollout waits for one (what they do in each phase: engine/decide.ts). */
export function nextCommands(v: RolloutView): string[] {
  switch (v.phase.kind) {
    case 'halted':
      return [`ringctl resume ${v.name}`, `ringctl rollback ${v.name}`];
    case 'awaiting-approval':
      return [`ringctl approve ${v.name}`];
    case 'paused':
      return [`ringctl resume ${v.name}`];
    default:
      return [];
  }
}

/** `next: ringctl resume NAME  or  ringctl rollback NAME`, or null. */
export function nextHint(v: RolloutView): string | null {
  const cmds = nextCommands(v);
  return cmds.length === 0 ? null : `next: ${cmds.join('  or  ')}`;
}

/** The rollback's one line: agents revert, the drain's countdown, and how the phase ends. */
function drainLine(v: RolloutView, now: Date): string | null {
  if (v.phase.kind !== 'rolling-back') return null;
  const then = v.phase.end === 'aborted' ? 'aborted' : 'rolled-back';
  if (!v.drain) return `rolling back: agents revert on their next poll; then ${then}`;
  const left = Date.parse(v.drain.endsAt) - now.getTime();
  return `rolling back: agents revert; drain ends in ${formatDuration(Math.max(0, left))}, then ${then}`;
}

/** A transition's or phase's reason with the verdict's text, when it embeds it, replaced (the verdict has its own lines). */
export function withoutVerdict(reason: string, v: RolloutView, instead = '(verdict below)'): string {
  const text = v.lastVerdict?.reason;
  if (text === undefined || text.length < 20 || !reason.includes(text)) return reason;
  return reason.split(text).join(instead);
}

function target(ring: RolloutSpec['rings'][number]): string {
  if ('percent' in ring && ring.percent !== undefined) return `${ring.percent}%`;
  const labels = Object.entries(ring.selector?.matchLabels ?? {}).map(([k, val]) => `${k}=${val}`);
  return labels.length === 0 ? 'selector' : labels.join(',');
}

/** Hosts of a ring: the current wave's target of the ring's census while it ramps; n/a where the controller cannot say. */
function ringHosts(v: RolloutView, i: number): string {
  const w = v.wave;
  if (w === null || v.exposedRing !== i) return 'n/a';
  // The census look exposes nobody; a later wave aims at its target of the ring's census.
  const t = w.ppm === 0 ? 0 : w.targetHosts;
  if (t === null) return w.ringHosts === null ? 'n/a' : `n/a/${w.ringHosts}`;
  return w.ringHosts === null ? (t === 0 ? '0' : `~${Math.round(t)}`) : `${Math.round(t)}/${w.ringHosts}`;
}

function ringNote(v: RolloutView, i: number, p: RingProgress, now: Date): string {
  const ring = v.spec.spec.rings[i];
  if (ring === undefined) return '';
  const plan = `bake ${ring.bake}${ring.maxBake ? `, maxBake ${ring.maxBake}` : ''}${ring.approval === 'required' ? ', approval required' : ''}`;
  switch (p) {
    case 'active': {
      if (v.bake) {
        const elapsed = now.getTime() - Date.parse(v.bake.startedAt);
        const left = Date.parse(v.bake.minEndsAt) - now.getTime();
        let note = `active: baked ${formatDuration(elapsed)} of ${ring.bake}, ${left > 0 ? `${formatDuration(left)} left` : 'minimum bake done, waiting for a verdict'}`;
        if (v.bake.maxEndsAt) note += `, maxBake in ${formatDuration(Date.parse(v.bake.maxEndsAt) - now.getTime())}`;
        return note;
      }
      if (v.wave) {
        const w = v.wave;
        return w.ppm === 0
          ? 'active: ramping, census look (nobody takes it yet)'
          : `active: ramping, wave ${w.index}: ${Number(w.sharePercent.toPrecision(3))}% of the ring${w.targetHosts !== null ? ` (~${Math.round(w.targetHosts)}${w.ringHosts !== null ? ` of ${w.ringHosts}` : ''} hosts)` : ''}; the bake starts when it is wholly exposed`;
      }
      return 'active';
    }
    case 'halted':
      return i <= v.exposedRing ? 'halted: exposure frozen' : 'halted before it started';
    case 'next': {
      const waits = v.phase.kind === 'paused' ? v.phase.from.kind : v.phase.kind;
      return `next: ${waits === 'awaiting-approval' ? 'awaiting approval' : waits === 'waiting-for-window' ? 'waiting for the policy window' : waits}; ${plan}`;
    }
    case 'pending':
      return plan;
    case 'done':
    case 'withdrawn':
      return p;
  }
}

/** The reason of a metric's verdict without its leading `metric: ` (the row names the metric). */
function metricReason(m: MetricVerdict): string {
  return m.reason.startsWith(`${m.metric}: `) ? m.reason.slice(m.metric.length + 2) : m.reason;
}

function candidateText(m: MetricVerdict): string {
  return m.candidate ? `${m.candidate.events} / ${num(m.candidate.exposureHours)} host-h (${m.candidate.hosts} hosts)` : '-';
}

export interface StatusOptions extends TimeOptions {
  /** -o wide: ring plans and the numbers of each metric as columns. */
  wide?: boolean;
  /** How many transitions to show (newest last); default 5. */
  history?: number;
  /** `short`: HH:mm:ss on the same day (the watch screen, whose header names the zone). Default `full`. */
  timeStyle?: 'full' | 'short';
  /** The screen's width: a `next:` hint wider than it takes one line per command. */
  width?: number;
}

/** The parts of `ringctl status`: a header that the watch screen keeps in place, and a body it cuts to fit. */
export interface StatusParts {
  header: string[];
  body: string[];
  /** Where the history starts in the body (the watch drops its oldest lines first). */
  historyAt: number;
}

export function statusParts(v: RolloutView, now: Date, opts: StatusOptions = {}): StatusParts {
  const zone = displayZone(v, opts);
  const header: string[] = [];
  header.push(`${v.name}  ${v.channel} ${v.previousVersion ?? '?'} -> ${v.version}`);
  header.push(`phase: ${phaseLabel(v.phase)}`);
  const drain = drainLine(v, now);
  if (drain !== null) header.push(drain);
  if (v.phase.kind === 'rolling-back') header.push(`why: ${withoutVerdict(v.phase.reason, v)}`);
  else if (v.phase.kind === 'halted') header.push(`why: ${withoutVerdict(v.phase.message, v)}`);
  else if (v.phase.kind === 'rolled-back' || v.phase.kind === 'aborted') header.push(`why: ${withoutVerdict(v.phase.reason, v)}`);
  else if (v.waitingReason) header.push(`${v.phase.kind === 'preflight-failed' ? 'stopped' : 'waiting'}: ${withoutVerdict(v.waitingReason, v)}`);
  const hint = nextHint(v);
  if (hint !== null && opts.width !== undefined && [...hint].length > opts.width) nextCommands(v).forEach((c, i) => header.push(`${i === 0 ? 'next: ' : '  or: '}${c}`));
  else if (hint !== null) header.push(hint);
  const preflight = preflightLine(v);
  if (preflight !== null) header.push(preflight);
  header.push(`policy ${v.policy}  rollout revision ${v.revision}  manifest revision ${v.manifestRevision == null ? 'n/a' : v.manifestRevision} (the channel's)`);

  const body: string[] = [];
  const rings = v.spec.spec.rings;
  const progress = ringProgress(v);
  const wide = opts.wide === true;
  const rows: string[][] = [['', 'RING', 'TARGET', 'HOSTS', ...(wide ? ['BAKE', 'MAXBAKE', 'APPROVAL'] : []), 'STATE']];
  rings.forEach((ring, i) => {
    const p = progress[i] ?? 'pending';
    rows.push([`${RING_MARK[p]} ${i}`, ring.name, target(ring), ringHosts(v, i), ...(wide ? [ring.bake, ring.maxBake ?? '-', ring.approval ?? 'none'] : []), ringNote(v, i, p, now)]);
  });
  body.push(...renderTable(rows, { indent: '  ', align: [undefined, undefined, undefined, 'right'] }).split('\n'));
  body.push(`  ${(['done', 'active', 'halted', 'withdrawn', 'pending'] as const).map((k) => `${RING_MARK[k]} ${k === 'pending' ? 'not started' : k}`).join(' ')}; hosts: wave/ring`);
  const guard = guardLine(v);
  if (guard !== null) body.push(guard);
  if (v.lastVerdict) {
    const lv = v.lastVerdict;
    const ringName = rings[lv.ring]?.name ?? '?';
    const metrics = lv.metrics as MetricVerdict[];
    body.push(`verdict: ${lv.result} (ring ${lv.ring} ${ringName}, ${formatTime(lv.at, zone, opts.timeStyle ?? 'full', now)})${metrics.length === 0 ? `: ${lv.reason}` : verdictSource(lv.reason)}`);
    if (metrics.length > 0) {
      const mrows = metrics.map((m) => {
        const breached = m.guards.filter((g) => g.breached).map((g) => `${g.guard} ${num(g.observed)} > ${num(g.limit)}`);
        const extra = wide
          ? [candidateText(m), m.baseline ? `${m.baseline.events} / ${num(m.baseline.exposureHours)} host-h` : '-', num(m.ratio), m.relative ? `ln ${num(m.relative.logE)} / ${num(m.relative.threshold)}` : '-', breached.join(', ') || '-']
          : [];
        return [m.metric, m.result, ...extra, metricReason(m)];
      });
      const head = wide ? [['METRIC', 'RESULT', 'CANDIDATE', 'BASELINE', 'RATIO', 'E-VALUE', 'BREACHED', 'REASON']] : [];
      body.push(...renderTable([...head, ...mrows], { indent: '  ' }).split('\n'));
    }
  }
  const historyAt = body.length;
  const n = opts.history ?? 5;
  const recent = n <= 0 ? [] : v.history.slice(-n);
  if (recent.length) {
    body.push(`history (times in ${zone === 'UTC' && opts.utc ? 'UTC, --utc' : zone}):`);
    for (const t of recent) body.push(`  #${t.n} ${formatTime(t.at, zone, opts.timeStyle ?? 'full', now)} ${t.from} -> ${t.to} (${t.actor}): ${withoutVerdict(t.reason, v)}`);
  }
  return { header, body, historyAt };
}

/** `ringctl status`: phase, rings with progress, bake time elapsed and left, waiting reason, verdict, recent history. */
export function renderStatus(v: RolloutView, now: Date, opts: StatusOptions = {}): string {
  const { header, body } = statusParts(v, now, opts);
  return [...header, ...body].join('\n');
}

/**
 * The watch screen on a terminal of `columns` x `rows`: the header stays at the top, every line is cut to the width
 * with an ellipsis (never wrapped), the body is cut to the rows left (the oldest history first), and the footer is
 * the last line. Returns the lines, at most `rows` of them.
 */
export function renderScreen(v: RolloutView, now: Date, size: { columns: number; rows: number }, footer: string | string[], opts: StatusOptions = {}): string[] {
  const foot = typeof footer === 'string' ? [footer] : footer;
  const columns = Math.max(20, size.columns);
  const rows = Math.max(6, size.rows);
  const { header, body, historyAt } = statusParts(v, now, { ...opts, history: 50, timeStyle: 'short', width: columns });
  const room = rows - header.length - 1 - foot.length; // a blank line before the footer, and the footer
  let shown: string[];
  if (body.length <= room) shown = body;
  else {
    const hist = body.slice(historyAt + 1);
    const before = body.slice(0, historyAt);
    const keep = room - before.length - 1;
    if (keep >= 1) shown = [...before, `history (last ${Math.min(keep, hist.length)} of ${hist.length}, times in ${displayZone(v, opts)}):`, ...hist.slice(-keep)];
    else shown = [...before.slice(0, Math.max(0, room - 1)), `… (${body.length - Math.max(0, room - 1)} more lines: ringctl status ${v.name})`];
  }
  return [...header, ...shown, '', ...foot].slice(0, rows).map((l) => truncate(l, columns));
}

/**
 * Where a verdict's numbers come from, when the controller says (runtime/analysis.ts appends ` [SOURCE]` to the
 * reason, e.g. `[simulated metrics (agent-sim), not Prometheus]`): ` [SOURCE]`, or '' (Prometheus, the default).
 */
export function verdictSource(reason: string): string {
  const m = / \[([^\][]+)\]$/.exec(reason);
  return m === null ? '' : ` [${m[1] as string}]`;
}
