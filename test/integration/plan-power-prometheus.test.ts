/**
 * `ringctl plan --power --prometheus-url` against a real Prometheus (the Debian package, test/helpers/prometheus.ts)
 * scraping a loopback exporter of the agents' counters for the rollout's previousVersion, 7.16.290: crashes grow by
 * 2 per second, BSODs by 0.1, host-seconds by 1,000. The baseline rates are then 2 / (1000/3600) = 7.2 crashes and
 * 0.36 BSODs per host-hour, whatever the window (the counters are linear); the plan reads them with the rollout's own
 * baseline queries over --baseline-window and sizes the rings with them.
 */
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { RingPower } from '../../controller/policy/power-plan';
import { ensureBuilt } from '../helpers/build';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus';

const ROOT = join(__dirname, '../..');
jest.setTimeout(120_000);

let exporter: http.Server;
let prom: RunningPrometheus;
const t0 = Date.now();

beforeAll(async () => {
  ensureBuilt();
  exporter = http.createServer((_req, res) => {
    const s = (Date.now() - t0) / 1000;
    const sel = 'channel="sensor-content",version="7.16.290"';
    res.setHeader('Content-Type', 'text/plain; version=0.0.4');
    res.end(
      [
        '# TYPE ringmaster_agent_crashes_total counter',
        `ringmaster_agent_crashes_total{${sel},kind="crash"} ${2 * s}`,
        `ringmaster_agent_crashes_total{${sel},kind="bsod"} ${0.1 * s}`,
        '# TYPE ringmaster_agent_host_seconds_total counter',
        `ringmaster_agent_host_seconds_total{${sel}} ${1000 * s}`,
        '',
      ].join('\n'),
    );
  });
  await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
  prom = await startPrometheus({ targets: [`127.0.0.1:${(exporter.address() as AddressInfo).port}`], scrapeInterval: '200ms' });
  // Enough samples for increase() over the 10 s window.
  await prom.waitFor('count_over_time(ringmaster_agent_host_seconds_total[10s])', (v) => v >= 20, 60_000);
});

afterAll(async () => {
  await prom?.stop();
  await new Promise<void>((resolve) => exporter.close(() => resolve()));
});

function ringctl(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/ringctl.js'), ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('the baseline rates come from Prometheus (7.2 crashes and 0.36 BSODs per host-hour) and size every ring', async () => {
  const r = await ringctl([
    'plan', 'examples/rollouts/content-update.yaml', '--policy', 'policies/default.yaml', '--hosts', '1000000', '--ring-hosts', 'canary=2000',
    '--power', '--prometheus-url', prom.url, '--baseline-window', '10s', '--json',
  ]);
  expect(r.stderr).toMatch(/baseline rate of crashes from Prometheus: .* on 7\.16\.290 over 10s = /);
  expect(r.status).toBe(0);
  const rows = (JSON.parse(r.stdout) as { power: RingPower[] }).power;
  expect(rows).toHaveLength(8);
  for (const row of rows) {
    const want = row.metric === 'crashes' ? 7.2 : 0.36;
    expect(Math.abs(row.baselineRate / want - 1)).toBeLessThan(0.02);
    expect(row.problem).toBeNull();
    expect(row.exposureHours).toBeGreaterThan(0);
  }
});
