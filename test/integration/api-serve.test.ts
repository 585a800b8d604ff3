/**
 * `ringmaster serve` end to end, in process: the real files of the repository (policies/, examples/),
 * a fresh data directory, real HTTP. A signed rollout is accepted and badly signed ones are refused (422),
 * the kill switch reaches the signed manifest, SIGTERM stops cleanly, and a restart keeps key and state.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateKeyPair, parsePublicKey, publicKeyRaw, signArtifactDigest, verify } from '../../controller/crypto/keys';
import type { RuntimeObserver } from '../../controller/runtime/controller';
import { Telemetry } from '../../controller/telemetry/metrics';
import { expectCleanError } from '../helpers/api-harness';
import { startServe, stopServe } from '../helpers/serve-in-process';

const ROOT = path.join(__dirname, '..', '..');
const DEPLOYER = 'Bearer ringmaster-example-deployer';
const SRE = 'Bearer ringmaster-example-sre';
const VIEWER = 'Bearer ringmaster-example-viewer';

// The runtime's observer interface is satisfied by Telemetry (checked by the compiler).
const _observer: RuntimeObserver = new Telemetry({ defaultMetrics: false });
void _observer;

const start = startServe;
const stop = stopServe;

function withArtifact(yaml: string, sha256: string, signature: string | undefined, name: string): string {
  let out = yaml.replace(/name: sensor-content-7\.16\.291/, `name: ${name}`).replace(/sha256: [0-9a-f]{64}/, `sha256: ${sha256}`);
  out = signature === undefined ? out.replace(/\n\s*signature: .*/, '') : out.replace(/signature: \S+/, `signature: ${signature}`);
  return out;
}

describe('ringmaster serve', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-serve-'));
  const dataDir = path.join(tmp, 'data');
  const publisher = generateKeyPair();
  const stranger = generateKeyPair();
  const trusted = path.join(tmp, 'trusted-keys.yaml');
  fs.writeFileSync(
    trusted,
    `${fs.readFileSync(path.join(ROOT, 'examples', 'trusted-keys.yaml'), 'utf8')}  - name: test-publisher\n    publicKey: ${publicKeyRaw(publisher.publicKey).toString('base64')}\n`,
  );
  const args = ['--listen', '127.0.0.1:0', '--data', dataDir, '--policies', path.join(ROOT, 'policies'), '--tokens', path.join(ROOT, 'examples', 'tokens.yaml'), '--trusted-keys', trusted, '--tick', '50ms'];
  const example = fs.readFileSync(path.join(ROOT, 'examples', 'rollouts', 'content-update.yaml'), 'utf8');
  const post = (url: string, yaml: string) => fetch(`${url}/v1/rollouts`, { method: 'POST', headers: { Authorization: DEPLOYER, 'Content-Type': 'application/yaml' }, body: yaml });
  let firstRevision = 0;
  let firstKey = '';

  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('serves the API, accepts signed rollouts, refuses bad signatures, and the kill switch reaches the signed manifest', async () => {
    const r = await start(args);
    try {
      firstKey = r.publicKey;
      expect(r.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(fs.statSync(path.join(dataDir, 'signing.key')).mode & 0o777).toBe(0o600);
      const served = (await (await fetch(`${r.url}/v1/signing-key`)).json()) as { publicKey: string; keyId: string };
      expect(served.publicKey).toBe(r.publicKey);
      expect(served.keyId).toBe(r.keyId);
      expect((await fetch(`${r.url}/readyz`)).status).toBe(200);

      // The example rollout, signed with the example publisher key, is accepted as it is.
      const created = await post(r.url, example);
      expect(created.status).toBe(201);
      expect((await post(r.url, example)).status).toBe(200);

      // A fresh artifact signed by a trusted key is accepted; missing, malformed, wrong or untrusted signatures are not.
      const digest = crypto.createHash('sha256').update('artifact bytes').digest('hex');
      const good = await post(r.url, withArtifact(example, digest, signArtifactDigest(publisher.privateKey, digest), 'signed-ok'));
      expect(good.status).toBe(201);
      const otherDigest = crypto.createHash('sha256').update('other bytes').digest('hex');
      const refused: Array<[string, string | undefined, RegExp]> = [
        ['unsigned', undefined, /spec\.artifact\.signature: missing signature/],
        ['malformed-sig', 'AAAA', /spec\.artifact\.signature: malformed signature/],
        ['wrong-digest', signArtifactDigest(publisher.privateKey, otherDigest), /spec\.artifact\.signature: signature does not verify/],
        ['untrusted-key', signArtifactDigest(stranger.privateKey, digest), /spec\.artifact\.signature: signature does not verify/],
      ];
      for (const [name, sig, why] of refused) {
        const res = await post(r.url, withArtifact(example, digest, sig, name));
        const text = await res.text();
        expect([name, res.status]).toEqual([name, 422]);
        const body = JSON.parse(text) as { error: { code: string; details: string[] } };
        expect(body.error.code).toBe('invalid_rollout');
        expect([name, body.error.details.some((l) => why.test(l))]).toEqual([name, true]);
        expectCleanError(text, 422);
      }
      const list = (await (await fetch(`${r.url}/v1/rollouts`, { headers: { Authorization: VIEWER } })).json()) as { rollouts: Array<{ name: string }> };
      expect(list.rollouts.map((x) => x.name).sort()).toEqual(['sensor-content-7.16.291', 'signed-ok']);

      // The kill switch: audited under the token's name, visible in the next signed manifest.
      const ks = await fetch(`${r.url}/v1/killswitch`, { method: 'POST', headers: { Authorization: SRE, 'Content-Type': 'application/json' }, body: JSON.stringify({ engaged: true, reason: 'test' }) });
      expect(ks.status).toBe(200);
      expect(((await ks.json()) as { actor: string }).actor).toBe('example-sre');
      const m = await fetch(`${r.url}/v1/channels/sensor-content/manifest`);
      expect(m.status).toBe(200);
      const body = Buffer.from(await m.arrayBuffer());
      const manifest = JSON.parse(body.toString()) as { killSwitch: { engaged: boolean }; revision: number };
      expect(manifest.killSwitch.engaged).toBe(true);
      firstRevision = manifest.revision;
      const key = parsePublicKey(r.publicKey);
      expect(key.ok && verify(key.key, body, m.headers.get('x-ringmaster-signature') ?? '')).toBe(true);
      expect(m.headers.get('x-ringmaster-key-id')).toBe(r.keyId);

      const audit = (await (await fetch(`${r.url}/v1/audit?limit=1000`, { headers: { Authorization: VIEWER } })).json()) as { entries: Array<{ actor: string }> };
      const actors = new Set(audit.entries.map((e) => e.actor));
      expect(actors.has('example-deployer')).toBe(true);
      expect(actors.has('example-sre')).toBe(true);
      expect(JSON.stringify(audit)).not.toContain('ringmaster-example-');
      const verified = (await (await fetch(`${r.url}/v1/audit/verify`, { headers: { Authorization: VIEWER } })).json()) as { ok: boolean };
      expect(verified.ok).toBe(true);
      const metrics = await (await fetch(`${r.url}/metrics`)).text();
      expect(metrics).toMatch(/^ringmaster_killswitch_engaged 1$/m);
      expect(metrics).toContain('process_cpu_user_seconds_total');
    } finally {
      expect(await stop(r)).toBe(0);
    }
    // stderr is JSON log lines only (docs/cli.md#logs).
    const logLines = r.stderr().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logLines.find((l) => l.msg === 'shutting down')).toMatchObject({ level: 'info', signal: 'SIGTERM' });
    expect(logLines[logLines.length - 1]).toMatchObject({ level: 'info', msg: 'stopped' });
    expect(r.stderr()).not.toContain('    at ');
    await expect(fetch(`${r.url}/healthz`)).rejects.toThrow();
  }, 45_000);

  test('a restart keeps the signing key, the kill switch and the manifest revision', async () => {
    const r = await start(args);
    try {
      expect(r.publicKey).toBe(firstKey);
      const ks = (await (await fetch(`${r.url}/v1/killswitch`, { headers: { Authorization: VIEWER } })).json()) as { engaged: boolean; actor: string };
      expect(ks).toMatchObject({ engaged: true, actor: 'example-sre' });
      const m = (await (await fetch(`${r.url}/v1/channels/sensor-content/manifest`)).json()) as { revision: number; killSwitch: { engaged: boolean } };
      expect(m.revision).toBeGreaterThanOrEqual(firstRevision);
      expect(m.killSwitch.engaged).toBe(true);
    } finally {
      expect(await stop(r)).toBe(0);
    }
  }, 30_000);

  test('without --tokens it warns that every change is refused, and refuses them', async () => {
    const r = await start(['--listen', '127.0.0.1:0', '--data', path.join(tmp, 'data2'), '--policies', path.join(ROOT, 'policies'), '--tick', '50ms']);
    try {
      const warned = r.stderr().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(warned).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'no --tokens file: every change through the API (apply, verbs, kill switch) is refused with 401; reads and manifests are open' }));
      const res = await post(r.url, example);
      expect(res.status).toBe(401);
      expect((await fetch(`${r.url}/v1/rollouts`)).status).toBe(200);
    } finally {
      expect(await stop(r)).toBe(0);
    }
  }, 30_000);
});
