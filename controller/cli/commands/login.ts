/**
 * `ringctl login [--server URL] [--paste]` and `ringctl logout`: a person's credential for a controller.
 *
 * - Device flow (RFC 8628), the default: ringctl asks the controller where to log in (GET /v1/auth/config: the
 *   issuer and the public client id), reads the issuer's discovery document, asks for a device code, prints the
 *   URL and code to open in a browser (where the provider does its MFA), and polls the token endpoint until the
 *   login is approved, denied or expires.
 * - `--paste`: one token read from stdin (a JWT from the provider's own tooling, for example), never from a flag.
 *
 * Either way the token is checked against the controller (GET /v1/whoami) before it is stored, 0600, in the
 * login cache (credentials.ts). Verbs without --token or RINGMASTER_TOKEN then use it, refreshing it when it
 * expires, or saying plainly that the login expired.
 */
import type { Command } from 'commander';
import { HttpClient } from '../../http/client';
import { Client, CliError, out, runVerb, DEFAULT_URL } from '../client';
import { expiryOf, jwtExpiry, removeCredential, saveCredential, serverKey, tokenRequest, type StoredCredential } from '../credentials';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

interface AuthConfig {
  oidc: { issuer: string; audience: string; clientId: string | null; rolesClaim: string } | null;
}

interface Whoami {
  actor: string | null;
  kind?: string | null;
  roles?: string[];
  permissions: string[];
}

interface DeviceCode {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval?: number;
}

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('log in to a controller as a person (OAuth device flow with its OIDC provider, or --paste a token)')
    .option('--server <url>', `controller URL (env RINGMASTER_URL, default ${DEFAULT_URL})`)
    .option('--paste', 'read a token from stdin instead of the device flow')
    .option('--json', 'print the result as JSON')
    .action((opts: { server?: string; paste?: boolean; json?: boolean }) =>
      runVerb(async () => {
        const probe = new Client('login', { ...(opts.server === undefined ? {} : { server: opts.server }), anonymous: true });
        const base = probe.base;
        const cred = opts.paste ? await pasted() : await deviceFlow(base, opts.server);
        // The controller is the judge: a token it refuses is not stored.
        const me = await new Client('login', { server: base.href, token: cred.accessToken }).get<Whoami>('/v1/whoami');
        const stored: StoredCredential = { ...cred, ...(me.actor === null ? {} : { actor: me.actor }) };
        const file = saveCredential(base, stored);
        const until = stored.expiresAt === null ? 'no expiry in the token' : `expires ${new Date(stored.expiresAt * 1000).toISOString()}${stored.refreshToken ? ', refreshed automatically' : ''}`;
        if (opts.json) out(JSON.stringify({ server: serverKey(base), actor: me.actor, kind: me.kind ?? null, roles: me.roles ?? [], expiresAt: stored.expiresAt, file }));
        else out(`logged in to ${serverKey(base)} as ${me.actor ?? '(anonymous)'}${me.roles && me.roles.length > 0 ? ` (roles ${me.roles.join(', ')})` : ''}; ${until}; saved in ${file}`);
      }),
    );
  program
    .command('logout')
    .description('forget the login for a controller')
    .option('--server <url>', `controller URL (env RINGMASTER_URL, default ${DEFAULT_URL})`)
    .action((opts: { server?: string }) =>
      runVerb(async () => {
        const base = new Client('logout', { ...(opts.server === undefined ? {} : { server: opts.server }), anonymous: true }).base;
        out(removeCredential(base) ? `logged out of ${serverKey(base)}` : `no login for ${serverKey(base)}`);
        return Promise.resolve();
      }),
    );
}

async function pasted(): Promise<Omit<StoredCredential, 'actor'>> {
  if (process.stdin.isTTY) process.stderr.write('paste the token, then Enter: ');
  const text = await readStdin();
  const token = text.trim().split(/\s+/)[0] ?? '';
  if (token === '') throw new CliError('ringctl login: no token on stdin', 2);
  return { method: 'pasted', accessToken: token, expiresAt: jwtExpiry(token), savedAt: new Date().toISOString() };
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c: string) => {
      s += c;
      // One line is all a token needs: stop at the first newline (a terminal never sends EOF by itself).
      if (s.includes('\n')) {
        process.stdin.pause();
        resolve(s);
      }
    });
    process.stdin.on('end', () => resolve(s));
    process.stdin.on('error', reject);
  });
}

async function deviceFlow(base: URL, server: string | undefined): Promise<Omit<StoredCredential, 'actor'>> {
  const config = await new Client('login', { ...(server === undefined ? {} : { server }), anonymous: true }).get<AuthConfig>('/v1/auth/config');
  const oidc = config.oidc;
  if (!oidc) throw new CliError(`ringctl login: ${serverKey(base)} has no OIDC issuer configured; use a token (RINGMASTER_TOKEN) or ringctl login --paste`);
  if (oidc.clientId === null) throw new CliError(`ringctl login: ${serverKey(base)} names no oidc.clientId for ringctl; ask its operators, or use ringctl login --paste`);
  const clientId = oidc.clientId;
  const discovery = await getJson(`${oidc.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  const deviceEndpoint = discovery.device_authorization_endpoint;
  const tokenEndpoint = discovery.token_endpoint;
  if (typeof deviceEndpoint !== 'string' || typeof tokenEndpoint !== 'string') {
    throw new CliError(`ringctl login: the identity provider ${oidc.issuer} offers no device authorization; use ringctl login --paste`);
  }
  const code = (await postForm(deviceEndpoint, { client_id: clientId, scope: 'openid profile offline_access', audience: oidc.audience })) as unknown as DeviceCode;
  if (typeof code.device_code !== 'string' || typeof code.user_code !== 'string' || typeof code.verification_uri !== 'string') {
    throw new CliError(`ringctl login: ${deviceEndpoint} did not answer with a device code`);
  }
  process.stderr.write(`To log in, open ${code.verification_uri} and enter the code ${code.user_code}\n`);
  if (code.verification_uri_complete) process.stderr.write(`(or open ${code.verification_uri_complete})\n`);
  let interval = Math.max(1, code.interval ?? 5) * 1000;
  const deadline = Date.now() + Math.max(1, code.expires_in) * 1000;
  for (;;) {
    await new Promise((r) => setTimeout(r, interval));
    if (Date.now() > deadline) throw new CliError('ringctl login: the device code expired before the login was approved; run ringctl login again');
    const r = await tokenRequest(tokenEndpoint, { grant_type: DEVICE_GRANT, device_code: code.device_code, client_id: clientId });
    if (r.ok) {
      const now = Date.now();
      return {
        method: 'device',
        accessToken: r.tokens.access_token,
        expiresAt: expiryOf(r.tokens, now),
        ...(r.tokens.refresh_token === undefined ? {} : { refreshToken: r.tokens.refresh_token }),
        issuer: oidc.issuer,
        clientId,
        tokenEndpoint,
        savedAt: new Date(now).toISOString(),
      };
    }
    if (r.error === 'authorization_pending') continue;
    if (r.error === 'slow_down') {
      interval += 5000;
      continue;
    }
    if (r.error === 'access_denied') throw new CliError('ringctl login: the login was denied at the identity provider');
    if (r.error === 'expired_token') throw new CliError('ringctl login: the device code expired before the login was approved; run ringctl login again');
    throw new CliError(`ringctl login: ${r.message}`);
  }
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const u = new URL(url);
  const http = new HttpClient({ baseUrl: u.origin, timeoutMs: 10_000, retries: 1, headers: { Accept: 'application/json' } });
  try {
    const r = await http.get(u.pathname + u.search);
    if (!r.ok) throw new CliError(`ringctl login: cannot reach the identity provider: ${r.failure.message}`);
    if (r.response.status !== 200) throw new CliError(`ringctl login: GET ${u.origin}${u.pathname}: HTTP ${r.response.status}`);
    return parseObject(r.response.text(), `${u.origin}${u.pathname}`);
  } finally {
    await http.close();
  }
}

async function postForm(url: string, form: Record<string, string>): Promise<Record<string, unknown>> {
  const u = new URL(url);
  const http = new HttpClient({ baseUrl: u.origin, timeoutMs: 10_000, headers: { Accept: 'application/json' } });
  try {
    const r = await http.post(u.pathname + u.search, new URLSearchParams(form).toString(), { contentType: 'application/x-www-form-urlencoded' });
    if (!r.ok) throw new CliError(`ringctl login: cannot reach the identity provider: ${r.failure.message}`);
    const v = parseObject(r.response.text(), `${u.origin}${u.pathname}`);
    if (r.response.status !== 200) throw new CliError(`ringctl login: ${u.origin}${u.pathname} refused the device authorization (${typeof v.error === 'string' ? v.error : `HTTP ${r.response.status}`})`);
    return v;
  } finally {
    await http.close();
  }
}

function parseObject(text: string, where: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new CliError(`ringctl login: ${where} did not answer JSON`);
}
