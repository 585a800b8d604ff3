/**
 * The engine benchmark reads wrk's output and the server's reconcile histogram; a misread figure would be a
 * wrong published number, so the parsers are checked on real output: wrk 4.1.0 runs captured on this machine,
 * and the exposition text of the real Telemetry (prom-client).
 */
import { bucketQuantileBound, histogramDelta, parseHistogram, parseWrk, wrkTimeMs } from '../../bench/engine/parse';
import { percentile, summarize } from '../../bench/engine/stats';
import { Telemetry } from '../../controller/telemetry/metrics';

// `wrk --latency -t1 -c50 -d3s` against a server that stalls 300 ms every 5,000 requests and 404s 1 in 777.
const WRK_STALLS = `Running 3s test @ http://127.0.0.1:18555/x
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    52.12ms   86.56ms 304.54ms   81.98%
    Req/Sec    13.11k    10.22k   37.65k    65.00%
  Latency Distribution
     50%    2.13ms
     75%   73.93ms
     90%  211.45ms
     99%  296.24ms
  29999 requests in 3.03s, 3.63MB read
  Non-2xx or 3xx responses: 38
Requests/sec:   9891.19
Transfer/sec:      1.20MB
`;

// The same against a server that stalls once for 2.5 s: wrk's default 2 s timeout drops those 50 requests.
const WRK_TIMEOUTS = `Running 4s test @ http://127.0.0.1:18556/x
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.98ms    6.97ms 149.47ms   97.83%
    Req/Sec    18.35k    10.59k   38.88k    68.75%
  Latency Distribution
     50%    1.48ms
     75%    3.17ms
     90%    5.57ms
     99%   29.91ms
  30457 requests in 4.02s, 3.69MB read
  Socket errors: connect 0, read 0, write 0, timeout 50
Requests/sec:   7571.46
Transfer/sec:      0.92MB
`;

describe('engine bench: wrk output', () => {
  it('reads percentiles, max, rate and non-2xx responses in ms', () => {
    const r = parseWrk(WRK_STALLS);
    expect(r).toMatchObject({ requests: 29999, durationS: 3.03, reqPerSec: 9891, p50ms: 2.13, p75ms: 73.93, p90ms: 211.45, p99ms: 296.24, maxMs: 304.54, meanMs: 52.12, non2xx3xx: 38 });
    expect(r.socketErrors).toEqual({ connect: 0, read: 0, write: 0, timeout: 0 });
  });

  it('reads socket timeouts, which wrk leaves out of its latency figures', () => {
    const r = parseWrk(WRK_TIMEOUTS);
    expect(r.socketErrors.timeout).toBe(50);
    expect(r.maxMs).toBe(149.47);
    expect(r.non2xx3xx).toBe(0);
  });

  it('converts every time unit wrk prints', () => {
    expect(wrkTimeMs('310.23us')).toBeCloseTo(0.31023, 6);
    expect(wrkTimeMs('1.47ms')).toBe(1.47);
    expect(wrkTimeMs('2.01s')).toBe(2010);
    expect(wrkTimeMs('1.50m')).toBe(90_000);
  });

  it('names the missing line when the output is not a wrk report', () => {
    expect(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused\n')).toThrow(/no Thread Stats Latency line/);
  });
});

describe('engine bench: the reconcile histogram from /metrics', () => {
  it('reads what the real Telemetry exposes and bounds its quantiles by bucket', async () => {
    const t = new Telemetry({ defaultMetrics: false });
    t.reconcileDuration(0.0004);
    const before = parseHistogram(await t.metrics(), 'ringmaster_reconcile_duration_seconds');
    for (let i = 0; i < 98; i++) t.reconcileDuration(0.003); // in (0.0025, 0.005]
    t.reconcileDuration(0.2); // (0.1, 0.25]
    t.reconcileDuration(7); // past the last finite bucket (5)
    const after = parseHistogram(await t.metrics(), 'ringmaster_reconcile_duration_seconds');
    expect(after.count).toBe(101);
    const d = histogramDelta(before, after);
    expect(d.count).toBe(100);
    expect(d.sum).toBeCloseTo(98 * 0.003 + 0.2 + 7, 9);
    expect(bucketQuantileBound(d, 0.5)).toBe(0.005);
    expect(bucketQuantileBound(d, 0.99)).toBe(0.25);
    expect(bucketQuantileBound(d, 1)).toBe(Infinity);
  });

  it('says which histogram is missing', () => {
    expect(() => parseHistogram('# nothing here\n', 'ringmaster_reconcile_duration_seconds')).toThrow('/metrics has no histogram ringmaster_reconcile_duration_seconds');
  });
});

describe('engine bench: summaries', () => {
  it('reports nearest-rank percentiles, each one a measured sample', () => {
    const samples = Array.from({ length: 200 }, (_, i) => i + 1); // 1..200
    expect(percentile(samples, 0.5)).toBe(100);
    expect(percentile(samples, 0.99)).toBe(198);
    expect(summarize(samples.reverse())).toEqual({ n: 200, p50: 100, p95: 190, p99: 198, max: 200, mean: 100.5 });
  });
});
