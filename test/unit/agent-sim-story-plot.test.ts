/**
 * What `make demo` shows a reader (issue 15, items 7 and 8): the story in plain words, each line once, virtual time
 * labelled, a closing "next:" line; and a plot whose labels match its series, with the all-at-once run beside
 * Ringmaster's and the halt and rolled-back markers each at its own time. The bad content update on 20,000 hosts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../agent-sim/cli';
import { plotSvg } from '../../agent-sim/plot';
import { loadScenario } from '../../agent-sim/scenario';
import { runAllAtOnce, runVirtual } from '../../agent-sim/virtual';

const SCENARIO = path.join(__dirname, '..', '..', 'examples', 'scenarios', 'bad-content-update.yaml');
jest.setTimeout(120_000);

test('the story: virtual time labelled, the halt in plain words (counts, hosts, limit, evidence vs needed), no line twice, a next: line', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-sim-story-'));
  const out: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  try {
    expect(await main(['--scenario', SCENARIO, '--hosts', '20000', '--seed', '3', '--plot', path.join(dir, 'p.svg')])).toBe(0);
  } finally {
    spy.mockRestore();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const lines = out.join('').split('\n');
  expect(lines[0]).toMatch(/^Virtual time: a simulated clock/);
  const story = lines.filter((l) => /^T\+/.test(l));
  expect(story.length).toBeGreaterThanOrEqual(5);
  const halt = story.find((l) => l.includes('-> halted'));
  expect(halt).toMatch(/^T\+\d+m\s+canary: [0-9,]+ BSODs on [0-9,]+ updated hosts in [0-9.]+ host-h \([0-9.,]+\/host-h, over 10x the limit 0\.02\/host-h; evidence [0-9.,]+ vs [0-9.]+ needed\).* -> halted, candidate withdrawn/);
  // The reason is said once: the rolled-back line does not repeat it; nothing the engine words ("log-LR", "fail:") leaks.
  expect(story.filter((l) => l.includes('BSODs on')).length).toBe(1);
  expect(story.find((l) => l.includes('rolled back'))).toMatch(/rolled back: every host that can still poll runs 7\.16\.290 again/);
  expect(new Set(story.map((l) => l.replace(/^T\+\S+\s+/, ''))).size).toBe(story.length);
  expect(lines.join('\n')).not.toMatch(/log-LR|fail: bsod|progressing -> rolling-back/);
  expect(lines.some((l) => /^virtual time: \d+ min simulated in [0-9.]+ s of wall time/.test(l))).toBe(true);
  expect(lines.filter((l) => l.length > 0).pop()).toMatch(/^next: .*make demo-live.*Quick start/);
});

test('the plot: one log axis, all at once beside Ringmaster, series named for what they count, markers where they happened', async () => {
  const sc = loadScenario(SCENARIO, { hosts: 20_000, seed: 3 });
  const run = await runVirtual(sc);
  const all = runAllAtOnce(sc);
  const svg = plotSvg(run, 'demo', all);
  expect(svg).toMatch(/hosts \(log scale\)/);
  for (const tick of ['1', '10', '100', '1,000', '10,000']) expect(svg).toContain(`>${tick}</text>`);
  expect(svg).not.toMatch(/cumulative crashes|crashes \+ BSODs/);
  expect(svg.match(/hosts bricked \(boot loop\)/g)?.length).toBe(2);
  expect(svg).toContain(`>${all.hostsBricked.toLocaleString('en-US')}</text>`);
  expect(svg).toContain(`>${run.hostsBricked.toLocaleString('en-US')}</text>`);
  // Four series: two solid (Ringmaster), two dashed (all at once).
  expect(svg.match(/<path /g)?.length).toBe(4);
  expect(svg.match(/<path [^>]*stroke-dasharray/g)?.length).toBe(2);
  const halt = /<line x1="([0-9.]+)"[^>]*\/>\s*<text[^>]*>halt \(candidate withdrawn\) T\+(\d+)m</.exec(svg);
  const back = /<line x1="([0-9.]+)"[^>]*\/>\s*<text[^>]*>rolled back T\+(\d+)m</.exec(svg);
  expect(halt).not.toBeNull();
  expect(back).not.toBeNull();
  const minutes = (iso: string): number => Math.round((Date.parse(iso) - Date.parse(run.startedAt)) / 60_000);
  expect(Number(halt?.[2])).toBe(minutes(run.haltAt as string));
  expect(Number(back?.[2])).toBe(minutes((run.transitions.find((t) => t.to === 'rolled-back') as { at: string }).at));
  expect(Number(back?.[1])).toBeGreaterThan(Number(halt?.[1]));
});
