/**
 * The failed-authentication limiter never locks out a valid credential. Measured on main: 21 wrong bearer tokens
 * from 127.0.0.1, then the kill switch with a correct sre token, got 429. Here, over real HTTP against the real
 * Controller, with the default limit (10 a minute, burst 20): the wrong ones get 429 after the burst, and a valid
 * token from the same address still engages the kill switch, reads the API and fetches the manifest. Garbage from
 * a limited client is refused without hashing anything.
 */
import { clientKey, FailedAuthLimiter } from '../../controller/api/ratelimit';
import { ROLES, TokenSet } from '../../controller/api/tokens';
import { expectCleanError, rawRequest, startApi, type Api } from '../helpers/api-harness';
import { rolloutYaml } from '../helpers/api-fixtures';
import { openController, type RealController } from '../helpers/api-controller';

const WRONG = 'Bearer d3JvbmctdG9rZW4tZ3Vlc3M';

describe('a limited client address still gets in with a valid token (default limit, real controller)', () => {
  let rc: RealController;
  let api: Api;
  const channel = 'limiter-ch';

  const killSwitch = (auth: string, engaged: boolean): Promise<Response> =>
    fetch(`${api.url}/v1/killswitch`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ engaged, mode: 'freeze', reason: engaged ? 'limiter test: stop everything' : 'limiter test: release' }),
    });

  beforeAll(async () => {
    rc = await openController();
    // Every role, agent included: with an agent token configured the manifest needs a token too.
    api = await startApi(rc.controller, { roles: ROLES });
    const created = await fetch(`${api.url}/v1/rollouts`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${api.tokens.deployer as string}`, 'Content-Type': 'application/yaml' },
      body: rolloutYaml('limiter-rollout', channel),
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await api.close();
    await rc.close();
  });

  test('21 wrong tokens, then the sre kill switch from the same address: 200, engaged, audited as the sre', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) statuses.push((await killSwitch(WRONG, true)).status);
    // The burst of 20 failures is answered 401; the 21st is over the limit.
    expect(statuses).toEqual([...Array<number>(20).fill(401), 429]);

    const res = await killSwitch(`Bearer ${api.tokens.sre as string}`, true);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { engaged: boolean; actor: string }).actor).toBe(api.names.sre);
    expect(rc.controller.getKillSwitch()).toMatchObject({ engaged: true, actor: api.names.sre });
  });

  test('after the burst, wrong tokens keep getting 429 with Retry-After, also right after a valid request', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await killSwitch(WRONG, false);
      expect(res.status).toBe(429);
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      const e = expectCleanError(await res.text(), 429);
      expect(e.code).toBe('rate_limited');
      expect(e.message).toMatch(/^too many failed authentications from this client; retry in \d+s \(a valid token is still accepted\)$/);
      // A valid request in between does not refill the bucket (a token holder cannot reset it for guessing).
      expect((await fetch(`${api.url}/v1/killswitch`, { headers: { Authorization: `Bearer ${api.tokens.viewer as string}` } })).status).toBe(200);
    }
    // The wrong tokens changed nothing: the switch is still engaged by the sre.
    expect(rc.controller.getKillSwitch()).toMatchObject({ engaged: true, actor: api.names.sre });
  });

  test('a valid token from the limited address reads the API and fetches the manifest', async () => {
    const viewer = { Authorization: `Bearer ${api.tokens.viewer as string}` };
    expect((await fetch(`${api.url}/v1/rollouts`, { headers: viewer })).status).toBe(200);
    expect((await fetch(`${api.url}/v1/rollouts/limiter-rollout`, { headers: viewer })).status).toBe(200);
    expect((await fetch(`${api.url}/v1/audit?limit=5`, { headers: viewer })).status).toBe(200);

    const agent = await fetch(`${api.url}/v1/channels/${channel}/manifest`, { headers: { Authorization: `Bearer ${api.tokens.agent as string}` } });
    expect(agent.status).toBe(200);
    const manifest = (await agent.json()) as { channel: string; killSwitch: { engaged: boolean } };
    expect(manifest.channel).toBe(channel);
    expect(manifest.killSwitch.engaged).toBe(true); // the sre's switch, seen by the agent
    // The manifest fast path refuses a wrong token from this address with the same 429.
    const wrong = await fetch(`${api.url}/v1/channels/${channel}/manifest`, { headers: { Authorization: WRONG } });
    expect(wrong.status).toBe(429);
    expect(expectCleanError(await wrong.text(), 429).code).toBe('rate_limited');
  });

  test('a valid token of a role that may not do this is still a 403, not a 429', async () => {
    const res = await killSwitch(`Bearer ${api.tokens.viewer as string}`, false);
    expect(res.status).toBe(403);
    expect(expectCleanError(await res.text(), 403).code).toBe('forbidden');
  });

  test('a limited client sending no token or a malformed header gets 429 at once, and nothing is hashed for it', async () => {
    const hashed = jest.spyOn(TokenSet.prototype, 'authenticate');
    try {
      for (const header of [undefined, 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', `Bearer ${'x'.repeat(600)}`, 'Bearer tok\u00e9n']) {
        const headers: Record<string, string> = header === undefined ? {} : { Authorization: header };
        const res = await fetch(`${api.url}/v1/rollouts`, { headers });
        expect([header?.slice(0, 20), res.status]).toEqual([header?.slice(0, 20), 429]);
      }
      // A raw request too (fetch would refuse some bytes): a header of control bytes.
      const raw = await rawRequest(api.port, `GET /v1/rollouts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x01\x02\r\nConnection: close\r\n\r\n`);
      expect([400, 429]).toContain(raw.status);
      expect(hashed).not.toHaveBeenCalled();
      // A well-formed token costs what every request costs: exactly one authentication.
      expect((await fetch(`${api.url}/v1/rollouts`, { headers: { Authorization: `Bearer ${api.tokens.viewer as string}` } })).status).toBe(200);
      expect(hashed).toHaveBeenCalledTimes(1);
    } finally {
      hashed.mockRestore();
    }
  });

  test('public endpoints are never limited', async () => {
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${api.url}/v1/signing-key`)).status).toBe(200);
  });
});

describe('FailedAuthLimiter keys and costs', () => {
  test('clients are keyed by IPv4 address, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64', () => {
    expect(clientKey('127.0.0.1')).toBe('127.0.0.1');
    expect(clientKey('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8:0001:0002::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2::ffff')).toBe(clientKey('2001:db8:1:2:dead:beef:0:1'));
    expect(clientKey('2001:db8:1:3::1')).not.toBe(clientKey('2001:db8:1:2::1'));
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });

  test('rotating addresses inside one IPv6 /64 does not reset the count', () => {
    const l = new FailedAuthLimiter({ perMinute: 10, burst: 3, maxClients: 100 }, () => 0);
    for (let i = 1; i <= 3; i++) l.fail(`2001:db8:1:2::${i.toString(16)}`);
    expect(l.retryAfter('2001:db8:1:2::99')).toBeGreaterThan(0);
    expect(l.retryAfter('2001:db8:1:3::1')).toBe(0);
    expect(l.trackedClients).toBe(1);
  });
});
