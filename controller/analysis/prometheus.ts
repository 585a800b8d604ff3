/**
 * MetricsProvider over the Prometheus HTTP API (/api/v1/query, /api/v1/query_range, /-/ready), through the one
 * HTTP client (controller/http/client.ts).
 *
 * - A hard deadline per call: `query`, `queryRange` and `isOnline` resolve within `timeoutMs`, every attempt and
 *   backoff included, whatever Prometheus does (hangs, trickles, is SIGSTOPped). The reconciler relies on this.
 * - Retries with full-jitter backoff on network errors, timeouts and 5xx, within that deadline (never on 4xx:
 *   a bad query stays bad). Queries are POSTed as forms and are retried: they are idempotent reads.
 * - Optional bearer token or basic auth, TLS options (a CA bundle, or skipping verification for tests), a
 *   response-size limit, strict parsing of the answer.
 * - Errors are one line and never contain the credentials:
 *   `prometheus: POST http://127.0.0.1:9090/api/v1/query: timed out after 5000 ms`.
 */
import { HttpClient, parseBaseUrl, type HttpRequest, type HttpResult } from '../http/client';
import type { Logger } from '../telemetry/log';
import type { QueryResult } from './types';
import type { MetricsProvider, RangeResult, RangeSeries } from './provider';

export interface PrometheusOptions {
  /** Base URL, e.g. http://127.0.0.1:9090 (a path prefix such as /prometheus is kept). */
  url: string;
  /** Hard deadline of one call, retries and backoff included. Default 5000. */
  timeoutMs?: number;
  /** Budget of one attempt, within the deadline. Default: the whole deadline (a hung server is not retried into). */
  attemptTimeoutMs?: number;
  /** Attempts after the first on network errors, timeouts and 5xx, while the deadline allows. Default 2. */
  retries?: number;
  /** Cap of the first backoff delay (full jitter); doubles each retry. Default 200. */
  retryBackoffMs?: number;
  bearerToken?: string;
  basicAuth?: { username: string; password: string };
  /** PEM CA bundle for https. */
  ca?: string | Buffer;
  insecureSkipVerify?: boolean;
  /** Default 8 MiB. */
  maxResponseBytes?: number;
  /** Retries at debug level. */
  log?: Logger;
}

/** Per call: an AbortSignal ends the call at once (the reconciler's own deadline, a shutdown). */
export interface CallOptions {
  signal?: AbortSignal;
}

type Answer = { ok: true; status: number; body: string } | { ok: false; message: string };

export class PrometheusProvider implements MetricsProvider {
  private readonly http: HttpClient;

  constructor(opts: PrometheusOptions) {
    const base = parseBaseUrl(opts.url);
    if (base === 'not-a-url') throw new Error(`prometheus url: not a URL: ${JSON.stringify(redact(opts.url))}`);
    if (base === 'scheme') throw new Error(`prometheus url: must be http:// or https:// (got ${new URL(opts.url).protocol})`);
    if (base === 'credentials') throw new Error('prometheus url: put credentials in the basic-auth or bearer-token settings, not in the URL');
    if (opts.bearerToken !== undefined && opts.basicAuth !== undefined) throw new Error('prometheus: use a bearer token or basic auth, not both');
    const deadlineMs = opts.timeoutMs ?? 5000;
    this.http = new HttpClient({
      baseUrl: base,
      deadlineMs,
      timeoutMs: Math.min(opts.attemptTimeoutMs ?? deadlineMs, deadlineMs),
      retries: opts.retries ?? 2,
      retryBaseMs: opts.retryBackoffMs ?? 200,
      retryMaxMs: Math.max(opts.retryBackoffMs ?? 200, 2000),
      retryStatuses: [429, 500, 502, 503, 504],
      maxResponseBytes: opts.maxResponseBytes ?? 8 * 1024 * 1024,
      headers: { Accept: 'application/json' },
      ...(opts.bearerToken === undefined ? {} : { bearerToken: opts.bearerToken }),
      ...(opts.basicAuth === undefined ? {} : { basicAuth: opts.basicAuth }),
      ...(opts.ca === undefined ? {} : { ca: opts.ca }),
      ...(opts.insecureSkipVerify === undefined ? {} : { insecureSkipVerify: opts.insecureSkipVerify }),
      ...(opts.log === undefined ? {} : { log: opts.log }),
    });
  }

  /** The base URL without credentials, for logs. */
  get endpoint(): string {
    return this.http.endpoint;
  }

  async query(promql: string, at: Date, call: CallOptions = {}): Promise<QueryResult> {
    const res = await this.api('/api/v1/query', { query: promql, time: (at.getTime() / 1000).toFixed(3) }, call);
    if (!res.ok) return { kind: 'error', message: res.message };
    const data = res.data as { resultType?: unknown; result?: unknown };
    switch (data.resultType) {
      case 'scalar':
        return sampleValue(data.result, 'scalar');
      case 'vector': {
        if (!Array.isArray(data.result)) return { kind: 'error', message: 'prometheus: vector result is not a list' };
        if (data.result.length === 0) return { kind: 'no-data', reason: 'empty vector (no series matched)' };
        if (data.result.length > 1) return { kind: 'error', message: `prometheus: query returned ${data.result.length} series, expected 1 (aggregate it, e.g. with sum())` };
        return sampleValue((data.result[0] as { value?: unknown }).value, 'vector sample');
      }
      default:
        return { kind: 'error', message: `prometheus: unsupported result type ${JSON.stringify(data.resultType)} for an instant query` };
    }
  }

  async queryRange(promql: string, start: Date, end: Date, stepSeconds: number, call: CallOptions = {}): Promise<RangeResult> {
    const res = await this.api('/api/v1/query_range', { query: promql, start: (start.getTime() / 1000).toFixed(3), end: (end.getTime() / 1000).toFixed(3), step: String(stepSeconds) }, call);
    if (!res.ok) return { kind: 'error', message: res.message };
    const data = res.data as { resultType?: unknown; result?: unknown };
    if (data.resultType !== 'matrix' || !Array.isArray(data.result)) return { kind: 'error', message: `prometheus: expected a matrix, got ${JSON.stringify(data.resultType)}` };
    if (data.result.length === 0) return { kind: 'no-data', reason: 'empty matrix (no series matched)' };
    const series: RangeSeries[] = [];
    for (const s of data.result as Array<{ metric?: unknown; values?: unknown }>) {
      if (typeof s.metric !== 'object' || s.metric === null || !Array.isArray(s.values)) return { kind: 'error', message: 'prometheus: malformed matrix series' };
      const points: Array<[number, number]> = [];
      for (const v of s.values as unknown[]) {
        if (!Array.isArray(v) || typeof v[0] !== 'number' || typeof v[1] !== 'string') return { kind: 'error', message: 'prometheus: malformed matrix point' };
        points.push([v[0], parseSampleValue(v[1])]);
      }
      series.push({ labels: s.metric as Record<string, string>, points });
    }
    return { kind: 'series', series };
  }

  async isOnline(call: CallOptions = {}): Promise<true | string> {
    const r = await this.call({ method: 'GET', path: '/-/ready' }, call);
    if (!r.ok) return r.message;
    return r.status === 200 ? true : `prometheus not ready (HTTP ${r.status})`;
  }

  close(): void {
    void this.http.close();
  }

  private async api(path: string, params: Record<string, string>, call: CallOptions): Promise<{ ok: true; data: unknown } | { ok: false; message: string }> {
    const req: HttpRequest = { method: 'POST', path, body: new URLSearchParams(params).toString(), contentType: 'application/x-www-form-urlencoded', idempotent: true };
    const r = await this.call(req, call);
    if (!r.ok) return r;
    const where = `${req.method ?? 'POST'} ${this.endpoint}${path}`;
    let json: { status?: unknown; data?: unknown; error?: unknown; errorType?: unknown };
    try {
      json = JSON.parse(r.body) as typeof json;
    } catch {
      return { ok: false, message: `prometheus: ${where}: HTTP ${r.status} with a body that is not JSON` };
    }
    if (json.status !== 'success') {
      const why = typeof json.error === 'string' ? json.error.split('\n')[0] : `${where}: HTTP ${r.status}`;
      return { ok: false, message: `prometheus: ${typeof json.errorType === 'string' ? `${json.errorType}: ` : ''}${why}` };
    }
    if (typeof json.data !== 'object' || json.data === null) return { ok: false, message: 'prometheus: success without data' };
    return { ok: true, data: json.data };
  }

  /** One call through the client; 5xx left after the retries is an error, other statuses are answers. */
  private async call(req: HttpRequest, call: CallOptions): Promise<Answer> {
    const r: HttpResult = await this.http.send(call.signal === undefined ? req : { ...req, signal: call.signal });
    if (!r.ok) return { ok: false, message: `prometheus: ${r.failure.message}` };
    const { status, attempts } = r.response;
    if (status >= 500) return { ok: false, message: `prometheus: ${req.method ?? 'GET'} ${this.endpoint}${req.path}: HTTP ${status}${attempts > 1 ? ` (after ${attempts} attempts)` : ''}` };
    return { ok: true, status, body: r.response.text() };
  }
}

function parseSampleValue(s: string): number {
  // Prometheus encodes sample values as strings: "1.5", "NaN", "+Inf", "-Inf".
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return s === 'NaN' ? NaN : Number(s);
}

function sampleValue(pair: unknown, what: string): QueryResult {
  if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[1] !== 'string') return { kind: 'error', message: `prometheus: malformed ${what}` };
  const v = parseSampleValue(pair[1]);
  if (Number.isNaN(v)) return pair[1] === 'NaN' ? { kind: 'no-data', reason: 'the query returned NaN' } : { kind: 'error', message: `prometheus: ${what} is not a number` };
  if (!Number.isFinite(v)) return { kind: 'no-data', reason: `the query returned ${pair[1]}` };
  return { kind: 'value', value: v };
}

function redact(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//***@');
}
