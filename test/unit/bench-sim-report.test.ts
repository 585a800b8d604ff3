import { judgeTarget, ratioRows, type SimRow } from '../../bench/sim/report';
import { statusFieldMB } from '../../bench/sim/proc';

const row = (over: Partial<SimRow>): SimRow => ({
  hosts: 1_000_000,
  virtualHours: 51.5,
  maxVirtualHours: 72,
  wallS: 10,
  runS: 9,
  compareS: 0,
  cpuS: 8,
  peakRssMB: 200,
  scenario: 'healthy',
  scenarioName: 'healthy-noisy',
  seed: 11,
  outcome: 'succeeded',
  lastRing: 3,
  hostsUpdated: 1_000_000,
  hostsBricked: 0,
  allAtOnce: null,
  resultDigest: 'x',
  ...over,
});
const TARGET = { hosts: 10_000_000, virtualHours: 72, wallS: 60, peakRssMB: 1024 };

describe('bench/sim report', () => {
  it('rates each row against the smallest row of its own scenario', () => {
    const rows = [row({}), row({ hosts: 10_000_000, wallS: 80, peakRssMB: 900 }), row({ scenario: 'catastrophic', wallS: 4, peakRssMB: 100 })];
    const r = ratioRows(rows);
    expect(r[0]).toMatchObject({ hosts: 1_000_000, baselineHosts: 1_000_000, wallRatio: 1, rssRatio: 1, wallSPerMillionHosts: 10 });
    expect(r[1]).toMatchObject({ hosts: 10_000_000, baselineHosts: 1_000_000, wallRatio: 8, rssRatio: 4.5, wallSPerMillionHosts: 8 });
    expect(r[2]).toMatchObject({ scenario: 'catastrophic', wallRatio: 1, rssRatio: 1 });
  });

  it('has no RSS ratio when a peak is unknown', () => {
    expect(ratioRows([row({ peakRssMB: null })])[0]?.rssRatio).toBeNull();
  });

  it('judges the 10M target on wall time and peak RSS, and says when it was not measured', () => {
    expect(judgeTarget(undefined, TARGET, 'healthy').pass).toBeNull();
    expect(judgeTarget(row({ hosts: 10_000_000, wallS: 59.9, peakRssMB: 1023 }), TARGET, 'healthy').pass).toBe(true);
    expect(judgeTarget(row({ hosts: 10_000_000, wallS: 60, peakRssMB: 500 }), TARGET, 'healthy').pass).toBe(false);
    expect(judgeTarget(row({ hosts: 10_000_000, wallS: 30, peakRssMB: 1024 }), TARGET, 'healthy').pass).toBe(false);
    expect(judgeTarget(row({ hosts: 10_000_000, wallS: 30, peakRssMB: null }), TARGET, 'healthy').pass).toBe(false);
  });

  it('reads kB fields of /proc/<pid>/status as MB', () => {
    const status = 'Name:\tnode\nVmPeak:\t 1234 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n';
    expect(statusFieldMB(status, 'VmHWM')).toBe(200);
    expect(statusFieldMB(status, 'VmRSS')).toBe(100);
    expect(statusFieldMB(status, 'VmSwap')).toBeNull();
  });
});
