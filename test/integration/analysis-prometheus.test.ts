/**
 * Health analysis end to end against a REAL Prometheus (Debian package) on loopback, scraping a prom-client
 * exporter of the agent metrics contract every 250 ms (eight samples in each increase() window). The controller
 * runs on the real clock with short bakes (whole rings, no waves) and a 2 s analysis interval, its verdicts computed
 * from aligned per-interval increments (PrometheusProvider + observeMetric) by the judge:
 *
 *   - a healthy canary passes and the rollout runs to the end;
 *   - a canary whose crash counter climbs at a catastrophic rate (about 90x its max) halts and rolls back within 3
 *     analysis intervals of the first crash being scraped;
 *   - a NaN hosts gauge, and a candidate whose series are gone (candidateMissing), hold the ring (past its bake),
 *     then halt it with no-data after the grace;
 *   - a custom PromQL metric is evaluated (and fails the ring it should fail);
 *   - killing Prometheus mid-ring: no advance, then a halt (provider-error).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prometheusObserver } from '../../controller/analysis/observe';
import { PrometheusProvider } from '../../controller/analysis/prometheus';
import { MetricsAnalyzer } from '../../controller/runtime/analysis';
import { Controller } from '../../controller/runtime/controller';
import type { RolloutView } from '../../controller/runtime/service';
import type { MetricSpec, PolicySpec, Rollout } from '../../controller/spec/types';
import { formatSpecError } from '../../controller/spec/errors';
import { validateRolloutObject } from '../../controller/spec/load';
import { AgentExporter } from '../helpers/agent-exporter';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus';

jest.setTimeout(120_000);

const INTERVAL_S = 2;
const OLD = '1.0.0';
const NEW = '2.0.0';
const openPolicy: PolicySpec = {
  timezone: 'UTC',
  allow: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'], hours: '00:00-24:00' }],
  requireSignedArtifacts: false,
  requireBakeWithinWindow: false,
  maxConcurrentRolloutsPerChannel: 1,
};

const crashRate: MetricSpec = { name: 'crashes', type: 'crash-rate', max: 20, maxRatio: 1.5, detectRatio: 3, minHosts: 20, minExposure: 0.02 };

function rollout(channel: string, opts: { metrics?: MetricSpec[]; canaryBake?: string; noDataGrace?: string } = {}): Rollout {
  const doc = {
    apiVersion: 'ringmaster.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: `${channel}-${NEW}` },
    spec: {
      channel,
      version: NEW,
      previousVersion: OLD,
      artifact: { url: `https://updates.example.internal/${channel}/${NEW}.bin`, sha256: 'b'.repeat(64) },
      policy: 'open',
      // Whole rings (no waves): the exporter's fleet does not follow the manifest.
      rings: [
        { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: opts.canaryBake ?? '3s', ramp: 'none' },
        { name: 'half', percent: 50, bake: '2s', ramp: 'none' },
        { name: 'full', percent: 100, bake: '1s', ramp: 'none' },
      ],
      analysis: { interval: `${INTERVAL_S}s`, noDataGrace: opts.noDataGrace ?? '8s', maxConsecutiveErrors: 3, metrics: opts.metrics ?? [crashRate] },
      rollback: { automatic: true },
    },
  };
  // The same validation as ringctl validate and POST /v1/rollouts.
  const r = validateRolloutObject(doc, `${channel}.yaml`);
  if (!r.ok) throw new Error(r.errors.map(formatSpecError).join('\n'));
  return r.doc;
}

async function waitFor(c: Controller, name: string, ok: (v: RolloutView) => boolean, timeoutMs: number): Promise<RolloutView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = c.getRollout(name);
    if (v && ok(v)) return v;
    if (Date.now() > until) throw new Error(`${name}: timed out; phase ${JSON.stringify(v?.phase)}, verdict ${v?.lastVerdict?.reason ?? 'none'}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function openController(prom: RunningPrometheus): Promise<{ c: Controller; provider: PrometheusProvider; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-analysis-'));
  const provider = new PrometheusProvider({ url: prom.url, timeoutMs: 1000, retries: 1, retryBackoffMs: 100 });
  const c = await Controller.open({
    dataDir: dir,
    policiesDir: '/nonexistent',
    policies: new Map([['open', openPolicy]]),
    trustedKeys: [],
    tickMs: 200,
    rollbackDrainMs: 1000,
    analyzer: new MetricsAnalyzer(prometheusObserver(provider, { minWindowSeconds: 3 })),
  });
  c.start();
  return { c, provider, dir };
}

describe('health analysis against a real Prometheus', () => {
  const exporter = new AgentExporter();
  let prom: RunningPrometheus;
  let c: Controller;
  let provider: PrometheusProvider;
  let dir: string;

  beforeAll(async () => {
    const target = await exporter.start();
    prom = await startPrometheus({ targets: [target], scrapeInterval: '250ms' });
    for (const ch of ['healthy', 'crashing', 'nan', 'empty', 'custom']) {
      exporter.setHosts(ch, OLD, 5000);
      exporter.setHosts(ch, NEW, 200);
    }
    // Let Prometheus hold a few samples of every series before the rings start.
    await prom.waitFor('count(ringmaster_agent_hosts)', (v) => v >= 10);
    await new Promise((r) => setTimeout(r, 3000));
    ({ c, provider, dir } = await openController(prom));
  });

  afterAll(async () => {
    await c?.stop();
    provider?.close();
    await prom?.stop();
    await exporter.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('all cases run at once on separate channels', async () => {
    const customMetric: MetricSpec = {
      name: 'crash-count',
      type: 'custom',
      query: { candidate: 'sum(increase(ringmaster_agent_crashes_total{channel="{{channel}}",version="{{version}}"}[{{window}}]))' },
      max: 5,
      minHosts: 20,
    };
    const names = {
      healthy: (await c.applyRollout(rollout('healthy'), 'test')).status,
      crashing: (await c.applyRollout(rollout('crashing', { canaryBake: '30s' }), 'test')).status,
      nan: (await c.applyRollout(rollout('nan'), 'test')).status,
      empty: (await c.applyRollout(rollout('empty'), 'test')).status,
      custom: (await c.applyRollout(rollout('custom', { metrics: [customMetric], canaryBake: '30s' }), 'test')).status,
    };
    expect(names).toEqual({ healthy: 'created', crashing: 'created', nan: 'created', empty: 'created', custom: 'created' });
    exporter.setHostsNaN('nan', NEW);
    exporter.remove('empty', NEW);

    const healthyCase = (async () => {
      const done = await waitFor(c, `healthy-${NEW}`, (v) => v.phase.kind === 'succeeded' || v.phase.kind === 'halted' || v.phase.kind === 'rolled-back', 60_000);
      expect(done.phase.kind).toBe('succeeded');
      const passes = done.history.filter((t) => /pass/.test(t.reason));
      expect(passes.length).toBeGreaterThanOrEqual(1);
      return done;
    })();

    const crashCase = (async () => {
      // Wait for the canary to be in its bake and the first (healthy) verdicts to arrive.
      await waitFor(c, `crashing-${NEW}`, (v) => v.phase.kind === 'progressing' && v.lastVerdict !== null, 30_000);
      // 200 candidate hosts, 0.11 host-h per interval: 100 crashes a second is about 1,800/host-h against a max of 20.
      exporter.crash('crashing', NEW, 100);
      // The first scrape that sees the crash.
      await prom.waitFor(`sum(ringmaster_agent_crashes_total{channel="crashing",version="${NEW}",kind="crash"})`, (v) => v > 0, 10_000);
      const firstScraped = Date.now();
      const ticker = setInterval(() => exporter.crash('crashing', NEW, 100), 1000);
      try {
        const v = await waitFor(c, `crashing-${NEW}`, (x) => x.phase.kind === 'rolling-back' || x.phase.kind === 'rolled-back', 3 * INTERVAL_S * 1000 + 2000);
        const elapsed = (Date.now() - firstScraped) / 1000;
        const halt = v.history.find((t) => t.to === 'halted' || t.to === 'rolling-back');
        console.log(`crash case: halted and rolled back ${elapsed.toFixed(1)} s after the first crash was scraped (analysis interval ${INTERVAL_S} s): ${halt?.reason ?? ''}`);
        expect(elapsed).toBeLessThanOrEqual(3 * INTERVAL_S);
        expect(v.exposedRing).toBeLessThanOrEqual(0);
        expect(halt?.reason).toMatch(/crashes/);
        const end = await waitFor(c, `crashing-${NEW}`, (x) => x.phase.kind === 'rolled-back', 10_000);
        // The manifest withdrew the candidate: agents revert on their next poll.
        const m = JSON.parse((c.manifest('crashing')?.body ?? Buffer.from('{}')).toString()) as { candidates: Array<{ state: string }> };
        expect(m.candidates.every((x) => x.state !== 'active')).toBe(true);
        return end;
      } finally {
        clearInterval(ticker);
      }
    })();

    const holdCase = async (channel: string, why: RegExp) => {
      // Bake is 3 s; wait well past it: the ring must not advance on missing data.
      await new Promise((r) => setTimeout(r, 5000));
      const held = c.getRollout(`${channel}-${NEW}`) as RolloutView;
      expect([channel, held.exposedRing, held.phase.kind]).toEqual([channel, 0, 'progressing']);
      expect(held.lastVerdict?.result).toBe('inconclusive');
      expect(held.lastVerdict?.reason).toMatch(why);
      const halted = await waitFor(c, `${channel}-${NEW}`, (v) => v.phase.kind !== 'progressing', 20_000);
      expect(halted.history.some((t) => t.to === 'halted' && /no usable data/.test(t.reason))).toBe(true);
      expect(halted.exposedRing).toBeLessThanOrEqual(0);
      return halted;
    };

    const customCase = (async () => {
      await waitFor(c, `custom-${NEW}`, (v) => v.phase.kind === 'progressing' && v.lastVerdict?.result === 'pass', 30_000);
      // The verdict lists the built-in signals too: find the declared metric by name.
      const pass = c.getRollout(`custom-${NEW}`)?.lastVerdict?.metrics.find((m) => m.metric === 'crash-count') as unknown as { type: string; value: { candidate: number } };
      expect(pass.type).toBe('custom');
      expect(pass.value.candidate).toBe(0);
      exporter.crash('custom', NEW, 40);
      const v = await waitFor(c, `custom-${NEW}`, (x) => x.phase.kind === 'rolling-back' || x.phase.kind === 'rolled-back', 15_000);
      expect(v.history.some((t) => /crash-count/.test(t.reason))).toBe(true);
      return v;
    })();

    const [healthy, crashing, nan, empty, custom] = await Promise.all([healthyCase, crashCase, holdCase('nan', /NaN/), holdCase('empty', /the candidate has no series yet/), customCase]);
    for (const v of [healthy, crashing, nan, empty, custom]) console.log(`${v.name}: ${v.phase.kind}; last: ${v.history[v.history.length - 1]?.reason ?? ''}`);
  });
});

describe('Prometheus killed mid-ring', () => {
  test('no advance, then a halt (provider-error)', async () => {
    const exporter = new AgentExporter();
    const target = await exporter.start();
    const prom = await startPrometheus({ targets: [target], scrapeInterval: '1s' });
    exporter.setHosts('outage', OLD, 5000);
    exporter.setHosts('outage', NEW, 200);
    await prom.waitFor('count(ringmaster_agent_hosts{channel="outage"})', (v) => v >= 2);
    await new Promise((r) => setTimeout(r, 3000));
    const { c, provider, dir } = await openController(prom);
    try {
      await c.applyRollout(rollout('outage', { canaryBake: '6s', noDataGrace: '6s' }), 'test');
      await waitFor(c, `outage-${NEW}`, (v) => v.phase.kind === 'progressing' && v.lastVerdict !== null, 20_000);
      await prom.kill();
      const killedAt = Date.now();
      const v = await waitFor(c, `outage-${NEW}`, (x) => x.phase.kind !== 'progressing', 30_000);
      console.log(`outage: ${v.phase.kind} ${((Date.now() - killedAt) / 1000).toFixed(1)} s after SIGKILL: ${v.history[v.history.length - 1]?.reason ?? ''}`);
      expect(v.phase.kind).toBe('halted');
      expect(v.phase.kind === 'halted' && v.phase.reason).toBe('provider-error');
      expect(v.exposedRing).toBe(0);
      expect(v.history.some((t) => t.to === 'progressing' && t.exposedRing > 0)).toBe(false);
    } finally {
      await c.stop();
      provider.close();
      await prom.stop();
      await exporter.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
