/**
 * The agent's decisions (controller/engine/agent.ts): what a host runs, whether a manifest may be believed, key
 * rotation, and the boot-loop safety net. The reference agent and the simulator call these; they are tested here.
 */
import * as crypto from 'node:crypto';
import { generateKeyPair, keyId, publicKeyRaw, sign, type KeyPair } from '../../controller/crypto/ed25519';
import {
  applyRotations,
  beginStart,
  censusRing,
  checkManifest,
  DEFAULT_BOOT_RULES,
  desiredVersion,
  INITIAL_REPLAY_STATE,
  installedVersion,
  isMarkedBad,
  markBad,
  nextStart,
  refusedUpdateVersions,
  ROTATION_TYPE,
  startHealthy,
  type BootState,
  type ChannelManifest,
  type FetchedManifest,
  type ManifestRules,
  type SignedRotation,
  type TrustedManifestKey,
} from '../../controller/engine/agent';
import { hostBucket, type Exposure } from '../../controller/engine/membership';

const SALT = 'b7e1c0ffee000000';
const T0 = Date.parse('2026-12-02T10:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();

function exposure(activeRing: number, extra: Partial<Exposure> = {}): Exposure {
  return {
    salt: SALT,
    activeRing,
    rings: [
      { name: 'canary', selector: { ring: 'canary' } },
      { name: 'early', basisPoints: 100 },
      { name: 'full', basisPoints: 10_000 },
    ],
    ...extra,
  };
}

function manifest(over: Partial<ChannelManifest> = {}): ChannelManifest {
  return {
    channel: 'sensor-content',
    revision: 5,
    issuedAt: iso(T0),
    salt: SALT,
    stable: { version: '7.16.290', artifact: { url: 'http://a/290', sha256: '0'.repeat(64) } },
    candidates: [{ rollout: 'r-291', version: '7.16.291', artifact: { url: 'http://a/291', sha256: '1'.repeat(64) }, state: 'progressing', exposure: exposure(0) }],
    killSwitch: { engaged: false, mode: 'freeze' },
    ...over,
  };
}

/** A host id whose bucket is below / above `bp`. */
function hostWithBucket(pred: (b: number) => boolean): string {
  for (let i = 0; ; i++) {
    const id = `host-${i}`;
    if (pred(hostBucket(SALT, id))) return id;
  }
}

describe('desiredVersion', () => {
  const canary = { id: 'c-1', labels: { ring: 'canary' }, current: '7.16.290' };
  const other = { id: hostWithBucket((b) => b >= 100 && b < 9_000), labels: {}, current: '7.16.290' };

  test('the canary-labelled host takes the candidate of ring 0, another host the stable version', () => {
    expect(desiredVersion(manifest(), canary)).toMatchObject({ kind: 'candidate', version: '7.16.291', rollout: 'r-291', ring: 0 });
    expect(desiredVersion(manifest(), other)).toEqual({ kind: 'stable', version: '7.16.290', artifact: { url: 'http://a/290', sha256: '0'.repeat(64) } });
  });

  test('a withdrawn candidate (activeRing -1) sends the hosts on it back to stable', () => {
    const m = manifest({ candidates: [{ ...manifest().candidates[0]!, state: 'rolling-back', exposure: exposure(-1) }] });
    expect(desiredVersion(m, { ...canary, current: '7.16.291' })).toMatchObject({ kind: 'stable', version: '7.16.290' });
  });

  test('the kill switch: no host installs a candidate it does not run; hosts on it stay; returning to stable is not blocked', () => {
    const killed = manifest({ killSwitch: { engaged: true, mode: 'freeze' } });
    expect(desiredVersion(killed, canary)).toEqual({ kind: 'keep', version: '7.16.290', why: 'kill-switch' });
    expect(desiredVersion(killed, { ...canary, current: '7.16.291' })).toMatchObject({ kind: 'candidate', version: '7.16.291' });
    const withdrawn = manifest({ killSwitch: { engaged: true, mode: 'rollback' }, candidates: [{ ...manifest().candidates[0]!, exposure: exposure(-1) }] });
    expect(desiredVersion(withdrawn, { ...canary, current: '7.16.291' })).toMatchObject({ kind: 'stable', version: '7.16.290' });
  });

  test('a version marked bad on the host is skipped until it is re-released (another rollout or artifact)', () => {
    const bad = [{ version: '7.16.291', sha256: '1'.repeat(64), rollout: 'r-291', revision: 4, at: iso(T0), reason: 'boot-loop' as const }];
    const host = { ...canary, isBad: (v: string, s: string, r: string | null) => isMarkedBad(bad, v, s, r) };
    expect(desiredVersion(manifest(), host)).toMatchObject({ kind: 'stable', version: '7.16.290' });
    // A newer revision of the same rollout and artifact (a wave, a re-issue) does not clear the mark.
    expect(desiredVersion(manifest({ revision: 9 }), host)).toMatchObject({ kind: 'stable' });
    const rereleased = manifest({ revision: 12, candidates: [{ ...manifest().candidates[0]!, rollout: 'r-291-again' }] });
    expect(desiredVersion(rereleased, host)).toMatchObject({ kind: 'candidate', rollout: 'r-291-again' });
    const newArtifact = manifest({ candidates: [{ ...manifest().candidates[0]!, artifact: { url: 'http://a/291b', sha256: '2'.repeat(64) } }] });
    expect(desiredVersion(newArtifact, host)).toMatchObject({ kind: 'candidate' });
  });

  test('a stable artifact marked bad on the host is not offered again: the host keeps what it runs', () => {
    const bad = [{ version: '7.16.290', sha256: '0'.repeat(64), rollout: null, revision: 4, at: iso(T0), reason: 'boot-loop' as const }];
    const host = { ...other, current: '7.16.289', isBad: (v: string, s: string, r: string | null) => isMarkedBad(bad, v, s, r) };
    expect(desiredVersion(manifest(), host)).toEqual({ kind: 'keep', version: '7.16.289', why: 'marked-bad' });
    // A host already on it is not told to keep anything else.
    expect(desiredVersion(manifest(), { ...host, current: '7.16.290' })).toMatchObject({ kind: 'stable' });
  });

  test('the newest candidate that admits the host wins; an older one still admits hosts the newer does not', () => {
    const older = { ...manifest().candidates[0]!, exposure: exposure(2) };
    const newer = { rollout: 'r-292', version: '7.16.292', artifact: { url: 'http://a/292', sha256: '3'.repeat(64) }, state: 'progressing' as const, exposure: exposure(0) };
    const m = manifest({ candidates: [older, newer] });
    expect(desiredVersion(m, canary)).toMatchObject({ version: '7.16.292' });
    expect(desiredVersion(m, other)).toMatchObject({ version: '7.16.291', ring: 2 });
  });

  test('waves and the holdback are the membership rules', () => {
    const inWave = { id: 'c-in', labels: { ring: 'canary' }, current: null, wave: 10 };
    const outWave = { id: 'c-out', labels: { ring: 'canary' }, current: null, wave: 900_000 };
    const m = manifest({ candidates: [{ ...manifest().candidates[0]!, exposure: exposure(0, { wave: { ppm: 50_000 } }) }] });
    expect(desiredVersion(m, inWave).kind).toBe('candidate');
    expect(desiredVersion(m, outWave).kind).toBe('stable');
    const held = { id: hostWithBucket((b) => b >= 9_950), labels: {}, current: '7.16.290' };
    const last = manifest({ candidates: [{ ...manifest().candidates[0]!, exposure: exposure(2, { holdback: { basisPoints: 50 } }) }] });
    expect(desiredVersion(last, held).kind).toBe('stable');
    expect(desiredVersion(last, other).kind).toBe('candidate');
  });

  test('no stable version yet: keep what the host runs', () => {
    expect(desiredVersion(manifest({ stable: null }), other)).toEqual({ kind: 'keep', version: '7.16.290', why: 'no-stable' });
  });

  test('precomputed rings (the simulator) give the same answer as computed ones', () => {
    const m = manifest({ candidates: [{ ...manifest().candidates[0]!, exposure: exposure(1) }] });
    for (let i = 0; i < 200; i++) {
      const labels: Record<string, string> = i % 7 === 0 ? { ring: 'canary' } : {};
      const h = { id: `h-${i}`, labels, current: null };
      const ring = i % 7 === 0 ? 0 : hostBucket(SALT, h.id) < 100 ? 1 : 2;
      expect(desiredVersion(m, { ...h, ringOf: () => ring })).toEqual(desiredVersion(m, h));
    }
  });

  test('censusRing names the ring of the newest candidate in effect, else ""', () => {
    expect(censusRing(manifest(), canary)).toBe('canary');
    expect(censusRing(manifest(), other)).toBe('full');
    expect(censusRing(manifest({ candidates: [] }), canary)).toBe('');
  });
});

// ------------------------------------------------------------------------------------------ manifests

function keyPair(): { pair: KeyPair; trusted: TrustedManifestKey } {
  const pair = generateKeyPair();
  return { pair, trusted: { keyId: keyId(pair.publicKey), publicKey: publicKeyRaw(pair.publicKey).toString('base64') } };
}

function fetched(pair: KeyPair, m: ChannelManifest, tamper?: (b: Buffer) => void): FetchedManifest {
  const body = Buffer.from(JSON.stringify(m));
  const signature = sign(pair.privateKey, body);
  if (tamper) tamper(body);
  return { body, signature, keyId: keyId(pair.publicKey), revisionHeader: String(m.revision), bodySha256: crypto.createHash('sha256').update(body).digest('hex') };
}

const RULES: ManifestRules = { channel: 'sensor-content', maxAgeMs: 24 * 3_600_000, clockSkewMs: 5 * 60_000 };

describe('checkManifest', () => {
  const { pair, trusted } = keyPair();

  test('a signed, fresh manifest is accepted and its revision remembered', () => {
    const r = checkManifest([trusted], INITIAL_REPLAY_STATE, fetched(pair, manifest()), RULES, T0 + 60_000);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.replay.revision).toBe(5);
      expect(r.unchanged).toBe(false);
    }
  });

  test('a tampered byte, an unknown key, a bad signature header are refused', () => {
    const flip = (b: Buffer): void => {
      b[b.length - 3] = (b[b.length - 3] as number) ^ 1;
    };
    expect(checkManifest([trusted], INITIAL_REPLAY_STATE, fetched(pair, manifest(), flip), RULES, T0)).toMatchObject({ ok: false, reason: 'signature' });
    const other = keyPair();
    expect(checkManifest([trusted], INITIAL_REPLAY_STATE, fetched(other.pair, manifest()), RULES, T0)).toMatchObject({ ok: false, reason: 'unknown-key' });
    // Another key's signature presented under the trusted key's id.
    const forged = { ...fetched(other.pair, manifest()), keyId: trusted.keyId };
    expect(checkManifest([trusted], INITIAL_REPLAY_STATE, forged, RULES, T0)).toMatchObject({ ok: false, reason: 'signature' });
    expect(checkManifest([trusted], INITIAL_REPLAY_STATE, { ...fetched(pair, manifest()), signature: 'not base64!' }, RULES, T0)).toMatchObject({ ok: false, reason: 'signature' });
  });

  test('replay: an older revision is refused; the same revision only with identical bytes', () => {
    const seen = { revision: 7, issuedAt: iso(T0), bodySha256: 'f'.repeat(64) };
    expect(checkManifest([trusted], seen, fetched(pair, manifest({ revision: 5 })), RULES, T0)).toMatchObject({ ok: false, reason: 'replay' });
    expect(checkManifest([trusted], seen, fetched(pair, manifest({ revision: 7 })), RULES, T0)).toMatchObject({ ok: false, reason: 'replay' });
    const same = fetched(pair, manifest({ revision: 7 }));
    const r = checkManifest([trusted], { ...seen, bodySha256: same.bodySha256 }, same, RULES, T0);
    expect(r).toMatchObject({ ok: true, unchanged: true });
    expect(checkManifest([trusted], seen, fetched(pair, manifest({ revision: 8 })), RULES, T0)).toMatchObject({ ok: true, unchanged: false });
  });

  test('age: older than the maximum age, or ahead of the clock beyond the skew, is refused', () => {
    const f = fetched(pair, manifest());
    expect(checkManifest([trusted], INITIAL_REPLAY_STATE, f, RULES, T0 + RULES.maxAgeMs - 1).ok).toBe(true);
    expect(checkManifest([trusted], INITIAL_REPLAY_STATE, f, RULES, T0 + RULES.maxAgeMs + 1)).toMatchObject({ ok: false, reason: 'stale' });
    expect(checkManifest([trusted], INITIAL_REPLAY_STATE, f, RULES, T0 - RULES.clockSkewMs + 1).ok).toBe(true);
    expect(checkManifest([trusted], INITIAL_REPLAY_STATE, f, RULES, T0 - RULES.clockSkewMs - 1)).toMatchObject({ ok: false, reason: 'future' });
  });

  test('another channel, a revision header that differs, a signed body that is not a manifest', () => {
    expect(checkManifest([trusted], INITIAL_REPLAY_STATE, fetched(pair, manifest({ channel: 'sensor-agent' })), RULES, T0)).toMatchObject({ ok: false, reason: 'channel' });
    expect(checkManifest([trusted], INITIAL_REPLAY_STATE, { ...fetched(pair, manifest()), revisionHeader: '6' }, RULES, T0)).toMatchObject({ ok: false, reason: 'malformed' });
    const body = Buffer.from('{"hello":1}');
    const notManifest = { body, signature: sign(pair.privateKey, body), keyId: trusted.keyId, bodySha256: 'x' };
    expect(checkManifest([trusted], INITIAL_REPLAY_STATE, notManifest, RULES, T0)).toMatchObject({ ok: false, reason: 'malformed' });
    const { issuedAt: _i, ...noTime } = manifest();
    expect(checkManifest([trusted], INITIAL_REPLAY_STATE, fetched(pair, noTime as ChannelManifest), RULES, T0)).toMatchObject({ ok: false, reason: 'malformed' });
  });
});

describe('refusedUpdateVersions', () => {
  const body = Buffer.from(JSON.stringify(manifest()));
  test('a signature-type refusal counts against the candidates the unverified body names; other refusals count nothing', () => {
    expect(refusedUpdateVersions('signature', body)).toEqual(['7.16.291']);
    expect(refusedUpdateVersions('unknown-key', body)).toEqual(['7.16.291']);
    for (const r of ['replay', 'stale', 'future', 'channel', 'malformed'] as const) expect(refusedUpdateVersions(r, body)).toEqual([]);
    expect(refusedUpdateVersions('signature', Buffer.from('not json'))).toEqual([]);
    const many = manifest({ candidates: Array.from({ length: 20 }, (_, i) => ({ ...manifest().candidates[0]!, version: `1.0.${i}` })) });
    expect(refusedUpdateVersions('signature', Buffer.from(JSON.stringify(many)))).toHaveLength(8);
  });
});

// ------------------------------------------------------------------------------------------ key rotation

function rotation(from: { pair: KeyPair; trusted: TrustedManifestKey }, to: TrustedManifestKey, over: Partial<SignedRotation> = {}): SignedRotation {
  const statement = JSON.stringify({ type: ROTATION_TYPE, keyId: to.keyId, publicKey: to.publicKey, previousKeyId: from.trusted.keyId, issuedAt: iso(T0) });
  return { statement, signature: sign(from.pair.privateKey, Buffer.from(statement)), signedBy: from.trusted.keyId, ...over };
}

describe('applyRotations', () => {
  const a = keyPair();
  const b = keyPair();
  const c = keyPair();

  test('a statement signed by a trusted key moves trust to the new key and retires the old; a chain is followed', () => {
    const r = applyRotations([a.trusted], [rotation(a, b.trusted), rotation(b, c.trusted)]);
    expect(r.accepted).toEqual([b.trusted.keyId, c.trusted.keyId]);
    expect(r.trust).toEqual([c.trusted]);
    expect(r.refused).toEqual([]);
    // The manifests the new key signs are now accepted; the retired key's are not.
    expect(checkManifest(r.trust, INITIAL_REPLAY_STATE, fetched(c.pair, manifest()), RULES, T0).ok).toBe(true);
    expect(checkManifest(r.trust, INITIAL_REPLAY_STATE, fetched(a.pair, manifest()), RULES, T0)).toMatchObject({ ok: false, reason: 'unknown-key' });
  });

  test('without a statement from a trusted key, nothing changes', () => {
    expect(applyRotations([a.trusted], [rotation(b, c.trusted)])).toEqual({ trust: [a.trusted], accepted: [], refused: [] });
    expect(applyRotations([a.trusted], []).trust).toEqual([a.trusted]);
  });

  test('forgeries are refused: a statement in the trusted key\'s name signed by another key, a key id that lies, tampered text', () => {
    const forged = rotation(a, c.trusted, { signature: sign(b.pair.privateKey, Buffer.from(rotation(a, c.trusted).statement)) });
    expect(applyRotations([a.trusted], [forged])).toMatchObject({ trust: [a.trusted], accepted: [] });
    expect(applyRotations([a.trusted], [forged]).refused[0]).toMatch(/does not verify/);
    const lying = rotation(a, { keyId: c.trusted.keyId, publicKey: b.trusted.publicKey });
    expect(applyRotations([a.trusted], [lying]).refused[0]).toMatch(/key id does not match/);
    const good = rotation(a, b.trusted);
    const tampered = { ...good, statement: good.statement.replace(b.trusted.publicKey, c.trusted.publicKey) };
    expect(applyRotations([a.trusted], [tampered]).accepted).toEqual([]);
    expect(applyRotations([a.trusted], [{ ...good, statement: 'nope' }]).refused).toEqual(['a rotation statement is not JSON']);
  });
});

// ------------------------------------------------------------------------------------------ the boot-loop safety net

describe('the boot-loop safety net', () => {
  const v290 = { version: '7.16.290', sha256: '0'.repeat(64), rollout: null };
  const v291 = { version: '7.16.291', sha256: '1'.repeat(64), rollout: 'r-291' };
  const fresh: BootState = { current: v290, previous: null, boot: null, bad: [] };

  test('nextStart: maxFailedStarts starts run, the next reverts', () => {
    expect(nextStart(0, 3)).toEqual({ attempts: 1, revert: false });
    expect(nextStart(2, 3)).toEqual({ attempts: 3, revert: false });
    expect(nextStart(3, 3)).toEqual({ attempts: 3, revert: true });
  });

  test('three failed starts of a new version, then the host is back on last-known-good with the version marked bad', () => {
    let s = installedVersion(fresh, v291, iso(T0));
    expect(s).toMatchObject({ current: v291, previous: v290, boot: { version: '7.16.291', attempts: 0 } });
    for (let i = 1; i <= 3; i++) {
      const d = beginStart(s, DEFAULT_BOOT_RULES, iso(T0 + i * 60_000), 8);
      expect(d.kind).toBe('start');
      s = d.state;
      expect(s.boot?.attempts).toBe(i);
    }
    const d = beginStart(s, DEFAULT_BOOT_RULES, iso(T0 + 4 * 60_000), 8);
    expect(d.kind).toBe('revert');
    if (d.kind !== 'revert') return;
    expect(d.state).toMatchObject({ current: v290, previous: null, boot: null });
    expect(d.marked).toMatchObject({ version: '7.16.291', rollout: 'r-291', revision: 8, reason: 'boot-loop' });
    expect(isMarkedBad(d.state.bad, '7.16.291', '1'.repeat(64), 'r-291')).toBe(true);
    // Back on last-known-good, starts are plain (no marker).
    expect(beginStart(d.state, DEFAULT_BOOT_RULES, iso(T0 + 5 * 60_000), 8)).toEqual({ kind: 'start', state: d.state });
  });

  test('last-known-good is what proved itself: a candidate withdrawn before its healthy period never becomes it', () => {
    // On the candidate, unproven (marker set), then the rollout is withdrawn: back to stable, no marker, no previous.
    const onCandidate = installedVersion(fresh, v291, iso(T0));
    const back = installedVersion(onCandidate, v290, iso(T0 + 60_000));
    expect(back).toEqual({ current: v290, previous: null, boot: null, bad: [] });
    // On the candidate after its healthy period: it is last-known-good when the host moves to something else.
    const proven = startHealthy(beginStart(onCandidate, DEFAULT_BOOT_RULES, iso(T0), 1).state, DEFAULT_BOOT_RULES, T0 + DEFAULT_BOOT_RULES.healthyAfterMs);
    const v292 = { version: '7.16.292', sha256: '2'.repeat(64), rollout: 'r-292' };
    expect(installedVersion(proven, v292, iso(T0))).toMatchObject({ current: v292, previous: v291, boot: { version: '7.16.292', attempts: 0 } });
    // An unproven version replaced by another new one: last-known-good stays the proven one before it.
    expect(installedVersion(onCandidate, v292, iso(T0))).toMatchObject({ current: v292, previous: v290 });
  });

  test('a healthy period clears the marker; a start after that is not counted', () => {
    let s = beginStart(installedVersion(fresh, v291, iso(T0)), DEFAULT_BOOT_RULES, iso(T0), 8).state;
    expect(startHealthy(s, DEFAULT_BOOT_RULES, T0 + DEFAULT_BOOT_RULES.healthyAfterMs - 1).boot).not.toBeNull();
    s = startHealthy(s, DEFAULT_BOOT_RULES, T0 + DEFAULT_BOOT_RULES.healthyAfterMs);
    expect(s.boot).toBeNull();
    for (let i = 0; i < 5; i++) expect(beginStart(s, DEFAULT_BOOT_RULES, iso(T0), 8).kind).toBe('start');
  });

  test('nothing to revert to: the version is marked bad and keeps trying (stuck), never a crash of the agent', () => {
    let s = installedVersion({ current: null, previous: null, boot: null, bad: [] }, v291, iso(T0));
    for (let i = 0; i < 3; i++) s = beginStart(s, DEFAULT_BOOT_RULES, iso(T0), 1).state;
    const d = beginStart(s, DEFAULT_BOOT_RULES, iso(T0), 1);
    expect(d.kind).toBe('stuck');
    expect(d.state.current).toEqual(v291);
    expect(isMarkedBad(d.state.bad, v291.version, v291.sha256, 'r-291')).toBe(true);
  });

  test('markBad replaces an earlier mark of the same artifact', () => {
    const mark = { version: '7.16.291', sha256: '1'.repeat(64), rollout: 'r-291', revision: 3, at: iso(T0), reason: 'validation' as const };
    const s = markBad(markBad(fresh, mark), { ...mark, revision: 4 });
    expect(s.bad).toEqual([{ ...mark, revision: 4 }]);
  });
});
