/**
 * ed25519 primitives and the rotation statement's shape, without I/O (node:crypto only): the pure core
 * (engine/agent.ts) verifies manifests and rotation statements with these. Key files live in keys.ts.
 */
import * as crypto from 'node:crypto';

export interface KeyPair {
  privateKey: crypto.KeyObject;
  publicKey: crypto.KeyObject;
}

export function generateKeyPair(): KeyPair {
  return crypto.generateKeyPairSync('ed25519');
}

/** Raw 32-byte public key, base64: what agents pin. */
export function publicKeyRaw(key: crypto.KeyObject): Buffer {
  const der = key.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32);
}

export function publicKeyPem(key: crypto.KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/** Short stable id of a public key: first 16 hex chars of sha256(raw key). */
export function keyId(key: crypto.KeyObject): string {
  return crypto.createHash('sha256').update(publicKeyRaw(key)).digest('hex').slice(0, 16);
}

/** The key id of a raw public key given as base64 (what a rotation statement carries). */
export function keyIdOfRaw(publicKeyBase64: string): string {
  return crypto.createHash('sha256').update(Buffer.from(publicKeyBase64, 'base64')).digest('hex').slice(0, 16);
}

/** Parses a public key given as PEM (SPKI) or as base64 of the raw 32 bytes. Returns a message on failure. */
export function parsePublicKey(text: string): { ok: true; key: crypto.KeyObject } | { ok: false; message: string } {
  const t = text.trim();
  try {
    if (t.includes('-----BEGIN')) {
      const key = crypto.createPublicKey(t);
      if (key.asymmetricKeyType !== 'ed25519') return { ok: false, message: `not an ed25519 key (${key.asymmetricKeyType})` };
      return { ok: true, key };
    }
    const raw = Buffer.from(t, 'base64');
    if (raw.length !== 32 || raw.toString('base64').replace(/=+$/, '') !== t.replace(/=+$/, '')) {
      return { ok: false, message: 'expected a PEM public key or base64 of 32 raw bytes' };
    }
    const prefix = Buffer.from('302a300506032b6570032100', 'hex'); // SPKI header of an ed25519 key
    return { ok: true, key: crypto.createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' }) };
  } catch {
    return { ok: false, message: 'unparseable public key' };
  }
}

export function sign(privateKey: crypto.KeyObject, data: Buffer): string {
  return crypto.sign(null, data, privateKey).toString('base64');
}

/** Never throws: a malformed signature is simply not valid. */
export function verify(publicKey: crypto.KeyObject, data: Buffer, signatureBase64: string): boolean {
  try {
    const sig = Buffer.from(signatureBase64, 'base64');
    if (sig.length !== 64) return false;
    return crypto.verify(null, data, publicKey, sig);
  } catch {
    return false;
  }
}


// ------------------------------------------------------------------------------------------ key rotation statements

export const ROTATION_TYPE = 'ringmaster.dev/key-rotation/v1';

/** What a rotation statement says. Its exact JSON text is what is signed. */
export interface KeyRotationStatement {
  type: typeof ROTATION_TYPE;
  /** The new key: its id and raw 32 bytes, base64. */
  keyId: string;
  publicKey: string;
  /** The key it retires, which signs the statement. */
  previousKeyId: string;
  issuedAt: string;
}

/** A rotation statement as served by GET /v1/signing-key (`rotations`, oldest first). */
export interface SignedRotation {
  /** The statement's exact JSON text (UTF-8). */
  statement: string;
  /** ed25519 by the retiring key over the statement's UTF-8 bytes, base64. */
  signature: string;
  /** The id of the key that signed it (the statement's previousKeyId). */
  signedBy: string;
}
