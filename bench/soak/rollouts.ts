/**
 * The rollouts the soak applies: short bakes on the always-open policy, each on its own channel (so that
 * channel lineage never blocks one), drawn from a seeded generator. Three kinds:
 *   bake      4 rings, 1-3 s bakes, no analysis: advances on bake time;
 *   approval  the same with `approval: required` on one ring: a human (the soak) approves it;
 *   metrics   analysis metrics and no Prometheus: every look is a provider error, so it halts
 *             (provider-error) after 2 looks, and the soak rolls it back (a rollback drain).
 */

export type RolloutKind = 'bake' | 'approval' | 'metrics';

export interface RingPlan {
  name: string;
  bakeMs: number;
  approval: boolean;
}

export interface RolloutPlan {
  name: string;
  channel: string;
  kind: RolloutKind;
  rings: RingPlan[];
  yaml: string;
}

const RING_SHAPES: ReadonlyArray<{ name: string; selector?: string; percent?: number }> = [
  { name: 'canary', selector: '{ matchLabels: { ring: canary } }' },
  { name: 'early', percent: 10 },
  { name: 'broad', percent: 50 },
  { name: 'full', percent: 100 },
];

export function planRollout(
  r: () => number,
  name: string,
  channel: string,
  opts: { kind?: RolloutKind; bakesMs?: number[]; approvalRing?: number; version?: string } = {},
): RolloutPlan {
  const x = r();
  const kind: RolloutKind = opts.kind ?? (x < 0.5 ? 'bake' : x < 0.85 ? 'approval' : 'metrics');
  const approvalRing = kind === 'approval' ? (opts.approvalRing ?? Math.floor(r() * RING_SHAPES.length)) : -1;
  const rings: RingPlan[] = RING_SHAPES.map((shape, i) => ({
    name: shape.name,
    bakeMs: opts.bakesMs?.[i] ?? 1000 * (1 + Math.floor(r() * 3)),
    approval: i === approvalRing,
  }));
  const lines = [
    'apiVersion: ringmaster.dev/v1alpha1',
    'kind: Rollout',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    `  channel: ${channel}`,
    `  version: ${opts.version ?? '2.0.0'}`,
    '  previousVersion: 1.0.0',
    '  artifact:',
    `    url: https://updates.example.internal/${channel}/2.0.0.bin`,
    `    sha256: ${'5a'.repeat(32)}`,
    '  policy: open',
    '  rings:',
  ];
  RING_SHAPES.forEach((shape, i) => {
    const ring = rings[i] as RingPlan;
    lines.push(`    - name: ${shape.name}`);
    if (shape.selector) lines.push(`      selector: ${shape.selector}`);
    else lines.push(`      percent: ${shape.percent}`);
    lines.push(`      bake: ${ring.bakeMs % 1000 === 0 ? `${ring.bakeMs / 1000}s` : `${ring.bakeMs}ms`}`);
    // Whole rings at once: the soak's invariants are about rings and bakes of a few seconds, and without metrics a
    // ramp grows once per analysis interval (the waves under kill -9: test/integration/crash-kill9.test.ts).
    lines.push('      ramp: none');
    if (ring.approval) lines.push('      approval: required');
  });
  if (kind === 'metrics') {
    lines.push(
      '  analysis:',
      '    interval: 1s',
      '    noDataGrace: 5s',
      '    maxConsecutiveErrors: 2',
      '    metrics:',
      '      - { name: crashes, type: crash-rate, max: 0.05, maxRatio: 1.2, minHosts: 10, alpha: 0.01, detectRatio: 2 }',
    );
  }
  lines.push('');
  return { name, channel, kind, rings, yaml: lines.join('\n') };
}
