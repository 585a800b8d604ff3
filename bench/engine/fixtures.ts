/**
 * The engine benchmark's documents: an always-open policy written as a real Policy file (loaded through the same
 * loader as `ringmaster serve --policies`), and bake-only rollouts, one per channel, built deterministically.
 *
 * Two shapes of rollout:
 * - `progressing`: 9 rings (a canary selector, then 1% .. 100%). Ring 0 bakes 1-30 s, every later ring 25-35 s
 *   (mean 30 s, as in the measurement), drawn per rollout from a seeded generator, so ring starts spread
 *   evenly over time: with 1 s ticks about 1/30 of the rollouts change ring on each tick. The shortest possible
 *   lifetime is 1 + 8 x 25 = 201 s, so the first 200 ticks of 1 s see every rollout active.
 * - `idle`: two rings of 24 h bakes; it stays in its first ring for the whole run (active, nothing to do).
 * Every ring is `ramp: none` (wholly exposed at its start): without a ring census (no Prometheus here) a ramped ring
 * would wait on its census look, and the bench measures ring changes, as it did before rings ramped in waves.
 */
import { rng } from '../../test/helpers/api-fuzz';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Rollout } from '../../controller/spec/types';

export const POLICY_NAME = 'bench-open';

/** A policy whose window is always open; unsigned artifacts allowed; one rollout per channel at a time. */
export const POLICY_YAML = [
  '# Written by the engine benchmark: rings may start at any time.',
  'apiVersion: ringmaster.dev/v1alpha1',
  'kind: Policy',
  'metadata:',
  `  name: ${POLICY_NAME}`,
  'spec:',
  '  timezone: UTC',
  '  allow:',
  '    - days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun]',
  '      hours: "00:00-24:00"',
  '  requireBakeWithinWindow: false',
  '  maxConcurrentRolloutsPerChannel: 1',
  '  requireSignedArtifacts: false',
  '',
].join('\n');

/** Shortest lifetime of a `progressing` rollout, in seconds (see the module comment). */
export const PROGRESSING_MIN_LIFETIME_S = 201;
const PERCENT_RINGS = [1, 2, 5, 10, 20, 35, 50, 100];

/** A fresh directory under the OS temp dir; the caller removes it. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rm-engine-bench-${prefix}-`));
}

/** A policies directory holding POLICY_YAML. */
export function writePolicies(root: string): string {
  const dir = path.join(root, 'policies');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${POLICY_NAME}.yaml`), POLICY_YAML);
  return dir;
}

/** The same seeded generator as the test fixtures (mulberry32), so every run applies the same bakes. */
export const seeded = rng;

function base(name: string, channel: string, rings: Rollout['spec']['rings']): Rollout {
  return {
    apiVersion: 'ringmaster.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      channel,
      version: '7.16.291',
      previousVersion: '7.16.290',
      policy: POLICY_NAME,
      artifact: { url: `https://updates.example.internal/${channel}/7.16.291.bin`, sha256: 'c'.repeat(64) },
      rings,
    },
  };
}

/** Rollout `i` of the progressing set: `<prefix>-<i>` on channel `<prefix>-ch-<i>`. */
export function progressingRollout(prefix: string, i: number): Rollout {
  const rnd = seeded(0x5eed + i);
  const sec = (lo: number, hi: number): string => `${lo + Math.floor(rnd() * (hi - lo + 1))}s`;
  const rings: Rollout['spec']['rings'] = [{ name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: sec(1, 30), ramp: 'none' }];
  for (const p of PERCENT_RINGS) rings.push({ name: `p${p}`, percent: p, bake: sec(25, 35), ramp: 'none' });
  return base(`${prefix}-${i}`, `${prefix}-ch-${i}`, rings);
}

/** Rollout `i` of the idle set: `<prefix>-<i>` on channel `<prefix>-ch-<i>`, first ring baking for 24 h. */
export function idleRollout(prefix: string, i: number): Rollout {
  return base(`${prefix}-${i}`, `${prefix}-ch-${i}`, [
    { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '24h', ramp: 'none' },
    { name: 'full', percent: 100, bake: '24h', ramp: 'none' },
  ]);
}
