/**
 * JSON Schemas of the Ringmaster documents: the single source of their shapes.
 *
 * The TypeScript types (types.ts) are derived from these constants with json-schema-to-ts, so
 * the schema that validates input and the types the code uses cannot drift apart. Rules that a
 * schema cannot express (percent rings strictly increasing, time zones that exist, semver order...)
 * live in semantic.ts.
 *
 * A `default` keyword on a property is the one definition of that default: defaults.ts derives its constants
 * from these schemas, so a default is changed here and nowhere else. Which defaults ajv also writes into a
 * loaded document is a separate, deliberate list (MATERIALISED_DEFAULTS, below).
 */

export const DURATION_PATTERN = '^([0-9]+(ms|s|m|h|d|w))+$';
export const NAME_PATTERN = '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$';
export const LABEL_KEY_PATTERN = '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
export const SHA256_PATTERN = '^[a-f0-9]{64}$';
export const BASE64_PATTERN = '^[A-Za-z0-9+/]+={0,2}$';
export const HOURS_PATTERN = '^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$';
/** A local date-time (in the policy's time zone) or one with an explicit offset / Z. */
export const DATETIME_PATTERN =
  '^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$';

const metadataSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 253, pattern: NAME_PATTERN },
    /** The Kubernetes namespace of the resource (the operator); ringmaster serve ignores it. */
    namespace: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

export const matchLabelsSchema = {
  type: 'object',
  minProperties: 1,
  propertyNames: { pattern: LABEL_KEY_PATTERN },
  additionalProperties: { type: 'string', minLength: 1, maxLength: 63 },
} as const;

export const ringSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'bake'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 63, pattern: NAME_PATTERN },
    /** Hosts whose labels match all of matchLabels. */
    selector: {
      type: 'object',
      additionalProperties: false,
      required: ['matchLabels'],
      properties: { matchLabels: matchLabelsSchema },
    },
    /** Cumulative share of the fleet, by hash bucket; resolution 0.01 (one basis point). */
    percent: { type: 'number', exclusiveMinimum: 0, maximum: 100, multipleOf: 0.01 },
    /** Minimum time the ring bakes before it can pass. */
    bake: { type: 'string', pattern: DURATION_PATTERN },
    /** Longest the ring may bake without a decision; then it waits for a human. */
    maxBake: { type: 'string', pattern: DURATION_PATTERN },
    approval: { type: 'string', enum: ['required', 'none'], default: 'none' },
    /**
     * Waves inside the ring: `first` hosts (default: the largest minHosts of the metrics, at least 50), then
     * `growth` times as many after each clean look, until the whole ring is exposed; `none`: the whole ring at once.
     */
    ramp: {
      oneOf: [
        { type: 'string', const: 'none' },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            first: { type: 'integer', minimum: 1, maximum: 1_000_000 },
            growth: { type: 'number', exclusiveMinimum: 1, maximum: 10, default: 2 },
          },
        },
      ],
    },
  },
  oneOf: [
    { required: ['selector'], not: { required: ['percent'] } },
    { required: ['percent'], not: { required: ['selector'] } },
  ],
} as const;

export const BUILTIN_METRIC_TYPES = ['crash-rate', 'bsod-rate', 'update-failure-rate'] as const;

export const metricSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'type'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 63, pattern: NAME_PATTERN },
    type: { type: 'string', enum: [...BUILTIN_METRIC_TYPES, 'custom'] },
    /** PromQL templates for custom metrics: {{channel}}, {{version}}, {{baselineVersion}}, {{window}}. */
    query: {
      type: 'object',
      additionalProperties: false,
      required: ['candidate'],
      properties: {
        candidate: { type: 'string', minLength: 1, maxLength: 4096 },
        baseline: { type: 'string', minLength: 1, maxLength: 4096 },
      },
    },
    /** Absolute guard: fail at once when the candidate value exceeds it. */
    max: { type: 'number', minimum: 0 },
    /** Relative tolerance: candidate / baseline above this fails (a custom metric checks only one it sets). */
    maxRatio: { type: 'number', minimum: 1, default: 1 },
    /** Hosts that must report on the candidate before any pass. */
    minHosts: { type: 'integer', minimum: 0, default: 50 },
    /** Host-hours of candidate exposure before any pass. */
    minExposure: { type: 'number', minimum: 0, default: 100 },
    /** False-alarm rate of the sequential test under continuous monitoring. */
    alpha: { type: 'number', exclusiveMinimum: 0, maximum: 0.5, default: 0.01 },
    /** Miss rate (1 - power) at detectRatio. */
    beta: { type: 'number', exclusiveMinimum: 0, maximum: 0.5, default: 0.05 },
    /** Regression ratio (candidate rate / baseline rate) the test should detect with power 1-beta. */
    detectRatio: { type: 'number', exclusiveMinimum: 1, default: 2 },
  },
  if: { properties: { type: { const: 'custom' } }, required: ['type'] },
  then: { required: ['query'] },
  else: { not: { required: ['query'] } },
} as const;

export const artifactSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['url', 'sha256'],
  properties: {
    url: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^(https?|file)://' },
    sha256: { type: 'string', pattern: SHA256_PATTERN },
    /** base64 ed25519 signature of the raw 32-byte sha256 digest, by a trusted publisher key. */
    signature: { type: 'string', minLength: 1, maxLength: 1024, pattern: BASE64_PATTERN },
  },
} as const;

export const MAX_PREFLIGHT_CHECKS = 16;

/**
 * One pre-flight check: exactly one of an inline JSON Schema of the content, an executable the operator allowed in
 * the serve config (by name), or a webhook of the serve config (by name). A rollout never names a command or a URL.
 */
export const preflightCheckSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 63, pattern: NAME_PATTERN },
    /** A JSON Schema the content (JSON, or YAML) must match. */
    schema: { type: 'object' },
    /** The name of an executable in the serve config's preflight allowlist. */
    exec: { type: 'string', minLength: 1, maxLength: 63, pattern: NAME_PATTERN },
    /** The name of a webhook in the serve config's preflight settings. */
    webhook: { type: 'string', minLength: 1, maxLength: 63, pattern: NAME_PATTERN },
    /** How long an exec or webhook check may take (a schema check has none). */
    timeout: { type: 'string', pattern: DURATION_PATTERN, default: '10s' },
  },
  oneOf: [{ required: ['schema'] }, { required: ['exec'] }, { required: ['webhook'] }],
} as const;

export const rolloutSchema = {
  $id: 'https://ringmaster.dev/schemas/v1alpha1/rollout.json',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { type: 'string', const: 'ringmaster.dev/v1alpha1' },
    kind: { type: 'string', const: 'Rollout' },
    metadata: metadataSchema,
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['channel', 'version', 'artifact', 'rings'],
      properties: {
        channel: { type: 'string', minLength: 1, maxLength: 63, pattern: NAME_PATTERN },
        version: { type: 'string', minLength: 1, maxLength: 128 },
        previousVersion: { type: 'string', minLength: 1, maxLength: 128 },
        artifact: artifactSchema,
        /**
         * The artifact of previousVersion: when the channel's stable record has no artifact yet (its first rollout),
         * apply records it there, so that agents which do not run the stable version can install it.
         */
        previousArtifact: artifactSchema,
        /** Checks of the artifact's content before ring 0 starts (runtime/preflight.ts); a failure ends the rollout. */
        preflight: { type: 'array', maxItems: MAX_PREFLIGHT_CHECKS, items: preflightCheckSchema },
        rings: { type: 'array', minItems: 1, maxItems: 32, items: ringSchema },
        analysis: {
          type: 'object',
          additionalProperties: false,
          properties: {
            /** How often the judge looks at the metrics. */
            interval: { type: 'string', pattern: DURATION_PATTERN, default: '1m' },
            /** No usable data for this long halts the rollout (no data is never healthy). */
            noDataGrace: { type: 'string', pattern: DURATION_PATTERN, default: '10m' },
            /** Consecutive provider errors that halt the rollout (reason provider-error). */
            maxConsecutiveErrors: { type: 'integer', minimum: 1, maximum: 1000, default: 5 },
            /** A ring passes only when the evidence rules out detectRatio (the smallest ratio ruled out is at most it). */
            requireEvidence: { type: 'boolean', default: false },
            metrics: { type: 'array', maxItems: 32, items: metricSchema },
          },
        },
        policy: { type: 'string', minLength: 1, maxLength: 253, pattern: NAME_PATTERN, default: 'default' },
        /**
         * Hosts in the top `percent` of buckets stay on the previous version through the final ring, until its bake
         * passes, so the relative test keeps a baseline there (0: none).
         */
        holdback: {
          type: 'object',
          additionalProperties: false,
          properties: { percent: { type: 'number', minimum: 0, maximum: 50, multipleOf: 0.01, default: 0.5 } },
        },
        rollback: {
          type: 'object',
          additionalProperties: false,
          properties: { automatic: { type: 'boolean', default: true } },
        },
      },
    },
  },
} as const;

export const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

export const policySchema = {
  $id: 'https://ringmaster.dev/schemas/v1alpha1/policy.json',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { type: 'string', const: 'ringmaster.dev/v1alpha1' },
    kind: { type: 'string', const: 'Policy' },
    metadata: metadataSchema,
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['timezone', 'allow'],
      properties: {
        /** IANA time zone in which allow windows and local freeze times are read. */
        timezone: { type: 'string', minLength: 1, maxLength: 64 },
        /** Windows in which a ring may start. Outside all of them, no ring starts. */
        allow: {
          type: 'array',
          minItems: 1,
          maxItems: 64,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['days', 'hours'],
            properties: {
              days: {
                type: 'array',
                minItems: 1,
                maxItems: 7,
                uniqueItems: true,
                items: { type: 'string', enum: DAYS },
              },
              hours: { type: 'string', pattern: HOURS_PATTERN },
            },
          },
        },
        /** Periods in which no ring starts, whatever the windows say. */
        freezes: {
          type: 'array',
          maxItems: 256,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['from', 'to', 'reason'],
            properties: {
              from: { type: 'string', pattern: DATETIME_PATTERN },
              to: { type: 'string', pattern: DATETIME_PATTERN },
              reason: { type: 'string', minLength: 1, maxLength: 256 },
            },
          },
        },
        /** A ring may only start if its minimum bake also ends inside an allowed window. */
        requireBakeWithinWindow: { type: 'boolean', default: false },
        maxConcurrentRolloutsPerChannel: { type: 'integer', minimum: 1, maximum: 100, default: 1 },
        requireSignedArtifacts: { type: 'boolean', default: true },
        /** Who may approve: `distinctFrom: applier` is the two-person rule (policy/two-person.ts). */
        approvals: {
          type: 'object',
          additionalProperties: false,
          properties: {
            distinctFrom: { type: 'string', enum: ['applier', 'none'] },
          },
        },
        /** Hosts labelled tenant=<name> follow these rules. */
        tenants: {
          type: 'array',
          maxItems: 1024,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name'],
            properties: {
              name: { type: 'string', minLength: 1, maxLength: 63 },
              defer: { type: 'string', const: 'last-ring' },
              pin: { type: 'string', const: 'previous' },
            },
            oneOf: [
              { required: ['defer'], not: { required: ['pin'] } },
              { required: ['pin'], not: { required: ['defer'] } },
            ],
          },
        },
      },
    },
  },
} as const;

/**
 * The defaults ajv writes into a loaded document (`useDefaults`), as JSON Pointers into the schema: only these.
 * A rollout's spec hash covers its loaded document (SQLite stores it as loaded), so writing one more default in
 * would change the hash, and the stored spec, of every existing rollout that leaves the field out: re-applying
 * its unchanged file would be refused as a conflict. These four were written in before the defaults moved into the
 * schema and stay; every other default is read where it is used (defaults.ts). Policies are not hashed, but their
 * three defaults are written in so that a loaded PolicySpec always has them (the types say so).
 */
export const MATERIALISED_DEFAULTS = {
  Rollout: ['/properties/spec/properties/rollback/properties/automatic'],
  Policy: [
    '/properties/spec/properties/requireBakeWithinWindow',
    '/properties/spec/properties/maxConcurrentRolloutsPerChannel',
    '/properties/spec/properties/requireSignedArtifacts',
  ],
} as const;
