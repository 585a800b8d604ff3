/**
 * The virtual run's story in plain words (what `make demo` prints): one line per event, `T+<virtual time>  what
 * happened`. The numbers come from the transitions and the judge's structured verdict (MetricVerdict); the wording
 * is for a reader who has not read docs/analysis.md. Display only: nothing here decides anything.
 */
import type { MetricVerdict } from '../controller/engine/judge';
import type { Transition } from '../controller/engine/state';
import type { RolloutView } from '../controller/runtime/service';

/** "T+0m", "T+13m", "T+2h05m": virtual time since the rollout was applied, padded to one width. */
export function virtualOffset(ms: number): string {
  const m = Math.max(0, Math.round(ms / 60_000));
  const text = m < 60 ? `T+${m}m` : `T+${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
  return text.padEnd(8);
}

const n = (x: number): string => (Number.isInteger(x) ? x.toLocaleString('en-US') : Number(x.toPrecision(3)).toLocaleString('en-US'));
/** Two or three significant digits, thousands separated: 0.0005, 0.508, 106, 3,960. */
const num = (x: number): string => {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return Math.round(x).toLocaleString('en-US');
  return String(Number(x.toPrecision(a >= 1 ? 3 : 2)));
};

const EVENT_WORDS: Record<string, [string, string]> = {
  'crash-rate': ['crash', 'crashes'],
  'bsod-rate': ['BSOD', 'BSODs'],
  'update-failure-rate': ['update failure', 'update failures'],
};

/** One failing metric in plain words: counts, hosts, the limit it broke and the evidence against the boundary. */
export function failureWords(v: MetricVerdict): string {
  if (v.signal !== undefined || v.candidate === null) {
    // Built-in signals (silent hosts, update failures) already say it in words before their statistics.
    const text = v.reason.replace(new RegExp(`^${v.metric}: `), '');
    const cut = text.indexOf(' (');
    return `${v.metric}: ${cut > 0 ? text.slice(0, cut) : text}`;
  }
  const [one, many] = EVENT_WORDS[v.type] ?? ['event', 'events'];
  const events = v.candidate.events;
  const hosts = v.sample?.touchedHosts ?? v.candidate.hosts;
  const head = `${n(events)} ${events === 1 ? one : many} on ${n(hosts)} updated hosts in ${num(v.candidate.exposureHours)} host-h`;
  const rate = v.candidate.rate === null ? '' : `${num(v.candidate.rate)}/host-h`;
  const guard = v.guards.find((g) => g.breached);
  const evidence = (stat: number | null, thr: number | null): string => (stat !== null && thr !== null ? `; evidence ${num(stat)} vs ${num(thr)} needed` : '');
  if (guard?.guard === 'catastrophic') {
    const limit = guard.limit / 10;
    return `${head} (${rate}, over 10x the limit ${num(limit)}/host-h${evidence(guard.statistic, guard.threshold)})`;
  }
  if (guard !== undefined) return `${head} (${rate}, above the limit ${num(guard.limit)}/host-h${evidence(guard.statistic, guard.threshold)})`;
  const rel = v.relative;
  const ratio = v.ratio === null ? '' : `, ${num(v.ratio)}x the baseline's rate`;
  return `${head} (${rate}${ratio}, tolerated ${rel ? num(rel.theta0) : '?'}x${rel ? evidence(rel.logE, rel.threshold) : ''})`;
}

/**
 * A transition as a line of the story. `view` is the rollout as read right after it (its last verdict is the one
 * that caused a halt); `versions` names what the fleet runs.
 */
export function transitionWords(tr: Transition, view: RolloutView, versions: { baseline: string; candidate: string }): string {
  const ringName = (i: number): string => view.spec.spec.rings[i]?.name ?? `ring ${i}`;
  const halting = tr.to === 'rolling-back' || tr.to === 'halted';
  const verdict = view.lastVerdict;
  if (halting && tr.from === 'progressing' && verdict !== null && verdict.result === 'fail') {
    const failing = verdict.metrics.filter((m) => m.result === 'fail');
    const what = failing.map((m, i) => (i === 0 ? failureWords(m) : `also ${failureWords(m)}`)).join('; ');
    const then = tr.to === 'rolling-back' ? 'halted, candidate withdrawn (rolling back)' : 'halted: exposure frozen until a human resumes or rolls back';
    return `${ringName(verdict.ring)}: ${what} -> ${then}`;
  }
  if (tr.from === 'pending' && tr.to === 'progressing') {
    return `${ringName(tr.exposedRing)}: the first ring starts; its first look counts the ring's hosts before any of them takes the update`;
  }
  if (tr.to === 'rolled-back') return `rolled back: every host that can still poll runs ${versions.baseline} again (cause above)`;
  if (tr.to === 'succeeded') return `succeeded: ${versions.candidate} is the channel's stable version`;
  const ring = tr.exposedRing >= 0 ? ringName(tr.exposedRing) : null;
  // The engine's reason starts with "ring NAME: " when it is about the ring; the line names the ring once.
  const reason = ring === null ? tr.reason : tr.reason.replace(new RegExp(`^ring ${ring}:? `), '');
  const change = tr.from === tr.to || tr.to === 'progressing' ? '' : `${tr.to}: `;
  return `${ring === null ? '' : `${ring}: `}${change}${reason}`;
}
