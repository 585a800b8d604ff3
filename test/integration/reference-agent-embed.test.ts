/**
 * The embedding example of docs/agent.md, compiled (tsc checks test/**) and run here against the real controller:
 * a fleet's agent that plugs its own start check into the shipped FileInstaller. The docs carry the same text:
 * the test fails when the two drift apart.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent, FileInstaller, type InstalledVersion, type TrustedManifestKey } from '../../agent';
import { VirtualClock } from '../../controller/runtime/clock';
import { activeBytes, openLab, rolloutOf } from './reference-agent-harness';

// --- docs/agent.md: embedding example
/** The fleet's installer: the shipped file layout, and its own idea of a healthy start (the content parses). */
class SensorInstaller extends FileInstaller {
  override async start(v: InstalledVersion): Promise<boolean> {
    try {
      JSON.parse(fs.readFileSync(path.join(this.dir, 'current'), 'utf8'));
      return true;
    } catch {
      console.error(`sensor content ${v.version} does not parse`);
      return false;
    }
  }
}

export async function runSensorAgent(controller: string, pinnedKey: TrustedManifestKey, dir: string, metricsPort: number, signal: AbortSignal): Promise<void> {
  const agent = await Agent.open({
    controller,
    channel: 'sensor-content',
    hostId: os.hostname(),
    labels: { ring: 'canary' },
    dir,
    installer: new SensorInstaller(dir),
    pinKeys: [pinnedKey], // only read on the first run; state.json keeps the trusted keys (and their rotations)
    pollIntervalMs: 60_000,
  });
  const metrics = await agent.metrics.listen('127.0.0.1', metricsPort);
  try {
    await agent.run(signal); // polls until the signal aborts
  } finally {
    await metrics.close();
    await agent.close();
  }
}
// --- end of the example

describe('docs/agent.md embedding example', () => {
  test('the example in the docs is this one, and it installs the candidate on a canary host', async () => {
    const source = fs.readFileSync(__filename, 'utf8');
    const example = source.slice(source.indexOf('// --- docs/agent.md: embedding example\n') + 40, source.indexOf('// --- end of the example'));
    expect(example.length).toBeGreaterThan(500);
    expect(fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'agent.md'), 'utf8')).toContain(example.trim());

    // The agent runs on the real clock: so does this controller.
    const lab = await openLab({ clock: new VirtualClock(Date.now()) });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-agent-embed-'));
    try {
      const bytes = Buffer.from('{"format":"sensor-content/v1","version":"7.16.291","templates":[]}\n');
      const a = lab.artifact('c-7.16.291.bin', bytes);
      await lab.controller.applyRollout(rolloutOf('r291', '7.16.291', '7.16.290', a), 'alice');
      await lab.controller.reconcileAll();
      expect(lab.controller.getRollout('r291')?.phase.kind).toBe('progressing');
      const stop = new AbortController();
      const running = runSensorAgent(lab.url, lab.pin()[0] as TrustedManifestKey, dir, 0, stop.signal);
      for (let i = 0; i < 100 && activeBytes(dir)?.version !== '7.16.291'; i++) await new Promise((r) => setTimeout(r, 50));
      stop.abort();
      await running;
      expect(activeBytes(dir)).toEqual({ version: '7.16.291', sha256: a.sha256 });
    } finally {
      await lab.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
