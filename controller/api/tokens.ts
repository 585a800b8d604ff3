/**
 * API tokens: the tokens file and constant-time bearer authentication.
 *
 * The file holds no secret, only the sha256 of each token:
 *
 *   tokens:
 *     - name: alice            # the actor written to the audit log
 *       role: deployer         # viewer | deployer | approver | sre | admin | agent
 *       sha256: 5e88...        # hex sha256 of the token (echo -n "$TOKEN" | sha256sum)
 *
 * Problems are reported one per line, compiler style: `tokens.yaml:4:15 tokens[0].role: must be one of ...`.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';

export const ROLES = ['viewer', 'deployer', 'approver', 'sre', 'admin', 'agent'] as const;
export type Role = (typeof ROLES)[number];

export interface TokenEntry {
  /** Who the token belongs to; the actor of every audited mutation made with it. */
  name: string;
  role: Role;
}

interface StoredToken extends TokenEntry {
  digest: Buffer;
}

const NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9._@-]{0,62})$/;
const SHA256_RE = /^[a-fA-F0-9]{64}$/;

/** The token as sent: RFC 6750 b64token, bounded length. */
export const BEARER_TOKEN_RE = /^[A-Za-z0-9\-._~+/]{1,512}=*$/;

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Expected problems with the tokens file: one line each, never a stack trace. */
export class TokensFileError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join('\n'));
  }
}

export class TokenSet {
  private readonly tokens: StoredToken[];
  private readonly roles: ReadonlySet<Role>;

  constructor(entries: Array<TokenEntry & { sha256: string }>) {
    this.tokens = entries.map((e) => ({ name: e.name, role: e.role, digest: Buffer.from(e.sha256.toLowerCase(), 'hex') }));
    this.roles = new Set(this.tokens.map((t) => t.role));
  }

  static empty(): TokenSet {
    return new TokenSet([]);
  }

  static fromFile(file: string): TokenSet {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new TokensFileError([`${file}: cannot read tokens file (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
    }
    return TokenSet.fromText(text, file);
  }

  static fromText(text: string, file: string): TokenSet {
    return new TokenSet(parseTokensFile(text, file));
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
    return t ? { name: t.name, role: t.role } : undefined;
  }
}

// ------------------------------------------------------------------------------------------ the file

function parseTokensFile(text: string, file: string): Array<TokenEntry & { sha256: string }> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const at = (node: YamlNode | null | undefined): string => {
    const offset = node?.range?.[0] ?? 0;
    const p = lc.linePos(offset);
    return `${file}:${p.line}:${p.col}`;
  };
  const firstError = doc.errors[0];
  if (firstError) {
    const p = lc.linePos(firstError.pos[0]);
    const pos = `${file}:${p.line}:${p.col}`;
    throw new TokensFileError([`${pos}: invalid YAML: ${firstError.message.split('\n')[0] ?? ''}`]);
  }
  const errors: string[] = [];
  const root = doc.contents;
  if (!isMap(root)) throw new TokensFileError([`${at(root)} tokens: the file must be a mapping with a "tokens" list`]);
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '?';
    if (key !== 'tokens') errors.push(`${at(pair.key as YamlNode)} ${key}: unknown field (expected only "tokens")`);
  }
  const list = root.get('tokens', true);
  if (!isSeq(list)) {
    errors.push(`${at((list as YamlNode | undefined) ?? root)} tokens: must be a list of {name, role, sha256}`);
    throw new TokensFileError(errors);
  }
  const out: Array<TokenEntry & { sha256: string }> = [];
  const names = new Map<string, number>();
  const digests = new Map<string, number>();
  list.items.forEach((item, i) => {
    const where = `tokens[${i}]`;
    if (!isMap(item)) {
      errors.push(`${at(item as YamlNode)} ${where}: must be a mapping {name, role, sha256}`);
      return;
    }
    for (const pair of item.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      if (!['name', 'role', 'sha256'].includes(key)) errors.push(`${at(pair.key as YamlNode)} ${where}.${key}: unknown field (expected name, role, sha256)`);
    }
    const field = (k: string): { node: YamlNode | undefined; value: unknown } => {
      const node = item.get(k, true) as YamlNode | undefined;
      return { node, value: isScalar(node) ? node.value : node === undefined ? undefined : node };
    };
    const name = field('name');
    const role = field('role');
    const sha = field('sha256');
    let ok = true;
    if (name.value === undefined) {
      errors.push(`${at(item)} ${where}.name: required`);
      ok = false;
    } else if (typeof name.value !== 'string' || !NAME_RE.test(name.value)) {
      errors.push(`${at(name.node)} ${where}.name: must be 1-63 characters of letters, digits and . _ @ - (got ${describe(name.value)})`);
      ok = false;
    } else if (names.has(name.value)) {
      errors.push(`${at(name.node)} ${where}.name: duplicate name "${name.value}" (also tokens[${names.get(name.value)}])`);
      ok = false;
    } else names.set(name.value, i);
    if (role.value === undefined) {
      errors.push(`${at(item)} ${where}.role: required`);
      ok = false;
    } else if (typeof role.value !== 'string' || !(ROLES as readonly string[]).includes(role.value)) {
      errors.push(`${at(role.node)} ${where}.role: must be one of ${ROLES.join(', ')} (got ${describe(role.value)})`);
      ok = false;
    }
    if (sha.value === undefined) {
      errors.push(`${at(item)} ${where}.sha256: required`);
      ok = false;
    } else if (typeof sha.value !== 'string' || !SHA256_RE.test(sha.value)) {
      errors.push(`${at(sha.node)} ${where}.sha256: must be the 64-hex-character sha256 of the token, not the token itself`);
      ok = false;
    } else {
      const d = sha.value.toLowerCase();
      if (digests.has(d)) {
        errors.push(`${at(sha.node)} ${where}.sha256: the same token as tokens[${digests.get(d)}] (each token must be unique)`);
        ok = false;
      } else digests.set(d, i);
    }
    if (ok) out.push({ name: name.value as string, role: role.value as Role, sha256: sha.value as string });
  });
  if (errors.length > 0) throw new TokensFileError(errors);
  return out;
}

/** A value as it reads in a message; never echoes long text (it might be a pasted secret). */
function describe(value: unknown): string {
  if (value === null) return 'an empty value';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'object') return isSeq(value) ? 'a list' : 'a mapping';
  return String(value);
}
