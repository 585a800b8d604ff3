/**
 * The pre-flight phases in the pure engine: pending -> preflight -> (ring 0's gates | preflight-failed), the kill
 * switch and the verbs during preflight, the phase sets, the channel slot, the manifest and lineage.
 */
import { decide } from '../../controller/engine/decide';
import { channelSlot, holdsChannelSlot, lineageEvents, type SlotRollout } from '../../controller/engine/scheduling';
import type { EngineConfig, Facts, Phase, PreflightResult, RolloutState } from '../../controller/engine/state';
import { ALL_PHASES, IN_FLIGHT_PHASES, initialState, NOT_STARTED_PHASES, PREFLIGHT_PHASES, TERMINAL_PHASES } from '../../controller/engine/state';
import { buildManifestContent } from '../../controller/runtime/manifest';
import type { Rollout } from '../../controller/spec/types';

const T = '2026-11-30T15:00:00.000Z';
const plus = (min: number): string => new Date(Date.parse(T) + min * 60_000).toISOString();

const config = (over: Partial<EngineConfig['rings'][number]> = {}): EngineConfig => ({
  rings: [
    { name: 'canary', bakeMs: 30 * 60_000, maxBakeMs: null, approvalRequired: false, ramp: null, ...over },
    { name: 'full', bakeMs: 60 * 60_000, maxBakeMs: null, approvalRequired: false, ramp: null },
  ],
  analysisIntervalMs: 60_000,
  analysisEnabled: false,
  noDataGraceMs: 10 * 60_000,
  maxConsecutiveErrors: 3,
  automaticRollback: true,
  rollbackDrainMs: 5 * 60_000,
  preflight: true,
});

const quiet: Facts = {
  now: T,
  window: { allowed: true },
  channelSlot: { free: true },
  requests: [],
  killSwitch: { engaged: false, mode: 'freeze', reason: '', actor: '', since: null },
};
const inPreflight: RolloutState = { ...initialState(), phase: { kind: 'preflight', since: T, reason: 'pre-flight checks run' }, transitions: 1 };
const passed: PreflightResult = { since: T, result: 'passed', checks: 2 };
const failed: PreflightResult = { since: T, result: 'failed', check: 'sensor-content-v1', reason: 'templates[1].fields: must NOT have more than 20 items (got 21)' };

describe('entering and leaving preflight', () => {
  test('a rollout with checks goes from pending to preflight when it gets the slot, exposing nothing', () => {
    const d = decide(initialState(), quiet, config());
    expect(d.state.phase).toEqual({ kind: 'preflight', since: T, reason: 'pre-flight checks run' });
    expect(d.state.exposedRing).toBe(-1);
    expect(d.transitions.map((t) => [t.from, t.to])).toEqual([['pending', 'preflight']]);
  });

  test('a rollout without checks starts ring 0 exactly as before', () => {
    const d = decide(initialState(), quiet, { ...config(), preflight: false });
    expect(d.state.phase).toEqual({ kind: 'progressing', ring: 0, bakeStartedAt: T });
  });

  test('without a result (or with the result of an older run) it waits', () => {
    expect(decide(inPreflight, { ...quiet, now: plus(30) }, config()).state).toBe(inPreflight);
    expect(decide(inPreflight, { ...quiet, preflight: { ...passed, since: plus(-5) } }, config()).state).toBe(inPreflight);
  });

  test('passed: ring 0 starts; or waits for its window; or for its approval', () => {
    expect(decide(inPreflight, { ...quiet, preflight: passed }, config()).state.phase).toEqual({ kind: 'progressing', ring: 0, bakeStartedAt: T });
    const closed = { allowed: false as const, reasons: [{ kind: 'outside-window', message: 'Sat is outside Mon-Thu 09:00-16:00' }] };
    expect(decide(inPreflight, { ...quiet, window: closed, preflight: passed }, config()).state.phase).toMatchObject({ kind: 'waiting-for-window', ring: 0 });
    expect(decide(inPreflight, { ...quiet, preflight: passed }, config({ approvalRequired: true })).state.phase).toMatchObject({ kind: 'awaiting-approval', ring: 0 });
    const d = decide(inPreflight, { ...quiet, preflight: passed }, config());
    expect(d.transitions[0]?.reason).toBe('pre-flight passed (2 checks); ring canary starts');
  });

  test('failed: the terminal preflight-failed with the check and its message; nothing was exposed', () => {
    const d = decide(inPreflight, { ...quiet, preflight: failed }, config());
    expect(d.state.phase).toEqual({ kind: 'preflight-failed', check: 'sensor-content-v1', reason: 'templates[1].fields: must NOT have more than 20 items (got 21)' });
    expect(d.state.exposedRing).toBe(-1);
    expect(d.actions).toContainEqual({ kind: 'notify', severity: 'warning', message: 'preflight -> preflight-failed: pre-flight check sensor-content-v1 failed: templates[1].fields: must NOT have more than 20 items (got 21)' });
    // Final: later facts and verbs change nothing.
    const after = decide(d.state, { ...quiet, preflight: passed, requests: [{ id: 1, verb: 'resume', actor: 'bob', reason: '' }] }, config());
    expect(after.state).toBe(d.state);
    expect(after.requestOutcomes).toEqual([{ id: 1, applied: false, message: expect.stringMatching(/^the rollout failed its pre-flight check .* \(terminal; no host received it\): .*; fix the artifact and apply it as a new rollout \(new name and version\)$/) }]);
  });
});

describe('the kill switch and the verbs during preflight', () => {
  test('the kill switch holds it (freeze or rollback: nothing is exposed); resume after release runs the checks again', () => {
    for (const mode of ['freeze', 'rollback'] as const) {
      const held = decide(inPreflight, { ...quiet, killSwitch: { engaged: true, mode, reason: 'incident', actor: 'sre', since: T }, preflight: passed }, config());
      expect(held.state.phase.kind).toBe('held');
      expect(held.state.exposedRing).toBe(-1);
      const resumed = decide(held.state, { ...quiet, now: plus(10), requests: [{ id: 2, verb: 'resume', actor: 'sre', reason: '' }] }, config());
      // A new run: its `since` is the resume's decision, so the old run's result cannot count.
      expect(resumed.state.phase).toEqual({ kind: 'preflight', since: plus(10), reason: 'pre-flight checks run' });
    }
  });

  test('abort ends it aborted; pause holds it; approve is refused', () => {
    const verb = (v: 'abort' | 'pause' | 'approve'): Facts => ({ ...quiet, requests: [{ id: 3, verb: v, actor: 'alice', reason: 'test' }] });
    expect(decide(inPreflight, verb('abort'), config()).state.phase.kind).toBe('aborted');
    const paused = decide(inPreflight, verb('pause'), config());
    expect(paused.state.phase.kind).toBe('held');
    expect(paused.requestOutcomes).toEqual([{ id: 3, applied: true, message: 'preflight -> held' }]);
    expect(decide(inPreflight, verb('approve'), config()).requestOutcomes).toEqual([{ id: 3, applied: false, message: expect.stringMatching(/^nothing awaits approval: the rollout is running its pre-flight checks .*; ringctl pause NAME holds it, ringctl abort NAME cancels it$/) }]);
  });
});

describe('phase sets, the channel slot, the manifest and lineage', () => {
  test('every phase is in exactly one of not-started, preflight, in-flight and terminal', () => {
    for (const p of ALL_PHASES) {
      const sets = [NOT_STARTED_PHASES, PREFLIGHT_PHASES, IN_FLIGHT_PHASES, TERMINAL_PHASES].filter((s) => s.has(p));
      expect([p, sets.length]).toEqual([p, 1]);
    }
    expect(TERMINAL_PHASES.has('preflight-failed')).toBe(true);
  });

  test('preflight holds its channel slot: a younger rollout waits; preflight-failed frees it', () => {
    const pre: Phase = { kind: 'preflight', since: T, reason: 'x' };
    expect(holdsChannelSlot(pre)).toBe(true);
    expect(holdsChannelSlot({ kind: 'preflight-failed', reason: 'x', check: 'c' })).toBe(false);
    const self: SlotRollout = { name: 'b', seq: 2, version: '1.0.2', previousVersion: '1.0.0', phase: { kind: 'pending', reason: 'accepted' } };
    const other: SlotRollout = { name: 'a', seq: 1, version: '1.0.1', previousVersion: '1.0.0', phase: pre };
    const lineage = { stableVersion: '1.0.0', withdrawn: [] };
    expect(channelSlot(self, [other], lineage, 1)).toEqual({ free: false, reason: 'waiting for a (maxConcurrentRolloutsPerChannel 1)' });
    expect(channelSlot(self, [], lineage, 1)).toEqual({ free: true });
  });

  test('the manifest never carries a candidate in preflight or preflight-failed', () => {
    const spec = { apiVersion: 'ringmaster.dev/v1alpha1', kind: 'Rollout', metadata: { name: 'r' }, spec: { channel: 'c', version: '1.0.1', previousVersion: '1.0.0', artifact: { url: 'https://x/a', sha256: 'a'.repeat(64) }, rings: [{ name: 'all', percent: 100, bake: '1h' }] } } as Rollout;
    const ks = { engaged: false, mode: 'freeze' as const, reason: '', actor: '', since: null };
    for (const phase of [inPreflight.phase, { kind: 'preflight-failed', reason: 'x', check: 'c' } as Phase]) {
      const m = buildManifestContent('c', [{ name: 'r', spec, state: { ...initialState(), phase }, seq: 1 }], () => undefined, ks, null);
      expect(m.candidates).toEqual([]);
    }
  });

  test('preflight-failed withdraws nothing from the channel lineage', () => {
    const d = decide(inPreflight, { ...quiet, preflight: failed }, config());
    expect(lineageEvents('1.0.1', d.transitions)).toEqual([]);
  });
});
