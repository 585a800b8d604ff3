/**
 * The authorisation matrix over loopback HTTP: every mutating route x {no token, bad token, malformed
 * header, each role}. A caller without the right role changes nothing (rollouts, kill switch, audit and
 * manifests compare equal before and after), and an allowed call is audited under the token's name.
 */
import type { Role } from '../../controller/api/tokens';
import type { ControllerService } from '../../controller/runtime/service';
import { parseRolloutBody } from '../../controller/api/rollout-input';
import { expectCleanError, startApi, type Api } from '../helpers/api-harness';
import { rolloutYaml, snapshot } from '../helpers/api-fixtures';
import { openController } from '../helpers/api-controller';
import { FakeService } from '../helpers/fake-service';

type Cred = { kind: 'none' } | { kind: 'bad'; header: string } | { kind: 'role'; role: Role };

const ROLES: Role[] = ['viewer', 'deployer', 'approver', 'sre', 'admin', 'agent'];
const CREDS: Cred[] = [
  { kind: 'none' },
  { kind: 'bad', header: 'Bearer wrong-token-value' },
  { kind: 'bad', header: 'Basic dXNlcjpwYXNz' },
  { kind: 'bad', header: 'Bearer' },
  ...ROLES.map((role): Cred => ({ kind: 'role', role })),
];

/** Who may call what: written out from the issue, not derived from the implementation's table. */
const ALLOWED: Record<string, Role[]> = {
  apply: ['deployer', 'admin'],
  pause: ['deployer', 'sre', 'admin'],
  resume: ['deployer', 'sre', 'admin'],
  approve: ['approver', 'admin'],
  abort: ['deployer', 'sre', 'admin'],
  rollback: ['deployer', 'sre', 'admin'],
  promote: ['approver', 'admin'],
  retry: ['deployer', 'sre', 'admin'],
  // apply --supersede withdraws what is in flight: it needs both apply and rollback.
  supersede: ['deployer', 'admin'],
  killswitch: ['sre', 'admin'],
};

let seq = 0;

async function prepare(service: ControllerService, route: string): Promise<{ path: string; body: string; contentType: string; channels: string[] }> {
  const n = ++seq;
  const name = `authz-${route}-${n}`;
  const channel = `authz-ch-${n}`;
  if (route === 'apply') {
    return { path: '/v1/rollouts', body: rolloutYaml(name, channel), contentType: 'application/yaml', channels: [channel] };
  }
  if (route === 'supersede') {
    const old = parseRolloutBody(rolloutYaml(`${name}-old`, channel));
    if (!old.ok) throw new Error(old.lines.join('\n'));
    if ((await service.applyRollout(old.rollout, 'setup')).status !== 'created') throw new Error('setup: supersede');
    return { path: '/v1/rollouts?supersede=true', body: rolloutYaml(name, channel, { version: '7.16.292' }), contentType: 'application/yaml', channels: [channel] };
  }
  if (route === 'killswitch') {
    const engaged = !service.getKillSwitch().engaged;
    return { path: '/v1/killswitch', body: JSON.stringify({ engaged, mode: 'freeze', reason: `matrix ${n}` }), contentType: 'application/json', channels: [] };
  }
  const parsed = parseRolloutBody(rolloutYaml(name, channel, { approvalFirst: route === 'approve' || route === 'promote' || route === 'retry' }));
  if (!parsed.ok) throw new Error(parsed.lines.join('\n'));
  const applied = await service.applyRollout(parsed.rollout, 'setup');
  if (applied.status !== 'created') throw new Error(`setup: ${applied.status}`);
  if (route === 'resume') {
    const paused = await service.request(name, 'pause', 'setup', 'setup');
    if (paused.status !== 'applied') throw new Error(`setup pause: ${paused.status}`);
  }
  if (route === 'retry') {
    // Awaiting approval of ring 0: nothing exposed, so abort ends it aborted at once, and retry may bring it back.
    const aborted = await service.request(name, 'abort', 'setup', 'setup');
    if (aborted.status !== 'applied' || aborted.rollout.phase.kind !== 'aborted') throw new Error(`setup abort: ${aborted.status}`);
  }
  return { path: `/v1/rollouts/${name}/${route}`, body: JSON.stringify({ reason: `matrix ${n}` }), contentType: 'application/json', channels: [channel] };
}

function authHeader(api: Api, cred: Cred): Record<string, string> {
  if (cred.kind === 'none') return {};
  if (cred.kind === 'bad') return { Authorization: cred.header };
  return { Authorization: `Bearer ${api.tokens[cred.role]}` };
}

function label(cred: Cred): string {
  return cred.kind === 'role' ? cred.role : cred.kind === 'bad' ? `bad(${cred.header})` : 'no token';
}

describe('authz matrix (real controller, SQLite)', () => {
  let service: ControllerService;
  let closeService: () => Promise<void>;
  let api: Api;
  beforeAll(async () => {
    const c = await openController();
    service = c.controller;
    closeService = c.close;
    // The failed-auth limiter has its own test; here every bad credential must reach the 401 check.
    api = await startApi(service, { roles: ROLES, server: { failedAuthLimit: { perMinute: 60_000, burst: 100_000, maxClients: 100 } } });
  });
  afterAll(async () => {
    await api.close();
    await closeService();
  });

  for (const route of Object.keys(ALLOWED)) {
    test.each(CREDS.map((c) => [label(c), c] as const))(`${route} with %s`, async (_l, cred) => {
      const req = await prepare(service, route);
      const before = snapshot(service, req.channels);
      const auditBefore = service.listAudit({ limit: 1_000_000 }).length;
      const res = await fetch(`${api.url}${req.path}`, {
        method: 'POST',
        headers: { 'Content-Type': req.contentType, ...authHeader(api, cred) },
        body: req.body,
      });
      const text = await res.text();
      const allowed = cred.kind === 'role' && (ALLOWED[route] ?? []).includes(cred.role);
      if (!allowed) {
        const expected = cred.kind === 'role' ? 403 : 401;
        expect([label(cred), res.status]).toEqual([label(cred), expected]);
        if (expected === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="ringmaster"/);
        const e = expectCleanError(text, res.status);
        expect(e.code).toBe(expected === 401 ? 'unauthorized' : 'forbidden');
        expect(snapshot(service, req.channels)).toBe(before);
        return;
      }
      expect([label(cred), res.status, text.slice(0, 200)]).toEqual([label(cred), route === 'apply' || route === 'supersede' ? 201 : 200, text.slice(0, 200)]);
      const audit = service.listAudit({ limit: 1_000_000 });
      const added = audit.slice(auditBefore);
      expect(added.length).toBeGreaterThan(0);
      expect(added.some((e) => e.actor === api.names[cred.role])).toBe(true);
      // The audit log names the token's owner and never carries the token itself.
      expect(JSON.stringify(audit)).not.toContain(api.tokens[cred.role] as string);
      if (route === 'killswitch') expect(service.getKillSwitch().actor).toBe(api.names[cred.role]);
    });
  }
});

describe('reads and the public endpoints', () => {
  let service: FakeService;
  let api: Api;
  beforeAll(async () => {
    service = new FakeService();
    api = await startApi(service, { roles: ROLES });
  });
  afterAll(() => api.close());

  const reads = ['/v1/rollouts', '/v1/killswitch', '/v1/audit', '/v1/audit/verify'];

  test.each(reads)('%s needs a token of a human role; agent tokens are refused', async (path) => {
    expect((await fetch(`${api.url}${path}`)).status).toBe(401);
    for (const role of ['viewer', 'deployer', 'approver', 'sre', 'admin'] as const) {
      const r = await fetch(`${api.url}${path}`, { headers: { Authorization: `Bearer ${api.tokens[role]}` } });
      expect([role, r.status]).toEqual([role, 200]);
    }
    expect((await fetch(`${api.url}${path}`, { headers: { Authorization: `Bearer ${api.tokens.agent}` } })).status).toBe(403);
  });

  test.each(['/healthz', '/readyz', '/metrics', '/v1/signing-key'])('%s is public', async (path) => {
    const r = await fetch(`${api.url}${path}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-request-id')).toBeTruthy();
  });

  test('readyz is 503 until the service is ready, healthz stays 200', async () => {
    service.isReady = false;
    try {
      const r = await fetch(`${api.url}/readyz`);
      expect(r.status).toBe(503);
      expect(expectCleanError(await r.text(), 503).code).toBe('not_ready');
      expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
    } finally {
      service.isReady = true;
    }
  });
});

describe('without a tokens file (real controller)', () => {
  let service: ControllerService;
  let closeService: () => Promise<void>;
  let api: Api;
  beforeAll(async () => {
    const c = await openController();
    service = c.controller;
    closeService = c.close;
    api = await startApi(service, { roles: [] });
  });
  afterAll(async () => {
    await api.close();
    await closeService();
  });

  test('every mutation is refused with 401 and reads stay open', async () => {
    const before = snapshot(service);
    const calls: Array<[string, string, string]> = [
      ['/v1/rollouts', 'application/yaml', rolloutYaml('r1', 'c1')],
      ['/v1/rollouts/r1/pause', 'application/json', '{}'],
      ['/v1/killswitch', 'application/json', JSON.stringify({ engaged: true, reason: 'x' })],
    ];
    for (const [path, ct, body] of calls) {
      const r = await fetch(`${api.url}${path}`, { method: 'POST', headers: { 'Content-Type': ct, Authorization: 'Bearer anything' }, body });
      expect([path, r.status]).toEqual([path, 401]);
      expect(expectCleanError(await r.text(), 401).message).toContain('no API tokens configured');
    }
    expect(snapshot(service)).toBe(before);
    expect((await fetch(`${api.url}/v1/rollouts`)).status).toBe(200);
  });
});
