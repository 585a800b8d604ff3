/**
 * Who may do what. Authentication (bearer token -> token entry) and authorisation (role -> permission) are
 * plain functions over the request's Authorization header, shared by the manifest fast path and the
 * express routes.
 */
import type { ErrorCode } from './errors';
import type { FailedAuthLimiter } from './ratelimit';
import { BEARER_TOKEN_RE, type Role, type TokenEntry, type TokenSet } from './tokens';

/** What a route needs. `read` covers every GET of the management API. */
export type Permission =
  | 'read'
  | 'apply'
  | 'pause'
  | 'resume'
  | 'approve'
  | 'abort'
  | 'rollback'
  | 'promote'
  | 'retry'
  | 'killswitch'
  | 'manifest'
  /** `ringctl delete` (archive a finished rollout). */
  | 'archive'
  /** Apply or delete a Policy through the API (POST/DELETE /v1/policies). */
  | 'policy';

const READ: Permission[] = ['read', 'manifest'];

/** admin can do everything; deployer, approver and sre include viewer; agent only reads manifests. */
export const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  viewer: new Set([...READ]),
  deployer: new Set<Permission>([...READ, 'apply', 'pause', 'resume', 'abort', 'rollback', 'retry', 'archive']),
  approver: new Set<Permission>([...READ, 'approve', 'promote']),
  sre: new Set<Permission>([...READ, 'pause', 'resume', 'abort', 'rollback', 'retry', 'killswitch']),
  admin: new Set<Permission>([...READ, 'apply', 'pause', 'resume', 'approve', 'promote', 'abort', 'rollback', 'retry', 'killswitch', 'archive', 'policy']),
  agent: new Set<Permission>(['manifest']),
};

export function rolesFor(permission: Permission): Role[] {
  return (Object.keys(GRANTS) as Role[]).filter((r) => GRANTS[r].has(permission));
}

export type AuthResult =
  /** principal null: the route is open to anonymous callers in this configuration. */
  | { ok: true; principal: TokenEntry | null }
  | { ok: false; status: 401 | 403 | 429; code: ErrorCode; message: string; headers: Record<string, string> };

export interface AuthContext {
  tokens: TokenSet;
  limiter: FailedAuthLimiter;
}

const CHALLENGE = 'Bearer realm="ringmaster"';

/**
 * Decides a request. Without any configured token, reads and manifests are open and mutations are refused.
 * With tokens, every read needs a token (of any role but agent) and the manifest needs a token only when an
 * agent token is configured.
 *
 * Failed authentications are limited per client address, but a valid token is never refused for it: anyone
 * sharing the SRE's address (a NAT, a bastion, the same host) could otherwise lock the SRE out of the kill switch
 * by sending bad tokens. A limited client's request gets 429 at once when it carries no usable token (no header,
 * a malformed one: no hashing at all). A well-formed token costs what every request costs (one sha256 and the
 * constant-time compares); a wrong one gets 429 and is counted, a valid one goes on to the role check.
 *
 * The trade-off, stated: a limited client's well-formed guesses are still checked, so the limit does not slow
 * online guessing; nothing that tells a valid token apart could, without also locking out that token. What
 * defeats guessing is the token's entropy (32 random bytes, as examples/tokens.yaml and docs/api.md say).
 */
export function authorize(ctx: AuthContext, authorization: string | undefined, client: string, permission: Permission): AuthResult {
  const { tokens, limiter } = ctx;
  if (tokens.size === 0) {
    if (permission === 'read' || permission === 'manifest') return { ok: true, principal: null };
    return {
      ok: false,
      status: 401,
      code: 'unauthorized',
      message: 'this server has no API tokens configured (ringmaster serve --tokens FILE), so every change is refused',
      headers: { 'WWW-Authenticate': CHALLENGE },
    };
  }
  if (permission === 'manifest' && !tokens.hasRole('agent')) return { ok: true, principal: null };

  // Over the limit before this request: then anything but a valid token gets 429 instead of 401.
  const wait = limiter.retryAfter(client);
  if (authorization === undefined || authorization === '') {
    if (wait > 0) return rateLimited(wait);
    return { ok: false, status: 401, code: 'unauthorized', message: 'missing bearer token (Authorization: Bearer <token>)', headers: { 'WWW-Authenticate': CHALLENGE } };
  }
  const presented = bearerToken(authorization);
  if (presented === undefined) {
    limiter.fail(client);
    if (wait > 0) return rateLimited(limiter.retryAfter(client));
    return {
      ok: false,
      status: 401,
      code: 'unauthorized',
      message: 'malformed Authorization header (expected "Bearer <token>")',
      headers: { 'WWW-Authenticate': `${CHALLENGE}, error="invalid_request"` },
    };
  }
  const principal = tokens.authenticate(presented);
  if (!principal) {
    limiter.fail(client);
    if (wait > 0) return rateLimited(limiter.retryAfter(client));
    return { ok: false, status: 401, code: 'unauthorized', message: 'invalid token', headers: { 'WWW-Authenticate': `${CHALLENGE}, error="invalid_token"` } };
  }
  if (!GRANTS[principal.role].has(permission)) {
    return {
      ok: false,
      status: 403,
      code: 'forbidden',
      message: `role ${principal.role} may not ${describePermission(permission)} (needs ${rolesFor(permission).join(' or ')})`,
      headers: {},
    };
  }
  return { ok: true, principal };
}

/** The token of `Bearer <token>`, or undefined when the header is not of that form (no regex backtracking). */
function bearerToken(authorization: string): string | undefined {
  if (authorization.length > 1024) return undefined;
  const m = /^Bearer +(\S+) *$/i.exec(authorization);
  const presented = m?.[1];
  return presented !== undefined && BEARER_TOKEN_RE.test(presented) ? presented : undefined;
}

function rateLimited(wait: number): AuthResult {
  return {
    ok: false,
    status: 429,
    code: 'rate_limited',
    message: `too many failed authentications from this client; retry in ${wait}s (a valid token is still accepted)`,
    headers: { 'Retry-After': String(wait) },
  };
}

function describePermission(p: Permission): string {
  switch (p) {
    case 'read':
      return 'read the API';
    case 'apply':
      return 'apply rollouts';
    case 'killswitch':
      return 'operate the kill switch';
    case 'manifest':
      return 'read manifests';
    case 'archive':
      return 'delete (archive) rollouts';
    case 'policy':
      return 'apply or delete policies';
    default:
      return `${p} rollouts`;
  }
}
