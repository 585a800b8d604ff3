import { decide, ringAwaitingStart } from '../../controller/engine/decide';
import type { EngineConfig, Facts, Phase, PhaseKind, RingVerdict, RolloutState } from '../../controller/engine/state';
import { ALL_PHASES, initialState } from '../../controller/engine/state';

const T = '2026-11-30T15:00:00.000Z';
const minus = (min: number) => new Date(Date.parse(T) - min * 60_000).toISOString();
const plus = (min: number) => new Date(Date.parse(T) + min * 60_000).toISOString();

const config: EngineConfig = {
  rings: [
    // No ramp here: this table is about phases; the waves are tested in ramp.test.ts.
    { name: 'canary', bakeMs: 30 * 60_000, maxBakeMs: 120 * 60_000, approvalRequired: false, ramp: null },
    { name: 'broad', bakeMs: 60 * 60_000, maxBakeMs: null, approvalRequired: true, ramp: null },
    { name: 'full', bakeMs: 60 * 60_000, maxBakeMs: null, approvalRequired: false, ramp: null },
  ],
  analysisIntervalMs: 60_000,
  analysisEnabled: true,
  noDataGraceMs: 10 * 60_000,
  maxConsecutiveErrors: 3,
  automaticRollback: true,
  rollbackDrainMs: 5 * 60_000,
};

const progressing0: Phase = { kind: 'progressing', ring: 0, bakeStartedAt: minus(40) };

/** One representative state per phase. Ring 0 (canary) is exposed wherever the phase implies it. */
const states: Record<PhaseKind, RolloutState> = {
  pending: initialState(),
  blocked: { ...initialState(), phase: { kind: 'blocked', reason: 'blocked: the channel runs 1.0.0, this rollout expects 1.0.1', stableVersion: '1.0.0', expectedVersion: '1.0.1' } },
  held: { ...initialState(), phase: { kind: 'held', reason: 'kill switch engaged' } },
  preflight: { ...initialState(), phase: { kind: 'preflight', since: minus(1), reason: 'pre-flight checks run' } },
  'preflight-failed': { ...initialState(), phase: { kind: 'preflight-failed', reason: 'templates[0].fields: must NOT have more than 20 items', check: 'shape' } },
  'waiting-for-window': { ...initialState(), phase: { kind: 'waiting-for-window', ring: 0, reasons: [] } },
  progressing: { ...initialState(), phase: progressing0, exposedRing: 0, ringStartedAt: minus(40) },
  'awaiting-approval': { ...initialState(), phase: { kind: 'awaiting-approval', ring: 1, reason: 'ring broad requires approval', cause: 'approval-required' }, exposedRing: 0, ringStartedAt: minus(40) },
  paused: { ...initialState(), phase: { kind: 'paused', from: progressing0, reason: 'by hand' }, exposedRing: 0, ringStartedAt: minus(40) },
  halted: { ...initialState(), phase: { kind: 'halted', ring: 0, reason: 'analysis-failed', message: 'stop' }, exposedRing: 0, ringStartedAt: minus(40) },
  'rolling-back': { ...initialState(), phase: { kind: 'rolling-back', since: minus(1), reason: 'r', end: 'rolled-back' } },
  'rolled-back': { ...initialState(), phase: { kind: 'rolled-back', reason: 'r' } },
  succeeded: { ...initialState(), phase: { kind: 'succeeded' }, exposedRing: 2 },
  aborted: { ...initialState(), phase: { kind: 'aborted', reason: 'r' } },
};

const quiet: Facts = {
  now: T,
  window: { allowed: true },
  channelSlot: { free: true },
  requests: [],
  killSwitch: { engaged: false, mode: 'freeze', reason: '', actor: '', since: null },
};
const verdict = (result: RingVerdict['result'], noData = false): RingVerdict => ({ ring: 0, result, reason: `judge said ${result}`, noData, metrics: [], judgeStates: {}, touchedHosts: null, concern: false });
const req = (verb: 'pause' | 'resume' | 'approve' | 'abort' | 'rollback') => [{ id: 7, verb, actor: 'alice', reason: 'test' }];
const closed = { allowed: false as const, reasons: [{ kind: 'outside-window', message: 'Sat is outside Mon-Thu 09:00-16:00' }] };

const columns: Record<string, Facts> = {
  quiet,
  'window closed': { ...quiet, window: closed },
  'channel busy': { ...quiet, channelSlot: { free: false, reason: 'rollout other holds channel' } },
  'verdict pass': { ...quiet, verdict: verdict('pass') },
  'verdict fail': { ...quiet, verdict: verdict('fail') },
  'verdict error': { ...quiet, verdict: verdict('error') },
  'verdict no-data': { ...quiet, verdict: verdict('inconclusive', true) },
  pause: { ...quiet, requests: req('pause') },
  resume: { ...quiet, requests: req('resume') },
  approve: { ...quiet, requests: req('approve') },
  abort: { ...quiet, requests: req('abort') },
  rollback: { ...quiet, requests: req('rollback') },
  'kill freeze': { ...quiet, killSwitch: { engaged: true, mode: 'freeze', reason: 'incident', actor: 'sre', since: T } },
  'kill rollback': { ...quiet, killSwitch: { engaged: true, mode: 'rollback', reason: 'incident', actor: 'sre', since: T } },
  'window closed + abort': { ...quiet, window: closed, requests: req('abort') },
  'window closed + kill rollback': { ...quiet, window: closed, killSwitch: { engaged: true, mode: 'rollback', reason: 'incident', actor: 'sre', since: T } },
  'lineage blocked': { ...quiet, channelSlot: { free: false, blocked: true, reason: 'blocked: the channel runs 1.0.0, this rollout expects 1.0.2', stableVersion: '1.0.0', expectedVersion: '1.0.2' } },
};

// Expected phase after one decision, per phase (row) and fact (column), in the column order above.
const P = 'progressing', W = 'waiting-for-window', A = 'awaiting-approval', H = 'halted', RB = 'rolling-back';
const expected: Record<PhaseKind, string[]> = {
  //                     quiet closed busy pass  fail  error nodata pause   resume approve abort      rollback      kfreeze  krollback  closed+abort closed+krb  lineage-blocked
  pending:              [P, W, 'pending', P, P, P, P, P, P, P, 'aborted', 'rolled-back', 'held', 'held', 'aborted', 'held', 'blocked'],
  blocked:              [P, W, 'pending', P, P, P, P, P, P, P, 'aborted', 'rolled-back', 'held', 'held', 'aborted', 'held', 'blocked'],
  held:                 ['held', 'held', 'held', 'held', 'held', 'held', 'held', 'held', P, 'held', 'aborted', 'rolled-back', 'held', 'held', 'aborted', 'held', 'held'],
  // No result of its checks in these columns (test/unit/preflight-decide.test.ts has those): it waits, holding its slot.
  preflight:            ['preflight', 'preflight', 'preflight', 'preflight', 'preflight', 'preflight', 'preflight', 'held', 'preflight', 'preflight', 'aborted', 'rolled-back', 'held', 'held', 'aborted', 'held', 'preflight'],
  'preflight-failed':   Array(17).fill('preflight-failed'),
  'waiting-for-window': [P, W, P, P, P, P, P, 'paused', P, P, 'aborted', 'rolled-back', H, H, 'aborted', H, P],
  progressing:          [P, P, P, A, RB, P, P, 'paused', P, P, RB, RB, H, RB, RB, RB, P],
  'awaiting-approval':  [A, A, A, A, RB, A, A, 'paused', A, P, RB, RB, H, RB, RB, RB, A],
  paused:               ['paused', 'paused', 'paused', 'paused', RB, 'paused', 'paused', 'paused', P, 'paused', RB, RB, H, RB, RB, RB, 'paused'],
  halted:               [H, H, H, H, RB, H, H, H, P, H, RB, RB, H, RB, RB, RB, H],
  'rolling-back':       [RB, RB, RB, RB, RB, RB, RB, RB, RB, RB, RB, RB, RB, RB, RB, RB, RB],
  'rolled-back':        Array(17).fill('rolled-back'),
  succeeded:            Array(17).fill('succeeded'),
  aborted:              Array(17).fill('aborted'),
};

describe('decide: every phase x fact', () => {
  const cases: Array<[PhaseKind, string, string]> = [];
  for (const phase of ALL_PHASES) {
    Object.keys(columns).forEach((col, i) => cases.push([phase, col, expected[phase][i] as string]));
  }
  it('covers all phases and columns', () => {
    expect(Object.keys(expected).sort()).toEqual([...ALL_PHASES].sort());
    for (const row of Object.values(expected)) expect(row).toHaveLength(Object.keys(columns).length);
  });
  it.each(cases)('%s + %s -> %s', (phase, col, want) => {
    const d = decide(states[phase], columns[col] as Facts, config);
    expect(d.state.phase.kind).toBe(want);
    // Every transition carries a reason and an increasing number.
    d.transitions.forEach((t, i) => {
      expect(t.reason.length).toBeGreaterThan(0);
      expect(t.n).toBe(states[phase].transitions + i + 1);
    });
    if (d.transitions.length > 0) expect(d.actions).toContainEqual({ kind: 'publish-manifest' });
    else expect(d.state.transitions).toBe(states[phase].transitions);
  });
});

describe('decide: behaviours', () => {
  it('a ring with no analysis advances on bake time alone', () => {
    const cfg = { ...config, analysisEnabled: false, rings: config.rings.map((r) => ({ ...r, approvalRequired: false })) };
    const d = decide(states.progressing, quiet, cfg);
    expect(d.state.phase).toEqual({ kind: 'progressing', ring: 1, bakeStartedAt: T });
    expect(d.state.exposedRing).toBe(1);
  });

  it('a ring does not advance before its bake ends, even on a pass', () => {
    const s: RolloutState = { ...states.progressing, phase: { kind: 'progressing', ring: 0, bakeStartedAt: minus(10) } };
    expect(decide(s, { ...quiet, verdict: verdict('pass') }, config).state.phase.kind).toBe('progressing');
  });

  it('inconclusive (not enough evidence yet) never advances, and maxBake hands over to a human', () => {
    const s: RolloutState = { ...states.progressing, phase: { kind: 'progressing', ring: 0, bakeStartedAt: minus(121) } };
    const d = decide(s, { ...quiet, verdict: verdict('inconclusive') }, config);
    expect(d.state.phase).toMatchObject({ kind: 'awaiting-approval', ring: 1 });
    expect(d.state.exposedRing).toBe(0);
    const approved = decide(d.state, { ...quiet, now: plus(1), requests: req('approve') }, config);
    expect(approved.state.phase).toMatchObject({ kind: 'progressing', ring: 1 });
  });

  it('no data for the grace period halts with reason no-data (and never advances meanwhile)', () => {
    let s = states.progressing;
    for (let m = 0; m < 10; m++) {
      s = decide(s, { ...quiet, now: plus(m), verdict: verdict('inconclusive', true) }, config).state;
      expect(s.phase.kind).toBe('progressing');
    }
    s = decide(s, { ...quiet, now: plus(10), verdict: verdict('inconclusive', true) }, config).state;
    expect(s.phase).toMatchObject({ kind: 'halted', reason: 'no-data' });
  });

  it('a pass after no-data clears the no-data clock', () => {
    let s = decide(states.progressing, { ...quiet, verdict: verdict('inconclusive', true) }, config).state;
    expect(s.noDataSince).toBe(T);
    s = decide(s, { ...quiet, now: plus(1), verdict: verdict('pass') }, config).state;
    expect(s.noDataSince).toBeNull();
  });

  it('N consecutive provider errors halt with reason provider-error', () => {
    let s = states.progressing;
    s = decide(s, { ...quiet, verdict: verdict('error') }, config).state;
    s = decide(s, { ...quiet, now: plus(1), verdict: verdict('error') }, config).state;
    expect(s.phase.kind).toBe('progressing');
    s = decide(s, { ...quiet, now: plus(2), verdict: verdict('error') }, config).state;
    expect(s.phase).toMatchObject({ kind: 'halted', reason: 'provider-error' });
  });

  it('a failing ring without automatic rollback halts with analysis-failed and keeps exposure frozen', () => {
    const d = decide(states.progressing, { ...quiet, verdict: verdict('fail') }, { ...config, automaticRollback: false });
    expect(d.state.phase).toMatchObject({ kind: 'halted', reason: 'analysis-failed' });
    expect(d.state.exposedRing).toBe(0);
  });

  it('a rollback withdraws the candidate at once and completes after the drain period', () => {
    const d = decide(states.progressing, { ...quiet, verdict: verdict('fail') }, config);
    expect(d.state.exposedRing).toBe(-1);
    expect(decide(d.state, { ...quiet, now: plus(4) }, config).state.phase.kind).toBe('rolling-back');
    expect(decide(d.state, { ...quiet, now: plus(5) }, config).state.phase).toMatchObject({ kind: 'rolled-back' });
  });

  it('abort ends as aborted, rollback as rolled-back', () => {
    const a = decide(states.progressing, { ...quiet, requests: req('abort') }, config);
    expect(decide(a.state, { ...quiet, now: plus(6) }, config).state.phase.kind).toBe('aborted');
    const r = decide(states.progressing, { ...quiet, requests: req('rollback') }, config);
    expect(decide(r.state, { ...quiet, now: plus(6) }, config).state.phase.kind).toBe('rolled-back');
  });

  it('passing the last ring succeeds', () => {
    const s: RolloutState = { ...states.progressing, phase: { kind: 'progressing', ring: 2, bakeStartedAt: minus(61) }, exposedRing: 2 };
    expect(decide(s, { ...quiet, verdict: { ...verdict('pass'), ring: 2 } }, config).state.phase.kind).toBe('succeeded');
  });

  it('a passed ring whose next start is outside the window waits with exposure kept', () => {
    const cfg = { ...config, rings: config.rings.map((r) => ({ ...r, approvalRequired: false })) };
    const d = decide(states.progressing, { ...quiet, window: closed, verdict: verdict('pass') }, cfg);
    expect(d.state.phase).toMatchObject({ kind: 'waiting-for-window', ring: 1 });
    expect(d.state.exposedRing).toBe(0);
    expect(d.transitions[0]?.reason).toContain('outside Mon-Thu');
  });

  it('a waiting rollout keeps its state while only the clock in the reason moves, and refreshes when the wait changes', () => {
    const at = (clock: string) => ({ allowed: false, reasons: [{ kind: 'outside-window', message: `${clock} America/New_York is outside the allowed windows` }] });
    const waiting: RolloutState = { ...states.pending, phase: { kind: 'waiting-for-window', ring: 0, reasons: at('Sun 23:00').reasons } };
    // A minute later: the same wait. No new state (and so no new revision in the store).
    expect(decide(waiting, { ...quiet, window: at('Sun 23:01') }, config).state).toEqual(waiting);
    // A freeze began: that is news.
    const frozen = { allowed: false, reasons: [{ kind: 'freeze', message: 'year-end freeze until 2027-01-04T09:00:00-05:00' }, ...at('Sun 23:02').reasons] };
    const d = decide(waiting, { ...quiet, window: frozen }, config);
    expect(d.state.phase).toEqual({ kind: 'waiting-for-window', ring: 0, reasons: frozen.reasons });
    expect(d.transitions).toHaveLength(0);
    // Another freeze with another end is news too.
    const other = { allowed: false, reasons: [{ kind: 'freeze', message: 'change freeze until 2027-02-01T09:00:00-05:00' }, ...at('Sun 23:03').reasons] };
    expect(decide(d.state, { ...quiet, window: other }, config).state.phase).toEqual({ kind: 'waiting-for-window', ring: 0, reasons: other.reasons });
  });

  it('denied requests are reported with a reason and change nothing', () => {
    const d = decide(states.halted, { ...quiet, requests: req('approve') }, config);
    expect(d.requestOutcomes).toEqual([{ id: 7, applied: false, message: 'nothing awaits approval: the rollout is halted in ring canary (analysis-failed: stop); ringctl resume NAME (or retry) restarts ring canary with fresh evidence, ringctl rollback NAME withdraws it' }]);
    expect(d.transitions).toHaveLength(0);
  });

  it('resume is refused while the kill switch is engaged', () => {
    const d = decide(states.halted, { ...columns['kill freeze'] as Facts, requests: req('resume') }, config);
    expect(d.state.phase.kind).toBe('halted');
    expect(d.requestOutcomes[0]).toMatchObject({ applied: false });
  });

  it('ringAwaitingStart names the ring whose window matters', () => {
    expect(ringAwaitingStart(states.pending)).toBe(0);
    // A held or blocked rollout goes to ring 0's gates in the decision that frees it: the window must be known then.
    expect(ringAwaitingStart(states.held)).toBe(0);
    expect(ringAwaitingStart(states.blocked)).toBe(0);
    expect(ringAwaitingStart(states.progressing)).toBe(1);
    expect(ringAwaitingStart(states['awaiting-approval'])).toBe(1);
    expect(ringAwaitingStart(states.halted)).toBeUndefined();
  });

  it('decide is pure: the input state is not mutated', () => {
    const before = JSON.stringify(states.progressing);
    decide(states.progressing, { ...quiet, verdict: verdict('fail') }, config);
    expect(JSON.stringify(states.progressing)).toBe(before);
  });
});
