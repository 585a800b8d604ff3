/**
 * The decisions sweep's reading of agent-sim's JSON (bench/decisions/sweep.ts): seeds, spreads, and the ring a run
 * was stopped in, also from older trees whose lastRing reads one ring too low after an auto-approval.
 */
import { aggregate, parseSeeds, readRun, spread } from '../../bench/decisions/sweep';

describe('decisions sweep', () => {
  test('seeds and spreads', () => {
    expect(parseSeeds('1..5,9')).toEqual([1, 2, 3, 4, 5, 9]);
    expect(() => parseSeeds('5..1')).toThrow(/bad range/);
    expect(spread([3, null, 1, 2, undefined, 10])).toEqual({ n: 4, median: 2.5, min: 1, max: 10 });
    expect(spread([])).toEqual({ n: 0, median: null, min: null, max: null });
  });

  test('an old tree: the stop ring comes from the stop reason, not the lagging lastRing', () => {
    const doc = {
      outcome: 'rolled-back',
      haltReason: null,
      lastRing: 1,
      lastRingName: 'early',
      hostsUpdated: 88_499,
      transitions: [
        { at: '2026-11-30T14:00:00.000Z', from: 'pending', to: 'progressing', ring: 0, reason: 'channel slot free; ring canary starts' },
        { at: '2026-11-30T16:30:00.000Z', from: 'progressing', to: 'awaiting-approval', ring: 1, reason: 'ring early passed analysis after its bake' },
        { at: '2026-11-30T16:45:00.000Z', from: 'awaiting-approval', to: 'progressing', ring: 2, reason: 'approve by sim-approver; ring broad starts' },
        { at: '2026-11-30T16:46:00.000Z', from: 'progressing', to: 'rolling-back', ring: -1, reason: 'ring broad failed analysis: fail: crashes: ...' },
      ],
    };
    const run = readRun(3, 0, doc);
    expect(run.stoppedIn).toBe('broad');
    expect(run.stopRing).toBe(2);
    expect(run.stopMinutesIntoRing).toBe(1);
    expect(run.hostsUpdated).toBe(88_499);
    // fields older trees do not print stay undefined, never guessed
    expect(run.oracle).toBeUndefined();
    expect(run.haltCause).toBeUndefined();
    const agg = aggregate({ scenario: 'x/healthy.yaml', tree: '/nonexistent', seeds: [3, 4] }, [run, { seed: 4, exitCode: 0, outcome: 'succeeded', virtualDurationHours: 50.75 }]);
    expect(agg.failOrRollback).toBe(1);
    expect(agg.stopRings).toEqual({ broad: 1 });
    expect(agg.hoursToFull).toEqual({ n: 1, median: 50.75, min: 50.75, max: 50.75 });
    expect(agg.commit).toBe('unknown');
  });
});
