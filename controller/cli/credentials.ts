/**
 * ringctl's login cache: one credential per controller URL, in `$XDG_CONFIG_HOME/ringmaster/credentials.json`
 * (`~/.config/ringmaster/credentials.json` without it). The directory is 0700 and the file 0600 (written to a new
 * private file, then renamed over the old one); a cache file that group or others can read is refused, as ssh
 * refuses a readable private key.
 *
 * A credential whose access token has expired is refreshed with its refresh token at the issuer's token endpoint
 * (through the one HTTP client); without one, or when the refresh fails, the verb stops with one line that says the
 * login expired and how to log in again.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeJwt } from 'jose';
import { HttpClient } from '../http/client';
import { ensurePrivateDir, writePrivateFile } from '../store/file-modes';
import { CliError } from './client';

export interface StoredCredential {
  /** `device` (OAuth device flow) or `pasted`. */
  method: 'device' | 'pasted';
  accessToken: string;
  /** Seconds since the epoch; null when the token says nothing (a pasted static token). */
  expiresAt: number | null;
  refreshToken?: string;
  issuer?: string;
  clientId?: string;
  tokenEndpoint?: string;
  /** The actor the server named at login (whoami). */
  actor?: string;
  savedAt: string;
}

interface CacheFile {
  version: 1;
  servers: Record<string, StoredCredential>;
}

/** Refresh this long before the token's expiry, so a request does not race it. */
const EXPIRY_MARGIN_S = 30;
const TOKEN_TIMEOUT_MS = 10_000;

export function credentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(base, 'ringmaster', 'credentials.json');
}

/** The cache key of a controller: origin and path, without a trailing slash. */
export function serverKey(base: URL): string {
  return `${base.origin}${base.pathname.replace(/\/$/, '')}`;
}

function readCache(file: string): CacheFile {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, servers: {} };
    throw new CliError(`ringctl: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if ((st.mode & 0o077) !== 0) {
    throw new CliError(`ringctl: ${file} is readable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600 ${file} (or remove it)`);
  }
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<CacheFile>;
    if (v.version !== 1 || v.servers === null || typeof v.servers !== 'object') throw new Error('shape');
    return v as CacheFile;
  } catch {
    throw new CliError(`ringctl: ${file} is not a ringctl credentials file; remove it and run ringctl login`);
  }
}

function writeCache(file: string, cache: CacheFile): void {
  ensurePrivateDir(path.dirname(file));
  const tmp = `${file}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  writePrivateFile(tmp, `${JSON.stringify(cache, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

export function loadCredential(base: URL, env: NodeJS.ProcessEnv = process.env): StoredCredential | undefined {
  return readCache(credentialsFile(env)).servers[serverKey(base)];
}

export function saveCredential(base: URL, cred: StoredCredential, env: NodeJS.ProcessEnv = process.env): string {
  const file = credentialsFile(env);
  const cache = readCache(file);
  cache.servers[serverKey(base)] = cred;
  writeCache(file, cache);
  return file;
}

/** True when a credential was removed. */
export function removeCredential(base: URL, env: NodeJS.ProcessEnv = process.env): boolean {
  const file = credentialsFile(env);
  const cache = readCache(file);
  const key = serverKey(base);
  if (!(key in cache.servers)) return false;
  delete cache.servers[key];
  writeCache(file, cache);
  return true;
}

/**
 * The bearer token to send to `base` from the cache: as stored while it is valid, refreshed (and stored again)
 * when it expired and can be refreshed; undefined when there is no login for this server.
 */
export async function cachedToken(verb: string, base: URL, env: NodeJS.ProcessEnv = process.env, nowMs: number = Date.now()): Promise<string | undefined> {
  const cred = loadCredential(base, env);
  if (!cred) return undefined;
  const now = Math.floor(nowMs / 1000);
  if (cred.expiresAt === null || cred.expiresAt - EXPIRY_MARGIN_S > now) return cred.accessToken;
  const when = new Date(cred.expiresAt * 1000).toISOString();
  const again = `run ringctl login --server ${serverKey(base)}`;
  if (cred.refreshToken === undefined || cred.tokenEndpoint === undefined || cred.clientId === undefined) {
    throw new CliError(`ringctl ${verb}: your login to ${serverKey(base)} expired at ${when}; ${again}`);
  }
  const r = await tokenRequest(cred.tokenEndpoint, { grant_type: 'refresh_token', refresh_token: cred.refreshToken, client_id: cred.clientId });
  if (!r.ok) throw new CliError(`ringctl ${verb}: your login to ${serverKey(base)} expired at ${when} and could not be refreshed (${r.message}); ${again}`);
  const next: StoredCredential = {
    ...cred,
    accessToken: r.tokens.access_token,
    expiresAt: expiryOf(r.tokens, nowMs),
    ...(r.tokens.refresh_token === undefined ? {} : { refreshToken: r.tokens.refresh_token }),
    savedAt: new Date(nowMs).toISOString(),
  };
  saveCredential(base, next, env);
  return next.accessToken;
}

export interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  expires_in?: number;
}

export type TokenResult = { ok: true; tokens: TokenResponse } | { ok: false; error: string; message: string; interval?: number };

/** A POST to an OAuth token endpoint (form-encoded); an OAuth error is a value with its `error` code. */
export async function tokenRequest(endpoint: string, form: Record<string, string>): Promise<TokenResult> {
  const u = new URL(endpoint);
  const http = new HttpClient({ baseUrl: u.origin, timeoutMs: TOKEN_TIMEOUT_MS, headers: { Accept: 'application/json' } });
  try {
    const r = await http.post(u.pathname + u.search, new URLSearchParams(form).toString(), { contentType: 'application/x-www-form-urlencoded' });
    if (!r.ok) return { ok: false, error: 'unreachable', message: r.failure.message };
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(r.response.text()) as Record<string, unknown>;
    } catch {
      return { ok: false, error: 'bad_response', message: `${u.origin}${u.pathname}: HTTP ${r.response.status}, not JSON` };
    }
    if (r.response.status === 200 && typeof v.access_token === 'string') return { ok: true, tokens: v as unknown as TokenResponse };
    const error = typeof v.error === 'string' ? v.error : `http_${r.response.status}`;
    return { ok: false, error, message: `the identity provider answered ${error}${typeof v.error_description === 'string' ? `: ${v.error_description}` : ''}` };
  } finally {
    await http.close();
  }
}

/** When a token response's access token expires: its JWT exp if it has one, else expires_in. */
export function expiryOf(tokens: TokenResponse, nowMs: number): number | null {
  const exp = jwtExpiry(tokens.access_token);
  if (exp !== null) return exp;
  return typeof tokens.expires_in === 'number' ? Math.floor(nowMs / 1000) + tokens.expires_in : null;
}

/** The `exp` of a JWT, read without verifying it (only to know when to refresh; the server verifies). */
export function jwtExpiry(token: string): number | null {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}
