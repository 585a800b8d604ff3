/**
 * agent-sim's JSON: small by default, with the per-step timeline only under --timeline, and every transition of the
 * run visible in that timeline (its ring and phase at the step after it); the halt's cause and the oracle beside it.
 */
import * as path from 'node:path';
import { main } from '../../agent-sim/cli';

const SCENARIO = path.join(__dirname, '..', '..', 'examples', 'scenarios', 'bad-content-update.yaml');

async function runJson(args: string[]): Promise<Record<string, unknown>> {
  const out: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  try {
    expect(await main(['--scenario', SCENARIO, '--hosts', '20000', '--seed', '3', '--json', '--no-compare', ...args])).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return JSON.parse(out.join('')) as Record<string, unknown>;
}

jest.setTimeout(60_000);

describe('agent-sim --json', () => {
  test('without --timeline the JSON has no timeline; with it, every transition shows in the timeline', async () => {
    const small = await runJson([]);
    expect(small.timeline).toBeUndefined();
    expect(small.haltCause).toBe('crash');
    expect((small.oracle as { event: string }).event).toBe('crash-on-boot');
    expect(small.firstEventToHalt).toEqual(expect.objectContaining({ crash: expect.any(Number), dataGap: null }));

    const full = await runJson(['--timeline']);
    const timeline = full.timeline as Array<{ t: number; ring: number; phase: string; took: number; wavePpm: number | null }>;
    const transitions = full.transitions as Array<{ at: string; to: string; ring: number }>;
    expect(timeline.length).toBeGreaterThan(10);
    // one point per 30 s step of the run
    expect(Math.abs(timeline.length - ((full.virtualDurationHours as number) * 3600) / 30)).toBeLessThanOrEqual(1);
    const start = Date.parse(full.startedAt as string);
    for (const tr of transitions) {
      // The step that starts at the transition ends one tick later and records the phase and ring it left behind.
      const p = timeline.find((x) => x.t + start > Date.parse(tr.at));
      if (p === undefined) continue; // the run ends at the last transition
      expect({ at: tr.at, phase: p.phase, ring: p.ring }).toEqual({ at: tr.at, phase: tr.to, ring: tr.ring });
    }
    // The hosts that took the update only grow, and the last point is the run's figure.
    expect(timeline.every((p, i) => i === 0 || p.took >= (timeline[i - 1] as { took: number }).took)).toBe(true);
    expect(timeline[timeline.length - 1]?.took).toBe(full.hostsUpdated);
  });
});
