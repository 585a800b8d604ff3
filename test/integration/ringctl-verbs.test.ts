/**
 * The ringctl verbs as a user runs them: the built `node bin/ringctl.js` as a child process against a real
 * `ringmaster serve` child process on a free loopback port, with a fresh data directory, a tokens file of
 * random tokens (only their sha256 on disk) and the repository's policies and trusted keys, plus a publisher
 * key made with `ringctl keygen`. A few tiny local HTTP servers stand in for a lying or absent controller.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parsePublicKey, verifyArtifactSignature } from '../../controller/crypto/keys';
import type { AuditEntryView, RolloutView } from '../../controller/runtime/service';
import { auditHash, GENESIS_HASH } from '../../controller/store/canonical';
import { spawnServe, stopChild } from '../helpers/serve-child';
import { ensureBuilt } from '../helpers/build';

const ROOT = path.join(__dirname, '..', '..');
const RINGCTL = path.join(ROOT, 'bin', 'ringctl.js');
const CONTENT = path.join(ROOT, 'examples', 'rollouts', 'content-update.yaml');
const NAME = 'sensor-content-7.16.291';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function ringctl(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RINGCTL, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Exactly one line on stderr, matching; no stack trace; never the token. */
function expectOneLineError(r: Run, pattern: RegExp, token?: string): void {
  const lines = r.stderr.replace(/\n$/, '').split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  if (token !== undefined) expect(r.stderr + r.stdout).not.toContain(token);
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A rollout document derived from the content update example. */
function variant(name: string, edit: (yaml: string) => string = (y) => y): string {
  return edit(fs.readFileSync(CONTENT, 'utf8').replace(`name: ${NAME}`, `name: ${name}`));
}

describe('ringctl verbs against ringmaster serve', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-ringctl-'));
  const keysDir = path.join(tmp, 'keys', 'publisher');
  const roles = ['viewer', 'deployer', 'approver', 'sre'] as const;
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

  beforeAll(async () => {
    ensureBuilt();
    // keygen first: the controller must trust the new publisher key.
    const kg = await ringctl(['keygen', '--out', keysDir, '--name', 'release-team']);
    expect(kg).toMatchObject({ code: 0, stderr: '' });
    const publicKey = /publicKey: (\S+)/.exec(kg.stdout)?.[1] as string;
    const trusted = file('trusted.yaml', `${fs.readFileSync(path.join(ROOT, 'examples', 'trusted-keys.yaml'), 'utf8')}  - name: release-team\n    publicKey: ${publicKey}\n`);
    const tokensFile = file('tokens.yaml', `tokens:\n${roles.map((r) => `  - name: test-${r}\n    role: ${r}\n    sha256: ${crypto.createHash('sha256').update(tokens[r]).digest('hex')}\n`).join('')}`);
    // The repository's default policy with a freeze over the whole century (so the example rollout waits
    // whatever the day and hour the test runs), plus one that allows ring starts at any time.
    const policies = path.join(tmp, 'policies');
    fs.mkdirSync(policies);
    const frozen = fs.readFileSync(path.join(ROOT, 'policies', 'default.yaml'), 'utf8').replace(/\n {2}freezes:\n/, '\n  freezes:\n    - from: "2000-01-01T00:00:00"\n      to: "2100-01-01T00:00:00"\n      reason: test freeze\n');
    expect(frozen).toContain('reason: test freeze');
    fs.writeFileSync(path.join(policies, 'default.yaml'), frozen);
    fs.copyFileSync(path.join(ROOT, 'examples', 'live', 'policies', 'anytime.yaml'), path.join(policies, 'anytime.yaml'));
    ({ child: server, url } = await spawnServe(['--listen', '127.0.0.1:0', '--data', path.join(tmp, 'data'), '--tokens', tokensFile, '--trusted-keys', trusted, '--policies', policies, '--tick', '100ms'], (c) => (serverLog += c)));
  }, 90_000);

  afterAll(async () => {
    await stopChild(server);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('keygen: a 0600 private key in a 0700 directory; refuses to overwrite without --force', async () => {
    expect(fs.statSync(keysDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(keysDir, 'release-team.key')).mode & 0o777).toBe(0o600);
    const before = fs.readFileSync(path.join(keysDir, 'release-team.key'), 'utf8');
    const again = await ringctl(['keygen', '--out', keysDir, '--name', 'release-team']);
    expect(again.code).toBe(1);
    expectOneLineError(again, /^ringctl keygen: .*release-team\.key, .*release-team\.pub already exist \(use --force to replace\)$/);
    expect(fs.readFileSync(path.join(keysDir, 'release-team.key'), 'utf8')).toBe(before);

    // --force replaces both files (elsewhere: the controller trusts the first key).
    const other = path.join(tmp, 'other-keys');
    expect((await ringctl(['keygen', '--out', other])).code).toBe(0);
    const first = fs.readFileSync(path.join(other, 'publisher.pub'), 'utf8');
    const forced = await ringctl(['keygen', '--out', other, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(new RegExp(`^private key: ${other}/publisher\\.key \\(mode 0600; keep it secret\\)\npublic key: {2}${other}/publisher\\.pub \\(key id [0-9a-f]{16}\\)\n`));
    expect(fs.readFileSync(path.join(other, 'publisher.pub'), 'utf8')).not.toBe(first);
    expect(fs.statSync(path.join(other, 'publisher.key')).mode & 0o777).toBe(0o600);

    // A private key others can read is refused by sign.
    const loose = path.join(tmp, 'loose.key');
    fs.copyFileSync(path.join(keysDir, 'release-team.key'), loose);
    fs.chmodSync(loose, 0o644);
    const r = await ringctl(['sign', '--key', loose, '--file', 'examples/artifacts/sensor-content-7.16.291.bin']);
    expect(r.code).toBe(1);
    expectOneLineError(r, /^ringctl sign: .*loose\.key: private key is readable by others \(mode 644\); chmod 600 it$/);
  });

  test('apply creates, then is idempotent; get and status show it; an unsigned rollout is a one-line 422', async () => {
    const first = await ringctl(['apply', '-f', CONTENT], as('deployer'));
    expect(first).toEqual({ code: 0, stdout: `rollout/${NAME} created (phase waiting-for-window, channel sensor-content, 7.16.291)\n`, stderr: '' });
    const second = await ringctl(['apply', '-f', CONTENT], as('deployer'));
    expect(second).toEqual({ code: 0, stdout: `rollout/${NAME} unchanged (phase waiting-for-window, channel sensor-content, 7.16.291)\n`, stderr: '' });
    const changed = await ringctl(['apply', '-f', file('changed.yaml', variant(NAME, (y) => y.replace('bake: 30m', 'bake: 45m')))], as('deployer'));
    expect(changed.code).toBe(1);
    expectOneLineError(changed, new RegExp(`^ringctl apply: 409 conflict: .*${NAME}.*\\(request [\\w-]+\\)$`), tokens.deployer);

    const get = await ringctl(['get', '--json'], as('viewer'));
    expect(get.code).toBe(0);
    const list = JSON.parse(get.stdout) as { rollouts: RolloutView[] };
    expect(list.rollouts.map((v) => [v.name, v.channel, v.version])).toEqual([[NAME, 'sensor-content', '7.16.291']]);
    const table = (await ringctl(['get'], as('viewer'))).stdout.split('\n');
    expect(table[0]).toMatch(/^NAME\s+CHANNEL\s+VERSION\s+PHASE\s+RING\s+WAITING$/);
    expect(table[1]).toMatch(new RegExp(`^${NAME}\\s+sensor-content\\s+7\\.16\\.291\\s+\\S+`));

    const status = await ringctl(['status', NAME, '--json'], as('viewer'));
    const one = (JSON.parse(status.stdout) as { rollout: RolloutView }).rollout;
    expect([one.name, one.spec.spec.rings.map((r) => r.name)]).toEqual([NAME, ['canary', 'early', 'broad', 'full']]);
    const text = await ringctl(['status', NAME], as('viewer'));
    expect(text.stdout).toMatch(new RegExp(`^${NAME}  sensor-content 7\\.16\\.290 -> 7\\.16\\.291\nphase: `));
    expect(text.stdout).toMatch(/^policy default {2}rollout revision \d+ {2}manifest revision (\d+|n\/a) \(the channel's\)$/m);
    expect(text.stdout).toMatch(/^ {2}\[.\] 0 {2}canary\s+ring=canary\s+n\/a /m);
    expect(text.stdout).toMatch(/^ {2}\[ \] 2 {2}broad\s+10%\s+n\/a {2}bake 24h, approval required$/m);
    const missing = await ringctl(['status', 'no-such-rollout'], as('viewer'));
    expect(missing.code).toBe(1);
    expectOneLineError(missing, /^ringctl status: 404 not_found: no rollout named "no-such-rollout" \(request [\w-]+\)$/);

    const unsigned = file('unsigned.yaml', variant('unsigned', (y) => y.replace(/\n\s*signature: .*/, '')));
    const refused = await ringctl(['apply', '-f', unsigned], as('deployer'));
    expect(refused.code).toBe(1);
    // Each problem is named in the file the user applied, like `ringctl validate` does; the refusal comes last.
    const lines = refused.stderr.replace(/\n$/, '').split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${unsigned.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+ spec\\.artifact(\\.signature)?: missing signature`));
    expect(lines[1]).toMatch(/^ringctl apply: 422 invalid_rollout: .*unsigned\.yaml refused \(1 problem\) \(request [\w-]+\)$/);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    expect(refused.stderr).not.toContain(tokens.deployer);
  });

  test('sign: its output goes into a rollout the controller accepts because it trusts the keygen public key', async () => {
    const artifact = file('content.bin', crypto.randomBytes(4096).toString('base64'));
    const signed = await ringctl(['sign', '--key', path.join(keysDir, 'release-team.key'), '--file', artifact, '--json']);
    expect(signed.code).toBe(0);
    const { sha256, signature } = JSON.parse(signed.stdout) as { sha256: string; signature: string };
    expect(sha256).toBe(crypto.createHash('sha256').update(fs.readFileSync(artifact)).digest('hex'));
    const pub = parsePublicKey(fs.readFileSync(path.join(keysDir, 'release-team.pub'), 'utf8'));
    if (!pub.ok) throw new Error(pub.message);
    expect(verifyArtifactSignature({ sha256, signature }, [{ name: 'release-team', key: pub.key }])).toEqual({ ok: true, keyName: 'release-team' });
    const yamlOut = await ringctl(['sign', '--key', path.join(keysDir, 'release-team.key'), '--file', artifact]);
    expect(yamlOut.stdout).toBe(`artifact:\n  sha256: ${sha256}\n  signature: ${signature}\n`);

    const withSig = (name: string, sig: string): string => file(`${name}.yaml`, variant(name, (y) => y.replace(/sha256: [0-9a-f]{64}/, `sha256: ${sha256}`).replace(/signature: \S+/, `signature: ${sig}`)));
    const applied = await ringctl(['apply', '-f', withSig('team-signed', signature)], as('deployer'));
    expect(applied).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^rollout\/team-signed created /) });
    // The same digest signed by a key the controller does not trust is refused.
    const strangerDir = path.join(tmp, 'stranger');
    expect((await ringctl(['keygen', '--out', strangerDir])).code).toBe(0);
    const strangerSig = (JSON.parse((await ringctl(['sign', '--key', path.join(strangerDir, 'publisher.key'), '--file', artifact, '--json'])).stdout) as { signature: string }).signature;
    const untrusted = await ringctl(['apply', '-f', withSig('stranger-signed', strangerSig)], as('deployer'));
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr.split('\n')[0]).toMatch(/stranger-signed\.yaml:\d+:\d+ spec\.artifact\.signature: signature does not verify against any trusted publisher key/);
    expect(untrusted.stderr).toMatch(/\nringctl apply: 422 invalid_rollout: .*stranger-signed\.yaml refused \(1 problem\) \(request [\w-]+\)\n$/);
  });

  test('verbs need the right role: 403/401 are one line, exit 1, and change nothing; pause and resume work', async () => {
    const revision = async (): Promise<number> => (JSON.parse((await ringctl(['status', NAME, '--json'], as('viewer'))).stdout) as { rollout: RolloutView }).rollout.revision;
    const before = await revision();
    const denied = await ringctl(['approve', NAME, '--reason', 'x'], as('deployer'));
    expect(denied.code).toBe(1);
    expectOneLineError(denied, /^ringctl approve: 403 forbidden: role deployer may not approve rollouts \(needs approver or admin\) \(request [\w-]+\)$/, tokens.deployer);
    const viewerKill = await ringctl(['kill', '--reason', 'x'], as('viewer'));
    expect(viewerKill.code).toBe(1);
    expectOneLineError(viewerKill, /^ringctl kill: 403 forbidden: /, tokens.viewer);
    const noToken = await ringctl(['pause', NAME], { RINGMASTER_URL: url });
    expect(noToken.code).toBe(1);
    expectOneLineError(noToken, /^ringctl pause: 401 \w+: /);
    const badToken = await ringctl(['pause', NAME, '--server', url, '--token', 'not-a-real-token-123']);
    expect(badToken.code).toBe(1);
    expectOneLineError(badToken, /^ringctl pause: 401 \w+: /, 'not-a-real-token-123');
    expect(await revision()).toBe(before);

    const paused = await ringctl(['pause', NAME, '--reason', 'looking'], as('deployer'));
    expect(paused).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(new RegExp(`^rollout/${NAME} pause: \\S+ -> paused; phase now paused \\(was \\S+\\)\n$`)) });
    const pausedAgain = await ringctl(['pause', NAME], as('sre'));
    expect(pausedAgain.code).toBe(1);
    expectOneLineError(pausedAgain, /^ringctl pause: 409 conflict: pause refused: /);
    const resumed = await ringctl(['resume', NAME, '--reason', 'fine', '--json'], as('sre'));
    expect(resumed.code).toBe(0);
    const res = JSON.parse(resumed.stdout) as { outcome: string; rollout: RolloutView };
    expect(res.outcome).toBe('applied');
    expect(res.rollout.phase.kind).not.toBe('paused');
  });

  test('kill reaches the manifest, unkill releases it, the audit log lists both and its chain verifies client-side', async () => {
    const kill = await ringctl(['kill', '--reason', 'test', '--mode', 'freeze'], as('sre'));
    expect(kill).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^kill switch ENGAGED \(mode freeze\) by test-sre at \S+Z: test\n$/) });
    const m = (await (await fetch(`${url}/v1/channels/sensor-content/manifest`)).json()) as { killSwitch: { engaged: boolean; mode: string } };
    expect(m.killSwitch).toEqual({ engaged: true, mode: 'freeze' });
    const badMode = await ringctl(['kill', '--reason', 'x', '--mode', 'panic'], as('sre'));
    expect(badMode.code).toBe(2);
    expectOneLineError(badMode, /^ringctl kill: --mode must be freeze or rollback \(got "panic"\)$/);
    const unkill = await ringctl(['unkill', '--reason', 'over', '--json'], as('sre'));
    expect(JSON.parse(unkill.stdout)).toMatchObject({ engaged: false, actor: 'test-sre', reason: 'over' });
    const m2 = (await (await fetch(`${url}/v1/channels/sensor-content/manifest`)).json()) as { killSwitch: { engaged: boolean } };
    expect(m2.killSwitch.engaged).toBe(false);

    const verify = await ringctl(['audit', '--verify'], as('viewer'));
    expect(verify).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^audit chain ok: \d+ entries, head [0-9a-f]{64}(; .*)?\n$/) });
    const mine = JSON.parse((await ringctl(['audit', '--verify', '--json'], as('viewer'))).stdout) as { ok: boolean; entries: number; head: string };
    const theirs = (await (await fetch(`${url}/v1/audit/verify`, { headers: { Authorization: `Bearer ${tokens.viewer}` } })).json()) as { ok: boolean; entries: number; head: string };
    expect(mine).toMatchObject({ ok: true, entries: theirs.entries, head: theirs.head });
    expect(mine.entries).toBeGreaterThanOrEqual(8);
    expect(verify.stdout).toContain(`${mine.entries} entries, head ${mine.head}`);

    const log = await ringctl(['audit', '--limit', '3'], as('viewer'));
    const lines = log.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.map((l) => Number(/^#(\d+) /.exec(l)?.[1]))).toEqual([mine.entries - 2, mine.entries - 1, mine.entries]);
    expect(log.stdout).toMatch(/^#\d+ \S+ test-sre killswitch\.disengage killswitch: over$/m);
    const json = JSON.parse((await ringctl(['audit', '--json', '--limit', '1000'], as('viewer'))).stdout) as { entries: AuditEntryView[] };
    expect(json.entries).toHaveLength(mine.entries);
    expect(json.entries.filter((e) => e.action.startsWith('killswitch.')).map((e) => [e.action, e.actor, e.reason])).toEqual([
      ['killswitch.engage', 'test-sre', 'test'],
      ['killswitch.disengage', 'test-sre', 'over'],
    ]);
  });

  test('status --watch (not a terminal) prints one line per change and exits 0 when the rollout succeeds', async () => {
    const quick = file(
      'quick.yaml',
      variant('quick', (y) =>
        y
          .replace('channel: sensor-content ', 'channel: quick-content ')
          .replace('policy: default ', 'policy: anytime ')
          .replace(/bake: \d+[hm]/g, 'bake: 1s')
          // Whole rings at once: without metrics a ramp grows once per analysis interval (1m), and this test is
          // about the watch's output (the ramp: runtime-ramp.test.ts, crash-kill9.test.ts).
          .replace(/\n( +)bake: 1s/g, '\n$1bake: 1s\n$1ramp: none')
          .replace(/maxBake: \d+[hm]/g, 'maxBake: 1m')
          .replace('approval: required', 'approval: none')
          .replace(/\n {2}analysis:[\s\S]*?(?=\n {2}\w|\n?$)/, ''),
      ),
    );
    const applied = await ringctl(['apply', '-f', quick], as('deployer'));
    expect(applied).toMatchObject({ code: 0, stderr: '' });
    const started = Date.now();
    const watch = await ringctl(['status', 'quick', '--watch', '--interval', '250ms'], as('viewer'));
    // On failure, the tail of what it printed says where the rollout got stuck.
    expect([watch.code, watch.stderr, watch.code === 0 ? '' : watch.stdout.slice(-2000)]).toEqual([0, '', '']);
    expect(Date.now() - started).toBeLessThan(25_000);
    // Not a terminal: one line per change, each with its time, no escape codes, no line printed twice.
    const lines = watch.stdout.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(watch.stdout).not.toContain('\x1b');
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d) /);
    expect(lines.at(-1)).toMatch(/ rollout succeeded; watch ended \(exit 0\)$/);
    expect(new Set(lines).size).toBe(lines.length);
    expect(watch.stdout).toMatch(/ #\d+ progressing -> succeeded \(controller\): /);
  }, 40_000);

  test('status --watch stops cleanly on Ctrl-C (SIGINT): exit 0, no error', async () => {
    // A rollout that waits (the century-long freeze): the watch would go on. (NAME was halted by the kill switch
    // earlier, and a halt ends the watch with exit 5.)
    const waiting = 'ctrl-c-waits';
    const applied = await ringctl(['apply', '-f', file(`${waiting}.yaml`, variant(waiting, (y) => y.replace('channel: sensor-content ', 'channel: ctrl-c-content ')))], as('deployer'));
    expect([applied.code, applied.stderr]).toEqual([0, '']);
    const child = spawn(process.execPath, [RINGCTL, 'status', waiting, '--watch', '--interval', '300ms'], { cwd: ROOT, env: { PATH: process.env.PATH, ...as('viewer') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 15_000;
    while (!/ watching /.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(out).toMatch(new RegExp(`^\\S+ watching ${waiting}: ctrl-c-content 7\\.16\\.290 -> 7\\.16\\.291, policy default, phase `));
    const sent = Date.now();
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(Date.now() - sent).toBeLessThan(2_000);
    expect(err).toBe('');
  });

  test('audit --verify finds a modified, a dropped and a re-linked entry in what a lying server returns', async () => {
    const res = await fetch(`${url}/v1/audit?limit=1000`, { headers: { Authorization: `Bearer ${tokens.viewer}` } });
    const real = ((await res.json()) as { entries: AuditEntryView[] }).entries;
    expect(real.length).toBeGreaterThanOrEqual(6);
    const cases: Array<[string, (e: AuditEntryView[]) => AuditEntryView[], RegExp]> = [
      ['modified', (e) => e.map((x, i) => (i === 2 ? { ...x, reason: 'nothing to see' } : x)), /^ringctl audit: chain ENTRY EDITED: entry 3 does not match its hash \[#3 \S+ \S+ \S+ \S+: nothing to see\]; the 2 entries before it verify$/],
      ['dropped', (e) => e.filter((_, i) => i !== 1), /^ringctl audit: chain ENTRY DELETED: entry 2 is missing \(entry 1 is followed by entry 3\) \[#3 .*\]; the 1 entry before it verify$/],
      ['relinked', (e) => e.map((x, i) => (i === 4 ? { ...x, prevHash: GENESIS_HASH } : x)), /^ringctl audit: chain ENTRY EDITED: entry 5 does not link to entry 4 and does not match its hash \[#5 .*\]; the 4 entries before it verify$/],
      // Re-hashing a modified entry does not help: the next entry still points at the old hash.
      ['rehashed', (e) => e.map((x, i) => (i === 0 ? { ...x, actor: 'mallory', hash: auditHash({ ...x, actor: 'mallory' }) } : x)), /^ringctl audit: chain ENTRY EDITED: entry 1 was changed and re-hashed: entry 2 still links to its old hash \[#1 \S+ mallory .*\]; no entry before it verifies$/],
    ];
    for (const [name, tamper, why] of cases) {
      const entries = tamper(real);
      const fake = http.createServer((req, res2) => {
        res2.setHeader('Content-Type', 'application/json');
        if (req.url?.startsWith('/v1/audit/checkpoints')) res2.statusCode = 404; // like a server without checkpoints
        res2.end(JSON.stringify(res2.statusCode === 404 ? { error: { code: 'not_found', message: 'no checkpoints', requestId: 'x' } } : { entries, next: null }));
      });
      const fakeUrl = await listen(fake);
      const r = await ringctl(['audit', '--verify'], { RINGMASTER_URL: fakeUrl });
      const j = await ringctl(['audit', '--verify', '--json'], { RINGMASTER_URL: fakeUrl });
      await close(fake);
      expect([name, r.code, r.stdout]).toEqual([name, 1, '']);
      expectOneLineError(r, why);
      expect([name, j.code, (JSON.parse(j.stdout) as { ok: boolean }).ok]).toEqual([name, 1, false]);
    }
  });

  test('audit --verify pages through a long log and verifies across page boundaries', async () => {
    // A valid chain of 2,345 entries, served 1,000 at a time the way the API pages (after=ID, next).
    const entries: AuditEntryView[] = [];
    let prev = GENESIS_HASH;
    for (let id = 1; id <= 2345; id++) {
      const e = { id, at: new Date(Date.UTC(2026, 10, 30, 0, 0, id)).toISOString(), actor: 'controller', action: 'manifest.publish', target: 'channel/x', reason: `revision ${id}`, payload: { revision: id }, prevHash: prev };
      prev = auditHash(e);
      entries.push({ ...e, hash: prev });
    }
    const requests: string[] = [];
    let tamperAt = 0;
    const fake = http.createServer((req, res) => {
      if (req.url?.startsWith('/v1/audit/checkpoints')) {
        res.statusCode = 404; // like a server without checkpoints
        res.end(JSON.stringify({ error: { code: 'not_found', message: 'no checkpoints', requestId: 'x' } }));
        return;
      }
      requests.push(req.url ?? '');
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      const after = Number(q.get('after') ?? 0);
      const limit = Math.min(Number(q.get('limit') ?? 100), 1000);
      const page = entries.filter((e) => e.id > after).slice(0, limit).map((e) => (e.id === tamperAt ? { ...e, target: 'channel/y' } : e));
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ entries: page, next: page.length === limit ? (page[page.length - 1] as AuditEntryView).id : null }));
    });
    const fakeUrl = await listen(fake);
    const ok = await ringctl(['audit', '--verify'], { RINGMASTER_URL: fakeUrl });
    expect(ok).toEqual({ code: 0, stdout: `audit chain ok: 2345 entries, head ${prev}; no signed checkpoints (the server publishes none): truncation and re-chaining cannot be detected without --expect-head or --checkpoints\n`, stderr: '' });
    expect(requests.map((u) => new URL(u, 'http://x').searchParams.get('after'))).toEqual(['0', '1000', '2000']);
    tamperAt = 2001; // the first entry of the third page
    const bad = await ringctl(['audit', '--verify'], { RINGMASTER_URL: fakeUrl });
    await close(fake);
    expect(bad.code).toBe(1);
    expectOneLineError(bad, /^ringctl audit: chain ENTRY EDITED: entry 2001 does not match its hash .*; the 2000 entries before it verify$/);
  });

  test('an unreachable server, a bad URL and bad usage are one-line errors with the right exit codes', async () => {
    const closed = http.createServer();
    const closedUrl = await listen(closed);
    await close(closed);
    for (const args of [['get'], ['apply', '-f', CONTENT], ['audit', '--verify']]) {
      const r = await ringctl(args, { RINGMASTER_URL: closedUrl, RINGMASTER_TOKEN: 'secret-token-value' });
      expect([args, r.code]).toEqual([args, 1]);
      expectOneLineError(r, new RegExp(`^ringctl: cannot reach ${closedUrl.replace(/\./g, '\\.')}: connection refused \\(set RINGMASTER_URL or --server\\)$`), 'secret-token-value');
    }
    // Flags win over the environment (which points at the live server here).
    const flags = await ringctl(['get', '--server', closedUrl, '--token', 'flag-token-value'], as('viewer'));
    expect(flags.code).toBe(1);
    expectOneLineError(flags, /^ringctl: cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/, 'flag-token-value');

    const cases: Array<[string[], RegExp]> = [
      [['get', '--server', 'ftp://x'], /^ringctl get: invalid server URL "ftp:\/\/x": must be http:\/\/ or https:\/\/$/],
      [['get', '--server', 'http://user:pw@127.0.0.1:1'], /^ringctl get: put credentials in RINGMASTER_TOKEN, not in the server URL$/],
      [['get', '--bogus'], /^ringctl get: unknown option '--bogus' \(see ringctl get --help\)$/],
      [['apply'], /^ringctl apply: required option '-f, --file <file>' not specified \(see ringctl apply --help\)$/],
      [['apply', '-f', path.join(tmp, 'nope.yaml')], /^ringctl apply: .*nope\.yaml: cannot read file \(ENOENT\)$/],
      [['status'], /^ringctl status: missing required argument 'name' \(see ringctl status --help\)$/],
      [['status', NAME, '--watch', '--interval', 'soon'], /^ringctl status: invalid --interval "soon" \(a duration like 2s, at least 200ms\)$/],
      [['unkill'], /^ringctl unkill: required option '--reason <text>' not specified/],
      [['audit', '--limit', '0'], /^ringctl audit: --limit must be a positive integer \(got "0"\)$/],
      [['keygen', '--out', tmp, '--name', 'Bad Name'], /^ringctl keygen: --name must be lowercase letters, digits and dashes/],
      [['frobnicate'], /^ringctl: unknown command 'frobnicate' \(see ringctl --help\)$/],
    ];
    for (const [args, why] of cases) {
      const r = await ringctl(args, { RINGMASTER_URL: url });
      expect([args, r.code]).toEqual([args, 2]);
      expectOneLineError(r, why);
    }
  });
});
