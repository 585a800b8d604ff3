/**
 * The ramp through the real runtime: SQLite store, the reconciler's census, signed manifests, on a virtual clock.
 * A scripted fleet of 20,000 hosts (2,000 canary) installs what the served manifest's exposure says (the engine's
 * takesCandidate), and the analyzer reports how many of them run the candidate: the waves must reach agents in the
 * manifest, grow only as hosts arrive, and stop at the first wave on a fail.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hostBucket, hostWavePosition, takesCandidate, type Exposure } from '../../controller/engine/membership';
import { channelSalt } from '../../controller/runtime/manifest';
import type { RingVerdict } from '../../controller/engine/state';
import { VirtualClock } from '../../controller/runtime/clock';
import { Controller, type Analyzer } from '../../controller/runtime/controller';
import type { CensusSource } from '../../controller/runtime/types';
import type { Rollout } from '../../controller/spec/types';
import { OPEN_POLICY } from '../helpers/api-fixtures';

const START = Date.parse('2026-11-30T14:00:00Z');
const MIN = 60_000;

const rollout: Rollout = {
  apiVersion: 'ringmaster.dev/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'ramped' },
  spec: {
    channel: 'sensor-content',
    version: '7.16.291',
    previousVersion: '7.16.290',
    artifact: { url: 'https://updates.example.internal/c/7.16.291.bin', sha256: 'a'.repeat(64) },
    policy: 'open',
    rings: [
      { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '30m' },
      { name: 'full', percent: 100, bake: '1h' },
    ],
    analysis: { interval: '1m', metrics: [{ name: 'crashes', type: 'crash-rate', minHosts: 50 }] },
  },
};

const SALT = channelSalt('sensor-content');
// Buckets and wave positions precomputed, as the simulator does (the same engine functions).
const HOSTS = Array.from({ length: 20_000 }, (_, i) => {
  const id = `host-${i}`;
  const labels: Record<string, string> = i % 10 === 0 ? { ring: 'canary' } : {};
  return { id, labels, bucket: hostBucket(SALT, id), wave: hostWavePosition(SALT, id) };
});

async function harness(result: () => RingVerdict['result']) {
  const clock = new VirtualClock(START);
  const ref: { c?: Controller } = {};
  /** Hosts on the candidate: everyone the last served manifest admits (agents poll within the minute). */
  const onCandidate = (): number => {
    const m = ref.c?.manifest('sensor-content');
    if (!m) return 0;
    const body = JSON.parse(m.body.toString()) as { candidates: Array<{ exposure: Exposure }> };
    const e = body.candidates[0]?.exposure;
    return e ? HOSTS.filter((h) => takesCandidate(e, h)).length : 0;
  };
  let ran = 0;
  const analyzer: Analyzer = {
    analyze: async (_r, state) => ({ ring: state.exposedRing, result: result(), reason: 'scripted', metrics: [], judgeStates: {}, touchedHosts: ran, concern: false }),
    due: () => true,
  };
  const census: CensusSource = { ringHosts: async (_channel, ring) => (ring === 'canary' ? 2000 : 18_000 - 90) };
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-ramp-'));
  const c = await Controller.open({ dataDir, policiesDir: '/nonexistent', policies: new Map([['open', OPEN_POLICY]]), trustedKeys: [], clock, analyzer, census, tickMs: MIN });
  ref.c = c;
  const controller = c;
  const step = async (): Promise<void> => {
    clock.advance(MIN);
    ran = onCandidate(); // what the agents did with the manifest served during the last minute
    await controller.reconcileAll();
  };
  return { c: controller, step, onCandidate };
}

describe('the ramp through the runtime', () => {
  it('the canary ramps 50, 100, ... hosts in the served manifest, then bakes; the next ring ramps after it', async () => {
    const { c, step, onCandidate } = await harness(() => 'inconclusive');
    await c.applyRollout(rollout, 'alice');
    expect(c.getRollout('ramped')?.wave).toMatchObject({ index: 0, ppm: 0 });
    expect(c.getRollout('ramped')?.judged).toBe(true);
    expect(onCandidate()).toBe(0); // the census wave: published, nobody takes it
    const exposed: number[] = [];
    for (let i = 0; i < 12 && c.getRollout('ramped')?.wave; i++) {
      await step();
      exposed.push(onCandidate());
    }
    // Each wave about doubles the one before (wave positions are a hash: within a few hosts), then the whole canary.
    expect(exposed.length).toBeGreaterThanOrEqual(6);
    expect(exposed[0]).toBeGreaterThanOrEqual(35);
    expect(exposed[0]).toBeLessThanOrEqual(70);
    for (let i = 1; i < exposed.length; i++) expect(exposed[i]).toBeGreaterThan(exposed[i - 1] as number);
    expect(exposed[exposed.length - 1]).toBe(2000);
    const v = c.getRollout('ramped');
    expect(v?.phase).toMatchObject({ kind: 'progressing', ring: 0 });
    expect(v?.bake?.startedAt).toBe(new Date(START + exposed.length * MIN).toISOString());
    expect(v?.history.filter((t) => /wave \d/.test(t.reason)).length).toBe(exposed.length - 1);
    await c.stop();
  });

  it('a fail on the first wave rolls back with no more than the first wave exposed', async () => {
    let verdict: RingVerdict['result'] = 'inconclusive';
    const { c, step, onCandidate } = await harness(() => verdict);
    await c.applyRollout(rollout, 'alice');
    await step(); // census look: wave 1 (~50 hosts) published
    const firstWave = onCandidate();
    verdict = 'fail';
    await step();
    expect(c.getRollout('ramped')?.phase.kind).toBe('rolling-back');
    expect(firstWave).toBeLessThanOrEqual(70);
    expect(onCandidate()).toBe(0);
    await c.stop();
  });

  it('the last ring keeps the holdback on the previous version until its bake passes; success releases it', async () => {
    const { c, step, onCandidate } = await harness(() => 'pass');
    await c.applyRollout({ ...rollout, spec: { ...rollout.spec, holdback: { percent: 5 } } }, 'alice');
    let checked = 0;
    for (let i = 0; i < 200 && c.getRollout('ramped')?.phase.kind !== 'succeeded'; i++) {
      await step();
      const v = c.getRollout('ramped');
      if (v?.phase.kind === 'progressing' && v.exposedRing === 1 && v.wave === null) {
        checked++;
        // Wholly exposed final ring: 5% of the non-canary hosts (and no canary host) are held back.
        const held = 20_000 - onCandidate();
        expect(held).toBeGreaterThan(0.04 * 18_000);
        expect(held).toBeLessThan(0.06 * 18_000);
      }
    }
    const done = c.getRollout('ramped');
    expect(done?.phase.kind).toBe('succeeded');
    expect(checked).toBeGreaterThanOrEqual(59); // the whole 1 h bake of the final ring
    const m = JSON.parse(c.manifest('sensor-content')?.body.toString() ?? '{}') as { stable: { version: string }; candidates: unknown[] };
    expect(m.stable.version).toBe('7.16.291'); // everyone, the holdback included, now takes it as the stable version
    expect(m.candidates).toEqual([]);
    await c.stop();
  });
});
