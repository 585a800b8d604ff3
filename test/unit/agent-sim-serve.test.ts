/**
 * The Quick start's parts that do not need a running server: agent-sim's one line for a Rollout given as a
 * Scenario, `agent-sim serve`'s one-line errors, the simulator provider's ring census, and the verdict label of a
 * MetricsAnalyzer whose numbers do not come from Prometheus. (test/integration/quickstart-readme.test.ts runs the
 * server itself, as the README does.)
 */
import * as path from 'node:path';
import { main } from '../../agent-sim/cli';
import { Fleet } from '../../agent-sim/fleet';
import { SimMetricsProvider } from '../../agent-sim/provider';
import { loadScenario } from '../../agent-sim/scenario';
import { loadScenarioDocuments } from '../../agent-sim/virtual';
import type { ChannelManifest } from '../../controller/engine/agent';
import { censusQuery } from '../../controller/runtime/census';
import { MetricsAnalyzer } from '../../controller/runtime/analysis';
import { initialState } from '../../controller/engine/state';
import { SimChannel } from '../../agent-sim/signed';

const ROOT = path.join(__dirname, '..', '..');
const QUICKSTART = path.join(ROOT, 'examples/quickstart/fleet.yaml');

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((err += String(c)), true));
  try {
    const code = await main(argv);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('agent-sim given the wrong kind of document', () => {
  test('a Rollout is named as such in one line, exit 2', async () => {
    const r = await run(['--scenario', 'examples/quickstart/rollout.yaml']);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toEqual([
      expect.stringMatching(/^agent-sim: examples\/quickstart\/rollout\.yaml is a Rollout, not a Scenario: .*agent-sim serve --scenario examples\/quickstart\/fleet\.yaml$/),
    ]);
  });

  test('a Policy too, and agent-sim serve says the same', async () => {
    const policy = await run(['--scenario', 'examples/quickstart/policies/anytime.yaml']);
    expect(policy.code).toBe(2);
    expect(policy.err.trim().split('\n')).toEqual([expect.stringMatching(/^agent-sim: examples\/quickstart\/policies\/anytime\.yaml is a Policy, not a Scenario: /)]);
    const serve = await run(['serve', '--scenario', 'examples/rollouts/content-update.yaml']);
    expect(serve.code).toBe(2);
    expect(serve.err).toMatch(/^agent-sim serve: examples\/rollouts\/content-update\.yaml is a Rollout, not a Scenario: /);
    expect(serve.err.trim().split('\n')).toHaveLength(1);
  });
});

describe('agent-sim serve refuses bad input in one line per problem, before it starts anything', () => {
  test('no --scenario', async () => {
    const r = await run(['serve']);
    expect(r.code).toBe(2);
    expect(r.err).toBe("agent-sim serve: required option '--scenario <file>' not specified\n");
  });

  test('a missing tokens file and a bad tick, both named', async () => {
    const r = await run(['serve', '--scenario', QUICKSTART, '--tokens', '/nonexistent/tokens.yaml', '--tick', 'soon', '--data', '/tmp/agent-sim-serve-unused']);
    expect(r.code).toBe(2);
    const lines = r.err.trim().split('\n');
    expect(lines).toEqual(expect.arrayContaining([expect.stringMatching(/^agent-sim serve: --tick: /), 'agent-sim serve: --tokens: /nonexistent/tokens.yaml: no such file']));
    expect(r.out).toBe('');
  });
});

describe('the simulator provider answers the ring census from the fleet', () => {
  test('sum(ringmaster_agent_hosts{channel, ring}) is the hosts of that ring in the served plan; another channel has none', async () => {
    const sc = loadScenario(QUICKSTART, { hosts: 2000 });
    const docs = loadScenarioDocuments(sc);
    const spec = docs.rollout.spec;
    const versions = { baseline: spec.previousVersion as string, candidate: spec.version };
    const ch = new SimChannel(spec.channel, versions, { url: spec.artifact.url, sha256: spec.artifact.sha256 }, docs.rollout.metadata.name);
    const fleet = new Fleet(sc, ch.agent(docs.artifact), 0, {});
    const provider = new SimMetricsProvider(fleet, spec.channel, versions, []);
    const fetched = ch.publish({ activeRing: 0, rings: [{ name: 'canary', selector: { ring: 'canary' } }, { name: 'early', basisPoints: 100 }, { name: 'full', basisPoints: 10_000 }] }, { issuedAtMs: 0 });
    expect((JSON.parse(fetched.body.toString('utf8')) as ChannelManifest).channel).toBe(spec.channel);
    fleet.step(0, 10_000, fetched);
    const canary = await provider.query(censusQuery(spec.channel, 'canary'), new Date(10_000));
    expect(canary).toEqual({ kind: 'value', value: fleet.ringHosts('canary') });
    expect(fleet.ringHosts('canary')).toBe(sc.fleet.canaryHosts);
    expect(await provider.query(censusQuery('other-channel', 'canary'), new Date(10_000))).toEqual({ kind: 'no-data', reason: 'empty vector (no series matched)' });
  });
});

describe('MetricsAnalyzer source', () => {
  test("a verdict's reason carries where its numbers came from, in brackets; without a source it is unchanged", async () => {
    const docs = loadScenarioDocuments(loadScenario(QUICKSTART));
    const state = { ...initialState(), exposedRing: 0, ringStartedAt: '2026-12-02T10:00:00.000Z' };
    const now = new Date('2026-12-02T10:00:10.000Z');
    const observe = (): Promise<never> => Promise.reject(new Error('provider down'));
    const labelled = await new MetricsAnalyzer(observe, { source: 'simulated metrics (agent-sim), not Prometheus' }).analyze(docs.rollout, state, now);
    const plain = await new MetricsAnalyzer(observe).analyze(docs.rollout, state, now);
    expect(plain?.reason).toBeDefined();
    expect(labelled?.reason).toBe(`${plain?.reason} [simulated metrics (agent-sim), not Prometheus]`);
    expect(labelled?.result).toBe(plain?.result);
  });
});
