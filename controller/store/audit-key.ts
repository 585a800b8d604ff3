/**
 * The audit checkpoint key and what it signs.
 *
 * A checkpoint is a signed statement "the audit chain's entry SEQ has hash HASH" (ed25519, node:crypto). The key
 * is a dedicated one, not the manifest signing key: DATA_DIR/audit.key (PKCS8 PEM, mode 0600) and audit.pub,
 * created by `ringmaster serve` on first start. Keeping it apart means the manifest key can be rotated or moved
 * to an HSM without touching the audit trail, and a leaked manifest key cannot forge checkpoints (or the reverse).
 *
 * The signed bytes are the canonical JSON of {type, seq, hash, at, reason}; `at` is therefore authentic too.
 */
import type * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateKeyPair, keyId, parsePublicKey, publicKeyRaw, readPrivateKey, sign, verify, writeKeyPair } from '../crypto/keys';
import { canonicalJson } from './canonical';

export const AUDIT_KEY_NAME = 'audit';
export const CHECKPOINT_TYPE = 'ringmaster.audit.checkpoint/v1';
export const ACCEPTANCE_TYPE = 'ringmaster.audit.break-accepted/v1';
/** Checkpoints are signed at least every this many entries unless configured otherwise. */
export const DEFAULT_CHECKPOINT_EVERY = 100;
export const CHECKPOINT_EVERY_ENV = 'RINGMASTER_AUDIT_CHECKPOINT_EVERY';

/** A signed checkpoint of the audit chain head, as stored, served and exported. */
export interface AuditCheckpoint {
  /** The entry id (sequence number) the checkpoint is about. */
  seq: number;
  /** That entry's hash, which commits to every entry before it. */
  hash: string;
  /** When it was signed (ISO 8601). */
  at: string;
  /** Why it was signed: `every 100`, `open`, `shutdown`, `break-accepted`. */
  reason: string;
  keyId: string;
  /** base64 ed25519 signature over checkpointMessage(). */
  signature: string;
}

/** The public half of the audit key, as served at GET /v1/audit/key and written into exports. */
export interface AuditKeyInfo {
  algorithm: 'ed25519';
  keyId: string;
  /** base64 of the raw 32-byte public key. */
  publicKey: string;
}

export interface AuditSigner {
  readonly keyId: string;
  readonly publicKey: crypto.KeyObject;
  info(): AuditKeyInfo;
  sign(c: { seq: number; hash: string; at: string; reason: string }): AuditCheckpoint;
  /** Signs an accepted break (see acceptanceMessage); base64. */
  signAcceptance(a: BreakAcceptance): string;
}

/** What `--accept-broken-audit` records and signs: who accepted which breaks, over which head. */
export interface BreakAcceptance {
  actor: string;
  reason: string;
  accepts: string[];
  head: { seq: number; hash: string } | null;
}

/** Checkpoint signing as the store does it: the signer and the interval. */
export interface AuditCheckpointing {
  signer: AuditSigner;
  every: number;
}

/** The exact bytes an acceptance signature covers. */
export function acceptanceMessage(a: BreakAcceptance): Buffer {
  return Buffer.from(canonicalJson({ type: ACCEPTANCE_TYPE, actor: a.actor, reason: a.reason, accepts: a.accepts, head: a.head }), 'utf8');
}

/** The exact bytes a checkpoint signature covers. */
export function checkpointMessage(c: { seq: number; hash: string; at: string; reason: string }): Buffer {
  return Buffer.from(canonicalJson({ type: CHECKPOINT_TYPE, seq: c.seq, hash: c.hash, at: c.at, reason: c.reason }), 'utf8');
}

export function signerFor(pair: { privateKey: crypto.KeyObject; publicKey: crypto.KeyObject }): AuditSigner {
  const id = keyId(pair.publicKey);
  const info: AuditKeyInfo = { algorithm: 'ed25519', keyId: id, publicKey: publicKeyRaw(pair.publicKey).toString('base64') };
  return {
    keyId: id,
    publicKey: pair.publicKey,
    info: () => ({ ...info }),
    sign: (c) => ({ seq: c.seq, hash: c.hash, at: c.at, reason: c.reason, keyId: id, signature: sign(pair.privateKey, checkpointMessage(c)) }),
    signAcceptance: (a) => sign(pair.privateKey, acceptanceMessage(a)),
  };
}

/** A verifying key: the KeyObject and its id. */
export interface AuditPublicKey {
  keyId: string;
  key: crypto.KeyObject;
}

export function publicKeyFromInfo(info: { publicKey: string }): AuditPublicKey | string {
  const parsed = parsePublicKey(info.publicKey);
  if (!parsed.ok) return parsed.message;
  return { keyId: keyId(parsed.key), key: parsed.key };
}

/** A malformed or forged signature is simply not valid; never throws. */
export function checkpointSignatureOk(cp: AuditCheckpoint, key: AuditPublicKey): boolean {
  if (typeof cp.signature !== 'string' || !Number.isSafeInteger(cp.seq) || typeof cp.hash !== 'string' || typeof cp.at !== 'string' || typeof cp.reason !== 'string') return false;
  return verify(key.key, checkpointMessage(cp), cp.signature);
}

export function auditKeyFile(dataDir: string): string {
  return path.join(dataDir, `${AUDIT_KEY_NAME}.key`);
}

/** DATA_DIR/audit.key if it exists (refusing a key others can read), else undefined. */
export function loadAuditSigner(dataDir: string): AuditSigner | undefined {
  const file = auditKeyFile(dataDir);
  if (!fs.existsSync(file)) return undefined;
  return signerFor(readPrivateKey(file));
}

/** DATA_DIR/audit.key, created (0600, with audit.pub beside it) when missing. */
export function loadOrCreateAuditSigner(dataDir: string): AuditSigner & { created: boolean } {
  const existing = loadAuditSigner(dataDir);
  if (existing) return { ...existing, created: false };
  const pair = generateKeyPair();
  writeKeyPair(dataDir, AUDIT_KEY_NAME, pair, { publicMode: 0o600 }); // every file in the data directory is 0600
  return { ...signerFor(pair), created: true };
}

/** The checkpoint interval: RINGMASTER_AUDIT_CHECKPOINT_EVERY (1..1,000,000) or the default. */
export function checkpointEveryFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[CHECKPOINT_EVERY_ENV];
  if (raw === undefined || raw === '') return DEFAULT_CHECKPOINT_EVERY;
  const n = Number(raw);
  if (!/^[0-9]{1,7}$/.test(raw) || n < 1 || n > 1_000_000) throw new Error(`${CHECKPOINT_EVERY_ENV}: must be an integer between 1 and 1000000 (got ${JSON.stringify(raw)})`);
  return n;
}
