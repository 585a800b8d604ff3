/**
 * `ringctl login` as a person runs it: the built `node bin/ringctl.js` as a child process, against `ringmaster
 * serve` (in this process) configured with the loopback test OIDC provider. The device flow, a pasted token,
 * the 0600 login cache, refresh of an expired token, and the plain message when it cannot be refreshed.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBuilt } from '../helpers/build';
import { rolloutYaml } from '../helpers/api-fixtures';
import { TestIdp } from '../helpers/oidc-provider';
import { startServe, stopServe, type RunningServe } from '../helpers/serve-in-process';

const ROOT = path.join(__dirname, '..', '..');
const RINGCTL = path.join(ROOT, 'bin', 'ringctl.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('ringctl login', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-login-'));
  const config = path.join(tmp, 'xdg');
  const credFile = path.join(config, 'ringmaster', 'credentials.json');
  const idp = new TestIdp({ ttlSec: 600 });
  let serve: RunningServe;
  let url = '';

  function ringctl(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
    return new Promise((resolve) => {
      const child = execFile(process.execPath, [RINGCTL, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, XDG_CONFIG_HOME: config, ...opts.env }, timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
      if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
    });
  }
  const cache = (): { version: number; servers: Record<string, { method: string; accessToken: string; expiresAt: number | null; refreshToken?: string; actor?: string }> } =>
    JSON.parse(fs.readFileSync(credFile, 'utf8')) as never;
  const expire = (): void => {
    const c = cache();
    for (const s of Object.values(c.servers)) s.expiresAt = Math.floor(Date.now() / 1000) - 60;
    fs.writeFileSync(credFile, JSON.stringify(c));
  };

  beforeAll(async () => {
    ensureBuilt();
    await idp.start();
    fs.mkdirSync(path.join(tmp, 'policies'));
    fs.writeFileSync(path.join(tmp, 'policies', 'open.yaml'), 'apiVersion: ringmaster.dev/v1alpha1\nkind: Policy\nmetadata: { name: open }\nspec:\n  timezone: UTC\n  allow: [{ days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], hours: "00:00-24:00" }]\n  requireSignedArtifacts: false\n');
    fs.writeFileSync(path.join(tmp, 'rollout.yaml'), rolloutYaml('login-1', 'login'));
    const cfg = path.join(tmp, 'serve.yaml');
    fs.writeFileSync(
      cfg,
      `listen: 127.0.0.1:0\ndata: ${path.join(tmp, 'data')}\npolicies: policies\noidc:\n  issuer: ${idp.issuer}\n  audience: ${idp.audience}\n  clientId: ${idp.clientId}\n  roles: { rm-deployers: deployer, rm-approvers: approver }\n`,
    );
    serve = await startServe(['--config', cfg]);
    url = serve.url;
  }, 120_000);

  afterAll(async () => {
    if (serve) await stopServe(serve);
    await idp.stop();
  });

  test('device flow: prints where to log in, waits for the approval, stores the token 0600, and verbs use it', async () => {
    // The person approves in the "browser" while ringctl polls.
    const child = spawn(process.execPath, [RINGCTL, 'login', '--server', url], { cwd: ROOT, env: { PATH: process.env.PATH, XDG_CONFIG_HOME: config } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const deadline = Date.now() + 10_000;
    while (!/enter the code ([A-Z]{4}-[A-Z]{4})/.test(stderr)) {
      if (Date.now() > deadline) throw new Error(`no device code: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const code = /enter the code ([A-Z]{4}-[A-Z]{4})/.exec(stderr)?.[1] as string;
    expect(stderr).toContain(`To log in, open ${idp.issuer}/device and enter the code ${code}`);
    const approved = await fetch(`${idp.issuer}/device`, { method: 'POST', body: new URLSearchParams({ user_code: code, sub: 'alice', groups: 'rm-deployers' }) });
    expect(approved.status).toBe(200);
    const exit = await new Promise<number | null>((r) => child.on('exit', r));
    expect({ exit, stdout }).toEqual({
      exit: 0,
      stdout: expect.stringMatching(new RegExp(`^logged in to ${url} as oidc:${idp.issuer} sub=alice \\(roles deployer\\); expires \\S+Z, refreshed automatically; saved in ${credFile}\n$`)) as unknown as string,
    });
    expect(fs.statSync(credFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(credFile)).mode & 0o777).toBe(0o700);
    expect(cache().servers[url]).toMatchObject({ method: 'device', refreshToken: expect.any(String), actor: `oidc:${idp.issuer} sub=alice` });

    const applied = await ringctl(['apply', '-f', path.join(tmp, 'rollout.yaml'), '--server', url]);
    expect(applied).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^rollout\/login-1 created/) });
    const audit = (await (await fetch(`${url}/v1/audit?limit=100`, { headers: { authorization: `Bearer ${cache().servers[url]?.accessToken}` } })).json()) as { entries: Array<{ actor: string; action: string }> };
    expect(audit.entries).toContainEqual(expect.objectContaining({ actor: `oidc:${idp.issuer} sub=alice`, action: 'rollout.create' }));
  });

  test('an expired token is refreshed with the refresh token, and the new one is stored', async () => {
    const before = cache().servers[url];
    expire();
    const got = await ringctl(['get', '--server', url]);
    expect(got).toMatchObject({ code: 0, stderr: '' });
    const after = cache().servers[url];
    expect(after?.accessToken).not.toBe(before?.accessToken);
    expect(after?.refreshToken).not.toBe(before?.refreshToken);
    expect(after?.expiresAt).toBeGreaterThan(Math.floor(Date.now() / 1000) + 500);
    expect(fs.statSync(credFile).mode & 0o777).toBe(0o600);
  });

  test('an expired login that cannot be refreshed is said plainly (provider down); nothing is sent', async () => {
    expire();
    await idp.stop();
    try {
      const got = await ringctl(['get', '--server', url]);
      expect(got.code).toBe(1);
      expect(got.stderr).toMatch(new RegExp(`^ringctl get: your login to ${url} expired at \\S+Z and could not be refreshed \\(POST ${idp.issuer}/token: connection refused\\); run ringctl login --server ${url}\n$`));
    } finally {
      await idp.start();
    }
  });

  test('--paste: a token from stdin is checked by the server, then stored; once expired, the verb says so', async () => {
    const token = await idp.sign({ sub: 'bob', groups: ['rm-approvers'] }, { ttlSec: 300 });
    const bad = await ringctl(['login', '--paste', '--server', url], { stdin: `${token}x\n` });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ringctl login: 401 unauthorized: token signature does not verify \(request \S+\)\n$/);
    expect(bad.stderr).not.toContain(token);
    const ok = await ringctl(['login', '--paste', '--server', url, '--json'], { stdin: `${token}\n` });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ server: url, actor: `oidc:${idp.issuer} sub=bob`, kind: 'person', roles: ['approver'], expiresAt: expect.any(Number) });
    expect(cache().servers[url]).toMatchObject({ method: 'pasted', accessToken: token });
    expect(cache().servers[url]?.refreshToken).toBeUndefined();
    expire();
    const got = await ringctl(['get', '--server', url]);
    expect(got.code).toBe(1);
    expect(got.stderr).toMatch(new RegExp(`^ringctl get: your login to ${url} expired at \\S+Z; run ringctl login --server ${url}\n$`));
  });

  test('a cache file others can read is refused; logout forgets the login', async () => {
    fs.chmodSync(credFile, 0o644);
    const got = await ringctl(['get', '--server', url]);
    expect(got.code).toBe(1);
    expect(got.stderr).toBe(`ringctl: ${credFile} is readable by others (mode 0644); run chmod 600 ${credFile} (or remove it)\n`);
    fs.chmodSync(credFile, 0o600);
    expect(await ringctl(['logout', '--server', url])).toMatchObject({ code: 0, stdout: `logged out of ${url}\n` });
    expect(cache().servers[url]).toBeUndefined();
    // No login and no token: the server's own 401.
    const anon = await ringctl(['get', '--server', url]);
    expect(anon.code).toBe(1);
    expect(anon.stderr).toMatch(/^ringctl get: 401 unauthorized: missing bearer token/);
  });
});
