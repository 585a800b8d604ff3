/**
 * Identity end to end: `ringmaster serve` (in this process) with an OIDC issuer (the loopback test provider), a
 * tokens file of machine tokens, a break-glass secret and a webhook sink, and a policy with the two-person rule.
 * People apply, approve and operate the kill switch with provider-signed JWTs; the provider is then stopped.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { hashToken } from '../../controller/api/tokens';
import { verifySignature } from '../../controller/notify/sinks';
import { rolloutYaml } from '../helpers/api-fixtures';
import { TestIdp } from '../helpers/oidc-provider';
import { startServe, stopServe, type RunningServe } from '../helpers/serve-in-process';

const SECRET = 'identity-webhook-secret';
const RULE = 'two-person rule (policy approvals.distinctFrom: applier)';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Call {
  status: number;
  body: Record<string, unknown>;
  message: string;
}

describe('identity: OIDC people, machine tokens, the two-person rule and break-glass against ringmaster serve', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-identity-'));
  const idp = new TestIdp({ ttlSec: 3600 });
  const ci = `ci-${crypto.randomBytes(18).toString('base64url')}`;
  const pager = `pager-${crypto.randomBytes(18).toString('base64url')}`;
  const glass = `glass-${crypto.randomBytes(24).toString('base64url')}`;
  // A static token of the JWT's shape (three dotted parts) is still a static token.
  const dotted = `${crypto.randomBytes(9).toString('hex')}.${crypto.randomBytes(9).toString('hex')}.${crypto.randomBytes(9).toString('hex')}`;
  const events: Array<{ type: string; actor: string; severity: string; reason: string }> = [];
  let hook: http.Server;
  let serve: RunningServe;
  let url = '';
  const person = (sub: string, groups: string[]): Promise<string> => idp.sign({ sub, groups });
  const actor = (sub: string): string => `oidc:${idp.issuer} sub=${sub}`;

  async function call(method: string, p: string, token: string | undefined, body?: unknown): Promise<Call> {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${url}${p}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const json = (await res.json()) as Record<string, unknown>;
    const err = json.error as { message?: string } | undefined;
    return { status: res.status, body: json, message: err?.message ?? '' };
  }
  const phaseOf = async (name: string, token: string): Promise<string> => ((await call('GET', `/v1/rollouts/${name}`, token)).body.rollout as { phase: { kind: string } }).phase.kind;
  async function until(what: string, fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await fn())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }

  beforeAll(async () => {
    await idp.start();
    hook = http.createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        if (verifySignature(SECRET, String(req.headers['x-ringmaster-signature']), text, Date.now() / 1000)) events.push(JSON.parse(text) as (typeof events)[number]);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    const w = (name: string, text: string): string => {
      const p = path.join(tmp, name);
      fs.writeFileSync(p, text);
      return p;
    };
    w('webhook.secret', SECRET);
    w('tokens.yaml', `tokens:\n  - name: ci-bot\n    role: deployer\n    sha256: ${hashToken(ci)}\n  - name: pager-bot\n    role: sre\n    verbs: [pause, killswitch]\n    sha256: ${hashToken(pager)}\n  - name: dotted-bot\n    role: viewer\n    sha256: ${hashToken(dotted)}\n`);
    fs.mkdirSync(path.join(tmp, 'policies'));
    w(
      'policies/two-person.yaml',
      [
        'apiVersion: ringmaster.dev/v1alpha1',
        'kind: Policy',
        'metadata: { name: two-person }',
        'spec:',
        '  timezone: UTC',
        '  allow: [{ days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], hours: "00:00-24:00" }]',
        '  requireSignedArtifacts: false',
        '  approvals: { distinctFrom: applier }',
        '',
      ].join('\n'),
    );
    w('policies/open.yaml', fs.readFileSync(path.join(tmp, 'policies/two-person.yaml'), 'utf8').replace('name: two-person', 'name: open').replace('  approvals: { distinctFrom: applier }\n', ''));
    const config = w(
      'serve.yaml',
      [
        'listen: 127.0.0.1:0',
        `data: ${path.join(tmp, 'data')}`,
        'tokens: tokens.yaml',
        'policies: policies',
        'tick: 100ms',
        'oidc:',
        `  issuer: ${idp.issuer}`,
        `  audience: ${idp.audience}`,
        `  clientId: ${idp.clientId}`,
        '  roles: { rm-deployers: deployer, rm-approvers: approver, rm-sre: sre }',
        '  refetchInterval: 1s',
        'breakGlass:',
        `  - { name: vault-envelope-1, sha256: ${hashToken(glass)} }`,
        'notifications:',
        `  - { name: hook, type: webhook, url: "${hookUrl}", secretFile: webhook.secret, events: [killswitch.*, breakglass.used] }`,
        '',
      ].join('\n'),
    );
    serve = await startServe(['--config', config]);
    url = serve.url;
  }, 60_000);

  afterAll(async () => {
    if (serve) await stopServe(serve);
    await idp.stop();
    await new Promise<void>((r) => hook.close(() => r()));
  });

  test('GET /v1/auth/config tells ringctl where to log in (public, no secret)', async () => {
    const r = await call('GET', '/v1/auth/config', undefined);
    expect(r).toMatchObject({ status: 200, body: { oidc: { issuer: idp.issuer, audience: 'ringmaster', clientId: 'ringctl', rolesClaim: 'groups' }, staticTokens: true } });
  });

  test('whoami: a person is its issuer and subject with the roles of its groups; a static token is a machine', async () => {
    const alice = await call('GET', '/v1/whoami', await person('alice', ['rm-deployers', 'rm-approvers', 'staff']));
    expect(alice.body).toEqual({ actor: actor('alice'), role: 'deployer', kind: 'person', roles: ['deployer', 'approver'], permissions: ['read', 'apply', 'pause', 'resume', 'abort', 'rollback', 'retry', 'archive', 'approve', 'promote'] });
    const bot = await call('GET', '/v1/whoami', pager);
    expect(bot.body).toEqual({ actor: 'pager-bot', role: 'sre', kind: 'machine', roles: ['sre'], permissions: ['read', 'pause', 'killswitch'] });
    expect((await call('GET', '/v1/whoami', dotted)).body).toMatchObject({ actor: 'dotted-bot', kind: 'machine' });
    const nobody = await call('GET', '/v1/whoami', await person('eve', ['staff']));
    expect(nobody).toMatchObject({ status: 403, message: `${actor('eve')} has no Ringmaster role (none of its groups is mapped in the serve config's oidc.roles)` });
  });

  test('bad people tokens are 401 with the reason, never the token', async () => {
    const expired = await idp.sign({ sub: 'alice', groups: ['rm-deployers'], iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 });
    const r = await call('GET', '/v1/whoami', expired);
    expect(r).toMatchObject({ status: 401, message: 'token expired (ringctl login again)' });
    expect(JSON.stringify(r.body)).not.toContain(expired);
    const wrongAud = await call('GET', '/v1/whoami', await idp.sign({ sub: 'alice', groups: ['rm-deployers'], aud: 'other' }));
    expect(wrongAud).toMatchObject({ status: 401, message: 'token audience is not this server' });
  });

  test('two-person rule: the applier may not approve; another person may; the audit log names both with their issuer', async () => {
    const alice = await person('alice', ['rm-deployers', 'rm-approvers']);
    const bob = await person('bob', ['rm-approvers']);
    const res = await fetch(`${url}/v1/rollouts`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/yaml' }, body: rolloutYaml('tp-1', 'tp', { approvalFirst: true, policy: 'two-person' }) });
    expect(res.status).toBe(201);
    await until('awaiting-approval', async () => (await phaseOf('tp-1', bob)) === 'awaiting-approval');

    const self = await call('POST', '/v1/rollouts/tp-1/approve', alice, { reason: 'lgtm' });
    expect(self).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(self.message).toBe(`${RULE}: ${actor('alice')} applied rollout tp-1 and may not approve it; another person must`);
    expect(await phaseOf('tp-1', bob)).toBe('awaiting-approval');

    const other = await call('POST', '/v1/rollouts/tp-1/approve', bob, { reason: 'reviewed' });
    expect(other).toMatchObject({ status: 200, body: { outcome: 'applied' } });
    const audit = (await call('GET', '/v1/audit?limit=1000', bob)).body.entries as Array<{ actor: string; action: string; target: string }>;
    expect(audit).toContainEqual(expect.objectContaining({ actor: actor('alice'), action: 'rollout.create', target: 'tp-1' }));
    expect(audit).toContainEqual(expect.objectContaining({ actor: actor('bob'), action: 'request.approve', target: 'tp-1' }));
    expect(audit.some((e) => e.actor === actor('alice') && e.action === 'request.approve')).toBe(false);
  });

  test('two-person rule is off under a policy without it: the applier approves its own rollout', async () => {
    const ann = await person('ann', ['rm-deployers', 'rm-approvers']);
    const res = await fetch(`${url}/v1/rollouts`, { method: 'POST', headers: { authorization: `Bearer ${ann}`, 'content-type': 'application/yaml' }, body: rolloutYaml('solo-1', 'solo', { approvalFirst: true, policy: 'open' }) });
    expect(res.status).toBe(201);
    await until('awaiting-approval', async () => (await phaseOf('solo-1', ann)) === 'awaiting-approval');
    expect(await call('POST', '/v1/rollouts/solo-1/approve', ann, { reason: 'mine' })).toMatchObject({ status: 200 });
  });

  test('two-person rule on promote: the applier may not promote --full, nor promote a ring that awaits its approval; another person may', async () => {
    const alice = await person('alice', ['rm-deployers', 'rm-approvers']);
    const bob = await person('bob', ['rm-approvers']);
    const apply = (name: string, approvalFirst: boolean): Promise<Response> =>
      fetch(`${url}/v1/rollouts`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/yaml' }, body: rolloutYaml(name, name, { approvalFirst, policy: 'two-person' }) });
    expect((await apply('tp-full', false)).status).toBe(201);
    await until('progressing', async () => (await phaseOf('tp-full', bob)) === 'progressing');
    const selfFull = await call('POST', '/v1/rollouts/tp-full/promote', alice, { full: true, reason: 'ship it' });
    expect(selfFull).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(selfFull.message).toBe(`${RULE}: ${actor('alice')} applied rollout tp-full and may not promote it to full; another person must`);
    const otherFull = await call('POST', '/v1/rollouts/tp-full/promote', bob, { full: true, reason: 'reviewed' });
    // Past the rule, the engine decides: the canary still ramps in waves (no census here), which promote never skips.
    expect(otherFull).toMatchObject({ status: 409 });
    expect(otherFull.message).toMatch(/^promote refused: ring canary is still ramping in waves/);

    // A promote of a ring that awaits its approval is that approval (engine/decide.ts): the same rule holds.
    expect((await apply('tp-gate', true)).status).toBe(201);
    await until('awaiting-approval', async () => (await phaseOf('tp-gate', bob)) === 'awaiting-approval');
    const selfGate = await call('POST', '/v1/rollouts/tp-gate/promote', alice, { reason: 'mine' });
    expect(selfGate).toMatchObject({ status: 403 });
    expect(selfGate.message).toBe(`${RULE}: ${actor('alice')} applied rollout tp-gate and may not approve it; another person must`);
    expect(await phaseOf('tp-gate', bob)).toBe('awaiting-approval');
    expect(await call('POST', '/v1/rollouts/tp-gate/promote', bob, { reason: 'reviewed' })).toMatchObject({ status: 200, body: { outcome: 'applied' } });
  });

  test('a machine token limited to verbs may do those and nothing else', async () => {
    const paused = await call('POST', '/v1/rollouts/tp-1/pause', pager, { reason: 'page' });
    expect(paused).toMatchObject({ status: 200, body: { outcome: 'applied' } });
    const abort = await call('POST', '/v1/rollouts/tp-1/abort', pager, { reason: 'no' });
    expect(abort).toMatchObject({ status: 403, message: 'role sre (limited to pause, killswitch) may not abort rollouts (needs deployer or sre or admin)' });
    expect(await call('POST', '/v1/rollouts/tp-1/resume', ci, { reason: 'go on' })).toMatchObject({ status: 200 });
  });

  test('two-person rule on the kill switch: who engaged it may not release it while a rollout under the rule is in flight', async () => {
    const carol = await person('carol', ['rm-sre']);
    const dave = await person('dave', ['rm-sre']);
    expect(await call('POST', '/v1/killswitch', carol, { engaged: true, reason: 'drill' })).toMatchObject({ status: 200, body: { engaged: true, actor: actor('carol') } });
    const self = await call('POST', '/v1/killswitch', carol, { engaged: false, reason: 'done' });
    expect(self).toMatchObject({ status: 403, message: `${RULE}: ${actor('carol')} engaged the kill switch and may not release it; another person must` });
    expect((await call('GET', '/v1/killswitch', dave)).body).toMatchObject({ engaged: true });
    expect(await call('POST', '/v1/killswitch', dave, { engaged: false, reason: 'checked' })).toMatchObject({ status: 200, body: { engaged: false, actor: actor('dave') } });
  });

  test('the provider down: cached keys still verify, break-glass engages the switch (audited, metric, notification), nothing else falls open', async () => {
    const carol = await person('carol', ['rm-sre']);
    const res = await fetch(`${url}/v1/rollouts`, { method: 'POST', headers: { authorization: `Bearer ${ci}`, 'content-type': 'application/yaml' }, body: rolloutYaml('down-1', 'down', { policy: 'open' }) });
    expect(res.status).toBe(201);
    await until('progressing', async () => (await phaseOf('down-1', ci)) === 'progressing');
    // carol's token was verified before: its key is cached.
    expect((await call('GET', '/v1/whoami', carol)).status).toBe(200);
    await idp.stop();
    await idp.rotate(); // a key the server never saw, used by a token minted while the provider is down
    const unknownKey = await person('mallory', ['rm-sre']);

    expect(await call('POST', '/v1/rollouts/down-1/pause', carol, { reason: 'idp down, pausing' })).toMatchObject({ status: 200, body: { outcome: 'applied' } });
    expect(await call('POST', '/v1/rollouts/down-1/resume', ci, { reason: 'machine token' })).toMatchObject({ status: 200, body: { outcome: 'applied' } });
    const refused = await call('POST', '/v1/killswitch', unknownKey, { engaged: true, reason: 'x' });
    expect(refused.status).toBe(401);
    expect(refused.message).toMatch(/^no key of the identity provider matches the token \(kid [0-9a-f]+\)$/);

    const engaged = await call('POST', '/v1/killswitch', glass, { engaged: true, mode: 'freeze', reason: 'idp down and a bad update is spreading' });
    expect(engaged).toMatchObject({ status: 200, body: { engaged: true, actor: 'break-glass:vault-envelope-1' } });
    // Break-glass does nothing else: not release, not a verb, not even a read.
    expect(await call('POST', '/v1/killswitch', glass, { engaged: false, reason: 'x' })).toMatchObject({ status: 403, message: 'a break-glass credential may only engage the kill switch, not release it' });
    expect(await call('POST', '/v1/rollouts/down-1/pause', glass, { reason: 'x' })).toMatchObject({ status: 403, message: 'a break-glass credential may only engage the kill switch' });
    expect(await call('GET', '/v1/rollouts', glass)).toMatchObject({ status: 403 });

    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^ringmaster_break_glass_uses_total\{credential="vault-envelope-1"\} 1$/m);
    const audit = (await call('GET', '/v1/audit?limit=1000', ci)).body.entries as Array<{ actor: string; action: string; reason: string }>;
    expect(audit).toContainEqual(expect.objectContaining({ actor: 'break-glass:vault-envelope-1', action: 'killswitch.engage', reason: 'idp down and a bad update is spreading' }));
    await until('the break-glass notification', async () => events.some((e) => e.type === 'breakglass.used'));
    expect(events.find((e) => e.type === 'breakglass.used')).toMatchObject({ severity: 'critical', actor: 'break-glass:vault-envelope-1', reason: expect.stringContaining('break-glass credential used to engage the kill switch (mode freeze)') });
    expect(events.filter((e) => e.type === 'killswitch.engaged').map((e) => e.actor)).toContain('break-glass:vault-envelope-1');

    // With the provider still down, a person whose key is cached operates the kill switch both ways.
    expect(await call('POST', '/v1/killswitch', carol, { engaged: false, reason: 'fixed, releasing' })).toMatchObject({ status: 200, body: { engaged: false, actor: actor('carol') } });
    expect(await call('POST', '/v1/killswitch', carol, { engaged: true, reason: 'again' })).toMatchObject({ status: 200, body: { engaged: true, actor: actor('carol') } });

    // A wrong secret is not break-glass: 401.
    expect(await call('POST', '/v1/killswitch', `${glass}x`, { engaged: true, reason: 'x' })).toMatchObject({ status: 401 });
  });
});
