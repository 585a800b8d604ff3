/**
 * The one parser of policy times (controller/policy/times.ts): the validator (spec/semantic.ts) and the windows
 * (policy/windows.ts) read hours, zones and freeze bounds through it, so they agree on every edge.
 */
import { isKnownZone, parseHoursRange, parsePolicyTime, readPolicyTime, zoneNamed } from '../../controller/policy/times';
import { isAllowed } from '../../controller/policy/windows';
import { policyProblems } from '../../controller/spec/semantic';
import type { PolicySpec } from '../../controller/spec/types';

const NY = zoneNamed('America/New_York');

function policy(spec: Partial<PolicySpec>): { spec: PolicySpec } {
  return { spec: { timezone: 'America/New_York', allow: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'], hours: '00:00-24:00' }], ...spec } as PolicySpec };
}

describe('policy times', () => {
  test('hours as written: 24:00 is the end of the day, an end before the start is left to the caller', () => {
    expect(parseHoursRange('09:00-16:00')).toEqual({ startMin: 540, endMin: 960 });
    expect(parseHoursRange('22:00-24:00')).toEqual({ startMin: 1320, endMin: 1440 });
    expect(parseHoursRange('22:00-02:00')).toEqual({ startMin: 1320, endMin: 120 });
    expect(parseHoursRange('9:00-16:00')).toBeNull();
    expect(parseHoursRange('24:00-24:00')).toBeNull();
  });

  test('a local freeze bound in the fall-back hour is its earliest occurrence (EDT); in the spring-forward gap, the transition', () => {
    expect(new Date(parsePolicyTime('2026-11-01T01:30:00', NY) as number).toISOString()).toBe('2026-11-01T05:30:00.000Z');
    expect(new Date(parsePolicyTime('2026-03-08T02:30:00', NY) as number).toISOString()).toBe('2026-03-08T07:00:00.000Z');
    expect(parsePolicyTime('2026-03-08T02:30:00Z', NY)).toBe(Date.UTC(2026, 2, 8, 2, 30));
    expect(parsePolicyTime('2026-03-08T02:30:00-05:00', NY)).toBe(Date.UTC(2026, 2, 8, 7, 30));
  });

  test('impossible dates and times say why', () => {
    expect(readPolicyTime('2026-02-30', NY)).toEqual({ ok: false, why: 'day 30 does not exist in 2026-02 (it has 28 days)' });
    expect(readPolicyTime('2026-13-01', NY)).toEqual({ ok: false, why: 'there is no month 13' });
    expect(readPolicyTime('2026-01-01T24:00', NY)).toMatchObject({ ok: false, why: expect.stringMatching(/^there is no time 24:00:00/) });
    expect(isKnownZone('Mars/Olympus_Mons')).toBe(false);
  });

  test('the validator and the windows agree: a freeze valid for one is in force in the other, to the millisecond', () => {
    // [01:00, 01:30) local on the fall-back day: both bounds in the repeated hour, read as EDT by both.
    const p = policy({ freezes: [{ from: '2026-11-01T01:00:00', to: '2026-11-01T01:30:00', reason: 'x' }] });
    expect(policyProblems(p)).toEqual([]);
    expect(isAllowed(p.spec, new Date('2026-11-01T05:29:59.999Z'), 'ring-start').allowed).toBe(false);
    expect(isAllowed(p.spec, new Date('2026-11-01T05:30:00.000Z'), 'ring-start').allowed).toBe(true);
    // The second 01:15 (EST) is after the freeze ended: the freeze covered the first one only.
    expect(isAllowed(p.spec, new Date('2026-11-01T06:15:00.000Z'), 'ring-start').allowed).toBe(true);
  });

  test('the validator words impossible freeze bounds and empty windows with the same parser', () => {
    const p = policy({ allow: [{ days: ['Mon'], hours: '10:00-09:00' }], freezes: [{ from: '2026-02-30', to: '2026-03-02', reason: 'x' }] });
    expect(policyProblems(p).map((x) => x.message)).toEqual([
      'start must be before end; split a window across midnight in two (got 10:00-09:00)',
      'not a real date-time: day 30 does not exist in 2026-02 (it has 28 days) (got 2026-02-30)',
    ]);
  });
});
