/**
 * make soak, quick: parts 1 and 2 of the soak (bench/soak/) at small sizes, so that `make test` catches a break
 * of what the soak checks: a real `ringmaster serve` killed with SIGKILL while rollouts progress loses,
 * duplicates and skips no transition, the audit chain verifies after every restart, every rollout ends in a
 * terminal phase; malformed inputs get no 5xx, no stack trace, and change nothing. Part 3 (wrk, 20,000 req/s)
 * is a benchmark and stays in `make soak` only.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { readConfig } from '../../bench/soak/config';
import { runFuzzSoak } from '../../bench/soak/fuzz-soak';
import { checkStore, Seen, type Op } from '../../bench/soak/invariants';
import { runKillSoak } from '../../bench/soak/kill-soak';
import { planRollout, type RolloutPlan } from '../../bench/soak/rollouts';
import { cleanupAll } from '../../bench/soak/sandbox';
import { diffTables, type StoreView, type TransitionRow } from '../../bench/soak/store-view';
import { rng } from '../helpers/api-fuzz';
import { ensureBuilt } from '../helpers/build';

const cfg = readConfig({ SOAK_SEED: '20261202', SOAK_KILLS: '6', SOAK_ACTIVE: '4', SOAK_INPUTS: '300' }, path.join(os.tmpdir(), 'soak-quick.json'));
const quiet = (): void => undefined;

// ------------------------------------------------------------------------------------------ the checks can fail

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
/** 4 rings of 1 s, approval on ring 2 (broad). */
const plan: RolloutPlan = planRollout(rng(1), 'r1', 'ch1', { kind: 'approval', approvalRing: 2, bakesMs: [1000, 1000, 1000, 1000] });
const tr = (n: number, ms: number, from: string, to: string, exposedRing: number, actor = 'controller', reason = 'x'): TransitionRow => ({ rollout: 'r1', n, at: at(ms), from, to, exposedRing, reason, actor });
const healthy: TransitionRow[] = [
  tr(1, 0, 'pending', 'progressing', 0),
  tr(2, 1000, 'progressing', 'progressing', 1),
  tr(3, 2000, 'progressing', 'awaiting-approval', 1),
  tr(4, 2500, 'awaiting-approval', 'progressing', 2, 'soak-approver', 'approve by soak-approver: soak t1-1; ring broad starts'),
  tr(5, 3500, 'progressing', 'progressing', 3),
  tr(6, 4500, 'progressing', 'succeeded', 3),
];
const view = (transitions: TransitionRow[], audit: StoreView['audit'] = []): StoreView => ({
  phases: new Map([['r1', transitions[transitions.length - 1]?.to ?? 'pending']]),
  transitions: new Map([['r1', transitions]]),
  audit,
  killSwitch: { engaged: false, mode: 'freeze' },
});
const approve: Op = { id: 1, kind: 'verb', rollout: 'r1', verb: 'approve', reason: 'soak t1-1', tag: 't1-1', actor: 'soak-approver', cycle: 1, sentAt: T0, status: 200, applied: true };
const requested = { id: 9, actor: 'soak-approver', action: 'request.approve', target: 'r1', reason: 'soak t1-1', hash: 'h9' };
const kinds = (v: StoreView, seen = new Seen(), ops: Op[] = [approve]): string[] => checkStore(v, seen, ops, new Map([['r1', plan]])).map((x) => x.kind);

describe('the soak checks catch what they look for', () => {
  test('a healthy history with its acknowledged approve passes', () => {
    expect(kinds(view(healthy, [requested]))).toEqual([]);
  });
  test('a transition that was in the store and is gone is lost', () => {
    const seen = new Seen();
    seen.add(view(healthy, [requested]));
    expect(kinds(view(healthy.slice(0, 5), [requested]), seen)).toContain('lost');
  });
  test('a gap in the numbering is lost, a repeated number duplicated', () => {
    expect(kinds(view([healthy[0], { ...(healthy[2] as TransitionRow), n: 3 }] as TransitionRow[], [requested]))).toContain('lost');
    expect(kinds(view([healthy[0], { ...(healthy[1] as TransitionRow), n: 1 }] as TransitionRow[], [requested]))).toContain('duplicated');
  });
  test('an acknowledged verb missing from the audit log is lost; recorded twice is duplicated; applied after a 409 is phantom', () => {
    expect(kinds(view(healthy, []))).toContain('lost');
    expect(kinds(view(healthy, [requested, { ...requested, id: 10 }]))).toContain('duplicated');
    expect(kinds(view(healthy, [requested]), new Seen(), [{ ...approve, status: 409, applied: false }])).toContain('phantom');
  });
  test('an applied verb without its transition is lost', () => {
    const noApproval = healthy.map((t) => (t.n === 4 ? { ...t, reason: 'something else' } : t));
    expect(kinds(view(noApproval, [requested]))).toEqual(['lost']);
  });
  test('a jump of two rings, an unbaked ring, an approval ring started by the controller and an early success are skipped', () => {
    expect(kinds(view([tr(1, 0, 'pending', 'progressing', 1)]))).toContain('skipped');
    expect(kinds(view([tr(1, 0, 'pending', 'progressing', 0), tr(2, 999, 'progressing', 'progressing', 1)]))).toContain('skipped');
    const unapproved = healthy.map((t) => (t.n === 4 ? { ...t, actor: 'controller' } : t));
    expect(kinds(view(unapproved, [requested]))).toContain('skipped');
    expect(kinds(view([tr(1, 0, 'pending', 'progressing', 0), tr(2, 1000, 'progressing', 'succeeded', 0)]))).toContain('skipped');
  });
  test('a ring started twice is duplicated', () => {
    const twice = [tr(1, 0, 'pending', 'progressing', 0), tr(2, 500, 'progressing', 'halted', -1), tr(3, 600, 'halted', 'progressing', 0)];
    expect(kinds(view(twice))).toContain('duplicated');
  });
  test('a changed row is a state change', () => {
    expect(diffTables({ rollouts: ['{"a":1}'] }, { rollouts: ['{"a":2}'] })).toHaveLength(1);
    expect(diffTables({ rollouts: ['{"a":1}'] }, { rollouts: ['{"a":1}'] })).toEqual([]);
  });
});

describe('make soak, quick (6 kills, 300 malformed inputs)', () => {
  beforeAll(() => ensureBuilt());
  afterAll(() => {
    cleanupAll();
  });

  test('6 SIGKILLs (one of each kind) while rollouts progress: nothing lost, duplicated or skipped, the chain verifies, every rollout ends, SIGTERM exits', async () => {
    const k = await runKillSoak(cfg, quiet);
    expect(k.kills).toBe(6);
    expect(k.violations).toEqual([]);
    expect([k.lost, k.duplicated, k.skipped, k.phantom]).toEqual([0, 0, 0, 0]);
    expect(k.auditVerify.failures).toEqual([]);
    expect(k.auditVerify.ok).toBe(k.auditVerify.runs);
    expect(k.auditVerify.runs).toBeGreaterThanOrEqual(6);
    expect(k.rollouts.total).toBeGreaterThan(0);
    expect(k.rollouts.notTerminal).toEqual([]);
    expect(k.calls.serverErrors).toBe(0);
    expect(k.cleanShutdown).toBe('0');
    // The first six kills are one of each kind (random, approve, verb, kill switch, drain, startup).
    expect(Object.values(k.killsByMode).filter((n) => n > 0).length).toBeGreaterThanOrEqual(4);
  }, 240_000);

  test('300 malformed inputs: no 5xx, no stack trace in answers or the log, no state change, SIGTERM exits', async () => {
    const f = await runFuzzSoak(cfg, quiet);
    expect(f.inputs).toBe(300);
    expect(f.failures).toEqual([]);
    expect([f.responses5xx, f.stackTraces, f.unexpectedAccepts, f.noAnswer, f.serverLog.stackLines]).toEqual([0, 0, 0, 0, 0]);
    expect(f.idleDrift).toEqual([]);
    expect(f.stateDiff).toEqual([]);
    expect(f.stateChanged).toBe(false);
    expect(f.exit).toBe('0');
  }, 120_000);
});
