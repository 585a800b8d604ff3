/** Loading what the runtime needs from disk (policies, trusted keys) and deriving engine settings from a spec. */
import * as fs from 'node:fs';
import { parseDocument } from 'yaml';
import { parsePublicKey, type TrustedKey } from '../crypto/keys';
import type { EngineConfig } from '../engine/state';
import { ANALYSIS_DEFAULTS } from '../spec/defaults';
import { durationMs } from '../spec/duration';
import type { Rollout } from '../spec/types';

/** Expected configuration problems: one line each, shown to the operator as they are. */
export class ConfigError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join('\n'));
  }
}

/** Trusted publisher keys: YAML `keys: [{name, publicKey}]`, publicKey as PEM or base64 of the raw 32 bytes. */
export function loadTrustedKeys(file: string | undefined): TrustedKey[] {
  if (file === undefined) return [];
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read trusted keys file (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new ConfigError([`${file}: invalid YAML: ${doc.errors[0]?.message.split('\n')[0] ?? ''}`]);
  const data = doc.toJS() as unknown;
  const keys = (data as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new ConfigError([`${file}: keys: must be a list of {name, publicKey}`]);
  const errors: string[] = [];
  const out: TrustedKey[] = [];
  keys.forEach((k: unknown, i) => {
    const entry = k as { name?: unknown; publicKey?: unknown } | null;
    if (typeof entry?.name !== 'string' || entry.name === '') errors.push(`${file}: keys[${i}].name: must be a non-empty string`);
    else if (typeof entry.publicKey !== 'string') errors.push(`${file}: keys[${i}].publicKey: must be a string (PEM or base64)`);
    else {
      const parsed = parsePublicKey(entry.publicKey);
      if (parsed.ok) out.push({ name: entry.name, key: parsed.key });
      else errors.push(`${file}: keys[${i}].publicKey: ${parsed.message}`);
    }
  });
  if (errors.length > 0) throw new ConfigError(errors);
  return out;
}

export const DEFAULTS = {
  analysisInterval: ANALYSIS_DEFAULTS.interval,
  noDataGrace: ANALYSIS_DEFAULTS.noDataGrace,
  maxConsecutiveErrors: ANALYSIS_DEFAULTS.maxConsecutiveErrors,
  rollbackDrainMs: 2 * 60_000,
};

export function engineConfigFor(rollout: Rollout, opts: { rollbackDrainMs?: number } = {}): EngineConfig {
  const spec = rollout.spec;
  return {
    rings: spec.rings.map((r) => ({
      name: r.name,
      bakeMs: durationMs(r.bake),
      maxBakeMs: r.maxBake === undefined ? null : durationMs(r.maxBake),
      approvalRequired: r.approval === 'required',
    })),
    analysisEnabled: (spec.analysis?.metrics?.length ?? 0) > 0,
    noDataGraceMs: durationMs(spec.analysis?.noDataGrace ?? DEFAULTS.noDataGrace),
    maxConsecutiveErrors: spec.analysis?.maxConsecutiveErrors ?? DEFAULTS.maxConsecutiveErrors,
    automaticRollback: spec.rollback?.automatic ?? true,
    rollbackDrainMs: opts.rollbackDrainMs ?? DEFAULTS.rollbackDrainMs,
  };
}

export function analysisIntervalMs(rollout: Rollout): number {
  return durationMs(rollout.spec.analysis?.interval ?? DEFAULTS.analysisInterval);
}

export function policyNameOf(rollout: Rollout): string {
  return rollout.spec.policy ?? 'default';
}
