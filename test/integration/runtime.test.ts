import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateKeyPair, parsePublicKey, signArtifactDigest, verify } from '../../controller/crypto/keys';
import { takesCandidate } from '../../controller/engine/membership';
import type { RingVerdict } from '../../controller/engine/state';
import { VirtualClock } from '../../controller/runtime/clock';
import { Controller, type Analyzer } from '../../controller/runtime/controller';
import type { PolicySpec, Rollout } from '../../controller/spec/types';

const START = Date.parse('2026-11-30T14:00:00Z'); // Monday 09:00 America/New_York
const MIN = 60_000;

const openPolicy: PolicySpec = {
  timezone: 'UTC',
  allow: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'], hours: '00:00-24:00' }],
  requireSignedArtifacts: false,
  requireBakeWithinWindow: false,
  maxConcurrentRolloutsPerChannel: 1,
};
const weekdays: PolicySpec = {
  timezone: 'America/New_York',
  allow: [{ days: ['Mon', 'Tue', 'Wed', 'Thu'], hours: '09:00-16:00' }],
  requireSignedArtifacts: false,
  requireBakeWithinWindow: false,
  maxConcurrentRolloutsPerChannel: 1,
};

function rollout(name: string, over: Partial<Rollout['spec']> = {}): Rollout {
  return {
    apiVersion: 'ringmaster.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      channel: 'sensor-content',
      version: '7.16.291',
      previousVersion: '7.16.290',
      artifact: { url: 'https://updates.example.internal/c/7.16.291.bin', sha256: 'a'.repeat(64) },
      policy: 'open',
      // Whole rings at once: these tests are about phases, bakes and scheduling (the waves: runtime-ramp.test.ts).
      rings: [
        { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '30m', ramp: 'none' },
        { name: 'early', percent: 1, bake: '1h', ramp: 'none' },
        { name: 'full', percent: 100, bake: '1h', ramp: 'none' },
      ],
      ...over,
    },
  };
}

async function harness(opts: { policies?: Map<string, PolicySpec>; analyzer?: Analyzer; dataDir?: string; clock?: VirtualClock } = {}) {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rm-runtime-'));
  const clock = opts.clock ?? new VirtualClock(START);
  const c = await Controller.open({
    dataDir,
    policiesDir: '/nonexistent',
    policies: opts.policies ?? new Map([['open', openPolicy], ['weekdays', weekdays]]),
    trustedKeys: [],
    clock,
    rollbackDrainMs: 2 * MIN,
    ...(opts.analyzer ? { analyzer: opts.analyzer } : {}),
  });
  const run = async (minutes: number, stepMin = 1) => {
    for (let m = 0; m < minutes; m += stepMin) {
      clock.advance(stepMin * MIN);
      await c.reconcileAll();
    }
  };
  return { c, clock, dataDir, run };
}

function manifestJson(c: Controller, channel = 'sensor-content') {
  const m = c.manifest(channel);
  if (!m) throw new Error('no manifest');
  return JSON.parse(m.body.toString()) as {
    revision: number;
    stable: { version: string } | null;
    candidates: Array<{ version: string; state: string; exposure: Parameters<typeof takesCandidate>[0] }>;
    killSwitch: { engaged: boolean; mode: string };
  };
}

describe('runtime on a virtual clock with a real SQLite store', () => {
  it('a rollout without metrics advances on bake time alone through every ring to succeeded', async () => {
    const { c, run } = await harness();
    expect((await c.applyRollout(rollout('r1'), 'alice')).status).toBe('created');
    expect(c.getRollout('r1')?.phase).toMatchObject({ kind: 'progressing', ring: 0 });
    expect(c.getRollout('r1')?.judged).toBe(false); // no metrics and no analyzer: bake time alone, and the view says so
    await run(29);
    expect(c.getRollout('r1')?.phase).toMatchObject({ kind: 'progressing', ring: 0 });
    await run(1);
    expect(c.getRollout('r1')?.phase).toMatchObject({ kind: 'progressing', ring: 1 });
    await run(120);
    const v = c.getRollout('r1');
    expect(v?.phase.kind).toBe('succeeded');
    expect(v?.history.map((t) => `${t.to}@${t.exposedRing}`)).toEqual(['progressing@0', 'progressing@1', 'progressing@2', 'succeeded@2']);
    expect(manifestJson(c).stable?.version).toBe('7.16.291');
    expect(c.verifyAudit().ok).toBe(true);
    await c.stop();
  });

  it('apply is idempotent for the same spec and refuses a changed spec under the same name', async () => {
    const { c } = await harness();
    expect((await c.applyRollout(rollout('r1'), 'alice')).status).toBe('created');
    expect((await c.applyRollout(rollout('r1'), 'alice')).status).toBe('unchanged');
    expect((await c.applyRollout(rollout('r1', { version: '7.16.292' }), 'alice')).status).toBe('conflict');
    expect(c.listRollouts()).toHaveLength(1);
    await c.stop();
  });

  it('an unknown policy and a bad signature under requireSignedArtifacts are refused', async () => {
    const { c } = await harness({ policies: new Map([['signed', { ...openPolicy, requireSignedArtifacts: true }]]) });
    const unknown = await c.applyRollout(rollout('r1', { policy: 'nope' }), 'alice');
    expect(unknown).toMatchObject({ status: 'invalid', errors: [{ path: 'spec.policy' }] });
    const unsigned = await c.applyRollout(rollout('r2', { policy: 'signed' }), 'alice');
    expect(unsigned).toMatchObject({ status: 'invalid', errors: [{ path: 'spec.artifact.signature' }] });
    expect(c.listRollouts()).toHaveLength(0);
    await c.stop();
  });

  it('a second rollout on the channel waits in pending until the first finishes', async () => {
    const { c, run } = await harness();
    await c.applyRollout(rollout('first'), 'alice');
    await c.applyRollout(rollout('second', { version: '7.16.292', previousVersion: '7.16.291' }), 'alice');
    expect(c.getRollout('second')?.phase.kind).toBe('pending');
    expect(c.getRollout('second')?.waitingReason).toContain('first');
    await run(151);
    expect(c.getRollout('first')?.phase.kind).toBe('succeeded');
    expect(c.getRollout('second')?.phase).toMatchObject({ kind: 'progressing', ring: 0 });
    await c.stop();
  });

  it('a Friday start waits for Monday 09:00 New York, and the wait reason says why', async () => {
    const friday = new VirtualClock(Date.parse('2026-11-27T20:00:00Z')); // Fri 15:00 EST
    const { c, run } = await harness({ clock: friday });
    await c.applyRollout(rollout('r1', { policy: 'weekdays' }), 'alice');
    const v = c.getRollout('r1');
    expect(v?.phase.kind).toBe('waiting-for-window');
    expect(v?.waitingReason).toMatch(/outside/);
    await run(65 * 60, 60); // Fri 20:00Z + 65 h = Mon 13:00Z = 08:00 EST
    expect(c.getRollout('r1')?.phase.kind).toBe('waiting-for-window');
    await run(60, 60); // Mon 14:00Z = 09:00 EST
    const started = c.getRollout('r1');
    expect(started?.phase).toMatchObject({ kind: 'progressing', ring: 0, bakeStartedAt: '2026-11-30T14:00:00.000Z' });
    await c.stop();
  });

  it('the kill switch freezes every rollout, shows in the manifest, and survives a restart', async () => {
    const h = await harness();
    await h.c.applyRollout(rollout('r1'), 'alice');
    await h.c.setKillSwitch({ engaged: true, mode: 'freeze', reason: 'incident 42' }, 'sre-bob');
    expect(h.c.getRollout('r1')?.phase).toMatchObject({ kind: 'halted', reason: 'kill-switch' });
    expect(manifestJson(h.c).killSwitch).toEqual({ engaged: true, mode: 'freeze' });
    await h.c.stop();
    const again = await harness({ dataDir: h.dataDir, clock: h.clock });
    expect(again.c.getKillSwitch()).toMatchObject({ engaged: true, actor: 'sre-bob' });
    await again.run(120);
    expect(again.c.getRollout('r1')?.phase.kind).toBe('halted');
    const denied = await again.c.request('r1', 'resume', 'alice', 'go');
    expect(denied.status).toBe('rejected');
    await again.c.setKillSwitch({ engaged: false, mode: 'freeze', reason: 'resolved' }, 'sre-bob');
    expect((await again.c.request('r1', 'resume', 'alice', 'go')).status).toBe('applied');
    expect(again.c.getRollout('r1')?.phase).toMatchObject({ kind: 'progressing', ring: 0 });
    await again.c.stop();
  });

  it('kill switch in rollback mode withdraws every candidate; agents fall back to stable', async () => {
    const { c, run } = await harness();
    await c.applyRollout(rollout('r1'), 'alice');
    await run(31);
    const exposure = manifestJson(c).candidates[0]?.exposure;
    expect(exposure && takesCandidate(exposure, { id: 'h', labels: { ring: 'canary' } })).toBe(true);
    await c.setKillSwitch({ engaged: true, mode: 'rollback', reason: 'bad update' }, 'sre');
    const m = manifestJson(c);
    expect(m.candidates[0]?.state).toBe('rolling-back');
    expect(m.candidates[0] && takesCandidate(m.candidates[0].exposure, { id: 'h', labels: { ring: 'canary' } })).toBe(false);
    await run(3);
    expect(c.getRollout('r1')?.phase.kind).toBe('rolled-back');
    await c.stop();
  });

  it('a restart resumes from the store without repeating or skipping a ring', async () => {
    const h = await harness();
    await h.c.applyRollout(rollout('r1'), 'alice');
    await h.run(45); // ring 1 (early) started at 30m
    await h.c.stop();
    const again = await harness({ dataDir: h.dataDir, clock: h.clock });
    expect(again.c.getRollout('r1')?.phase).toMatchObject({ kind: 'progressing', ring: 1 });
    await again.run(120);
    const rings = again.c.getRollout('r1')?.history.map((t) => t.exposedRing);
    expect(rings).toEqual([0, 1, 2, 2]);
    await again.c.stop();
  });

  it('manifests are signed over the served bytes, revisions only grow, and unchanged content keeps its revision', async () => {
    const { c, run } = await harness();
    await c.applyRollout(rollout('r1'), 'alice');
    const key = parsePublicKey(c.signingKey().publicKey);
    if (!key.ok) throw new Error('bad key');
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) {
      const m = c.manifest('sensor-content');
      if (!m) throw new Error('no manifest');
      expect(verify(key.key, m.body, m.signature)).toBe(true);
      const flipped = Buffer.from(m.body);
      flipped[10] = (flipped[10] as number) ^ 1;
      expect(verify(key.key, flipped, m.signature)).toBe(false);
      seen.push(m.revision);
      await run(20);
    }
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1] as number);
    expect(new Set(seen).size).toBeLessThan(seen.length); // quiet ticks do not bump the revision
    await c.stop();
  });

  it('a failing verdict rolls back automatically; a pass is needed to advance when metrics are configured', async () => {
    let next: RingVerdict['result'] = 'inconclusive';
    const analyzer: Analyzer = {
      analyze: async (_r, state) => ({ ring: state.exposedRing, result: next, reason: `stub ${next}`, metrics: [], judgeStates: {}, touchedHosts: null, concern: false }),
    };
    const { c, run } = await harness({ analyzer });
    const withMetrics = rollout('r1', { analysis: { interval: '1m', noDataGrace: '10m', metrics: [{ name: 'crashes', type: 'crash-rate' }] } });
    await c.applyRollout(withMetrics, 'alice');
    await run(40);
    expect(c.getRollout('r1')?.phase).toMatchObject({ kind: 'progressing', ring: 0 }); // baked, but never passed
    next = 'pass';
    await run(1);
    expect(c.getRollout('r1')?.phase).toMatchObject({ kind: 'progressing', ring: 1 });
    next = 'fail';
    await run(1);
    expect(c.getRollout('r1')?.phase.kind).toBe('rolling-back');
    expect(c.getRollout('r1')?.lastVerdict?.result).toBe('fail');
    await c.stop();
  });

  it('signed artifacts are accepted when signed by a trusted publisher key', async () => {
    const publisher = generateKeyPair();
    const sha = crypto.createHash('sha256').update('bits').digest('hex');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-runtime-'));
    const c = await Controller.open({
      dataDir,
      policiesDir: '/nonexistent',
      policies: new Map([['signed', { ...openPolicy, requireSignedArtifacts: true }]]),
      trustedKeys: [{ name: 'release', key: publisher.publicKey }],
      clock: new VirtualClock(START),
    });
    const r = rollout('r1', { policy: 'signed', artifact: { url: 'https://x/a.bin', sha256: sha, signature: signArtifactDigest(publisher.privateKey, sha) } });
    expect((await c.applyRollout(r, 'alice')).status).toBe('created');
    await c.stop();
  });
});
