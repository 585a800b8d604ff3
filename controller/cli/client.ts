/**
 * The HTTP client of the ringctl verbs that talk to a controller.
 *
 * Server and token come from --server/--token or RINGMASTER_URL/RINGMASTER_TOKEN (flags win). Every failure
 * is a CliError with one line that names the verb and the reason; the token never appears in it.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Command } from 'commander';

export const DEFAULT_URL = 'http://127.0.0.1:8080';
const TIMEOUT_MS = 15_000;

export interface RemoteOptions {
  server?: string;
  token?: string;
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
  private readonly token: string | undefined;

  constructor(
    readonly verb: string,
    opts: RemoteOptions,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const raw = opts.server ?? env.RINGMASTER_URL ?? DEFAULT_URL;
    let base: URL;
    try {
      base = new URL(raw);
    } catch {
      throw new CliError(`ringctl ${verb}: invalid server URL ${JSON.stringify(raw)} (use http://HOST:PORT)`, 2);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new CliError(`ringctl ${verb}: invalid server URL ${JSON.stringify(raw)}: must be http:// or https://`, 2);
    }
    if (base.username || base.password) throw new CliError(`ringctl ${verb}: put credentials in RINGMASTER_TOKEN, not in the server URL`, 2);
    this.base = base;
    const token = opts.token ?? env.RINGMASTER_TOKEN;
    this.token = token === undefined || token === '' ? undefined : token;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.call<T>('GET', path, undefined, undefined, signal);
  }

  post<T>(path: string, body: unknown, contentType = 'application/json'): Promise<T> {
    return this.call<T>('POST', path, typeof body === 'string' ? body : JSON.stringify(body), contentType);
  }

  private async call<T>(method: string, path: string, body?: string, contentType?: string, signal?: AbortSignal): Promise<T> {
    const url = new URL(path.replace(/^\//, ''), this.base.href.endsWith('/') ? this.base : new URL(`${this.base.href}/`));
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.token !== undefined) headers.Authorization = `Bearer ${this.token}`;
    if (contentType !== undefined) headers['Content-Type'] = contentType;
    let res: { status: number; text: string };
    try {
      res = await request(url, method, headers, body, signal);
    } catch (err) {
      if (signal?.aborted) throw new Aborted();
      // Not the verb's fault: the line names the server, which is what the user has to fix.
      throw new CliError(`ringctl: cannot reach ${this.base.origin}: ${networkReason(err)} (set RINGMASTER_URL or --server)`, 1, 0);
    }
    const text = res.text;
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.status < 200 || res.status > 299) {
      throw new CliError(`ringctl ${this.verb}: ${describeError(res.status, json, text)}`, 1, res.status, errorDetails(json));
    }
    if (json === undefined) throw new CliError(`ringctl ${this.verb}: ${res.status} from ${this.base.origin} is not JSON`, 1, res.status);
    return json as T;
  }
}

/** A request given up because its AbortSignal fired (Ctrl-C during status --watch). */
export class Aborted extends Error {
  constructor() {
    super('aborted');
  }
}

const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** node:http rather than fetch: fetch refuses some ports outright ("bad port") and hides error codes. */
function request(url: URL, method: string, headers: Record<string, string>, body: string | undefined, signal?: AbortSignal): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const options: http.RequestOptions = { method, headers: body === undefined ? headers : { ...headers, 'Content-Length': String(Buffer.byteLength(body)) }, timeout: TIMEOUT_MS };
    if (signal) options.signal = signal;
    const req = mod.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) req.destroy(Object.assign(new Error('response too large'), { code: 'ETOOBIG' }));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

function networkReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'unknown host';
  if (code === 'ETIMEDOUT') return `no answer within ${TIMEOUT_MS / 1000}s`;
  if (code === 'ETOOBIG') return `response larger than ${MAX_RESPONSE_BYTES} bytes`;
  return code ?? (err as Error).message;
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
