/**
 * Parsers for what the engine benchmark reads from real tools: `wrk --latency` output, and a Prometheus
 * histogram in the text exposition format (the server's own `ringmaster_reconcile_duration_seconds`).
 * Pure functions, unit-tested on output captured from the real binaries.
 */

export interface WrkResult {
  requests: number;
  durationS: number;
  reqPerSec: number;
  /** Latency percentiles and max as wrk reports them, ms. */
  p50ms: number;
  p75ms: number;
  p90ms: number;
  p99ms: number;
  maxMs: number;
  meanMs: number;
  non2xx3xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
}

const TIME_UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "1.47ms" / "310.23us" / "2.01s" -> ms. */
export function wrkTimeMs(text: string): number {
  const m = /^([0-9.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`wrk: cannot read the time ${JSON.stringify(text)}`);
  // to the nanosecond, finer than wrk prints (and no 2009.9999999999998 for "2.01s")
  return Math.round(Number(m[1]) * (TIME_UNIT_MS[m[2] as string] as number) * 1e6) / 1e6;
}

/** Reads `wrk --latency` output; throws naming the line that is missing. */
export function parseWrk(out: string): WrkResult {
  const need = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(out);
    if (!m) throw new Error(`wrk: no ${what} line in its output: ${JSON.stringify(out.slice(0, 400))}`);
    return m;
  };
  const lat = need(/^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+\s*$/m, 'Thread Stats Latency');
  const pct = (p: number): number => wrkTimeMs(need(new RegExp(`^\\s*${p}%\\s+(\\S+)\\s*$`, 'm'), `${p}% latency`)[1] as string);
  const total = need(/^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h),/m, 'requests');
  const rps = need(/^Requests\/sec:\s+([0-9.]+)/m, 'Requests/sec');
  const non = /^\s*Non-2xx or 3xx responses:\s+(\d+)/m.exec(out);
  const sock = /^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/m.exec(out);
  return {
    requests: Number(total[1]),
    durationS: wrkTimeMs(`${total[2]}${total[3]}`) / 1000,
    reqPerSec: Math.round(Number(rps[1])),
    p50ms: pct(50),
    p75ms: pct(75),
    p90ms: pct(90),
    p99ms: pct(99),
    maxMs: wrkTimeMs(lat[3] as string),
    meanMs: wrkTimeMs(lat[1] as string),
    non2xx3xx: non ? Number(non[1]) : 0,
    socketErrors: sock
      ? { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
  };
}

export interface Histogram {
  /** Cumulative counts by upper bound (seconds), ascending, ending with +Inf. */
  buckets: Array<{ le: number; count: number }>;
  sum: number;
  count: number;
}

/** The histogram `name` (without labels other than le) from a Prometheus text exposition. */
export function parseHistogram(text: string, name: string): Histogram {
  const buckets: Array<{ le: number; count: number }> = [];
  let sum = NaN;
  let count = NaN;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}_bucket{`)) {
      const m = /le="([^"]+)"\}\s+(\S+)/.exec(line);
      if (m) buckets.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: Number(m[2]) });
    } else if (line.startsWith(`${name}_sum `)) sum = Number(line.slice(name.length + 5));
    else if (line.startsWith(`${name}_count `)) count = Number(line.slice(name.length + 7));
  }
  if (buckets.length === 0 || !Number.isFinite(count)) throw new Error(`/metrics has no histogram ${name}`);
  buckets.sort((a, b) => a.le - b.le);
  return { buckets, sum, count };
}

/** What was observed between two scrapes of the same histogram. */
export function histogramDelta(before: Histogram, after: Histogram): Histogram {
  return {
    buckets: after.buckets.map((b) => ({ le: b.le, count: b.count - (before.buckets.find((x) => x.le === b.le)?.count ?? 0) })),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

/**
 * The upper bound of the bucket holding quantile q: "q of the observations were at most this" (seconds).
 * A histogram cannot say more; Infinity when the quantile is past the last finite bucket, NaN when empty.
 */
export function bucketQuantileBound(h: Histogram, q: number): number {
  if (h.count <= 0) return NaN;
  const rank = Math.ceil(q * h.count);
  for (const b of h.buckets) if (b.count >= rank) return b.le;
  return Infinity;
}
