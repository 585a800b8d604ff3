import { DateTime } from 'luxon';
import {
  ACTION_KINDS,
  describePolicyWindows,
  isAllowed,
  nextAllowedStart,
  policyTimeErrors,
  type WaitReason,
} from '../../controller/policy/windows';
import type { PolicySpec } from '../../controller/spec/types';

const H = 3_600_000;

export function makePolicy(overrides: Partial<PolicySpec> = {}): PolicySpec {
  return {
    timezone: 'America/New_York',
    allow: [{ days: ['Mon', 'Tue', 'Wed', 'Thu'], hours: '09:00-16:00' }],
    requireBakeWithinWindow: false,
    maxConcurrentRolloutsPerChannel: 1,
    requireSignedArtifacts: true,
    ...overrides,
  };
}

const DEFAULT = makePolicy({
  freezes: [{ from: '2026-12-19T00:00:00', to: '2027-01-04T09:00:00', reason: 'year-end freeze' }],
});

const at = (iso: string): Date => new Date(iso);
const kinds = (reasons: WaitReason[]): string[] => reasons.map((r) => r.kind);

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function startOf(result: ReturnType<typeof nextAllowedStart>): string | null {
  return result.start === null ? null : result.start.toISOString();
}

describe('ring starts inside and outside the allowed windows', () => {
  it('a Friday 15:00 start waits until Monday 09:00', () => {
    const r = nextAllowedStart(DEFAULT, at('2026-11-27T15:00:00-05:00'), 30 * 60_000);
    expect(startOf(r)).toBe(at('2026-11-30T09:00:00-05:00').toISOString());
    expect(r.waitReasons).toEqual([
      {
        kind: 'outside-window',
        message: 'Fri 15:00 America/New_York is outside the allowed windows (Mon-Thu 09:00-16:00)',
        nextWindowStart: '2026-11-30T09:00:00-05:00',
      },
    ]);
  });

  it('a start inside the window starts at once with no reasons', () => {
    const r = nextAllowedStart(DEFAULT, at('2026-12-01T10:17:23.456-05:00'), 2 * H);
    expect(startOf(r)).toBe(at('2026-12-01T10:17:23.456-05:00').toISOString());
    expect(r.waitReasons).toEqual([]);
  });

  it('the window is [09:00, 16:00): 09:00 and 15:59:59.999 may start, 08:59:59.999 and 16:00 may not', () => {
    expect(isAllowed(DEFAULT, at('2026-12-01T09:00:00-05:00'), 'ring-start')).toEqual({ allowed: true });
    expect(isAllowed(DEFAULT, at('2026-12-01T15:59:59.999-05:00'), 'ring-start')).toEqual({ allowed: true });
    expect(isAllowed(DEFAULT, at('2026-12-01T08:59:59.999-05:00'), 'ring-start').allowed).toBe(false);
    const late = isAllowed(DEFAULT, at('2026-12-01T16:00:00-05:00'), 'ring-start');
    expect(late).toEqual({
      allowed: false,
      reasons: [
        {
          kind: 'outside-window',
          message: 'Tue 16:00 America/New_York is outside the allowed windows (Mon-Thu 09:00-16:00)',
          nextWindowStart: '2026-12-02T09:00:00-05:00',
        },
      ],
    });
  });

  it('a Thursday 16:30 start waits until Monday 09:00, not Friday', () => {
    const r = nextAllowedStart(DEFAULT, at('2026-12-03T16:30:00-05:00'), 0);
    expect(startOf(r)).toBe(at('2026-12-07T09:00:00-05:00').toISOString());
  });

  it('no ring starts on Friday, Saturday or Sunday under Mon-Thu windows (every 7 minutes over 3 weeks)', () => {
    let allowedOnWeekend = 0;
    let allowedOnWeekdays = 0;
    for (let t = at('2026-11-02T00:00:00-05:00').getTime(); t < at('2026-11-23T00:00:00-05:00').getTime(); t += 7 * 60_000) {
      const local = DateTime.fromMillis(t, { zone: 'America/New_York' });
      const ok = isAllowed(DEFAULT, new Date(t), 'ring-start').allowed;
      if (ok && local.weekday >= 5) allowedOnWeekend++;
      if (ok && local.weekday < 5) allowedOnWeekdays++;
    }
    expect(allowedOnWeekend).toBe(0);
    expect(allowedOnWeekdays).toBeGreaterThan(0);
  });

  it('agrees with a wall-clock oracle at 5,000 random instants in several zones (away from DST days)', () => {
    const rnd = prng(42);
    const zones = ['America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Sydney', 'UTC'];
    const policies = zones.map((zone) =>
      makePolicy({
        timezone: zone,
        allow: [
          { days: ['Mon', 'Wed', 'Fri'], hours: '08:30-12:15' },
          { days: ['Sat'], hours: '13:00-24:00' },
          { days: ['Sun'], hours: '22:00-02:00' },
        ],
      }),
    );
    let checked = 0;
    for (let i = 0; i < 5_000; i++) {
      const zone = zones[i % zones.length]!;
      const p = policies[i % zones.length]!;
      const t = at('2026-01-01T00:00:00Z').getTime() + Math.floor(rnd() * 365 * 24 * 60) * 60_000;
      const local = DateTime.fromMillis(t, { zone });
      const dayBefore = local.minus({ days: 1 });
      if (local.offset !== local.startOf('day').offset || local.offset !== dayBefore.startOf('day').offset) continue;
      const m = local.hour * 60 + local.minute;
      const wd = local.weekday;
      const expected =
        ([1, 3, 5].includes(wd) && m >= 510 && m < 735) ||
        (wd === 6 && m >= 780) ||
        (wd === 7 && m >= 1320) ||
        (wd === 1 && m < 120);
      expect({ zone, at: local.toISO(), allowed: isAllowed(p, new Date(t), 'ring-start').allowed }).toEqual({
        zone,
        at: local.toISO(),
        allowed: expected,
      });
      checked++;
    }
    expect(checked).toBeGreaterThan(4_500);
  });

  it('an overnight window 22:00-02:00 on Friday lets a ring start at Saturday 01:00 but not at 02:00', () => {
    const p = makePolicy({ allow: [{ days: ['Fri'], hours: '22:00-02:00' }] });
    expect(isAllowed(p, at('2026-11-28T01:00:00-05:00'), 'ring-start').allowed).toBe(true);
    expect(isAllowed(p, at('2026-11-28T02:00:00-05:00'), 'ring-start').allowed).toBe(false);
    expect(startOf(nextAllowedStart(p, at('2026-11-26T12:00:00-05:00'), 0))).toBe(
      at('2026-11-27T22:00:00-05:00').toISOString(),
    );
  });

  it('a 24:00 end allows a start up to midnight', () => {
    const p = makePolicy({ allow: [{ days: ['Sat'], hours: '18:00-24:00' }] });
    expect(isAllowed(p, at('2026-11-28T23:59:59.999-05:00'), 'ring-start').allowed).toBe(true);
    expect(isAllowed(p, at('2026-11-29T00:00:00-05:00'), 'ring-start').allowed).toBe(false);
  });
});

describe('freezes', () => {
  it('a start inside the year-end freeze says which freeze and until when', () => {
    const r = isAllowed(DEFAULT, at('2026-12-21T10:00:00-05:00'), 'ring-start');
    expect(r).toEqual({
      allowed: false,
      reasons: [
        {
          kind: 'freeze',
          reason: 'year-end freeze',
          until: '2027-01-04T09:00:00-05:00',
          message: 'year-end freeze until 2027-01-04T09:00:00-05:00',
        },
      ],
    });
  });

  it('a start after the last window before the year-end freeze waits until the freeze ends on 2027-01-04 09:00', () => {
    const r = nextAllowedStart(DEFAULT, at('2026-12-17T16:30:00-05:00'), 2 * H);
    expect(startOf(r)).toBe(at('2027-01-04T09:00:00-05:00').toISOString());
    expect(kinds(r.waitReasons)).toEqual(['outside-window', 'freeze']);
  });

  it('a freeze from Thursday 18:00 to Tuesday 12:00 spanning a weekend: the next start is Tuesday 12:00', () => {
    const p = makePolicy({
      freezes: [{ from: '2026-12-03T18:00:00', to: '2026-12-08T12:00:00', reason: 'datacenter move' }],
    });
    for (const from of ['2026-12-03T17:00:00-05:00', '2026-12-04T10:00:00-05:00', '2026-12-07T09:00:00-05:00']) {
      const r = nextAllowedStart(p, at(from), 30 * 60_000);
      expect(startOf(r)).toBe(at('2026-12-08T12:00:00-05:00').toISOString());
      expect(r.waitReasons).toContainEqual({
        kind: 'freeze',
        reason: 'datacenter move',
        until: '2026-12-08T12:00:00-05:00',
        message: 'datacenter move until 2026-12-08T12:00:00-05:00',
      });
    }
  });

  it('a freeze that ends outside the windows waits for the next window after it', () => {
    const p = makePolicy({ freezes: [{ from: '2026-12-01', to: '2026-12-02T18:00:00', reason: 'audit' }] });
    const r = nextAllowedStart(p, at('2026-12-01T10:00:00-05:00'), 0);
    expect(startOf(r)).toBe(at('2026-12-03T09:00:00-05:00').toISOString());
    expect(kinds(r.waitReasons)).toEqual(['freeze', 'outside-window']);
  });

  it('overlapping freezes are both reported and the start waits for the later end', () => {
    const p = makePolicy({
      freezes: [
        { from: '2026-12-01T00:00:00', to: '2026-12-02T12:00:00', reason: 'audit' },
        { from: '2026-12-02T00:00:00', to: '2026-12-03T10:00:00', reason: 'board meeting' },
      ],
    });
    const r = nextAllowedStart(p, at('2026-12-01T10:00:00-05:00'), 0);
    expect(startOf(r)).toBe(at('2026-12-03T10:00:00-05:00').toISOString());
    expect(r.waitReasons.map((w) => (w.kind === 'freeze' ? w.reason : w.kind))).toEqual(['audit', 'board meeting']);
  });

  it('freeze bounds with an offset or Z are absolute, whatever the policy zone', () => {
    const p = makePolicy({
      allow: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'], hours: '00:00-24:00' }],
      freezes: [{ from: '2026-12-01T00:00:00Z', to: '2026-12-01T12:00:00+01:00', reason: 'absolute' }],
    });
    expect(isAllowed(p, at('2026-11-30T23:59:59.999Z'), 'ring-start').allowed).toBe(true);
    expect(isAllowed(p, at('2026-12-01T00:00:00Z'), 'ring-start').allowed).toBe(false);
    expect(startOf(nextAllowedStart(p, at('2026-12-01T05:00:00Z'), 0))).toBe('2026-12-01T11:00:00.000Z');
  });

  it('a freeze over the whole search horizon gives no start, with the freeze and why', () => {
    const p = makePolicy({ freezes: [{ from: '2026-01-01', to: '2031-01-01', reason: 'moratorium' }] });
    const r = nextAllowedStart(p, at('2026-06-01T10:00:00-04:00'), 0);
    expect(r.start).toBeNull();
    expect(kinds(r.waitReasons)).toEqual(['freeze', 'no-allowed-start']);
  });
});

describe('halts, rollbacks, kill switches, aborts and pauses are never blocked', () => {
  const NEVER_BLOCKED = ACTION_KINDS.filter((k) => k !== 'ring-start');

  it('lists every action kind except ring-start as never blocked', () => {
    expect([...NEVER_BLOCKED].sort()).toEqual(['abort', 'halt', 'kill-switch', 'pause', 'resume-hold', 'rollback']);
  });

  it('are allowed at 1,000 random instants inside freezes and weekends, where ring starts are refused', () => {
    const hostile = makePolicy({
      allow: [{ days: ['Mon'], hours: '09:00-09:01' }],
      requireBakeWithinWindow: true,
      freezes: [
        { from: '2026-12-19T00:00:00', to: '2027-01-04T09:00:00', reason: 'year-end freeze' },
        { from: '2027-03-01T00:00:00Z', to: '2027-04-01T00:00:00Z', reason: 'quarter close' },
      ],
    });
    const rnd = prng(2026);
    let refusedStarts = 0;
    for (let i = 0; i < 1_000; i++) {
      const inFreeze = i % 2 === 0;
      const t = inFreeze
        ? at('2026-12-19T05:00:00Z').getTime() + Math.floor(rnd() * (16 * 24 - 1) * H)
        : at('2027-02-06T05:00:00Z').getTime() + Math.floor(rnd() * 7) * 7 * 24 * H + Math.floor(rnd() * 48 * H);
      const instant = new Date(t);
      for (const policy of [hostile, DEFAULT]) {
        for (const kind of NEVER_BLOCKED) {
          expect([kind, isAllowed(policy, instant, kind, { bakeMs: 24 * H })]).toEqual([kind, { allowed: true }]);
        }
        if (!isAllowed(policy, instant, 'ring-start').allowed) refusedStarts++;
      }
    }
    expect(refusedStarts).toBe(2_000);
  });
});

describe('requireBakeWithinWindow', () => {
  const STAFFED = makePolicy({ requireBakeWithinWindow: true });

  it('refuses a Thursday 15:00 start whose 24h bake would end on Friday, and says why', () => {
    const r = isAllowed(STAFFED, at('2026-12-03T15:00:00-05:00'), 'ring-start', { bakeMs: 24 * H });
    expect(r).toEqual({
      allowed: false,
      reasons: [
        {
          kind: 'bake-ends-outside-window',
          message:
            'a 1d bake starting Thu 15:00 America/New_York would end Fri 15:00 America/New_York, ' +
            'outside the allowed windows (Mon-Thu 09:00-16:00)',
        },
      ],
    });
    expect(isAllowed(DEFAULT, at('2026-12-03T15:00:00-05:00'), 'ring-start', { bakeMs: 24 * H })).toEqual({
      allowed: true,
    });
  });

  it('moves a Thursday 15:00 start with a 24h bake to Monday 09:00', () => {
    const r = nextAllowedStart(STAFFED, at('2026-12-03T15:00:00-05:00'), 24 * H);
    expect(startOf(r)).toBe(at('2026-12-07T09:00:00-05:00').toISOString());
    expect(kinds(r.waitReasons)).toEqual(['bake-ends-outside-window', 'outside-window']);
  });

  it('a 7h bake that would end after 16:00 starts at the next 09:00 and may end exactly at 16:00', () => {
    const r = nextAllowedStart(STAFFED, at('2026-11-30T10:00:00-05:00'), 7 * H);
    expect(startOf(r)).toBe(at('2026-12-01T09:00:00-05:00').toISOString());
  });

  it('a bake that would end inside a freeze waits so that it ends when the freeze ends', () => {
    const p = makePolicy({
      requireBakeWithinWindow: true,
      allow: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'], hours: '00:00-24:00' }],
      freezes: [{ from: '2026-12-05T00:00:00', to: '2026-12-07T00:00:00', reason: 'weekend freeze' }],
    });
    const early = nextAllowedStart(p, at('2026-12-04T12:00:00-05:00'), 6 * H);
    expect(startOf(early)).toBe(at('2026-12-04T12:00:00-05:00').toISOString());
    const r = nextAllowedStart(p, at('2026-12-04T20:00:00-05:00'), 6 * H);
    expect(startOf(r)).toBe(at('2026-12-07T00:00:00-05:00').toISOString());
    expect(kinds(r.waitReasons)).toEqual(['bake-ends-outside-window', 'freeze']);
    expect(r.waitReasons[0]!.message).toContain('during the weekend freeze (until 2026-12-07T00:00:00-05:00)');
  });
});

describe('nextAllowedStart is exact', () => {
  it('matches a brute force over a 15-minute grid for random policies, instants, freezes and bakes', () => {
    // Every boundary (window hours, freeze bounds, bakes, the origin, DST transitions of these zones) lies
    // on the same 15-minute grid of absolute time, so the exact answer is a grid point and the brute force
    // over the grid is exact too.
    const Q = 15 * 60_000;
    const rnd = prng(7);
    const dayNames = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
    const zones = ['America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe'];
    const hhmm = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
    let found = 0;
    for (let i = 0; i < 60; i++) {
      const windows = Array.from({ length: 1 + Math.floor(rnd() * 2) }, () => {
        const start = Math.floor(rnd() * 96) * 15;
        const end = Math.min(1440, start + 15 + Math.floor(rnd() * 40) * 15);
        return {
          days: dayNames.filter(() => rnd() < 0.4).concat(['Wed']).filter((d, k, a) => a.indexOf(d) === k),
          hours: `${hhmm(start)}-${end === 1440 ? '24:00' : hhmm(end)}`,
        };
      });
      // origins from 2026-10-20 over 20 days cover the Berlin and New York fall-back transitions
      const origin = at('2026-10-20T00:00:00Z').getTime() + Math.floor(rnd() * 20 * 96) * Q;
      const freezeFrom = origin + Math.floor(rnd() * 4 * 96) * Q;
      const p = makePolicy({
        timezone: zones[i % zones.length]!,
        allow: windows,
        requireBakeWithinWindow: rnd() < 0.5,
        freezes: [
          {
            from: new Date(freezeFrom).toISOString(),
            to: new Date(freezeFrom + (1 + Math.floor(rnd() * 3 * 96)) * Q).toISOString(),
            reason: 'random freeze',
          },
        ],
      });
      const bakeMs = Math.floor(rnd() * 8) * 2 * Q;
      const r = nextAllowedStart(p, new Date(origin), bakeMs);
      const horizon = origin + 10 * 24 * H;
      let brute: number | null = null;
      for (let t = origin; t < horizon; t += Q) {
        if (isAllowed(p, new Date(t), 'ring-start', { bakeMs }).allowed) {
          brute = t;
          break;
        }
      }
      // the brute force only looks 10 days ahead: a later answer must then be "none within 10 days" for it
      const exact = r.start === null || r.start.getTime() >= horizon ? null : r.start.getTime();
      expect({ policy: p, bakeMs, start: exact }).toEqual({ policy: p, bakeMs, start: brute });
      if (exact !== null) {
        expect(isAllowed(p, r.start as Date, 'ring-start', { bakeMs })).toEqual({ allowed: true });
        found++;
      }
    }
    expect(found).toBeGreaterThan(40);
  });
});

describe('policy descriptions and errors', () => {
  it('describes windows compactly', () => {
    expect(describePolicyWindows(DEFAULT)).toBe('Mon-Thu 09:00-16:00');
    expect(
      describePolicyWindows(
        makePolicy({
          allow: [
            { days: ['Thu', 'Mon', 'Tue', 'Wed', 'Fri', 'Sat', 'Sun'], hours: '00:00-24:00' },
            { days: ['Mon', 'Wed', 'Fri'], hours: '08:00-10:00' },
            { days: ['Sat', 'Sun'], hours: '10:00-12:00' },
          ],
        }),
      ),
    ).toBe('Mon-Sun 00:00-24:00; Mon,Wed,Fri 08:00-10:00; Sat,Sun 10:00-12:00');
  });

  it('reports unknown zones, empty windows, impossible dates and backwards freezes', () => {
    expect(policyTimeErrors(DEFAULT)).toEqual([]);
    expect(policyTimeErrors(makePolicy({ timezone: 'Mars/Olympus_Mons' }))).toEqual([
      'spec.timezone: unknown IANA time zone "Mars/Olympus_Mons"',
    ]);
    expect(
      policyTimeErrors(
        makePolicy({
          allow: [{ days: ['Mon'], hours: '09:00-09:00' }],
          freezes: [
            { from: '2026-02-30', to: '2026-03-02', reason: 'x' },
            { from: '2026-03-02', to: '2026-03-01T23:00:00', reason: 'y' },
          ],
        }),
      ),
    ).toEqual([
      'spec.allow[0].hours: "09:00-09:00" is not a non-empty HH:MM-HH:MM range',
      'spec.freezes[0].from: "2026-02-30" is not a valid date-time',
      'spec.freezes[1].to: ends at or before it begins (2026-03-02 .. 2026-03-01T23:00:00)',
    ]);
  });

  it('treats an invalid policy reaching the decision functions as a bug', () => {
    expect(() => isAllowed(makePolicy({ timezone: 'Nowhere/Land' }), new Date(0), 'ring-start')).toThrow(
      /unknown IANA time zone/,
    );
  });
});
