/**
 * Policy windows and freezes: when may a ring start?
 *
 * Pure: every function takes the instant it reasons about; nothing here reads a clock or does I/O.
 *
 * Semantics (the tests in test/unit/windows*.test.ts pin each of these down):
 * - Allow windows are read in the policy's IANA time zone. `hours: "09:00-16:00"` on a listed day means a
 *   ring may start at any instant in [09:00, 16:00) local time. `24:00` as the end means midnight at the end
 *   of that day. Documents must have start < end (spec/semantic.ts); this module also reads an end before
 *   the start (`22:00-02:00`) as an overnight window opening on the listed day and ending the next day.
 * - Local times are turned into instants like this:
 *   - a local time that does not exist (skipped by a spring-forward transition) maps to the first instant
 *     after the gap, i.e. the transition itself: a window 02:30-04:00 on the New York spring-forward day
 *     opens at 03:00 EDT;
 *   - a local time that occurs twice (fall-back) maps to its EARLIEST occurrence (the daylight-time one):
 *     a window 01:00-03:00 on the New York fall-back day is [01:00 EDT, 03:00 EST), three real hours.
 *   A window is the contiguous interval between its two converted boundaries.
 * - Freezes are [from, to). `from`/`to` without an offset are local times in the policy zone (same
 *   conversion as above; a date alone means local midnight); with `Z` or `+hh:mm` they are absolute.
 * - Only a ring start is subject to windows and freezes (see `isAllowed`). Halts, rollbacks, kill switches,
 *   aborts, pauses and resuming an already running ring are always allowed: there is no policy field that
 *   can block them, by construction.
 * - `requireBakeWithinWindow`: a ring may start only if start + minimum bake lies inside an allowed window,
 *   where the window's end counts as inside (a 7h bake started at 09:00 may end at 16:00), and not strictly
 *   inside a freeze (a bake may end exactly when a freeze begins or ends).
 */
import { DateTime, IANAZone } from 'luxon';
import { isKnownZone, localToInstant, offsetMs, parseHoursRange, parsePolicyTime } from './times';

export { localToInstant, parsePolicyTime } from './times';
import { POLICY_DEFAULTS } from '../spec/defaults';
import { DAYS } from '../spec/schema';
import type { Day, PolicySpec } from '../spec/types';
import { formatDuration } from '../spec/duration';

/** What the controller wants to do. Resuming or approving an already running ring is `resume-hold`. */
export type ActionKind = 'ring-start' | 'halt' | 'rollback' | 'kill-switch' | 'pause' | 'abort' | 'resume-hold';

export const ACTION_KINDS: readonly ActionKind[] = [
  'ring-start',
  'halt',
  'rollback',
  'kill-switch',
  'pause',
  'abort',
  'resume-hold',
];

/** Why a ring start has to wait. Every variant carries a human `message`. */
export type WaitReason =
  | { kind: 'outside-window'; message: string; nextWindowStart?: string }
  | { kind: 'freeze'; reason: string; until: string; message: string }
  | { kind: 'bake-ends-outside-window'; message: string }
  | { kind: 'no-allowed-start'; message: string };

export type Allowance = { allowed: true } | { allowed: false; reasons: WaitReason[] };

/** How far `nextAllowedStart` looks ahead before it gives up. */
export const SEARCH_HORIZON_DAYS = 732;

const MINUTE = 60_000;
const DAY = 86_400_000;
const ALLOWED: Allowance = Object.freeze({ allowed: true }) as Allowance;

// ---------------------------------------------------------------------------------------------------------
// Compiling a policy into plain numbers (cached per policy object; policies are treated as immutable).

interface CompiledWindow {
  /** Indexed by luxon weekday 1 (Mon) .. 7 (Sun); index 0 unused. */
  readonly days: readonly boolean[];
  /** Minutes after local midnight of the opening day; endMin may exceed 1440 for overnight windows. */
  readonly startMin: number;
  readonly endMin: number;
}

interface CompiledFreeze {
  readonly from: number;
  readonly to: number;
  readonly reason: string;
  readonly index: number;
}

interface CompiledPolicy {
  readonly tz: string;
  readonly zone: IANAZone;
  readonly windows: readonly CompiledWindow[];
  readonly freezes: readonly CompiledFreeze[];
  readonly requireBakeWithinWindow: boolean;
  readonly description: string;
  /** Memo of windowsOpeningOn by local day number (a cache, not state: results never change). */
  readonly dayCache: Map<number, ReadonlyArray<readonly [number, number]>>;
}

const DAY_CACHE_LIMIT = 8192;

const compiledCache = new WeakMap<PolicySpec, CompiledPolicy>();

/** A window's hours for the windows below: an empty one is null, an end before the start runs overnight. */
function parseHours(hours: string): { startMin: number; endMin: number } | null {
  const r = parseHoursRange(hours);
  if (r === null || r.endMin === r.startMin) return null;
  return { startMin: r.startMin, endMin: r.endMin < r.startMin ? r.endMin + 1440 : r.endMin };
}

/**
 * Problems with the time-related fields of a policy that the JSON Schema cannot see: unknown time zone,
 * empty windows (`09:00-09:00`), impossible dates, freezes that end before they begin. Empty when fine.
 * Each message starts with the field path, e.g. `spec.freezes[0].to: ...`.
 */
export function policyTimeErrors(policy: PolicySpec): string[] {
  const errors: string[] = [];
  if (!isKnownZone(policy.timezone)) {
    errors.push(`spec.timezone: unknown IANA time zone ${JSON.stringify(policy.timezone)}`);
    return errors;
  }
  const zone = IANAZone.create(policy.timezone);
  policy.allow.forEach((w, i) => {
    if (parseHours(w.hours) === null) {
      errors.push(`spec.allow[${i}].hours: ${JSON.stringify(w.hours)} is not a non-empty HH:MM-HH:MM range`);
    }
  });
  (policy.freezes ?? []).forEach((f, i) => {
    const from = parsePolicyTime(f.from, zone);
    const to = parsePolicyTime(f.to, zone);
    if (from === null) errors.push(`spec.freezes[${i}].from: ${JSON.stringify(f.from)} is not a valid date-time`);
    if (to === null) errors.push(`spec.freezes[${i}].to: ${JSON.stringify(f.to)} is not a valid date-time`);
    if (from !== null && to !== null && to <= from) {
      errors.push(`spec.freezes[${i}].to: ends at or before it begins (${f.from} .. ${f.to})`);
    }
  });
  return errors;
}

function compile(policy: PolicySpec): CompiledPolicy {
  const cached = compiledCache.get(policy);
  if (cached) return cached;
  const errors = policyTimeErrors(policy);
  // Documents reach this module validated (schema + semantic checks); an invalid one here is a bug.
  if (errors.length > 0) throw new Error(`invalid policy: ${errors.join('; ')}`);
  const zone = IANAZone.create(policy.timezone);
  const windows = policy.allow.map((w) => {
    const hours = parseHours(w.hours) as { startMin: number; endMin: number };
    const days = new Array<boolean>(8).fill(false);
    for (const d of w.days) days[DAYS.indexOf(d) + 1] = true;
    return { days, ...hours };
  });
  const freezes = (policy.freezes ?? []).map((f, index) => ({
    from: parsePolicyTime(f.from, zone) as number,
    to: parsePolicyTime(f.to, zone) as number,
    reason: f.reason,
    index,
  }));
  const compiled: CompiledPolicy = {
    tz: policy.timezone,
    zone,
    windows,
    freezes,
    requireBakeWithinWindow: policy.requireBakeWithinWindow ?? POLICY_DEFAULTS.requireBakeWithinWindow,
    description: describePolicyWindows(policy),
    dayCache: new Map(),
  };
  compiledCache.set(policy, compiled);
  return compiled;
}

// ---------------------------------------------------------------------------------------------------------
// Local time <-> instants: policy/times.ts, the one parser of policy times (shared with spec/semantic.ts).

/** Local calendar day number (days since 1970-01-01 in the zone's wall clock) of an instant. */
function localDay(c: CompiledPolicy, t: number): number {
  return Math.floor((t + offsetMs(c.zone, t)) / DAY);
}

/** Luxon weekday (1 = Mon .. 7 = Sun) of a local day number; day 0 (1970-01-01) was a Thursday. */
function weekdayOf(day: number): number {
  return ((((day + 3) % 7) + 7) % 7) + 1;
}

/** The absolute intervals [start, end) of the windows that open on local day `day`. */
function windowsOpeningOn(c: CompiledPolicy, day: number): ReadonlyArray<readonly [number, number]> {
  const cached = c.dayCache.get(day);
  if (cached !== undefined) return cached;
  const weekday = weekdayOf(day);
  const out: Array<readonly [number, number]> = [];
  for (const w of c.windows) {
    if (!w.days[weekday]) continue;
    const start = localToInstant(c.zone, day * DAY + w.startMin * MINUTE);
    const end = localToInstant(c.zone, day * DAY + w.endMin * MINUTE);
    if (end > start) out.push([start, end]);
  }
  if (c.dayCache.size >= DAY_CACHE_LIMIT) c.dayCache.clear();
  c.dayCache.set(day, out);
  return out;
}

/** Whether `t` is in an allowed window; `closedEnd` also accepts a window's end instant. */
function inWindow(c: CompiledPolicy, t: number, closedEnd: boolean): boolean {
  const day = localDay(c, t);
  for (let d = day - 2; d <= day + 1; d++) {
    for (const [s, e] of windowsOpeningOn(c, d)) {
      if (t >= s && (t < e || (closedEnd && t === e))) return true;
    }
  }
  return false;
}

/** The earliest window opening strictly after `t` and no later than `limit`, or null. */
function nextWindowOpening(c: CompiledPolicy, t: number, limit: number): number | null {
  const lastDay = localDay(c, limit) + 1;
  let best: number | null = null;
  for (let d = localDay(c, t) - 2; d <= lastDay; d++) {
    for (const [s] of windowsOpeningOn(c, d)) {
      if (s > t && s <= limit && (best === null || s < best)) best = s;
    }
    // A window opens before the end of its own local day, so openings of later days are later: once one
    // is found, a day more is looked at (for DST oddities) and the search stops.
    if (best !== null && d > localDay(c, best) + 1) break;
  }
  return best;
}

function freezesContaining(c: CompiledPolicy, t: number, open: boolean): CompiledFreeze[] {
  return c.freezes.filter((f) => (open ? f.from < t && t < f.to : f.from <= t && t < f.to));
}

// ---------------------------------------------------------------------------------------------------------
// Messages.

function formatInstantIso(c: CompiledPolicy, t: number): string {
  return DateTime.fromMillis(t, { zone: c.zone }).toISO({ suppressMilliseconds: true }) as string;
}

function formatLocal(c: CompiledPolicy, t: number): string {
  return `${DateTime.fromMillis(t, { zone: c.zone }).setLocale('en-US').toFormat('ccc HH:mm')} ${c.tz}`;
}

function compressDays(days: readonly Day[]): string {
  const idx = [...new Set(days.map((d) => DAYS.indexOf(d)))].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && (idx[j + 1] as number) === (idx[j] as number) + 1) j++;
    const first = DAYS[idx[i] as number] as string;
    const last = DAYS[idx[j] as number] as string;
    if (j - i >= 2) parts.push(`${first}-${last}`);
    else for (let k = i; k <= j; k++) parts.push(DAYS[idx[k] as number] as string);
    i = j + 1;
  }
  return parts.join(',');
}

/** The allow windows in one short line, e.g. `Mon-Thu 09:00-16:00`; several windows are joined by `; `. */
export function describePolicyWindows(policy: PolicySpec): string {
  return policy.allow.map((w) => `${compressDays(w.days)} ${w.hours}`).join('; ');
}

function outsideWindowReason(c: CompiledPolicy, t: number): WaitReason {
  const next = nextWindowOpening(c, t, t + SEARCH_HORIZON_DAYS * DAY);
  const reason: WaitReason = {
    kind: 'outside-window',
    message: `${formatLocal(c, t)} is outside the allowed windows (${c.description})`,
  };
  if (next !== null) reason.nextWindowStart = formatInstantIso(c, next);
  return reason;
}

function freezeReason(c: CompiledPolicy, f: CompiledFreeze): WaitReason {
  const until = formatInstantIso(c, f.to);
  return { kind: 'freeze', reason: f.reason, until, message: `${f.reason} until ${until}` };
}

function bakeOutsideWindowReason(c: CompiledPolicy, t: number, bakeMs: number): WaitReason {
  return {
    kind: 'bake-ends-outside-window',
    message:
      `a ${formatDuration(bakeMs)} bake starting ${formatLocal(c, t)} would end ${formatLocal(c, t + bakeMs)}, ` +
      `outside the allowed windows (${c.description})`,
  };
}

function bakeInFreezeReason(c: CompiledPolicy, t: number, bakeMs: number, f: CompiledFreeze): WaitReason {
  return {
    kind: 'bake-ends-outside-window',
    message:
      `a ${formatDuration(bakeMs)} bake starting ${formatLocal(c, t)} would end ${formatLocal(c, t + bakeMs)}, ` +
      `during the ${f.reason} (until ${formatInstantIso(c, f.to)})`,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Decisions.

function ringStartReasons(c: CompiledPolicy, t: number, bakeMs: number): WaitReason[] {
  const reasons: WaitReason[] = [];
  for (const f of freezesContaining(c, t, false)) reasons.push(freezeReason(c, f));
  if (!inWindow(c, t, false)) reasons.push(outsideWindowReason(c, t));
  if (c.requireBakeWithinWindow) {
    const end = t + bakeMs;
    const frozen = freezesContaining(c, end, true);
    for (const f of frozen) reasons.push(bakeInFreezeReason(c, t, bakeMs, f));
    if (!inWindow(c, end, true)) reasons.push(bakeOutsideWindowReason(c, t, bakeMs));
  }
  return reasons;
}

/**
 * May `kind` happen at `instant` under `policy`? Only `ring-start` consults the policy; every other action
 * is allowed whatever the policy says. `bakeMs` (default 0) matters only with requireBakeWithinWindow.
 */
export function isAllowed(
  policy: PolicySpec,
  instant: Date,
  kind: ActionKind,
  opts?: { bakeMs?: number },
): Allowance {
  switch (kind) {
    case 'ring-start': {
      const reasons = ringStartReasons(compile(policy), instant.getTime(), opts?.bakeMs ?? 0);
      return reasons.length === 0 ? ALLOWED : { allowed: false, reasons };
    }
    case 'halt':
    case 'rollback':
    case 'kill-switch':
    case 'pause':
    case 'abort':
    case 'resume-hold':
      return ALLOWED;
    default: {
      const unknown: never = kind;
      throw new Error(`unknown action kind ${String(unknown)}`);
    }
  }
}

/** Collects wait reasons met along a search, once each. */
class ReasonLog {
  private readonly seen = new Set<string>();
  readonly reasons: WaitReason[] = [];
  add(key: string, make: () => WaitReason): void {
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.reasons.push(make());
  }
}

/**
 * The earliest instant >= `instant` at which a ring with minimum bake `bakeMs` may start, with every reason it
 * had to wait for (deduplicated: one outside-window reason, one per freeze). Steps from boundary to boundary
 * (window openings, freeze ends), so it is exact to the millisecond. Gives up after SEARCH_HORIZON_DAYS.
 */
export function nextAllowedStart(
  policy: PolicySpec,
  instant: Date,
  bakeMs: number,
): { start: Date; waitReasons: WaitReason[] } | { start: null; waitReasons: WaitReason[] } {
  const c = compile(policy);
  const origin = instant.getTime();
  const horizon = origin + SEARCH_HORIZON_DAYS * DAY;
  const log = new ReasonLog();
  const giveUp = (): { start: null; waitReasons: WaitReason[] } => {
    log.add('none', () => ({
      kind: 'no-allowed-start',
      message: `no allowed start within ${SEARCH_HORIZON_DAYS} days of ${formatInstantIso(c, origin)}`,
    }));
    return { start: null, waitReasons: log.reasons };
  };
  let t = origin;
  for (;;) {
    if (t > horizon) return giveUp();
    const frozen = freezesContaining(c, t, false);
    if (frozen.length > 0) {
      for (const f of frozen) log.add(`freeze:${f.index}`, () => freezeReason(c, f));
      t = Math.max(...frozen.map((f) => f.to));
      continue;
    }
    if (!inWindow(c, t, false)) {
      const at = t;
      log.add('outside-window', () => outsideWindowReason(c, at));
      const next = nextWindowOpening(c, t, horizon);
      if (next === null) return giveUp();
      t = next;
      continue;
    }
    if (c.requireBakeWithinWindow) {
      const at = t;
      const end = t + bakeMs;
      const bakeFrozen = freezesContaining(c, end, true);
      if (bakeFrozen.length > 0) {
        for (const f of bakeFrozen) log.add(`bake-freeze:${f.index}`, () => bakeInFreezeReason(c, at, bakeMs, f));
        t = Math.max(...bakeFrozen.map((f) => f.to)) - bakeMs;
        continue;
      }
      if (!inWindow(c, end, true)) {
        log.add('bake-window', () => bakeOutsideWindowReason(c, at, bakeMs));
        const next = nextWindowOpening(c, end, horizon + bakeMs);
        if (next === null) return giveUp();
        t = next - bakeMs;
        continue;
      }
    }
    return { start: new Date(t), waitReasons: log.reasons };
  }
}

/** An instant as ISO 8601 in the policy's zone with its offset, e.g. `2026-11-30T09:00:00.000-05:00`. */
export function formatInPolicyZone(policy: PolicySpec, instant: Date): string {
  return DateTime.fromMillis(instant.getTime(), { zone: policy.timezone }).toISO() as string;
}
