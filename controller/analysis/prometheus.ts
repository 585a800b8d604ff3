/**
 * MetricsProvider over the Prometheus HTTP API (/api/v1/query, /api/v1/query_range, /-/ready).
 *
 * - a timeout per attempt, and bounded retries with exponential backoff on network errors, timeouts and 5xx
 *   (never on 4xx: a bad query stays bad);
 * - optional bearer token or basic auth, and TLS options (a CA bundle, or skipping verification for tests);
 * - a response-size limit, strict parsing of the answer;
 * - errors are one line and never contain the credentials.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { QueryResult } from './types';
import type { MetricsProvider, RangeResult, RangeSeries } from './provider';

export interface PrometheusOptions {
  /** Base URL, e.g. http://127.0.0.1:9090 (a path prefix such as /prometheus is kept). */
  url: string;
  /** Per attempt. Default 5000. */
  timeoutMs?: number;
  /** Attempts after the first on network errors, timeouts and 5xx. Default 2. */
  retries?: number;
  /** First backoff; doubles each retry. Default 200. */
  retryBackoffMs?: number;
  bearerToken?: string;
  basicAuth?: { username: string; password: string };
  /** PEM CA bundle for https. */
  ca?: string | Buffer;
  insecureSkipVerify?: boolean;
  /** Default 8 MiB. */
  maxResponseBytes?: number;
}

type Attempt = { ok: true; status: number; body: string } | { ok: false; retryable: boolean; message: string };

export class PrometheusProvider implements MetricsProvider {
  private readonly base: URL;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBytes: number;
  private readonly auth: string | undefined;
  private readonly agent: http.Agent;

  constructor(opts: PrometheusOptions) {
    let base: URL;
    try {
      base = new URL(opts.url);
    } catch {
      throw new Error(`prometheus url: not a URL: ${JSON.stringify(redact(opts.url))}`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error(`prometheus url: must be http:// or https:// (got ${base.protocol})`);
    if (base.username || base.password) throw new Error('prometheus url: put credentials in the basic-auth or bearer-token settings, not in the URL');
    if (opts.bearerToken !== undefined && opts.basicAuth !== undefined) throw new Error('prometheus: use a bearer token or basic auth, not both');
    this.base = base;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.retries = opts.retries ?? 2;
    this.backoffMs = opts.retryBackoffMs ?? 200;
    this.maxBytes = opts.maxResponseBytes ?? 8 * 1024 * 1024;
    if (opts.bearerToken !== undefined) this.auth = `Bearer ${opts.bearerToken}`;
    else if (opts.basicAuth) this.auth = `Basic ${Buffer.from(`${opts.basicAuth.username}:${opts.basicAuth.password}`).toString('base64')}`;
    this.agent =
      base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 8, ...(opts.ca === undefined ? {} : { ca: opts.ca }), rejectUnauthorized: opts.insecureSkipVerify !== true })
        : new http.Agent({ keepAlive: true, maxSockets: 8 });
  }

  /** The base URL without credentials, for logs. */
  get endpoint(): string {
    return this.base.origin + this.base.pathname.replace(/\/$/, '');
  }

  async query(promql: string, at: Date): Promise<QueryResult> {
    const res = await this.api('/api/v1/query', { query: promql, time: (at.getTime() / 1000).toFixed(3) });
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

  async queryRange(promql: string, start: Date, end: Date, stepSeconds: number): Promise<RangeResult> {
    const res = await this.api('/api/v1/query_range', { query: promql, start: (start.getTime() / 1000).toFixed(3), end: (end.getTime() / 1000).toFixed(3), step: String(stepSeconds) });
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

  async isOnline(): Promise<true | string> {
    const r = await this.fetchWithRetries('/-/ready', undefined);
    if (!r.ok) return r.message;
    return r.status === 200 ? true : `prometheus not ready (HTTP ${r.status})`;
  }

  close(): void {
    this.agent.destroy();
  }

  private async api(path: string, params: Record<string, string>): Promise<{ ok: true; data: unknown } | { ok: false; message: string }> {
    const r = await this.fetchWithRetries(path, params);
    if (!r.ok) return r;
    let json: { status?: unknown; data?: unknown; error?: unknown; errorType?: unknown };
    try {
      json = JSON.parse(r.body) as typeof json;
    } catch {
      return { ok: false, message: `prometheus: HTTP ${r.status} with a body that is not JSON` };
    }
    if (json.status !== 'success') {
      const why = typeof json.error === 'string' ? json.error.split('\n')[0] : `HTTP ${r.status}`;
      return { ok: false, message: `prometheus: ${typeof json.errorType === 'string' ? `${json.errorType}: ` : ''}${why}` };
    }
    if (typeof json.data !== 'object' || json.data === null) return { ok: false, message: 'prometheus: success without data' };
    return { ok: true, data: json.data };
  }

  private async fetchWithRetries(path: string, params: Record<string, string> | undefined): Promise<Attempt & { ok: boolean }> {
    let last: Attempt = { ok: false, retryable: false, message: 'prometheus: no attempt made' };
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** (attempt - 1)));
      last = await this.once(path, params);
      if (last.ok) {
        if (last.status >= 500 && attempt < this.retries) continue;
        if (last.status >= 500) return { ok: false, retryable: true, message: `prometheus: HTTP ${last.status} after ${attempt + 1} attempts` };
        return last;
      }
      if (!last.retryable) return last;
    }
    return last.ok ? last : { ...last, message: `${last.message} (after ${this.retries + 1} attempts)` };
  }

  private once(path: string, params: Record<string, string> | undefined): Promise<Attempt> {
    const url = new URL(this.base.pathname.replace(/\/$/, '') + path, this.base);
    const body = params === undefined ? undefined : new URLSearchParams(params).toString();
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.auth !== undefined) headers.Authorization = this.auth;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve) => {
      let settled = false;
      const done = (a: Attempt): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(a);
      };
      const req = mod.request(url, { method: body === undefined ? 'GET' : 'POST', headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.maxBytes) {
            req.destroy();
            done({ ok: false, retryable: false, message: `prometheus: response larger than ${this.maxBytes} bytes` });
          } else chunks.push(c);
        });
        res.on('end', () => done({ ok: true, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, retryable: true, message: `prometheus: ${err.code ?? 'response error'}` }));
      });
      const timer = setTimeout(() => {
        req.destroy();
        done({ ok: false, retryable: true, message: `prometheus: no answer from ${this.endpoint} within ${this.timeoutMs} ms` });
      }, this.timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, retryable: true, message: `prometheus: cannot reach ${this.endpoint}: ${err.code ?? err.message.split('\n')[0]}` }));
      req.end(body);
    });
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
