/**
 * Who may do what. Authentication (bearer token -> principal) and authorisation (role -> permission) are
 * plain functions over the request's Authorization header, shared by the manifest fast path and the
 * express routes.
 *
 * Three kinds of credential:
 * - machine: a static token of the tokens file (agents, CI); optionally limited to some verbs;
 * - person: an OIDC JWT (api/oidc.ts), roles from the provider's group claim; checking it may need the provider's
 *   keys, so it is the one asynchronous path (authorizeRequest);
 * - break-glass: a secret of the serve config (`breakGlass`), kept offline by the SRE team. It may engage the
 *   kill switch and nothing else (not even release it), and never touches the identity provider.
 */
import type { ErrorCode } from './errors';
import { looksLikeJwt, MAX_JWT_LENGTH, type OidcVerifier } from './oidc';
import type { FailedAuthLimiter } from './ratelimit';
import { BEARER_TOKEN_RE, type Permission, type Role, type TokenEntry, type TokenSet } from './tokens';

export type { Permission } from './tokens';

export type PrincipalKind = 'machine' | 'person' | 'break-glass';

/** The authenticated caller. `name` is the audit actor; `role` the first of `roles` (for display). */
export interface Principal extends TokenEntry {
  kind: PrincipalKind;
  roles: Role[];
  permissions: ReadonlySet<Permission>;
  subject?: string;
  issuer?: string;
}

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
  | { ok: true; principal: Principal | null }
  | { ok: false; status: 401 | 403 | 429; code: ErrorCode; message: string; headers: Record<string, string> };

export interface AuthContext {
  tokens: TokenSet;
  limiter: FailedAuthLimiter;
  /** People's tokens; absent: no OIDC. */
  oidc?: OidcVerifier;
  /** Break-glass secrets (role-less: they engage the kill switch only). */
  breakGlass?: TokenSet;
}

/** The only permission a break-glass credential carries (and only to engage: routes.ts refuses a release). */
const BREAK_GLASS_PERMISSIONS: ReadonlySet<Permission> = new Set<Permission>(['killswitch']);
export const BREAK_GLASS_ACTOR_PREFIX = 'break-glass:';

/** The permissions of some roles, cut down to `verbs` (plus read) when given. */
export function permissionsOf(roles: readonly Role[], verbs?: readonly Permission[]): ReadonlySet<Permission> {
  const all = new Set<Permission>();
  for (const r of roles) for (const p of GRANTS[r]) all.add(p);
  if (verbs === undefined) return all;
  return new Set([...all].filter((p) => p === 'read' || verbs.includes(p)));
}

function machinePrincipal(t: TokenEntry): Principal {
  return { ...t, kind: 'machine', roles: [t.role], permissions: permissionsOf([t.role], t.verbs) };
}

function hasCredentials(ctx: AuthContext): boolean {
  return ctx.tokens.size > 0 || ctx.oidc !== undefined || (ctx.breakGlass?.size ?? 0) > 0;
}

/**
 * authorize() for every route: a JWT goes to the OIDC verifier when one is configured (asynchronous: the keys may
 * need a fetch, at most one per refetch interval); every other token is decided synchronously by authorize().
 */
export async function authorizeRequest(ctx: AuthContext, authorization: string | undefined, client: string, permission: Permission): Promise<AuthResult> {
  const jwt = ctx.oidc ? jwtOf(authorization) : undefined;
  if (jwt === undefined || !ctx.oidc) return authorize(ctx, authorization, client, permission);
  const wait = ctx.limiter.retryAfter(client);
  const r = await ctx.oidc.verify(jwt);
  if (!r.ok && r.notJwt) return authorize(ctx, authorization, client, permission);
  if (!r.ok) {
    if (r.kind === 'invalid') ctx.limiter.fail(client);
    if (wait > 0) return rateLimited(ctx.limiter.retryAfter(client));
    const hint = r.expired ? ' (ringctl login again)' : '';
    return { ok: false, status: 401, code: 'unauthorized', message: `${r.message}${hint}`, headers: { 'WWW-Authenticate': `${CHALLENGE}, error="invalid_token"` } };
  }
  const { identity } = r;
  if (identity.roles.length === 0) {
    return { ok: false, status: 403, code: 'forbidden', message: `${identity.actor} has no Ringmaster role (none of its ${ctx.oidc.settings.rolesClaim} is mapped in the serve config's oidc.roles)`, headers: {} };
  }
  const principal: Principal = {
    name: identity.actor,
    role: identity.roles[0] as Role,
    kind: 'person',
    roles: identity.roles,
    permissions: permissionsOf(identity.roles),
    subject: identity.subject,
    issuer: identity.issuer,
  };
  return grant(principal, permission);
}

/** The JWT of `Bearer <jwt>`, or undefined. */
function jwtOf(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length > MAX_JWT_LENGTH + 16) return undefined;
  const m = /^Bearer +(\S+) *$/i.exec(authorization);
  const t = m?.[1];
  return t !== undefined && looksLikeJwt(t) ? t : undefined;
}

function grant(principal: Principal, permission: Permission): AuthResult {
  if (!principal.permissions.has(permission)) {
    const who = principal.kind === 'break-glass' ? 'a break-glass credential' : principal.kind === 'person' ? `roles ${principal.roles.join(', ')}` : `role ${principal.role}${principal.verbs ? ` (limited to ${principal.verbs.join(', ')})` : ''}`;
    return {
      ok: false,
      status: 403,
      code: 'forbidden',
      message: principal.kind === 'break-glass' ? `${who} may only engage the kill switch` : `${who} may not ${describePermission(permission)} (needs ${rolesFor(permission).join(' or ')})`,
      headers: {},
    };
  }
  return { ok: true, principal };
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
  if (!hasCredentials(ctx)) {
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
  // Both sets are always searched (each compares every digest), so the time says nothing about which matched.
  const machine = tokens.authenticate(presented);
  const glass = ctx.breakGlass?.authenticate(presented);
  if (!machine && glass) {
    return grant({ name: `${BREAK_GLASS_ACTOR_PREFIX}${glass.name}`, role: 'sre', kind: 'break-glass', roles: [], permissions: BREAK_GLASS_PERMISSIONS }, permission);
  }
  if (!machine) {
    limiter.fail(client);
    if (wait > 0) return rateLimited(limiter.retryAfter(client));
    const hint = !ctx.oidc && looksLikeJwt(presented) ? ' (this server has no OIDC issuer configured)' : '';
    return { ok: false, status: 401, code: 'unauthorized', message: `invalid token${hint}`, headers: { 'WWW-Authenticate': `${CHALLENGE}, error="invalid_token"` } };
  }
  return grant(machinePrincipal(machine), permission);
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
