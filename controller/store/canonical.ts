/** Canonical JSON (sorted keys, no whitespace) and sha256, for hashes that must be reproducible anywhere. */
import * as crypto from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (value === undefined) return 'null';
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export function sha256Hex(data: string | Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

export const GENESIS_HASH = '0'.repeat(64);

/** The hash of an audit entry: covers every field and the previous entry's hash. */
export function auditHash(e: { id: number; at: string; actor: string; action: string; target: string; reason: string; payload?: unknown; prevHash: string }): string {
  return sha256Hex(canonicalJson({ id: e.id, at: e.at, actor: e.actor, action: e.action, target: e.target, reason: e.reason, payload: e.payload ?? null, prevHash: e.prevHash }));
}

export interface AuditChainEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  reason: string;
  payload?: unknown;
  prevHash: string;
  hash: string;
}

export type AuditChainResult = { ok: true; entries: number; head: string } | { ok: false; entries: number; brokenAt: number; message: string };

/**
 * Checks a hash chain from its first entry: ids without gaps from 1, each prevHash equal to the previous
 * entry's hash (the genesis hash first), each hash equal to the hash of the entry's content. Used by the
 * store and, on entries fetched over the API, by `ringctl audit --verify`, which trusts nothing the server says.
 */
export class AuditChainVerifier {
  private prev = GENESIS_HASH;
  private expectedId = 1;
  private count = 0;
  private broken: AuditChainResult | undefined;

  add(e: AuditChainEntry): boolean {
    if (this.broken) return false;
    this.count++;
    if (e.id !== this.expectedId) this.broken = { ok: false, entries: this.count, brokenAt: e.id, message: `entry ${e.id}: expected id ${this.expectedId} (an entry is missing)` };
    else if (e.prevHash !== this.prev) this.broken = { ok: false, entries: this.count, brokenAt: e.id, message: `entry ${e.id}: prevHash does not match the hash of entry ${e.id - 1}` };
    else if (auditHash(e) !== e.hash) this.broken = { ok: false, entries: this.count, brokenAt: e.id, message: `entry ${e.id}: content does not match its hash (modified)` };
    if (this.broken) return false;
    this.prev = e.hash;
    this.expectedId++;
    return true;
  }

  result(): AuditChainResult {
    return this.broken ?? { ok: true, entries: this.count, head: this.prev };
  }
}
