/**
 * Crash test: a real `ringmaster serve` child process is killed with SIGKILL at random moments, at least 50
 * times, during a rollout with short bakes on the real clock. After each restart it must resume from the store.
 * Invariants: no ring is skipped or repeated, the audit chain verifies, manifest revisions never go backwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBuilt } from '../helpers/build';

const ROOT = path.resolve(__dirname, '../..');
const KILLS = 50;
const TOKEN = crypto.randomBytes(24).toString('hex');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Seeded PRNG (mulberry32) so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('kill -9 at random moments', () => {
  let dir: string;
  let child: ChildProcess | null = null;
  let port: number;
  const base = () => `http://127.0.0.1:${port}`;

  beforeAll(async () => {
    ensureBuilt();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-crash-'));
    fs.mkdirSync(path.join(dir, 'policies'));
    fs.writeFileSync(
      path.join(dir, 'policies', 'open.yaml'),
      [
        'apiVersion: ringmaster.dev/v1alpha1',
        'kind: Policy',
        'metadata: { name: open }',
        'spec:',
        '  timezone: UTC',
        '  allow: [{ days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], hours: "00:00-24:00" }]',
        '  requireSignedArtifacts: false',
      ].join('\n'),
    );
    const digest = crypto.createHash('sha256').update(TOKEN).digest('hex');
    fs.writeFileSync(path.join(dir, 'tokens.yaml'), `tokens:\n  - { name: ci-deployer, role: admin, sha256: ${digest} }\n`);
    port = await freePort();
  });

  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  async function startServe(): Promise<ChildProcess> {
    const p = spawn(
      process.execPath,
      [path.join(ROOT, 'bin/ringmaster.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--data', path.join(dir, 'data'),
        '--tokens', path.join(dir, 'tokens.yaml'), '--policies', path.join(dir, 'policies'), '--tick', '20ms'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    p.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) throw new Error(`ringmaster serve exited ${p.exitCode}: ${stderr}`);
      try {
        const r = await fetch(`${base()}/readyz`);
        if (r.status === 200) return p;
      } catch {
        // not listening yet
      }
      await sleep(25);
    }
    p.kill('SIGKILL');
    throw new Error(`ringmaster serve not ready in 15 s: ${stderr}`);
  }

  function kill9(p: ChildProcess): Promise<void> {
    return new Promise((resolve) => {
      if (p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  it(`survives ${KILLS} SIGKILLs without skipping or repeating a ring`, async () => {
    const rand = prng(20261122);
    const auth = { authorization: `Bearer ${TOKEN}` };
    child = await startServe();
    const rings = ['canary', 'r5', 'r20', 'r50', 'full'];
    const yaml = [
      'apiVersion: ringmaster.dev/v1alpha1',
      'kind: Rollout',
      'metadata: { name: crashy }',
      'spec:',
      '  channel: crash-test',
      '  version: 2.0.0',
      '  previousVersion: 1.0.0',
      `  artifact: { url: "https://updates.example.internal/a.bin", sha256: "${'b'.repeat(64)}" }`,
      '  policy: open',
      // Without metrics, a ramp grows once per analysis interval (here 1 s): the first two rings ramp in waves, so
      // kills land mid-ramp too; the others are exposed whole (the test's time budget).
      '  analysis: { interval: 1s }',
      '  rings:',
      '    - { name: canary, selector: { matchLabels: { ring: canary } }, bake: 6s }',
      '    - { name: r5, percent: 5, bake: 6s }',
      '    - { name: r20, percent: 20, bake: 6s, ramp: none }',
      '    - { name: r50, percent: 50, bake: 6s, ramp: none }',
      '    - { name: full, percent: 100, bake: 6s, ramp: none }',
    ].join('\n');
    const applied = await fetch(`${base()}/v1/rollouts`, { method: 'POST', headers: { ...auth, 'content-type': 'application/yaml' }, body: yaml });
    expect([200, 201]).toContain(applied.status);

    const revisions: number[] = [];
    let kills = 0;
    let phase = '';
    while (kills < KILLS) {
      // Live for a random 0-600 ms (ticks every 20 ms), polling the manifest meanwhile.
      const until = Date.now() + rand() * 600;
      while (Date.now() < until) {
        const m = await fetch(`${base()}/v1/channels/crash-test/manifest`).catch(() => null);
        if (m && m.status === 200) revisions.push(Number(JSON.parse(await m.text()).revision));
        await sleep(10);
      }
      await kill9(child);
      kills++;
      child = await startServe();
      const r = await fetch(`${base()}/v1/rollouts/crashy`, { headers: auth });
      phase = ((await r.json()) as { rollout: { phase: { kind: string } } }).rollout.phase.kind;
    }
    // Let it finish (each ring bakes 6 s; at most 30 s of bake in total).
    const deadline = Date.now() + 40_000;
    type View = { phase: { kind: string }; history: Array<{ n: number; from: string; to: string; exposedRing: number; reason: string }> };
    let view: View | null = null as View | null;
    while (Date.now() < deadline) {
      view = ((await (await fetch(`${base()}/v1/rollouts/crashy`, { headers: auth })).json()) as { rollout: View }).rollout;
      const m = await fetch(`${base()}/v1/channels/crash-test/manifest`);
      revisions.push(Number(JSON.parse(await m.text()).revision));
      if (view?.phase.kind === 'succeeded') break;
      await sleep(200);
    }
    expect(kills).toBeGreaterThanOrEqual(50);
    expect(phase).not.toBe('');
    expect(view?.phase.kind).toBe('succeeded');
    const history = view?.history ?? [];
    // Transition numbers are 1..n without gaps or repeats.
    expect(history.map((t) => t.n)).toEqual(history.map((_, i) => i + 1));
    // Each ring started exactly once, in order.
    const starts = history.filter((t, i) => t.to === 'progressing' && t.exposedRing !== (history[i - 1]?.exposedRing ?? -1)).map((t) => t.exposedRing);
    expect(starts).toEqual(rings.map((_, i) => i));
    // Each ramping ring's waves came once each, in order: none repeated or skipped across the restarts.
    for (const ring of [0, 1]) {
      const waves = history.filter((t, i) => t.from === 'progressing' && t.to === 'progressing' && t.exposedRing === ring && history[i - 1]?.exposedRing === ring).map((t) => /wave (\d+)/.exec(t.reason)?.[1]).filter((w) => w !== undefined).map(Number);
      expect(waves).toEqual(waves.map((_, i) => i + 2));
      expect(waves.length).toBeGreaterThanOrEqual(5);
    }
    expect(history[history.length - 1]?.to).toBe('succeeded');
    // Manifest revisions never went backwards, across every restart.
    for (let i = 1; i < revisions.length; i++) expect(revisions[i]).toBeGreaterThanOrEqual(revisions[i - 1] as number);
    // The audit chain verifies.
    const audit = (await (await fetch(`${base()}/v1/audit/verify`, { headers: auth })).json()) as { ok: boolean; entries: number };
    expect(audit.ok).toBe(true);
    expect(audit.entries).toBeGreaterThan(rings.length);
    console.log(`crash test: ${kills} SIGKILLs, ${history.length} transitions, ${revisions.length} manifest reads, last revision ${revisions[revisions.length - 1]}, ${audit.entries} audit entries`);
    await kill9(child);
  }, 240_000);
});
