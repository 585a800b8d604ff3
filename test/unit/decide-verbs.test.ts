/**
 * The verbs of issue 15 in the engine: promote (and promote-full), retry, supersede, and the words of every refusal
 * (verb x phase). Pure: decide() on plain states and facts.
 */
import { decide } from '../../controller/engine/decide';
import { lineageEvents, lineageOfRecord, retryLineage, supersedePlan, undoPlan } from '../../controller/engine/scheduling';
import type { EngineConfig, Facts, Phase, PhaseKind, RequestVerb, RingVerdict, RolloutState } from '../../controller/engine/state';
import { ALL_PHASES, initialState, TERMINAL_PHASES } from '../../controller/engine/state';

const T = '2026-11-30T15:00:00.000Z';
const minus = (min: number) => new Date(Date.parse(T) - min * 60_000).toISOString();

const config: EngineConfig = {
  name: 'sensor-content-7.16.291',
  channel: 'sensor-content',
  rings: [
    { name: 'canary', bakeMs: 30 * 60_000, maxBakeMs: 120 * 60_000, approvalRequired: false, ramp: null },
    { name: '1pct', bakeMs: 60 * 60_000, maxBakeMs: null, approvalRequired: false, ramp: null },
    { name: '10pct', bakeMs: 60 * 60_000, maxBakeMs: null, approvalRequired: true, ramp: null },
    { name: 'full', bakeMs: 60 * 60_000, maxBakeMs: null, approvalRequired: true, ramp: { first: 50, growth: 2 } },
  ],
  analysisIntervalMs: 60_000,
  analysisEnabled: true,
  noDataGraceMs: 10 * 60_000,
  maxConsecutiveErrors: 3,
  automaticRollback: true,
  rollbackDrainMs: 5 * 60_000,
};

const quiet: Facts = {
  now: T,
  window: { allowed: true },
  channelSlot: { free: true },
  requests: [],
  killSwitch: { engaged: false, mode: 'freeze', reason: '', actor: '', since: null },
};
const closed = { allowed: false as const, reasons: [{ kind: 'outside-window', message: 'Sat is outside Mon-Thu 09:00-16:00' }] };
const ask = (verb: RequestVerb, extra: Partial<Facts> = {}): Facts => ({ ...quiet, ...extra, requests: [{ id: 9, verb, actor: 'alice', reason: 'looks fine' }] });
const note = (result: RingVerdict['result'], ring = 1, at = minus(1)) => ({ ring, at, result, reason: result === 'pass' ? 'all metrics pass' : 'not enough evidence: 12 of 50 hosts', metrics: [] });

/** Ring 1 (1pct) wholly exposed, baking for 10 of its 60 minutes. */
function baking(lastVerdict: RolloutState['lastVerdict'], extra: Partial<RolloutState> = {}): RolloutState {
  return { ...initialState(), phase: { kind: 'progressing', ring: 1, bakeStartedAt: minus(10) }, exposedRing: 1, ringStartedAt: minus(10), lastVerdict, ...extra };
}

describe('promote', () => {
  it('ends a bake early on a passing verdict: the next ring starts at once, audited with the actor', () => {
    const d = decide(baking(note('pass')), ask('promote'), config);
    expect(d.state.phase).toMatchObject({ kind: 'awaiting-approval', ring: 2 }); // 10pct requires approval: promote does not give it
    expect(d.requestOutcomes).toEqual([{ id: 9, applied: true, message: 'progressing 1pct -> awaiting-approval 10pct' }]);
    expect(d.transitions[0]).toMatchObject({ actor: 'alice', reason: 'promoted by alice: looks fine' });
  });

  it('refuses on an inconclusive verdict, naming the ring and the verdict', () => {
    const d = decide(baking(note('inconclusive')), ask('promote'), config);
    expect(d.state.phase.kind).toBe('progressing');
    expect(d.transitions).toHaveLength(0);
    expect(d.requestOutcomes[0]).toEqual({
      id: 9,
      applied: false,
      message: "ring 1pct's last verdict is inconclusive (not enough evidence: 12 of 50 hosts); promote never goes past a verdict that is not a pass",
    });
  });

  it('refuses without a verdict taken after the ring was wholly exposed, and when data stopped since the pass', () => {
    expect(decide(baking(null), ask('promote'), config).requestOutcomes[0]?.message).toMatch(/^ring 1pct has no verdict on the wholly exposed ring yet/);
    expect(decide(baking(note('pass', 1, minus(20))), ask('promote'), config).requestOutcomes[0]?.message).toMatch(/no verdict on the wholly exposed ring yet/);
    expect(decide(baking(note('pass'), { noDataSince: minus(1) }), ask('promote'), config).requestOutcomes[0]).toMatchObject({ applied: false, message: expect.stringContaining('pass, but data stopped since') });
  });

  it('a failing verdict in the same decision wins: the ring rolls back, the promote is refused', () => {
    const fail: RingVerdict = { ring: 1, result: 'fail', reason: 'crashes 3.1x baseline', metrics: [], judgeStates: {}, touchedHosts: 100, concern: true };
    const d = decide(baking(note('pass')), ask('promote', { verdict: fail }), { ...config, rings: config.rings.map((r) => ({ ...r, approvalRequired: false })) });
    expect(d.state.phase.kind).toBe('rolling-back');
    expect(d.requestOutcomes[0]?.applied).toBe(false);
  });

  it('without analysis it ends the bake on the human word alone', () => {
    const d = decide(baking(null), ask('promote'), { ...config, analysisEnabled: false });
    expect(d.state.phase).toMatchObject({ kind: 'awaiting-approval', ring: 2 });
  });

  it('never skips the waves of a ramping ring', () => {
    const ramping: RolloutState = { ...baking(note('pass')), phase: { kind: 'progressing', ring: 1, bakeStartedAt: null }, wave: { index: 1, ppm: 100_000, target: 50, ringHosts: 500, since: minus(2), hostsBefore: 0 } };
    const d = decide(ramping, ask('promote'), config);
    expect(d.transitions).toHaveLength(0);
    expect(d.requestOutcomes[0]?.message).toBe('ring 1pct is still ramping in waves; promote ends a bake, it never skips the blast-radius waves: wait until the ring is wholly exposed');
  });

  it('does not bypass the window: a passing ring whose next start is outside it waits', () => {
    const d = decide(baking(note('pass')), ask('promote', { window: closed }), { ...config, rings: config.rings.map((r) => ({ ...r, approvalRequired: false })) });
    expect(d.state.phase).toMatchObject({ kind: 'waiting-for-window', ring: 2 });
    expect(d.state.exposedRing).toBe(1);
    expect(d.requestOutcomes[0]?.message).toBe('progressing 1pct -> waiting-for-window 10pct (the policy window is closed: it starts when the window opens)');
    const waiting: RolloutState = { ...baking(note('pass')), phase: { kind: 'waiting-for-window', ring: 2, reasons: closed.reasons } };
    expect(decide(waiting, ask('promote', { window: closed }), config).requestOutcomes[0]?.message).toMatch(/promote does not bypass the policy window: ring 10pct starts when it opens$/);
  });

  it('is refused while the kill switch is engaged', () => {
    const d = decide(baking(note('pass')), ask('promote', { killSwitch: { engaged: true, mode: 'freeze', reason: 'incident', actor: 'sre', since: T } }), config);
    expect(d.state.phase.kind).toBe('halted');
    expect(d.state.exposedRing).toBe(1);
    expect(d.requestOutcomes[0]?.message).toMatch(/^the kill switch is engaged \(freeze, by sre: incident\): no ring may start/);
  });

  it('of a ring that awaits approval is its approval; after maxBake without a pass it is refused (that is approve)', () => {
    const awaiting: RolloutState = { ...baking(note('pass')), phase: { kind: 'awaiting-approval', ring: 2, reason: 'ring 10pct requires approval', cause: 'approval-required' } };
    const d = decide(awaiting, ask('promote'), config);
    expect(d.state.phase).toMatchObject({ kind: 'progressing', ring: 2 });
    expect(d.state.exposedRing).toBe(2);
    const undecided: RolloutState = { ...awaiting, phase: { kind: 'awaiting-approval', ring: 2, reason: 'ring 1pct reached maxBake without a passing verdict; a human must approve ring 10pct', cause: 'max-bake' } };
    const r = decide(undecided, ask('promote'), config);
    expect(r.transitions).toHaveLength(0);
    expect(r.requestOutcomes[0]?.message).toMatch(/it has no passing verdict, and promote never goes past one; ringctl approve sensor-content-7.16.291 if you accept the undecided ring/);
  });

  it('--full goes to the last ring, approving the gates it skips, and the last ring still ramps and bakes', () => {
    const d = decide(baking(note('pass')), ask('promote-full'), config);
    expect(d.state.phase).toMatchObject({ kind: 'progressing', ring: 3, bakeStartedAt: null });
    expect(d.state.exposedRing).toBe(3);
    expect(d.state.wave).toMatchObject({ index: 0 }); // its census look, then its waves
    expect(d.transitions[0]?.reason).toMatch(/^promoted to full by alice: looks fine \(skips ring 10pct\); ring full starts/);
  });

  it('--full keeps the guards: an inconclusive ring, a closed window for the last ring, a halt', () => {
    expect(decide(baking(note('inconclusive')), ask('promote-full'), config).requestOutcomes[0]?.applied).toBe(false);
    const w = decide(baking(note('pass')), ask('promote-full', { lastRingWindow: closed }), config);
    expect(w.state.phase).toMatchObject({ kind: 'waiting-for-window', ring: 3 });
    expect(w.state.exposedRing).toBe(1);
    const halted: RolloutState = { ...baking(note('pass')), phase: { kind: 'halted', ring: 1, reason: 'no-data', message: 'no data' } };
    expect(decide(halted, ask('promote-full'), config).requestOutcomes[0]?.message).toMatch(/promote never goes past a halt/);
  });

  it('of the last ring on a pass completes the rollout', () => {
    const last: RolloutState = { ...baking(note('pass', 3)), phase: { kind: 'progressing', ring: 3, bakeStartedAt: minus(10) }, exposedRing: 3 };
    expect(decide(last, ask('promote'), config).state.phase.kind).toBe('succeeded');
  });
});

describe('retry', () => {
  const ok = { retry: { ok: true as const } };

  it('of a halted rollout restarts the failed ring with a fresh bake and fresh evidence', () => {
    const halted: RolloutState = { ...baking(note('inconclusive')), phase: { kind: 'halted', ring: 1, reason: 'provider-error', message: 'prometheus down' }, consecutiveErrors: 5 };
    const d = decide(halted, ask('retry'), config);
    expect(d.state.phase).toMatchObject({ kind: 'progressing', ring: 1, bakeStartedAt: T });
    expect(d.state).toMatchObject({ exposedRing: 1, lastVerdict: null, consecutiveErrors: 0, ringStartedAt: T });
  });

  it('of an aborted rollout goes back to pending with nothing exposed, when its channel allows it', () => {
    const aborted: RolloutState = { ...initialState(), phase: { kind: 'aborted', reason: 'abort by bob', cause: 'request' }, transitions: 9, lastVerdict: note('pass') };
    const d = decide(aborted, ask('retry', ok), config);
    expect(d.state.phase).toMatchObject({ kind: 'pending' });
    expect(d.state).toMatchObject({ exposedRing: -1, lastVerdict: null, transitions: 10 });
    expect(d.requestOutcomes[0]).toEqual({ id: 9, applied: true, message: 'aborted -> pending (starts again from ring canary when its channel lets it)' });
    // The channel's lineage hears of it: the version is no longer withdrawn.
    expect(lineageEvents('7.16.291', d.transitions)).toEqual([expect.objectContaining({ event: 'retried', version: '7.16.291' })]);
  });

  it('of an aborted rollout is refused when the channel does not allow it, with the reason', () => {
    const aborted: RolloutState = { ...initialState(), phase: { kind: 'aborted', reason: 'abort by bob', cause: 'request' } };
    const d = decide(aborted, ask('retry', { retry: { ok: false, reason: 'the channel has b (progressing)' } }), config);
    expect(d.state).toBe(aborted);
    expect(d.requestOutcomes[0]?.message).toBe('sensor-content-7.16.291 was aborted (terminal): abort by bob; it cannot run again: the channel has b (progressing)');
  });

  it('of a rollout rolled back by a failing verdict is refused for good; after the kill switch it is allowed', () => {
    const failed: RolloutState = { ...initialState(), phase: { kind: 'rolled-back', reason: 'ring canary failed analysis', cause: 'analysis-failed' } };
    expect(decide(failed, ask('retry', ok), config).requestOutcomes[0]?.message).toBe(
      'sensor-content-7.16.291 was rolled back (terminal): ring canary failed analysis; its version failed analysis and is withdrawn from channel sensor-content for good: give the fix a new version and apply it',
    );
    const killed: RolloutState = { ...initialState(), phase: { kind: 'rolled-back', reason: 'kill switch engaged', cause: 'kill-switch' } };
    expect(decide(killed, ask('retry', ok), config).state.phase.kind).toBe('pending');
  });

  it('is refused while the kill switch is engaged', () => {
    const aborted: RolloutState = { ...initialState(), phase: { kind: 'aborted', reason: 'x', cause: 'request' } };
    const d = decide(aborted, ask('retry', { ...ok, killSwitch: { engaged: true, mode: 'freeze', reason: 'incident', actor: 'sre', since: T } }), config);
    expect(d.state).toBe(aborted);
    expect(d.requestOutcomes[0]?.message).toMatch(/kill switch is engaged/);
  });
});

describe('supersede (the old rollout of apply --supersede)', () => {
  it('withdraws the candidate like rollback, with the cause superseded (which retry refuses)', () => {
    const d = decide(baking(note('pass')), ask('supersede'), config);
    expect(d.state.phase).toMatchObject({ kind: 'rolling-back', cause: 'superseded', end: 'rolled-back' });
    expect(d.state.exposedRing).toBe(-1);
    const drained = decide(d.state, { ...quiet, now: new Date(Date.parse(T) + 6 * 60_000).toISOString() }, config);
    expect(drained.state.phase).toMatchObject({ kind: 'rolled-back', cause: 'superseded' });
    expect(decide(drained.state, ask('retry', { retry: { ok: true } }), config).requestOutcomes[0]?.applied).toBe(false);
  });
});

describe('every refusal says what state the rollout is in and what to do', () => {
  const phases: Record<PhaseKind, Phase> = {
    pending: { kind: 'pending', reason: 'queued behind a' },
    blocked: { kind: 'blocked', reason: 'blocked: the channel runs 1.0.0', stableVersion: '1.0.0', expectedVersion: '1.0.1' },
    held: { kind: 'held', reason: 'kill switch engaged' },
    preflight: { kind: 'preflight', since: minus(1), reason: 'pre-flight checks run' },
    'preflight-failed': { kind: 'preflight-failed', reason: 'bad', check: 'shape' },
    'waiting-for-window': { kind: 'waiting-for-window', ring: 2, reasons: closed.reasons },
    progressing: { kind: 'progressing', ring: 1, bakeStartedAt: minus(10) },
    'awaiting-approval': { kind: 'awaiting-approval', ring: 2, reason: 'ring 10pct requires approval', cause: 'approval-required' },
    paused: { kind: 'paused', from: { kind: 'progressing', ring: 1, bakeStartedAt: minus(10) }, reason: 'by hand' },
    halted: { kind: 'halted', ring: 1, reason: 'no-data', message: 'no data' },
    'rolling-back': { kind: 'rolling-back', since: minus(1), reason: 'rollback by bob', end: 'rolled-back', cause: 'request' },
    'rolled-back': { kind: 'rolled-back', reason: 'rollback by bob', cause: 'request' },
    succeeded: { kind: 'succeeded' },
    aborted: { kind: 'aborted', reason: 'abort by bob', cause: 'request' },
  };
  const verbs: RequestVerb[] = ['pause', 'resume', 'approve', 'abort', 'rollback', 'promote', 'promote-full', 'retry'];
  const cases = ALL_PHASES.flatMap((k) => verbs.map((v) => [k, v] as const));

  it.each(cases)('%s + %s: applied, or refused in words', (kind, verb) => {
    const state: RolloutState = { ...baking(note('inconclusive')), phase: phases[kind], exposedRing: TERMINAL_PHASES.has(kind) || kind === 'pending' || kind === 'blocked' || kind === 'held' || kind === 'preflight' || kind === 'rolling-back' ? -1 : 1 };
    const d = decide(state, ask(verb), config);
    const o = d.requestOutcomes[0];
    expect(o).toBeDefined();
    if (o?.applied) return;
    // A sentence naming the state (the rollout's name or its ring), never the old bare phase names.
    expect(o?.message).toMatch(/sensor-content-7\.16\.291|ring (canary|1pct|10pct|full)|kill switch/);
    expect(o?.message).not.toMatch(/^(rollout already|cannot \w+ a rollout that is|nothing to approve: rollout is|not applied)/);
    if (TERMINAL_PHASES.has(kind)) expect(o?.message).toContain('(terminal');
  });

  // The phase after one decision, per phase (row) and verb (column: promote, promote-full, retry with the channel
  // allowing it). The rollout's last verdict is inconclusive: promote of an exposed ring is refused; the awaited ring's
  // approval (approval-required) is given by either promote; the rest is the phase's own step.
  const P = 'progressing';
  const after: Record<PhaseKind, [string, string, string]> = {
    pending: [P, P, P],
    blocked: [P, P, P],
    held: ['held', 'held', 'held'],
    preflight: ['preflight', 'preflight', 'preflight'],
    'preflight-failed': ['preflight-failed', 'preflight-failed', 'preflight-failed'],
    'waiting-for-window': [P, P, P], // the window fact is open in these columns: the wait ends by itself
    progressing: [P, P, P],
    'awaiting-approval': [P, P, 'awaiting-approval'],
    paused: ['paused', 'paused', 'paused'],
    halted: ['halted', 'halted', P],
    'rolling-back': ['rolling-back', 'rolling-back', 'rolling-back'],
    'rolled-back': ['rolled-back', 'rolled-back', 'pending'],
    succeeded: ['succeeded', 'succeeded', 'succeeded'],
    aborted: ['aborted', 'aborted', 'pending'],
  };
  const table = ALL_PHASES.flatMap((k) => (['promote', 'promote-full', 'retry'] as const).map((v, i) => [k, v, after[k][i]] as const));
  it.each(table)('%s + %s -> %s', (kind, verb, want) => {
    const exposed = TERMINAL_PHASES.has(kind) || ['pending', 'blocked', 'held', 'preflight', 'rolling-back'].includes(kind) ? -1 : 1;
    const state: RolloutState = { ...baking(note('inconclusive')), phase: phases[kind], exposedRing: exposed };
    const d = decide(state, ask(verb, { retry: { ok: true } }), config);
    expect(d.state.phase.kind).toBe(want);
    if (kind === 'awaiting-approval' && verb !== 'retry') expect(d.state.phase).toMatchObject({ ring: verb === 'promote' ? 2 : 3 });
  });

  it('resume on a rolled-back rollout says it was rolled back and what to do', () => {
    const d = decide({ ...initialState(), phase: phases['rolled-back'] }, ask('resume'), config);
    expect(d.requestOutcomes[0]?.message).toBe('sensor-content-7.16.291 was rolled back (terminal): rollback by bob; apply a new version, or ringctl retry sensor-content-7.16.291 to run it again from the first ring');
  });
});

describe('lineage rules of the verbs (engine/scheduling)', () => {
  const lineage = { stableVersion: '1.0.0', withdrawn: [{ version: '1.0.1', event: 'aborted' as const, rollout: 'a', at: T }] };
  const self = { name: 'a', seq: 1, version: '1.0.1', previousVersion: '1.0.0', phase: { kind: 'aborted', reason: 'x' } as Phase };

  it('retry: allowed on the stable version with nothing else on the channel; refused otherwise', () => {
    expect(retryLineage(self, [], lineage)).toEqual({ ok: true });
    expect(retryLineage(self, [], { ...lineage, stableVersion: '1.0.2' })).toMatchObject({ ok: false, reason: expect.stringContaining('the channel now runs 1.0.2') });
    expect(retryLineage(self, [{ ...self, name: 'b', seq: 2, version: '1.0.2', phase: { kind: 'pending', reason: '' } }], lineage)).toMatchObject({ ok: false, reason: expect.stringContaining('b (pending)') });
  });

  it('a retried version is no longer withdrawn, and is again once withdrawn again', () => {
    const history = [
      { version: '1.0.0', event: 'initial', rollout: 'a', at: T },
      { version: '1.0.1', event: 'aborted', rollout: 'a', at: T },
      { version: '1.0.1', event: 'retried', rollout: 'a', at: T },
    ];
    expect(lineageOfRecord({ stable: { version: '1.0.0' }, history }).withdrawn).toEqual([]);
    expect(lineageOfRecord({ stable: { version: '1.0.0' }, history: [...history, { version: '1.0.1', event: 'rolled-back', rollout: 'a', at: T }] }).withdrawn).toHaveLength(1);
  });

  it('supersede: builds on the stable version, withdraws the slot holders', () => {
    const flying = [{ name: 'a', seq: 1, version: '1.0.1', previousVersion: '1.0.0', phase: { kind: 'progressing', ring: 0, bakeStartedAt: T } as Phase }];
    expect(supersedePlan('c', '1.0.2', '1.0.0', { stableVersion: '1.0.0', withdrawn: [] }, flying)).toEqual({ ok: true, withdraw: ['a'] });
    expect(supersedePlan('c', '1.0.2', '1.0.1', { stableVersion: '1.0.0', withdrawn: [] }, flying)).toEqual({
      ok: false,
      message: '--supersede: the new rollout must build on what channel c runs: 1.0.1 is the candidate it replaces (a), which was never stable; set previousVersion: 1.0.0',
    });
  });

  it('undo: only to a version that was stable on the channel, with nothing in flight', () => {
    const rec = {
      stableVersion: '1.0.2',
      stableRollout: 'r2',
      history: [
        { version: '1.0.0', event: 'initial', rollout: 'r1' },
        { version: '1.0.1', event: 'stable', rollout: 'r1' },
        { version: '1.0.5', event: 'rolled-back', rollout: 'r5' },
        { version: '1.0.2', event: 'stable', rollout: 'r2' },
      ],
    };
    expect(undoPlan('c', '1.0.1', rec, [])).toEqual({ ok: true, artifactFrom: { rollout: 'r1', field: 'artifact' }, ringsFrom: 'r2' });
    expect(undoPlan('c', '1.0.0', rec, [])).toEqual({ ok: true, artifactFrom: { rollout: 'r1', field: 'previousArtifact' }, ringsFrom: 'r2' });
    expect(undoPlan('c', '1.0.5', rec, [])).toMatchObject({ ok: false, status: 422, message: '1.0.5 was never stable on channel c; undo goes back to an earlier stable version (1.0.0, 1.0.1)' });
    expect(undoPlan('c', '1.0.2', rec, [])).toMatchObject({ ok: false, status: 409 });
    expect(undoPlan('c', '1.0.1', rec, [{ name: 'r3', seq: 3, version: '1.0.3', previousVersion: '1.0.2', phase: { kind: 'pending', reason: '' } }])).toMatchObject({ ok: false, status: 409, message: expect.stringContaining('r3 (pending)') });
  });
});
