/**
 * Issue 15's apply pipeline as a user runs it: the built `node bin/ringctl.js` as a child process against a real
 * `ringmaster serve` child process (SQLite in a fresh data directory, real HTTP on loopback, tokens per role).
 *   apply -f DIR and multi-document files; apply -f policy.yaml as admin (403 otherwise); --dry-run=server|client;
 *   diff -f; an emergency freeze applied while a rollout bakes (the next ring waits, abort still rolls back);
 *   delete (archive) and get --archived; history CHANNEL; killswitch; SIGHUP reload (refused, then in force), all
 *   audited; API-applied policies survive a restart.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PolicyView } from '../../controller/runtime/policies';
import type { AuditEntryView, RolloutView } from '../../controller/runtime/service';
import { spawnServe, stopChild } from '../helpers/serve-child';
import { ensureBuilt } from '../helpers/build';

const ROOT = path.join(__dirname, '..', '..');
const RINGCTL = path.join(ROOT, 'bin', 'ringctl.js');
const CONTENT = fs.readFileSync(path.join(ROOT, 'examples', 'rollouts', 'content-update.yaml'), 'utf8');
const LIVE = fs.readFileSync(path.join(ROOT, 'examples', 'rollouts', 'live-content-update.yaml'), 'utf8');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function ringctl(args: string[], env: Record<string, string | undefined> = {}, input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [RINGCTL, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The example content update under another name and channel (its signature covers the artifact, not these). */
function rollout(name: string, channel: string, edit: (y: string) => string = (y) => y): string {
  return edit(CONTENT.replace('name: sensor-content-7.16.291', `name: ${name}`).replace('channel: sensor-content ', `channel: ${channel} `).replace('policy: default ', 'policy: open '));
}

/** A rollout without metrics, with 2 s bakes of whole rings (no waves) on policy `open`: it advances on bake time alone. */
function fast(name: string, channel: string): string {
  return LIVE.replace('name: sensor-content-7.16.291-live', `name: ${name}`)
    .replace('channel: sensor-content', `channel: ${channel}`)
    .replace(/policy: anytime\b/, 'policy: open')
    .replace(/\n( +)bake: 20s/g, '\n$1bake: 2s\n$1ramp: none')
    .replace(/\n {2}analysis:[\s\S]*?(?=\n {2}rollback:)/, '');
}

const OPEN = `apiVersion: ringmaster.dev/v1alpha1
kind: Policy
metadata:
  name: open
spec:
  timezone: UTC
  allow:
    - days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun]
      hours: "00:00-24:00"
  maxConcurrentRolloutsPerChannel: 1
  requireSignedArtifacts: true
`;
const FROZEN = OPEN.replace('  maxConcurrentRolloutsPerChannel', '  freezes:\n    - from: "2000-01-01T00:00:00Z"\n      to: "2100-01-01T00:00:00Z"\n      reason: incident 4711 emergency freeze\n  maxConcurrentRolloutsPerChannel');

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('ringctl apply pipeline, policies and channel verbs against ringmaster serve', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-apply-'));
  const roles = ['viewer', 'deployer', 'sre', 'admin'] as const;
  const tokens = Object.fromEntries(roles.map((r) => [r, `${r}-${crypto.randomBytes(18).toString('base64url')}`])) as Record<(typeof roles)[number], string>;
  const policies = path.join(tmp, 'policies');
  const tokensFile = path.join(tmp, 'tokens.yaml');
  let server: ChildProcess;
  let serverLog = '';
  let url = '';
  const as = (role: (typeof roles)[number]): Record<string, string> => ({ RINGMASTER_URL: url, RINGMASTER_TOKEN: tokens[role] });
  const file = (name: string, text: string): string => {
    const p = path.join(tmp, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
    return p;
  };
  const api = async <T>(p: string): Promise<{ status: number; body: T }> => {
    const r = await fetch(`${url}${p}`, { headers: { Authorization: `Bearer ${tokens.viewer}` } });
    return { status: r.status, body: (await r.json()) as T };
  };
  const audit = async (): Promise<AuditEntryView[]> => (await api<{ entries: AuditEntryView[] }>('/v1/audit?limit=1000')).body.entries;
  const phaseOf = async (name: string): Promise<RolloutView | undefined> => (await api<{ rollout?: RolloutView }>(`/v1/rollouts/${name}`)).body.rollout;

  const start = async (): Promise<void> => {
    serverLog = '';
    ({ child: server, url } = await spawnServe(['--listen', '127.0.0.1:0', '--data', path.join(tmp, 'data'), '--tokens', tokensFile, '--trusted-keys', path.join(ROOT, 'examples', 'trusted-keys.yaml'), '--policies', policies, '--tick', '100ms', '--rollback-drain', '1s'], (c) => (serverLog += c)));
  };
  const stop = async (): Promise<void> => {
    await stopChild(server);
  };

  beforeAll(async () => {
    ensureBuilt();
    fs.writeFileSync(tokensFile, `tokens:\n${roles.map((r) => `  - name: test-${r}\n    role: ${r}\n    sha256: ${crypto.createHash('sha256').update(tokens[r]).digest('hex')}\n`).join('')}`);
    fs.mkdirSync(policies);
    // The default policy frozen for the whole century: a rollout on it waits whatever the day the test runs.
    const frozen = fs.readFileSync(path.join(ROOT, 'policies', 'default.yaml'), 'utf8').replace(/\n {2}freezes:\n/, '\n  freezes:\n    - from: "2000-01-01T00:00:00"\n      to: "2100-01-01T00:00:00"\n      reason: test freeze\n');
    fs.writeFileSync(path.join(policies, 'default.yaml'), frozen);
    fs.copyFileSync(path.join(ROOT, 'examples', 'live', 'policies', 'anytime.yaml'), path.join(policies, 'anytime.yaml'));
    await start();
  }, 90_000);

  afterAll(async () => {
    await stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('apply -f policy.yaml: 403 for a deployer; an admin applies it, audited; GET /v1/policies shows where each comes from', async () => {
    const denied = await ringctl(['apply', '-f', path.join(policies, 'default.yaml')], as('deployer'));
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^ringctl apply: 403 forbidden: role deployer may not apply or delete policies \(needs admin\) \(request [^)]+\)\n$/);

    const same = await ringctl(['apply', '-f', path.join(policies, 'default.yaml')], as('admin'));
    expect(same).toMatchObject({ code: 0, stdout: 'policy/default unchanged (the same spec is in force)\n', stderr: '' });

    const open = await ringctl(['apply', '-f', file('open.yaml', OPEN)], as('admin'));
    expect(open).toMatchObject({ code: 0, stdout: 'policy/open created (in force now, stored by the controller)\n', stderr: '' });
    const { body } = await api<{ policies: PolicyView[] }>('/v1/policies');
    expect(body.policies.map((p) => [p.name, p.source, p.appliedBy])).toEqual([
      ['anytime', 'file', null],
      ['default', 'file', null],
      ['open', 'api', 'test-admin'],
    ]);
    expect((await audit()).find((e) => e.action === 'policy.apply')).toMatchObject({ actor: 'test-admin', target: 'policy/open' });
    const shown = await ringctl(['policies'], as('viewer'));
    expect(shown.code).toBe(0);
    expect(shown.stdout.split('\n').slice(0, 4)).toEqual([
      expect.stringMatching(/^NAME +SOURCE +TIMEZONE +FREEZES +FROM$/),
      expect.stringMatching(new RegExp(`^anytime +file +UTC +- +${policies}/anytime\\.yaml$`)),
      expect.stringMatching(new RegExp(`^default +file +America/New_York +test freeze; year-end freeze +${policies}/default\\.yaml$`)),
      expect.stringMatching(/^open +api +UTC +- +applied by test-admin at \d{4}-\S+Z$/),
    ]);
  });

  test('apply -f DIR: every document in order, one line each; a bad document names its file and line; the others still apply', async () => {
    const two = `${rollout('two-a', 'multi')}---\n${rollout('two-b', 'multi', (y) => y.replace('percent: 10\n', 'percent: 150\n'))}`;
    const dir = path.join(tmp, 'dir');
    file('dir/10-two.yaml', two);
    file('dir/00-policy.yaml', OPEN.replace('name: open', 'name: open-two'));
    file('dir/20-cm.yml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n');
    file('dir/notes.txt', 'not yaml');
    const badLine = two.split('\n').indexOf('      percent: 150') + 1;
    expect(badLine).toBeGreaterThan(60);

    const r = await ringctl(['apply', '-f', dir], as('admin'));
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n')).toEqual(['policy/open-two created (in force now, stored by the controller)', 'rollout/two-a created (phase progressing, channel multi, 7.16.291)', '']);
    expect(r.stderr.split('\n')).toEqual([
      `${dir}/10-two.yaml:${badLine}:16 spec.rings[2].percent: must be <= 100 (got 150)`,
      expect.stringMatching(new RegExp(`^ringctl apply: 422 invalid_rollout: ${dir}/10-two.yaml document 2 of 2 refused \\(1 problem\\) \\(request [^)]+\\)$`)),
      `${dir}/20-cm.yml:1:1 kind: apply takes Rollout and Policy documents (${dir}/20-cm.yml has kind "ConfigMap")`,
      'ringctl apply: 2 of 4 documents refused',
      '',
    ]);
    expect(await phaseOf('two-b')).toBeUndefined();

    // Two rollouts in one file from stdin: both created (this used to be refused).
    const pair = `${rollout('pair-a', 'pair-a')}\n---\n${rollout('pair-b', 'pair-b')}`;
    const p = await ringctl(['apply', '-f', '-'], as('deployer'), pair);
    expect(p).toMatchObject({ code: 0, stderr: '' });
    expect(p.stdout).toMatch(/^rollout\/pair-a created \(.*\)\nrollout\/pair-b created \(.*\)\n$/);
  });

  test('apply --dry-run=server: every check, the same answer, nothing stored; --dry-run=client sends nothing', async () => {
    const newOne = file('dry.yaml', rollout('dry-1', 'dry'));
    const dry = await ringctl(['apply', '-f', newOne, '--dry-run=server'], as('deployer'));
    expect(dry).toMatchObject({ code: 0, stderr: '', stdout: 'rollout/dry-1 would be created (channel dry, 7.16.291, policy open; every check passed) (server dry run: nothing stored)\n' });
    expect((await api('/v1/rollouts/dry-1')).status).toBe(404);

    // A different spec under an existing name: the 409 that apply would give.
    const changed = file('two-a-changed.yaml', rollout('two-a', 'multi', (y) => y.replace('bake: 30m', 'bake: 31m')));
    const conflict = await ringctl(['apply', '-f', changed, '--dry-run=server'], as('deployer'));
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/^ringctl apply: 409 conflict: rollout "two-a" already exists with a different spec; rollouts are immutable, use a new name \(request [^)]+\)\n$/);

    // An unknown policy is found by the server's checks, at its line in the file.
    const unknown = file('dry-unknown.yaml', rollout('dry-2', 'dry', (y) => y.replace('policy: open ', 'policy: nope ')));
    const u = await ringctl(['apply', '-f', unknown, '--dry-run=server'], as('deployer'));
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/^.*dry-unknown\.yaml:\d+:\d+ spec\.policy: unknown policy "nope" \(loaded: anytime, default, open, open-two\)\n/);

    const pol = await ringctl(['apply', '-f', file('open-frozen-dry.yaml', FROZEN), '--dry-run=server'], as('admin'));
    expect(pol).toMatchObject({ code: 0, stdout: 'policy/open would be configured (server dry run: nothing stored)\n' });
    expect((await api<{ policies: PolicyView[] }>('/v1/policies')).body.policies.find((p) => p.name === 'open')?.spec.freezes).toBeUndefined();

    const bad = file('dry-bad.yaml', rollout('dry-3', 'dry', (y) => y.replace('percent: 10\n', 'percent: 150\n')));
    const client = await ringctl(['apply', '-f', bad, '--dry-run=client'], { RINGMASTER_URL: 'http://127.0.0.1:1' });
    expect(client.code).toBe(1);
    expect(client.stderr).toMatch(/dry-bad\.yaml:\d+:16 spec\.rings\[2\]\.percent: must be <= 100 \(got 150\)\nringctl apply: .*dry-bad\.yaml is invalid \(1 problem\)\n/);
    const good = await ringctl(['apply', '-f', newOne, '--dry-run=client'], { RINGMASTER_URL: 'http://127.0.0.1:1' });
    expect(good).toMatchObject({ code: 0, stdout: expect.stringMatching(/^rollout\/dry-1 valid \(client dry run: checked here, nothing sent;/) });
  });

  test('diff -f: "new", unchanged (exit 0), or the fields that differ (exit 1)', async () => {
    const d1 = await ringctl(['diff', '-f', path.join(tmp, 'dry.yaml')], as('viewer'));
    expect(d1).toMatchObject({ code: 1, stdout: 'rollout/dry-1: new (apply would create it: channel dry, 7.16.291, 4 rings)\n' });
    const same = file('two-a.yaml', rollout('two-a', 'multi'));
    expect(await ringctl(['diff', '-f', same], as('viewer'))).toMatchObject({ code: 0, stdout: 'rollout/two-a: unchanged\n', stderr: '' });
    const d2 = await ringctl(['diff', '-f', path.join(tmp, 'two-a-changed.yaml')], as('viewer'));
    expect(d2.code).toBe(1);
    expect(d2.stdout).toBe('rollout/two-a: 1 field differs from the stored rollout (apply would refuse: a rollout is immutable, apply the change under a new name)\n  ~ spec.rings[0].bake: "30m" -> "31m"\n');
    const d3 = await ringctl(['diff', '-f', path.join(tmp, 'open-frozen-dry.yaml')], as('viewer'));
    expect(d3.code).toBe(1);
    expect(d3.stdout).toMatch(/^policy\/open: 1 field differs from the policy in force \(applied through the API by test-admin\)\n {2}\+ spec\.freezes: \[\{"from":"2000-01-01T00:00:00Z"/);
    const broken = await ringctl(['diff', '-f', path.join(tmp, 'dry-bad.yaml')], as('viewer'));
    expect(broken.code).toBe(2);
  });

  test('an emergency freeze applied mid-rollout: the ring baking finishes, the next ring does not start, abort still rolls back', async () => {
    const created = await ringctl(['apply', '-f', file('fast.yaml', fast('fast-1', 'fast'))], as('deployer'));
    expect(created).toMatchObject({ code: 0, stderr: '' });
    await until('fast-1 baking its canary', async () => {
      const v = await phaseOf('fast-1');
      return v?.phase.kind === 'progressing' && v.bake !== null ? v : undefined;
    });
    const freeze = await ringctl(['apply', '-f', path.join(tmp, 'open-frozen-dry.yaml')], as('admin'));
    expect(freeze).toMatchObject({ code: 0, stdout: 'policy/open configured (in force now, stored by the controller)\n' });
    const waiting = await until('fast-1 waiting for a window', async () => {
      const v = await phaseOf('fast-1');
      return v?.phase.kind === 'waiting-for-window' ? v : undefined;
    });
    expect(waiting.waitingReason).toMatch(/incident 4711 emergency freeze/);
    // Longer than a bake: still no new ring.
    await new Promise((r) => setTimeout(r, 2500));
    const later = await phaseOf('fast-1');
    expect(later?.phase.kind).toBe('waiting-for-window');
    expect(later?.exposedRing).toBe(waiting.exposedRing);

    const abort = await ringctl(['abort', 'fast-1', '--reason', 'incident 4711'], as('deployer'));
    expect(abort.code).toBe(0);
    await until('fast-1 aborted', async () => ((await phaseOf('fast-1'))?.phase.kind === 'aborted' ? true : undefined));
  });

  test('delete: 409 in plain words for an unfinished rollout; a finished one leaves get (get --archived shows it) and its name is not reused', async () => {
    const busy = await ringctl(['delete', 'two-a'], as('deployer'));
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/^ringctl delete: 409 conflict: delete refused: it is [a-z-]+, not finished: only succeeded, rolled-back, aborted or preflight-failed rollouts can be deleted; .*\(request [^)]+\)\n$/);
    expect((await ringctl(['delete', 'fast-1'], as('viewer'))).stderr).toMatch(/403 forbidden: role viewer may not delete \(archive\) rollouts \(needs deployer or admin\)/);

    const del = await ringctl(['delete', 'fast-1', '--reason', 'done with it'], as('deployer'));
    expect(del).toMatchObject({ code: 0, stdout: 'rollout/fast-1 deleted (archived, phase aborted; see it with ringctl get --archived)\n', stderr: '' });
    const list = await ringctl(['get', '--json'], as('viewer'));
    expect((JSON.parse(list.stdout) as { rollouts: RolloutView[] }).rollouts.map((v) => v.name)).not.toContain('fast-1');
    const all = await ringctl(['get', '--archived', '--json'], as('viewer'));
    expect((JSON.parse(all.stdout) as { rollouts: RolloutView[] }).rollouts.find((v) => v.name === 'fast-1')?.archivedAt).toEqual(expect.any(String));
    // Its record stays readable by name, with its transitions.
    expect((await phaseOf('fast-1'))?.history.length).toBeGreaterThan(2);
    expect((await audit()).find((e) => e.action === 'rollout.archive')).toMatchObject({ actor: 'test-deployer', target: 'fast-1', reason: 'done with it' });

    const again = await ringctl(['apply', '-f', path.join(tmp, 'fast.yaml')], as('deployer'));
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/409 conflict: rollout "fast-1" was deleted \(archived\) at \S+; a name is never reused \(its record and audit stay\): apply it under a new metadata\.name/);
  });

  test('history CHANNEL: the lineage as a table with the stable marker', async () => {
    const h = await ringctl(['history', 'fast'], as('viewer'));
    expect(h.code).toBe(0);
    const lines = h.stdout.split('\n');
    expect(lines[0]).toMatch(/^channel fast: stable 7\.16\.290 \(founding version, since \S+ \S+\)$/);
    expect(lines[1]).toMatch(/^ {3}VERSION +ROLLOUT +OUTCOME +WHEN +REASON$/);
    expect(lines[2]).toMatch(/^\* {2}7\.16\.290 +- +initial /);
    expect(lines[3]).toMatch(/^ {3}7\.16\.291 +fast-1 +aborted +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ /);
    expect((await ringctl(['history', 'no-such-channel'], as('viewer'))).stderr).toMatch(/^ringctl history: 404 not_found: no channel named "no-such-channel"/);
  });

  test('killswitch: shows the state, exit 0, --json', async () => {
    expect(await ringctl(['killswitch'], as('viewer'))).toMatchObject({ code: 0, stdout: 'kill switch not engaged (it never was on this controller)\n' });
    expect((await ringctl(['kill', '--reason', 'bad content everywhere'], as('sre'))).code).toBe(0);
    const on = await ringctl(['killswitch'], as('viewer'));
    expect(on.code).toBe(0);
    expect(on.stdout).toMatch(/^kill switch ENGAGED \(mode freeze: .*\)\n {2}by {5}test-sre\n {2}since {2}\d{4}-\S+\n {2}reason bad content everywhere\n/);
    const json = await ringctl(['killswitch', '--json'], as('viewer'));
    expect(JSON.parse(json.stdout)).toMatchObject({ engaged: true, mode: 'freeze', actor: 'test-sre', reason: 'bad content everywhere' });
    expect((await ringctl(['unkill', '--reason', 'all clear'], as('sre'))).code).toBe(0);
    expect((await ringctl(['killswitch'], as('viewer'))).stdout).toBe('kill switch not engaged (released by test-sre: all clear)\n');
  });

  test('SIGHUP: a directory with a mistake, or one that drops a policy in use, is refused (old policies stay); a good one is in force; all audited', async () => {
    // A rollout on the (frozen) default policy: unfinished, it keeps "default" in use.
    expect((await ringctl(['apply', '-f', '-'], as('deployer'), CONTENT)).code).toBe(0);
    const before = (await api<{ policies: PolicyView[] }>('/v1/policies')).body.policies;
    const seen = async (action: string, n: number): Promise<AuditEntryView> =>
      until(`${n} audit entries ${action}`, async () => {
        const list = (await audit()).filter((e) => e.action === action);
        return list.length >= n ? list[n - 1] : undefined;
      });

    fs.writeFileSync(path.join(policies, 'broken.yaml'), 'apiVersion: ringmaster.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: broken\nspec:\n  timezone: Mars/Olympus\n  allow: []\n');
    server.kill('SIGHUP');
    const refused = await seen('policy.reload-refused', 1);
    expect(refused).toMatchObject({ actor: 'signal:SIGHUP', target: 'policies' });
    expect(refused.reason).toMatch(/broken\.yaml:6:13 spec\.timezone: unknown time zone Mars\/Olympus/);
    expect(serverLog).toMatch(/"level":"error".*policy reload refused, the old policies stay in force: .*broken\.yaml:6:13/);
    expect((await api<{ policies: PolicyView[] }>('/v1/policies')).body.policies).toEqual(before);

    fs.rmSync(path.join(policies, 'broken.yaml'));
    fs.renameSync(path.join(policies, 'default.yaml'), path.join(tmp, 'default.yaml.off'));
    server.kill('SIGHUP');
    const dropped = await seen('policy.reload-refused', 2);
    expect(dropped.reason).toMatch(/policy "default" is still used by unfinished rollout sensor-content-7\.16\.291; keep it until they finish/);

    fs.renameSync(path.join(tmp, 'default.yaml.off'), path.join(policies, 'default.yaml'));
    fs.writeFileSync(path.join(policies, 'anytime.yaml'), fs.readFileSync(path.join(policies, 'anytime.yaml'), 'utf8').replace('maxConcurrentRolloutsPerChannel: 1', 'maxConcurrentRolloutsPerChannel: 2'));
    server.kill('SIGHUP');
    const ok = await seen('policy.reload', 1);
    expect(ok).toMatchObject({ actor: 'signal:SIGHUP', reason: expect.stringMatching(/: 2 policies \(added none; changed anytime; removed none\)$/) });
    const after = (await api<{ policies: PolicyView[] }>('/v1/policies')).body.policies;
    expect(after.find((p) => p.name === 'anytime')?.spec.maxConcurrentRolloutsPerChannel).toBe(2);
    expect((await api<{ ok: boolean }>('/v1/audit/verify')).body.ok).toBe(true);
  });

  test('the API: a bad dryRun is a 400, a Policy body with a mistake a 422 with its line, unknown names 404, wrong methods 405', async () => {
    const send = (method: string, p: string, role: (typeof roles)[number], body?: string, type = 'application/yaml'): Promise<Response> =>
      fetch(`${url}${p}`, { method, headers: { Authorization: `Bearer ${tokens[role]}`, ...(body === undefined ? {} : { 'Content-Type': type }) }, ...(body === undefined ? {} : { body }) });
    const bad = await send('POST', '/v1/rollouts?dryRun=maybe', 'deployer', rollout('x-1', 'x'));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toBe('dryRun: must be true or false');
    const invalid = await send('POST', '/v1/policies', 'admin', OPEN.replace('timezone: UTC', 'timezone: Mars/Olympus'));
    expect(invalid.status).toBe(422);
    expect(((await invalid.json()) as { error: { code: string; details: string[] } }).error).toMatchObject({ code: 'invalid_policy', details: ['request:6:13 spec.timezone: unknown time zone Mars/Olympus (use an IANA name like America/New_York, Europe/Berlin or UTC)'] });
    const rolloutAsPolicy = await send('POST', '/v1/policies', 'admin', rollout('x-2', 'x'));
    expect(rolloutAsPolicy.status).toBe(422);
    expect((await send('DELETE', '/v1/rollouts/no-such-rollout', 'deployer')).status).toBe(404);
    const get = await send('GET', '/v1/policies/open', 'viewer');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('DELETE');
    const put = await send('PUT', '/v1/rollouts/two-a', 'admin');
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, DELETE');
    // Nothing of this reached the audit log.
    expect((await audit()).filter((e) => e.target === 'x-1' || e.target === 'policy/open' && e.action === 'policy.delete')).toEqual([]);
  });

  test('delete policy/NAME: refused while unfinished rollouts use it; API-applied policies survive a restart', async () => {
    const busy = await ringctl(['delete', 'policy/open'], as('admin'));
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/409 conflict: delete refused: policy "open" is still used by unfinished rollouts two-a, pair-a, pair-b; keep it until they finish/);
    expect((await ringctl(['delete', 'policy/default'], as('admin'))).stderr).toMatch(/404 not_found: no API-applied policy named "default" \(policy "default" comes from a file: edit the file, then send SIGHUP to ringmaster serve\)/);
    expect((await ringctl(['delete', 'policy/open-two'], as('admin'))).stdout).toBe('policy/open-two deleted (the API copy is gone; no policy of that name is in force now)\n');

    await stop();
    await start();
    const names = (await api<{ policies: PolicyView[] }>('/v1/policies')).body.policies.map((p) => `${p.name}:${p.source}`);
    expect(names).toEqual(['anytime:file', 'default:file', 'open:api']);
    expect((await api<{ policies: PolicyView[] }>('/v1/policies')).body.policies.find((p) => p.name === 'open')?.spec.freezes?.[0]?.reason).toBe('incident 4711 emergency freeze');
  }, 60_000);
});
