/**
 * The one parser of policy times: time zones, `hours: "HH:MM-HH:MM"` and freeze bounds (`2026-12-19T00:00:00`,
 * local to the policy's zone, or with `Z` / `+hh:mm`). spec/semantic.ts validates documents with it (its messages)
 * and policy/windows.ts compiles policies with it (its numbers), so a time the validator accepts is the time the
 * windows use. Pure: luxon's IANAZone gives UTC offsets; nothing reads a clock.
 *
 * Conversion of local wall-clock times (the DST rules that test/unit/windows-dst.test.ts pins down): a local time
 * that occurs twice (fall-back) is its EARLIEST occurrence; one that does not exist (spring-forward) is the first
 * instant after the gap, the transition itself.
 *
 * Speed: the offset of a zone is cached per whole UTC hour (bounded), so the window search of `plan` and of every
 * reconcile tick costs a Map lookup per conversion, not a tz database walk (bench/ depends on it).
 */
import { IANAZone } from 'luxon';

const MINUTE = 60_000;
const HOUR = 3_600_000;

const HOURS_RE = /^([01][0-9]|2[0-3]):([0-5][0-9])-(?:([01][0-9]|2[0-3]):([0-5][0-9])|(24):(00))$/;
const DATETIME_RE =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$/;

export type PolicyZone = IANAZone;

/** The zone of a name isKnownZone accepted. */
export function zoneNamed(name: string): PolicyZone {
  return IANAZone.create(name);
}

/** An IANA time zone name this runtime knows (Node's Intl has the full database). */
export function isKnownZone(name: string): boolean {
  return IANAZone.isValidZone(name);
}

/**
 * `"09:00-16:00"` as minutes after local midnight, as written: `24:00` is 1440; the end may be before or equal to the
 * start (the caller decides what that means). Null when it is not HH:MM-HH:MM.
 */
export function parseHoursRange(hours: string): { startMin: number; endMin: number } | null {
  const m = HOURS_RE.exec(hours);
  if (!m) return null;
  const startMin = Number(m[1]) * 60 + Number(m[2]);
  const endMin = m[5] !== undefined ? 1440 : Number(m[3]) * 60 + Number(m[4]);
  return { startMin, endMin };
}

/**
 * Per zone, the UTC offset of each whole UTC hour whose first and last millisecond have the same offset (an hour
 * holds at most one transition, so then none), bounded; an hour with a transition in it is computed each time.
 */
const offsetCache = new WeakMap<IANAZone, Map<number, number>>();
const OFFSET_CACHE_LIMIT = 4096;

/** The zone's UTC offset at instant `t`, in milliseconds. */
export function offsetMs(zone: IANAZone, t: number): number {
  let hours = offsetCache.get(zone);
  if (hours === undefined) {
    hours = new Map();
    offsetCache.set(zone, hours);
  }
  const h = Math.floor(t / HOUR);
  const hit = hours.get(h);
  if (hit !== undefined) return hit;
  const first = zone.offset(h * HOUR);
  if (first !== zone.offset(h * HOUR + HOUR - 1)) return zone.offset(t) * MINUTE;
  if (hours.size >= OFFSET_CACHE_LIMIT) hours.clear();
  hours.set(h, first * MINUTE);
  return first * MINUTE;
}

/**
 * The instant of a local wall-clock time, given as "local epoch" milliseconds (the wall-clock fields read as
 * if they were UTC). Ambiguous times map to the earliest occurrence; skipped times to the end of the gap.
 */
export function localToInstant(zone: IANAZone, localMs: number): number {
  const offsets = new Set([offsetMs(zone, localMs - 36 * HOUR), offsetMs(zone, localMs), offsetMs(zone, localMs + 36 * HOUR)]);
  let best: number | null = null;
  for (const o of offsets) {
    const t = localMs - o;
    if (offsetMs(zone, t) === o && (best === null || t < best)) best = t;
  }
  if (best !== null) return best;
  // In a gap: the first instant whose wall-clock time is >= localMs is the transition itself.
  let lo = localMs - Math.max(...offsets); // wall clock before localMs here
  let hi = localMs - Math.min(...offsets); // wall clock after localMs here
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (mid + offsetMs(zone, mid) >= localMs) hi = mid;
    else lo = mid;
  }
  return hi;
}

export type PolicyTime = { ok: true; ms: number } | { ok: false; why: string };

/** A freeze bound: absolute with Z/offset, otherwise local in `zone` (a date alone is local midnight). */
export function readPolicyTime(text: string, zone: IANAZone): PolicyTime {
  const m = DATETIME_RE.exec(text);
  if (!m) return { ok: false, why: 'not YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|+hh:mm]' };
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) => (x === undefined ? 0 : Number(x))) as [number, number, number, number, number, number];
  const fraction = m[7] === undefined ? 0 : Math.round(Number(`0.${m[7]}`) * 1000);
  if (mo < 1 || mo > 12) return { ok: false, why: `there is no month ${mo}` };
  if (h > 23 || mi > 59 || s > 59) return { ok: false, why: `there is no time ${m[4] ?? '00'}:${m[5] ?? '00'}:${m[6] ?? '00'} (hours 00-23, minutes and seconds 00-59)` };
  const local = Date.UTC(y, mo - 1, d, h, mi, s, fraction);
  const check = new Date(local);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) {
    const last = new Date(Date.UTC(y, mo, 0)).getUTCDate();
    return { ok: false, why: `day ${d} does not exist in ${y}-${String(mo).padStart(2, '0')} (it has ${last} days)` };
  }
  const tz = m[8];
  if (tz === undefined) return { ok: true, ms: localToInstant(zone, local) };
  if (tz === 'Z') return { ok: true, ms: local };
  const sign = tz.startsWith('-') ? -1 : 1;
  const oh = Number(tz.slice(1, 3));
  const om = Number(tz.slice(4, 6));
  if (oh > 23 || om > 59) return { ok: false, why: `the offset ${tz} is out of range` };
  return { ok: true, ms: local - sign * (oh * HOUR + om * MINUTE) };
}

/** readPolicyTime as a number, null when it is not a real date-time. */
export function parsePolicyTime(text: string, zone: IANAZone): number | null {
  const r = readPolicyTime(text, zone);
  return r.ok ? r.ms : null;
}
