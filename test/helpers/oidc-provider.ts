/**
 * A test OpenID Connect provider on loopback: real HTTP, real protocol, a generated RSA key.
 *
 *   GET  /.well-known/openid-configuration   discovery
 *   GET  /jwks                               the public keys (current, and the previous one after rotate({keep}))
 *   POST /device/code                        RFC 8628 device authorization (client_id, scope)
 *   GET  /device                             the "browser" page: a form to log in as a subject with groups
 *   POST /device                             user_code, sub, groups (comma-separated): approves the device code
 *   POST /token                              grant_type device_code (authorization_pending until approved) or
 *                                            refresh_token
 *   POST /mint                               sub, groups, ttl (seconds): a token at once (tests, the by-hand run)
 *
 * It can rotate its key, be stopped (and started again on the same port), and counts requests per path.
 *
 * Run by hand (scripts/test-idp.sh compiles this file and runs it):
 *   node oidc-provider.js --port 9555 [--audience ringmaster] [--client-id ringctl] [--ttl 3600]
 * It prints its issuer URL and serves until SIGTERM/SIGINT.
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';

export interface TestIdpOptions {
  port?: number;
  audience?: string;
  clientId?: string;
  /** Lifetime of issued access tokens, seconds (default 3600). */
  ttlSec?: number;
  /** Approve every device code at once as this subject (tests). */
  autoApprove?: { sub: string; groups: string[] };
}

interface Key {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

interface DeviceGrant {
  deviceCode: string;
  userCode: string;
  clientId: string;
  expiresAt: number;
  approved?: { sub: string; groups: string[] };
  polls: number;
}

export class TestIdp {
  private server: http.Server | undefined;
  private port = 0;
  private current: Key | undefined;
  private previous: Key | undefined;
  private readonly grants = new Map<string, DeviceGrant>();
  private readonly refreshTokens = new Map<string, { sub: string; groups: string[] }>();
  readonly hits = new Map<string, number>();
  readonly audience: string;
  readonly clientId: string;
  ttlSec: number;
  autoApprove: { sub: string; groups: string[] } | undefined;

  constructor(opts: TestIdpOptions = {}) {
    this.port = opts.port ?? 0;
    this.audience = opts.audience ?? 'ringmaster';
    this.clientId = opts.clientId ?? 'ringctl';
    this.ttlSec = opts.ttlSec ?? 3600;
    this.autoApprove = opts.autoApprove;
  }

  get issuer(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get kid(): string {
    return (this.key()).kid;
  }

  /** The current key's public JWK (a test signs HS256 with it to try the key-confusion attack). */
  get publicJwk(): JWK {
    return this.key().jwk;
  }

  async start(): Promise<this> {
    if (!this.current) this.current = await newKey();
    const server = http.createServer((req, res) => {
      void this.handle(req, res).catch(() => {
        if (!res.headersSent) send(res, 500, { error: 'server_error' });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Stops listening and drops open connections (the provider is "down"; start() brings it back on the same port). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** A new signing key with a new kid; `keep` leaves the old one in the JWKS too. */
  async rotate(opts: { keep?: boolean } = {}): Promise<string> {
    this.previous = opts.keep ? this.current : undefined;
    this.current = await newKey();
    return this.current.kid;
  }

  /** A signed JWT; `claims` override the defaults (iss, aud, sub, iat, exp, groups). */
  async sign(claims: JWTPayload & { groups?: string[] } = {}, opts: { kid?: string | null; ttlSec?: number } = {}): Promise<string> {
    const key = this.key();
    const now = Math.floor(Date.now() / 1000);
    // A random jti, as real providers add: two tokens issued in the same second differ.
    const payload: JWTPayload = { iss: this.issuer, aud: this.audience, sub: 'alice', iat: now, exp: now + (opts.ttlSec ?? this.ttlSec), jti: crypto.randomUUID(), ...claims };
    const header: { alg: string; kid?: string; typ: string } = { alg: 'RS256', typ: 'JWT' };
    if (opts.kid !== null) header.kid = opts.kid ?? key.kid;
    return new SignJWT(payload).setProtectedHeader(header).sign(key.privateKey);
  }

  private key(): Key {
    if (!this.current) throw new Error('test idp: start() first');
    return this.current;
  }

  private count(path: string): void {
    this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.issuer);
    this.count(url.pathname);
    const form = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /.well-known/openid-configuration':
        send(res, 200, {
          issuer: this.issuer,
          jwks_uri: `${this.issuer}/jwks`,
          token_endpoint: `${this.issuer}/token`,
          device_authorization_endpoint: `${this.issuer}/device/code`,
          grant_types_supported: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
          id_token_signing_alg_values_supported: ['RS256'],
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
        });
        return;
      case 'GET /jwks':
        send(res, 200, { keys: [this.current, this.previous].filter((k): k is Key => k !== undefined).map((k) => k.jwk) }, { 'Cache-Control': 'max-age=300' });
        return;
      case 'POST /device/code': {
        const clientId = form.get('client_id') ?? '';
        if (clientId !== this.clientId) return send(res, 401, { error: 'invalid_client' });
        const g: DeviceGrant = { deviceCode: crypto.randomBytes(24).toString('base64url'), userCode: userCode(), clientId, expiresAt: Date.now() + 600_000, polls: 0 };
        if (this.autoApprove) g.approved = this.autoApprove;
        this.grants.set(g.deviceCode, g);
        send(res, 200, {
          device_code: g.deviceCode,
          user_code: g.userCode,
          verification_uri: `${this.issuer}/device`,
          verification_uri_complete: `${this.issuer}/device?user_code=${g.userCode}`,
          expires_in: 600,
          interval: 1,
        });
        return;
      }
      case 'GET /device': {
        const code = escapeHtml(form.get('user_code') ?? '');
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(`<!doctype html><title>test idp</title><form method="post" action="/device"><p>Code <input name="user_code" value="${code}"></p><p>Subject <input name="sub" value="alice"></p><p>Groups <input name="groups" value="rm-deployers"></p><button>Log in</button></form>`);
        return;
      }
      case 'POST /device': {
        const code = (form.get('user_code') ?? '').toUpperCase();
        const g = [...this.grants.values()].find((x) => x.userCode === code);
        if (!g) return send(res, 404, { error: 'unknown user_code' });
        g.approved = { sub: form.get('sub') ?? 'alice', groups: splitGroups(form.get('groups')) };
        send(res, 200, { approved: true, sub: g.approved.sub, groups: g.approved.groups });
        return;
      }
      case 'POST /token':
        return this.token(form, res);
      case 'POST /mint': {
        const sub = form.get('sub') ?? 'alice';
        const ttl = Number(form.get('ttl') ?? this.ttlSec);
        send(res, 200, { access_token: await this.sign({ sub, groups: splitGroups(form.get('groups')) }, { ttlSec: ttl }), token_type: 'Bearer', expires_in: ttl });
        return;
      }
      default:
        send(res, 404, { error: 'not_found' });
    }
  }

  private async token(form: URLSearchParams, res: http.ServerResponse): Promise<void> {
    const grantType = form.get('grant_type');
    if (form.get('client_id') !== this.clientId) return send(res, 401, { error: 'invalid_client' });
    let who: { sub: string; groups: string[] };
    if (grantType === 'urn:ietf:params:oauth:grant-type:device_code') {
      const g = this.grants.get(form.get('device_code') ?? '');
      if (!g) return send(res, 400, { error: 'invalid_grant' });
      if (Date.now() > g.expiresAt) return send(res, 400, { error: 'expired_token' });
      g.polls++;
      if (!g.approved) return send(res, 400, { error: 'authorization_pending' });
      this.grants.delete(g.deviceCode);
      who = g.approved;
    } else if (grantType === 'refresh_token') {
      const r = this.refreshTokens.get(form.get('refresh_token') ?? '');
      if (!r) return send(res, 400, { error: 'invalid_grant' });
      this.refreshTokens.delete(form.get('refresh_token') ?? '');
      who = r;
    } else {
      return send(res, 400, { error: 'unsupported_grant_type' });
    }
    const refresh = crypto.randomBytes(24).toString('base64url');
    this.refreshTokens.set(refresh, who);
    const access = await this.sign({ sub: who.sub, groups: who.groups });
    const id = await this.sign({ sub: who.sub, groups: who.groups, aud: this.clientId });
    send(res, 200, { access_token: access, id_token: id, refresh_token: refresh, token_type: 'Bearer', expires_in: this.ttlSec });
  }
}

async function newKey(): Promise<Key> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = crypto.randomBytes(8).toString('hex');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, jwk };
}

function userCode(): string {
  const abc = 'BCDFGHJKLMNPQRSTVWXZ';
  const pick = (): string => abc[crypto.randomInt(abc.length)] as string;
  return `${pick()}${pick()}${pick()}${pick()}-${pick()}${pick()}${pick()}${pick()}`;
}

function splitGroups(v: string | null): string[] {
  return (v ?? '')
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      s += c;
      if (s.length > 65536) req.destroy();
    });
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

/** `node oidc-provider.js --port N [--audience A] [--client-id C] [--ttl S]`: serves until a signal. */
async function main(argv: string[]): Promise<void> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const idp = new TestIdp({
    port: Number(arg('--port') ?? 9555),
    ...(arg('--audience') ? { audience: arg('--audience') as string } : {}),
    ...(arg('--client-id') ? { clientId: arg('--client-id') as string } : {}),
    ...(arg('--ttl') ? { ttlSec: Number(arg('--ttl')) } : {}),
  });
  await idp.start();
  process.stdout.write(`test-idp: issuer ${idp.issuer} (audience ${idp.audience}, client ${idp.clientId}, key ${idp.kid})\n`);
  process.stdout.write(`test-idp: log a device in: curl -d user_code=XXXX-XXXX -d sub=alice -d groups=rm-deployers ${idp.issuer}/device\n`);
  const stop = (): void => {
    void idp.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`test-idp: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
