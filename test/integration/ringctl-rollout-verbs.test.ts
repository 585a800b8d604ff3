/**
 * The rollout verbs of issue 15 as a user runs them: the built `node bin/ringctl.js` (promote, promote --full, retry,
 * apply --supersede, undo, and the refusals in words) as a child process against a real `ringmaster serve` child
 * process on a free loopback port, with a fresh SQLite data directory, random tokens (only their sha256 on disk), a
 * policy open at all hours and a 1 s rollback drain. No Prometheus: rollouts without metrics advance on bake time (1h
 * here, so only a promote moves them), and one with metrics gets provider errors, so its verdict is never a pass.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AuditEntryView, ChannelView, RolloutView } from '../../controller/runtime/service';
import { spawnServe, stopChild } from '../helpers/serve-child';
import { ensureBuilt } from '../helpers/build';

const ROOT = path.join(__dirname, '..', '..');
const RINGCTL = path.join(ROOT, 'bin', 'ringctl.js');
const CHANNEL = 'agent-config';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function ringctl(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RINGCTL, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The example's signed artifact (examples/trusted-keys.yaml trusts its key); every version here ships those bytes. */
const ARTIFACT = `  artifact:
    url: https://updates.example.internal/sensor-content/7.16.291.bin
    sha256: fd9b627a7a5765f6f8924c5efcaadf16524344cc7069c03e99ea7ec31dd58752
    signature: MEIZeox3iQVOYHCmJeILc8CYB2TuFGx38iLBuF9pVXTeLqSe2Fghh9QrkBwnvfHNgGiam3ANt35NVPTfllhWBg==
`;

/** Three rings (canary, 1pct needing approval, full), 1h bakes, no ramp; `metrics`: an analysis that needs Prometheus. */
function rollout(name: string, version: string, previousVersion: string, metrics = false): string {
  const analysis = metrics
    ? `  analysis:
    interval: 1s
    noDataGrace: 1m
    maxConsecutiveErrors: 1000
    metrics:
      - name: crashes
        type: crash-rate
        max: 0.05
        maxRatio: 1.2
        minHosts: 50
        minExposure: 25
        alpha: 0.01
        detectRatio: 2
`
    : '';
  return `apiVersion: ringmaster.dev/v1alpha1
kind: Rollout
metadata:
  name: ${name}
spec:
  channel: ${CHANNEL}
  version: ${version}
  previousVersion: ${previousVersion}
${ARTIFACT}  policy: anytime
  rings:
    - name: canary
      selector:
        matchLabels:
          ring: canary
      bake: 1h
      ramp: none
    - name: 1pct
      percent: 1
      bake: 1h
      approval: required
      ramp: none
    - name: full
      percent: 100
      bake: 1h
      ramp: none
${analysis}`;
}

describe('ringctl promote, retry, apply --supersede and undo against ringmaster serve', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-verbs15-'));
  const roles = ['viewer', 'deployer', 'approver'] as const;
  const tokens = Object.fromEntries(roles.map((r) => [r, `${r}-${crypto.randomBytes(18).toString('base64url')}`])) as Record<(typeof roles)[number], string>;
  let server: ChildProcess;
  let serverLog = '';
  let url = '';
  const as = (role: (typeof roles)[number]): Record<string, string> => ({ RINGMASTER_URL: url, RINGMASTER_TOKEN: tokens[role] });
  const file = (name: string, text: string): string => {
    const p = path.join(tmp, name);
    fs.writeFileSync(p, text);
    return p;
  };
  const get = async <T>(p: string): Promise<T> => {
    const res = await fetch(`${url}${p}`, { headers: { Authorization: `Bearer ${tokens.viewer}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  };
  const view = async (name: string): Promise<RolloutView> => (await get<{ rollout: RolloutView }>(`/v1/rollouts/${name}`)).rollout;
  const until = async (name: string, ok: (v: RolloutView) => boolean, what: string): Promise<RolloutView> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const v = await view(name);
      if (ok(v)) return v;
      if (Date.now() > deadline) throw new Error(`${name}: ${what} not reached (phase ${v.phase.kind}): ${serverLog.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** One line on stderr, exit 1, the refusal as the server words it. */
  const refused = (r: Run, line: RegExp): void => {
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.replace(/\n$/, '').split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(line);
  };

  beforeAll(async () => {
    ensureBuilt();
    const tokensFile = file('tokens.yaml', `tokens:\n${roles.map((r) => `  - name: test-${r}\n    role: ${r}\n    sha256: ${crypto.createHash('sha256').update(tokens[r]).digest('hex')}\n`).join('')}`);
    const policies = path.join(tmp, 'policies');
    fs.mkdirSync(policies);
    fs.copyFileSync(path.join(ROOT, 'examples', 'live', 'policies', 'anytime.yaml'), path.join(policies, 'anytime.yaml'));
    ({ child: server, url } = await spawnServe(['--listen', '127.0.0.1:0', '--data', path.join(tmp, 'data'), '--tokens', tokensFile, '--trusted-keys', path.join(ROOT, 'examples', 'trusted-keys.yaml'), '--policies', policies, '--tick', '100ms', '--rollback-drain', '1s'], (c) => (serverLog += c)));
  }, 90_000);

  afterAll(async () => {
    await stopChild(server);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('promote ends bakes ring by ring (role approver), does not give a later ring its approval, and --full goes to the last ring', async () => {
    const a = 'agent-config-1.0.1';
    expect(await ringctl(['apply', '-f', file('a.yaml', rollout(a, '1.0.1', '1.0.0'))], as('deployer'))).toEqual({ code: 0, stdout: `rollout/${a} created (phase progressing, channel ${CHANNEL}, 1.0.1)\n`, stderr: '' });
    refused(await ringctl(['promote', a], as('deployer')), /^ringctl promote: 403 forbidden: role deployer may not promote rollouts \(needs approver or admin\)/);

    expect(await ringctl(['promote', a, '--reason', 'canary clean'], as('approver'))).toEqual({ code: 0, stdout: `rollout/${a} promote: progressing canary -> awaiting-approval 1pct; phase now awaiting-approval\n`, stderr: '' });
    expect((await ringctl(['promote', a], as('approver'))).stdout).toBe(`rollout/${a} promote: awaiting-approval 1pct -> progressing 1pct; phase now progressing\n`);
    expect((await ringctl(['promote', a, '--full', '--reason', 'ship it'], as('approver'))).stdout).toBe(`rollout/${a} promote: progressing 1pct -> progressing full; phase now progressing\n`);
    expect((await view(a)).exposedRing).toBe(2);
    expect((await ringctl(['promote', a], as('approver'))).stdout).toBe(`rollout/${a} promote: progressing full -> succeeded; phase now succeeded\n`);

    const history = (await view(a)).history.map((t) => `${t.from}->${t.to} ${t.actor}: ${t.reason}`);
    expect(history).toContain('progressing->progressing test-approver: promoted to full by test-approver: ship it; ring full starts');
    expect(history).toContain('progressing->awaiting-approval test-approver: promoted by test-approver: canary clean');
    const audit = (await get<{ entries: AuditEntryView[] }>('/v1/audit?limit=1000')).entries;
    expect(audit.filter((e) => e.target === a && e.action.startsWith('request.promote')).map((e) => [e.actor, e.action])).toEqual([
      // The deployer's 403 never reached the store.
      ['test-approver', 'request.promote'],
      ['test-approver', 'request.promote'],
      ['test-approver', 'request.promote-full'],
      ['test-approver', 'request.promote'],
    ]);

    // A verb in the wrong phase says what state the rollout is in and what to do.
    refused(
      await ringctl(['resume', a], as('deployer')),
      new RegExp(`^ringctl resume: 409 conflict: resume refused: ${a} succeeded \\(terminal\\); its version is the channel's stable version; apply a new version, or ringctl undo ${CHANNEL} --to VERSION to go back \\(request [\\w-]+\\)$`),
    );
  }, 60_000);

  test('promote never goes past a verdict that is not a pass; retry brings an aborted rollout back from its first ring', async () => {
    const b = 'agent-config-1.0.2';
    expect((await ringctl(['apply', '-f', file('b.yaml', rollout(b, '1.0.2', '1.0.1', true))], as('deployer'))).code).toBe(0);
    await until(b, (v) => v.lastVerdict !== null, 'a verdict');
    refused(await ringctl(['promote', b], as('approver')), /^ringctl promote: 409 conflict: promote refused: ring canary's last verdict is error \(.*no metrics provider configured.*\); promote never goes past a verdict that is not a pass \(request [\w-]+\)$/);
    expect((await view(b)).exposedRing).toBe(0);

    refused(await ringctl(['retry', b], as('approver')), /^ringctl retry: 403 forbidden: role approver may not retry rollouts/);
    expect((await ringctl(['abort', b, '--reason', 'wrong build'], as('deployer'))).code).toBe(0);
    await until(b, (v) => v.phase.kind === 'aborted', 'aborted');
    refused(
      await ringctl(['resume', b], as('deployer')),
      new RegExp(`^ringctl resume: 409 conflict: resume refused: ${b} was aborted \\(terminal\\): abort by test-deployer: wrong build; ringctl retry ${b} runs it again from the first ring \\(if its channel allows\\), or apply a new version \\(request [\\w-]+\\)$`),
    );
    const withdrawn = await get<{ channel: ChannelView }>(`/v1/channels/${CHANNEL}`);
    expect(withdrawn.channel.history.map((h) => `${h.version} ${h.event}`)).toContain('1.0.2 aborted');

    expect(await ringctl(['retry', b, '--reason', 'false alarm'], as('deployer'))).toEqual({
      code: 0,
      stdout: `rollout/${b} retry: aborted -> pending (starts again from ring canary when its channel lets it); phase now pending\n`,
      stderr: '',
    });
    const restarted = await until(b, (v) => v.phase.kind === 'progressing', 'progressing again');
    expect(restarted.exposedRing).toBe(0);
    const channel = await get<{ channel: ChannelView }>(`/v1/channels/${CHANNEL}`);
    expect(channel.channel.history.map((h) => `${h.version} ${h.event}`).slice(-2)).toEqual(['1.0.2 aborted', '1.0.2 retried']);
  }, 60_000);

  test('apply --supersede withdraws the rollout in flight and starts the new one after the drain, as one audited act', async () => {
    const b = 'agent-config-1.0.2';
    const c = 'agent-config-1.0.3';
    // Built on the candidate it replaces: refused, naming the stable version to use.
    refused(
      await ringctl(['apply', '-f', file('c-bad.yaml', rollout('agent-config-1.0.3-on-candidate', '1.0.3', '1.0.2')), '--supersede'], as('deployer')),
      new RegExp(`^ringctl apply: 409 conflict: --supersede: the new rollout must build on what channel ${CHANNEL} runs: 1\\.0\\.2 is the candidate it replaces \\(${b}\\), which was never stable; set previousVersion: 1\\.0\\.1 \\(request [\\w-]+\\)$`),
    );
    expect((await view(b)).phase.kind).toBe('progressing');

    expect(await ringctl(['apply', '-f', file('c.yaml', rollout(c, '1.0.3', '1.0.1')), '--supersede'], as('deployer'))).toEqual({
      code: 0,
      stdout: `rollout/${c} created (phase pending, channel ${CHANNEL}, 1.0.3); supersedes ${b} (withdrawn: it starts once that rollback has drained)\n`,
      stderr: '',
    });
    const old = await view(b);
    expect(old.phase).toMatchObject({ kind: 'rolling-back', cause: 'superseded' });
    expect(old.exposedRing).toBe(-1);
    expect((await view(c)).waitingReason).toBe(`waiting for ${b} (maxConcurrentRolloutsPerChannel 1)`);
    await until(c, (v) => v.phase.kind === 'progressing', 'the new one started');
    expect((await view(b)).phase.kind).toBe('rolled-back');
    const audit = (await get<{ entries: AuditEntryView[] }>('/v1/audit?limit=1000')).entries;
    const act = audit.find((e) => e.action === 'rollout.supersede');
    expect(act).toMatchObject({ actor: 'test-deployer', target: c, reason: `${c} (1.0.3) supersedes ${b}`, payload: { channel: CHANNEL, version: '1.0.3', superseded: [b] } });
    // A superseded version is not retried.
    refused(await ringctl(['retry', b], as('deployer')), new RegExp(`^ringctl retry: 409 conflict: retry refused: ${b} was rolled back \\(terminal\\): .*; its version is withdrawn from channel ${CHANNEL}: apply a new version`));
  }, 60_000);

  test('undo goes back to an earlier stable version as a rollout through the rings; refuses a version never stable there', async () => {
    const c = 'agent-config-1.0.3';
    refused(await ringctl(['undo', CHANNEL, '--to', '1.0.1'], as('deployer')), /^ringctl undo: 409 conflict: undo refused: channel agent-config already runs 1\.0\.1: nothing to undo/);
    expect((await ringctl(['promote', c, '--full'], as('approver'))).code).toBe(0);
    expect((await ringctl(['promote', c], as('approver'))).stdout).toBe(`rollout/${c} promote: progressing full -> succeeded; phase now succeeded\n`);

    refused(await ringctl(['undo', CHANNEL, '--to', '1.0.2'], as('deployer')), /^ringctl undo: 422 invalid_request: undo refused: 1\.0\.2 was never stable on channel agent-config; undo goes back to an earlier stable version \(1\.0\.0, 1\.0\.1\) \(request [\w-]+\)$/);
    refused(await ringctl(['undo', CHANNEL, '--to', '1.0.3'], as('deployer')), /^ringctl undo: 409 conflict: undo refused: channel agent-config already runs 1\.0\.3: nothing to undo/);
    refused(await ringctl(['undo', CHANNEL, '--to', '1.0.0'], as('deployer')), /^ringctl undo: 409 conflict: undo refused: channel agent-config records no artifact for 1\.0\.0 \(agent-config-1\.0\.1 set no previousArtifact\)/);
    refused(await ringctl(['undo', CHANNEL, '--to', '1.0.1'], as('approver')), /^ringctl undo: 403 forbidden: role approver may not apply rollouts/);

    const undo = await ringctl(['undo', CHANNEL, '--to', '1.0.1', '--reason', '1.0.3 breaks the old kernel driver'], as('deployer'));
    expect(undo).toEqual({
      code: 0,
      stdout: `rollout/agent-config-undo-1.0.1 created: channel ${CHANNEL} goes back from 1.0.3 to 1.0.1 (artifact as recorded by agent-config-1.0.1, rings of ${c}); phase progressing\n`,
      stderr: '',
    });
    const u = await view('agent-config-undo-1.0.1');
    expect([u.version, u.previousVersion, u.exposedRing, u.spec.spec.rings.map((r) => r.name)]).toEqual(['1.0.1', '1.0.3', 0, ['canary', '1pct', 'full']]);
    expect(u.spec.metadata.annotations).toEqual({ 'ringmaster.dev/undo-of': '1.0.3', 'ringmaster.dev/undo-to': '1.0.1', 'ringmaster.dev/undo-rings-from': c, 'ringmaster.dev/undo-artifact-from': 'agent-config-1.0.1' });
    const manifest = await fetch(`${url}/v1/channels/${CHANNEL}/manifest`);
    expect(manifest.status).toBe(200);
    expect(JSON.stringify(await manifest.json())).toContain('"1.0.1"');

    expect((await ringctl(['promote', 'agent-config-undo-1.0.1', '--full'], as('approver'))).code).toBe(0);
    expect((await ringctl(['promote', 'agent-config-undo-1.0.1'], as('approver'))).code).toBe(0);
    const channel = (await get<{ channel: ChannelView }>(`/v1/channels/${CHANNEL}`)).channel;
    expect(channel.stable).toMatchObject({ version: '1.0.1', rollout: 'agent-config-undo-1.0.1' });
    const audit = (await get<{ entries: AuditEntryView[] }>('/v1/audit?limit=1000')).entries;
    expect(audit.find((e) => e.action === 'channel.undo')).toMatchObject({ actor: 'test-deployer', target: CHANNEL, reason: '1.0.3 breaks the old kernel driver', payload: { rollout: 'agent-config-undo-1.0.1', from: '1.0.3', to: '1.0.1' } });
  }, 60_000);
});
