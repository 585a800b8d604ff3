/**
 * Live mode end to end, all real processes on loopback: Prometheus (Debian package) scrapes agent-sim's
 * /metrics every second, `ringmaster serve --prometheus-url` judges the canary from it, and agent-sim polls
 * the signed manifest over HTTP. The catastrophic update is halted in the canary ring and rolled back.
 */
import { type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBuilt } from '../helpers/build';
import { start, stop } from '../helpers/children';
import { freePort, startPrometheus, type RunningPrometheus } from '../helpers/prometheus';

jest.setTimeout(120_000);
const ROOT = path.join(__dirname, '..', '..');
const DEPLOYER = 'Bearer ringmaster-example-deployer';

test('a real Prometheus scrapes agent-sim and the controller halts the bad update in the canary ring', async () => {
  ensureBuilt();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-live-'));
  const [controllerPort, agentPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${controllerPort}`;
  let prom: RunningPrometheus | undefined;
  const procs: ChildProcess[] = [];
  try {
    prom = await startPrometheus({ targets: [`127.0.0.1:${agentPort}`], scrapeInterval: '1s' });
    const serve = start([
      'bin/ringmaster.js', 'serve', '--listen', `127.0.0.1:${controllerPort}`, '--data', path.join(tmp, 'data'), '--tokens', 'examples/tokens.yaml',
      '--trusted-keys', 'examples/trusted-keys.yaml', '--policies', 'examples/live/policies', '--tick', '250ms', '--rollback-drain', '6s',
      '--prometheus-url', prom.url, '--prometheus-min-window', '3s',
    ]);
    procs.push(serve.child);
    const sim = start(['bin/agent-sim.js', '--scenario', 'examples/scenarios/live-bad-update.yaml', '--clock', 'live', '--controller', url, '--metrics-listen', `127.0.0.1:${agentPort}`, '--json']);
    procs.push(sim.child);
    // The fleet is scraped before the canary starts.
    await prom.waitFor('sum(ringmaster_agent_hosts{channel="sensor-content",version="7.16.290"})', (v) => v > 19_000, 30_000);
    await new Promise((r) => setTimeout(r, 3000));
    const yaml = fs.readFileSync(path.join(ROOT, 'examples/rollouts/live-content-update.yaml'), 'utf8');
    const applied = await fetch(`${url}/v1/rollouts`, { method: 'POST', headers: { Authorization: DEPLOYER, 'Content-Type': 'application/yaml' }, body: yaml });
    expect(applied.status).toBe(201);
    const appliedAt = Date.now();

    let view: { phase: { kind: string }; exposedRing: number; history: Array<{ to: string; reason: string; exposedRing: number }> } | undefined;
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      const r = await fetch(`${url}/v1/rollouts/sensor-content-7.16.291-live`, { headers: { Authorization: DEPLOYER } });
      view = ((await r.json()) as { rollout: NonNullable<typeof view> }).rollout;
      if (['rolling-back', 'rolled-back', 'halted'].includes(view.phase.kind)) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    const seconds = (Date.now() - appliedAt) / 1000;
    expect(view?.phase.kind).toBe('rolling-back');
    const halt = view?.history.find((t) => t.to === 'rolling-back');
    console.log(`live: rolled back ${seconds.toFixed(1)} s after apply: ${halt?.reason ?? ''}`);
    expect(halt?.reason).toMatch(/bsod|crashes/);
    expect(view?.history.every((t) => t.exposedRing <= 0)).toBe(true);
    // The candidate left the manifest; the fleet's metrics show nobody outside the canary took it.
    const m = (await (await fetch(`${url}/v1/channels/sensor-content/manifest`)).json()) as { candidates: Array<{ exposure: { activeRing: number } }> };
    expect(m.candidates.every((c) => c.exposure.activeRing < 0)).toBe(true);
    await new Promise((r) => setTimeout(r, 6000)); // a poll interval for the hosts to revert
    await stop(sim.child);
    const summary = JSON.parse(sim.out().trim().split('\n').pop() as string) as { hostsUpdated: number; hostsUpdatedOutsideCanary: number; hostsBricked: number; onCandidate: number; canaryHosts: number };
    console.log(`live: agent-sim ${JSON.stringify(summary)}`);
    expect(summary.hostsUpdatedOutsideCanary).toBe(0);
    expect(summary.hostsUpdated).toBeLessThanOrEqual(summary.canaryHosts);
    expect(summary.onCandidate).toBe(0);
    // --rollback-drain 6s: the rollout reports rolled-back once the drain (a poll interval and a bit) is over.
    let end = '';
    for (const stopAt = Date.now() + 10_000; Date.now() < stopAt && end !== 'rolled-back'; await new Promise((res) => setTimeout(res, 250))) {
      const r = await fetch(`${url}/v1/rollouts/sensor-content-7.16.291-live`, { headers: { Authorization: DEPLOYER } });
      end = ((await r.json()) as { rollout: { phase: { kind: string } } }).rollout.phase.kind;
    }
    expect(end).toBe('rolled-back');

    // Load mode: K real HTTP pollers with ETags against the same controller, bounded in time.
    const load = start(['bin/agent-sim.js', '--scenario', 'examples/scenarios/live-bad-update.yaml', '--clock', 'live', '--controller', url, '--pollers', '20', '--duration', '2s', '--json']);
    const code = await new Promise<number | null>((r) => load.child.once('exit', (c) => r(c)));
    const report = JSON.parse(load.out().trim().split('\n').pop() as string) as { requests: number; codes: Record<string, number>; errors: number; seconds: number };
    console.log(`live: load mode ${JSON.stringify(report)}`);
    expect(code).toBe(0);
    expect(report.errors).toBe(0);
    expect(report.requests).toBeGreaterThan(100);
    expect(Object.keys(report.codes).sort()).toEqual(['200', '304']);
    expect(report.seconds).toBeLessThan(5);
    const remote = start(['bin/agent-sim.js', '--scenario', 'examples/scenarios/live-bad-update.yaml', '--clock', 'live', '--controller', 'http://10.0.0.1:8080', '--pollers', '1']);
    expect(await new Promise<number | null>((r) => remote.child.once('exit', (c) => r(c)))).toBe(2);
    expect(remote.out()).toMatch(/loopback only/);
  } finally {
    for (const p of procs) await stop(p);
    await prom?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
