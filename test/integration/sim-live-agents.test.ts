/**
 * `agent-sim --clock live --agents K`: K real reference agents (agent/: Agent, FileInstaller), each with its own
 * state directory, against a real `ringmaster serve --artifacts` on loopback. The canary-labelled agents install the
 * candidate (their `current` symlink points at it, and its bytes hash to its sha256), the others the stable version;
 * a rollback brings the canary agents back. The one /metrics sums the agents' own registries.
 */
import { type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBuilt } from '../helpers/build';
import { start, stop } from '../helpers/children';
import { freePort } from '../helpers/prometheus';

jest.setTimeout(90_000);
const ROOT = path.join(__dirname, '..', '..');
const DEPLOYER = 'Bearer ringmaster-example-deployer';
const K = 10;
const SHA = { '7.16.291': 'fd9b627a7a5765f6f8924c5efcaadf16524344cc7069c03e99ea7ec31dd58752', '7.16.292': '3965f4d3db75c4efee3ee843a9d6b109db4e8427af6e8f1859f2092196f61982' } as const;

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await Promise.resolve(ok()).catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Where an agent's `current` points, and whether the file there is that version's exact bytes. */
function current(dir: string): string | null {
  try {
    const target = fs.readlinkSync(path.join(dir, 'current'));
    const version = path.basename(target) as keyof typeof SHA;
    const sha = crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, 'current'))).digest('hex');
    return sha === SHA[version] ? version : `${version} (bytes do not match)`;
  } catch {
    return null;
  }
}

test(`${K} real agents: the canary ones install the candidate and a rollback brings them back; the others run the stable version`, async () => {
  ensureBuilt();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-sim-agents-'));
  const procs: ChildProcess[] = [];
  try {
    const [cport, mport] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${cport}`;
    const rollout = fs.readFileSync(path.join(ROOT, 'examples/rollouts/local-agent.yaml'), 'utf8').replace(/127\.0\.0\.1:8080/g, `127.0.0.1:${cport}`);
    const serve = start([
      'bin/ringmaster.js', 'serve', '--listen', `127.0.0.1:${cport}`, '--data', path.join(tmp, 'data'), '--tokens', 'examples/tokens.yaml', '--trusted-keys', 'examples/trusted-keys.yaml',
      '--policies', 'examples/live/policies', '--tick', '250ms', '--rollback-drain', '2s', '--artifacts', 'examples/artifacts',
    ]);
    procs.push(serve.child);
    await until('the controller', async () => (await fetch(`${url}/readyz`)).ok);
    const key = ((await (await fetch(`${url}/v1/signing-key`)).json()) as { publicKey: string }).publicKey;
    expect((await fetch(`${url}/v1/rollouts`, { method: 'POST', headers: { Authorization: DEPLOYER, 'Content-Type': 'application/yaml' }, body: rollout })).status).toBe(201);
    const agentsDir = path.join(tmp, 'agents');
    // live-bad-update polls every 5 s: its channel, versions, regions and OSes; the agents are real, its crash model is not used
    const sim = start(['bin/agent-sim.js', '--scenario', 'examples/scenarios/live-bad-update.yaml', '--clock', 'live', '--agents', String(K), '--agents-dir', agentsDir, '--controller', url, '--metrics-listen', `127.0.0.1:${mport}`, '--pin-key', key, '--json']);
    procs.push(sim.child);
    const dirs = Array.from({ length: K }, (_, i) => path.join(agentsDir, `sim-agent-${String(i).padStart(3, '0')}`));
    const canary = (i: number): boolean => i % 5 === 0;
    await until('every agent on its version', () => dirs.every((d, i) => current(d) === (canary(i) ? '7.16.292' : '7.16.291')));
    // One /metrics for all: the hosts gauge sums to K, the canary agents on the candidate in the canary ring.
    const text = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
    const hosts = (match: string): number => text.split('\n').filter((l) => l.startsWith('ringmaster_agent_hosts{') && l.includes(match)).reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    expect(hosts('version="7.16.292"')).toBe(2);
    expect(hosts('version="7.16.292",ring="canary"')).toBe(2);
    expect(hosts('channel="sensor-content"')).toBe(K);

    expect((await fetch(`${url}/v1/rollouts/sensor-content-7.16.292-local/rollback`, { method: 'POST', headers: { Authorization: DEPLOYER, 'Content-Type': 'application/json' }, body: '{"reason":"test"}' })).status).toBeLessThan(300);
    await until('the canary agents back on the stable version', () => dirs.every((d) => current(d) === '7.16.291'));
    await stop(sim.child);
    const summary = JSON.parse(sim.out().trim().split('\n').pop() as string) as { agents: number; canaryAgents: number; byVersion: Record<string, number>; statuses: Array<{ hostId: string; version: string; revision: number; links: { current: string | null } }> };
    console.log(`live agents: ${JSON.stringify({ ...summary, statuses: summary.statuses.slice(0, 2) })}`);
    expect(summary.agents).toBe(K);
    expect(summary.canaryAgents).toBe(2);
    expect(summary.byVersion).toEqual({ '7.16.291': K });
    expect(summary.statuses.every((s) => s.links.current === '7.16.291')).toBe(true);
    // the canary agents went back on the manifest that withdrew the candidate, a later revision than the one they installed it from
    expect(summary.statuses.filter((_, i) => canary(i)).every((s) => s.revision >= 3)).toBe(true);
  } finally {
    for (const p of procs) await stop(p);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
