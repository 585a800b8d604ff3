/**
 * The ringctl verbs as a user runs them: the built `ringctl` binary as a child process against a real
 * `ringmaster serve` child process on loopback, with the example tokens and keys of the repository.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderStatus } from '../../controller/cli/render';
import { parsePublicKey, verifyArtifactSignature } from '../../controller/crypto/keys';
import type { RolloutView } from '../../controller/runtime/service';
import { ensureBuilt } from '../helpers/build';

const ROOT = path.join(__dirname, '..', '..');
const RINGCTL = path.join(ROOT, 'bin', 'ringctl.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function ringctl(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RINGCTL, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** One-line error on stderr, no stack trace, no token. */
function expectOneLineError(r: Run, pattern: RegExp, token?: string): void {
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  if (token !== undefined) expect(r.stderr + r.stdout).not.toContain(token);
}

describe('ringctl verbs against ringmaster serve', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-ringctl-'));
  const keysDir = path.join(tmp, 'keys');
  let server: ChildProcess;
  let url = '';
  const as = (role: string): Record<string, string> => ({ RINGMASTER_URL: url, RINGMASTER_TOKEN: `ringmaster-example-${role}` });

  beforeAll(async () => {
    ensureBuilt();
    // keygen first: the controller must trust the new publisher key.
    const kg = await ringctl(['keygen', '--out', keysDir, '--name', 'release-team']);
    expect(kg.code).toBe(0);
    const entry = /publicKey: (\S+)/.exec(kg.stdout)?.[1] as string;
    fs.writeFileSync(path.join(tmp, 'trusted.yaml'), `${fs.readFileSync(path.join(ROOT, 'examples', 'trusted-keys.yaml'), 'utf8')}  - name: release-team\n    publicKey: ${entry}\n`);
    server = spawn(
      process.execPath,
      [path.join(ROOT, 'bin', 'ringmaster.js'), 'serve', '--listen', '127.0.0.1:0', '--data', path.join(tmp, 'data'), '--tokens', 'examples/tokens.yaml', '--trusted-keys', path.join(tmp, 'trusted.yaml'), '--policies', 'policies', '--tick', '100ms'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 15_000);
      server.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      });
      server.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
    });
  }, 60_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('keygen writes a 0600 private key in a 0700 directory and refuses to overwrite it', async () => {
    expect(fs.statSync(keysDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(keysDir, 'release-team.key')).mode & 0o777).toBe(0o600);
    const again = await ringctl(['keygen', '--out', keysDir, '--name', 'release-team']);
    expect(again.code).toBe(1);
    expectOneLineError(again, /already exists \(use --force/);
    // A private key others can read is refused by sign.
    const loose = path.join(tmp, 'loose.key');
    fs.copyFileSync(path.join(keysDir, 'release-team.key'), loose);
    fs.chmodSync(loose, 0o644);
    const r = await ringctl(['sign', '--key', loose, '--file', 'examples/artifacts/sensor-content-7.16.291.bin']);
    expect(r.code).toBe(1);
    expectOneLineError(r, /readable by others/);
  });

  test('apply creates, then is idempotent; get and status show it; unsigned rollouts are refused one line at a time', async () => {
    const first = await ringctl(['apply', '-f', 'examples/rollouts/content-update.yaml'], as('deployer'));
    expect(first).toMatchObject({ code: 0, stdout: expect.stringMatching(/^rollout\/sensor-content-7\.16\.291 created/) });
    const second = await ringctl(['apply', '-f', 'examples/rollouts/content-update.yaml'], as('deployer'));
    expect(second.stdout).toMatch(/unchanged/);
    const get = await ringctl(['get', '--json'], as('viewer'));
    const list = JSON.parse(get.stdout) as { rollouts: RolloutView[] };
    expect(list.rollouts.map((v) => v.name)).toEqual(['sensor-content-7.16.291']);
    const table = await ringctl(['get'], as('viewer'));
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+CHANNEL\s+VERSION\s+PHASE/);
    const status = await ringctl(['status', 'sensor-content-7.16.291', '--json'], as('viewer'));
    expect((JSON.parse(status.stdout) as { rollout: RolloutView }).rollout.channel).toBe('sensor-content');
    const text = await ringctl(['status', 'sensor-content-7.16.291'], as('viewer'));
    expect(text.stdout).toMatch(/canary\s+selector \{"ring":"canary"\}/);

    const unsigned = path.join(tmp, 'unsigned.yaml');
    fs.writeFileSync(unsigned, fs.readFileSync(path.join(ROOT, 'examples/rollouts/content-update.yaml'), 'utf8').replace('name: sensor-content-7.16.291', 'name: unsigned').replace(/\n\s*signature: .*/, ''));
    const refused = await ringctl(['apply', '-f', unsigned], as('deployer'));
    expect(refused.code).toBe(1);
    expectOneLineError(refused, /^ringctl apply: 422 invalid_rollout: .*spec\.artifact\.signature: missing signature.*\(request [\w-]+\)$/, 'ringmaster-example-deployer');
  });

  test('sign output goes into a rollout the controller accepts, and it verifies with the keygen public key', async () => {
    const artifact = path.join(tmp, 'content.bin');
    fs.writeFileSync(artifact, crypto.randomBytes(4096));
    const signed = await ringctl(['sign', '--key', path.join(keysDir, 'release-team.key'), '--file', artifact, '--json']);
    expect(signed.code).toBe(0);
    const { sha256, signature } = JSON.parse(signed.stdout) as { sha256: string; signature: string };
    expect(sha256).toBe(crypto.createHash('sha256').update(fs.readFileSync(artifact)).digest('hex'));
    const pub = parsePublicKey(fs.readFileSync(path.join(keysDir, 'release-team.pub'), 'utf8'));
    if (!pub.ok) throw new Error(pub.message);
    expect(verifyArtifactSignature({ sha256, signature }, [{ name: 'release-team', key: pub.key }])).toEqual({ ok: true, keyName: 'release-team' });
    const doc = path.join(tmp, 'agent.yaml');
    fs.writeFileSync(
      doc,
      fs
        .readFileSync(path.join(ROOT, 'examples/rollouts/content-update.yaml'), 'utf8')
        .replace('name: sensor-content-7.16.291', 'name: team-signed')
        .replace(/sha256: [0-9a-f]{64}/, `sha256: ${sha256}`)
        .replace(/signature: \S+/, `signature: ${signature}`),
    );
    const applied = await ringctl(['apply', '-f', doc], as('deployer'));
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toMatch(/^rollout\/team-signed created/);
  });

  test('verbs need the right role: 403 is one line, exit 1, and changes nothing', async () => {
    const before = JSON.parse((await ringctl(['status', 'sensor-content-7.16.291', '--json'], as('viewer'))).stdout) as { rollout: RolloutView };
    const denied = await ringctl(['approve', 'sensor-content-7.16.291', '--reason', 'x'], as('deployer'));
    expect(denied.code).toBe(1);
    expectOneLineError(denied, /^ringctl approve: 403 forbidden: /, 'ringmaster-example-deployer');
    const noToken = await ringctl(['pause', 'sensor-content-7.16.291'], { RINGMASTER_URL: url });
    expect(noToken.code).toBe(1);
    expectOneLineError(noToken, /^ringctl pause: 401 /);
    const after = JSON.parse((await ringctl(['status', 'sensor-content-7.16.291', '--json'], as('viewer'))).stdout) as { rollout: RolloutView };
    expect(after.rollout.revision).toBe(before.rollout.revision);

    const paused = await ringctl(['pause', 'sensor-content-7.16.291', '--reason', 'looking'], as('deployer'));
    expect(paused).toMatchObject({ code: 0, stdout: expect.stringMatching(/pause: .*\(phase paused\)/) });
    const resumed = await ringctl(['resume', 'sensor-content-7.16.291', '--reason', 'fine'], as('deployer'));
    expect(resumed.stdout).toMatch(/resume: /);
    expect(resumed.stdout).not.toMatch(/phase paused/);
  });

  test('kill reaches the manifest, unkill releases it, and the audit chain verifies client-side', async () => {
    const kill = await ringctl(['kill', '--reason', 'test', '--mode', 'freeze'], as('sre'));
    expect(kill).toMatchObject({ code: 0, stdout: expect.stringMatching(/kill switch ENGAGED \(mode freeze\) by example-sre/) });
    const m = (await (await fetch(`${url}/v1/channels/sensor-content/manifest`)).json()) as { killSwitch: { engaged: boolean } };
    expect(m.killSwitch.engaged).toBe(true);
    const badMode = await ringctl(['kill', '--reason', 'x', '--mode', 'panic'], as('sre'));
    expect(badMode.code).toBe(2);
    const unkill = await ringctl(['unkill', '--reason', 'over'], as('sre'));
    expect(unkill.stdout).toMatch(/released by example-sre/);

    const verify = await ringctl(['audit', '--verify', '--json'], as('viewer'));
    const mine = JSON.parse(verify.stdout) as { ok: boolean; entries: number; head: string };
    const server = (await (await fetch(`${url}/v1/audit/verify`, { headers: { Authorization: 'Bearer ringmaster-example-viewer' } })).json()) as { ok: boolean; entries: number; head: string };
    expect(mine).toEqual({ ok: true, entries: server.entries, head: server.head });
    expect(mine.entries).toBeGreaterThanOrEqual(8);
    const log = await ringctl(['audit', '--limit', '3'], as('viewer'));
    expect(log.stdout.trim().split('\n')).toHaveLength(3);
    expect(log.stdout).toMatch(/example-sre killswitch\.disengage killswitch: over/);
  });

  test('audit --verify finds a modified, a dropped and a re-linked entry in what a server returns', async () => {
    const res = await fetch(`${url}/v1/audit?limit=1000`, { headers: { Authorization: 'Bearer ringmaster-example-viewer' } });
    const real = ((await res.json()) as { entries: Array<Record<string, unknown>> }).entries;
    const cases: Array<[string, (e: Array<Record<string, unknown>>) => Array<Record<string, unknown>>, RegExp]> = [
      ['modified', (e) => e.map((x, i) => (i === 2 ? { ...x, reason: 'nothing to see' } : x)), /chain BROKEN: entry 3: .*modified/],
      ['dropped', (e) => e.filter((_, i) => i !== 1), /chain BROKEN: entry 3: .*missing/],
      ['relinked', (e) => e.map((x, i) => (i === 4 ? { ...x, prevHash: '0'.repeat(64) } : x)), /chain BROKEN: entry 5: prevHash/],
    ];
    for (const [name, tamper, why] of cases) {
      const entries = tamper(real);
      const fake = http.createServer((_req, res2) => {
        res2.setHeader('Content-Type', 'application/json');
        res2.end(JSON.stringify({ entries, next: null }));
      });
      await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
      const r = await ringctl(['audit', '--verify'], { RINGMASTER_URL: `http://127.0.0.1:${(fake.address() as AddressInfo).port}` });
      await new Promise((r2) => fake.close(r2));
      expect([name, r.code]).toEqual([name, 1]);
      expectOneLineError(r, why);
    }
  });

  test('an unreachable server and a bad URL are one-line errors', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const r = await ringctl(['get'], { RINGMASTER_URL: `http://127.0.0.1:${port}`, RINGMASTER_TOKEN: 'secret-token-value' });
    expect(r.code).toBe(1);
    expectOneLineError(r, /^ringctl get: cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/, 'secret-token-value');
    const bad = await ringctl(['get', '--server', 'ftp://x']);
    expect(bad.code).toBe(2);
    expectOneLineError(bad, /must be http:\/\/ or https:\/\//);
  });
});

describe('renderStatus', () => {
  test('marks exposed rings and shows the bake time left and the verdict numbers', () => {
    const spec = JSON.parse(JSON.stringify({ spec: { rings: [{ name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '30m' }, { name: 'one', percent: 1, bake: '2h' }, { name: 'all', percent: 100, bake: '1h' }] } }));
    const view = {
      name: 'r',
      channel: 'c',
      version: '2.0.0',
      previousVersion: '1.0.0',
      policy: 'default',
      phase: { kind: 'progressing', ring: 1, bakeStartedAt: '2026-11-30T14:00:00.000Z' },
      exposedRing: 1,
      ring: { index: 1, name: 'one' },
      waitingReason: null,
      bake: { startedAt: '2026-11-30T14:00:00.000Z', minEndsAt: '2026-11-30T16:00:00.000Z', maxEndsAt: null },
      lastVerdict: {
        ring: 1,
        at: '2026-11-30T14:30:00.000Z',
        result: 'inconclusive',
        reason: 'not enough exposure yet',
        metrics: [{ metric: 'crashes', type: 'crash-rate', result: 'inconclusive', reason: 'needs 500 host-hours', candidate: { events: 3, exposureHours: 120.5, hosts: 9000, rate: 0.02 }, baseline: { events: 300, exposureHours: 12000, hosts: 990000, rate: 0.025 }, ratio: 0.8, guards: [], sprt: { llr: -1.25, lower: -2.94, upper: 4.6 }, value: null, notes: [] }],
      },
      history: [{ n: 1, at: '2026-11-30T14:00:00.000Z', from: 'progressing', to: 'progressing', exposedRing: 1, reason: 'ring one started', actor: 'controller' }],
      revision: 4,
      createdAt: '',
      updatedAt: '',
      spec,
    } as unknown as RolloutView;
    const text = renderStatus(view, new Date('2026-11-30T14:30:00.000Z'));
    expect(text).toMatch(/\[x\] 0 canary/);
    expect(text).toMatch(/\[>\] 1 one\s+1%\s+baked 30m, 1h30m of minimum bake left/);
    expect(text).toMatch(/\[ \] 2 all/);
    expect(text).toMatch(/crashes inconclusive, candidate 3 events \/ 120\.5 host-h \(9000 hosts\), baseline 300 \/ 12000 host-h, ratio 0\.8, llr -1\.25 in \[-2\.94, 4\.6\]/);
  });
});
