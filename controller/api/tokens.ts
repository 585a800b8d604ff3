/**
 * API tokens: the tokens file and constant-time bearer authentication.
 *
 * The file holds no secret, only the sha256 of each token:
 *
 *   tokens:
 *     - name: alice            # the actor written to the audit log
 *       role: deployer         # viewer | deployer | approver | sre | admin | agent
 *       sha256: 5e88...        # hex sha256 of the token (echo -n "$TOKEN" | sha256sum)
 *       verbs: [pause, killswitch]   # optional: only these of the role's permissions (plus read)
 *
 * Every token of this file is a machine credential (agents, CI, scripts): people log in with OIDC (api/oidc.ts).
 *
 * The file's shape is the JSON Schema below (the one source of truth for it), loaded by the one document loader:
 * problems are reported one per line, compiler style: `tokens.yaml:4:15 tokens[0].role: must be one of ...`.
 * Messages never echo a long value back: it might be a token pasted where its sha256 belongs.
 */
import * as crypto from 'node:crypto';
import { loadDocumentFileOrThrow, loadDocumentTextOrThrow, type DocumentType } from '../spec/document';
import type { Problem } from '../spec/errors';

export const ROLES = ['viewer', 'deployer', 'approver', 'sre', 'admin', 'agent'] as const;
export type Role = (typeof ROLES)[number];

/** What a route needs (auth.ts grants them to roles). `read` covers every GET of the management API. */
export const PERMISSIONS = ['read', 'apply', 'pause', 'resume', 'approve', 'promote', 'retry', 'abort', 'rollback', 'killswitch', 'manifest', 'archive', 'policy'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface TokenEntry {
  /** Who the token belongs to; the actor of every audited mutation made with it. */
  name: string;
  role: Role;
  /** When set, the token may do only these of its role's permissions (and read). */
  verbs?: Permission[];
}

interface StoredToken extends TokenEntry {
  digest: Buffer;
}

/** A token's name: the actor of the audit log. */
export const TOKEN_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$';
/** The hex sha256 of a token (upper or lower case). */
export const TOKEN_SHA256_PATTERN = '^[a-fA-F0-9]{64}$';
const NAME_RE = new RegExp(TOKEN_NAME_PATTERN);
const SHA256_RE = new RegExp(TOKEN_SHA256_PATTERN);

export const tokensFileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['tokens'],
  'x-messages': {
    type: 'the file must be a mapping with a "tokens" list',
    additionalProperties: 'unknown field (expected only "tokens")',
    required: 'missing required field "tokens" (a list of {name, role, sha256})',
  },
  properties: {
    tokens: {
      type: 'array',
      'x-messages': { type: 'must be a list of {name, role, sha256}' },
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'role', 'sha256'],
        'x-messages': {
          type: 'must be a mapping {name, role, sha256}',
          additionalProperties: 'unknown field (expected name, role, sha256, verbs)',
          required: 'missing required field "{field}"',
        },
        properties: {
          name: {
            type: 'string',
            pattern: TOKEN_NAME_PATTERN,
            'x-messages': { type: 'must be 1-63 characters of letters, digits and . _ @ - (got {got})', pattern: 'must be 1-63 characters of letters, digits and . _ @ - (got {got})' },
          },
          role: { type: 'string', enum: ROLES, 'x-messages': { type: `must be one of ${ROLES.join(', ')} (got {got})`, enum: `must be one of ${ROLES.join(', ')} (got {got})` } },
          verbs: {
            type: 'array',
            minItems: 1,
            uniqueItems: true,
            items: { type: 'string', enum: PERMISSIONS, 'x-messages': { enum: `must be one of ${PERMISSIONS.join(', ')} (got {got})`, type: `must be one of ${PERMISSIONS.join(', ')} (got {got})` } },
            'x-messages': { type: 'must be a list of verbs', minItems: 'must name at least one verb (leave it out for all of the role)', uniqueItems: 'names a verb twice' },
          },
          sha256: {
            type: 'string',
            pattern: TOKEN_SHA256_PATTERN,
            'x-messages': {
              type: 'must be the 64-hex-character sha256 of the token, not the token itself',
              pattern: 'must be the 64-hex-character sha256 of the token, not the token itself',
            },
          },
        },
      },
    },
  },
} as const;

export interface TokensFile {
  tokens: Array<TokenEntry & { sha256: string }>;
}

/** Each name and each token once (read defensively: the schema reports what is malformed). */
function tokenRules(data: unknown): Problem[] {
  const problems: Problem[] = [];
  const names = new Map<string, number>();
  const digests = new Map<string, number>();
  const list = (data as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(list)) return problems;
  list.forEach((item: unknown, i) => {
    const t = (item ?? {}) as { name?: unknown; sha256?: unknown };
    if (typeof t.name === 'string' && NAME_RE.test(t.name)) {
      const first = names.get(t.name);
      if (first !== undefined) problems.push({ path: ['tokens', i, 'name'], message: `duplicate name ${JSON.stringify(t.name)} (also tokens[${first}])` });
      else names.set(t.name, i);
    }
    if (typeof t.sha256 === 'string' && SHA256_RE.test(t.sha256)) {
      const d = t.sha256.toLowerCase();
      const first = digests.get(d);
      if (first !== undefined) problems.push({ path: ['tokens', i, 'sha256'], message: `the same token as tokens[${first}] (each token must be unique)` });
      else digests.set(d, i);
    }
  });
  return problems;
}

export const TOKENS_FILE: DocumentType<TokensFile> = { noun: 'tokens file', schema: tokensFileSchema, rules: tokenRules };

/** The token as sent: RFC 6750 b64token, bounded length. */
export const BEARER_TOKEN_RE = /^[A-Za-z0-9\-._~+/]{1,512}=*$/;

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

export class TokenSet {
  private readonly tokens: StoredToken[];
  private readonly roles: ReadonlySet<Role>;

  constructor(entries: Array<TokenEntry & { sha256: string }>) {
    this.tokens = entries.map((e) => ({ name: e.name, role: e.role, ...(e.verbs ? { verbs: [...e.verbs] } : {}), digest: Buffer.from(e.sha256.toLowerCase(), 'hex') }));
    this.roles = new Set(this.tokens.map((t) => t.role));
  }

  static empty(): TokenSet {
    return new TokenSet([]);
  }

  /** Whether this set and `other` share a token (a break-glass secret must not also be an API token). */
  overlaps(other: TokenSet): boolean {
    return this.tokens.some((a) => other.tokens.some((b) => a.digest.equals(b.digest)));
  }

  /** The tokens of a tokens file; its mistakes are an InputError, one line each. */
  static fromFile(file: string): TokenSet {
    return new TokenSet(loadDocumentFileOrThrow(TOKENS_FILE, file).tokens);
  }

  static fromText(text: string, file: string): TokenSet {
    return new TokenSet(loadDocumentTextOrThrow(TOKENS_FILE, text, file).tokens);
  }

  get size(): number {
    return this.tokens.length;
  }

  hasRole(role: Role): boolean {
    return this.roles.has(role);
  }

  /**
   * The entry whose digest equals sha256(presented), or undefined. Every configured digest is compared
   * with crypto.timingSafeEqual, always all of them, so the time taken says nothing about which (if any)
   * matched or how many bytes of a digest were right.
   */
  authenticate(presented: string): TokenEntry | undefined {
    const digest = crypto.createHash('sha256').update(presented, 'utf8').digest();
    let match = -1;
    for (let i = 0; i < this.tokens.length; i++) {
      const eq = crypto.timingSafeEqual(digest, (this.tokens[i] as StoredToken).digest);
      // Branch-free selection of the first match.
      match = eq && match < 0 ? i : match;
    }
    const t = match >= 0 ? this.tokens[match] : undefined;
    return t ? { name: t.name, role: t.role, ...(t.verbs ? { verbs: t.verbs } : {}) } : undefined;
  }
}
