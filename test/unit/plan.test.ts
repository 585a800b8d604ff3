import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { parse } from 'yaml';
import { planRollout } from '../../controller/policy/plan';
import { isAllowed, policyTimeErrors } from '../../controller/policy/windows';
import { durationMs } from '../../controller/spec/duration';
import { schemaProblems } from '../../controller/spec/validate';
import type { Policy, PolicySpec, RolloutSpec } from '../../controller/spec/types';

const defaultPolicyDoc = parse(readFileSync(join(__dirname, '../../policies/default.yaml'), 'utf8')) as Policy;
const DEFAULT: PolicySpec = defaultPolicyDoc.spec;

/** Shaped like examples/rollouts/content-update.yaml: canary 30m, 1% 2h, 10% 24h (approval), 100% 24h. */
const CONTENT_UPDATE: RolloutSpec = {
  channel: 'sensor-content',
  version: '7.16.291',
  previousVersion: '7.16.290',
  artifact: { url: 'https://updates.example.internal/sensor-content/7.16.291.bin', sha256: 'a'.repeat(64) },
  policy: 'default',
  rings: [
    { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '30m' },
    { name: 'early', percent: 1, bake: '2h' },
    { name: 'broad', percent: 10, bake: '24h', approval: 'required' },
    { name: 'full', percent: 100, bake: '24h' },
  ],
};

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$/;

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

describe('policies/default.yaml', () => {
  it('is a valid Policy document with sound times', () => {
    expect(schemaProblems('Policy', defaultPolicyDoc)).toEqual([]);
    expect(policyTimeErrors(DEFAULT)).toEqual([]);
    expect(defaultPolicyDoc.metadata.name).toBe('default');
  });
});

describe('planRollout', () => {
  it('a content update planned from Friday 15:00 starts its first ring on Monday 09:00 and nothing on Fri-Sun', () => {
    const plan = planRollout(CONTENT_UPDATE, DEFAULT, new Date('2026-11-27T15:00:00-05:00'));
    expect(plan.rings.map(({ name, start, end }) => ({ name, start, end }))).toEqual([
      { name: 'canary', start: '2026-11-30T09:00:00.000-05:00', end: '2026-11-30T09:30:00.000-05:00' },
      { name: 'early', start: '2026-11-30T09:30:00.000-05:00', end: '2026-11-30T11:30:00.000-05:00' },
      { name: 'broad', start: '2026-11-30T11:30:00.000-05:00', end: '2026-12-01T11:30:00.000-05:00' },
      { name: 'full', start: '2026-12-01T11:30:00.000-05:00', end: '2026-12-02T11:30:00.000-05:00' },
    ]);
    expect(plan.rings[0]!.waitReasons).toEqual([
      {
        kind: 'outside-window',
        message: 'Fri 15:00 America/New_York is outside the allowed windows (Mon-Thu 09:00-16:00)',
        nextWindowStart: '2026-11-30T09:00:00-05:00',
      },
    ]);
    expect(plan.rings[1]!.waitReasons).toEqual([]);
    expect(plan.rings[2]!.waitReasons).toEqual([{ kind: 'approval-required', message: 'approval required' }]);
    for (const ring of plan.rings) {
      expect(DateTime.fromISO(ring.start as string, { zone: 'America/New_York' }).weekday).toBeLessThan(5);
    }
  });

  it('a rollout running into the year-end freeze starts its last ring when the freeze ends on 2027-01-04 09:00', () => {
    const plan = planRollout(CONTENT_UPDATE, DEFAULT, new Date('2026-12-17T09:00:00-05:00'));
    expect(plan.rings.map((r) => r.start)).toEqual([
      '2026-12-17T09:00:00.000-05:00',
      '2026-12-17T09:30:00.000-05:00',
      '2026-12-17T11:30:00.000-05:00',
      '2027-01-04T09:00:00.000-05:00',
    ]);
    expect(plan.rings[3]!.waitReasons.map((r) => r.message)).toEqual([
      'Fri 11:30 America/New_York is outside the allowed windows (Mon-Thu 09:00-16:00)',
      'year-end freeze until 2027-01-04T09:00:00-05:00',
    ]);
  });

  it('a ring that can never start leaves it and every later ring without times, and says why', () => {
    const frozen: PolicySpec = { ...DEFAULT, freezes: [{ from: '2026-01-01', to: '2030-01-01', reason: 'moratorium' }] };
    const plan = planRollout(CONTENT_UPDATE, frozen, new Date('2026-11-27T15:00:00-05:00'));
    expect(plan.rings.map((r) => [r.start, r.end])).toEqual([
      [null, null],
      [null, null],
      [null, null],
      [null, null],
    ]);
    expect(plan.rings[0]!.waitReasons.map((r) => r.kind)).toEqual(['freeze', 'no-allowed-start']);
    expect(plan.rings[1]!.waitReasons).toEqual([
      { kind: 'previous-ring-unscheduled', message: 'ring canary has no allowed start, so this ring cannot start either' },
    ]);
    expect(plan.rings[2]!.waitReasons.map((r) => r.kind)).toEqual(['previous-ring-unscheduled', 'approval-required']);
  });

  it('from 300 random starts over a year: rings start in allowed windows, in order, after the previous bake', () => {
    const rnd = prng(1130);
    const origin = new Date('2026-06-01T00:00:00-04:00').getTime();
    for (let i = 0; i < 300; i++) {
      const start = new Date(origin + Math.floor(rnd() * 365 * 24 * 60) * 60_000);
      const plan = planRollout(CONTENT_UPDATE, DEFAULT, start);
      let previousEnd = start.getTime();
      plan.rings.forEach((ring, k) => {
        expect(ring.start).toMatch(ISO_WITH_OFFSET);
        expect(ring.end).toMatch(ISO_WITH_OFFSET);
        const s = new Date(ring.start as string);
        const e = new Date(ring.end as string);
        expect(s.getTime()).toBeGreaterThanOrEqual(previousEnd);
        expect(e.getTime() - s.getTime()).toBe(durationMs(CONTENT_UPDATE.rings[k]!.bake));
        expect(isAllowed(DEFAULT, s, 'ring-start')).toEqual({ allowed: true });
        expect(DateTime.fromJSDate(s, { zone: DEFAULT.timezone }).weekday).toBeLessThan(5);
        previousEnd = e.getTime();
      });
    }
  });

  it('with requireBakeWithinWindow, a ring whose 24h bake would end on Friday waits for Monday', () => {
    const staffed: PolicySpec = { ...DEFAULT, requireBakeWithinWindow: true };
    const plan = planRollout(CONTENT_UPDATE, staffed, new Date('2026-12-03T09:00:00-05:00'));
    // canary 09:00-09:30 and early 09:30-11:30 Thursday; broad (24h) would end Friday: Monday 09:00
    expect(plan.rings.map((r) => r.start)).toEqual([
      '2026-12-03T09:00:00.000-05:00',
      '2026-12-03T09:30:00.000-05:00',
      '2026-12-07T09:00:00.000-05:00',
      '2026-12-08T09:00:00.000-05:00',
    ]);
    expect(plan.rings[2]!.waitReasons.map((r) => r.kind)).toEqual([
      'bake-ends-outside-window',
      'outside-window',
      'approval-required',
    ]);
  });
});
