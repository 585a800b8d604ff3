/**
 * The `ringmaster serve --config FILE` document: its JSON Schema (the one source of its keys, their shape and the
 * defaults of the serve settings) and its loading through the one document loader.
 *
 * Keys are written in camelCase or kebab-case (`trustedKeys` or `trusted-keys`); errors name them as written.
 * Relative paths are relative to the file. Every value is read as text (flags are text too); resolveSettings in
 * ringmaster.ts checks what the text means (a duration, an address, a level) and reports flag and file alike.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { loadDocumentFileOrThrow, type DocumentType } from '../spec/document';
import type { Problem } from '../spec/errors';
import { EVENT_TYPES } from '../engine/events';
import { OIDC_ALGORITHMS, OIDC_DEFAULTS, type OidcSettings } from '../api/oidc';
import { ROLES, TOKEN_NAME_PATTERN, TOKEN_SHA256_PATTERN, type Role } from '../api/tokens';
import { parseDuration } from '../spec/duration';

const PERSON_ROLES = ROLES.filter((r) => r !== 'agent');
const durationText = { type: 'string', minLength: 1, 'x-messages': { type: 'must be a duration such as 30s or 1h (got {got})' } } as const;

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
    /** People's single sign-on (docs/security.md): an OpenID Connect issuer whose JWTs the API accepts. */
    oidc: {
      type: 'object',
      additionalProperties: false,
      required: ['issuer', 'audience', 'roles'],
      'x-messages': { type: 'must be a mapping (got {got})', additionalProperties: 'unknown oidc setting (expected {known})', required: 'missing required setting "{field}"' },
      properties: {
        /** The issuer URL, exactly as the tokens' iss (https://, or http:// on loopback only). */
        issuer: { type: 'string', minLength: 1, 'x-messages': { type: 'must be a URL (got {got})' } },
        /** The aud every token must carry. */
        audience: { type: 'string', minLength: 1, 'x-messages': { type: 'must be a string (got {got})' } },
        /** The public client ringctl login uses (device flow). */
        clientId: { type: 'string', minLength: 1, 'x-messages': { type: 'must be a string (got {got})' } },
        /** The claim holding the groups (default groups; dots for nested claims). */
        rolesClaim: { type: 'string', minLength: 1, 'x-messages': { type: 'must be a string (got {got})' } },
        /** Group -> role. */
        roles: {
          type: 'object',
          minProperties: 1,
          additionalProperties: { type: 'string', enum: PERSON_ROLES, 'x-messages': { type: `must be one of ${PERSON_ROLES.join(', ')} (got {got})`, enum: `must be one of ${PERSON_ROLES.join(', ')} (got {got})` } },
          'x-messages': { type: 'must be a mapping of group: role (got {got})', minProperties: 'must map at least one group to a role' },
        },
        /** Accepted JWS algorithms (asymmetric only). */
        algorithms: {
          type: 'array',
          minItems: 1,
          items: { type: 'string', enum: OIDC_ALGORITHMS, 'x-messages': { type: `must be one of ${OIDC_ALGORITHMS.join(', ')} (got {got})`, enum: `must be one of ${OIDC_ALGORITHMS.join(', ')} (got {got}); none and HMAC algorithms are never accepted` } },
          'x-messages': { type: 'must be a list of algorithms (got {got})', minItems: 'must name at least one algorithm' },
        },
        clockSkew: durationText,
        jwksMaxAge: durationText,
        refetchInterval: durationText,
        fetchTimeout: durationText,
      },
    },
    /** Break-glass credentials (docs/security.md): sha256 of secrets kept offline; they engage the kill switch only. */
    breakGlass: {
      type: 'array',
      'x-messages': { type: 'must be a list of {name, sha256} (got {got})' },
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'sha256'],
        'x-messages': { type: 'must be a mapping {name, sha256} (got {got})', additionalProperties: 'unknown field (expected name, sha256)', required: 'missing required field "{field}"' },
        properties: {
          name: { type: 'string', pattern: TOKEN_NAME_PATTERN, 'x-messages': { type: 'must be a name (got {got})', pattern: 'must be 1-63 characters of letters, digits and . _ @ - (got {got})' } },
          sha256: { type: 'string', pattern: TOKEN_SHA256_PATTERN, 'x-messages': { type: 'must be the 64-hex-character sha256 of the secret, not the secret itself', pattern: 'must be the 64-hex-character sha256 of the secret, not the secret itself' } },
        },
      },
    },
    /** Notification sinks (docs/notifications.md): where events are delivered, each with its own event filter. */
    notifications: {
      type: 'array',
      'x-messages': { type: 'must be a list of sinks (got {got})' },
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'type'],
        'x-messages': { type: 'a sink must be a mapping (got {got})', additionalProperties: 'unknown sink setting (expected {known})', required: 'a sink needs {missingProperty}' },
        properties: {
          name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', 'x-messages': { type: 'must be a string (got {got})', pattern: 'must be lower-case letters, digits, - or _ (got {got})' } },
          type: { type: 'string', enum: ['webhook', 'slack', 'pagerduty'], 'x-messages': { enum: 'must be webhook, slack or pagerduty (got {got})' } },
          /** http(s) URL; for slack, prefer urlFile (the URL is the secret). */
          url: { type: 'string', minLength: 1, 'x-messages': { type: 'must be a string (got {got})' } },
          /** A file holding the URL (a secret: Slack incoming-webhook URLs carry their token). */
          urlFile: pathText,
          /** webhook: the HMAC-SHA256 signing secret; pagerduty: the Events v2 routing key. */
          secretFile: pathText,
          /** Event names or `prefix.*`; default all. */
          events: { type: 'array', items: { type: 'string' }, 'x-messages': { type: 'must be a list of event names (got {got})' } },
          /** Attempts before the dead letter (default 8). */
          maxAttempts: { type: 'integer', minimum: 1, maximum: 100, 'x-messages': { type: 'must be an integer (got {got})', minimum: 'must be at least 1', maximum: 'must be at most 100' } },
          /** Per-request timeout in milliseconds (default 5000). */
          timeoutMs: { type: 'integer', minimum: 100, maximum: 60000, 'x-messages': { type: 'must be an integer (got {got})', minimum: 'must be at least 100', maximum: 'must be at most 60000' } },
        },
      },
    },
  },
} as const;

export type ServeConfigKey = keyof typeof serveConfigSchema.properties;
/** Every setting, in the schema's order. */
export const SERVE_CONFIG_KEYS = Object.keys(serveConfigSchema.properties) as ServeConfigKey[];
/** Settings whose value is a file or directory (relative to the config file). */
/** Settings that are not plain text (read by readNotificationSinks). */
const STRUCTURED_KEYS: ReadonlySet<ServeConfigKey> = new Set(['notifications', 'oidc', 'breakGlass']);
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

type ServeConfig = Partial<Record<ServeConfigKey, unknown>>;

const serveConfigType = (base: string): DocumentType<ServeConfig> => ({
  noun: 'config file',
  schema: serveConfigSchema,
  rules: (data) => [...notificationProblems(data, base), ...identityProblems(data)],
  rootKeyAlias: (key) => key.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase()),
  empty: () => ({}),
});

/** The settings a config file sets, as text (paths made absolute); its mistakes are an InputError, one line each. */
export function readServeConfig(file: string): Partial<Record<ServeConfigKey, string>> {
  const base = path.dirname(file);
  const config = loadDocumentFileOrThrow(serveConfigType(base), file);
  const out: Partial<Record<ServeConfigKey, string>> = {};
  for (const key of SERVE_CONFIG_KEYS) {
    const value = config[key];
    if (value === undefined || STRUCTURED_KEYS.has(key)) continue;
    out[key] = PATH_KEYS.has(key) ? path.resolve(base, String(value)) : String(value);
  }
  return out;
}

// ------------------------------------------------------------------------------------------ notifications

export type SinkType = 'webhook' | 'slack' | 'pagerduty';

/** A notification sink as the dispatcher uses it: secrets already read from their files. */
export interface NotificationSinkConfig {
  name: string;
  type: SinkType;
  /** The URL (a secret when it came from urlFile: never logged). */
  url: string;
  /** Where the URL came from, for messages: the URL's origin, or `urlFile` (never the secret URL itself). */
  shownUrl: string;
  secret?: string;
  events: string[];
  maxAttempts: number;
  timeoutMs: number;
}

export const NOTIFICATION_DEFAULTS = { maxAttempts: 8, timeoutMs: 5000, pagerdutyUrl: 'https://events.pagerduty.com/v2/enqueue' } as const;

interface RawSink {
  name?: unknown;
  type?: unknown;
  url?: unknown;
  urlFile?: unknown;
  secretFile?: unknown;
  events?: unknown;
  maxAttempts?: unknown;
  timeoutMs?: unknown;
}

function readSecret(file: string): string | Error {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    return text === '' ? new Error(`${file}: the file is empty`) : text;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return new Error(`${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? 'error'})`}`);
  }
}

function httpUrl(raw: string): string | null {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? null : `must be an http:// or https:// URL (got ${u.protocol})`;
  } catch {
    return 'must be an http:// or https:// URL';
  }
}

/** The checks the schema cannot express: secret files, URLs, event names, unique names (the schema checked the shape). */
function notificationProblems(data: unknown, base: string): Problem[] {
  const list = (data as { notifications?: unknown } | null)?.notifications;
  if (!Array.isArray(list)) return [];
  const out: Problem[] = [];
  const names = new Set<string>();
  list.forEach((item: RawSink, i) => {
    if (item === null || typeof item !== 'object') return;
    const at = (key: string): Problem['path'] => ['notifications', i, key];
    if (typeof item.name === 'string') {
      if (names.has(item.name)) out.push({ path: at('name'), message: `sink name ${item.name} is used twice` });
      names.add(item.name);
    }
    if (item.url !== undefined && item.urlFile !== undefined) out.push({ path: at('urlFile'), message: 'set url or urlFile, not both' });
    if (typeof item.url === 'string') {
      const bad = httpUrl(item.url);
      if (bad) out.push({ path: at('url'), message: bad });
    }
    if (typeof item.urlFile === 'string') {
      const v = readSecret(path.resolve(base, item.urlFile));
      if (v instanceof Error) out.push({ path: at('urlFile'), message: v.message });
      else if (httpUrl(v)) out.push({ path: at('urlFile'), message: 'the file must hold an http:// or https:// URL' });
    }
    if (item.url === undefined && item.urlFile === undefined && item.type !== 'pagerduty') out.push({ path: ['notifications', i], message: 'a sink needs url or urlFile' });
    if (typeof item.secretFile === 'string') {
      const v = readSecret(path.resolve(base, item.secretFile));
      if (v instanceof Error) out.push({ path: at('secretFile'), message: v.message });
    } else if (item.type === 'webhook' || item.type === 'pagerduty') {
      out.push({ path: ['notifications', i], message: `a ${item.type} sink needs secretFile (${item.type === 'webhook' ? 'the signing secret' : 'the routing key'})` });
    }
    if (Array.isArray(item.events)) {
      item.events.forEach((e: unknown, j) => {
        if (typeof e !== 'string') return;
        const known = e === '*' || (EVENT_TYPES as readonly string[]).includes(e) || (e.endsWith('.*') && EVENT_TYPES.some((t) => t.startsWith(e.slice(0, -1))));
        if (!known) out.push({ path: ['notifications', i, 'events', j], message: `unknown event ${e} (expected ${EVENT_TYPES.join(', ')}, a prefix.* or *)` });
      });
    }
  });
  return out;
}

/** The sinks of a config file, secrets read; its mistakes are an InputError, one line each. None without a file. */
export function readNotificationSinks(file: string | undefined): NotificationSinkConfig[] {
  if (file === undefined) return [];
  const base = path.dirname(file);
  const config = loadDocumentFileOrThrow(serveConfigType(base), file);
  const list = (config.notifications ?? []) as RawSink[];
  return list.map((s) => {
    const type = s.type as SinkType;
    const fromFile = typeof s.urlFile === 'string' ? (readSecret(path.resolve(base, s.urlFile)) as string) : undefined;
    const url = fromFile ?? (typeof s.url === 'string' ? s.url : NOTIFICATION_DEFAULTS.pagerdutyUrl);
    return {
      name: s.name as string,
      type,
      url,
      shownUrl: fromFile === undefined ? new URL(url).origin : 'urlFile',
      ...(typeof s.secretFile === 'string' ? { secret: readSecret(path.resolve(base, s.secretFile)) as string } : {}),
      events: Array.isArray(s.events) ? (s.events as string[]) : ['*'],
      maxAttempts: typeof s.maxAttempts === 'number' ? s.maxAttempts : NOTIFICATION_DEFAULTS.maxAttempts,
      timeoutMs: typeof s.timeoutMs === 'number' ? s.timeoutMs : NOTIFICATION_DEFAULTS.timeoutMs,
    };
  });
}

// ------------------------------------------------------------------------------------------ identity

interface RawOidc {
  issuer?: unknown;
  audience?: unknown;
  clientId?: unknown;
  rolesClaim?: unknown;
  roles?: unknown;
  algorithms?: unknown;
  clockSkew?: unknown;
  jwksMaxAge?: unknown;
  refetchInterval?: unknown;
  fetchTimeout?: unknown;
}

const OIDC_DURATIONS = ['clockSkew', 'jwksMaxAge', 'refetchInterval', 'fetchTimeout'] as const;

/** An issuer must be https, or http on a loopback host (the test provider, a lab). */
function issuerProblem(raw: string): string | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'must be an https:// URL';
  }
  if (u.username !== '' || u.password !== '') return 'must not carry credentials';
  if (u.search !== '' || u.hash !== '') return 'must not have a query or fragment';
  if (u.protocol === 'https:') return null;
  if (u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]')) return null;
  return 'must be an https:// URL (http:// only on 127.0.0.1, localhost or [::1])';
}

function identityProblems(data: unknown): Problem[] {
  const out: Problem[] = [];
  const o = (data as { oidc?: unknown } | null)?.oidc as RawOidc | undefined;
  if (o !== null && typeof o === 'object') {
    if (typeof o.issuer === 'string') {
      const bad = issuerProblem(o.issuer);
      if (bad) out.push({ path: ['oidc', 'issuer'], message: bad });
    }
    for (const key of OIDC_DURATIONS) {
      const v = o[key];
      if (typeof v !== 'string') continue;
      const d = parseDuration(v);
      if (!d.ok) out.push({ path: ['oidc', key], message: d.message });
    }
  }
  return out;
}

function ms(v: unknown, fallback: number): number {
  if (typeof v !== 'string') return fallback;
  const d = parseDuration(v);
  return d.ok ? d.ms : fallback;
}

export interface IdentityConfig {
  oidc?: OidcSettings;
  breakGlass: Array<{ name: string; sha256: string }>;
}

/** The oidc and breakGlass settings of a config file (checked by the loader); none without a file. */
export function readIdentityConfig(file: string | undefined): IdentityConfig {
  if (file === undefined) return { breakGlass: [] };
  const config = loadDocumentFileOrThrow(serveConfigType(path.dirname(file)), file);
  const o = config.oidc as RawOidc | undefined;
  const breakGlass = ((config.breakGlass ?? []) as Array<{ name: string; sha256: string }>).map((b) => ({ name: b.name, sha256: b.sha256 }));
  if (o === undefined) return { breakGlass };
  const oidc: OidcSettings = {
    issuer: o.issuer as string,
    audience: o.audience as string,
    ...(typeof o.clientId === 'string' ? { clientId: o.clientId } : {}),
    rolesClaim: typeof o.rolesClaim === 'string' ? o.rolesClaim : OIDC_DEFAULTS.rolesClaim,
    roleMap: { ...(o.roles as Record<string, Role>) },
    algorithms: Array.isArray(o.algorithms) ? (o.algorithms as OidcSettings['algorithms']) : OIDC_DEFAULTS.algorithms,
    clockSkewSec: Math.round(ms(o.clockSkew, OIDC_DEFAULTS.clockSkewSec * 1000) / 1000),
    jwksMaxAgeMs: ms(o.jwksMaxAge, OIDC_DEFAULTS.jwksMaxAgeMs),
    refetchIntervalMs: ms(o.refetchInterval, OIDC_DEFAULTS.refetchIntervalMs),
    fetchTimeoutMs: ms(o.fetchTimeout, OIDC_DEFAULTS.fetchTimeoutMs),
  };
  return { oidc, breakGlass };
}
