/**
 * PrometheusProvider and observeMetric against a loopback fake of the Prometheus HTTP API: parsing, no-data vs
 * error, retries (5xx and network, never 4xx), per-attempt timeouts and the hard per-call deadline, aborts, size
 * limits, auth, and credentials kept out of errors.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { builtinQueries, observeMetric, renderTemplate } from '../../controller/analysis/observe';
import { PrometheusProvider } from '../../controller/analysis/prometheus';
import type { RingContext } from '../../controller/analysis/types';

type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;

async function fake(handler: Handler): Promise<{ url: string; calls: Array<{ url: string; body: string; auth: string | undefined }>; close: () => Promise<void> }> {
  const calls: Array<{ url: string; body: string; auth: string | undefined }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      calls.push({ url: req.url ?? '', body, auth: req.headers.authorization });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const json = (res: http.ServerResponse, status: number, body: unknown): void => {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
};
const vector = (values: string[]) => ({ status: 'success', data: { resultType: 'vector', result: values.map((v) => ({ metric: {}, value: [1, v] })) } });
const AT = new Date('2026-11-30T14:10:00Z');

describe('PrometheusProvider.query', () => {
  test.each([
    ['one sample', vector(['12.5']), { kind: 'value', value: 12.5 }],
    ['empty vector', vector([]), { kind: 'no-data', reason: 'empty vector (no series matched)' }],
    ['NaN', vector(['NaN']), { kind: 'no-data', reason: 'the query returned NaN' }],
    ['+Inf', vector(['+Inf']), { kind: 'no-data', reason: 'the query returned +Inf' }],
    ['scalar', { status: 'success', data: { resultType: 'scalar', result: [1, '3'] } }, { kind: 'value', value: 3 }],
    ['two series', vector(['1', '2']), { kind: 'error', message: expect.stringMatching(/2 series, expected 1/) }],
    ['a matrix', { status: 'success', data: { resultType: 'matrix', result: [] } }, { kind: 'error', message: expect.stringMatching(/unsupported result type "matrix"/) }],
    ['garbage value', vector(['abc']), { kind: 'error', message: expect.stringMatching(/not a number/) }],
  ])('%s', async (_name, body, expected) => {
    const f = await fake((_req, _b, res) => json(res, 200, body));
    const p = new PrometheusProvider({ url: f.url });
    try {
      expect(await p.query('up', AT)).toEqual(expected);
      expect(f.calls[0]?.body).toBe(`query=up&time=${AT.getTime() / 1000}.000`);
    } finally {
      p.close();
      await f.close();
    }
  });

  test('retries a 503 and a dropped connection, then succeeds', async () => {
    let n = 0;
    const f = await fake((req, _b, res) => {
      n++;
      if (n === 1) json(res, 503, { status: 'error', error: 'overloaded' });
      else if (n === 2) req.socket.destroy();
      else json(res, 200, vector(['1']));
    });
    const p = new PrometheusProvider({ url: f.url, retries: 2, retryBackoffMs: 10 });
    try {
      expect(await p.query('up', AT)).toEqual({ kind: 'value', value: 1 });
      expect(n).toBe(3);
    } finally {
      p.close();
      await f.close();
    }
  });

  test('a 400 is not retried and carries Prometheus’s message', async () => {
    const f = await fake((_req, _b, res) => json(res, 400, { status: 'error', errorType: 'bad_data', error: 'parse error at char 5: unexpected "}"' }));
    const p = new PrometheusProvider({ url: f.url, retries: 3, retryBackoffMs: 10 });
    try {
      expect(await p.query('sum(}', AT)).toEqual({ kind: 'error', message: 'prometheus: bad_data: parse error at char 5: unexpected "}"' });
      expect(f.calls).toHaveLength(1);
    } finally {
      p.close();
      await f.close();
    }
  });

  test('gives up after the retries on persistent 5xx', async () => {
    const f = await fake((_req, _b, res) => json(res, 502, {}));
    const p = new PrometheusProvider({ url: f.url, retries: 2, retryBackoffMs: 5 });
    try {
      expect(await p.query('up', AT)).toEqual({ kind: 'error', message: `prometheus: POST ${f.url}/api/v1/query: HTTP 502 (after 3 attempts)` });
      expect(f.calls).toHaveLength(3);
    } finally {
      p.close();
      await f.close();
    }
  });

  test('times out per attempt, and does not wait forever', async () => {
    const f = await fake(() => undefined);
    const p = new PrometheusProvider({ url: f.url, timeoutMs: 1000, attemptTimeoutMs: 150, retries: 1, retryBackoffMs: 10 });
    const t0 = Date.now();
    try {
      const r = await p.query('up', AT);
      expect(r).toEqual({ kind: 'error', message: `prometheus: POST ${f.url}/api/v1/query: timed out after 150 ms (after 2 attempts)` });
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      p.close();
      await f.close();
    }
  });

  test('timeoutMs is a hard deadline of the whole call: a hung server is not retried past it', async () => {
    const f = await fake(() => undefined);
    const p = new PrometheusProvider({ url: f.url, timeoutMs: 400, retries: 5, retryBackoffMs: 10 });
    const t0 = Date.now();
    try {
      const [a, b] = await Promise.all([p.query('up', AT), p.isOnline()]);
      const ms = Date.now() - t0;
      expect(a).toEqual({ kind: 'error', message: `prometheus: POST ${f.url}/api/v1/query: timed out after 400 ms` });
      expect(b).toBe(`prometheus: GET ${f.url}/-/ready: timed out after 400 ms`);
      expect(ms).toBeGreaterThanOrEqual(390);
      expect(ms).toBeLessThan(1400);
    } finally {
      p.close();
      await f.close();
    }
  });

  test('an AbortSignal ends a query at once', async () => {
    const f = await fake(() => undefined);
    const p = new PrometheusProvider({ url: f.url, timeoutMs: 10_000 });
    const t0 = Date.now();
    try {
      const r = await p.query('up', AT, { signal: AbortSignal.timeout(100) });
      expect(r).toEqual({ kind: 'error', message: `prometheus: POST ${f.url}/api/v1/query: aborted` });
      expect(Date.now() - t0).toBeLessThan(1000);
    } finally {
      p.close();
      await f.close();
    }
  });

  test('garbage and oversized bodies are errors', async () => {
    const f = await fake((req, _b, res) => (req.url?.startsWith('/big') ? res.end('x'.repeat(5000)) : res.end('<html>')));
    const p = new PrometheusProvider({ url: f.url, retries: 0 });
    const big = new PrometheusProvider({ url: `${f.url}/big`, retries: 0, maxResponseBytes: 1000 });
    try {
      expect(await p.query('up', AT)).toEqual({ kind: 'error', message: `prometheus: POST ${f.url}/api/v1/query: HTTP 200 with a body that is not JSON` });
      expect(await big.query('up', AT)).toEqual({ kind: 'error', message: `prometheus: POST ${f.url}/big/api/v1/query: response larger than 1000 bytes` });
      expect(f.calls.some((c) => c.url === '/big/api/v1/query')).toBe(true);
    } finally {
      p.close();
      big.close();
      await f.close();
    }
  });

  test('sends bearer or basic credentials and never puts them in an error', async () => {
    const f = await fake((_req, _b, res) => json(res, 500, { status: 'error', error: 'boom' }));
    const bearer = new PrometheusProvider({ url: f.url, bearerToken: 's3cret-token', retries: 0 });
    const basic = new PrometheusProvider({ url: f.url, basicAuth: { username: 'ops', password: 'hunter2' }, retries: 0 });
    try {
      const r1 = await bearer.query('up', AT);
      const r2 = await basic.query('up', AT);
      expect(f.calls.map((c) => c.auth)).toEqual(['Bearer s3cret-token', `Basic ${Buffer.from('ops:hunter2').toString('base64')}`]);
      for (const r of [r1, r2]) expect(JSON.stringify(r)).not.toMatch(/s3cret|hunter2|b3Bz/);
    } finally {
      bearer.close();
      basic.close();
      await f.close();
    }
    expect(() => new PrometheusProvider({ url: 'http://user:pw@127.0.0.1:9090' })).toThrow(/not in the URL/);
    expect(() => new PrometheusProvider({ url: 'http://127.0.0.1:1', bearerToken: 'a', basicAuth: { username: 'b', password: 'c' } })).toThrow(/not both/);
  });

  test('an unreachable server is an error, isOnline says why', async () => {
    const f = await fake(() => undefined);
    const url = f.url;
    await f.close();
    const p = new PrometheusProvider({ url, retries: 1, retryBackoffMs: 5 });
    try {
      expect(await p.query('up', AT)).toEqual({ kind: 'error', message: `prometheus: POST ${url}/api/v1/query: connection refused (after 2 attempts)` });
      expect(await p.isOnline()).toBe(`prometheus: GET ${url}/-/ready: connection refused (after 2 attempts)`);
    } finally {
      p.close();
    }
  });

  test('queryRange parses a matrix, NaN included', async () => {
    const f = await fake((_req, _b, res) =>
      json(res, 200, { status: 'success', data: { resultType: 'matrix', result: [{ metric: { version: '2.0.0' }, values: [[1, '1'], [2, 'NaN']] }] } }),
    );
    const p = new PrometheusProvider({ url: f.url });
    try {
      const r = await p.queryRange('x', new Date(1000), new Date(2000), 1);
      expect(r.kind).toBe('series');
      if (r.kind === 'series') {
        expect(r.series[0]?.labels).toEqual({ version: '2.0.0' });
        expect(r.series[0]?.points[0]).toEqual([1, 1]);
        expect(Number.isNaN(r.series[0]?.points[1]?.[1])).toBe(true);
      }
      expect(f.calls[0]?.body).toBe('query=x&start=1.000&end=2.000&step=1');
    } finally {
      p.close();
      await f.close();
    }
  });
});

describe('observeMetric', () => {
  const ctx: RingContext = {
    channel: 'sensor-content',
    version: '7.16.291',
    baselineVersion: '7.16.290',
    ringStartedAt: new Date(AT.getTime() - 600_000),
    now: new Date(AT.getTime() + 5_000),
    intervalMs: 120_000,
    after: new Date(AT.getTime() - 360_000),
  };

  test('built-in metrics over the wire: a range query per series at the pending interval ends (step I), hosts at now, increments not rounded', async () => {
    const q = builtinQueries('crash', 'sensor-content', '7.16.291', '120s');
    const b = builtinQueries('crash', 'sensor-content', '7.16.290', '120s');
    expect(q.events).toBe('sum(increase(ringmaster_agent_crashes_total{channel="sensor-content",version="7.16.291",kind="crash"}[120s]))');
    const t = (minAgo: number): number => AT.getTime() / 1000 - minAgo * 60;
    const matrix = (points: Array<[number, string]>) => ({ status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values: points }] } });
    const ranges = new Map<string, unknown>([
      [q.events, matrix([[t(4), '2.9'], [t(2), 'NaN'], [t(0), '1.25']])],
      [q.exposure, matrix([[t(4), '6.5'], [t(2), '6.6'], [t(0), '6.7']])],
      [b.events, { status: 'success', data: { resultType: 'matrix', result: [] } }],
      [b.exposure, { status: 'success', data: { resultType: 'matrix', result: [] } }],
    ]);
    const instants = new Map<string, string[]>([
      [q.hosts, ['900']],
      [b.hosts, []],
    ]);
    const f = await fake((req, body, res) => {
      const query = new URLSearchParams(body).get('query') ?? '';
      if (req.url === '/api/v1/query_range') json(res, 200, ranges.get(query) ?? { status: 'error', errorType: 'bad_data', error: 'unexpected' });
      else json(res, 200, vector(instants.get(query) ?? ['NaN']));
    });
    const p = new PrometheusProvider({ url: f.url });
    try {
      const obs = await observeMetric(p, { name: 'crashes', type: 'crash-rate' }, ctx);
      const iso = (minAgo: number): string => new Date(t(minAgo) * 1000).toISOString();
      // The interval ending 2 minutes ago has a NaN candidate point: left out, never zero. No baseline series: zero.
      expect(obs).toEqual({
        kind: 'counts',
        at: ctx.now.toISOString(),
        candidateHosts: 900,
        baselineHosts: 0,
        intervals: [
          { end: iso(4), candidate: { events: 2.9, exposureHours: 6.5 }, baseline: { events: 0, exposureHours: 0 } },
          { end: iso(0), candidate: { events: 1.25, exposureHours: 6.7 }, baseline: { events: 0, exposureHours: 0 } },
        ],
      });
      const rangeBodies = f.calls.filter((c) => c.url === '/api/v1/query_range').map((c) => Object.fromEntries(new URLSearchParams(c.body)));
      expect(rangeBodies.map((r) => r.query).sort()).toEqual([q.events, q.exposure, b.events, b.exposure].sort());
      for (const r of rangeBodies) expect([r.start, r.end, r.step]).toEqual([t(4).toFixed(3), t(0).toFixed(3), '120']);
      const instantBodies = f.calls.filter((c) => c.url === '/api/v1/query').map((c) => Object.fromEntries(new URLSearchParams(c.body)));
      expect(instantBodies.map((r) => [r.query, r.time])).toEqual([
        [q.hosts, (ctx.now.getTime() / 1000).toFixed(3)],
        [b.hosts, (ctx.now.getTime() / 1000).toFixed(3)],
      ]);
      instants.set(q.hosts, ['NaN']);
      expect(await observeMetric(p, { name: 'crashes', type: 'crash-rate' }, ctx)).toEqual({ kind: 'no-data', at: ctx.now.toISOString(), reason: 'candidate hosts: the query returned NaN' });
      instants.set(q.hosts, ['900']);
      ranges.set(q.events, { status: 'error', errorType: 'bad_data', error: 'exceeded maximum resolution of 11,000 points per timeseries' });
      expect(await observeMetric(p, { name: 'crashes', type: 'crash-rate' }, ctx)).toMatchObject({
        kind: 'error',
        message: 'candidate events: prometheus: bad_data: exceeded maximum resolution of 11,000 points per timeseries',
      });
    } finally {
      p.close();
      await f.close();
    }
  });

  test('custom templates get escaped values and the window', () => {
    const evil = { ...ctx, version: '1"} or vector(1) #' };
    expect(renderTemplate('x{channel="{{channel}}",version="{{ version }}"}[{{window}}] / y{version="{{baselineVersion}}"}', evil, '600s')).toBe(
      'x{channel="sensor-content",version="1\\"} or vector(1) #"}[600s] / y{version="7.16.290"}',
    );
  });
});
