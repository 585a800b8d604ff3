/**
 * Manifests stay fresh and follow key rotations: the controller re-issues a manifest (new revision, same content)
 * before agents would refuse it as too old, and after `ringmaster rotate-signing-key` it signs with the new key,
 * serves the rotation statement, and an agent pinned to the old key follows it (the engine's checkManifest and
 * applyRotations, as the reference agent and the simulator run them). Real SQLite files, a virtual clock.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { rotateSigningKey } from '../../controller/crypto/keys';
import { applyRotations, checkManifest, INITIAL_REPLAY_STATE, type ReplayState, type TrustedManifestKey } from '../../controller/engine/agent';
import { VirtualClock } from '../../controller/runtime/clock';
import { Controller } from '../../controller/runtime/controller';
import type { SignedManifest } from '../../controller/runtime/service';
import type { Rollout } from '../../controller/spec/types';
import { OPEN_POLICY } from '../helpers/api-fixtures';

const START = Date.parse('2026-11-30T14:00:00Z');
const MIN = 60_000;
const CHANNEL = 'sensor-content';
const RULES = { channel: CHANNEL, maxAgeMs: 24 * 60 * MIN, clockSkewMs: 5 * MIN };

const rollout: Rollout = {
  apiVersion: 'ringmaster.dev/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'r1' },
  spec: {
    channel: CHANNEL,
    version: '7.16.291',
    previousVersion: '7.16.290',
    artifact: { url: 'https://updates.example.internal/c/7.16.291.bin', sha256: 'a'.repeat(64) },
    policy: 'open',
    rings: [
      { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '12h', ramp: 'none' },
      { name: 'full', percent: 100, bake: '12h', ramp: 'none' },
    ],
  },
};

async function open(dataDir: string, clock: VirtualClock, reissueMs?: number): Promise<Controller> {
  return Controller.open({
    dataDir,
    policiesDir: '/nonexistent',
    policies: new Map([['open', OPEN_POLICY]]),
    trustedKeys: [],
    clock,
    ...(reissueMs === undefined ? {} : { manifestReissueMs: reissueMs }),
  });
}

function fetched(m: SignedManifest, keyId: string) {
  return { body: m.body, signature: m.signature, keyId, revisionHeader: String(m.revision), bodySha256: crypto.createHash('sha256').update(m.body).digest('hex') };
}

function body(m: SignedManifest): { revision: number; issuedAt: string; candidates: unknown[] } {
  return JSON.parse(m.body.toString()) as { revision: number; issuedAt: string; candidates: unknown[] };
}

describe('manifest freshness and key rotation', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-fresh-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('re-issues an unchanged manifest once it is older than the re-issue period, so an agent never sees one older than its maximum age', async () => {
    const clock = new VirtualClock(START);
    const c = await open(dataDir, clock, 60 * MIN);
    try {
      expect((await c.applyRollout(rollout, 'alice')).status).toBe('created');
      const first = c.manifest(CHANNEL)!;
      expect(body(first).issuedAt).toBe(new Date(START).toISOString());
      const key = c.signingKey();
      const trust: TrustedManifestKey[] = [{ keyId: key.keyId, publicKey: key.publicKey }];
      let replay: ReplayState = INITIAL_REPLAY_STATE;
      const revisions = new Set<number>();
      // Six hours of a ring baking: nothing changes in the rollout, but the manifest never grows older than 1 h.
      for (let m = 1; m <= 6 * 60; m++) {
        clock.advance(MIN);
        await c.reconcileAll();
        const cur = c.manifest(CHANNEL)!;
        revisions.add(cur.revision);
        expect(clock.now() - Date.parse(body(cur).issuedAt)).toBeLessThan(60 * MIN + 1);
        const check = checkManifest(trust, replay, fetched(cur, key.keyId), { ...RULES, maxAgeMs: 61 * MIN }, clock.now());
        expect(check.ok).toBe(true);
        if (check.ok) replay = check.replay;
      }
      expect(revisions.size).toBe(7); // the one applied, then one re-issue per hour
      expect(body(c.manifest(CHANNEL)!).candidates).toEqual(body(first).candidates);
      // The first revision, replayed now, is refused twice over: older than the one accepted, and too old.
      const replayed = checkManifest(trust, replay, fetched(first, key.keyId), RULES, clock.now());
      expect(replayed).toMatchObject({ ok: false, reason: 'replay' });
      const stale = checkManifest(trust, INITIAL_REPLAY_STATE, fetched(first, key.keyId), { ...RULES, maxAgeMs: 3 * 60 * MIN }, clock.now());
      expect(stale).toMatchObject({ ok: false, reason: 'stale' });
      const audit = c.listAudit({ limit: 1000 }).filter((e) => e.action === 'manifest.publish');
      expect(audit.filter((e) => /re-issued: older than 60 min/.test(e.reason)).length).toBe(6);
    } finally {
      await c.stop();
    }
  });

  it('after rotate-signing-key the controller signs with the new key; an agent pinned to the old key follows the statement; a key swapped without one is refused', async () => {
    const clock = new VirtualClock(START);
    let c = await open(dataDir, clock);
    await c.applyRollout(rollout, 'alice');
    const oldKey = c.signingKey();
    const before = c.manifest(CHANNEL)!;
    await c.stop();

    const rotated = rotateSigningKey(dataDir, new Date(START));
    expect(rotated.previousKeyId).toBe(oldKey.keyId);
    clock.advance(MIN);
    c = await open(dataDir, clock);
    try {
      const newKey = c.signingKey();
      expect(newKey.keyId).toBe(rotated.keyId);
      expect(newKey.rotations).toHaveLength(1);
      const after = c.manifest(CHANNEL)!;
      expect(after.revision).toBe(before.revision + 1); // re-issued with the new key, same content
      expect(body(after).candidates).toEqual(body(before).candidates);

      const pinned: TrustedManifestKey[] = [{ keyId: oldKey.keyId, publicKey: oldKey.publicKey }];
      expect(checkManifest(pinned, INITIAL_REPLAY_STATE, fetched(after, newKey.keyId), RULES, clock.now())).toMatchObject({ ok: false, reason: 'unknown-key' });
      const followed = applyRotations(pinned, newKey.rotations);
      expect(followed.accepted).toEqual([newKey.keyId]);
      expect(followed.trust.map((k) => k.keyId)).toEqual([newKey.keyId]);
      expect(checkManifest(followed.trust, INITIAL_REPLAY_STATE, fetched(after, newKey.keyId), RULES, clock.now()).ok).toBe(true);
      // The retired key's old manifests are no longer believed.
      expect(checkManifest(followed.trust, INITIAL_REPLAY_STATE, fetched(before, oldKey.keyId), RULES, clock.now())).toMatchObject({ ok: false, reason: 'unknown-key' });
    } finally {
      await c.stop();
    }

    // A server with another key and no statement (a fresh data directory): nothing chains to it.
    const impostorDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-fresh-imp-'));
    const imp = await open(impostorDir, clock);
    try {
      await imp.applyRollout(rollout, 'mallory');
      const k = imp.signingKey();
      const pinned: TrustedManifestKey[] = [{ keyId: oldKey.keyId, publicKey: oldKey.publicKey }];
      expect(applyRotations(pinned, k.rotations).trust).toEqual(pinned);
      expect(checkManifest(pinned, INITIAL_REPLAY_STATE, fetched(imp.manifest(CHANNEL)!, k.keyId), RULES, clock.now())).toMatchObject({ ok: false, reason: 'unknown-key' });
    } finally {
      await imp.stop();
      fs.rmSync(impostorDir, { recursive: true, force: true });
    }
  });

  it('an interrupted rotation is finished at the next start when its statement was written, undone when it was not', async () => {
    const clock = new VirtualClock(START);
    const c = await open(dataDir, clock);
    const k0 = c.signingKey().keyId;
    await c.stop();
    // Crash after the next key was written, before the statement: the rotation is undone.
    fs.copyFileSync(path.join(dataDir, 'signing.key'), path.join(dataDir, 'signing.next.key'));
    fs.copyFileSync(path.join(dataDir, 'signing.pub'), path.join(dataDir, 'signing.next.pub'));
    fs.chmodSync(path.join(dataDir, 'signing.next.key'), 0o600);
    const oldKeyFile = fs.readFileSync(path.join(dataDir, 'signing.key'));
    const oldPubFile = fs.readFileSync(path.join(dataDir, 'signing.pub'));
    const r = rotateSigningKey(dataDir, new Date(START)); // starts by finishing (undoing) the interrupted one
    expect(r.previousKeyId).toBe(k0);
    expect(JSON.parse(fs.readFileSync(path.join(dataDir, 'signing-rotations.json'), 'utf8'))).toHaveLength(1);
    // Crash after the statement was written, before the rename: the new key aside, the old one still in place.
    fs.renameSync(path.join(dataDir, 'signing.key'), path.join(dataDir, 'signing.next.key'));
    fs.renameSync(path.join(dataDir, 'signing.pub'), path.join(dataDir, 'signing.next.pub'));
    fs.writeFileSync(path.join(dataDir, 'signing.key'), oldKeyFile, { mode: 0o600 });
    fs.writeFileSync(path.join(dataDir, 'signing.pub'), oldPubFile, { mode: 0o600 });
    const c2 = await open(dataDir, clock);
    try {
      expect(c2.signingKey().keyId).toBe(r.keyId);
      expect(fs.existsSync(path.join(dataDir, 'signing.next.key'))).toBe(false);
      expect(c2.signingKey().rotations).toHaveLength(1);
    } finally {
      await c2.stop();
    }
  });
});
