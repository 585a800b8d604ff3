/**
 * The pure parts of ringctl status and status --watch: the status text, the ring progress markers, the
 * watch frames, and the watch loop driven by a fake clock, a fake server and a fake terminal.
 */
import { renderList, renderStatus, ringProgress } from '../../controller/cli/render';
import { CliError, Client } from '../../controller/cli/client';
import { ERASE_DOWN, ERASE_LINE, HOME, renderWatchFrame, watchKey, watchRollout, type WatchIO } from '../../controller/cli/watch';
import type { Phase, Transition } from '../../controller/engine/state';
import type { RolloutView } from '../../controller/runtime/service';

const T0 = '2026-11-30T14:00:00.000Z';

function view(over: Partial<RolloutView> = {}): RolloutView {
  const spec = {
    apiVersion: 'ringmaster.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'r' },
    spec: {
      channel: 'c',
      version: '2.0.0',
      rings: [
        { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '30m' },
        { name: 'one', percent: 1, bake: '2h', maxBake: '4h' },
        { name: 'ten', percent: 10, bake: '24h', approval: 'required' },
        { name: 'all', percent: 100, bake: '1h' },
      ],
    },
  };
  return {
    name: 'r',
    channel: 'c',
    version: '2.0.0',
    previousVersion: '1.0.0',
    policy: 'default',
    phase: { kind: 'progressing', ring: 1, bakeStartedAt: T0 },
    exposedRing: 1,
    ring: { index: 1, name: 'one' },
    waitingReason: null,
    bake: { startedAt: T0, minEndsAt: '2026-11-30T16:00:00.000Z', maxEndsAt: '2026-11-30T18:00:00.000Z' },
    wave: null,
    lastVerdict: null,
    history: [
      { n: 1, at: T0, from: 'pending', to: 'progressing', exposedRing: 0, reason: 'ring canary started', actor: 'controller' },
      { n: 2, at: T0, from: 'progressing', to: 'progressing', exposedRing: 1, reason: 'ring one started', actor: 'controller' },
    ],
    revision: 4,
    createdAt: T0,
    updatedAt: T0,
    ...over,
    spec: spec as unknown as RolloutView['spec'],
  };
}

const ringLine = (text: string, i: number): string => text.split('\n').find((l) => new RegExp(`^  \\[.\\] ${i}  `).test(l)) ?? '';

describe('renderStatus', () => {
  test('marks done, active and pending rings and shows the bake time elapsed and left', () => {
    const text = renderStatus(view({ manifestRevision: 7 }), new Date('2026-11-30T14:30:00.000Z'));
    expect(text.split('\n').slice(0, 3)).toEqual(['r  c 1.0.0 -> 2.0.0', 'phase: progressing', "policy default  rollout revision 4  manifest revision 7 (the channel's)"]);
    expect(ringLine(text, 0)).toBe('  [x] 0  canary  ring=canary    n/a  done');
    expect(ringLine(text, 1)).toBe('  [>] 1  one     1%             n/a  active: baked 30m of 2h, 1h30m left, maxBake in 3h30m');
    expect(ringLine(text, 2)).toBe('  [ ] 2  ten     10%            n/a  bake 24h, approval required');
    expect(ringLine(text, 3)).toBe('  [ ] 3  all     100%           n/a  bake 1h');
    expect(text).not.toMatch(/^waiting:/m);
    expect(text).not.toMatch(/^next:/m);
    expect(text).toMatch(/^history \(times in UTC\):\n {2}#1 .*\n {2}#2 2026-11-30 14:00:00 UTC progressing -> progressing \(controller\): ring one started$/m);
  });

  test("times in the policy's time zone from the view, UTC with --utc", () => {
    const ny = view({ timezone: 'America/New_York' });
    expect(renderStatus(ny, new Date(T0))).toMatch(/^history \(times in America\/New_York\):\n {2}#1 2026-11-30 09:00:00 EST pending -> progressing/m);
    expect(renderStatus(ny, new Date(T0), { utc: true })).toMatch(/^history \(times in UTC, --utc\):\n {2}#1 2026-11-30 14:00:00 UTC pending/m);
  });

  test('long ring names keep the columns aligned', () => {
    const v = view();
    const spec = JSON.parse(JSON.stringify(v.spec)) as RolloutView['spec'];
    (spec.spec.rings[1] as { name: string }).name = 'one-ring-with-a-long-name';
    const text = renderStatus({ ...v, spec }, new Date(T0));
    const rows = [0, 1, 2, 3].map((i) => ringLine(text, i));
    const col = (l: string): number => l.indexOf('n/a');
    expect(rows.map(col)).toEqual([col(rows[0] as string), col(rows[0] as string), col(rows[0] as string), col(rows[0] as string)]);
    expect(rows[1]).toMatch(/^ {2}\[>\] 1 {2}one-ring-with-a-long-name {2}1% /);
  });

  test('the bake clock moves with now, and says when the minimum bake is over', () => {
    expect(ringLine(renderStatus(view(), new Date('2026-11-30T15:59:59.000Z')), 1)).toMatch(/baked 1h59m59s of 2h, 1s left/);
    expect(ringLine(renderStatus(view(), new Date('2026-11-30T16:10:00.000Z')), 1)).toMatch(/baked 2h10m of 2h, minimum bake done, waiting for a verdict, maxBake in 1h50m/);
  });

  test('the last verdict: one line per metric; -o wide adds the numbers, breached guards included', () => {
    const viewWithVerdict = view({
        lastVerdict: {
          ring: 1,
          at: '2026-11-30T14:30:00.000Z',
          result: 'fail',
          reason: 'fail: crashes: candidate crash rate 3.1x the baseline',
          metrics: [
            { metric: 'crashes', type: 'crash-rate', result: 'fail', reason: 'rate ratio above 1.2', at: T0, sample: null, candidate: { events: 31, exposureHours: 120.5, hosts: 9000, rate: 0.257 }, baseline: { events: 300, exposureHours: 12000, hosts: 990000, rate: 0.025 }, ratio: 10.29, guards: [{ guard: 'maxRatio', limit: 1.2, observed: 10.29, statistic: null, threshold: null, breached: true }], relative: { theta0: 1.2, theta1: 2, alpha: 0.0025, rolloutAlpha: 0.01, logE: 7.5, threshold: 4.6, increment: 0.5, maxIntervalIncrement: 2.3, active: true, bets: 30, belowCap: 0, dispersion: 0, ruledOutRatio: null, powerAtDetectRatio: null }, value: null, concern: true, notes: [] },
            { metric: 'bsod', type: 'bsod-rate', result: 'inconclusive', reason: 'needs 500 host-hours', at: T0, sample: null, candidate: { events: 0, exposureHours: 120.5, hosts: 9000, rate: 0 }, baseline: { events: 2, exposureHours: 12000, hosts: 990000, rate: 0 }, ratio: 0, guards: [], relative: null, value: null, concern: false, notes: [] },
          ],
        },
      });
    const text = renderStatus(viewWithVerdict, new Date('2026-11-30T14:30:00.000Z'));
    // One line per metric, its reason once; the numbers are -o wide's columns.
    const lines = text.split('\n');
    expect(lines.filter((l) => l.startsWith('verdict'))).toEqual(['verdict: fail (ring 1 one, 2026-11-30 14:30:00 UTC)']);
    expect(lines.filter((l) => /^ {2}(crashes|bsod) /.test(l))).toEqual(['  crashes  fail          rate ratio above 1.2', '  bsod     inconclusive  needs 500 host-hours']);
    expect(text.split('rate ratio above 1.2')).toHaveLength(2);
    const wide = renderStatus(viewWithVerdict, new Date('2026-11-30T14:30:00.000Z'), { wide: true }).split('\n');
    expect(wide).toContain('  METRIC   RESULT        CANDIDATE                       BASELINE            RATIO  E-VALUE       BREACHED              REASON');
    expect(wide).toContain('  crashes  fail          31 / 120.5 host-h (9000 hosts)  300 / 12000 host-h  10.29  ln 7.5 / 4.6  maxRatio 10.29 > 1.2  rate ratio above 1.2');
    expect(wide).toContain('  bsod     inconclusive  0 / 120.5 host-h (9000 hosts)   2 / 12000 host-h    0      -             -                     needs 500 host-hours');
  });

  test('a transition that embeds the verdict does not repeat it', () => {
    const reason = 'fail: crashes: candidate crash rate 3.1x the baseline, far above the limit';
    const v = view({
      phase: { kind: 'rolling-back', since: T0, reason: `ring one failed analysis: ${reason}`, end: 'rolled-back' },
      drain: { since: T0, endsAt: '2026-11-30T14:00:15.000Z' },
      lastVerdict: { ring: 1, at: T0, result: 'fail', reason, metrics: [] },
      history: [...view().history, { n: 3, at: T0, from: 'progressing', to: 'rolling-back', exposedRing: -1, reason: `ring one failed analysis: ${reason}`, actor: 'controller' }],
      bake: null,
    });
    const text = renderStatus(v, new Date('2026-11-30T14:00:03.000Z'));
    expect(text.split('\n').slice(1, 4)).toEqual(['phase: rolling-back', 'rolling back: agents revert; drain ends in 12s, then rolled-back', 'why: ring one failed analysis: (verdict below)']);
    expect(text).toMatch(/^ {2}#3 .* ring one failed analysis: \(verdict below\)$/m);
    expect(text.split(reason)).toHaveLength(2);
  });

  test('a ring waiting for its window or an approval is next; the ring before it is done', () => {
    const waiting = view({ phase: { kind: 'awaiting-approval', ring: 2, reason: 'ring ten requires approval', cause: 'approval-required' }, ring: { index: 2, name: 'ten' }, bake: null, waitingReason: 'ring ten requires approval' });
    const text = renderStatus(waiting, new Date(T0));
    expect(text).toMatch(/^waiting: ring ten requires approval\nnext: ringctl approve r$/m);
    expect(ringProgress(waiting)).toEqual(['done', 'done', 'next', 'pending']);
    expect(ringLine(text, 2)).toMatch(/\[ \] 2 {2}ten\s+10%\s+n\/a {2}next: awaiting approval; bake 24h, approval required$/);
    const paused = view({ phase: { kind: 'paused', from: { kind: 'waiting-for-window', ring: 0, reasons: [] }, reason: 'x' }, exposedRing: -1, ring: { index: 0, name: 'canary' }, bake: null, history: [] });
    expect(ringLine(renderStatus(paused, new Date(T0)), 0)).toMatch(/next: waiting for the policy window; bake 30m$/);
    expect(renderStatus(paused, new Date(T0))).toMatch(/^phase: paused \(was waiting-for-window\)$/m);
    expect(renderStatus(paused, new Date(T0))).toMatch(/^next: ringctl resume r$/m);
  });

  test('halted, withdrawn and succeeded rollouts', () => {
    const halted = view({ phase: { kind: 'halted', ring: 1, reason: 'kill-switch', message: 'kill switch engaged' }, bake: null });
    expect(ringProgress(halted)).toEqual(['done', 'halted', 'pending', 'pending']);
    expect(ringLine(renderStatus(halted, new Date(T0)), 1)).toMatch(/^ {2}\[!\] 1 {2}one .*halted: exposure frozen$/);
    expect(renderStatus(halted, new Date(T0)).split('\n').slice(1, 4)).toEqual(['phase: halted (kill-switch)', 'why: kill switch engaged', 'next: ringctl resume r  or  ringctl rollback r']);
    // The kill switch can halt a rollout whose ring never started: nothing is exposed.
    const haltedWaiting = view({ phase: { kind: 'halted', ring: 0, reason: 'kill-switch', message: 'kill switch engaged' }, exposedRing: -1, ring: { index: 0, name: 'canary' }, bake: null, history: [] });
    expect(ringProgress(haltedWaiting)).toEqual(['halted', 'pending', 'pending', 'pending']);
    expect(ringLine(renderStatus(haltedWaiting, new Date(T0)), 0)).toMatch(/^ {2}\[!\] 0 {2}canary .* halted before it started$/);
    // After a rollback exposedRing is -1: the history says how far the candidate got.
    const history: Transition[] = [...view().history, { n: 3, at: T0, from: 'progressing', to: 'rolling-back', exposedRing: -1, reason: 'fail', actor: 'controller' }, { n: 4, at: T0, from: 'rolling-back', to: 'rolled-back', exposedRing: -1, reason: 'drained', actor: 'controller' }];
    const rolledBack = view({ phase: { kind: 'rolled-back', reason: 'fail' }, exposedRing: -1, ring: null, bake: null, history });
    expect(ringProgress(rolledBack)).toEqual(['withdrawn', 'withdrawn', 'pending', 'pending']);
    expect(ringLine(renderStatus(rolledBack, new Date(T0)), 1)).toMatch(/^ {2}\[<\] 1 {2}one\s+1%\s+n\/a {2}withdrawn$/);
    expect(ringProgress(view({ phase: { kind: 'succeeded' }, exposedRing: 3, ring: null, bake: null }))).toEqual(['done', 'done', 'done', 'done']);
  });

  test('renderList: one row per rollout, aligned', () => {
    const rows = renderList([view(), view({ name: 'other-rollout', phase: { kind: 'waiting-for-window', ring: 0, reasons: [] }, exposedRing: -1, ring: { index: 0, name: 'canary' }, waitingReason: 'outside the window' })]).split('\n');
    expect(rows).toEqual([
      'NAME           CHANNEL  VERSION  PHASE               RING      WAITING',
      'r              c        2.0.0    progressing         1:one',
      'other-rollout  c        2.0.0    waiting-for-window  0:canary  outside the window',
    ]);
    expect(renderList([])).toBe('no rollouts');
  });
});

describe('renderWatchFrame', () => {
  const now = new Date('2026-11-30T14:30:00.000Z');
  const screenLines = (frame: string): string[] => frame.replace(HOME, '').replace(ERASE_DOWN, '').split(`${ERASE_LINE}\n`).map((l) => l.replace(ERASE_LINE, ''));

  test('on a terminal: redrawn in place (home, each line erased, the rest erased), the header first, a footer last', () => {
    const frame = renderWatchFrame(view(), now, { intervalMs: 2000 });
    expect(frame.startsWith(HOME)).toBe(true);
    expect(frame.endsWith(ERASE_DOWN)).toBe(true);
    const lines = screenLines(frame);
    expect(lines.slice(0, 2)).toEqual(['r  c 1.0.0 -> 2.0.0', 'phase: progressing']);
    expect(lines.at(-1)).toBe('(refreshed 14:30:00 UTC, every 2s; Ctrl-C to stop)');
  });

  test('fits 80x24 whatever the history: the header stays, no line is wider than 80, the oldest history goes first', () => {
    const long = 'a reason long enough to wrap an 80-column terminal twice over, '.repeat(3);
    const history: Transition[] = Array.from({ length: 30 }, (_, k) => ({ n: k + 1, at: T0, from: 'progressing', to: 'progressing', exposedRing: 1, reason: `${k + 1}: ${long}`, actor: 'controller' }));
    const lines = screenLines(renderWatchFrame(view({ history, waitingReason: long }), now, { intervalMs: 1000, size: { columns: 80, rows: 24 } }));
    // 23: the last row stays free for the cursor, so that the newline after the last frame does not scroll.
    expect(lines.length).toBe(23);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(80);
    expect(lines[0]).toBe('r  c 1.0.0 -> 2.0.0');
    expect(lines[2]?.endsWith('…')).toBe(true);
    expect(lines.find((l) => l.startsWith('history'))).toMatch(/^history \(last \d+ of 30, times in UTC\):$/);
    expect(lines.filter((l) => l.startsWith('  #')).at(-1)).toMatch(/^ {2}#30 14:00:00 progressing/);
    expect(lines.some((l) => l.startsWith('  #1 '))).toBe(false);
  });

  test('a next: hint wider than the screen takes one line per command', () => {
    const name = 'sensor-content-7.16.291-live-with-a-long-name';
    const halted = view({ name, phase: { kind: 'halted', ring: 1, reason: 'analysis-failed', message: 'ring one failed analysis' }, bake: null });
    const lines = screenLines(renderWatchFrame(halted, now, { intervalMs: 1000 }));
    expect(lines.slice(2, 5)).toEqual(['why: ring one failed analysis', `next: ringctl resume ${name}`, `  or: ringctl rollback ${name}`]);
    expect(renderStatus(halted, now)).toContain(`next: ringctl resume ${name}  or  ringctl rollback ${name}`);
  });

  test('a final phase ends the footer with the exit code; a failed refresh is shown over the last good view', () => {
    expect(screenLines(renderWatchFrame(view({ phase: { kind: 'succeeded' } }), now, { intervalMs: 2000, ended: 'rollout succeeded; watch ended (exit 0)' })).at(-1)).toBe('(rollout succeeded; watch ended (exit 0))');
    expect(screenLines(renderWatchFrame(view(), now, { intervalMs: 500, error: 'ringctl: cannot reach http://x: connection refused' })).slice(-2)).toEqual(['ringctl: cannot reach http://x: connection refused', '(refresh failed at 14:30:00 UTC; retrying every 0.5s; Ctrl-C to stop)']);
  });

  test('watchKey ignores the passing of time but not a new verdict or transition', () => {
    const a = view();
    expect(watchKey(view())).toBe(watchKey(a));
    expect(watchKey(view({ revision: 5 }))).not.toBe(watchKey(a));
    expect(watchKey(view({ lastVerdict: { ring: 1, at: T0, result: 'pass', reason: 'ok', metrics: [] } }))).not.toBe(watchKey(a));
    expect(watchKey(view({ waitingReason: 'kill switch engaged' }))).not.toBe(watchKey(a));
  });
});

describe('watchRollout', () => {
  /** A fake server answering with the given views (or errors) in turn, a fake clock that sleeps instantly. */
  function harness(answers: Array<RolloutView | Error>, opts: { tty: boolean; json?: boolean; format?: WatchIO['format']; timeoutMs?: number; abortAfterFetches?: number }) {
    const writes: string[] = [];
    const errors: string[] = [];
    const sleeps: number[] = [];
    const stop = new AbortController();
    let fetches = 0;
    let clock = Date.parse(T0);
    const io: WatchIO = {
      fetch: async () => {
        fetches++;
        if (opts.abortAfterFetches !== undefined && fetches > opts.abortAfterFetches) {
          stop.abort();
          throw new CliError('aborted mid-request', 1, 0);
        }
        const a = answers.shift();
        if (a === undefined) throw new Error('the watch fetched after the end of the script');
        if (a instanceof Error) throw a;
        return a;
      },
      write: (t) => writes.push(t),
      writeError: (l) => errors.push(l),
      now: () => new Date(clock),
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
      tty: opts.tty,
      json: opts.json ?? false,
      ...(opts.format ? { format: opts.format } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
      intervalMs: 2000,
      signal: stop.signal,
    };
    return { io, writes, errors, sleeps, fetches: () => fetches };
  }

  const progressing = view();
  const verdict = view({ revision: 5, lastVerdict: { ring: 1, at: '2026-11-30T14:00:04.000Z', result: 'inconclusive', reason: 'needs exposure', metrics: [] } });
  const done = view({ revision: 9, phase: { kind: 'succeeded' } as Phase, exposedRing: 3, ring: null, bake: null });

  test('not on a terminal: one line per change, no escape codes, and the watch ends at a final phase', async () => {
    const h = harness([progressing, progressing, progressing, verdict, verdict, done], { tty: false });
    await expect(watchRollout(h.io)).resolves.toMatchObject({ end: 'final', phase: 'succeeded', code: 0 });
    expect(h.fetches()).toBe(6);
    const lines = h.writes.join('').split('\n').filter((l) => l !== '');
    expect(lines).toEqual([
      '2026-11-30T14:00:00Z watching r: c 1.0.0 -> 2.0.0, policy default, phase progressing (ring 1 one), rollout revision 4',
      '2026-11-30T14:00:00Z #2 progressing -> progressing (controller): ring one started',
      '2026-11-30T14:00:04Z verdict inconclusive (ring 1 one): needs exposure',
      '2026-11-30T14:00:10Z rollout succeeded; watch ended (exit 0)',
    ]);
    expect(h.writes.join('')).not.toContain('\x1b');
    expect(h.sleeps).toEqual([2000, 2000, 2000, 2000, 2000]);
  });

  test('not on a terminal: a halt ends the watch with exit 5 and says what to do next, in the policy zone', async () => {
    const halted = view({ timezone: 'America/New_York', revision: 6, phase: { kind: 'halted', ring: 1, reason: 'provider-error', message: 'prometheus down' }, waitingReason: 'halted (provider-error): prometheus down', bake: null, history: [...progressing.history, { n: 3, at: '2026-11-30T14:00:02.000Z', from: 'progressing', to: 'halted', exposedRing: 1, reason: 'provider-error: prometheus down', actor: 'controller' }] });
    const h = harness([view({ timezone: 'America/New_York' }), halted], { tty: false });
    await expect(watchRollout(h.io)).resolves.toMatchObject({ end: 'final', phase: 'halted', code: 5 });
    expect(h.writes.join('').split('\n').slice(2, 6)).toEqual([
      '2026-11-30T09:00:02-05:00 #3 progressing -> halted (controller): provider-error: prometheus down',
      '2026-11-30T09:00:02-05:00 next: ringctl resume r  or  ringctl rollback r',
      '2026-11-30T09:00:02-05:00 rollout halted; watch ended (exit 5)',
      '',
    ]);
  });

  test('not on a terminal: the verdict text is printed once, with the first transition that carries it', async () => {
    const reason = 'fail: crashes: candidate crash rate 3.1x the baseline, far above the limit';
    const lv = { ring: 1, at: T0, result: 'fail' as const, reason, metrics: [] };
    const t3 = { n: 3, at: '2026-11-30T14:00:01.000Z', from: 'progressing' as const, to: 'rolling-back' as const, exposedRing: -1, reason: `ring one failed analysis: ${reason}`, actor: 'controller' };
    const t4 = { n: 4, at: '2026-11-30T14:00:03.000Z', from: 'rolling-back' as const, to: 'rolled-back' as const, exposedRing: -1, reason: `rollback drained (ring one failed analysis: ${reason})`, actor: 'controller' };
    const rolling = view({ revision: 5, phase: { kind: 'rolling-back', since: t3.at, reason: t3.reason, end: 'rolled-back' }, lastVerdict: lv, history: [...progressing.history, t3], bake: null });
    const rolled = view({ revision: 6, phase: { kind: 'rolled-back', reason: t3.reason }, exposedRing: -1, lastVerdict: lv, history: [...progressing.history, t3, t4], bake: null });
    const h = harness([progressing, rolling, rolled], { tty: false });
    await expect(watchRollout(h.io)).resolves.toMatchObject({ end: 'final', code: 3 });
    const text = h.writes.join('');
    expect(text.split(reason)).toHaveLength(2);
    expect(text).toContain(' #4 rolling-back -> rolled-back (controller): rollback drained (ring one failed analysis: (the verdict of #3))\n');
  });

  test('--timeout: the watch gives up after it, between refreshes, with the phase it was in', async () => {
    const h = harness([progressing, progressing, progressing, progressing], { tty: false, timeoutMs: 5000 });
    await expect(watchRollout(h.io)).resolves.toMatchObject({ end: 'timeout', phase: 'progressing' });
    expect(h.sleeps).toEqual([2000, 2000, 1000]);
    expect(h.writes.join('')).toMatch(/\n2026-11-30T14:00:05Z timed out after 5s in phase progressing; watch ended \(exit 6\)\n$/);
  });

  test('on a terminal: every refresh redraws the screen (the bake clock ticks)', async () => {
    const h = harness([progressing, progressing, done], { tty: true });
    await watchRollout(h.io);
    expect(h.writes).toHaveLength(3);
    for (const w of h.writes) expect(w.startsWith(HOME)).toBe(true);
    expect(h.writes[0]).toMatch(/baked 0s of 2h, 2h left/);
    expect(h.writes[1]).toMatch(/baked 2s of 2h, 1h59m58s left/);
    expect(h.writes[2]).toMatch(/rollout succeeded; watch ended \(exit 0\)/);
  });

  test('-o yaml: one YAML document per change', async () => {
    const h = harness([progressing, progressing, done], { tty: false, format: 'yaml' });
    await watchRollout(h.io);
    expect(h.writes).toHaveLength(2);
    expect(h.writes[0]).toMatch(/^---\nrollout:\n {2}name: r\n/);
    expect(h.writes[1]).toMatch(/\n {4}kind: succeeded\n/);
  });

  test('--json: one JSON line per change', async () => {
    const h = harness([progressing, progressing, done], { tty: true, json: true });
    await watchRollout(h.io);
    expect(h.writes.map((w) => (JSON.parse(w) as { rollout: RolloutView }).rollout.phase.kind)).toEqual(['progressing', 'succeeded']);
  });

  test('an outage after the first refresh is reported once and ridden out; a 404 or a first failure ends the watch', async () => {
    const down = new CliError('ringctl: cannot reach http://127.0.0.1:1: connection refused (set RINGMASTER_URL or --server)', 1, 0);
    const h = harness([progressing, down, down, new CliError('ringctl status: 503 unavailable: x', 1, 503), progressing, done], { tty: false });
    await expect(watchRollout(h.io)).resolves.toMatchObject({ end: 'final', phase: 'succeeded' });
    expect(h.errors).toEqual(['ringctl: cannot reach http://127.0.0.1:1: connection refused (set RINGMASTER_URL or --server) (retrying every 2s)', 'ringctl status: 503 unavailable: x (retrying every 2s)']);
    expect(h.writes).toHaveLength(2);

    const tty = harness([progressing, down, done], { tty: true });
    await watchRollout(tty.io);
    expect(tty.writes[1]?.startsWith(HOME)).toBe(true);
    expect(tty.writes[1]).toMatch(/\nringctl: cannot reach http:\/\/127\.0\.0\.1:1: connection refused .*\n\(refresh failed at 14:00:02 UTC; retrying every 2s/);

    const gone = new CliError('ringctl status: 404 not_found: no rollout named "r" (request 1)', 1, 404);
    await expect(watchRollout(harness([progressing, gone], { tty: false }).io)).rejects.toBe(gone);
    await expect(watchRollout(harness([down], { tty: false }).io)).rejects.toBe(down);
  });

  test('Ctrl-C (the signal) ends the watch as interrupted, without an error', async () => {
    const h = harness([progressing, progressing, progressing], { tty: false, abortAfterFetches: 2 });
    await expect(watchRollout(h.io)).resolves.toEqual({ end: 'interrupted' });
    expect(h.errors).toEqual([]);
    expect(h.writes).toHaveLength(1);
  });
});

describe('Client settings', () => {
  test('flags win over RINGMASTER_URL, which wins over the default http://127.0.0.1:8080', () => {
    expect(new Client('get', {}, {}).base.href).toBe('http://127.0.0.1:8080/');
    expect(new Client('get', {}, { RINGMASTER_URL: 'http://ctl.example:9000' }).base.href).toBe('http://ctl.example:9000/');
    expect(new Client('get', { server: 'https://other:1' }, { RINGMASTER_URL: 'http://ctl.example:9000' }).base.href).toBe('https://other:1/');
    expect(() => new Client('get', { server: 'not a url' }, {})).toThrow(/^ringctl get: invalid server URL "not a url"/);
  });
});

describe('renderStatus: a ramping ring', () => {
  test('shows its wave, the share of the ring and the hosts, and that the bake has not started', () => {
    const ramping = view({ phase: { kind: 'progressing', ring: 1, bakeStartedAt: null }, bake: null, wave: { index: 2, ppm: 40_000, sharePercent: 4, targetHosts: 400, ringHosts: 10_000, since: T0 } });
    expect(ringLine(renderStatus(ramping, new Date(T0)), 1)).toBe('  [>] 1  one     1%           400/10000  active: ramping, wave 2: 4% of the ring (~400 of 10000 hosts); the bake starts when it is wholly exposed');
    expect(ringLine(renderStatus(ramping, new Date(T0)), 0)).toMatch(/^ {2}\[x\] 0 {2}canary {2}ring=canary {8}n\/a {2}done$/);
    const census = view({ phase: { kind: 'progressing', ring: 1, bakeStartedAt: null }, bake: null, wave: { index: 0, ppm: 0, sharePercent: 0, targetHosts: null, ringHosts: null, since: T0 } });
    expect(ringLine(renderStatus(census, new Date(T0)), 1)).toMatch(/active: ramping, census look \(nobody takes it yet\)$/);
  });
});
