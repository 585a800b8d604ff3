/**
 * `ringctl validate` and `ringctl status` for a rollout that declares no metrics: one line each saying that only the
 * built-in signals (engine/signals.ts builtinSignals: update-failures, silent-hosts) guard it, and `status` saying it
 * is unguarded when the controller has no metrics provider (its rings baked without analysis).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { validateFiles } from '../../controller/cli/commands/validate';
import { guardLine, renderStatus, signalsOnlyText } from '../../controller/cli/render';
import type { RolloutView } from '../../controller/runtime/service';
import type { RolloutSpec } from '../../controller/spec/types';

const ROOT = path.join(__dirname, '..', '..');
const T0 = '2026-12-01T10:00:00.000Z';

const rolloutYaml = (name: string, analysis: string): string =>
  [
    'apiVersion: ringmaster.dev/v1alpha1',
    'kind: Rollout',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  channel: sensor-content',
    '  version: 2.0.0',
    '  previousVersion: 1.0.0',
    `  artifact: {url: "https://updates.example.internal/c/2.0.0.bin", sha256: "${'a'.repeat(64)}"}`,
    '  policy: default',
    '  rings:',
    '    - {name: canary, selector: {matchLabels: {ring: canary}}, bake: 30m}',
    '    - {name: all, percent: 100, bake: 1h}',
    analysis,
    '',
  ].join('\n');

describe('ringctl validate', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-guard-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a rollout without metrics: one line naming the built-in signals that alone guard it', () => {
    const bare = path.join(dir, 'bare.yaml');
    const empty = path.join(dir, 'empty.yaml');
    fs.writeFileSync(bare, rolloutYaml('bare-2.0.0', ''));
    fs.writeFileSync(empty, rolloutYaml('empty-2.0.0', '  analysis:\n    interval: 1m\n'));
    const out: string[] = [];
    const code = validateFiles([bare, empty, path.join(ROOT, 'examples/rollouts/content-update.yaml')], (l) => out.push(l), (l) => out.push(l));
    expect(code).toBe(0);
    expect(out).toEqual([
      'ok: 3 documents in 3 files',
      `${bare}: rollout bare-2.0.0 declares no metrics: only the built-in signals update-failures and silent-hosts guard it (judged when ringmaster serve has a metrics provider; without one: bake time alone)`,
      `${empty}: rollout empty-2.0.0 declares no metrics: only the built-in signals update-failures and silent-hosts guard it (judged when ringmaster serve has a metrics provider; without one: bake time alone)`,
    ]);
  });

  test('a rollout that declares metrics gets no such line; an invalid file only its errors', () => {
    const out: string[] = [];
    expect(validateFiles([path.join(ROOT, 'examples/rollouts/agent-update.yaml')], (l) => out.push(l), (l) => out.push(l))).toBe(0);
    expect(out).toEqual(['ok: 1 document in 1 file']);
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, rolloutYaml('bad-2.0.0', '').replace('bake: 1h', 'bake: soon'));
    const lines: string[] = [];
    expect(validateFiles([bad], (l) => lines.push(l), (l) => lines.push(l))).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^.*bad\.yaml:\d+:\d+ spec\.rings\[1\]\.bake: /);
  });

  test('the text names what builtinSignals adds; a rollout with metrics has none', () => {
    const spec = (metrics?: RolloutSpec['analysis']): RolloutSpec => ({ channel: 'c', version: '2', artifact: { url: 'https://a/b', sha256: 'a'.repeat(64) }, rings: [], ...(metrics ? { analysis: metrics } : {}) }) as unknown as RolloutSpec;
    expect(signalsOnlyText(spec())).toBe('declares no metrics: only the built-in signals update-failures and silent-hosts guard it');
    expect(signalsOnlyText(spec({ metrics: [{ name: 'crashes', type: 'crash-rate' }] }))).toBeNull();
  });
});

describe('ringctl status', () => {
  const view = (over: Partial<RolloutView>, analysis?: unknown): RolloutView => {
    const spec = {
      apiVersion: 'ringmaster.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'r' },
      spec: {
        channel: 'c',
        version: '2.0.0',
        rings: [
          { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '30m' },
          { name: 'all', percent: 100, bake: '1h' },
        ],
        ...(analysis === undefined ? {} : { analysis }),
      },
    };
    return {
      name: 'r',
      channel: 'c',
      version: '2.0.0',
      previousVersion: '1.0.0',
      policy: 'default',
      phase: { kind: 'progressing', ring: 1, bakeStartedAt: T0 },
      exposedRing: 1,
      ring: { index: 1, name: 'all' },
      waitingReason: null,
      bake: { startedAt: T0, minEndsAt: '2026-12-01T11:00:00.000Z', maxEndsAt: null },
      wave: null,
      lastVerdict: null,
      history: [{ n: 1, at: T0, from: 'pending', to: 'progressing', exposedRing: 0, reason: 'ring canary started', actor: 'controller' }],
      revision: 3,
      createdAt: T0,
      updatedAt: T0,
      ...over,
      spec: spec as unknown as RolloutView['spec'],
    };
  };
  const analysisLines = (v: RolloutView): string[] => renderStatus(v, new Date('2026-12-01T10:10:00Z')).split('\n').filter((l) => l.startsWith('analysis:'));
  const passedOnSignals = { n: 2, at: T0, from: 'progressing', to: 'progressing', exposedRing: 1, reason: 'ring canary passed analysis after its bake', actor: 'controller' } as const;
  const bakedBlind = { n: 2, at: T0, from: 'progressing', to: 'progressing', exposedRing: 1, reason: 'ring canary baked (no analysis configured)', actor: 'controller' } as const;

  test('signals judged (a verdict, or a ring passed on analysis): only the built-in signals guard it', () => {
    const verdict = { ring: 1, at: T0, result: 'inconclusive' as const, reason: 'not enough evidence yet', metrics: [] };
    expect(analysisLines(view({ lastVerdict: verdict }))).toEqual(['analysis: declares no metrics: only the built-in signals update-failures and silent-hosts guard it']);
    expect(analysisLines(view({ history: [passedOnSignals] }))).toEqual(['analysis: declares no metrics: only the built-in signals update-failures and silent-hosts guard it']);
  });

  test('no metrics provider (a ring baked without analysis): unguarded, bake time alone', () => {
    expect(analysisLines(view({ history: [bakedBlind] }))).toEqual([
      'analysis: declares no metrics and the controller has no metrics provider: unguarded, its rings advance on bake time alone',
    ]);
  });

  test('nothing judged yet: says both', () => {
    expect(guardLine(view({}))).toBe(
      'analysis: declares no metrics: only the built-in signals update-failures and silent-hosts guard it, once the controller has a metrics provider (without one: bake time alone)',
    );
  });

  test('a server that says whether it judges the rollout is taken at its word', () => {
    expect(guardLine(view({ judged: true }))).toBe('analysis: declares no metrics: only the built-in signals update-failures and silent-hosts guard it');
    expect(guardLine(view({ judged: false, history: [passedOnSignals] }))).toBe(
      'analysis: declares no metrics and the controller has no metrics provider: unguarded, its rings advance on bake time alone',
    );
  });

  test('a rollout that declares metrics has no such line', () => {
    expect(analysisLines(view({}, { metrics: [{ name: 'crashes', type: 'crash-rate' }] }))).toEqual([]);
  });
});
