/**
 * Text rendering of rollouts for ringctl get/status (pure: view + now in, text out, so it is unit-tested).
 */
import type { Phase } from '../engine/state';
import type { MetricVerdict } from '../engine/judge';
import { builtinSignals } from '../engine/signals';
import type { RolloutView } from '../runtime/service';
import { formatDuration as formatSpecDuration } from '../spec/duration';
import type { RolloutSpec } from '../spec/types';
import { renderTable } from './table';

/** Bake times to the second: "1h29m5s". */
function formatDuration(ms: number): string {
  return formatSpecDuration(Math.max(0, Math.round(ms / 1000) * 1000));
}

export function phaseLabel(phase: Phase): string {
  switch (phase.kind) {
    case 'halted':
      return `halted (${phase.reason})`;
    case 'rolling-back':
      return `rolling-back (${phase.end})`;
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

/** `ringctl get`: one line per rollout. */
export function renderList(views: RolloutView[]): string {
  if (views.length === 0) return 'no rollouts';
  const rows = [['NAME', 'CHANNEL', 'VERSION', 'PHASE', 'RING', 'WAITING']];
  for (const v of views) {
    rows.push([v.name, v.channel, v.version, phaseLabel(v.phase), v.ring ? `${v.ring.index}:${v.ring.name}` : '-', v.waitingReason ?? '']);
  }
  return renderTable(rows);
}

function num(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  return Math.abs(x) >= 1000 ? String(Math.round(x)) : String(Number(x.toPrecision(4)));
}

function metricLine(m: MetricVerdict): string {
  const parts = [`${m.metric} ${m.result}`];
  if (m.candidate) parts.push(`candidate ${m.candidate.events} events / ${num(m.candidate.exposureHours)} host-h (${m.candidate.hosts} hosts)`);
  if (m.baseline) parts.push(`baseline ${m.baseline.events} / ${num(m.baseline.exposureHours)} host-h`);
  if (m.ratio !== null) parts.push(`ratio ${num(m.ratio)}`);
  if (m.relative) parts.push(`relative e-value ln ${num(m.relative.logE)} vs boundary ${num(m.relative.threshold)}`);
  for (const g of m.guards) if (g.breached) parts.push(`${g.guard} ${num(g.observed)} > ${num(g.limit)}`);
  if (m.value) parts.push(`value ${num(m.value.candidate)}${m.value.baseline === null ? '' : ` vs ${num(m.value.baseline)}`}`);
  return `${parts.join(', ')}: ${m.reason}`;
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

/** `ringctl status`: phase, rings with progress, bake time elapsed and left, waiting reason, verdict, recent history. */
export function renderStatus(v: RolloutView, now: Date): string {
  const lines: string[] = [];
  lines.push(`${v.name}  ${v.channel} ${v.previousVersion ?? '?'} -> ${v.version}  policy ${v.policy}  revision ${v.revision}`);
  lines.push(`phase: ${phaseLabel(v.phase)}`);
  if (v.waitingReason) lines.push(`${v.phase.kind === 'preflight-failed' ? 'stopped' : 'waiting'}: ${v.waitingReason}`);
  const preflight = preflightLine(v);
  if (preflight !== null) lines.push(preflight);
  const rings = v.spec.spec.rings;
  const progress = ringProgress(v);
  lines.push('rings: [x] done  [>] active  [!] halted  [<] withdrawn  [ ] not started');
  rings.forEach((ring, i) => {
    const target = 'percent' in ring && ring.percent !== undefined ? `${ring.percent}%` : `selector ${JSON.stringify(ring.selector?.matchLabels ?? {})}`;
    const p = progress[i] ?? 'pending';
    const plan = `bake ${ring.bake}${ring.maxBake ? `, maxBake ${ring.maxBake}` : ''}${ring.approval === 'required' ? ', approval required' : ''}`;
    let note: string;
    switch (p) {
      case 'active':
        if (v.bake) {
          const elapsed = now.getTime() - Date.parse(v.bake.startedAt);
          const left = Date.parse(v.bake.minEndsAt) - now.getTime();
          note = `active: baked ${formatDuration(elapsed)} of ${ring.bake}, ${left > 0 ? `${formatDuration(left)} left` : 'minimum bake done, waiting for a verdict'}`;
          if (v.bake.maxEndsAt) note += `, maxBake in ${formatDuration(Date.parse(v.bake.maxEndsAt) - now.getTime())}`;
        } else if (v.wave) {
          const w = v.wave;
          note = w.ppm === 0
            ? 'active: ramping, census look (nobody takes it yet)'
            : `active: ramping, wave ${w.index}: ${Number(w.sharePercent.toPrecision(3))}% of the ring${w.targetHosts !== null ? ` (~${Math.round(w.targetHosts)}${w.ringHosts !== null ? ` of ${w.ringHosts}` : ''} hosts)` : ''}; the bake starts when it is wholly exposed`;
        } else note = 'active';
        break;
      case 'halted':
        note = i <= v.exposedRing ? 'halted: exposure frozen' : 'halted before it started';
        break;
      case 'next': {
        const waits = v.phase.kind === 'paused' ? v.phase.from.kind : v.phase.kind;
        note = `next: ${waits === 'awaiting-approval' ? 'awaiting approval' : waits === 'waiting-for-window' ? 'waiting for the policy window' : waits}; ${plan}`;
        break;
      }
      case 'pending':
        note = plan;
        break;
      case 'done':
      case 'withdrawn':
        note = p;
        break;
    }
    lines.push(`  ${RING_MARK[p]} ${i} ${ring.name.padEnd(10)} ${target.padEnd(10)} ${note}`);
  });
  const guard = guardLine(v);
  if (guard !== null) lines.push(guard);
  if (v.lastVerdict) {
    const lv = v.lastVerdict;
    lines.push(`verdict (ring ${lv.ring}, ${lv.at}): ${lv.reason.startsWith(`${lv.result}:`) ? lv.reason : `${lv.result}: ${lv.reason}`}`);
    for (const m of lv.metrics as MetricVerdict[]) lines.push(`  ${metricLine(m)}`);
  }
  const recent = v.history.slice(-5);
  if (recent.length) {
    lines.push('history:');
    for (const t of recent) lines.push(`  #${t.n} ${t.at} ${t.from} -> ${t.to} (${t.actor}): ${t.reason}`);
  }
  return lines.join('\n');
}
