/**
 * Manifest-key rotation as the reference agent sees it: `ringmaster rotate-signing-key` between two runs of the
 * controller on the same data directory, an agent pinned to the old key follows the signed statement and accepts
 * the new manifests (and keeps the new key across a restart); a controller whose key was replaced without a
 * statement (a fresh data directory) is refused (unknown-key), and so is one that serves a forged statement.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent } from '../../agent';
import { main as ringmaster } from '../../controller/cli/ringmaster';
import { generateKeyPair, keyId, publicKeyRaw, ROTATION_TYPE, sign, type KeyRotationStatement, type SignedRotation } from '../../controller/crypto/keys';
import { memoryLogger } from '../../controller/telemetry/log';
import { ReplayProxy } from '../helpers/replay-proxy';
import { agentOptions, CHANNEL, metricValue, MIN, openLab, rolloutOf, type Lab } from './reference-agent-harness';

const unknownKey = (text: string): number | undefined => metricValue(text, `ringmaster_agent_manifest_refusals_total{channel="${CHANNEL}",reason="unknown-key"}`);

describe('reference agent: manifest-signing key rotation', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-agent-rotation-'));
  let lab: Lab;
  let impostor: Lab;
  let proxy: ReplayProxy;
  beforeAll(async () => {
    lab = await openLab();
    impostor = await openLab({ clock: lab.clock });
    proxy = await ReplayProxy.start(impostor.url);
    for (const l of [lab, impostor]) {
      const a = l.artifact('c-7.16.291.bin', Buffer.from('content 7.16.291\n'));
      expect((await l.controller.applyRollout(rolloutOf('r291', '7.16.291', '7.16.290', a), 'alice')).status).toBe('created');
      await l.advance(MIN);
    }
  });
  afterAll(async () => {
    await proxy.close();
    await impostor.close();
    await lab.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('an agent pinned to the old key follows the rotation statement and accepts the new manifests', async () => {
    const dir = path.join(tmp, 'follower');
    const oldKey = lab.pin()[0]?.keyId as string;
    const { log, lines } = memoryLogger('info');
    const agent = await Agent.open(agentOptions(lab, dir, { log }));
    expect(await agent.pollOnce()).toMatchObject({ manifest: 'accepted', action: { kind: 'installed', version: '7.16.291' } });
    const before = agent.status().revision;

    await lab.stop();
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let code: number;
    try {
      code = await ringmaster(['rotate-signing-key', '--data', lab.dataDir]);
    } finally {
      out.mockRestore();
    }
    expect(code).toBe(0);
    await lab.start();
    const newKey = lab.pin()[0]?.keyId as string;
    expect(newKey).not.toBe(oldKey);

    const r = await agent.pollOnce();
    expect(r).toMatchObject({ manifest: 'accepted', action: { kind: 'on-desired', version: '7.16.291' }, onDesired: true });
    expect(r.revision).toBeGreaterThan(before);
    expect(agent.status().trustedKeys).toEqual([newKey]);
    expect(unknownKey(await agent.metrics.text())).toBe(0);
    expect(lines.some((l) => String(l.msg).startsWith(`manifest-signing key rotated to ${newKey}`))).toBe(true);
    await agent.close();

    // The new trust set is durable: a restarted agent (no --pin-key) accepts the new key's manifests at once.
    const again = await Agent.open(agentOptions(lab, dir, { pinKeys: [] }));
    await lab.advance(11 * MIN); // the canary ring baked: ring 1 starts, a new revision signed by the new key
    expect(await again.pollOnce()).toMatchObject({ manifest: 'accepted', onDesired: true });
    expect(again.status().trustedKeys).toEqual([newKey]);
    await again.close();
  });

  test('a controller whose key was replaced without a statement is refused (unknown-key), and nothing is installed', async () => {
    const dir = path.join(tmp, 'pinned');
    const agent = await Agent.open(agentOptions(lab, dir, { controller: impostor.url, pinKeys: lab.pin() }));
    for (let i = 1; i <= 2; i++) {
      const r = await agent.pollOnce();
      expect(r).toMatchObject({ manifest: 'refused', refusal: { reason: 'unknown-key' }, revision: 0, action: { kind: 'none' }, onDesired: false });
      expect(unknownKey(await agent.metrics.text())).toBe(i);
    }
    expect(agent.status()).toMatchObject({ version: null, trustedKeys: lab.pin().map((k) => k.keyId) });
    expect(fs.existsSync(path.join(dir, 'versions'))).toBe(false);
    await agent.close();
  });

  test('a forged rotation statement (not signed by the trusted key) is refused, and so is one from a key never trusted', async () => {
    const trusted = lab.pin()[0] as { keyId: string; publicKey: string };
    const impostorKey = impostor.pin()[0] as { keyId: string; publicKey: string };
    const attacker = generateKeyPair();
    const statement = (previousKeyId: string): string =>
      JSON.stringify({ type: ROTATION_TYPE, keyId: impostorKey.keyId, publicKey: impostorKey.publicKey, previousKeyId, issuedAt: new Date(lab.clock.now()).toISOString() } satisfies KeyRotationStatement);
    const forged: SignedRotation[] = [
      // Claims to be signed by the trusted key; signed by the attacker's.
      { statement: statement(trusted.keyId), signature: sign(attacker.privateKey, Buffer.from(statement(trusted.keyId))), signedBy: trusted.keyId },
      // A chain from the attacker's own key, which this host never trusted.
      { statement: statement(keyId(attacker.publicKey)), signature: sign(attacker.privateKey, Buffer.from(statement(keyId(attacker.publicKey)))), signedBy: keyId(attacker.publicKey) },
    ];
    proxy.override('/v1/signing-key', (up) => {
      const body = JSON.parse(up.body.toString()) as Record<string, unknown>;
      return { ...up, body: Buffer.from(JSON.stringify({ ...body, rotations: forged })) };
    });
    const { log, lines } = memoryLogger('warn');
    const agent = await Agent.open(agentOptions(lab, path.join(tmp, 'forged'), { controller: proxy.url, pinKeys: [trusted], log }));
    const r = await agent.pollOnce();
    expect(r).toMatchObject({ manifest: 'refused', refusal: { reason: 'unknown-key' }, onDesired: false });
    expect(agent.status().trustedKeys).toEqual([trusted.keyId]);
    expect(unknownKey(await agent.metrics.text())).toBe(1);
    expect(lines.map((l) => l.msg)).toContain(`rotation statement refused: rotation to ${impostorKey.keyId}: signature does not verify against ${trusted.keyId}`);
    expect(publicKeyRaw(attacker.publicKey).toString('base64')).not.toBe(impostorKey.publicKey);
    await agent.close();
  });
});
