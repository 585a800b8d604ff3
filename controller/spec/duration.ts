/** Durations as written in documents: `30m`, `2h`, `1d`, `1h30m`, `500ms`, `1w`. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PART = /([0-9]+)(ms|s|m|h|d|w)/g;

/** Milliseconds of a duration string, or an error message naming what is wrong. */
export function parseDuration(text: string): { ok: true; ms: number } | { ok: false; message: string } {
  if (typeof text !== 'string' || !/^([0-9]+(ms|s|m|h|d|w))+$/.test(text)) {
    return { ok: false, message: `invalid duration ${JSON.stringify(text)} (use e.g. 30s, 30m, 2h, 1d, 1h30m)` };
  }
  let ms = 0;
  for (const m of text.matchAll(PART)) ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  if (!Number.isSafeInteger(ms)) return { ok: false, message: `duration ${JSON.stringify(text)} is too large` };
  return { ok: true, ms };
}

/** Milliseconds of a duration already validated by the schema; throws (a bug) otherwise. */
export function durationMs(text: string): number {
  const r = parseDuration(text);
  if (!r.ok) throw new Error(r.message);
  return r.ms;
}

/** Compact human form: 90061000 -> "1d1h1m1s". */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  if (parts.length === 0) return `${rest}ms`;
  return parts.join('');
}
