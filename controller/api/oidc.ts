/**
 * OpenID Connect bearer tokens for people: the token is a JWT (an ID or access token) from the configured issuer,
 * verified with `jose` against the issuer's JWKS. Nothing here parses or checks a JWT by hand.
 *
 * - Discovery (`<issuer>/.well-known/openid-configuration`) and the JWKS are fetched through the tree's one HTTP
 *   client (http/client.ts) with a time limit per fetch, and cached; jose verifies against the cached set
 *   (createLocalJWKSet). jose's own remote JWKS is not used: its fetch is not the tree's client, and the policy
 *   here (a rate limit on failed fetches too, a background refresh before expiry) is ours to test.
 * - Cached keys are trusted for `jwksMaxAgeMs` after the fetch that returned them (refreshed in the background
 *   after three quarters of it, so steady traffic never waits for a fetch); after that a token is only
 *   accepted once a fresh JWKS is fetched. With the provider down, cached keys verify until they expire, and
 *   nothing verifies after that (fail closed; static and break-glass credentials do not depend on the provider).
 * - A token whose `kid` is not in the cached set (the provider rotated its key) triggers a refetch, at most one per
 *   `refetchIntervalMs`; concurrent refetches share one request. A failed fetch is not retried before the same
 *   interval either, so a down provider costs at most one timed-out fetch per interval, not one per request.
 * - Signature, `iss`, `aud`, `exp` and `nbf` are checked by jose, with `clockSkewSec` of tolerance. The accepted
 *   algorithms are an explicit list of asymmetric ones: `none` and every HMAC algorithm are refused (an HS256
 *   token "signed" with the provider's public key never verifies).
 * - Roles come from a claim (`groups` by default, a dotted path for nested claims) through the configured mapping.
 *   The audit actor is `oidc:<issuer> sub=<subject>`.
 */
import { createLocalJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { HttpClient } from '../http/client';
import { textFlaw } from '../spec/text';
import type { Logger } from '../telemetry/log';
import { silentLogger } from '../telemetry/log';
import type { Role } from './tokens';

/** The asymmetric JWS algorithms ringmaster can be told to accept; HS* and none are not among them. */
export const OIDC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type OidcAlgorithm = (typeof OIDC_ALGORITHMS)[number];

export interface OidcSettings {
  /** The `iss` of every accepted token, exactly (also where discovery is fetched). */
  issuer: string;
  /** The `aud` every accepted token must carry. */
  audience: string;
  /** The public client ringctl logs in as (device flow); served to ringctl at GET /v1/auth/config. */
  clientId?: string;
  /** Claim holding the caller's groups (a string or a list of strings); dots descend into objects. */
  rolesClaim: string;
  /** Group -> role. A group not listed grants nothing. */
  roleMap: Readonly<Record<string, Role>>;
  algorithms: readonly OidcAlgorithm[];
  clockSkewSec: number;
  /** How long a fetched JWKS is trusted. */
  jwksMaxAgeMs: number;
  /** Least time between two fetches of the JWKS (unknown kid, expired cache, failed fetch). */
  refetchIntervalMs: number;
  /** Time limit of one discovery or JWKS fetch. */
  fetchTimeoutMs: number;
}

export const OIDC_DEFAULTS = {
  rolesClaim: 'groups',
  algorithms: ['RS256', 'ES256', 'EdDSA'] as OidcAlgorithm[],
  clockSkewSec: 30,
  jwksMaxAgeMs: 60 * 60_000,
  refetchIntervalMs: 30_000,
  fetchTimeoutMs: 3_000,
} as const;

/** A verified person. */
export interface OidcIdentity {
  /** `oidc:<issuer> sub=<subject>`: the audit actor. */
  actor: string;
  subject: string;
  issuer: string;
  roles: Role[];
  /** Seconds since the epoch. */
  expiresAt: number;
}

export type OidcResult =
  | { ok: true; identity: OidcIdentity }
  /**
   * invalid: the token is bad (counts as a failed authentication); unavailable: the keys to check it are not at hand.
   * `expired` tells the caller to log in again.
   */
  | { ok: false; kind: 'invalid' | 'unavailable'; message: string; expired?: true; notJwt?: true };

interface KeyCache {
  jwks: JSONWebKeySet;
  kids: ReadonlySet<string>;
  keys: ReturnType<typeof createLocalJWKSet>;
  fetchedAt: number;
}

/** The shape a compact JWS has: three base64url parts (the first two non-empty). */
const COMPACT_JWS_RE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;
export const MAX_JWT_LENGTH = 8192;

export function looksLikeJwt(token: string): boolean {
  return token.length <= MAX_JWT_LENGTH && COMPACT_JWS_RE.test(token);
}

export function oidcActor(issuer: string, subject: string): string {
  return `oidc:${issuer} sub=${subject}`;
}

export class OidcVerifier {
  private jwksUri: string | undefined;
  private cache: KeyCache | undefined;
  private lastAttempt = -Infinity;
  private lastError = '';
  private inflight: Promise<void> | undefined;
  private readonly clients = new Map<string, HttpClient>();
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(
    readonly settings: OidcSettings,
    opts: { now?: () => number; log?: Logger } = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? silentLogger;
  }

  /** Fetches discovery and the keys ahead of the first token (best effort: a down provider is reported, not fatal). */
  async prefetch(): Promise<{ ok: boolean; message: string }> {
    await this.refresh(true);
    return this.cache ? { ok: true, message: `${this.cache.kids.size} key(s) from ${this.jwksUri ?? '?'}` } : { ok: false, message: this.lastError };
  }

  /** Whether keys are cached and still trusted (for /readyz-like reporting and tests). */
  keysFresh(): boolean {
    return this.cache !== undefined && this.now() - this.cache.fetchedAt < this.settings.jwksMaxAgeMs;
  }

  async verify(token: string): Promise<OidcResult> {
    let kid: string | undefined;
    let alg: string | undefined;
    try {
      const h = decodeProtectedHeader(token);
      kid = typeof h.kid === 'string' ? h.kid : undefined;
      alg = typeof h.alg === 'string' ? h.alg : undefined;
    } catch {
      // Three dotted parts but no JOSE header: not a JWT at all (maybe a static token of that shape).
      return { ok: false, kind: 'invalid', message: 'malformed token', notJwt: true };
    }
    if (alg === undefined || !(this.settings.algorithms as readonly string[]).includes(alg)) {
      return { ok: false, kind: 'invalid', message: `token algorithm ${alg === undefined ? '(none given)' : clip(alg)} is not accepted (accepted: ${this.settings.algorithms.join(', ')})` };
    }
    if (!this.keysFresh()) await this.refresh(false);
    else if (kid !== undefined && !this.cache?.kids.has(kid)) await this.refresh(false);
    // Past 3/4 of their trusted age, keys are refreshed in the background: under steady traffic no request waits.
    else if (this.cache && this.now() - this.cache.fetchedAt > this.settings.jwksMaxAgeMs * 0.75) void this.refresh(false);
    const cache = this.cache;
    if (!cache || this.now() - cache.fetchedAt >= this.settings.jwksMaxAgeMs) {
      return { ok: false, kind: 'unavailable', message: `cannot verify the token: the identity provider's keys are not at hand (${this.lastError || 'not fetched yet'})` };
    }
    let payload: JWTPayload;
    try {
      const r = await jwtVerify(token, cache.keys, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: [...this.settings.algorithms],
        clockTolerance: this.settings.clockSkewSec,
        currentDate: new Date(this.now()),
        requiredClaims: ['sub', 'exp'],
      });
      payload = r.payload;
    } catch (err) {
      return { ok: false, kind: 'invalid', message: describeJoseError(err, kid), ...(err instanceof joseErrors.JWTExpired ? { expired: true as const } : {}) };
    }
    const subject = payload.sub;
    // The subject becomes the audit actor: one line of plain text, bounded.
    if (typeof subject !== 'string' || subject === '' || subject.length > 255 || textFlaw(subject, 'line') !== undefined || /\s/.test(subject)) {
      return { ok: false, kind: 'invalid', message: 'token subject (sub) is not a short printable string' };
    }
    const roles = rolesOf(payload, this.settings);
    return { ok: true, identity: { actor: oidcActor(this.settings.issuer, subject), subject, issuer: this.settings.issuer, roles, expiresAt: payload.exp as number } };
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
  }

  /** One shared fetch of discovery (once) and the JWKS, at most once per refetch interval unless `force`. */
  private refresh(force: boolean): Promise<void> {
    if (this.inflight) return this.inflight;
    if (!force && this.now() - this.lastAttempt < this.settings.refetchIntervalMs) return Promise.resolve();
    this.lastAttempt = this.now();
    this.inflight = this.fetchKeys().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchKeys(): Promise<void> {
    try {
      if (this.jwksUri === undefined) {
        const discoveryUrl = `${this.settings.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
        const doc = await this.getJson(discoveryUrl);
        if (doc.issuer !== this.settings.issuer) throw new Error(`discovery at ${discoveryUrl} names issuer ${clip(String(doc.issuer))}, not ${this.settings.issuer}`);
        if (typeof doc.jwks_uri !== 'string') throw new Error(`discovery at ${discoveryUrl} has no jwks_uri`);
        this.jwksUri = doc.jwks_uri;
      }
      const jwks = await this.getJson(this.jwksUri);
      if (!Array.isArray(jwks.keys)) throw new Error(`${this.jwksUri}: not a JWKS (no "keys" list)`);
      const set = jwks as unknown as JSONWebKeySet;
      const kids = new Set(set.keys.map((k) => k.kid).filter((k): k is string => typeof k === 'string'));
      this.cache = { jwks: set, kids, keys: createLocalJWKSet(set), fetchedAt: this.now() };
      this.lastError = '';
      this.log.info({ issuer: this.settings.issuer, keys: kids.size }, 'oidc keys fetched');
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
      this.log.warn({ issuer: this.settings.issuer, error: this.lastError }, 'oidc key fetch failed');
    }
  }

  private async getJson(url: string): Promise<Record<string, unknown>> {
    const u = new URL(url);
    let client = this.clients.get(u.origin);
    if (!client) {
      client = new HttpClient({ baseUrl: u.origin, timeoutMs: this.settings.fetchTimeoutMs, maxResponseBytes: 1024 * 1024, retries: 0 });
      this.clients.set(u.origin, client);
    }
    const r = await client.get(u.pathname + u.search, { headers: { accept: 'application/json' } });
    if (!r.ok) throw new Error(r.failure.message);
    if (r.response.status !== 200) throw new Error(`GET ${u.origin}${u.pathname}: HTTP ${r.response.status}`);
    let v: unknown;
    try {
      v = JSON.parse(r.response.text());
    } catch {
      throw new Error(`GET ${u.origin}${u.pathname}: not JSON`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`GET ${u.origin}${u.pathname}: not a JSON object`);
    return v as Record<string, unknown>;
  }
}

/** The roles the token's group claim maps to, each once, in the order of ROLES' mapping entries. */
export function rolesOf(payload: JWTPayload, settings: Pick<OidcSettings, 'rolesClaim' | 'roleMap'>): Role[] {
  let v: unknown = payload;
  for (const part of settings.rolesClaim.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  const groups = typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((g): g is string => typeof g === 'string') : [];
  const out: Role[] = [];
  for (const g of groups) {
    const role = Object.prototype.hasOwnProperty.call(settings.roleMap, g) ? settings.roleMap[g] : undefined;
    if (role !== undefined && !out.includes(role)) out.push(role);
  }
  return out;
}

function describeJoseError(err: unknown, kid: string | undefined): string {
  if (err instanceof joseErrors.JWTExpired) return 'token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'iss':
        return 'token issuer is not the configured issuer';
      case 'aud':
        return 'token audience is not this server';
      case 'nbf':
        return 'token is not valid yet (nbf)';
      default:
        return `token claim ${clip(err.claim)} is invalid (${err.reason})`;
    }
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) return `no key of the identity provider matches the token (kid ${kid === undefined ? 'absent' : clip(kid)})`;
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys) return 'several keys of the identity provider match the token and none verifies it';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature does not verify';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm is not accepted';
  if (err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JWSInvalid) return 'malformed token';
  if (err instanceof joseErrors.JOSEError) return `token refused (${err.code})`;
  return 'token refused';
}

/** A value from a token, short and printable, for a message (never the token itself). */
function clip(s: string): string {
  const t = s.replace(/[^\x20-\x7e]/g, '?');
  return t.length > 40 ? `${t.slice(0, 37)}...` : t;
}
