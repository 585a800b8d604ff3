import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseStart, resolveStart, runPlan } from '../../controller/cli/commands/plan';

const ROLLOUT = `apiVersion: ringmaster.dev/v1alpha1
kind: Rollout
metadata:
  name: sensor-content-2026-11-30
spec:
  channel: sensor-content
  version: 7.16.291
  previousVersion: 7.16.290
  artifact:
    url: https://updates.example.internal/sensor-content/7.16.291.bin
    sha256: ${'9f'.repeat(32)}
  policy: default
  rings:
    - name: canary
      selector: { matchLabels: { ring: canary } }
      bake: 30m
    - name: early
      percent: 1
      bake: 2h
    - name: broad
      percent: 10
      bake: 24h
      approval: required
    - name: full
      percent: 100
      bake: 24h
`;

const POLICY = join(__dirname, '../../policies/default.yaml');

let dir: string;
let out: string[];
let err: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ringctl-plan-'));
  out = [];
  err = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  });
});

afterEach(() => {
  jest.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('--start', () => {
  it('accepts ISO 8601 with an offset as an absolute instant', () => {
    const r = parseStart('2026-11-27T15:00:00-05:00');
    expect(r.ok).toBe(true);
    if (r.ok) expect(resolveStart(r.start, 'Europe/Berlin', new Date(0)).toISOString()).toBe('2026-11-27T20:00:00.000Z');
  });

  it('reads ISO 8601 without an offset in the policy zone', () => {
    const r = parseStart('2026-11-27T15:00');
    expect(r.ok).toBe(true);
    if (r.ok) expect(resolveStart(r.start, 'America/New_York', new Date(0)).toISOString()).toBe('2026-11-27T20:00:00.000Z');
  });

  it('reads "Friday 15:00" as the next Friday 15:00 in the policy zone', () => {
    const now = new Date('2026-11-25T12:00:00-05:00'); // a Wednesday
    for (const text of ['Friday 15:00', 'fri 15:00', 'FRIDAY 15:00']) {
      const r = parseStart(text);
      expect(r.ok).toBe(true);
      if (r.ok) expect(resolveStart(r.start, 'America/New_York', now).toISOString()).toBe('2026-11-27T20:00:00.000Z');
    }
  });

  it('rejects what it cannot read with one line naming the accepted forms', () => {
    for (const text of ['tomorrow-ish', '2026-13-45T99:00', 'Fr 15:00', '']) {
      const r = parseStart(text);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.message).toContain('invalid --start');
        expect(r.message).not.toContain('\n');
      }
    }
  });
});

describe('ringctl plan', () => {
  it('--json from Friday 15:00 prints rings starting Monday 09:00 -05:00, none on Fri-Sun', () => {
    const code = runPlan(file('r.yaml', ROLLOUT), { policy: POLICY, start: '2026-11-27T15:00:00-05:00', json: true });
    expect(err.join('')).toBe('');
    expect(code).toBe(0);
    expect(out).toHaveLength(1);
    const doc = JSON.parse(out[0]!) as { rings: Array<{ name: string; start: string; end: string; waitReasons: unknown[] }> };
    expect(doc.rings.map((r) => [r.name, r.start, r.end])).toEqual([
      ['canary', '2026-11-30T09:00:00.000-05:00', '2026-11-30T09:30:00.000-05:00'],
      ['early', '2026-11-30T09:30:00.000-05:00', '2026-11-30T11:30:00.000-05:00'],
      ['broad', '2026-11-30T11:30:00.000-05:00', '2026-12-01T11:30:00.000-05:00'],
      ['full', '2026-12-01T11:30:00.000-05:00', '2026-12-02T11:30:00.000-05:00'],
    ]);
    expect(doc.rings[0]!.waitReasons).toEqual([
      { kind: 'outside-window', message: 'Fri 15:00 America/New_York is outside the allowed windows (Mon-Thu 09:00-16:00)' },
    ]);
    expect(doc.rings[2]!.waitReasons).toEqual([{ kind: 'approval-required', message: 'approval required' }]);
  });

  it('prints a table with start, end and why each ring waits', () => {
    const code = runPlan(file('r.yaml', ROLLOUT), { policy: POLICY, start: '2026-11-27T15:00:00-05:00' });
    expect(code).toBe(0);
    const text = out.join('');
    expect(text).toContain('canary  Mon 2026-11-30 09:00 -05:00');
    const waves = String.raw`50 > 100 > 200 > 400 > \.\.\. hosts \(x2; size unknown\)`;
    expect(text).toMatch(new RegExp(String.raw`canary\s+Mon 2026-11-30 09:00 -05:00\s+Mon 2026-11-30 09:30 -05:00\s+${waves}\s+Fri 15:00 America/New_York is outside`));
    expect(text).toMatch(new RegExp(String.raw`broad\s+Mon 2026-11-30 11:30 -05:00\s+Tue 2026-12-01 11:30 -05:00\s+${waves}\s+approval required`));
    expect(text).toMatch(new RegExp(String.raw`full\s+Tue 2026-12-01 11:30 -05:00\s+Wed 2026-12-02 11:30 -05:00\s+${waves}\s+-`));
    expect(text).toContain('Ring sizes unknown for canary, early, broad, full: their ramp time is not in the plan');
    expect(text).toContain('Requested start: Fri 2026-11-27 15:00 -05:00');
    const rows = text.split('\n').filter((l) => /^(canary|early|broad|full) /.test(l));
    expect(rows).toHaveLength(4);
    for (const row of rows) expect(row).not.toMatch(/(Fri|Sat|Sun) 2026-/);
  });

  it('with the fleet and canary sizes, the waves are complete and their looks move the plan', () => {
    const code = runPlan(file('r.yaml', ROLLOUT), { policy: POLICY, start: '2026-11-30T09:00:00-05:00', hosts: '1000000', ringHosts: 'canary=2000' });
    expect(code).toBe(0);
    const text = out.join('');
    // canary: the census look and 6 waves (50 ... 1,600), then the whole ring: 7 looks of 1 min, then the 30 min bake.
    expect(text).toMatch(/canary\s+Mon 2026-11-30 09:00 -05:00\s+Mon 2026-11-30 09:37 -05:00\s+50 > 100 > 200 > \.\.\. > 1,600 > 2,000 hosts \(7 looks, the census included\)/);
    // full: 100% of 1,000,000 less the 10% before it and the 0.5% holdback.
    expect(text).toMatch(/full\s+.*> 819,200 > 895,000 hosts \(16 looks, the census included\)/);
    expect(text).toContain('Holdback: 0.5% of the fleet stays on');
    expect(text).not.toContain('Ring sizes unknown');
  });

  it('a bad --hosts or --ring-hosts is one line on stderr and exit 2', () => {
    expect(runPlan(file('r.yaml', ROLLOUT), { policy: POLICY, hosts: 'many' })).toBe(2);
    expect(runPlan(file('r.yaml', ROLLOUT), { policy: POLICY, ringHosts: 'canary:2000' })).toBe(2);
    expect(err.join('').trim().split('\n')).toEqual([
      'ringctl plan: invalid --hosts "many": must be a whole number of hosts, 1 or more',
      'ringctl plan: invalid --ring-hosts "canary:2000": write NAME=HOSTS pairs separated by commas, like canary=2000',
    ]);
  });

  it('a bad --start is one line on stderr and exit 2', () => {
    const code = runPlan(file('r.yaml', ROLLOUT), { policy: POLICY, start: 'next tuesday-ish', json: true });
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err.join('').trim().split('\n')).toHaveLength(1);
    expect(err.join('')).toContain('invalid --start "next tuesday-ish"');
  });

  it('an invalid rollout prints its errors with file and line, and exits 1', () => {
    const bad = file('bad.yaml', ROLLOUT.replace('percent: 10\n', 'percent: 150\n'));
    const code = runPlan(bad, { policy: POLICY, start: '2026-11-27T15:00:00-05:00', json: true });
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err.join('')).toMatch(new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+ spec\\.rings\\[2\\]\\.percent`));
  });

  it('an invalid policy prints its errors and exits 1', () => {
    const policy = file('p.yaml', 'apiVersion: ringmaster.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: p\nspec:\n  timezone: America/New_York\n');
    const code = runPlan(file('r.yaml', ROLLOUT), { policy, start: '2026-11-27T15:00:00-05:00', json: true });
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err.join('')).toContain(policy);
  });
});
