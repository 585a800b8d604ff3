/**
 * The simulated fleet in live mode believes what agents believe, end to end on loopback: a real `ringmaster serve`
 * (--artifacts), a replay proxy in front of it (test/helpers/replay-proxy.ts) and `agent-sim --clock live
 * --pin-key K`. A captured revision with the candidate in ring 0, replayed after the rollback, is refused by every
 * host (replay) and counted; nobody re-installs the withdrawn candidate. Then the controller's key is rotated
 * (`ringmaster rotate-signing-key`): the hosts follow the signed statement. A controller with another key and no
 * statement (a fresh data directory) is refused (unknown-key): nobody installs what it offers.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBuilt } from '../helpers/build';
import { start, stop } from '../helpers/children';
import { freePort } from '../helpers/prometheus';
import { ReplayProxy } from '../helpers/replay-proxy';

jest.setTimeout(120_000);
const ROOT = path.join(__dirname, '..', '..');
const DEPLOYER = 'Bearer ringmaster-example-deployer';
const ROLLOUT = 'sensor-content-7.16.292-local';

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The sim's /metrics: the sum of a series' samples whose labels contain `match`. */
async function metric(port: number, name: string, match: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes(match))
    .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
}

test('live: a replayed revision is refused and counted, nobody re-installs the withdrawn candidate; a key rotation is followed, an unchained key refused', async () => {
  ensureBuilt();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-sim-replay-'));
  const procs: ChildProcess[] = [];
  let proxy: ReplayProxy | undefined;
  try {
    const [cport, mport] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${cport}`;
    const rollout = path.join(tmp, 'rollout.yaml');
    fs.writeFileSync(rollout, fs.readFileSync(path.join(ROOT, 'examples/rollouts/local-agent.yaml'), 'utf8').replace(/127\.0\.0\.1:8080/g, `127.0.0.1:${cport}`));
    const scenario = path.join(tmp, 'scenario.yaml');
    fs.writeFileSync(
      scenario,
      [
        'apiVersion: ringmaster.dev/v1alpha1',
        'kind: Scenario',
        'metadata: {name: live-replay}',
        'spec:',
        `  rollout: ${rollout}`,
        `  policy: ${path.join(ROOT, 'examples/live/policies/anytime.yaml')}`,
        `  artifactFile: ${path.join(ROOT, 'examples/artifacts/sensor-content-7.16.292.json')}`,
        '  start: "2026-11-30T09:00:00Z"',
        '  fleet: {hosts: 1000, canaryHosts: 50, pollInterval: 1s}',
        '',
      ].join('\n'),
    );
    const serveArgs = (data: string): string[] => [
      'bin/ringmaster.js', 'serve', '--listen', `127.0.0.1:${cport}`, '--data', data, '--tokens', 'examples/tokens.yaml', '--trusted-keys', 'examples/trusted-keys.yaml',
      '--policies', 'examples/live/policies', '--tick', '250ms', '--rollback-drain', '2s', '--artifacts', 'examples/artifacts',
    ];
    const data = path.join(tmp, 'data');
    let serve = start(serveArgs(data));
    procs.push(serve.child);
    const key = await until('the signing key', async () => ((await (await fetch(`${url}/v1/signing-key`)).json()) as { publicKey: string; keyId: string }));
    proxy = await ReplayProxy.start(url);
    const sim = start(['bin/agent-sim.js', '--scenario', scenario, '--clock', 'live', '--controller', proxy.url, '--metrics-listen', `127.0.0.1:${mport}`, '--pin-key', key.publicKey, '--json']);
    procs.push(sim.child);
    await until('the sim', async () => ((await metric(mport, 'ringmaster_agent_hosts', 'version="7.16.291"')) === 1000 ? true : undefined));
    const apply = (): Promise<Response> => fetch(`${url}/v1/rollouts`, { method: 'POST', headers: { Authorization: DEPLOYER, 'Content-Type': 'application/yaml' }, body: fs.readFileSync(rollout) });
    expect((await apply()).status).toBe(201);
    const onCandidate = (): Promise<number> => metric(mport, 'ringmaster_agent_hosts', 'version="7.16.292"');
    await until('the canary ring on the candidate', async () => ((await onCandidate()) === 50 ? true : undefined));
    const captured = Math.max(...[...proxy.recorded].filter(([, r]) => (JSON.parse(r.body.toString()) as { candidates: Array<{ exposure: { activeRing: number } }> }).candidates.some((c) => c.exposure.activeRing === 0)).map(([rev]) => rev));
    expect((await fetch(`${url}/v1/rollouts/${ROLLOUT}/rollback`, { method: 'POST', headers: { Authorization: DEPLOYER, 'Content-Type': 'application/json' }, body: '{"reason":"test"}' })).status).toBeLessThan(300);
    await until('the rollback on every host', async () => ((await onCandidate()) === 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 1100));

    // The replay: every host refuses the captured revision; nobody re-installs it.
    proxy.replay(captured);
    const refused = await until('replay refusals', async () => {
      const n = await metric(mport, 'ringmaster_agent_manifest_refusals_total', 'reason="replay"');
      return n >= 1000 ? n : undefined;
    });
    await new Promise((r) => setTimeout(r, 1200));
    expect(await onCandidate()).toBe(0);
    expect(await metric(mport, 'ringmaster_agent_manifest_refusals_total', 'reason="replay"')).toBeGreaterThan(refused);
    expect(sim.out()).toContain(`hosts refuse the manifest: manifest revision ${captured} is older than revision`);
    proxy.pass();

    // A key rotation between two runs of the controller: the hosts follow the statement signed by the old key.
    await stop(serve.child);
    execFileSync(process.execPath, ['bin/ringmaster.js', 'rotate-signing-key', '--data', data], { cwd: ROOT, stdio: 'pipe' });
    serve = start(serveArgs(data));
    procs.push(serve.child);
    const rotated = await until('the rotated key', async () => {
      const k = (await (await fetch(`${url}/v1/signing-key`)).json()) as { keyId: string };
      return k.keyId !== key.keyId ? k : undefined;
    });
    await until('the hosts following the rotation', async () => (sim.out().includes(`agents follow the key rotation: they now trust ${rotated.keyId}`) ? true : undefined));
    await new Promise((r) => setTimeout(r, 1100));
    expect(await metric(mport, 'ringmaster_agent_manifest_refusals_total', 'reason="unknown-key"')).toBe(0);

    // Another controller, another key, no statement: refused, and nothing it offers is installed.
    await stop(serve.child);
    serve = start(serveArgs(path.join(tmp, 'impostor')));
    procs.push(serve.child);
    await until('the impostor', async () => ((await fetch(`${url}/v1/signing-key`)).ok ? true : undefined));
    expect((await apply()).status).toBe(201);
    await until('unknown-key refusals', async () => ((await metric(mport, 'ringmaster_agent_manifest_refusals_total', 'reason="unknown-key"')) > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 1200));
    expect(await onCandidate()).toBe(0);
    await stop(sim.child);
    const summary = JSON.parse(sim.out().trim().split('\n').pop() as string) as { hostsUpdated: number; trustOnFirstUse: boolean; trustedKeys: string[]; manifestRefusals: Record<string, number> };
    console.log(`live replay: ${JSON.stringify(summary)}`);
    expect(summary.trustOnFirstUse).toBe(false);
    expect(summary.trustedKeys).toEqual([rotated.keyId]);
    expect(summary.hostsUpdated).toBe(50);
    expect(summary.manifestRefusals.replay).toBeGreaterThanOrEqual(1000);
    expect(summary.manifestRefusals['unknown-key']).toBeGreaterThan(0);
  } finally {
    for (const p of procs) await stop(p);
    await proxy?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
