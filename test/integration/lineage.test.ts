/**
 * Channel lineage and the kill switch's hold, on the real runtime (real SQLite, virtual clock), polled like an
 * agent after every tick: a rolled-back version is never `stable` at any poll, `stable` is never null once the
 * channel has one, a rollout built on a withdrawn version is blocked at start and refused at apply (409 over
 * HTTP), and a rollout applied under the kill switch stays held until an explicit resume.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RingVerdict } from '../../controller/engine/state';
import { VirtualClock } from '../../controller/runtime/clock';
import { Controller, type Analyzer } from '../../controller/runtime/controller';
import type { PolicySpec, Rollout } from '../../controller/spec/types';
import { OPEN_POLICY } from '../helpers/api-fixtures';
import { startApi, type Api } from '../helpers/api-harness';

const START = Date.parse('2026-11-30T14:00:00Z');
const MIN = 60_000;
const open = OPEN_POLICY;

function rollout(name: string, version: string, previousVersion: string, metrics = true): Rollout {
  return {
    apiVersion: 'ringmaster.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      channel: 'sensor-content',
      version,
      previousVersion,
      artifact: { url: `https://updates.example.internal/c/${version}.bin`, sha256: version.replace(/\D/g, '').padEnd(64, 'a').slice(0, 64) },
      policy: 'open',
      // Whole rings at once: lineage is about what ends where, not the waves (runtime-ramp.test.ts).
      rings: [
        { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '10m', ramp: 'none' },
        { name: 'full', percent: 100, bake: '10m', ramp: 'none' },
      ],
      ...(metrics ? { analysis: { interval: '1m', metrics: [{ name: 'crash', type: 'crash-rate', max: 0.05, minHosts: 1 }] } } : {}),
    },
  };
}

/** Fails the version it is told to fail, passes the rest. */
class ScriptedAnalyzer implements Analyzer {
  constructor(private readonly failing: Set<string>) {}
  analyze(r: Rollout, state: { exposedRing: number }): Promise<RingVerdict | undefined> {
    if (state.exposedRing < 0) return Promise.resolve(undefined);
    const fail = this.failing.has(r.spec.version);
    return Promise.resolve({ ring: state.exposedRing, result: fail ? 'fail' : 'pass', reason: fail ? 'crash rate 0.9 > max 0.05' : 'healthy', metrics: [], judgeStates: {}, touchedHosts: null, concern: false });
  }
}

async function harness(failing: string[]) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-lineage-'));
  const clock = new VirtualClock(START);
  const c = await Controller.open({
    dataDir,
    policiesDir: '/nonexistent',
    policies: new Map([['open', open]]),
    trustedKeys: [],
    clock,
    rollbackDrainMs: 2 * MIN,
    analyzer: new ScriptedAnalyzer(new Set(failing)),
  });
  const polls: Array<{ revision: number; stable: { version: string } | null; candidates: Array<{ version: string }> }> = [];
  const poll = () => {
    const m = c.manifest('sensor-content');
    if (m) polls.push(JSON.parse(m.body.toString()) as (typeof polls)[number]);
  };
  const run = async (minutes: number) => {
    for (let i = 0; i < minutes; i++) {
      clock.advance(MIN);
      await c.reconcileAll();
      poll();
    }
  };
  return { c, clock, dataDir, run, poll, polls };
}

describe('channel lineage', () => {
  it('case 2: B (on A) queued, A rolled back: 7.16.291 is never stable at any poll, stable is never null, B is blocked', async () => {
    const h = await harness(['7.16.291']);
    expect((await h.c.applyRollout(rollout('a', '7.16.291', '7.16.290'), 'alice')).status).toBe('created');
    h.poll();
    expect((await h.c.applyRollout(rollout('b', '7.16.292', '7.16.291'), 'alice')).status).toBe('created');
    h.poll();
    expect(h.c.getRollout('b')?.phase.kind).toBe('pending');
    await h.run(30);
    expect(h.c.getRollout('a')?.phase.kind).toBe('rolled-back');
    const b = h.c.getRollout('b');
    expect(b?.phase).toMatchObject({ kind: 'blocked', stableVersion: '7.16.290', expectedVersion: '7.16.291' });
    expect(b?.waitingReason).toBe(
      'blocked: the channel runs 7.16.290, this rollout expects 7.16.291; 7.16.291 was rolled-back (a). Next: abort it (ringctl abort) and apply a rollout with previousVersion 7.16.290',
    );
    expect(h.polls.length).toBeGreaterThan(30);
    for (const p of h.polls) {
      expect(p.stable).not.toBeNull();
      expect(p.stable?.version).toBe('7.16.290');
      expect(p.candidates.map((x) => x.version)).not.toContain('7.16.292');
    }
    const ch = h.c.getChannel('sensor-content');
    expect(ch?.stable?.version).toBe('7.16.290');
    expect(ch?.history.map((e) => `${e.event} ${e.version}`)).toEqual(['initial 7.16.290', 'rolled-back 7.16.291']);
    // B never starts by itself; aborting it leaves the lineage alone.
    await h.run(10);
    expect(h.c.getRollout('b')?.phase.kind).toBe('blocked');
    expect((await h.c.request('b', 'resume', 'alice', 'try')).status).toBe('rejected');
    expect((await h.c.request('b', 'abort', 'alice', 'built on a withdrawn version')).status).toBe('applied');
    expect(h.c.getChannel('sensor-content')?.history).toHaveLength(2);
    await h.c.stop();
  });

  it('case 3: after any rollback the previous version stays stable (never null); after a success the new one is', async () => {
    const h = await harness(['7.16.291']);
    await h.c.applyRollout(rollout('a', '7.16.291', '7.16.290'), 'alice');
    await h.run(20);
    expect(h.c.getRollout('a')?.phase.kind).toBe('rolled-back');
    const last = h.polls[h.polls.length - 1];
    expect(last?.stable).toEqual({ version: '7.16.290', artifact: null });
    expect(last?.candidates).toEqual([]);
    // The fix, on 7.16.290, succeeds and becomes stable with its artifact.
    await h.c.applyRollout(rollout('fix', '7.16.293', '7.16.290'), 'alice');
    await h.run(30);
    expect(h.c.getRollout('fix')?.phase.kind).toBe('succeeded');
    const after = h.polls[h.polls.length - 1];
    expect(after?.stable).toEqual({ version: '7.16.293', artifact: { url: 'https://updates.example.internal/c/7.16.293.bin', sha256: expect.any(String) as string } });
    for (const p of h.polls) expect(p.stable?.version).not.toBe('7.16.291');
    // A rollout on the old stable version is now refused at apply, and a withdrawn version can never come back.
    const stale = await h.c.applyRollout(rollout('late', '7.16.294', '7.16.290'), 'alice');
    expect(stale).toEqual({ status: 'conflict', message: 'previousVersion 7.16.290 is not what channel sensor-content runs: its stable version is 7.16.293 (no version is in flight); set previousVersion: 7.16.293' });
    const again = await h.c.applyRollout(rollout('again', '7.16.291', '7.16.293'), 'alice');
    expect(again.status).toBe('conflict');
    await h.c.stop();
  });

  it('lineage survives a restart', async () => {
    const h = await harness(['7.16.291']);
    await h.c.applyRollout(rollout('a', '7.16.291', '7.16.290'), 'alice');
    await h.run(20);
    await h.c.stop();
    const c2 = await Controller.open({ dataDir: h.dataDir, policiesDir: '/nonexistent', policies: new Map([['open', open]]), trustedKeys: [], clock: h.clock });
    expect(c2.getChannel('sensor-content')?.stable?.version).toBe('7.16.290');
    expect(JSON.parse(c2.manifest('sensor-content')?.body.toString() ?? '{}')).toMatchObject({ stable: { version: '7.16.290' } });
    expect((await c2.applyRollout(rollout('b', '7.16.292', '7.16.291'), 'alice')).status).toBe('conflict');
    await c2.stop();
  });
});

describe('lineage backfill', () => {
  it('a database written before lineage existed gets its channel record from its rollouts on open', async () => {
    const h = await harness(['7.16.291']);
    await h.c.applyRollout(rollout('a', '7.16.291', '7.16.290'), 'alice');
    await h.run(20);
    await h.c.applyRollout(rollout('fix', '7.16.293', '7.16.290', false), 'alice');
    await h.run(30);
    expect(h.c.getRollout('fix')?.phase.kind).toBe('succeeded');
    await h.c.stop();
    const raw = new Database(path.join(h.dataDir, 'ringmaster.db'));
    raw.exec('DELETE FROM channel_history; DELETE FROM channels;');
    raw.close();
    const c2 = await Controller.open({ dataDir: h.dataDir, policiesDir: '/nonexistent', policies: new Map([['open', open]]), trustedKeys: [], clock: h.clock });
    const ch = c2.getChannel('sensor-content');
    expect(ch?.stable?.version).toBe('7.16.293');
    expect(ch?.history.map((e) => `${e.event} ${e.version}`)).toEqual(['initial 7.16.290', 'rolled-back 7.16.291', 'stable 7.16.293']);
    expect(ch?.history[1]?.reason).toMatch(/\(backfilled\)$/);
    await c2.stop();
  });
});

describe('previousVersion mismatch over HTTP', () => {
  let api: Api;
  let h: Awaited<ReturnType<typeof harness>>;
  beforeAll(async () => {
    h = await harness([]);
    api = await startApi(h.c, { roles: ['deployer', 'viewer'] });
  });
  afterAll(async () => {
    await api.close();
    await h.c.stop();
  });
  const post = (r: Rollout) =>
    fetch(`${api.url}/v1/rollouts`, { method: 'POST', headers: { authorization: `Bearer ${api.tokens.deployer}`, 'content-type': 'application/json' }, body: JSON.stringify(r) });

  it('apply refuses with 409 a previousVersion that is neither stable nor in flight, naming both', async () => {
    expect((await post(rollout('a', '7.16.291', '7.16.290', false))).status).toBe(201);
    const res = await post(rollout('x', '7.16.295', '7.16.100', false));
    expect(res.status).toBe(409);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('conflict');
    expect(body.error.message).toBe('previousVersion 7.16.100 is not what channel sensor-content runs: its stable version is 7.16.290 (in flight: 7.16.291); set previousVersion: 7.16.290');
    expect((await post(rollout('b', '7.16.292', '7.16.291', false))).status).toBe(201);
  });

  it('GET /v1/channels/{channel} shows the stable version, its history and the rollouts', async () => {
    const res = await fetch(`${api.url}/v1/channels/sensor-content`, { headers: { authorization: `Bearer ${api.tokens.viewer}` } });
    expect(res.status).toBe(200);
    const { channel } = (await res.json()) as { channel: { stable: { version: string }; history: unknown[]; rollouts: Array<{ name: string; phase: string }> } };
    expect(channel.stable.version).toBe('7.16.290');
    expect(channel.history).toEqual([expect.objectContaining({ event: 'initial', version: '7.16.290' })]);
    expect(channel.rollouts.map((r) => `${r.name}:${r.phase}`)).toEqual(['a:progressing', 'b:pending']);
    const missing = await fetch(`${api.url}/v1/channels/nope`, { headers: { authorization: `Bearer ${api.tokens.viewer}` } });
    expect(missing.status).toBe(404);
  });
});

describe('apply under the kill switch', () => {
  it('is accepted into held; releasing the switch starts nothing; an explicit resume does', async () => {
    const h = await harness([]);
    await h.c.setKillSwitch({ engaged: true, mode: 'freeze', reason: 'incident 42' }, 'sre');
    const r = await h.c.applyRollout(rollout('a', '7.16.291', '7.16.290', false), 'alice');
    expect(r.status).toBe('created');
    expect(h.c.getRollout('a')?.phase.kind).toBe('held');
    expect((await h.c.request('a', 'resume', 'alice', 'go')).status).toBe('rejected');
    await h.c.setKillSwitch({ engaged: false, mode: 'freeze', reason: 'resolved' }, 'sre');
    await h.run(5);
    expect(h.c.getRollout('a')?.phase.kind).toBe('held');
    expect(h.c.getRollout('a')?.waitingReason).toMatch(/^held: kill switch engaged \(freeze\) by sre: incident 42.*ringctl resume starts it$/);
    const resumed = await h.c.request('a', 'resume', 'alice', 'incident over');
    expect(resumed.status).toBe('applied');
    expect(h.c.getRollout('a')?.phase.kind).toBe('progressing');
    await h.c.stop();
  });

  it('a resumed held rollout still waits for the policy window (it was started outside it once)', async () => {
    const h = await harness([]);
    const weekdays: PolicySpec = { ...open, timezone: 'America/New_York', allow: [{ days: ['Mon', 'Tue', 'Wed', 'Thu'], hours: '09:00-16:00' }] };
    const c = await Controller.open({ dataDir: h.dataDir + '-w', policiesDir: '/nonexistent', policies: new Map([['open', weekdays]]), trustedKeys: [], clock: h.clock });
    h.clock.advanceTo(Date.parse('2026-11-30T23:00:00Z')); // Monday 18:00 New York: outside the window
    await c.setKillSwitch({ engaged: true, mode: 'freeze', reason: 'incident' }, 'sre');
    await c.applyRollout(rollout('a', '7.16.291', '7.16.290', false), 'alice');
    await c.setKillSwitch({ engaged: false, mode: 'freeze', reason: 'resolved' }, 'sre');
    expect((await c.request('a', 'resume', 'alice', 'go')).status).toBe('applied');
    expect(c.getRollout('a')?.phase.kind).toBe('waiting-for-window');
    expect(c.getRollout('a')?.exposedRing).toBe(-1);
    await c.stop();
    await h.c.stop();
  });

  it('a rollout queued before the switch is held too, and does not start when it is released', async () => {
    const h = await harness([]);
    await h.c.applyRollout(rollout('a', '7.16.291', '7.16.290', false), 'alice');
    await h.c.applyRollout(rollout('b', '7.16.292', '7.16.291', false), 'alice');
    expect(h.c.getRollout('b')?.phase.kind).toBe('pending');
    await h.c.setKillSwitch({ engaged: true, mode: 'freeze', reason: 'incident' }, 'sre');
    expect(h.c.getRollout('a')?.phase.kind).toBe('halted');
    expect(h.c.getRollout('b')?.phase.kind).toBe('held');
    await h.c.setKillSwitch({ engaged: false, mode: 'freeze', reason: 'resolved' }, 'sre');
    await h.run(40);
    expect(h.c.getRollout('a')?.phase.kind).toBe('halted');
    expect(h.c.getRollout('b')?.phase.kind).toBe('held');
    await h.c.stop();
  });
});
