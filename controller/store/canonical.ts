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
