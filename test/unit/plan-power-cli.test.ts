/**
 * `ringctl plan --power` (controller/cli/commands/plan-power.ts, policy/power-plan.ts) on the example rollout: the
 * rows a user reads, the JSON numbers against engine/power.ts, and the usage errors. The statistics themselves are
 * checked against the judge in test/unit/power.test.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { intervalsForPower } from '../../controller/engine/power';
import type { RingPower } from '../../controller/policy/power-plan';
import { ensureBuilt } from '../helpers/build';

const ROOT = join(__dirname, '../..');
const BASE = ['plan', 'examples/rollouts/content-update.yaml', '--policy', 'policies/default.yaml', '--start', '2026-11-30T09:00:00-05:00', '--hosts', '1000000', '--ring-hosts', 'canary=2000', '--power'];

/** The real ringctl (bin/ringctl.js on dist/), as a child process: jest's sandbox runs the numerics ~15x slower. */
function ringctl(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/ringctl.js'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking the event loop (the fake Prometheus below runs in this process). */
function ringctlAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/ringctl.js'), ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

beforeAll(() => ensureBuilt(), 120_000);

test('--json: one power row per ring and metric; the canary holds 2,000 hosts, the 1% ring adds 10,000; the numbers are engine/power.ts', () => {
  const r = ringctl([...BASE, '--json', '--baseline-rate', 'crashes=0.01,bsod=0.0005']);
  expect(r.status).toBe(0);
  const doc = JSON.parse(r.stdout) as { power: RingPower[] };
  expect(doc.power.map((r) => `${r.ring}/${r.metric}`)).toEqual(['canary/crashes', 'canary/bsod', 'early/crashes', 'early/bsod', 'broad/crashes', 'broad/bsod', 'full/crashes', 'full/bsod']);
  const canary = doc.power[0] as RingPower;
  expect([canary.candidateHosts, canary.baselineHosts]).toEqual([2_000, 998_000]);
  expect(doc.power[2]?.candidateHosts).toBe(12_000);
  // α: 0.01 over 4 rings, 2 metrics + 2 built-in signals, half of a guarded metric's share to the relative test.
  expect(canary.alpha).toBeCloseTo(0.01 / 4 / 4 / 2, 12);
  const n = intervalsForPower({ baselineRate: 0.01, candidateHosts: 2_000, baselineHosts: 998_000, intervalHours: 1 / 60, maxRatio: 1.2, detectRatio: 2, alpha: canary.alpha }, 2);
  expect(canary.intervals).toBe(n);
  expect(canary.exposureHours).toBeCloseTo(((n as number) * 2_000) / 60, 6);
  // The 30-minute canary bake cannot see a doubling of the crash rate: the smallest ratio it detects is larger.
  expect(canary.smallestRatioInBake as number).toBeGreaterThan(2);
  expect((doc.power[4] as RingPower).smallestRatioInBake as number).toBeLessThan(2);
});

test('the human table names the exposure and time to detect detectRatio and the smallest ratio in the bake', () => {
  const r = ringctl([...BASE, '--baseline-rate', '0.01']);
  expect(r.status).toBe(0);
  const text = r.stdout;
  expect(text).toMatch(/Power of each metric's relative test/);
  expect(text).toMatch(/^canary\s+crashes\s+2,000 \/ 998,000\s+0\.01\/host-h\s+3\.13e-4\s+2x: [0-9,]+ host-h, \S+\s+30m\s+>= [0-9.]+x$/m);
});

test.each([
  [['--baseline-rate', '0.01'], ['--hosts', '1000000'], /--power needs the fleet's size: --hosts N/],
  [[], [], /--power needs --baseline-rate R/],
  [['--baseline-rate', 'crashes=0.01'], [], /no rate for bsod/],
  [['--baseline-rate', 'crash=0.01,bsod=1'], [], /no counts metric "crash"/],
  [['--baseline-rate', '-1'], [], /invalid --baseline-rate "-1"/],
])('usage error %j exits 2 with one line', (extra, drop, message) => {
  const args = BASE.filter((a, i) => !(drop.includes(a) || (i > 0 && drop[0] === BASE[i - 1])));
  const r = ringctl([...args, ...extra]);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
});

describe('--prometheus-url: the baseline rate from the rollout\'s own baseline queries (a loopback server speaking the Prometheus HTTP API)', () => {
  let server: http.Server;
  let url: string;
  const queries: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const q = new URLSearchParams(body).get('query') ?? '';
        queries.push(q);
        // 480 crashes and 24 BSODs over 24,000 host-h: rates 0.02 and 0.001 per host-hour.
        const value = q.includes('[3600s]') ? null : q.includes('host_seconds_total') ? '24000' : q.includes('kind="crash"') ? '480' : q.includes('kind="bsod"') ? '24' : null;
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: value === null ? [] : [{ metric: {}, value: [Date.now() / 1000, value] }] } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('reads each metric\'s baseline events and host-hours on previousVersion over the window; --baseline-rate wins for the metrics it names', async () => {
    const r = await ringctlAsync([...BASE, '--json', '--prometheus-url', url, '--baseline-window', '24h', '--baseline-rate', 'bsod=0.0005']);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout) as { power: RingPower[] };
    expect(doc.power.find((x) => x.metric === 'crashes')?.baselineRate).toBeCloseTo(0.02, 12);
    expect(doc.power.find((x) => x.metric === 'bsod')?.baselineRate).toBe(0.0005);
    expect(r.stderr).toMatch(/baseline rate of crashes from Prometheus: 480 events \/ 24000 host-h on 7\.16\.290 over 86400s = 0\.02\/host-h/);
    // Only the crashes metric was asked for, with the rollout's baseline selector and the window.
    expect(queries).toHaveLength(2);
    for (const q of queries) expect(q).toMatch(/channel="sensor-content",version="7\.16\.290".*\[86400s\]/);
  });

  test('no series in the window, or Prometheus unreachable: one line naming the metric, exit 1', async () => {
    // The fake has no samples for a 1h window (nobody ran the baseline then).
    const empty = await ringctlAsync([...BASE, '--prometheus-url', url, '--baseline-window', '1h']);
    expect(empty.status).toBe(1);
    expect(empty.stderr.trim().split('\n')).toHaveLength(1);
    expect(empty.stderr).toMatch(/^ringctl plan: --prometheus-url: crashes baseline events: empty vector \(no series matched\) for sensor-content 7\.16\.290 over 3600s \(pass --baseline-rate crashes=R\)/);
    const down = await ringctlAsync([...BASE, '--prometheus-url', 'http://127.0.0.1:1', '--baseline-rate', 'crashes=0.02']);
    expect(down.status).toBe(1);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.stderr).toMatch(/^ringctl plan: --prometheus-url: bsod baseline (events|exposure): prometheus: /);
  });
});
