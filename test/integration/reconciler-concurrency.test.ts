/**
 * The Reconciler gathers verdicts outside anything a verb waits on, with a hard deadline, and applies a verdict
 * only to the ring exposure it was computed on: a decision made on a stale read is recomputed on the fresh state.
 * Real SQLite, virtual clock for the rollout, real time for the analyses (as in production: I/O is real time).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RingVerdict, RolloutState } from '../../controller/engine/state';
import { VirtualClock } from '../../controller/runtime/clock';
import { Controller, type Analyzer } from '../../controller/runtime/controller';
import type { Rollout } from '../../controller/spec/types';
import { OPEN_POLICY } from '../helpers/api-fixtures';

const START = Date.parse('2026-11-30T14:00:00Z');
const open = OPEN_POLICY;
const rollout: Rollout = {
  apiVersion: 'ringmaster.dev/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'r' },
  spec: {
    channel: 'c',
    version: '2.0.0',
    previousVersion: '1.0.0',
    artifact: { url: 'https://x/2.0.0.bin', sha256: 'a'.repeat(64) },
    policy: 'open',
    rings: [{ name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '1h' }, { name: 'full', percent: 100, bake: '1h' }],
    analysis: { interval: '1m', metrics: [{ name: 'crash', type: 'crash-rate', max: 0.05, minHosts: 1 }] },
  },
};

/** Answers what the test tells it to, when the test says so (or never). */
class ControlledAnalyzer implements Analyzer {
  calls = 0;
  private release: ((v: RingVerdict) => void) | undefined;
  analyze(_r: Rollout, state: RolloutState): Promise<RingVerdict | undefined> {
    this.calls++;
    return new Promise((resolve) => {
      this.release = (v) => resolve({ ...v, ring: state.exposedRing });
    });
  }
  answer(result: RingVerdict['result']): void {
    this.release?.({ ring: 0, result, reason: `scripted ${result}`, metrics: [], judgeStates: {}, touchedHosts: null, concern: false });
  }
}

async function open_(analyzer: Analyzer, deadlineMs = 5000) {
  const clock = new VirtualClock(START);
  const c = await Controller.open({
    dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'rm-conc-')),
    policiesDir: '/nonexistent',
    policies: new Map([['open', open]]),
    trustedKeys: [],
    clock,
    analyzer,
    analysisDeadlineMs: deadlineMs,
  });
  return { c, clock };
}
const tick = () => new Promise((r) => setTimeout(r, 20));

describe('reconciler: verdicts gathered outside the verbs, applied only to the exposure they were computed on', () => {
  it('a fail computed on the ring before a halt and resume (fresh evidence) is dropped, not applied to the new bake', async () => {
    const a = new ControlledAnalyzer();
    const { c, clock } = await open_(a);
    await c.applyRollout(rollout, 'alice');
    expect(c.getRollout('r')?.phase.kind).toBe('progressing');
    clock.advance(60_000);
    const pass = c.reconcileAll(); // its analysis now waits on the analyzer
    await tick();
    expect(a.calls).toBe(1);
    // Meanwhile a human halts (kill switch), releases and resumes: ring 0 restarts with fresh evidence.
    await c.setKillSwitch({ engaged: true, mode: 'freeze', reason: 'drill' }, 'sre');
    await c.setKillSwitch({ engaged: false, mode: 'freeze', reason: 'drill over' }, 'sre');
    expect((await c.request('r', 'resume', 'alice', 'fresh bake')).status).toBe('applied');
    const resumed = c.getRollout('r');
    expect(resumed?.phase.kind).toBe('progressing');
    a.answer('fail');
    await pass;
    // The stale fail (old ringStartedAt) did not roll back the fresh bake.
    expect(c.getRollout('r')?.phase.kind).toBe('progressing');
    expect(c.getRollout('r')?.lastVerdict).toBeNull();
    await c.stop();
  });

  it('a fail on the same exposure still applies after a pause during the query (sick hosts are sick while paused)', async () => {
    const a = new ControlledAnalyzer();
    const { c, clock } = await open_(a);
    await c.applyRollout(rollout, 'alice');
    clock.advance(60_000);
    const pass = c.reconcileAll();
    await tick();
    expect((await c.request('r', 'pause', 'alice', 'look closer')).status).toBe('applied');
    a.answer('fail');
    await pass;
    expect(c.getRollout('r')?.phase.kind).toBe('rolling-back');
    await c.stop();
  });

  it('a query that never answers yields an error verdict at the deadline, and the next one is not stacked on it', async () => {
    const a = new ControlledAnalyzer(); // never answered
    const { c, clock } = await open_(a, 300);
    await c.applyRollout(rollout, 'alice');
    clock.advance(60_000);
    const t0 = Date.now();
    await c.reconcileAll();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(3000);
    const v = c.getRollout('r');
    expect(v?.lastVerdict).toMatchObject({ result: 'error', reason: 'the metrics analysis did not answer within 300 ms' });
    clock.advance(60_000);
    await c.reconcileAll();
    expect(a.calls).toBe(1);
    expect(c.getRollout('r')?.lastVerdict).toMatchObject({ result: 'error', reason: 'the previous metrics analysis has not answered yet' });
    a.answer('pass');
    await tick();
    clock.advance(60_000);
    await c.reconcileAll();
    expect(a.calls).toBe(2);
    await c.stop();
  });
});
