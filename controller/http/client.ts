/**
 * The one HTTP client of the tree, on undici 7. The Prometheus provider, ringctl and agent-sim's live and load
 * modes all speak HTTP through it.
 *
 * - Hard time limits. Each attempt has a budget that covers connect, headers and the whole body. A timer of
 *   our own enforces it, so a server that trickles one byte a second or is SIGSTOPped cannot hold an attempt
 *   past its budget. A per-call deadline bounds all attempts and backoff sleeps together. undici's connect,
 *   headers and body timeouts sit under these budgets.
 * - A response size limit. A larger body (by Content-Length, or counted while reading) is refused with a
 *   one-line error, and the connection is dropped.
 * - Retries with exponential backoff and full jitter (backoff.ts), on network errors, timeouts and the
 *   statuses in `retryStatuses`. Only idempotent requests are retried. A POST is retried only when the request
 *   says `idempotent: true`, as Prometheus queries do.
 * - An AbortSignal per request, and TLS options (a CA bundle, or skipping verification).
 * - Credentials (bearer token or basic auth) go into the Authorization header and nowhere else. Errors and log
 *   lines name the method and the URL without its query string, never a header.
 *
 * Expected failures are values. `send` resolves to `{ ok: true, response }` for any HTTP status, or to
 * `{ ok: false, failure }` with a `kind` for code and a one-line `message` for people:
 *
 *   GET http://127.0.0.1:9090/api/v1/query: timed out after 5000 ms
 *   POST http://127.0.0.1:9090/api/v1/query: connection refused (after 3 attempts)
 */
import * as fs from 'node:fs';
import { Agent, request } from 'undici';
import type { Logger } from '../telemetry/log';
import { backoffDelay } from './backoff';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';
const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_RETRY_STATUSES: readonly number[] = [429, 502, 503, 504];

export interface HttpClientOptions {
  /** http:// or https://; a path prefix (e.g. /prometheus) is kept in front of every request path. */
  baseUrl: string | URL;
  /** Budget of one attempt: connect, headers and the whole body. Default 10 s. */
  timeoutMs?: number;
  /** TCP and TLS connect, within the attempt budget. Default 5 s. */
  connectTimeoutMs?: number;
  /** Budget of one call: every attempt and backoff sleep. Default: none beyond the attempts' own budgets. */
  deadlineMs?: number;
  /** Default 8 MiB. */
  maxResponseBytes?: number;
  /** Retries after the first attempt, for idempotent requests. Default 0. */
  retries?: number;
  /** Cap of the first backoff delay; it doubles per retry. Default 100 ms. */
  retryBaseMs?: number;
  /** Cap of any backoff delay. Default 2 s. */
  retryMaxMs?: number;
  /** Statuses retried like network errors. Default 429, 502, 503, 504. */
  retryStatuses?: readonly number[];
  bearerToken?: string;
  basicAuth?: { username: string; password: string };
  /** PEM CA bundle for https, or a file holding one. */
  ca?: string | Buffer;
  caFile?: string;
  /** Accept any certificate (tests and lab setups only). */
  insecureSkipVerify?: boolean;
  /** Sent with every request. */
  headers?: Record<string, string>;
  /** Connections per origin. Default 16. */
  connections?: number;
  /** Retries are logged at debug level (method, URL, attempt, delay, reason; never a header). */
  log?: Logger;
  /** Uniform on [0, 1) for the jitter; tests pin it. */
  random?: () => number;
}

export interface HttpRequest {
  method?: HttpMethod;
  /** Relative to the base URL's path; may carry a query string. */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string | Buffer;
  contentType?: string;
  /** Default: true for GET, HEAD, PUT, DELETE and OPTIONS. Only idempotent requests are retried. */
  idempotent?: boolean;
  retries?: number;
  timeoutMs?: number;
  deadlineMs?: number;
  maxResponseBytes?: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** Attempts made, the last one included. */
  attempts: number;
  /** The first value of a header (names are lower case). */
  header(name: string): string | undefined;
  text(): string;
}

export type HttpFailureKind = 'timeout' | 'refused' | 'unknown-host' | 'reset' | 'tls' | 'too-large' | 'aborted' | 'network';

export interface HttpFailure {
  kind: HttpFailureKind;
  /** Why, without the method and URL: `timed out after 5000 ms`. */
  reason: string;
  /** One line: `GET http://host:port/path: <reason>[ (after N attempts)]`. */
  message: string;
  method: HttpMethod;
  /** Origin and path, without the query string. */
  url: string;
  attempts: number;
}

export type HttpResult = { ok: true; response: HttpResponse } | { ok: false; failure: HttpFailure };

export type BaseUrlProblem = 'not-a-url' | 'scheme' | 'credentials';

/** The base URL check every caller words its own way (`--server`, `prometheus url`, `--controller`). */
export function parseBaseUrl(raw: string | URL): URL | BaseUrlProblem {
  let u: URL;
  try {
    u = new URL(String(raw));
  } catch {
    return 'not-a-url';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'scheme';
  if (u.username !== '' || u.password !== '') return 'credentials';
  return u;
}

const BASE_URL_PROBLEMS: Record<BaseUrlProblem, string> = {
  'not-a-url': 'not a URL',
  scheme: 'must be http:// or https://',
  credentials: 'credentials belong in the client options, not in the URL',
};

type Attempt = { ok: true; response: Omit<HttpResponse, 'attempts' | 'header' | 'text'> } | { ok: false; kind: HttpFailureKind; reason: string };

export class HttpClient {
  readonly base: URL;
  readonly #authorization: string | undefined;
  readonly #agent: Agent;
  readonly #opts: HttpClientOptions;
  readonly #timeoutMs: number;
  readonly #connectMs: number;
  readonly #retryStatuses: ReadonlySet<number>;

  constructor(opts: HttpClientOptions) {
    const base = parseBaseUrl(opts.baseUrl);
    if (typeof base === 'string') throw new Error(`http client: base URL: ${BASE_URL_PROBLEMS[base]}`);
    if (opts.bearerToken !== undefined && opts.basicAuth !== undefined) throw new Error('http client: use a bearer token or basic auth, not both');
    this.base = base;
    this.#opts = opts;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#retryStatuses = new Set(opts.retryStatuses ?? DEFAULT_RETRY_STATUSES);
    if (opts.bearerToken !== undefined) this.#authorization = `Bearer ${opts.bearerToken}`;
    else if (opts.basicAuth) this.#authorization = `Basic ${Buffer.from(`${opts.basicAuth.username}:${opts.basicAuth.password}`).toString('base64')}`;
    this.#connectMs = Math.min(opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, this.#timeoutMs);
    const connect: Record<string, unknown> = { timeout: this.#connectMs };
    if (base.protocol === 'https:') {
      const ca = opts.ca ?? (opts.caFile === undefined ? undefined : readCa(opts.caFile));
      if (ca !== undefined) connect.ca = ca;
      connect.rejectUnauthorized = opts.insecureSkipVerify !== true;
    }
    this.#agent = new Agent({ connections: opts.connections ?? 16, connect });
  }

  /** Origin and base path, for messages (never credentials: the URL cannot carry any). */
  get endpoint(): string {
    return this.base.origin + this.base.pathname.replace(/\/$/, '');
  }

  get(path: string, extra: Omit<HttpRequest, 'path' | 'method' | 'body'> = {}): Promise<HttpResult> {
    return this.send({ ...extra, method: 'GET', path });
  }

  post(path: string, body: string | Buffer, extra: Omit<HttpRequest, 'path' | 'method' | 'body'> = {}): Promise<HttpResult> {
    return this.send({ ...extra, method: 'POST', path, body });
  }

  async send(req: HttpRequest): Promise<HttpResult> {
    const started = Date.now();
    const method = req.method ?? 'GET';
    const url = this.urlOf(req);
    const shown = url.origin + url.pathname;
    const idempotent = req.idempotent ?? IDEMPOTENT.has(method);
    const retries = idempotent ? Math.max(0, req.retries ?? this.#opts.retries ?? 0) : 0;
    const deadlineMs = req.deadlineMs ?? this.#opts.deadlineMs;
    const deadline = deadlineMs === undefined ? Infinity : started + deadlineMs;
    const budget = req.timeoutMs ?? this.#timeoutMs;
    const maxBytes = req.maxResponseBytes ?? this.#opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const headers = this.headersOf(req);
    const fail = (kind: HttpFailureKind, reason: string, attempts: number): HttpResult => ({
      ok: false,
      failure: { kind, reason, method, url: shown, attempts, message: oneLine(`${method} ${shown}: ${reason}${attempts > 1 ? ` (after ${attempts} attempts)` : ''}`) },
    });

    for (let attempt = 1; ; attempt++) {
      if (req.signal?.aborted) return fail('aborted', 'aborted', attempt - 1);
      const left = deadline - Date.now();
      if (left <= 0) return fail('timeout', `timed out after ${deadlineMs ?? 0} ms`, attempt - 1);
      const cut = left < budget;
      const ms = cut ? Math.max(1, Math.floor(left)) : budget;
      const r = await this.attempt(url, method, headers, req.body, ms, maxBytes, req.signal);
      const last = attempt > retries;
      let why: string;
      if (r.ok) {
        if (last || !this.#retryStatuses.has(r.response.status)) return answered(r.response, attempt);
        why = `HTTP ${r.response.status}`;
      } else {
        // An attempt cut short by the deadline that timed out: the call's time is up.
        if (r.kind === 'timeout' && cut) return fail('timeout', `timed out after ${deadlineMs ?? 0} ms`, attempt);
        const retryable = r.kind === 'timeout' || r.kind === 'refused' || r.kind === 'reset' || r.kind === 'network';
        if (last || !retryable) return fail(r.kind, r.reason, attempt);
        why = r.reason;
      }
      const delay = backoffDelay(attempt, { baseMs: this.#opts.retryBaseMs ?? 100, maxMs: this.#opts.retryMaxMs ?? 2000, ...(this.#opts.random ? { random: this.#opts.random } : {}) });
      if (Date.now() + delay >= deadline) {
        // No time for another attempt: report this one as it is.
        return r.ok ? answered(r.response, attempt) : fail(r.kind, r.reason, attempt);
      }
      this.#opts.log?.debug({ method, url: shown, attempt, delayMs: delay, reason: why }, 'http retry');
      await sleep(delay, req.signal);
    }
  }

  /** Drops every connection; requests in flight fail. */
  async close(): Promise<void> {
    await this.#agent.destroy().catch(() => undefined);
  }

  private urlOf(req: HttpRequest): URL {
    const q = req.path.indexOf('?');
    const pathPart = q < 0 ? req.path : req.path.slice(0, q);
    const url = new URL(this.base.href);
    url.pathname = this.base.pathname.replace(/\/$/, '') + (pathPart.startsWith('/') ? pathPart : `/${pathPart}`);
    url.search = q < 0 ? '' : req.path.slice(q);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.append(k, v);
    url.hash = '';
    return url;
  }

  private headersOf(req: HttpRequest): Record<string, string> {
    const h: Record<string, string> = {};
    const add = (from: Record<string, string> | undefined): void => {
      for (const [k, v] of Object.entries(from ?? {})) h[k.toLowerCase()] = v;
    };
    add(this.#opts.headers);
    add(req.headers);
    if (req.contentType !== undefined) h['content-type'] = req.contentType;
    if (this.#authorization !== undefined) h.authorization = this.#authorization;
    return h;
  }

  /** One attempt, resolved within `ms` whatever the server does. */
  private async attempt(url: URL, method: HttpMethod, headers: Record<string, string>, body: string | Buffer | undefined, ms: number, maxBytes: number, outer: AbortSignal | undefined): Promise<Attempt> {
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<Attempt>((resolve) => {
      timer = setTimeout(() => {
        ac.abort();
        resolve({ ok: false, kind: 'timeout', reason: `timed out after ${ms} ms` });
      }, ms);
      onAbort = (): void => {
        ac.abort();
        resolve({ ok: false, kind: 'aborted', reason: 'aborted' });
      };
      outer?.addEventListener('abort', onAbort, { once: true });
    });
    const work = (async (): Promise<Attempt> => {
      const res = await request(url, { dispatcher: this.#agent, method, headers, body: body ?? null, signal: ac.signal, headersTimeout: ms, bodyTimeout: ms });
      // Destroying the body (size limit, timeout) emits an error that only the reader below needs to see.
      res.body.on('error', () => undefined);
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        res.body.destroy();
        return { ok: false, kind: 'too-large', reason: `response larger than ${maxBytes} bytes` };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) {
          res.body.destroy();
          return { ok: false, kind: 'too-large', reason: `response larger than ${maxBytes} bytes` };
        }
        chunks.push(chunk);
      }
      return { ok: true, response: { status: res.statusCode, headers: res.headers as HttpResponse['headers'], body: Buffer.concat(chunks, size) } };
    })().catch((err: unknown): Attempt => (ac.signal.aborted ? { ok: false, kind: outer?.aborted ? 'aborted' : 'timeout', reason: outer?.aborted ? 'aborted' : `timed out after ${ms} ms` } : classify(err, ms, this.#connectMs)));
    try {
      return await Promise.race([work, stop]);
    } finally {
      clearTimeout(timer);
      if (onAbort) outer?.removeEventListener('abort', onAbort);
    }
  }
}

function readCa(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`http client: CA file ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

const TLS_CODE = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|EPROTO/;

/** An undici or system error as a failure kind and a short reason (no headers, no stack). */
export function classify(err: unknown, attemptMs: number, connectCapMs: number): Attempt {
  const e = (err instanceof AggregateError && err.errors.length > 0 ? err.errors[0] : err) as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  switch (code) {
    case 'ECONNREFUSED':
      return { ok: false, kind: 'refused', reason: 'connection refused' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { ok: false, kind: 'unknown-host', reason: 'unknown host' };
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { ok: false, kind: 'timeout', reason: `connect timed out after ${Math.min(attemptMs, connectCapMs)} ms` };
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return { ok: false, kind: 'timeout', reason: `timed out after ${attemptMs} ms` };
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return { ok: false, kind: 'reset', reason: 'connection closed by the server' };
    case 'ECONNRESET':
    case 'EPIPE':
      return { ok: false, kind: 'reset', reason: 'connection reset' };
    case 'UND_ERR_HEADERS_OVERFLOW':
      return { ok: false, kind: 'too-large', reason: 'response headers too large' };
    case 'UND_ERR_ABORTED':
      return { ok: false, kind: 'aborted', reason: 'aborted' };
    default:
      break;
  }
  const first = (typeof e?.message === 'string' ? e.message : String(err)).split('\n')[0] ?? '';
  if (code !== undefined && TLS_CODE.test(code)) return { ok: false, kind: 'tls', reason: `TLS: ${first} (${code})` };
  return { ok: false, kind: 'network', reason: code ?? first };
}

function answered(r: Omit<HttpResponse, 'attempts' | 'header' | 'text'>, attempts: number): HttpResult {
  return { ok: true, response: { ...r, attempts, header: (n) => firstHeader(r.headers, n), text: () => r.body.toString('utf8') } };
}

function firstHeader(headers: HttpResponse['headers'], name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** setTimeout that ends early (without error) when the signal fires. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
