/**
 * Security behaviour of the API over loopback: failed-auth rate limit, unexpected errors without stack traces,
 * request ids, the tokens file's one-line errors, and the rollout apply outcomes (201/200/409/422).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { FailedAuthLimiter } from '../../controller/api/ratelimit';
import { hashToken, TokenSet } from '../../controller/api/tokens';
import { InputError } from '../../controller/spec/errors';
import { expectCleanError, startApi, type Api } from '../helpers/api-harness';
import { rolloutYaml } from '../helpers/api-fixtures';
import { FakeService } from '../helpers/fake-service';

describe('failed authentications are rate limited per client', () => {
  let service: FakeService;
  let api: Api;
  beforeAll(async () => {
    service = new FakeService();
    api = await startApi(service, { server: { failedAuthLimit: { perMinute: 10, burst: 5, maxClients: 100 } } });
  });
  afterAll(() => api.close());

  test('after the burst of bad tokens, bad ones get 429 with Retry-After until the bucket refills; a good token still works', async () => {
    const url = `${api.url}/v1/killswitch`;
    for (let i = 0; i < 5; i++) {
      const r = await fetch(url, { headers: { Authorization: `Bearer guess-${i}` } });
      expect(r.status).toBe(401);
    }
    const limited = await fetch(url, { headers: { Authorization: 'Bearer guess-6' } });
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(6);
    expect(expectCleanError(await limited.text(), 429).code).toBe('rate_limited');
    // A correct token from the same client is never refused for its address (test/integration/auth-limiter.test.ts).
    const good = await fetch(url, { headers: { Authorization: `Bearer ${api.tokens.viewer}` } });
    expect(good.status).toBe(200);
    // Public endpoints are unaffected.
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  });
});

describe('FailedAuthLimiter', () => {
  test('refills at the configured rate and keeps at most maxClients buckets', () => {
    let now = 0;
    const l = new FailedAuthLimiter({ perMinute: 60, burst: 2, maxClients: 3 }, () => now);
    l.fail('a');
    expect(l.retryAfter('a')).toBe(0);
    l.fail('a');
    expect(l.retryAfter('a')).toBe(1); // one token per second
    now += 1000;
    expect(l.retryAfter('a')).toBe(0);
    for (const c of ['b', 'c', 'd', 'e']) l.fail(c);
    expect(l.trackedClients).toBe(3);
    now += 60_000; // every bucket refilled: forgotten
    for (const c of ['a', 'c', 'd', 'e']) expect(l.retryAfter(c)).toBe(0);
    expect(l.trackedClients).toBe(0);
  });

  test('10,000 distinct clients never grow memory past the cap', () => {
    const l = new FailedAuthLimiter({ perMinute: 10, burst: 20, maxClients: 500 });
    for (let i = 0; i < 10_000; i++) l.fail(`10.0.${i >> 8}.${i & 255}`);
    expect(l.trackedClients).toBe(500);
  });
});

describe('errors never leak internals', () => {
  let service: FakeService;
  let api: Api;
  beforeAll(async () => {
    service = new FakeService();
    api = await startApi(service);
  });
  afterAll(() => api.close());

  test('an unexpected service failure is a generic 500; the stack is in the server log under the request id', async () => {
    const secret = new Error('database at /var/lib/ringmaster/secret.db is locked');
    service.failWith = secret;
    try {
      const res = await fetch(`${api.url}/v1/killswitch`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${api.tokens.sre}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ engaged: true, reason: 'boom' }),
      });
      expect(res.status).toBe(500);
      const text = await res.text();
      const e = expectCleanError(text, 500);
      expect(e.code).toBe('internal');
      expect(text).not.toContain('secret.db');
      expect(e.requestId).toBe(res.headers.get('x-request-id'));
      const logged = api.logs.find((l) => l.includes(e.requestId));
      expect(logged).toBeDefined();
      expect(logged).toContain('secret.db');
      expect(JSON.parse(logged as string).stack).toContain('    at ');
    } finally {
      service.failWith = undefined;
    }
  });

  test('a tame client X-Request-Id is echoed, also on errors; a malformed one is a 400', async () => {
    const ok = await fetch(`${api.url}/v1/rollouts/nope`, { headers: { 'X-Request-Id': 'trace-123.abc', Authorization: `Bearer ${api.tokens.viewer}` } });
    expect(ok.status).toBe(404);
    expect(ok.headers.get('x-request-id')).toBe('trace-123.abc');
    expect(expectCleanError(await ok.text(), 404).requestId).toBe('trace-123.abc');
    const bad = await fetch(`${api.url}/healthz`, { headers: { 'X-Request-Id': 'has spaces and <html>' } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-request-id')).not.toContain(' ');
    expectCleanError(await bad.text(), 400);
  });

  test('a client that disconnects in the middle of a body leaves the server serving, with nothing logged as a bug', async () => {
    for (const path of ['/v1/killswitch', '/v1/rollouts']) {
      await new Promise<void>((resolve) => {
        const s = net.connect(api.port, '127.0.0.1', () => {
          s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${api.tokens.admin}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"engaged":`);
          setTimeout(() => s.destroy(), 50);
        });
        s.on('close', () => resolve());
        s.on('error', () => undefined);
      });
    }
    await new Promise((r) => setTimeout(r, 50));
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
    expect(api.logs.filter((l) => !l.includes('secret.db'))).toEqual([]);
    expect(service.getKillSwitch().engaged).toBe(false);
  });

  test('every response carries a distinct X-Request-Id', async () => {
    const ids = new Set<string>();
    for (const p of ['/healthz', '/v1/signing-key', '/nope', '/v1/channels/x/manifest']) ids.add((await fetch(`${api.url}${p}`)).headers.get('x-request-id') ?? '');
    expect(ids.size).toBe(4);
    expect(ids.has('')).toBe(false);
  });
});

describe('POST /v1/rollouts', () => {
  let service: FakeService;
  let api: Api;
  const post = (body: string, contentType = 'application/yaml') =>
    fetch(`${api.url}/v1/rollouts`, { method: 'POST', headers: { Authorization: `Bearer ${api.tokens.deployer}`, 'Content-Type': contentType }, body });
  beforeAll(async () => {
    service = new FakeService();
    api = await startApi(service);
  });
  afterAll(() => api.close());

  test('created (201), then the same spec is unchanged (200), then a different spec under the name is a conflict (409)', async () => {
    const yaml = rolloutYaml('apply-me', 'apply-ch');
    const first = await post(yaml);
    expect(first.status).toBe(201);
    expect(((await first.json()) as { status: string; rollout: { name: string } }).rollout.name).toBe('apply-me');
    const again = await post(yaml, 'text/yaml');
    expect(again.status).toBe(200);
    expect(((await again.json()) as { status: string }).status).toBe('unchanged');
    const other = await post(rolloutYaml('apply-me', 'apply-ch', { version: '7.16.292' }), 'application/x-yaml');
    expect(other.status).toBe(409);
    expect(expectCleanError(await other.text(), 409).code).toBe('conflict');
    expect(service.listAudit({}).filter((e) => e.target === 'apply-me')).toHaveLength(1);
    expect(service.listAudit({})[0]?.actor).toBe('deployer-bot');
  });

  test('a JSON body is accepted too (JSON is YAML)', async () => {
    const res = await post(JSON.stringify({
      apiVersion: 'ringmaster.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'json-one' },
      spec: {
        channel: 'json-ch',
        version: '2.0.0',
        artifact: { url: 'https://x.example/a.bin', sha256: 'c'.repeat(64) },
        policy: 'open',
        rings: [{ name: 'all', percent: 100, bake: '1h' }],
      },
    }), 'application/json');
    expect(res.status).toBe(201);
  });

  test('an invalid rollout is a 422 listing every error with the line and field', async () => {
    const yaml = rolloutYaml('bad-one', 'bad-ch').replace('      percent: 1\n', '      percent: 150\n').replace('bake: 30m', 'bake: soon');
    const res = await post(yaml);
    expect(res.status).toBe(422);
    const body = (await res.json()) as { error: { code: string; message: string; details: string[] } };
    expect(body.error.code).toBe('invalid_rollout');
    // Exactly what `ringctl validate` prints for the same text, with positions into the request body.
    expect(body.error.details).toEqual([
      'request:16:13 spec.rings[0].bake: must be a duration like 30s, 30m, 2h, 1d or 1h30m (got soon)',
      'request:18:16 spec.rings[1].percent: must be <= 100 (got 150)',
    ]);
    expect(body.error.message).toBe(`the rollout is invalid (2 errors): ${body.error.details[0]}`);
    expect(service.getRollout('bad-one')).toBeUndefined();
  });

  test('an unknown policy is the service\'s 422', async () => {
    const res = await post(rolloutYaml('no-policy', 'np-ch', { policy: 'nonexistent' }));
    expect(res.status).toBe(422);
    const body = (await res.json()) as { error: { details: string[] } };
    expect(body.error.details.join('\n')).toContain('spec.policy');
  });
});

describe('tokens file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-tokens-'));
  const write = (name: string, text: string): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  const errorsOf = (file: string): string[] => {
    try {
      TokenSet.fromFile(file);
    } catch (err) {
      if (err instanceof InputError) return err.lines;
      throw err;
    }
    throw new Error('expected an InputError');
  };

  test('a valid file authenticates by sha256 and names the owner', () => {
    const f = write('ok.yaml', `tokens:\n  - name: alice\n    role: deployer\n    sha256: ${hashToken('s3cret-token')}\n  - name: pager\n    role: sre\n    sha256: ${hashToken('other').toUpperCase()}\n`);
    const set = TokenSet.fromFile(f);
    expect(set.size).toBe(2);
    expect(set.authenticate('s3cret-token')).toEqual({ name: 'alice', role: 'deployer' });
    expect(set.authenticate('other')).toEqual({ name: 'pager', role: 'sre' });
    expect(set.authenticate('s3cret-tokeN')).toBeUndefined();
    expect(set.authenticate('')).toBeUndefined();
  });

  test('each mistake is one line with file:line:col, field and reason, and never echoes a pasted token', () => {
    const f = write(
      'bad.yaml',
      [
        'tokens:',
        '  - name: alice',
        '    role: superuser',
        `    sha256: ${'a'.repeat(64)}`,
        '  - name: bob',
        '    role: viewer',
        '    sha256: my-plain-text-token-that-should-never-be-printed-back',
        '  - name: alice',
        '    role: sre',
        `    sha256: ${'a'.repeat(64)}`,
        '  - role: viewer',
        `    sha256: ${'b'.repeat(64)}`,
        '    extra: 1',
        'other: x',
        '',
      ].join('\n'),
    );
    const lines = errorsOf(f);
    for (const l of lines) {
      expect(l).not.toContain('\n');
      expect(l.startsWith(`${f}:`)).toBe(true);
      expect(l).not.toContain('my-plain-text-token');
    }
    const text = lines.join('\n');
    expect(text).toContain(`${f}:3:11 tokens[0].role: must be one of viewer, deployer, approver, sre, admin, agent (got "superuser")`);
    expect(text).toMatch(new RegExp(`${f}:7:13 tokens\\[1\\]\\.sha256: must be the 64-hex-character sha256`));
    expect(text).toContain(`${f}:8:11 tokens[2].name: duplicate name "alice"`);
    expect(text).toContain(`${f}:10:13 tokens[2].sha256: the same token as tokens[0]`);
    expect(text).toContain(`${f}:11:5 tokens[3]: missing required field "name"`);
    expect(text).toContain(`${f}:13:5 tokens[3].extra: unknown field`);
    expect(text).toContain(`${f}:14:1 other: unknown field`);
  });

  test('unreadable, non-YAML and wrongly shaped files are one line each', () => {
    expect(errorsOf(path.join(dir, 'missing.yaml'))).toEqual([`${path.join(dir, 'missing.yaml')}:0:0 (document): cannot read tokens file (ENOENT)`]);
    // Every syntax error, each at its line, like `ringctl validate`.
    const broken = errorsOf(write('broken.yaml', 'tokens: [\n  - name: a\n'));
    expect(broken.length).toBeGreaterThan(0);
    for (const l of broken) expect(l).toMatch(/broken\.yaml:\d+:\d+ \(document\): YAML syntax: /);
    expect(errorsOf(write('list.yaml', '- a\n- b\n'))).toEqual([`${path.join(dir, 'list.yaml')}:1:1 (document): the file must be a mapping with a "tokens" list`]);
    expect(errorsOf(write('scalar.yaml', 'tokens: 3\n'))).toEqual([`${path.join(dir, 'scalar.yaml')}:1:9 tokens: must be a list of {name, role, sha256}`]);
  });

  test('examples/tokens.yaml is valid and its documented tokens have the documented roles', () => {
    const set = TokenSet.fromFile(path.join(__dirname, '..', '..', 'examples', 'tokens.yaml'));
    for (const role of ['viewer', 'deployer', 'approver', 'sre', 'admin'] as const) {
      expect(set.authenticate(`ringmaster-example-${role}`)).toEqual({ name: `example-${role}`, role });
    }
    expect(set.hasRole('agent')).toBe(false);
  });
});
