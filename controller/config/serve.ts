/**
 * The `ringmaster serve --config FILE` document: its JSON Schema (the one source of its keys, their shape and the
 * defaults of the serve settings) and its loading through the one document loader.
 *
 * Keys are written in camelCase or kebab-case (`trustedKeys` or `trusted-keys`); errors name them as written.
 * Relative paths are relative to the file. Every value is read as text (flags are text too); resolveSettings in
 * ringmaster.ts checks what the text means (a duration, an address, a level) and reports flag and file alike.
 */
import * as path from 'node:path';
import { loadDocumentFileOrThrow, type DocumentType } from '../spec/document';

const text = { type: ['string', 'number'], 'x-messages': { type: 'must be a string (got {got})' } } as const;
const pathText = { type: 'string', minLength: 1, 'x-messages': { type: 'must be a string (got {got})' } } as const;

export const serveConfigSchema = {
  type: 'object',
  additionalProperties: false,
  'x-messages': {
    type: 'the config file must be a mapping of settings ({known}) (got {got})',
    additionalProperties: 'unknown setting (expected {known})',
  },
  properties: {
    /** host:port to listen on. */
    listen: { ...text, default: '127.0.0.1:8080' },
    /** Data directory: the SQLite store and the signing key. */
    data: { ...pathText, default: './data' },
    /** API tokens file (only sha256s of tokens). */
    tokens: pathText,
    /** Directory of Policy documents. */
    policies: { ...pathText, default: './policies' },
    /** Publisher public keys trusted for artifact signatures. */
    trustedKeys: pathText,
    /** Reconcile interval. */
    tick: { ...text, default: '1s' },
    /** How long rolling-back lasts before rolled-back. */
    rollbackDrain: { ...text, default: '2m' },
    prometheusUrl: text,
    /** Per-query timeout. */
    prometheusTimeout: { ...text, default: '5s' },
    prometheusBearerTokenFile: pathText,
    prometheusCaFile: pathText,
    prometheusInsecureSkipVerify: { type: ['boolean', 'string'], enum: [true, false, 'true', 'false'], 'x-messages': { type: 'must be true or false (got {got})', enum: 'must be true or false (got {got})' } },
    /** Shortest increase() range, about two scrape intervals. */
    prometheusMinWindow: { ...text, default: '60s' },
    /** Level of the JSON log lines on stderr. */
    logLevel: text,
    /** A manifest older than this is re-issued (same content, new revision); agents refuse old ones. */
    manifestReissue: { ...text, default: '1h' },
    /** Directory whose files are served at /artifacts/NAME (public, read-only), for labs and small fleets. */
    artifacts: pathText,
    /** The pre-flight allowlist: the executables and webhooks rollouts' spec.preflight checks may name (content/allowlist.ts). */
    preflight: pathText,
  },
} as const;

export type ServeConfigKey = keyof typeof serveConfigSchema.properties;
/** Every setting, in the schema's order. */
export const SERVE_CONFIG_KEYS = Object.keys(serveConfigSchema.properties) as ServeConfigKey[];
/** Settings whose value is a file or directory (relative to the config file). */
const PATH_KEYS: ReadonlySet<ServeConfigKey> = new Set(['data', 'tokens', 'policies', 'trustedKeys', 'prometheusBearerTokenFile', 'prometheusCaFile', 'artifacts', 'preflight']);

const p = serveConfigSchema.properties;
/** Defaults of the serve settings, from the schema. */
export const SERVE_DEFAULTS = {
  listen: p.listen.default,
  data: p.data.default,
  policies: p.policies.default,
  tick: p.tick.default,
  rollbackDrain: p.rollbackDrain.default,
  prometheusTimeout: p.prometheusTimeout.default,
  prometheusMinWindow: p.prometheusMinWindow.default,
  manifestReissue: p.manifestReissue.default,
} as const;

type ServeConfig = Partial<Record<ServeConfigKey, string | number | boolean>>;

const SERVE_CONFIG: DocumentType<ServeConfig> = {
  noun: 'config file',
  schema: serveConfigSchema,
  rootKeyAlias: (key) => key.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase()),
  empty: () => ({}),
};

/** The settings a config file sets, as text (paths made absolute); its mistakes are an InputError, one line each. */
export function readServeConfig(file: string): Partial<Record<ServeConfigKey, string>> {
  const config = loadDocumentFileOrThrow(SERVE_CONFIG, file);
  const base = path.dirname(file);
  const out: Partial<Record<ServeConfigKey, string>> = {};
  for (const key of SERVE_CONFIG_KEYS) {
    const value = config[key];
    if (value === undefined) continue;
    out[key] = PATH_KEYS.has(key) ? path.resolve(base, String(value)) : String(value);
  }
  return out;
}
