/**
 * ed25519 keys and signatures with node:crypto (no extra dependency).
 *
 * - The controller's manifest signing key: generated on first start, mode 0600 whatever the umask, in the data
 *   directory (store/file-modes.ts).
 * - Publisher keys: release engineers sign the artifact's raw 32-byte sha256 digest; the controller
 *   verifies that signature against its trusted keys before it accepts a rollout.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateKeyPair, keyId, publicKeyPem, publicKeyRaw, ROTATION_TYPE, sign, verify, type KeyPair, type KeyRotationStatement, type SignedRotation } from './ed25519';
import { ensurePrivateDir, PRIVATE_FILE_MODE, writePrivateFile } from '../store/file-modes';
import type { Logger } from '../telemetry/log';

export { generateKeyPair, keyId, keyIdOfRaw, parsePublicKey, publicKeyPem, publicKeyRaw, ROTATION_TYPE, sign, verify, type KeyPair, type KeyRotationStatement, type SignedRotation } from './ed25519';

/**
 * Writes a key pair as `<name>.key` (PKCS8 PEM, 0600 whatever the umask, set before the key is written) and
 * `<name>.pub` (SPKI PEM, `publicMode`, default 0644: it is meant to be handed out). Refuses to overwrite.
 * A directory created here is 0700.
 */
export function writeKeyPair(
  dir: string,
  name: string,
  pair: KeyPair = generateKeyPair(),
  opts: { publicMode?: number } = {},
): { privatePath: string; publicPath: string } {
  ensurePrivateDir(dir);
  const privatePath = path.join(dir, `${name}.key`);
  const publicPath = path.join(dir, `${name}.pub`);
  const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writePrivateFile(privatePath, pem);
  const publicMode = opts.publicMode ?? 0o644;
  fs.writeFileSync(publicPath, publicKeyPem(pair.publicKey), { mode: publicMode, flag: 'wx' });
  fs.chmodSync(publicPath, publicMode);
  return { privatePath, publicPath };
}

/** Reads a private key PEM; refuses group/world-readable files. */
export function readPrivateKey(file: string): KeyPair {
  const st = fs.statSync(file);
  if ((st.mode & 0o077) !== 0) {
    throw new KeyFileError(`${file}: private key is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(fs.readFileSync(file));
  } catch {
    throw new KeyFileError(`${file}: not a PEM private key`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new KeyFileError(`${file}: not an ed25519 key`);
  return { privateKey, publicKey: crypto.createPublicKey(privateKey) };
}

/**
 * The controller's manifest signing key in DATA_DIR/signing.key, created on first start. Every file Ringmaster
 * writes in the data directory is 0600 (signing.pub too: agents get the public key from the API); a data
 * directory created here is 0700, and an existing one open to others gets one warning line on `log`.
 */
export function loadOrCreateSigningKey(dataDir: string, opts: { log?: Logger } = {}): KeyPair & { created: boolean } {
  ensurePrivateDir(dataDir, { ...opts, warnAs: 'data directory' });
  const file = path.join(dataDir, 'signing.key');
  finishRotation(dataDir);
  if (fs.existsSync(file)) return { ...readPrivateKey(file), created: false };
  const pair = generateKeyPair();
  writeKeyPair(dataDir, 'signing', pair, { publicMode: PRIVATE_FILE_MODE });
  return { ...pair, created: true };
}

// ------------------------------------------------------------------------------------------ key rotation

/** The rotation statements of the manifest-signing key, oldest first, in the data directory. */
export const ROTATIONS_FILE = 'signing-rotations.json';
const NEXT_KEY = 'signing.next';

/** The signing key's rotation statements (GET /v1/signing-key `rotations`), oldest first; [] before any rotation. */
export function readRotations(dataDir: string): SignedRotation[] {
  const file = path.join(dataDir, ROTATIONS_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  try {
    const list = JSON.parse(text) as SignedRotation[];
    if (Array.isArray(list)) return list;
  } catch {
    // reported below
  }
  throw new KeyFileError(`${file}: not a list of rotation statements (JSON)`);
}

/** Writes a private file through a temporary one, fsync and rename (a crash leaves the old or the new file, never half). */
function replacePrivateFile(file: string, content: string): void {
  const tmp = `${file}.tmp`;
  fs.rmSync(tmp, { force: true });
  writePrivateFile(tmp, content);
  fs.renameSync(tmp, file);
  syncDir(path.dirname(file));
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Rotates the manifest-signing key in `dataDir` (run while `ringmaster serve` is stopped): a new key pair, and a
 * rotation statement naming it, signed by the key it retires, appended to the rotation file. Agents that trust the
 * old key follow the statement to the new one (engine/agent.ts applyRotations). Crash-safe: the new key is written
 * beside the old one first, the statement next, then the new key replaces the old one by a rename; an interrupted
 * rotation is finished (or undone, when its statement was never written) at the next start.
 */
export function rotateSigningKey(dataDir: string, now: Date = new Date()): { previousKeyId: string; keyId: string; rotation: SignedRotation } {
  const file = path.join(dataDir, 'signing.key');
  if (!fs.existsSync(file)) throw new KeyFileError(`${file}: no signing key to rotate (ringmaster serve creates it on first start)`);
  finishRotation(dataDir);
  const old = readPrivateKey(file);
  const next = generateKeyPair();
  for (const ext of ['.key', '.pub']) fs.rmSync(path.join(dataDir, `${NEXT_KEY}${ext}`), { force: true });
  writeKeyPair(dataDir, NEXT_KEY, next, { publicMode: PRIVATE_FILE_MODE });
  const statement: KeyRotationStatement = {
    type: ROTATION_TYPE,
    keyId: keyId(next.publicKey),
    publicKey: publicKeyRaw(next.publicKey).toString('base64'),
    previousKeyId: keyId(old.publicKey),
    issuedAt: now.toISOString(),
  };
  const text = JSON.stringify(statement);
  const rotation: SignedRotation = { statement: text, signature: sign(old.privateKey, Buffer.from(text, 'utf8')), signedBy: statement.previousKeyId };
  replacePrivateFile(path.join(dataDir, ROTATIONS_FILE), `${JSON.stringify([...readRotations(dataDir), rotation], null, 1)}\n`);
  finishRotation(dataDir);
  return { previousKeyId: statement.previousKeyId, keyId: statement.keyId, rotation };
}

/** Completes an interrupted rotation: the next key replaces the current one iff the last statement names it. */
function finishRotation(dataDir: string): void {
  const nextFile = path.join(dataDir, `${NEXT_KEY}.key`);
  if (!fs.existsSync(nextFile)) return;
  let nextId: string | undefined;
  try {
    nextId = keyId(readPrivateKey(nextFile).publicKey);
  } catch {
    nextId = undefined;
  }
  const last = readRotations(dataDir).at(-1);
  const named = last !== undefined && nextId !== undefined && (JSON.parse(last.statement) as KeyRotationStatement).keyId === nextId;
  if (named) {
    fs.renameSync(path.join(dataDir, `${NEXT_KEY}.pub`), path.join(dataDir, 'signing.pub'));
    fs.renameSync(nextFile, path.join(dataDir, 'signing.key'));
  } else {
    for (const ext of ['.key', '.pub']) fs.rmSync(path.join(dataDir, `${NEXT_KEY}${ext}`), { force: true });
  }
  syncDir(dataDir);
}

/** Expected, user-facing key file problems (one line, no secrets). */
export class KeyFileError extends Error {}

// ------------------------------------------------------------------------------------------ artifacts

/** Publisher signature over an artifact: ed25519 over the raw 32-byte sha256 digest. */
export function signArtifactDigest(privateKey: crypto.KeyObject, sha256Hex: string): string {
  return sign(privateKey, Buffer.from(sha256Hex, 'hex'));
}

export interface TrustedKey {
  name: string;
  key: crypto.KeyObject;
}

export type ArtifactCheck = { ok: true; keyName: string } | { ok: false; field: string; message: string };

/** Checks a rollout artifact's signature against the trusted publisher keys. */
export function verifyArtifactSignature(artifact: { sha256: string; signature?: string }, trusted: TrustedKey[]): ArtifactCheck {
  if (artifact.signature === undefined || artifact.signature === '') {
    return { ok: false, field: 'spec.artifact.signature', message: 'missing signature (policy requires signed artifacts)' };
  }
  const sig = Buffer.from(artifact.signature, 'base64');
  if (sig.length !== 64) {
    return { ok: false, field: 'spec.artifact.signature', message: `malformed signature: expected base64 of 64 bytes (got ${sig.length})` };
  }
  if (!/^[a-f0-9]{64}$/.test(artifact.sha256)) {
    return { ok: false, field: 'spec.artifact.sha256', message: 'must be 64 lowercase hex characters' };
  }
  if (trusted.length === 0) {
    return { ok: false, field: 'spec.artifact.signature', message: 'no trusted publisher keys configured (ringmaster serve --trusted-keys)' };
  }
  const digest = Buffer.from(artifact.sha256, 'hex');
  for (const t of trusted) {
    if (verify(t.key, digest, artifact.signature)) return { ok: true, keyName: t.name };
  }
  return { ok: false, field: 'spec.artifact.signature', message: 'signature does not verify against any trusted publisher key' };
}
