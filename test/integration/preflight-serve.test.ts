/**
 * Pre-flight against a real `ringmaster serve` (in process, real HTTP on loopback, a real SQLite store): the example
 * sensor-content rollouts, their artifacts served by the controller itself (--artifacts), an exec check and an
 * HMAC-signed webhook from the operator's allowlist (--preflight).
 *
 * - the 21-field content ends preflight-failed with the schema check's message, and no manifest ever carries it;
 * - the well-formed content passes every check and starts ring 0; previousArtifact seeds the channel's stable artifact;
 * - apply refuses an unknown exec name and an invalid inline schema (422, one line naming the field);
 * - human verbs do not wait for a check that hangs, and a restart mid-preflight runs the checks again (the artifact
 *   read from a file:// URL: the restarted server listens on another port).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { SIGNATURE_HEADER, verifyWebhookSignature } from '../../controller/content/validators';
import { startServe, stopServe } from '../helpers/serve-in-process';

const ROOT = path.join(__dirname, '..', '..');
const DEPLOYER = 'Bearer ringmaster-example-deployer';
const VIEWER = 'Bearer ringmaster-example-viewer';
const SECRET = 'preflight-webhook-secret-0123456789';

const start = startServe;
const stop = stopServe;

interface View {
  name: string;
  phase: { kind: string; check?: string; reason?: string };
  exposedRing: number;
  waitingReason: string | null;
}

describe('ringmaster serve with pre-flight checks', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-preflight-'));
  const dataDir = path.join(tmp, 'data');
  const policies = path.join(tmp, 'policies');
  const artifacts = path.join(tmp, 'artifacts');
  fs.mkdirSync(policies);
  fs.mkdirSync(artifacts);
  // Ring starts at any time (the example rollouts name policy "default"); signed artifacts required.
  fs.writeFileSync(
    path.join(policies, 'default.yaml'),
    'apiVersion: ringmaster.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: default\nspec:\n  timezone: UTC\n  allow:\n    - days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun]\n      hours: 00:00-24:00\n  requireSignedArtifacts: true\n',
  );
  for (const v of ['292', '293']) fs.copyFileSync(path.join(ROOT, `examples/artifacts/sensor-content-7.16.${v}.json`), path.join(artifacts, `sensor-content-7.16.${v}.json`));
  const secretFile = path.join(tmp, 'qa-gate.secret');
  fs.writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });

  // The operator's webhook: checks the HMAC; a request for a channel in `hold` is never answered.
  const hold = new Set<string>();
  const calls: Array<{ channel: string; version: string; signed: boolean }> = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const payload = JSON.parse(body.toString()) as { channel: string; version: string };
      const signed = verifyWebhookSignature(Buffer.from(SECRET), body, req.headers[SIGNATURE_HEADER.toLowerCase()] as string | undefined, Math.floor(Date.now() / 1000));
      calls.push({ channel: payload.channel, version: payload.version, signed });
      if (hold.has(payload.channel)) return;
      if (!signed) res.writeHead(401).end('bad signature');
      else res.writeHead(200).end('ok');
    });
  });
  const allowlist = path.join(tmp, 'preflight.yaml');
  let args: string[] = [];
  const example = (file: string): string => fs.readFileSync(path.join(ROOT, 'examples/rollouts', file), 'utf8');

  /** An example rollout, its artifact served by this controller (or a file:// URL), with the allowlisted exec and webhook checks added. */
  const withChecks = (yaml: string, url: string, over: { channel?: string; name?: string } = {}): string => {
    let out = yaml.replace(/url: https:\/\/updates\.example\.internal\/sensor-content\/(7\.16\.29[23]\.json)/, (_m, f: string) => `url: ${url === 'file' ? `file://${artifacts}` : `${url}/artifacts`}/sensor-content-${f}`);
    out = out.replace('\n  rings:\n', '\n    - name: no-field-20\n      exec: field-lint\n      timeout: 5s\n    - name: qa-gate\n      webhook: qa-gate\n      timeout: 30s\n  rings:\n');
    if (over.channel) out = out.replace('channel: sensor-content', `channel: ${over.channel}`);
    if (over.name) out = out.replace(/^ {2}name: .*$/m, `  name: ${over.name}`);
    return out;
  };
  const post = (url: string, yaml: string): Promise<Response> => fetch(`${url}/v1/rollouts`, { method: 'POST', headers: { Authorization: DEPLOYER, 'Content-Type': 'application/yaml' }, body: yaml });
  const view = async (url: string, name: string): Promise<View> => ((await (await fetch(`${url}/v1/rollouts/${name}`, { headers: { Authorization: VIEWER } })).json()) as { rollout: View }).rollout;
  const candidates = async (url: string, channel: string): Promise<string[]> => {
    const m = await fetch(`${url}/v1/channels/${channel}/manifest`);
    if (m.status !== 200) return [];
    return ((await m.json()) as { candidates: Array<{ version: string }> }).candidates.map((c) => c.version);
  };
  /** Polls until the rollout leaves `preflight`, checking every manifest on the way. */
  const settle = async (url: string, name: string, channel: string, seen: string[][]): Promise<View> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      seen.push(await candidates(url, channel));
      const v = await view(url, name);
      if (v.phase.kind !== 'preflight' && v.phase.kind !== 'pending') return v;
      if (Date.now() > deadline) throw new Error(`${name} still ${v.phase.kind}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  beforeAll(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/preflight`;
    fs.writeFileSync(
      allowlist,
      [
        'executables:',
        '  - name: field-lint',
        '    command: /bin/sh',
        '    args: ["-c", "if grep -q ipc.field20 \\"$1\\"; then echo template ipc-parse has 21 fields; exit 1; fi", "field-lint", "{artifact}"]',
        'webhooks:',
        '  - name: qa-gate',
        `    url: ${hookUrl}`,
        '    secretFile: qa-gate.secret',
        '',
      ].join('\n'),
    );
    args = ['--listen', '127.0.0.1:0', '--data', dataDir, '--policies', policies, '--tokens', path.join(ROOT, 'examples/tokens.yaml'), '--trusted-keys', path.join(ROOT, 'examples/trusted-keys.yaml'), '--artifacts', artifacts, '--preflight', allowlist, '--tick', '50ms'];
  });
  afterAll(async () => {
    receiver.closeAllConnections();
    await new Promise((r) => receiver.close(r));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the 21-field content stops in preflight-failed before any host sees it; the good content passes and starts ring 0', async () => {
    const r = await start(args);
    try {
      // Apply refuses what the allowlist does not have and a schema that does not compile: one line each, 422.
      const unknownText = withChecks(example('content-malformed.yaml'), r.url).replace('exec: field-lint', 'exec: rm-rf');
      const unknown = await post(r.url, unknownText);
      expect(unknown.status).toBe(422);
      const unknownBody = (await unknown.json()) as { error: { details: string[] } };
      // The controller's own finding is placed on the field's line and column in the body, like the loader's.
      const lines = unknownText.split('\n');
      const row = lines.findIndex((l) => l.includes('exec: rm-rf')) + 1;
      const col = (lines[row - 1] ?? '').indexOf('rm-rf') + 1;
      expect(unknownBody.error.details).toEqual([`request:${row}:${col} spec.preflight[1].exec: unknown executable "rm-rf": not in this controller's pre-flight allowlist (allowed: field-lint; ringmaster serve --preflight)`]);
      const badSchema = await post(r.url, withChecks(example('content-malformed.yaml'), r.url).replace('maxItems: 20', 'maxItems: twenty'));
      expect(badSchema.status).toBe(422);
      const badSchemaBody = (await badSchema.json()) as { error: { details: string[] } };
      expect(badSchemaBody.error.details).toHaveLength(1);
      expect(badSchemaBody.error.details[0]).toMatch(/^request:\d+:\d+ spec\.preflight\[0\]\.schema: not a valid JSON Schema: .*maxItems must be integer/);

      // The malformed content: correctly signed, and stopped by the schema check.
      const bad = await post(r.url, withChecks(example('content-malformed.yaml'), r.url));
      expect(bad.status).toBe(201);
      const seen: string[][] = [];
      const failed = await settle(r.url, 'sensor-content-7.16.293', 'sensor-content', seen);
      expect(failed.phase).toEqual({ kind: 'preflight-failed', check: 'sensor-content-v1', reason: 'templates[1].fields: must NOT have more than 20 items (got 21)' });
      expect(failed.exposedRing).toBe(-1);
      expect(failed.waitingReason).toContain('No host received it');
      expect(seen.flat()).not.toContain('7.16.293');
      expect(await candidates(r.url, 'sensor-content')).toEqual([]);
      expect(calls.filter((c) => c.version === '7.16.293')).toEqual([]); // the checks after the failed one never ran

      // previousArtifact seeded the channel's stable record: agents not on 7.16.291 can install it.
      const channel = ((await (await fetch(`${r.url}/v1/channels/sensor-content`, { headers: { Authorization: VIEWER } })).json()) as { channel: { stable: { version: string; artifact: { sha256: string } | null } } }).channel;
      expect(channel.stable).toMatchObject({ version: '7.16.291', artifact: { sha256: 'fd9b627a7a5765f6f8924c5efcaadf16524344cc7069c03e99ea7ec31dd58752' } });
      const manifest = (await (await fetch(`${r.url}/v1/channels/sensor-content/manifest`)).json()) as { stable: { version: string; artifact: { url: string } | null } };
      expect(manifest.stable).toMatchObject({ version: '7.16.291', artifact: { url: 'https://updates.example.internal/sensor-content/7.16.291.bin' } });

      // The well-formed content: the slot is free again (preflight-failed is final), every check passes, ring 0 starts.
      const goodRes = await post(r.url, withChecks(example('content-preflight.yaml'), r.url));
      expect(goodRes.status).toBe(201);
      const passed = await settle(r.url, 'sensor-content-7.16.292', 'sensor-content', []);
      expect(passed.phase).toMatchObject({ kind: 'progressing', ring: 0 });
      expect(passed.exposedRing).toBe(0);
      expect(await candidates(r.url, 'sensor-content')).toEqual(['7.16.292']);
      expect(calls.filter((c) => c.version === '7.16.292')).toEqual([{ channel: 'sensor-content', version: '7.16.292', signed: true }]);

      const audit = (await (await fetch(`${r.url}/v1/audit?limit=1000`, { headers: { Authorization: VIEWER } })).json()) as { entries: Array<{ action: string; actor: string; target: string; reason: string }> };
      expect(audit.entries).toContainEqual(expect.objectContaining({ action: 'channel.stable-artifact', actor: 'example-deployer', target: 'sensor-content' }));
      expect(audit.entries).toContainEqual(expect.objectContaining({ action: 'rollout.transition', target: 'sensor-content-7.16.293', reason: 'pre-flight check sensor-content-v1 failed: templates[1].fields: must NOT have more than 20 items (got 21)' }));
      expect(JSON.stringify(audit)).not.toContain(SECRET);

      const metrics = await (await fetch(`${r.url}/metrics`)).text();
      // 7.16.293: the artifact passed, the schema failed; 7.16.292: the artifact and three checks passed.
      expect(metrics).toMatch(/^ringmaster_preflight_checks_total\{result="failed"\} 1$/m);
      expect(metrics).toMatch(/^ringmaster_preflight_checks_total\{result="passed"\} 5$/m);
    } finally {
      expect(await stop(r)).toBe(0);
    }
    expect(r.stderr()).not.toContain(SECRET);
    expect(r.stderr()).not.toContain('    at ');
  }, 60_000);

  test('a hung check never holds a human verb, and a restart mid-preflight runs the checks again', async () => {
    hold.add('sensor-content-b');
    let r = await start(args);
    const name = 'sensor-content-b-7.16.292';
    try {
      expect((await post(r.url, withChecks(example('content-preflight.yaml'), 'file', { channel: 'sensor-content-b', name }))).status).toBe(201);
      const deadline = Date.now() + 10_000;
      while (!calls.some((c) => c.channel === 'sensor-content-b')) {
        if (Date.now() > deadline) throw new Error('the webhook was never called');
        await new Promise((res) => setTimeout(res, 25));
      }
      expect((await view(r.url, name)).phase.kind).toBe('preflight');
      // The webhook hangs; pause answers at once (nothing is exposed: it holds), resume queues the checks again.
      const t0 = Date.now();
      const paused = await fetch(`${r.url}/v1/rollouts/${name}/pause`, { method: 'POST', headers: { Authorization: DEPLOYER } });
      expect(paused.status).toBe(200);
      expect(Date.now() - t0).toBeLessThan(1_000);
      expect((await view(r.url, name)).phase.kind).toBe('held');
      expect((await fetch(`${r.url}/v1/rollouts/${name}/resume`, { method: 'POST', headers: { Authorization: DEPLOYER } })).status).toBe(200);
      expect(['pending', 'preflight']).toContain((await view(r.url, name)).phase.kind);
    } finally {
      expect(await stop(r)).toBe(0);
    }
    const before = calls.filter((c) => c.channel === 'sensor-content-b').length;
    hold.delete('sensor-content-b');
    r = await start(args);
    try {
      const v = await settle(r.url, name, 'sensor-content-b', []);
      expect(v.phase).toMatchObject({ kind: 'progressing', ring: 0 });
      expect(calls.filter((c) => c.channel === 'sensor-content-b').length).toBeGreaterThan(before);
    } finally {
      expect(await stop(r)).toBe(0);
    }
  }, 60_000);
});
