/**
 * Human verbs never wait on I/O: a real `ringmaster serve` with 4 rollouts in flight whose analysis queries a
 * real Prometheus that is SIGSTOPped (it accepts connections and never answers). `pause` and the kill switch
 * must be committed, answered and visible in every affected manifest within 1 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBuilt } from '../helpers/build';
import { freePort, startPrometheus, type RunningPrometheus } from '../helpers/prometheus';

const ROOT = path.resolve(__dirname, '../..');
const DEPLOYER = 'ringmaster-example-deployer';
const SRE = 'ringmaster-example-sre';
const CHANNELS = ['c1', 'c2', 'c3', 'c4'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rolloutYaml(channel: string): string {
  return [
    'apiVersion: ringmaster.dev/v1alpha1',
    'kind: Rollout',
    `metadata: { name: ${channel}-2 }`,
    'spec:',
    `  channel: ${channel}`,
    '  version: 2.0.0',
    '  previousVersion: 1.0.0',
    `  artifact: { url: "https://updates.example.internal/${channel}/2.0.0.bin", sha256: "${'b'.repeat(64)}" }`,
    '  policy: open',
    '  rings:',
    '    - { name: canary, selector: { matchLabels: { ring: canary } }, bake: 1h }',
    '    - { name: full, percent: 100, bake: 1h }',
    '  analysis:',
    '    interval: 2s',
    '    noDataGrace: 1h',
    '    maxConsecutiveErrors: 100',
    '    metrics: [{ name: crash, type: crash-rate, max: 0.05, minHosts: 1 }]',
  ].join('\n');
}

describe('the kill switch and pause with a hung (SIGSTOPped) Prometheus', () => {
  let prom: RunningPrometheus;
  let serve: ChildProcess;
  let base: string;
  let stderr = '';

  beforeAll(async () => {
    ensureBuilt();
    prom = await startPrometheus({ targets: ['127.0.0.1:9'] });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-hung-'));
    fs.mkdirSync(path.join(dir, 'policies'));
    fs.writeFileSync(
      path.join(dir, 'policies', 'open.yaml'),
      'apiVersion: ringmaster.dev/v1alpha1\nkind: Policy\nmetadata: { name: open }\nspec:\n  timezone: UTC\n  allow: [{ days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], hours: "00:00-24:00" }]\n  requireSignedArtifacts: false\n',
    );
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    serve = spawn(
      process.execPath,
      [path.join(ROOT, 'bin/ringmaster.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--data', path.join(dir, 'data'), '--tokens', path.join(ROOT, 'examples/tokens.yaml'),
        '--policies', path.join(dir, 'policies'), '--tick', '200ms', '--prometheus-url', prom.url, '--prometheus-timeout', '120s'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    serve.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${base}/readyz`)).status === 200) break;
      } catch {
        // not up yet
      }
      if (i > 200) throw new Error(`serve did not start: ${stderr.slice(-500)}`);
      await sleep(100);
    }
    for (const ch of CHANNELS) {
      const res = await fetch(`${base}/v1/rollouts`, { method: 'POST', headers: { authorization: `Bearer ${DEPLOYER}`, 'content-type': 'application/yaml' }, body: rolloutYaml(ch) });
      expect(res.status).toBe(201);
    }
  }, 60_000);

  afterAll(async () => {
    if (serve.exitCode === null) serve.kill('SIGKILL');
    await prom.stop();
  });

  const manifest = async (ch: string) => (await (await fetch(`${base}/v1/channels/${ch}/manifest`)).json()) as { candidates: Array<{ state: string }>; killSwitch: { engaged: boolean } };

  it('pause and the kill switch commit, answer and show in every manifest within 1 s', async () => {
    for (const ch of CHANNELS) expect((await manifest(ch)).candidates[0]?.state).toBe('progressing');
    // Let analyses run against the live server once, then hang it while queries are due every 2 s.
    await sleep(2500);
    prom.pause();
    await sleep(5000); // several analyses are now stuck on the stopped server

    let t0 = Date.now();
    const paused = await fetch(`${base}/v1/rollouts/c1-2/pause`, { method: 'POST', headers: { authorization: `Bearer ${DEPLOYER}`, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'hung prometheus drill' }) });
    const pauseAnswer = Date.now() - t0;
    expect(paused.status).toBe(200);
    expect((await manifest('c1')).candidates[0]?.state).toBe('paused');
    const pauseSeen = Date.now() - t0;

    t0 = Date.now();
    const ks = await fetch(`${base}/v1/killswitch`, { method: 'POST', headers: { authorization: `Bearer ${SRE}`, 'content-type': 'application/json' }, body: JSON.stringify({ engaged: true, reason: 'hung prometheus drill' }) });
    const killAnswer = Date.now() - t0;
    expect(ks.status).toBe(200);
    const seen = await Promise.all(CHANNELS.map((ch) => manifest(ch)));
    const killSeen = Date.now() - t0;
    for (const m of seen) expect(m.killSwitch.engaged).toBe(true);
    const views = (await (await fetch(`${base}/v1/rollouts`, { headers: { authorization: `Bearer ${DEPLOYER}` } })).json()) as { rollouts: Array<{ name: string; phase: { kind: string } }> };
    for (const r of views.rollouts) expect(r.phase.kind).toBe('halted');
    process.stdout.write(`hung prometheus: pause answered ${pauseAnswer} ms, in the manifest ${pauseSeen} ms; kill switch answered ${killAnswer} ms, in all ${CHANNELS.length} manifests ${killSeen} ms\n`);
    expect(pauseAnswer).toBeLessThan(1000);
    expect(pauseSeen).toBeLessThan(1000);
    expect(killAnswer).toBeLessThan(1000);
    expect(killSeen).toBeLessThan(1000);
    prom.resume();
  }, 60_000);
});
