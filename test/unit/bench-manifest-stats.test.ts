import { countCacheStatuses, nginxConfig, nobodyIds, proxyCacheValidS } from '../../bench/manifest/nginx';
import {
  cacheStalenessVerdict,
  counterBy,
  delta,
  dominantResponse,
  judgeRows,
  killSwitchVerdict,
  markdownTable,
  median,
  parseWrkJson,
  summarize,
  total,
  type RoundResult,
  type WrkStats,
} from '../../bench/manifest/stats';

const LINE =
  'WRKJSON {"requests":240000,"durationUs":8000000,"bytes":51120000,"p50Us":2100,"p90Us":3500,"p99Us":9000,"maxUs":40000,' +
  '"errors":{"connect":0,"read":1,"write":0,"status":2,"timeout":3}}';

function stats(requests: number, seconds: number, bytesPer = 213, p99Us = 5000): WrkStats {
  return { requests, durationUs: seconds * 1e6, bytes: requests * bytesPer, p50Us: 2000, p90Us: 3000, p99Us, maxUs: 10000, errors: { connect: 0, read: 0, write: 0, status: 0, timeout: 0 } };
}

describe('bench/manifest: wrk report', () => {
  it('parses the WRKJSON line among wrk output', () => {
    const s = parseWrkJson(`Running 8s test @ http://127.0.0.1:1/x\n  1 threads and 100 connections\n${LINE}\n`);
    expect(s.requests).toBe(240000);
    expect(s.p99Us).toBe(9000);
    expect(s.errors).toEqual({ connect: 0, read: 1, write: 0, status: 2, timeout: 3 });
  });

  it('refuses output without the line, or with a field missing', () => {
    expect(() => parseWrkJson('Requests/sec: 1000\n')).toThrow(/no WRKJSON/);
    expect(() => parseWrkJson('WRKJSON {"requests":1}\n')).toThrow(/durationUs/);
  });

  it('tells 304s from 200s by bytes per response', () => {
    expect(dominantResponse(stats(1000, 1, 213), 1096, 213)).toBe('304');
    expect(dominantResponse(stats(1000, 1, 1100), 1096, 213)).toBe('200');
    expect(dominantResponse(stats(0, 1), 1096, 213)).toBeNull();
  });
});

describe('bench/manifest: rounds', () => {
  it('median of odd and even lists', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(Number.isNaN(median([]))).toBe(true);
  });

  it('pairs each server with raw of the same round and takes the median of the ratios', () => {
    const results: RoundResult[] = [
      { round: 0, server: 'raw', response: '304', stats: stats(50_000, 1), seen: '304' },
      { round: 0, server: 'ringmaster', response: '304', stats: stats(40_000, 1), seen: '304', upstream: 40_000 },
      { round: 1, server: 'raw', response: '304', stats: stats(20_000, 1), seen: '304' },
      { round: 1, server: 'ringmaster', response: '304', stats: stats(18_000, 1), seen: '304', upstream: 18_000 },
      { round: 2, server: 'raw', response: '304', stats: stats(40_000, 1), seen: '304' },
      { round: 2, server: 'ringmaster', response: '304', stats: stats(20_000, 1), seen: '304', upstream: 20_000 },
    ];
    const rows = summarize(results);
    const raw = rows.find((r) => r.server === 'raw');
    const rm = rows.find((r) => r.server === 'ringmaster');
    expect(raw?.ratioToRaw).toBe(1);
    expect(rm?.roundsRatioToRaw).toEqual([0.8, 0.9, 0.5]);
    expect(rm?.ratioToRaw).toBe(0.8); // the median of the paired ratios, not the ratio of the medians (20k / 40k)
    expect(rm?.reqPerSec).toBe(20_000);
    expect(rm?.responsesAsExpected).toBe(true);
    expect(markdownTable(rows)).toContain('| ringmaster | 304 | 20000 | 40000, 18000, 20000 |');
  });

  it('judges the 304 targets and flags runs that got the wrong answer', () => {
    const mk = (rm: number, raw: number, seen: '200' | '304'): RoundResult[] => [
      { round: 0, server: 'raw', response: '304', stats: stats(raw, 1), seen: '304' },
      { round: 0, server: 'ringmaster', response: '304', stats: stats(rm, 1), seen },
    ];
    expect(judgeRows(summarize(mk(30_000, 35_000, '304'))).map((v) => v.pass)).toEqual([true, true]);
    expect(judgeRows(summarize(mk(19_000, 20_000, '304'))).map((v) => v.pass)).toEqual([false, true]);
    expect(judgeRows(summarize(mk(30_000, 40_000, '304'))).map((v) => v.pass)).toEqual([true, false]);
    expect(judgeRows(summarize(mk(30_000, 31_000, '200'))).map((v) => v.pass)).toEqual([false, false]);
  });

  it('kill-switch bounds: TTL + one agent poll, and the cache staleness seen by the poller', () => {
    expect(killSwitchVerdict(5.1, 5, 60).pass).toBe(true);
    expect(killSwitchVerdict(66, 5, 60).pass).toBe(false);
    expect(killSwitchVerdict(null, 5, 60).pass).toBe(false);
    expect(cacheStalenessVerdict(5.4, 5, 100).pass).toBe(true);
    expect(cacheStalenessVerdict(6.1, 5, 100).pass).toBe(false);
  });
});

describe('bench/manifest: the controller counter', () => {
  const text = [
    '# HELP ringmaster_http_requests_total HTTP requests by route pattern and status code',
    '# TYPE ringmaster_http_requests_total counter',
    'ringmaster_http_requests_total{route="/v1/channels/:channel/manifest",code="200"} 12',
    'ringmaster_http_requests_total{code="304",route="/v1/channels/:channel/manifest"} 30',
    'ringmaster_http_requests_total{route="/metrics",code="200"} 4',
    'ringmaster_http_requests_total_other{route="/v1/channels/:channel/manifest",code="200"} 99',
  ].join('\n');

  it('sums one route by code, whatever the label order', () => {
    const c = counterBy(text, 'ringmaster_http_requests_total', { route: '/v1/channels/:channel/manifest' }, 'code');
    expect(c).toEqual({ '200': 12, '304': 30 });
    expect(total(c)).toBe(42);
  });

  it('increase between two scrapes', () => {
    expect(delta({ '200': 12, '304': 30 }, { '200': 13, '304': 130, '404': 1 })).toEqual({ '200': 1, '304': 100, '404': 1 });
  });
});

describe('bench/manifest: the nginx recipe', () => {
  const conf = nginxConfig({ dir: '/tmp/x', listenPort: 8081, upstreamPort: 8080, ttlS: 5, workers: 1 });

  it('caches the manifest by URI for TTL - 1 s (whole-second freshness), revalidates, locks, serves stale while updating', () => {
    expect(proxyCacheValidS(5)).toBe(4);
    expect(() => proxyCacheValidS(1)).toThrow();
    for (const d of [
      'proxy_cache_key $uri;',
      'proxy_cache_valid 200 4s;',
      'proxy_cache_revalidate on;',
      'proxy_cache_lock on;',
      'proxy_ignore_headers Cache-Control Expires;',
      'proxy_hide_header X-Request-Id;',
      'server 127.0.0.1:8080;',
      'listen 127.0.0.1:8081;',
      'pid /tmp/x/nginx.pid;',
    ]) {
      expect(conf).toContain(d);
    }
    expect(conf).toMatch(/proxy_cache_use_stale updating/);
    // Nothing the agents need is hidden: the signature and the ETag pass through.
    expect(conf).not.toMatch(/proxy_hide_header (ETag|X-Ringmaster)/i);
  });

  it('reads nobody from /etc/passwd, and counts cache statuses', () => {
    expect(nobodyIds('root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n')).toEqual({ uid: 65534, gid: 65534 });
    expect(nobodyIds('root:x:0:0::/:/bin/sh\n')).toBeNull();
    expect(countCacheStatuses('HIT 200\nHIT 304\nSTALE 200\n- 404\n')).toEqual({ HIT: 2, STALE: 1, '-': 1 });
  });
});
