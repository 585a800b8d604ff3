/** Loading what the runtime needs from disk (trusted keys; policies in policies.ts) and deriving engine settings from a spec. */
import { parsePublicKey, type TrustedKey } from '../crypto/keys';
import { SERVE_DEFAULTS } from '../config/serve';
import type { EngineConfig } from '../engine/state';
import { analysisOf, ANALYSIS_DEFAULTS, approvalRequired, automaticRollbackOf, policyNameOf as policyOf, rampOf } from '../spec/defaults';
import { loadDocumentFileOrThrow, type DocumentType } from '../spec/document';
import { durationMs } from '../spec/duration';
import type { Problem } from '../spec/errors';
import type { Rollout } from '../spec/types';

/** The trusted keys file: `keys: [{name, publicKey}]`, publicKey as PEM or base64 of the raw 32 bytes. */
export const trustedKeysSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['keys'],
  'x-messages': {
    type: 'the file must be a mapping with a "keys" list of {name, publicKey} (got {got})',
    required: 'missing required field "keys" (a list of {name, publicKey})',
    additionalProperties: 'unknown field (expected only "keys")',
  },
  properties: {
    keys: {
      type: 'array',
      'x-messages': { type: 'must be a list of {name, publicKey} (got {got})' },
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'publicKey'],
        'x-messages': { type: 'must be a mapping {name, publicKey} (got {got})', additionalProperties: 'unknown field (expected name, publicKey)' },
        properties: {
          /** Named in the messages of signature checks. */
          name: { type: 'string', minLength: 1, maxLength: 253, 'x-messages': { type: 'must be a non-empty string (got {got})' } },
          publicKey: { type: 'string', minLength: 1, 'x-messages': { type: 'must be a string (PEM or base64) (got {got})' } },
        },
      },
    },
  },
} as const;

interface TrustedKeysFile {
  keys: Array<{ name: string; publicKey: string }>;
}

/** Each key parses as an ed25519 public key, and each name is used once (read defensively). */
function trustedKeyRules(data: unknown): Problem[] {
  const problems: Problem[] = [];
  const keys = (data as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) return problems;
  const names = new Map<string, number>();
  keys.forEach((k: unknown, i) => {
    const entry = (k ?? {}) as { name?: unknown; publicKey?: unknown };
    if (typeof entry.name === 'string' && entry.name !== '') {
      const first = names.get(entry.name);
      if (first !== undefined) problems.push({ path: ['keys', i, 'name'], message: `duplicate name ${JSON.stringify(entry.name)} (also keys[${first}])` });
      else names.set(entry.name, i);
    }
    if (typeof entry.publicKey === 'string' && entry.publicKey !== '') {
      const parsed = parsePublicKey(entry.publicKey);
      if (!parsed.ok) problems.push({ path: ['keys', i, 'publicKey'], message: parsed.message });
    }
  });
  return problems;
}

export const TRUSTED_KEYS_FILE: DocumentType<TrustedKeysFile> = { noun: 'trusted keys file', schema: trustedKeysSchema, rules: trustedKeyRules };

/** Trusted publisher keys from a file (none without one); its mistakes are an InputError, one line each. */
export function loadTrustedKeys(file: string | undefined): TrustedKey[] {
  if (file === undefined) return [];
  return loadDocumentFileOrThrow(TRUSTED_KEYS_FILE, file).keys.map((k) => {
    const parsed = parsePublicKey(k.publicKey);
    if (!parsed.ok) throw new Error(`trusted key ${k.name} passed its check but does not parse`); // a bug: the rules parse it
    return { name: k.name, key: parsed.key };
  });
}

/** Engine settings a spec leaves out, from the schemas (spec/defaults.ts, config/serve.ts): defined there, not here. */
export const DEFAULTS = {
  analysisInterval: ANALYSIS_DEFAULTS.interval,
  noDataGrace: ANALYSIS_DEFAULTS.noDataGrace,
  maxConsecutiveErrors: ANALYSIS_DEFAULTS.maxConsecutiveErrors,
  rollbackDrainMs: durationMs(SERVE_DEFAULTS.rollbackDrain),
};

/**
 * The engine's settings for a rollout. `judged`: whether the analysis judges it even without declared metrics (the
 * built-in signals, when the controller has a metrics provider); declared metrics are always judged.
 */
export function engineConfigFor(rollout: Rollout, opts: { rollbackDrainMs?: number; judged?: boolean } = {}): EngineConfig {
  const spec = rollout.spec;
  const analysis = analysisOf(spec);
  return {
    name: rollout.metadata.name,
    channel: spec.channel,
    rings: spec.rings.map((r, i) => ({
      name: r.name,
      bakeMs: durationMs(r.bake),
      maxBakeMs: r.maxBake === undefined ? null : durationMs(r.maxBake),
      approvalRequired: approvalRequired(r),
      ramp: rampOf(spec, i),
    })),
    analysisIntervalMs: durationMs(analysis.interval),
    analysisEnabled: (spec.analysis?.metrics?.length ?? 0) > 0 || opts.judged === true,
    noDataGraceMs: durationMs(analysis.noDataGrace),
    maxConsecutiveErrors: analysis.maxConsecutiveErrors,
    automaticRollback: automaticRollbackOf(spec),
    rollbackDrainMs: opts.rollbackDrainMs ?? DEFAULTS.rollbackDrainMs,
    preflight: (spec.preflight?.length ?? 0) > 0,
  };
}

export function analysisIntervalMs(rollout: Rollout): number {
  return durationMs(analysisOf(rollout.spec).interval);
}

export function policyNameOf(rollout: Rollout): string {
  return policyOf(rollout.spec);
}
