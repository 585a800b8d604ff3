/**
 * The HTTP server: one node:http server with a fast path ahead of express.
 *
 * `GET|HEAD /v1/channels/{channel}/manifest` is the hot path (a million agents polling every minute is
 * ~17k requests/s). It is answered right here in the raw request handler from the service's precomputed,
 * signed buffer: no express, no body parsing, headers precomputed per manifest revision, a 304 when the
 * agent already has this revision. Everything else (management routes) goes to the express app.
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { ControllerService, SignedManifest } from '../runtime/service';
import { silentLogger, type Logger } from '../telemetry/log';
import { MANIFEST_ROUTE, Telemetry, type RolloutPhaseSample } from '../telemetry/metrics';
import { authorize, type AuthContext } from './auth';
import { DEFAULT_MAX_BODY_BYTES } from './body';
import { errorBody, sendError, type ErrorCode } from './errors';
import { DEFAULT_FAILED_AUTH_LIMIT, FailedAuthLimiter, type FailedAuthLimit } from './ratelimit';
import { createApp } from './routes';
import type { TokenSet } from './tokens';
import type { OidcVerifier } from './oidc';

/** What the API reports and serves as metrics. `Telemetry` implements it. */
export interface ApiMetrics {
  httpRequest(route: string, code: number): void;
  /** Fast-path manifest responses; cheaper than httpRequest. */
  manifestRequest?(code: number): void;
  /** Called before each scrape so that the rollout gauges reflect the store (also after a restart). */
  syncRollouts?(rollouts: readonly RolloutPhaseSample[]): void;
  killSwitch?(engaged: boolean): void;
  /** A break-glass credential engaged the kill switch (the actor is `break-glass:<name>`). */
  breakGlass?(actor: string): void;
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface ServerOptions {
  tokens: TokenSet;
  /** People's OIDC tokens (api/oidc.ts); absent: static tokens only. */
  oidc?: OidcVerifier;
  /** Break-glass secrets: they engage the kill switch and nothing else (docs/security.md). */
  breakGlass?: TokenSet;
  observer?: ApiMetrics;
  /** Request body limit, default 1 MiB. */
  maxBodyBytes?: number;
  /** Failed authentications per client IP, default 10/min with a burst of 20, 10,000 clients tracked. */
  failedAuthLimit?: FailedAuthLimit;
  /**
   * The server's logger: an error line with the request id and the stack per unexpected failure, a warn line per
   * refused credential (never the header), a debug line per request. Silent by default.
   */
  log?: Logger;
  /** Files of this directory are served at GET /artifacts/NAME (public, read-only). */
  artifactsDir?: string;
}

/** A client-supplied X-Request-Id is echoed when it is this tame; anything else is refused (400). */
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const MANIFEST_PREFIX = '/v1/channels/';
const MANIFEST_SUFFIX = '/manifest';

export function createServer(service: ControllerService, opts: ServerOptions): http.Server {
  const observer: ApiMetrics = opts.observer ?? new Telemetry({ defaultMetrics: false });
  const auth: AuthContext = {
    tokens: opts.tokens,
    limiter: new FailedAuthLimiter(opts.failedAuthLimit ?? DEFAULT_FAILED_AUTH_LIMIT),
    ...(opts.oidc ? { oidc: opts.oidc } : {}),
    ...(opts.breakGlass ? { breakGlass: opts.breakGlass } : {}),
  };
  const log = opts.log ?? silentLogger;
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const manifestAuth = opts.tokens.size > 0 && opts.tokens.hasRole('agent');
  const countManifest = observer.manifestRequest ? (code: number): void => observer.manifestRequest?.(code) : (code: number): void => observer.httpRequest(MANIFEST_ROUTE, code);
  const app = createApp(service, { auth, observer, maxBodyBytes, log, ...(opts.artifactsDir === undefined ? {} : { artifactsDir: opts.artifactsDir }) });

  const idPrefix = crypto.randomBytes(4).toString('hex');
  let seq = 0;

  /** Precomputed response headers of a manifest revision (the object is the cache key), as flat [name, value] lists. */
  type HeaderList = Array<string | number>;
  const headerCache = new WeakMap<SignedManifest, { ok: HeaderList; notModified: HeaderList }>();
  let keyIdValue: string | undefined;
  const headersOf = (m: SignedManifest): { ok: HeaderList; notModified: HeaderList } => {
    let h = headerCache.get(m);
    if (!h) {
      keyIdValue ??= service.signingKey().keyId;
      const common = ['ETag', m.etag, 'Cache-Control', 'no-cache', 'X-Ringmaster-Revision', String(m.revision), 'X-Ringmaster-Key-Id', keyIdValue];
      h = {
        ok: [...common, 'Content-Type', 'application/json', 'Content-Length', m.body.length, 'X-Ringmaster-Signature', m.signature, 'X-Content-Type-Options', 'nosniff'],
        notModified: common,
      };
      headerCache.set(m, h);
    }
    return h;
  };
  /** Error answers of the fast path (rare): the request id goes on first, as everywhere else. */
  const refuse = (res: http.ServerResponse, status: number, code: ErrorCode, message: string, requestId: string, headers?: Record<string, string>): void => {
    countManifest(status);
    // debug, not warn: a fleet of misconfigured agents must not flood the log (the counters show the rate).
    if (log.isLevelEnabled('debug')) log.debug({ requestId, route: MANIFEST_ROUTE, status, code }, 'manifest request refused');
    res.setHeader('X-Request-Id', requestId);
    sendError(res, status, code, message, requestId, headers ? { headers } : {});
  };

  const serveManifest = (req: http.IncomingMessage, res: http.ServerResponse, channel: string, requestId: string): void => {
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD') {
      refuse(res, 405, 'method_not_allowed', 'the manifest supports GET and HEAD', requestId, { Allow: 'GET, HEAD' });
      return;
    }
    if (manifestAuth) {
      const a = authorize(auth, req.headers.authorization, req.socket.remoteAddress ?? 'unknown', 'manifest');
      if (!a.ok) {
        refuse(res, a.status, a.code, a.message, requestId, a.headers);
        return;
      }
    }
    const m = service.manifest(channel);
    if (!m) {
      refuse(res, 404, 'not_found', 'no manifest for this channel', requestId);
      return;
    }
    const inm = req.headers['if-none-match'];
    if (inm !== undefined) {
      const match = inm === m.etag ? true : ifNoneMatchHits(inm, m.etag);
      if (match === undefined) {
        refuse(res, 400, 'bad_header', 'malformed If-None-Match (expected "*" or a list of entity tags)', requestId);
        return;
      }
      if (match) {
        countManifest(304);
        // One writeHead with a flat list and no setHeader before it: node's cheapest way to send headers.
        res.writeHead(304, [...headersOf(m).notModified, 'X-Request-Id', requestId]);
        res.end();
        return;
      }
    }
    countManifest(200);
    res.writeHead(200, [...headersOf(m).ok, 'X-Request-Id', requestId]);
    res.end(method === 'HEAD' ? undefined : m.body);
  };

  // Host is checked below (node's own check answers a bare 400 without our error body or request id).
  const server = http.createServer({ requireHostHeader: false }, (req, res) => {
    const header = req.headers['x-request-id'];
    // Repeated custom headers arrive as a list: that is malformed too.
    const given = Array.isArray(header) ? '' : header;
    const requestId = `${idPrefix}-${(++seq).toString(36)}`;
    if (given !== undefined) {
      if (!REQUEST_ID_RE.test(given)) {
        res.setHeader('X-Request-Id', requestId);
        sendError(res, 400, 'bad_header', 'malformed X-Request-Id (1-128 characters of A-Z a-z 0-9 . _ : -)', requestId);
        observer.httpRequest('invalid', 400);
        return;
      }
    }
    const id = given ?? requestId;
    if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
      observer.httpRequest('invalid', 400);
      res.setHeader('X-Request-Id', id);
      sendError(res, 400, 'bad_header', 'missing Host header', id);
      return;
    }
    const url = req.url ?? '/';
    if (url.startsWith(MANIFEST_PREFIX)) {
      const q = url.indexOf('?');
      const pathname = q < 0 ? url : url.slice(0, q);
      if (pathname.endsWith(MANIFEST_SUFFIX)) {
        const channel = pathname.slice(MANIFEST_PREFIX.length, pathname.length - MANIFEST_SUFFIX.length);
        if (channel.length > 0 && !channel.includes('/')) {
          serveManifest(req, res, channel, id);
          return;
        }
      }
    }
    res.setHeader('X-Request-Id', id);
    app(req, res);
  });
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;

  // Requests node cannot parse (bad header bytes, oversize headers, bad Content-Length): a JSON 4xx, not node's bare one.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const requestId = `${idPrefix}-${(++seq).toString(36)}`;
    if (log.isLevelEnabled('debug')) log.debug({ requestId, status, code: err.code }, 'malformed request refused');
    const message = status === 431 ? 'request headers too large' : status === 408 ? 'request timed out' : 'malformed HTTP request';
    const code = status === 431 ? 'header_too_large' : 'bad_request';
    const body = JSON.stringify(errorBody(code, message, requestId));
    observer.httpRequest('invalid', status);
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Bad Request'}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}

/**
 * Weak comparison of If-None-Match against our (strong, quoted) ETag, as RFC 9110 asks for this header.
 * Returns undefined when the header is not `*` or a comma-separated list of entity tags.
 */
export function ifNoneMatchHits(header: string, etag: string): boolean | undefined {
  const h = header.trim();
  if (h === '*') return true;
  if (h === '') return undefined;
  if (h.length > 4096) return undefined;
  const opaque = etag.startsWith('W/') ? etag.slice(2) : etag;
  let hit = false;
  const re = /\s*(W\/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(,|$)/gy;
  let pos = 0;
  while (pos < h.length) {
    re.lastIndex = pos;
    const m = re.exec(h);
    if (!m || m[0].length === 0) return undefined;
    if (m[2] === opaque) hit = true;
    pos = re.lastIndex;
    if (m[3] === '' && pos < h.length) return undefined;
  }
  return hit;
}
