/**
 * The HTTP client of the ringctl verbs that talk to a controller, on the one HTTP client (controller/http).
 *
 * Server and token come from --server/--token or RINGMASTER_URL/RINGMASTER_TOKEN (flags win); without a token, from
 * the `ringctl login` cache for that server (credentials.ts: refreshed when expired). Every failure
 * is a CliError with one line that names the verb and the reason; the token never appears in it. Reads (GET) are
 * retried twice on a refused or dropped connection and on 502/503/504, with jittered backoff; changes (POST) are
 * sent once.
 */
import type { Command } from 'commander';
import { HttpClient, parseBaseUrl, type HttpFailure, type HttpRequest } from '../http/client';
import { cachedToken } from './credentials';

export const DEFAULT_URL = 'http://127.0.0.1:8080';
/** Per attempt: connect, headers and the whole body. */
const TIMEOUT_MS = 15_000;
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export interface RemoteOptions {
  server?: string;
  token?: string;
  /** Send no credential at all, not even the login cache's (ringctl login's own requests). */
  anonymous?: boolean;
}

/**
 * An expected failure of a verb: printed as one line, exit code 1 (the server refused or failed) or 2 (usage).
 * `status` is the HTTP status of a refusal, 0 when the server could not be reached, undefined otherwise.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
    readonly status?: number,
    /** The lines of the server's `error.details` (a 422 lists every problem of a document, one per line). */
    readonly details: readonly string[] = [],
  ) {
    super(message);
  }
}

/** Writes one block of output, with exactly one trailing newline. */
export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** A rollout name as a URL path segment. */
export const enc = encodeURIComponent;

/** Adds --server and --token to a verb that talks to the controller. */
export function remoteOptions(cmd: Command): Command {
  return cmd
    .option('--server <url>', `controller URL (env RINGMASTER_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'API bearer token (env RINGMASTER_TOKEN; prefer the env var: flags show up in ps)');
}

export class Client {
  readonly base: URL;
  private readonly http: HttpClient;
  /** The login cache's token, looked up (and refreshed) once, at the first request; absent with --token/env. */
  private cached: (() => Promise<string | undefined>) | undefined;
  private cachedOnce: Promise<string | undefined> | undefined;
  private readonly hasToken: boolean;

  constructor(
    readonly verb: string,
    opts: RemoteOptions,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    // An empty RINGMASTER_URL (`RINGMASTER_URL= ringctl get`, an unset CI variable) means the default.
    const fromEnv = env.RINGMASTER_URL === undefined || env.RINGMASTER_URL.trim() === '' ? undefined : env.RINGMASTER_URL;
    const raw = opts.server ?? fromEnv ?? DEFAULT_URL;
    const base = parseBaseUrl(raw);
    if (base === 'not-a-url') throw new CliError(`ringctl ${verb}: invalid server URL ${JSON.stringify(raw)} (use http://HOST:PORT)`, 2);
    if (base === 'scheme') throw new CliError(`ringctl ${verb}: invalid server URL ${JSON.stringify(raw)}: must be http:// or https://`, 2);
    if (base === 'credentials') throw new CliError(`ringctl ${verb}: put credentials in RINGMASTER_TOKEN, not in the server URL`, 2);
    this.base = base;
    const token = opts.token ?? env.RINGMASTER_TOKEN;
    this.hasToken = token !== undefined && token !== '';
    this.http = new HttpClient({
      baseUrl: base,
      timeoutMs: TIMEOUT_MS,
      maxResponseBytes: MAX_RESPONSE_BYTES,
      retries: 2,
      retryBaseMs: 100,
      retryMaxMs: 1000,
      headers: { Accept: 'application/json' },
      ...(token === undefined || token === '' ? {} : { bearerToken: token }),
    });
    if ((token === undefined || token === '') && opts.anonymous !== true) this.cached = () => cachedToken(verb, base, env);
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.call<T>({ method: 'GET', path, ...(signal ? { signal } : {}) });
  }

  post<T>(path: string, body: unknown, contentType = 'application/json'): Promise<T> {
    return this.call<T>({ method: 'POST', path, body: typeof body === 'string' ? body : JSON.stringify(body), contentType });
  }

  /** A DELETE is a change: sent once, like a POST. */
  delete<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>({ method: 'DELETE', path, idempotent: false, ...(body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' }) });
  }

  private async call<T>(req: HttpRequest): Promise<T> {
    if (this.cached) this.cachedOnce ??= this.cached();
    const login = await this.cachedOnce;
    const r = await this.http.send(login === undefined ? req : { ...req, headers: { ...req.headers, Authorization: `Bearer ${login}` } });
    if (!r.ok) {
      if (req.signal?.aborted) throw new Aborted();
      throw unreachable(this.verb, this.base, r.failure);
    }
    const { status } = r.response;
    const text = r.response.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (status < 200 || status > 299) {
      throw new CliError(`ringctl ${this.verb}: ${describeError(status, json, text)}${status === 401 ? tokenHint(this.verb, this.hasToken ? 'given' : login !== undefined ? 'login' : 'none') : ''}`, 1, status, errorDetails(json));
    }
    if (json === undefined) throw new CliError(`ringctl ${this.verb}: ${status} from ${this.base.origin} is not JSON`, 1, status);
    return json as T;
  }
}

/** What to do about a 401 (never the token itself). */
function tokenHint(verb: string, token: 'given' | 'login' | 'none'): string {
  // ringctl login checks the token it was handed: the refusal says it all.
  if (verb === 'login') return '';
  if (token === 'login') return '; the token of ringctl login was not accepted: run ringctl login again (or set RINGMASTER_TOKEN)';
  return token === 'given' ? '; the token was not accepted: check RINGMASTER_TOKEN (or --token)' : '; set RINGMASTER_TOKEN (or --token) to an API token, or run ringctl login';
}

/** A request that got no answer. Not the verb's fault: the line names the server, which is what the user has to fix. */
function unreachable(verb: string, base: URL, f: HttpFailure): CliError {
  if (f.kind === 'too-large') return new CliError(`ringctl ${verb}: ${f.message}`, 1, 0);
  return new CliError(`ringctl: cannot reach ${base.origin}: ${f.reason} (set RINGMASTER_URL or --server)`, 1, 0);
}

/** A request given up because its AbortSignal fired (Ctrl-C during status --watch). */
export class Aborted extends Error {
  constructor() {
    super('aborted');
  }
}

function errorDetails(json: unknown): string[] {
  const d = (json as { error?: { details?: unknown } } | undefined)?.error?.details;
  return Array.isArray(d) ? d.filter((x): x is string => typeof x === 'string') : [];
}

/** `{"error":{"code","message","requestId"}}` as `403 forbidden: <message> (request <id>)`. */
function describeError(status: number, json: unknown, text: string): string {
  const e = (json as { error?: { code?: unknown; message?: unknown; requestId?: unknown } } | undefined)?.error;
  if (e && typeof e.message === 'string') {
    const id = typeof e.requestId === 'string' ? ` (request ${e.requestId})` : '';
    return `${status} ${typeof e.code === 'string' ? e.code : 'error'}: ${e.message.split('\n').join('; ')}${id}`;
  }
  return `${status}: ${text.slice(0, 200).replace(/\s+/g, ' ').trim() || 'empty response'}`;
}

/** Runs a verb's body and turns a CliError into its line and exit code (other errors propagate: they are bugs). */
export async function runVerb(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exitCode = err.exitCode;
  }
}
