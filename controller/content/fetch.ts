/**
 * Fetching and verifying an artifact's bytes: the controller's pre-flight (runtime/preflight.ts) and the reference
 * agent (agent/) both read an artifact through here.
 *
 * - `http://` and `https://` go through the one HTTP client (http/client.ts): a hard time budget over connect,
 *   headers and the whole body, and a size limit counted while reading. A `file://` URL names an absolute path on
 *   this machine; only a regular file is read, after its size is checked.
 * - Expected failures are values with a reason for code and a one-line message for people; nothing throws. A
 *   message names the URL without its query string (it may carry a token) and never a header.
 * - `verifyArtifact` checks the sha256 of the bytes, then the publisher signature (ed25519 over the raw digest,
 *   crypto/keys.ts) against the trusted keys, unless the policy allows unsigned artifacts (`trusted: null`).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HttpClient } from '../http/client';
import { verifyArtifactSignature, type TrustedKey } from '../crypto/keys';

export interface FetchLimits {
  /** Larger artifacts are refused (by Content-Length or stat before reading, or counted while reading). */
  maxBytes: number;
  /** The whole fetch: connect, headers and body (or the file read). */
  timeoutMs: number;
}

export const DEFAULT_FETCH_LIMITS: FetchLimits = { maxBytes: 256 * 1024 * 1024, timeoutMs: 60_000 };

export type FetchFailureReason = 'download' | 'too-large' | 'timeout' | 'url';
export type FetchResult = { ok: true; bytes: Buffer; sha256: string } | { ok: false; reason: FetchFailureReason; message: string };

export type VerifyResult = { ok: true } | { ok: false; reason: 'hash' | 'signature'; message: string };

/** Lowercase hex sha256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/** An artifact URL as it may appear in a message: no credentials, no query string, no fragment. */
export function shownUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.protocol === 'file:') return `file://${u.pathname}`;
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'the artifact URL';
  }
}

/**
 * The bytes of the artifact at `url` and their sha256, within `limits` (defaults DEFAULT_FETCH_LIMITS).
 * http(s):// through the one HTTP client, or file:// (an absolute path); never throws.
 */
export async function fetchArtifact(url: string, limits: Partial<FetchLimits> = {}, signal?: AbortSignal): Promise<FetchResult> {
  const lim: FetchLimits = { ...DEFAULT_FETCH_LIMITS, ...definedOnly(limits) };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { ok: false, reason: 'url', message: 'artifact URL: not a URL' };
  }
  try {
    if (u.protocol === 'http:' || u.protocol === 'https:') return await fetchHttp(u, lim, signal);
    if (u.protocol === 'file:') return await fetchFile(u, lim, signal);
    return { ok: false, reason: 'url', message: `artifact URL: must be http://, https:// or file:// (got ${u.protocol}//)` };
  } catch (err) {
    // Not expected (the client and the file reader return values); still a value, without a stack.
    return { ok: false, reason: 'download', message: `${shownUrl(url)}: ${oneLine(err instanceof Error ? err.message : String(err))}` };
  }
}

async function fetchHttp(u: URL, lim: FetchLimits, signal: AbortSignal | undefined): Promise<FetchResult> {
  if (u.username !== '' || u.password !== '') return { ok: false, reason: 'url', message: 'artifact URL: credentials do not belong in the URL' };
  const client = new HttpClient({ baseUrl: u.origin, timeoutMs: lim.timeoutMs, deadlineMs: lim.timeoutMs, maxResponseBytes: lim.maxBytes, retries: 2, connections: 1 });
  try {
    const r = await client.get(u.pathname + u.search, { ...(signal ? { signal } : {}) });
    if (!r.ok) {
      const reason: FetchFailureReason = r.failure.kind === 'too-large' ? 'too-large' : r.failure.kind === 'timeout' ? 'timeout' : 'download';
      return { ok: false, reason, message: r.failure.message };
    }
    const status = r.response.status;
    if (status < 200 || status > 299) return { ok: false, reason: 'download', message: `GET ${shownUrl(u.href)}: HTTP ${status}` };
    const bytes = r.response.body;
    return { ok: true, bytes, sha256: sha256Hex(bytes) };
  } finally {
    await client.close();
  }
}

async function fetchFile(u: URL, lim: FetchLimits, signal: AbortSignal | undefined): Promise<FetchResult> {
  if (u.host !== '' && u.host !== 'localhost') return { ok: false, reason: 'url', message: `artifact URL: a file:// URL names a local absolute path (got host ${JSON.stringify(u.host)})` };
  let file: string;
  try {
    file = fileURLToPath(u);
  } catch {
    return { ok: false, reason: 'url', message: 'artifact URL: not a file path' };
  }
  const shown = `file://${file}`;
  if (signal?.aborted) return { ok: false, reason: 'download', message: `${shown}: aborted` };
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
  } catch (err) {
    return { ok: false, reason: 'download', message: `${shown}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  // A FIFO or a device could block or never end: only a regular file is read.
  if (!st.isFile()) return { ok: false, reason: 'download', message: `${shown}: not a regular file` };
  if (st.size > lim.maxBytes) return { ok: false, reason: 'too-large', message: `${shown}: larger than ${lim.maxBytes} bytes` };
  const ac = new AbortController();
  const onAbort = (): void => ac.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, lim.timeoutMs);
  try {
    const bytes = await fs.promises.readFile(file, { signal: ac.signal });
    // The file may have grown between stat and read.
    if (bytes.length > lim.maxBytes) return { ok: false, reason: 'too-large', message: `${shown}: larger than ${lim.maxBytes} bytes` };
    return { ok: true, bytes, sha256: sha256Hex(bytes) };
  } catch (err) {
    if (timedOut) return { ok: false, reason: 'timeout', message: `${shown}: timed out after ${lim.timeoutMs} ms` };
    if (signal?.aborted) return { ok: false, reason: 'download', message: `${shown}: aborted` };
    return { ok: false, reason: 'download', message: `${shown}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * The artifact's sha256 must match the bytes; then, unless `trusted` is null (the policy allows unsigned
 * artifacts), its publisher signature must verify against one of the trusted keys.
 */
export function verifyArtifact(bytes: Buffer, artifact: { sha256: string; signature?: string }, trusted: TrustedKey[] | null): VerifyResult {
  const got = sha256Hex(bytes);
  if (got !== artifact.sha256.toLowerCase()) {
    return { ok: false, reason: 'hash', message: `sha256 mismatch: the artifact is ${got}, the rollout names ${shortHash(artifact.sha256)}` };
  }
  if (trusted === null) return { ok: true };
  const check = verifyArtifactSignature(artifact, trusted);
  if (!check.ok) return { ok: false, reason: 'signature', message: `${check.field}: ${check.message}` };
  return { ok: true };
}

function shortHash(text: string): string {
  return /^[A-Fa-f0-9]{64}$/.test(text) ? text.toLowerCase() : `a value of ${text.length} characters`;
}

function definedOnly(limits: Partial<FetchLimits>): Partial<FetchLimits> {
  const out: Partial<FetchLimits> = {};
  if (limits.maxBytes !== undefined) out.maxBytes = limits.maxBytes;
  if (limits.timeoutMs !== undefined) out.timeoutMs = limits.timeoutMs;
  return out;
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim().slice(0, 300);
}
