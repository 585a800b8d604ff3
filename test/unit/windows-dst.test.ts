/**
 * Windows across daylight-saving transitions, in two zones.
 * 2026 transitions: America/New_York springs forward on Sun 8 Mar at 02:00 EST (07:00Z) and falls back on
 * Sun 1 Nov at 02:00 EDT (06:00Z); Europe/Berlin springs forward on Sun 29 Mar at 02:00 CET (01:00Z) and
 * falls back on Sun 25 Oct at 03:00 CEST (01:00Z).
 *
 * Chosen semantics (documented in controller/policy/windows.ts): a skipped local time maps to the end of
 * the gap; a repeated local time maps to its earliest occurrence; a window is the contiguous interval
 * between its two converted boundaries.
 */
import { isAllowed, nextAllowedStart } from '../../controller/policy/windows';
import type { PolicySpec } from '../../controller/spec/types';
import { DateTime } from 'luxon';

const H = 3_600_000;
const EVERY_DAY = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

function policy(timezone: string, hours: string, days: PolicySpec['allow'][number]['days'] = [...EVERY_DAY]): PolicySpec {
  return {
    timezone,
    allow: [{ days, hours }],
    requireBakeWithinWindow: false,
    maxConcurrentRolloutsPerChannel: 1,
    requireSignedArtifacts: true,
  };
}

const at = (iso: string): Date => new Date(iso);
const allowed = (p: PolicySpec, iso: string): boolean => isAllowed(p, at(iso), 'ring-start').allowed;

function startIso(p: PolicySpec, fromIso: string, bakeMs = 0): string | null {
  const r = nextAllowedStart(p, at(fromIso), bakeMs);
  return r.start === null ? null : (DateTime.fromJSDate(r.start, { zone: p.timezone }).toISO() as string);
}

describe('America/New_York spring forward (Sun 2026-03-08, 02:00 EST -> 03:00 EDT)', () => {
  it('a window 02:30-04:00 opens at the first valid instant, 03:00 EDT, and lasts one real hour', () => {
    const p = policy('America/New_York', '02:30-04:00');
    expect(startIso(p, '2026-03-08T00:00:00-05:00')).toBe('2026-03-08T03:00:00.000-04:00');
    expect(allowed(p, '2026-03-08T06:59:59.999Z')).toBe(false);
    expect(allowed(p, '2026-03-08T07:00:00Z')).toBe(true);
    expect(allowed(p, '2026-03-08T07:59:59.999Z')).toBe(true);
    expect(allowed(p, '2026-03-08T08:00:00Z')).toBe(false);
  });

  it('a window 01:00-03:00 is only one real hour long on the transition day', () => {
    const p = policy('America/New_York', '01:00-03:00');
    expect(allowed(p, '2026-03-08T05:59:59.999Z')).toBe(false);
    expect(allowed(p, '2026-03-08T06:00:00Z')).toBe(true);
    expect(allowed(p, '2026-03-08T06:59:59.999Z')).toBe(true);
    expect(allowed(p, '2026-03-08T07:00:00Z')).toBe(false);
  });

  it('a wait across the transition lands on 09:00 EDT (13:00Z), not 09:00 EST', () => {
    const sundays = policy('America/New_York', '09:00-16:00', ['Sun']);
    expect(startIso(sundays, '2026-03-07T12:00:00-05:00')).toBe('2026-03-08T09:00:00.000-04:00');
    const weekdays = policy('America/New_York', '09:00-16:00', ['Mon', 'Tue', 'Wed', 'Thu']);
    const r = nextAllowedStart(weekdays, at('2026-03-06T15:00:00-05:00'), 0);
    expect(r.start?.toISOString()).toBe('2026-03-09T13:00:00.000Z');
  });

  it('a local freeze bound in the skipped hour means the end of the gap', () => {
    const p: PolicySpec = {
      ...policy('America/New_York', '00:00-24:00'),
      freezes: [{ from: '2026-03-08T02:30:00', to: '2026-03-08T05:00:00', reason: 'maintenance' }],
    };
    expect(allowed(p, '2026-03-08T06:59:59.999Z')).toBe(true);
    expect(allowed(p, '2026-03-08T07:00:00Z')).toBe(false);
    expect(startIso(p, '2026-03-08T07:00:00Z')).toBe('2026-03-08T05:00:00.000-04:00');
  });
});

describe('America/New_York fall back (Sun 2026-11-01, 02:00 EDT -> 01:00 EST)', () => {
  it('a window 01:00-03:00 runs from 01:00 EDT to 03:00 EST, three real hours', () => {
    const p = policy('America/New_York', '01:00-03:00');
    expect(allowed(p, '2026-11-01T04:59:59.999Z')).toBe(false);
    expect(allowed(p, '2026-11-01T05:00:00Z')).toBe(true);
    expect(allowed(p, '2026-11-01T07:59:59.999Z')).toBe(true);
    expect(allowed(p, '2026-11-01T08:00:00Z')).toBe(false);
  });

  it('a window opening at the repeated 01:30 opens at its earliest occurrence, 01:30 EDT', () => {
    const p = policy('America/New_York', '01:30-04:00');
    expect(startIso(p, '2026-11-01T00:00:00-04:00')).toBe('2026-11-01T01:30:00.000-04:00');
    expect(at('2026-11-01T01:30:00-04:00').toISOString()).toBe('2026-11-01T05:30:00.000Z');
  });

  it('a window ending at the repeated 01:30 ends at its earliest occurrence: 01:15 EST is outside', () => {
    const p = policy('America/New_York', '00:00-01:30');
    expect(allowed(p, '2026-11-01T01:15:00-04:00')).toBe(true);
    expect(allowed(p, '2026-11-01T01:30:00-04:00')).toBe(false);
    expect(allowed(p, '2026-11-01T01:15:00-05:00')).toBe(false);
  });

  it('a wait across the transition lands on 09:00 EST (14:00Z), not 09:00 EDT', () => {
    const sundays = policy('America/New_York', '09:00-16:00', ['Sun']);
    expect(startIso(sundays, '2026-10-31T17:00:00-04:00')).toBe('2026-11-01T09:00:00.000-05:00');
    expect(nextAllowedStart(sundays, at('2026-10-31T17:00:00-04:00'), 0).start?.toISOString()).toBe(
      '2026-11-01T14:00:00.000Z',
    );
  });

  it('a bake is real time: Sat 14:30 EDT + 25h ends Sun 14:30 EST, inside a 09:00-15:00 window', () => {
    const p: PolicySpec = { ...policy('America/New_York', '09:00-15:00'), requireBakeWithinWindow: true };
    const start = at('2026-10-31T14:30:00-04:00');
    // wall-clock arithmetic would say Sun 15:30 (outside); 25 real hours end at 14:30 EST (inside)
    expect(isAllowed(p, start, 'ring-start', { bakeMs: 25 * H })).toEqual({ allowed: true });
    expect(isAllowed(p, start, 'ring-start', { bakeMs: 25 * H + 31 * 60_000 }).allowed).toBe(false);
    expect(nextAllowedStart(p, start, 25 * H).start?.toISOString()).toBe(start.toISOString());
  });

  it('a local freeze bound at a repeated time means its earliest occurrence', () => {
    const p: PolicySpec = {
      ...policy('America/New_York', '00:00-24:00'),
      freezes: [{ from: '2026-11-01T01:30:00', to: '2026-11-01T03:00:00', reason: 'maintenance' }],
    };
    expect(allowed(p, '2026-11-01T05:29:59.999Z')).toBe(true);
    expect(allowed(p, '2026-11-01T05:30:00Z')).toBe(false);
    expect(startIso(p, '2026-11-01T05:30:00Z')).toBe('2026-11-01T03:00:00.000-05:00');
  });
});

describe('Europe/Berlin spring forward (Sun 2026-03-29, 02:00 CET -> 03:00 CEST)', () => {
  it('a window 02:00-04:00 opens at 03:00 CEST and lasts one real hour', () => {
    const p = policy('Europe/Berlin', '02:00-04:00');
    expect(startIso(p, '2026-03-29T00:00:00+01:00')).toBe('2026-03-29T03:00:00.000+02:00');
    expect(allowed(p, '2026-03-29T00:59:59.999Z')).toBe(false);
    expect(allowed(p, '2026-03-29T01:00:00Z')).toBe(true);
    expect(allowed(p, '2026-03-29T02:00:00Z')).toBe(false);
  });

  it('a window 01:00-03:00 is one real hour: 01:00 CET to 03:00 CEST', () => {
    const p = policy('Europe/Berlin', '01:00-03:00');
    expect(allowed(p, '2026-03-29T00:00:00Z')).toBe(true);
    expect(allowed(p, '2026-03-29T00:59:59.999Z')).toBe(true);
    expect(allowed(p, '2026-03-29T01:00:00Z')).toBe(false);
  });

  it('a wait across the transition lands on 09:00 CEST (07:00Z)', () => {
    const sundays = policy('Europe/Berlin', '09:00-16:00', ['Sun']);
    expect(nextAllowedStart(sundays, at('2026-03-28T12:00:00+01:00'), 0).start?.toISOString()).toBe(
      '2026-03-29T07:00:00.000Z',
    );
  });
});

describe('Europe/Berlin fall back (Sun 2026-10-25, 03:00 CEST -> 02:00 CET)', () => {
  it('a window 02:00-04:00 runs from 02:00 CEST to 04:00 CET, three real hours', () => {
    const p = policy('Europe/Berlin', '02:00-04:00');
    expect(startIso(p, '2026-10-25T00:00:00+02:00')).toBe('2026-10-25T02:00:00.000+02:00');
    expect(allowed(p, '2026-10-24T23:59:59.999Z')).toBe(false);
    expect(allowed(p, '2026-10-25T00:00:00Z')).toBe(true);
    expect(allowed(p, '2026-10-25T02:59:59.999Z')).toBe(true);
    expect(allowed(p, '2026-10-25T03:00:00Z')).toBe(false);
  });

  it('a window opening at the repeated 02:30 opens at 02:30 CEST (00:30Z)', () => {
    const p = policy('Europe/Berlin', '02:30-05:00');
    expect(nextAllowedStart(p, at('2026-10-24T22:00:00Z'), 0).start?.toISOString()).toBe('2026-10-25T00:30:00.000Z');
  });

  it('a wait across the transition lands on 09:00 CET (08:00Z)', () => {
    const sundays = policy('Europe/Berlin', '09:00-16:00', ['Sun']);
    expect(startIso(sundays, '2026-10-24T12:00:00+02:00')).toBe('2026-10-25T09:00:00.000+01:00');
    expect(nextAllowedStart(sundays, at('2026-10-24T12:00:00+02:00'), 0).start?.toISOString()).toBe(
      '2026-10-25T08:00:00.000Z',
    );
  });
});
