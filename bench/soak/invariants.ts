/**
 * The invariants part 1 of the soak checks after every restart, as pure functions of what the store holds
 * now, what it held before (every earlier read), and what the API acknowledged (the ledger):
 *   lost        a transition or audit entry seen earlier is gone or changed; an acknowledged apply, verb or
 *               kill-switch call is not in the store; an applied verb has no transition;
 *   duplicated  transition numbers are not 1..N; a verb is recorded or applied twice; a ring starts twice;
 *   skipped     the exposed ring jumps by more than one; a ring is left before its bake ended; a rollout
 *               succeeds before its last ring; an approval ring starts without the approver.
 * Each violation has a stable key, so one fault seen after many restarts is counted once.
 */
import type { RolloutPlan } from './rollouts';
import type { StoreView, TransitionRow } from './store-view';

export type ViolationKind = 'lost' | 'duplicated' | 'skipped' | 'phantom';

export interface Violation {
  kind: ViolationKind;
  key: string;
  message: string;
}

/** One call the soak made to the API, and what came back. */
export interface Op {
  id: number;
  kind: 'apply' | 'verb' | 'killswitch';
  rollout?: string;
  verb?: string;
  engaged?: boolean;
  mode?: string;
  /** The unique reason sent with the call; a transition reason that applies it contains `tag`. */
  reason: string;
  tag: string;
  /** The token name: the actor the store must record. */
  actor: string;
  cycle: number;
  sentAt: number;
  answeredAt?: number;
  status?: number;
  /** A verb answered 2xx with outcome "applied". */
  applied?: boolean;
  error?: string;
  /** Sent before a kill and not answered before it. */
  inFlightAtKill?: boolean;
}

export const acked = (op: Op): boolean => op.status !== undefined && op.status >= 200 && op.status < 300;

/** Everything seen in the store so far: transitions by `rollout#n`, audit hashes by id. */
export class Seen {
  readonly transitions = new Map<string, string>();
  readonly audit = new Map<number, string>();

  add(view: StoreView): void {
    for (const list of view.transitions.values()) for (const t of list) this.transitions.set(`${t.rollout}#${t.n}`, JSON.stringify(t));
    for (const a of view.audit) this.audit.set(a.id, a.hash);
  }
}

function tagTransitions(view: StoreView, op: Op): TransitionRow[] {
  return (view.transitions.get(op.rollout ?? '') ?? []).filter((t) => t.actor === op.actor && t.reason.includes(op.tag));
}

function requestEntries(view: StoreView, op: Op): number {
  return view.audit.filter((a) => a.action === `request.${op.verb}` && a.target === op.rollout && a.reason === op.reason).length;
}

function killSwitchEntries(view: StoreView, op: Op): number {
  return view.audit.filter((a) => a.action.startsWith('killswitch.') && a.reason === op.reason).length;
}

/** What the store says became of a call: recorded (its request/kill-switch audit entry) and applied (a transition). */
export function fateOf(view: StoreView, op: Op): { recorded: number; applied: number } {
  if (op.kind === 'verb') return { recorded: requestEntries(view, op), applied: tagTransitions(view, op).length };
  if (op.kind === 'killswitch') return { recorded: killSwitchEntries(view, op), applied: 0 };
  return { recorded: view.phases.has(op.rollout ?? '') ? 1 : 0, applied: 0 };
}

export function checkStore(view: StoreView, seen: Seen, ops: readonly Op[], plans: ReadonlyMap<string, RolloutPlan>): Violation[] {
  const out: Violation[] = [];
  const v = (kind: ViolationKind, key: string, message: string): void => {
    out.push({ kind, key, message });
  };

  // Nothing committed disappears or changes.
  const now = new Map<string, string>();
  for (const list of view.transitions.values()) for (const t of list) now.set(`${t.rollout}#${t.n}`, JSON.stringify(t));
  for (const [key, was] of seen.transitions) {
    const is = now.get(key);
    if (is === undefined) v('lost', `transition ${key}`, `transition ${key} was in the store and is gone: ${was}`);
    else if (is !== was) v('lost', `transition ${key} changed`, `transition ${key} changed: was ${was}, is ${is}`);
  }
  const audit = new Map(view.audit.map((a) => [a.id, a.hash] as const));
  for (const [id, hash] of seen.audit) {
    const is = audit.get(id);
    if (is === undefined) v('lost', `audit #${id}`, `audit entry #${id} was in the store and is gone`);
    else if (is !== hash) v('lost', `audit #${id} changed`, `audit entry #${id} changed its hash (${hash.slice(0, 12)} -> ${is.slice(0, 12)})`);
  }

  // Every acknowledged call is in the store, once; no call is applied twice; a refused verb never applies.
  for (const op of ops) {
    const fate = fateOf(view, op);
    const what = `${op.kind}${op.verb ? ` ${op.verb}` : ''}${op.rollout ? ` ${op.rollout}` : ''} (${op.tag}, answered ${op.status ?? op.error})`;
    if (acked(op) && fate.recorded === 0) v('lost', `op ${op.tag}`, `${what}: acknowledged but not in the store`);
    if (fate.recorded > 1) v('duplicated', `op ${op.tag} recorded`, `${what}: recorded ${fate.recorded} times`);
    if (op.kind !== 'verb') continue;
    if (op.applied && fate.applied === 0) v('lost', `op ${op.tag} applied`, `${what}: answered "applied" but no transition applies it`);
    if (fate.applied > 1) v('duplicated', `op ${op.tag} applied`, `${what}: applied by ${fate.applied} transitions`);
    if (op.status === 409 && fate.applied > 0) v('phantom', `op ${op.tag} refused`, `${what}: refused with 409 but a transition applies it`);
  }

  for (const [name, list] of view.transitions) checkHistory(name, list, plans.get(name), v);
  return out;
}

/** Numbering, exposure steps, bakes and approvals of one rollout's transitions (ordered by n). */
export function checkHistory(
  name: string,
  list: readonly TransitionRow[],
  plan: RolloutPlan | undefined,
  v: (kind: ViolationKind, key: string, message: string) => void,
): void {
  list.forEach((t, i) => {
    if (t.n !== i + 1) v(t.n <= i ? 'duplicated' : 'lost', `numbering ${name}`, `${name}: transition numbers are not 1..N (position ${i + 1} holds n=${t.n})`);
  });
  let exposed = -1;
  const firstStart = new Map<number, number>();
  for (const t of list) {
    const at = Date.parse(t.at);
    if (t.exposedRing > exposed) {
      if (t.exposedRing > exposed + 1) v('skipped', `jump ${name}#${t.n}`, `${name}#${t.n}: exposed ring ${exposed} -> ${t.exposedRing} in one transition`);
      if (t.to !== 'progressing') v('skipped', `widen ${name}#${t.n}`, `${name}#${t.n}: exposure widened to ring ${t.exposedRing} by a transition to ${t.to}`);
      if (firstStart.has(t.exposedRing)) v('duplicated', `restart ${name}:${t.exposedRing}`, `${name}#${t.n}: ring ${t.exposedRing} started a second time`);
      else firstStart.set(t.exposedRing, at);
      const left = t.exposedRing - 1;
      if (plan && left >= 0) checkBaked(name, t, left, firstStart.get(left), plan, v);
      const ring = plan?.rings[t.exposedRing];
      if (ring?.approval && !t.actor.includes('approver') && !t.actor.includes('admin')) {
        v('skipped', `approval ${name}:${t.exposedRing}`, `${name}#${t.n}: ring ${ring.name} requires approval but was started by ${t.actor}`);
      }
    } else if (plan && exposed >= 0 && t.exposedRing === exposed && (t.to === 'succeeded' || t.to === 'awaiting-approval')) {
      // Leaving the exposed ring forward: completion, or waiting for the approval of the next ring.
      checkBaked(name, t, exposed, firstStart.get(exposed), plan, v);
      if (t.to === 'succeeded' && exposed !== plan.rings.length - 1) {
        v('skipped', `early-success ${name}`, `${name}#${t.n}: succeeded with ring ${exposed} of ${plan.rings.length - 1} exposed`);
      }
    }
    if (t.to === 'succeeded' && t.exposedRing < 0) v('skipped', `early-success ${name}`, `${name}#${t.n}: succeeded with no ring exposed`);
    exposed = t.exposedRing;
  }
}

function checkBaked(
  name: string,
  t: TransitionRow,
  ring: number,
  started: number | undefined,
  plan: RolloutPlan,
  v: (kind: ViolationKind, key: string, message: string) => void,
): void {
  const bake = plan.rings[ring]?.bakeMs ?? 0;
  if (started === undefined) {
    v('skipped', `unstarted ${name}:${ring}`, `${name}#${t.n}: leaves ring ${ring}, which never started`);
    return;
  }
  const baked = Date.parse(t.at) - started;
  if (baked < bake) v('skipped', `unbaked ${name}:${ring}`, `${name}#${t.n}: left ring ${ring} after ${baked} ms of its ${bake} ms bake`);
}
