/**
 * The CustomResourceDefinitions of Rollout and Policy (group ringmaster.dev, version v1alpha1), generated from the
 * JSON Schemas of controller/spec/schema.ts, the one source of truth of the documents' shapes. Pure: gen-crds.ts
 * writes them to charts/ringmaster/crds/, and a test fails when the checked-in files are stale.
 *
 * A CRD's openAPIV3Schema must be a *structural* schema (OpenAPI 3.0 subset): every node has a type, no $ref /
 * if-then-else / propertyNames / uniqueItems / const, additionalProperties never beside properties, junctors
 * (oneOf, anyOf, allOf, not) only constrain, never declare types. toStructural converts; what it cannot express
 * (if/then/else, propertyNames, semantic rules) is still enforced by the operator's validator (spec/validate.ts,
 * spec/semantic.ts), which accepts a Rollout only when it passes both; its findings go to status (Accepted=False).
 */
import { policySchema, rolloutSchema } from '../spec/schema';

export const GROUP = 'ringmaster.dev';
export const VERSION = 'v1alpha1';

export type Schema = Record<string, unknown>;

/** Annotations and ajv keywords that have no place in a CRD (and say nothing the server could check). */
const DROPPED = new Set([
  '$id',
  '$schema',
  '$comment',
  'x-messages',
  'title',
  'examples',
  // The operator applies the same defaults as the validator, where they are used (spec/defaults.ts). Defaulting in
  // the CRD would write them into stored objects, which would change their spec and its hash.
  'default',
  // Not expressible in a structural schema; the operator's validator still enforces them.
  'propertyNames',
  'if',
  'then',
  'else',
]);

/** OpenAPI 3.0 keywords a structural schema may carry as they are. */
const KEPT = new Set([
  'type',
  'format',
  'description',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'multipleOf',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'required',
  'nullable',
]);

const JUNCTORS = ['oneOf', 'anyOf', 'allOf', 'not'] as const;
const SCALARS = new Set(['string', 'number', 'integer', 'boolean']);

function isObject(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A junctor branch that only constrains (required, and junctors of those): allowed in a structural schema. */
function constrainsOnly(branch: unknown): boolean {
  if (!isObject(branch)) return false;
  return Object.entries(branch).every(([k, v]) => {
    if (k === 'required') return true;
    if (k === 'not') return constrainsOnly(v);
    if (k === 'oneOf' || k === 'anyOf' || k === 'allOf') return Array.isArray(v) && v.every(constrainsOnly);
    return false;
  });
}

/** "none", an object (first, growth): what a oneOf of different types accepts, for its description. */
function describeAlternatives(branches: unknown[]): string {
  const parts = branches.map((b) => {
    if (!isObject(b)) return 'anything';
    if ('const' in b) return JSON.stringify(b.const);
    if (Array.isArray(b.enum)) return b.enum.map((x) => JSON.stringify(x)).join(' or ');
    if (b.type === 'object' && isObject(b.properties)) return `an object (${Object.keys(b.properties).join(', ')})`;
    return typeof b.type === 'string' ? `a ${b.type}` : 'a value';
  });
  return `One of: ${parts.join('; ')}. The operator's validator checks the details.`;
}

/**
 * JSON Schema 2020's numeric exclusiveMinimum: n becomes OpenAPI 3.0's minimum: n, exclusiveMinimum: true (the same
 * for the maximum); beside an inclusive bound, the tighter of the two is kept.
 */
function bounds(schema: Schema, at: string, inclusive: 'minimum' | 'maximum', exclusive: 'exclusiveMinimum' | 'exclusiveMaximum'): Schema {
  const exc = schema[exclusive];
  if (schema[inclusive] !== undefined && typeof schema[inclusive] !== 'number') throw new Error(`toStructural: ${at}: ${inclusive} must be a number`);
  const inc = schema[inclusive] as number | undefined;
  if (typeof exc === 'boolean') return inc === undefined ? {} : exc ? { [inclusive]: inc, [exclusive]: true } : { [inclusive]: inc };
  if (exc === undefined) return inc === undefined ? {} : { [inclusive]: inc };
  if (typeof exc !== 'number') throw new Error(`toStructural: ${at}: ${exclusive} must be a number`);
  const inclusiveTighter = inc !== undefined && (inclusive === 'minimum' ? inc > exc : inc < exc);
  return inclusiveTighter ? { [inclusive]: inc } : { [inclusive]: exc, [exclusive]: true };
}

/**
 * Converts a JSON Schema (draft 7 / 2020-12 as ajv reads schema.ts) into a structural OpenAPI v3 schema for a CRD.
 * Throws (naming the JSON Pointer) on a keyword it does not know how to convert, so a new construct in schema.ts
 * cannot slip into the CRDs unconverted.
 */
export function toStructural(schema: unknown, path = ''): Schema {
  if (!isObject(schema)) throw new Error(`toStructural: ${path || '/'}: a schema must be an object`);
  const at = path || '/';
  // A whole document's schema: a CRD may constrain metadata no further than its type (the server owns it).
  if (path === '/properties/metadata') return { type: 'object' };
  const out: Schema = {};

  // A oneOf/anyOf whose branches declare different types (the ring's ramp: "none" or an object): the server
  // cannot say it; keep the value as written, and say what is accepted.
  for (const j of ['oneOf', 'anyOf'] as const) {
    const branches = schema[j];
    if (Array.isArray(branches) && !branches.every(constrainsOnly)) {
      if (schema.type !== undefined) throw new Error(`toStructural: ${at}: ${j} with typed branches beside a type is not supported`);
      const description = [schema.description, describeAlternatives(branches)].filter((x) => typeof x === 'string').join(' ');
      return { description, 'x-kubernetes-preserve-unknown-fields': true };
    }
  }

  for (const [key, value] of Object.entries(schema)) {
    if (DROPPED.has(key)) continue;
    if (KEPT.has(key)) {
      out[key] = structuredClone(value);
    } else if (key === 'const') {
      out.enum = [value];
    } else if (key === 'minimum' || key === 'maximum' || key === 'exclusiveMinimum' || key === 'exclusiveMaximum') {
      continue; // bounds(), below
    } else if (key === 'uniqueItems') {
      if (value !== true) continue;
      const items = schema.items;
      if (!isObject(items) || !SCALARS.has(items.type as string)) throw new Error(`toStructural: ${at}: uniqueItems is only convertible on an array of scalars (x-kubernetes-list-type: set)`);
      out['x-kubernetes-list-type'] = 'set';
    } else if (key === 'properties') {
      if (!isObject(value)) throw new Error(`toStructural: ${at}: properties must be an object`);
      out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toStructural(v, `${path}/properties/${k}`)]));
    } else if (key === 'items') {
      out.items = toStructural(value, `${path}/items`);
    } else if (key === 'additionalProperties') {
      // Beside properties it is not allowed: the server prunes unknown fields, and kubectl's strict field
      // validation rejects them. A schema (a map's values) is converted.
      if (isObject(value)) {
        if (schema.properties !== undefined) throw new Error(`toStructural: ${at}: additionalProperties beside properties`);
        out.additionalProperties = toStructural(value, `${path}/additionalProperties`);
      } else if (value === true && schema.properties === undefined) {
        out['x-kubernetes-preserve-unknown-fields'] = true;
      }
    } else if ((JUNCTORS as readonly string[]).includes(key)) {
      const branches = key === 'not' ? [value] : value;
      if (!Array.isArray(branches) || !branches.every(constrainsOnly)) throw new Error(`toStructural: ${at}: ${key} may only combine required in a CRD`);
      out[key] = structuredClone(value);
    } else {
      throw new Error(`toStructural: ${at}: unsupported keyword "${key}"`);
    }
  }

  Object.assign(out, bounds(schema, at, 'minimum', 'exclusiveMinimum'), bounds(schema, at, 'maximum', 'exclusiveMaximum'));

  if (out.type === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) {
    throw new Error(`toStructural: ${at}: every node of a structural schema needs a type`);
  }
  // A free-form object (a pre-flight check's inline JSON Schema): kept as written.
  if (out.type === 'object' && out.properties === undefined && out.additionalProperties === undefined) {
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  return out;
}

/** Short descriptions of the spec's top-level fields (kubectl explain). */
const ROLLOUT_SPEC_DESCRIPTIONS: Record<string, string> = {
  channel: 'The update channel the rollout publishes to (hosts poll its manifest).',
  version: 'The candidate version.',
  previousVersion: 'The version hosts run now (the stable version and the rollback target).',
  artifact: 'The candidate artifact: URL, sha256 and ed25519 signature.',
  previousArtifact: "The previous version's artifact, recorded as stable when the channel has none yet.",
  preflight: "Checks of the artifact's content before the first ring starts; a failure ends the rollout.",
  rings: 'The rings, in order: a label selector or a cumulative fleet percent each, with bake times.',
  analysis: 'How the candidate is judged: the interval, no-data grace, provider errors and the metrics.',
  policy: "The Policy (in the operator's namespace) whose windows and freezes apply; default \"default\".",
  holdback: 'A share of the fleet that stays on the previous version through the final bake, as a baseline.',
  rollback: 'Whether a failed verdict rolls back automatically (default true).',
};

const POLICY_SPEC_DESCRIPTIONS: Record<string, string> = {
  timezone: 'The IANA time zone in which windows and local freeze times are read.',
  allow: 'Windows (days and hours) in which a ring may start.',
  freezes: 'Periods in which no ring starts, whatever the windows say.',
  requireBakeWithinWindow: "A ring starts only if its minimum bake also ends inside an allowed window.",
  maxConcurrentRolloutsPerChannel: 'How many rollouts of one channel may be in flight at once.',
  requireSignedArtifacts: 'Whether artifacts must carry a trusted signature.',
  approvals: 'distinctFrom: applier is the two-person rule: who applied a rollout may not approve or promote it.',
  tenants: 'Hosts labelled tenant=<name>: deferred to the last ring, or pinned to the previous version.',
};

function specSchema(spec: unknown, description: string, fields: Record<string, string>): Schema {
  const s = toStructural(spec, '/properties/spec');
  const props = s.properties as Record<string, Schema>;
  for (const [name, text] of Object.entries(fields)) {
    const p = props[name];
    if (p !== undefined && p.description === undefined) props[name] = { description: text, ...p };
  }
  return { description, ...s };
}

const preserved = (description: string): Schema => ({ type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true });
const preservedList = (description: string): Schema => ({ type: 'array', description, items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } });

/** The Rollout status the operator writes (merge-patch on /status); contract.md. */
export function rolloutStatusSchema(): Schema {
  return {
    type: 'object',
    description: "Written by the operator's leader only; the rollout's state is authoritative here.",
    properties: {
      observedGeneration: { type: 'integer', format: 'int64', description: 'The metadata.generation the status describes.' },
      phase: { type: 'string', description: 'The engine phase: pending, preflight, progressing, halted, rolled-back, succeeded, ...' },
      ring: { type: 'string', description: 'The ring in flight, e.g. "canary (1/4)", or "-".' },
      exposedRing: { type: 'integer', description: 'The index of the last ring exposed to the candidate.' },
      verdict: { type: 'string', description: 'The last verdict: pass, fail, inconclusive, error, or "" (none yet).' },
      message: { type: 'string', description: 'Why the rollout waits, or the reason of its phase.' },
      revision: { type: 'integer', format: 'int64', description: "The controller's state revision (its transitions counter)." },
      seq: { type: 'integer', format: 'int64', description: 'Creation order within the operator.' },
      specHash: { type: 'string', description: 'The hash of the spec the state belongs to.' },
      acceptedSpec: preserved('The Rollout document the operator accepted and runs (a later spec edit is refused, Accepted=False SpecChangeRejected).'),
      state: { type: 'string', description: "The engine's RolloutState, as JSON text (a merge patch replaces it whole)." },
      eventsEmitted: { type: 'integer', format: 'int64', description: 'The last transition number written as a Kubernetes Event.' },
      transitions: preservedList('The state transitions.'),
      requests: preservedList('Consumed human requests and their outcomes.'),
      outbox: preservedList('Committed actions not yet performed.'),
      conditions: {
        type: 'array',
        description: 'Accepted, Progressing, Halted, Completed, Succeeded (kubectl wait --for=condition=Succeeded).',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
        items: {
          // metav1.Condition, except that reason may contain "-" (Completed's reason is the final phase).
          type: 'object',
          required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
          properties: {
            type: { type: 'string', maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$' },
            status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
            observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
            lastTransitionTime: { type: 'string', format: 'date-time' },
            reason: { type: 'string', minLength: 1, maxLength: 1024 },
            message: { type: 'string', maxLength: 32768 },
          },
        },
      },
    },
  };
}

function rootSchema(kind: string, spec: Schema, status?: Schema): Schema {
  return {
    type: 'object',
    description: `A Ringmaster ${kind} (the same document ringctl applies).`,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string', description: 'ringmaster.dev/v1alpha1' },
      kind: { type: 'string', description: kind },
      // A CRD may not constrain metadata beyond name/generateName; the object's name is checked by the operator.
      metadata: { type: 'object' },
      spec,
      ...(status === undefined ? {} : { status }),
    },
  };
}

export type CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    scope: 'Namespaced';
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status: Record<string, never> };
      additionalPrinterColumns: Array<{ name: string; type: string; jsonPath: string; description?: string }>;
      schema: { openAPIV3Schema: Schema };
    }>;
  };
};

function crd(kind: string, plural: string, shortName: string, version: CustomResourceDefinition['spec']['versions'][number]): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'ringmaster' } },
    spec: {
      group: GROUP,
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase(), shortNames: [shortName], categories: ['ringmaster'] },
      scope: 'Namespaced',
      versions: [version],
    },
  };
}

/** The Rollout CRD; `schema` is schema.ts's rolloutSchema unless a test passes a changed copy. */
export function rolloutCrd(schema: { properties: { spec: unknown } } = rolloutSchema): CustomResourceDefinition {
  const spec = specSchema(schema.properties.spec, 'The rollout: the same spec as a Ringmaster Rollout document.', ROLLOUT_SPEC_DESCRIPTIONS);
  return crd('Rollout', 'rollouts', 'rmro', {
    name: VERSION,
    served: true,
    storage: true,
    subresources: { status: {} },
    additionalPrinterColumns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Ring', type: 'string', jsonPath: '.status.ring' },
      { name: 'Version', type: 'string', jsonPath: '.spec.version' },
      { name: 'Verdict', type: 'string', jsonPath: '.status.verdict' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
    schema: { openAPIV3Schema: rootSchema('Rollout', spec, rolloutStatusSchema()) },
  });
}

/** The Policy CRD (no status: the operator only reads policies). */
export function policyCrd(schema: { properties: { spec: unknown } } = policySchema): CustomResourceDefinition {
  const spec = specSchema(schema.properties.spec, "Release windows, freezes and rules; read from the operator's namespace only.", POLICY_SPEC_DESCRIPTIONS);
  return crd('Policy', 'policies', 'rmpol', {
    name: VERSION,
    served: true,
    storage: true,
    additionalPrinterColumns: [
      { name: 'Timezone', type: 'string', jsonPath: '.spec.timezone' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
    schema: { openAPIV3Schema: rootSchema('Policy', spec) },
  });
}

/** Both CRDs with the file name each has in charts/ringmaster/crds/. */
export function allCrds(schemas: { rollout?: { properties: { spec: unknown } }; policy?: { properties: { spec: unknown } } } = {}): Array<{ file: string; crd: CustomResourceDefinition }> {
  return [rolloutCrd(schemas.rollout), policyCrd(schemas.policy)].map((c) => ({ file: `${c.metadata.name}.yaml`, crd: c }));
}
