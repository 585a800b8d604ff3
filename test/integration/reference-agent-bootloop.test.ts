/**
 * The boot-loop safety net of the reference agent, with the controller stopped: a new version that fails to start
 * (a test installer) and one that takes the host down after each start (reboots) are both reverted to
 * last-known-good after 3 starts, counted in ringmaster_agent_local_rollbacks_total, marked bad, and not installed
 * again from the same manifest once the controller is back.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent, FileInstaller, type AgentOptions, type InstalledVersion } from '../../agent';
import { activeBytes, agentOptions, CHANNEL, metricValue, MIN, openLab, rolloutOf, type Lab } from './reference-agent-harness';

/** Real files (FileInstaller); starts of the versions in `failing` fail; every call is recorded. */
class TestInstaller extends FileInstaller {
  readonly failing = new Set<string>();
  readonly starts: string[] = [];
  readonly installs: string[] = [];
  override async install(v: InstalledVersion, bytes: Buffer): Promise<void> {
    this.installs.push(v.version);
    await super.install(v, bytes);
  }
  override async start(v: InstalledVersion): Promise<boolean> {
    this.starts.push(v.version);
    return !this.failing.has(v.version);
  }
}

const series = (name: string, labels: string): string => `${name}{channel="${CHANNEL}",${labels}}`;

describe('reference agent: the boot-loop safety net, without the controller', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-agent-bootloop-'));
  let lab: Lab;
  let a291: { url: string; sha256: string };
  let a292: { url: string; sha256: string };
  beforeAll(async () => {
    lab = await openLab();
    a291 = lab.artifact('c-7.16.291.bin', Buffer.from('content 7.16.291\n'));
    a292 = lab.artifact('c-7.16.292.bin', Buffer.from('content 7.16.292, which does not start\n'));
    // 7.16.291 rolls out and succeeds; then 7.16.292 reaches the canary ring.
    await lab.controller.applyRollout(rolloutOf('r291', '7.16.291', '7.16.290', a291), 'alice');
    await lab.advance(25 * MIN);
    expect(lab.controller.getRollout('r291')?.phase.kind).toBe('succeeded');
    await lab.controller.applyRollout(rolloutOf('r292', '7.16.292', '7.16.291', a292), 'alice');
    await lab.advance(MIN);
  });
  afterAll(async () => {
    await lab.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** A host on 7.16.291 (healthy, no boot marker) that then installs and starts 7.16.292 once. */
  async function hostOn292(name: string): Promise<{ dir: string; installer: TestInstaller; opts: (boot: string) => AgentOptions }> {
    const dir = path.join(tmp, name);
    const installer = new TestInstaller(dir);
    const opts = (boot: string): AgentOptions => agentOptions(lab, dir, { installer, hostId: name, bootId: () => boot });
    // Installed as the stable version: no marker once it ran for the healthy period (a first, separate boot).
    const first = await Agent.open({ ...opts('boot-0'), labels: {} });
    expect(await first.pollOnce()).toMatchObject({ action: { kind: 'installed', version: '7.16.291', started: true } });
    const t = lab.clock.now();
    await first.close();
    const healthy = await Agent.open({ ...opts('boot-0'), labels: {}, now: () => t + 11 * MIN });
    await healthy.pollOnce();
    expect(healthy.status().bootMarker).toBeNull();
    await healthy.close();
    // The canary label: 7.16.292 is installed and starts (the first start); the boot marker counts it.
    const agent = await Agent.open(opts('boot-0'));
    expect(await agent.pollOnce()).toMatchObject({ action: { kind: 'installed', version: '7.16.292', started: true } });
    expect(agent.status()).toMatchObject({ version: '7.16.292', previous: '7.16.291', bootMarker: { version: '7.16.292', attempts: 1 } });
    await agent.close();
    return { dir, installer, opts };
  }

  test('a version that fails to start: after 3 starts the host is back on last-known-good, counted, marked bad, not re-installed', async () => {
    const { dir, installer, opts } = await hostOn292('failing-start');
    await lab.stop();
    try {
      // The host reboots; 7.16.292 now fails to start. No controller answers.
      installer.failing.add('7.16.292');
      const rebooted = await Agent.open(opts('boot-1'));
      const r = await rebooted.boot();
      expect(r).toEqual({ started: true, reverted: true, stuck: false });
      expect(installer.starts).toEqual(['7.16.291', '7.16.292', '7.16.292', '7.16.292', '7.16.291']);
      expect(activeBytes(dir)).toEqual({ version: '7.16.291', sha256: a291.sha256 });
      const s = rebooted.status();
      expect(s).toMatchObject({ version: '7.16.291', previous: null, bootMarker: null });
      expect(s.bad).toEqual([expect.objectContaining({ version: '7.16.292', sha256: a292.sha256, rollout: 'r292', reason: 'boot-loop' })]);
      const text = await rebooted.metrics.text();
      expect(metricValue(text, series('ringmaster_agent_local_rollbacks_total', 'version="7.16.292"'))).toBe(1);
      expect(metricValue(text, series('ringmaster_agent_crashes_total', 'version="7.16.292",kind="crash"'))).toBe(2);
      expect(metricValue(text, series('ringmaster_agent_hosts', 'version="7.16.291",ring="canary"'))).toBe(1);
      expect(metricValue(text, series('ringmaster_agent_hosts', 'version="7.16.292",ring="canary"'))).toBeUndefined();
      // Without the controller the poll fails; the host stays where the safety net put it.
      expect(await rebooted.pollOnce()).toMatchObject({ manifest: 'error', onDesired: false });
      await rebooted.close();
    } finally {
      await lab.start();
    }
    // The controller is back with the same manifest: 7.16.292 is marked bad, so the host stays on 7.16.291.
    const back = await Agent.open(opts('boot-1'));
    const installs = installer.installs.length;
    const r = await back.pollOnce();
    expect(r).toMatchObject({ action: { kind: 'on-desired', version: '7.16.291' }, onDesired: true });
    expect(installer.installs.slice(installs)).toEqual([]);
    expect(activeBytes(dir)?.version).toBe('7.16.291');
    await back.close();
  });

  test('a version that takes the host down after each start: the 4th boot reverts (3 starts), no controller needed', async () => {
    const { dir, installer, opts } = await hostOn292('bsod');
    await lab.stop();
    try {
      // Each boot the agent starts 7.16.292, which "starts" and then brings the host down before the healthy period.
      for (const boot of ['boot-1', 'boot-2']) {
        const a = await Agent.open(opts(boot));
        expect(await a.boot()).toEqual({ started: true, reverted: false, stuck: false });
        expect(a.status().bootMarker?.attempts).toBe(boot === 'boot-1' ? 2 : 3);
        expect(metricValue(await a.metrics.text(), series('ringmaster_agent_crashes_total', 'version="7.16.292",kind="bsod"'))).toBe(1);
        await a.close();
      }
      const last = await Agent.open(opts('boot-3'));
      expect(await last.boot()).toEqual({ started: true, reverted: true, stuck: false });
      expect(installer.starts.filter((v) => v === '7.16.292')).toHaveLength(3);
      expect(activeBytes(dir)).toEqual({ version: '7.16.291', sha256: a291.sha256 });
      expect(last.status().bad.map((b) => `${b.version} ${b.reason}`)).toEqual(['7.16.292 boot-loop']);
      expect(metricValue(await last.metrics.text(), series('ringmaster_agent_local_rollbacks_total', 'version="7.16.292"'))).toBe(1);
      await last.close();
      // An agent restart within the same boot, after 7.16.291 started: no new start.
      const starts = installer.starts.length;
      const restarted = await Agent.open(opts('boot-3'));
      expect(await restarted.boot()).toEqual({ started: true, reverted: false, stuck: false });
      expect(installer.starts.length).toBe(starts);
      await restarted.close();
    } finally {
      await lab.start();
    }
  });
});
