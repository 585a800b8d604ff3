import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { policyCrd, rolloutCrd, toStructural, type CustomResourceDefinition, type Schema } from '../../controller/operator/crd';
import { CRD_DIR, HEADER, main, renderCrds, staleCrds } from '../../controller/operator/gen-crds';
import { validatePolicyObject, validateRolloutObject } from '../../controller/spec/load';
import { policySchema, rolloutSchema } from '../../controller/spec/schema';

const ROOT = path.resolve(__dirname, '../..');
const DIR = path.join(ROOT, CRD_DIR);

const openApi = (c: CustomResourceDefinition): Schema => c.spec.versions[0]!.schema.openAPIV3Schema;

function sink() {
  const lines: string[] = [];
  return { lines, write: (s: string) => lines.push(s) };
}

describe('the checked-in CRDs are the generation of schema.ts (make crds)', () => {
  test('charts/ringmaster/crds equals a fresh generation, with the header', () => {
    expect(staleCrds(DIR)).toEqual([]);
    const files = fs.readdirSync(DIR).sort();
    expect(files).toEqual(['policies.ringmaster.dev.yaml', 'rollouts.ringmaster.dev.yaml']);
    for (const f of files) {
      const text = fs.readFileSync(path.join(DIR, f), 'utf8');
      expect(text.startsWith('# Generated from controller/spec/schema.ts by make crds. Do not edit.\n')).toBe(true);
      expect(text).not.toMatch(/[&*]a\d/); // no YAML anchors / aliases
    }
    expect(parse(fs.readFileSync(path.join(DIR, 'rollouts.ringmaster.dev.yaml'), 'utf8'))).toEqual(rolloutCrd());
    expect(parse(fs.readFileSync(path.join(DIR, 'policies.ringmaster.dev.yaml'), 'utf8'))).toEqual(policyCrd());
  });

  test('a change to schema.ts without make crds is detected, naming the stale file', () => {
    const rollout = structuredClone(rolloutSchema) as unknown as { properties: { spec: { properties: Record<string, Schema> } } };
    rollout.properties.spec.properties.version!.maxLength = 129;
    expect(staleCrds(DIR, renderCrds({ rollout }))).toEqual(['rollouts.ringmaster.dev.yaml']);

    const policy = structuredClone(policySchema) as unknown as { properties: { spec: { properties: Record<string, Schema> } } };
    policy.properties.spec.properties.newField = { type: 'string' };
    expect(staleCrds(DIR, renderCrds({ policy }))).toEqual(['policies.ringmaster.dev.yaml']);
  });

  test('gen-crds writes the files, and --check exits 1 with one line naming a stale or missing file', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crds-'));
    try {
      const err = sink();
      expect(main(['--check', '--dir', tmp], sink(), err)).toBe(1);
      expect(err.lines).toHaveLength(1);
      expect(err.lines[0]).toMatch(/rollouts\.ringmaster\.dev\.yaml, .*policies\.ringmaster\.dev\.yaml are stale .*run make crds\n$/);

      const out = sink();
      expect(main(['--dir', tmp], out, sink())).toBe(0);
      expect(out.lines).toHaveLength(2);
      expect(main(['--check', '--dir', tmp], sink(), sink())).toBe(0);
      expect(fs.readFileSync(path.join(tmp, 'rollouts.ringmaster.dev.yaml'), 'utf8')).toBe(fs.readFileSync(path.join(DIR, 'rollouts.ringmaster.dev.yaml'), 'utf8'));

      fs.appendFileSync(path.join(tmp, 'policies.ringmaster.dev.yaml'), '# edited\n');
      const err2 = sink();
      expect(main(['--check', '--dir', tmp], sink(), err2)).toBe(1);
      expect(err2.lines).toHaveLength(1);
      expect(err2.lines[0]).toContain('policies.ringmaster.dev.yaml is stale');
      expect(err2.lines[0]).not.toContain('rollouts');

      const err3 = sink();
      expect(main(['--bogus'], sink(), err3)).toBe(2);
      expect(err3.lines[0]).toContain('unknown argument "--bogus"');
      expect(main(['--check'], sink(), sink())).toBe(0); // the repository's own files
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('the header is the documented one', () => {
    expect(HEADER).toBe('# Generated from controller/spec/schema.ts by make crds. Do not edit.\n');
  });
});

// ------------------------------------------------------------------------------------------ structural rules

const TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean']);
const ALLOWED = new Set([
  'type', 'format', 'description', 'enum', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'exclusiveMinimum',
  'exclusiveMaximum', 'multipleOf', 'minItems', 'maxItems', 'minProperties', 'maxProperties', 'required', 'nullable',
  'properties', 'items', 'additionalProperties', 'oneOf', 'anyOf', 'allOf', 'not',
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys',
]);
const IN_JUNCTOR_FORBIDDEN = ['description', 'type', 'default', 'additionalProperties', 'nullable'];

function isObj(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every structural-schema rule a node must keep; problems as "path: what". */
function structuralProblems(node: unknown, at: string, problems: string[] = []): string[] {
  if (!isObj(node)) {
    problems.push(`${at}: not a schema object`);
    return problems;
  }
  for (const k of Object.keys(node)) if (!ALLOWED.has(k)) problems.push(`${at}: keyword ${k} is not allowed`);
  const preserve = node['x-kubernetes-preserve-unknown-fields'] === true || node['x-kubernetes-int-or-string'] === true;
  if (!preserve && !TYPES.has(node.type as string)) problems.push(`${at}: no type`);
  if (node.properties !== undefined && node.additionalProperties !== undefined) problems.push(`${at}: additionalProperties beside properties`);
  for (const [b, e] of [['minimum', 'exclusiveMinimum'], ['maximum', 'exclusiveMaximum']] as const) {
    if (node[e] !== undefined && (typeof node[e] !== 'boolean' || typeof node[b] !== 'number')) problems.push(`${at}: ${e} must be a boolean beside ${b}`);
  }
  if (node.type === 'array' && node.items === undefined) problems.push(`${at}: array without items`);
  const listType = node['x-kubernetes-list-type'];
  const items = node.items as Schema | undefined;
  if (listType === 'set' && !['string', 'number', 'integer', 'boolean'].includes(items?.type as string)) problems.push(`${at}: list-type set on non-scalar items`);
  if (listType === 'map') {
    const keys = node['x-kubernetes-list-map-keys'] as string[] | undefined;
    if (!Array.isArray(keys) || keys.length === 0) problems.push(`${at}: list-type map without keys`);
    for (const k of keys ?? []) if (!((items?.required as string[] | undefined) ?? []).includes(k)) problems.push(`${at}: map key ${k} not required in items`);
  }
  if (node.type === 'string' && node.enum !== undefined && !(node.enum as unknown[]).every((x) => typeof x === 'string')) problems.push(`${at}: enum values of another type`);
  for (const j of ['oneOf', 'anyOf', 'allOf', 'not'] as const) {
    if (node[j] === undefined) continue;
    const branches = j === 'not' ? [node[j]] : (node[j] as unknown[]);
    const declared = Object.keys((node.properties as Schema | undefined) ?? {});
    const walkJunctor = (b: unknown, p: string) => {
      if (!isObj(b)) return problems.push(`${p}: not a schema`);
      for (const f of IN_JUNCTOR_FORBIDDEN) if (f in b) problems.push(`${p}: ${f} inside a junctor`);
      if (b.properties !== undefined || b.items !== undefined) problems.push(`${p}: fields declared inside a junctor`);
      for (const r of (b.required as string[] | undefined) ?? []) if (!declared.includes(r)) problems.push(`${p}: required ${r} is not a declared property`);
      for (const jj of ['oneOf', 'anyOf', 'allOf'] as const) ((b[jj] as unknown[] | undefined) ?? []).forEach((x, i) => walkJunctor(x, `${p}/${jj}/${i}`));
      if (b.not !== undefined) walkJunctor(b.not, `${p}/not`);
    };
    branches.forEach((b, i) => walkJunctor(b, `${at}/${j}${j === 'not' ? '' : `/${i}`}`));
  }
  for (const [k, v] of Object.entries((node.properties as Schema | undefined) ?? {})) structuralProblems(v, `${at}/properties/${k}`, problems);
  if (items !== undefined) structuralProblems(items, `${at}/items`, problems);
  if (isObj(node.additionalProperties)) structuralProblems(node.additionalProperties, `${at}/additionalProperties`, problems);
  return problems;
}

/** Walks the JSON Schema and its conversion side by side: what must have become what. */
function conversionProblems(src: unknown, dst: unknown, at: string, problems: string[] = []): string[] {
  if (!isObj(src) || !isObj(dst)) return problems;
  if (src.uniqueItems === true && dst['x-kubernetes-list-type'] !== 'set') problems.push(`${at}: uniqueItems did not become list-type set`);
  for (const [e, b] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (typeof src[e] === 'number' && !(dst[b] === src[e] && dst[e] === true)) problems.push(`${at}: ${e}: ${String(src[e])} did not become ${b} + ${e}: true`);
  }
  if ('const' in src && !(Array.isArray(dst.enum) && dst.enum.length === 1 && dst.enum[0] === src.const)) problems.push(`${at}: const did not become a one-value enum`);
  for (const k of ['pattern', 'minLength', 'maxLength', 'minItems', 'maxItems', 'multipleOf', 'minProperties', 'enum', 'required']) {
    if (src[k] !== undefined && JSON.stringify(src[k]) !== JSON.stringify(dst[k])) problems.push(`${at}: ${k} not carried over`);
  }
  if (src.type === 'object' && src.properties === undefined && src.additionalProperties === undefined && dst['x-kubernetes-preserve-unknown-fields'] !== true) problems.push(`${at}: free-form object not preserved`);
  for (const [k, v] of Object.entries((src.properties as Schema | undefined) ?? {})) {
    const d = (dst.properties as Schema | undefined)?.[k];
    if (d === undefined && dst['x-kubernetes-preserve-unknown-fields'] !== true) problems.push(`${at}/properties/${k}: missing`);
    conversionProblems(v, d, `${at}/properties/${k}`, problems);
  }
  conversionProblems(src.items, dst.items, `${at}/items`, problems);
  conversionProblems(src.additionalProperties, dst.additionalProperties, `${at}/additionalProperties`, problems);
  return problems;
}

describe('structural schema rules hold on every node', () => {
  test.each([
    ['Rollout', rolloutCrd],
    ['Policy', policyCrd],
  ] as const)('%s', (_kind, make) => {
    const root = openApi(make());
    expect(structuralProblems(root, '')).toEqual([]);
    const props = root.properties as Record<string, Schema>;
    expect(props.metadata).toEqual({ type: 'object' });
    expect(JSON.stringify(root)).not.toMatch(/"(\$id|\$schema|\$ref|x-messages|propertyNames|if|then|else|default|const|uniqueItems)":/);
  });

  test('the conversion keeps every constraint it can express (walked side by side with schema.ts)', () => {
    expect(conversionProblems(rolloutSchema.properties.spec, openApi(rolloutCrd()).properties && (openApi(rolloutCrd()).properties as Schema).spec, '/spec')).toEqual([]);
    expect(conversionProblems(policySchema.properties.spec, (openApi(policyCrd()).properties as Schema).spec, '/spec')).toEqual([]);
  });

  test('the checker itself catches broken nodes', () => {
    const bad = {
      type: 'object',
      additionalProperties: false,
      properties: {
        a: { minLength: 1 },
        b: { type: 'array', uniqueItems: true, items: { type: 'string' } },
        c: { type: 'number', exclusiveMinimum: 0 },
        d: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'object' } },
      },
      oneOf: [{ type: 'object', required: ['zz'] }],
    };
    const problems = structuralProblems(bad, '');
    expect(problems).toEqual(
      expect.arrayContaining([
        ': additionalProperties beside properties',
        '/properties/a: no type',
        '/properties/b: keyword uniqueItems is not allowed',
        '/properties/c: exclusiveMinimum must be a boolean beside minimum',
        '/properties/d: list-type set on non-scalar items',
        '/oneOf/0: type inside a junctor',
        '/oneOf/0: required zz is not a declared property',
      ]),
    );
  });

  test('top-level spec fields have descriptions', () => {
    for (const c of [rolloutCrd(), policyCrd()]) {
      const spec = (openApi(c).properties as Record<string, Schema>).spec!;
      expect(typeof spec.description).toBe('string');
      for (const [k, v] of Object.entries(spec.properties as Record<string, Schema>)) expect([k, typeof v.description]).toEqual([k, 'string']);
    }
  });
});

describe('toStructural', () => {
  test('const, exclusive bounds, uniqueItems, additionalProperties, defaults and annotations', () => {
    expect(
      toStructural({
        $id: 'x',
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        additionalProperties: false,
        'x-messages': { type: 'm' },
        properties: {
          k: { type: 'string', const: 'v', default: 'v' },
          n: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 10, maximum: 5 },
          m: { type: 'number', exclusiveMinimum: 1, minimum: 3 },
          s: { type: 'array', uniqueItems: true, items: { type: 'string', enum: ['a', 'b'] } },
          map: { type: 'object', propertyNames: { pattern: '^a' }, additionalProperties: { type: 'string' } },
          free: { type: 'object' },
          any: { type: 'object', additionalProperties: true },
        },
        if: { properties: { k: { const: 'v' } } },
        then: { required: ['n'] },
        else: { not: { required: ['n'] } },
        oneOf: [{ required: ['n'], not: { required: ['m'] } }, { required: ['m'] }],
      }),
    ).toEqual({
      type: 'object',
      properties: {
        k: { type: 'string', enum: ['v'] },
        n: { type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 5 },
        m: { type: 'number', minimum: 3 },
        s: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string', enum: ['a', 'b'] } },
        map: { type: 'object', additionalProperties: { type: 'string' } },
        free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        any: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      },
      oneOf: [{ required: ['n'], not: { required: ['m'] } }, { required: ['m'] }],
    });
  });

  test('a oneOf of different types keeps the value as written and says what is accepted', () => {
    const ramp = (toStructural(rolloutSchema).properties as Record<string, Schema>).spec;
    const ring = ((ramp!.properties as Record<string, Schema>).rings!.items as Schema).properties as Record<string, Schema>;
    expect(ring.ramp).toEqual({
      description: 'One of: "none"; an object (first, growth). The operator\'s validator checks the details.',
      'x-kubernetes-preserve-unknown-fields': true,
    });
  });

  test('a whole document: metadata is only an object', () => {
    const root = toStructural(rolloutSchema);
    expect((root.properties as Record<string, Schema>).metadata).toEqual({ type: 'object' });
    expect((root.properties as Record<string, Schema>).apiVersion).toEqual({ type: 'string', enum: ['ringmaster.dev/v1alpha1'] });
    expect(structuralProblems(root, '')).toEqual([]);
  });

  test('what it cannot convert is an error naming the place', () => {
    expect(() => toStructural({ type: 'object', properties: { a: { $ref: '#/x' } } })).toThrow('toStructural: /properties/a: unsupported keyword "$ref"');
    expect(() => toStructural({ type: 'object', patternProperties: { '^a': { type: 'string' } } })).toThrow(/unsupported keyword "patternProperties"/);
    expect(() => toStructural({ properties: { a: { type: 'string' } } })).toThrow('toStructural: /: every node of a structural schema needs a type');
    expect(() => toStructural({ type: 'array', uniqueItems: true, items: { type: 'object' } })).toThrow(/uniqueItems is only convertible on an array of scalars/);
    expect(() => toStructural({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } })).toThrow(/additionalProperties beside properties/);
    expect(() => toStructural({ type: 'object', not: { type: 'string' } })).toThrow(/not may only combine required/);
    expect(() => toStructural({ type: 'string', oneOf: [{ type: 'string' }, { type: 'number' }] })).toThrow(/typed branches beside a type/);
  });
});

// ------------------------------------------------------------------------------------------ the schemas accept what they should

/**
 * The CRD schema as ajv (draft 7) reads it, the way the API server applies it: OpenAPI 3.0 boolean exclusive
 * bounds back to numbers, list-type set as uniqueItems, and unknown fields rejected where the server would
 * prune them (kubectl's strict field validation, its default). Other x-kubernetes-* keywords are dropped.
 */
function toAjv(node: unknown, at = ''): unknown {
  if (!isObj(node)) return node;
  if (at === '/properties/metadata') return node; // the server keeps (and checks) metadata itself
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-kubernetes-') || k === 'format' || k === 'nullable') continue;
    if (k === 'properties') out.properties = Object.fromEntries(Object.entries(v as Schema).map(([p, s]) => [p, toAjv(s, `${at}/properties/${p}`)]));
    else if (k === 'items' || k === 'additionalProperties' || k === 'not') out[k] = toAjv(v, `${at}/${k}`);
    else if (k === 'oneOf' || k === 'anyOf' || k === 'allOf') out[k] = (v as unknown[]).map((b, i) => toAjv(b, `${at}/${k}/${i}`));
    else if ((k === 'exclusiveMinimum' || k === 'exclusiveMaximum') && v === true) {
      const bound = k === 'exclusiveMinimum' ? 'minimum' : 'maximum';
      out[k] = node[bound];
    } else out[k] = v;
  }
  for (const [e, b] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) if (node[e] === true) delete out[b];
  if (node['x-kubernetes-list-type'] === 'set') out.uniqueItems = true;
  // an object node prunes every field it does not declare (all of them, when it declares none)
  if (node.type === 'object' && node.additionalProperties === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true) out.additionalProperties = false;
  return out;
}

const ajv = new Ajv({ allErrors: true, strict: false, multipleOfPrecision: 9 });
const validateRollout = ajv.compile(toAjv(openApi(rolloutCrd())) as object);
const validatePolicy = ajv.compile(toAjv(openApi(policyCrd())) as object);

const readYaml = (p: string): Record<string, unknown> => parse(fs.readFileSync(p, 'utf8')) as Record<string, unknown>;
const errorsOf = (v: typeof validateRollout, doc: unknown) => (v(doc) ? [] : (v.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`));

describe('the generated openAPIV3Schema accepts every valid example and rejects the expressible mistakes', () => {
  const rollouts = fs.readdirSync(path.join(ROOT, 'examples/rollouts')).filter((f) => f.endsWith('.yaml'));

  test('there are examples to check', () => {
    expect(rollouts.length).toBeGreaterThanOrEqual(5);
  });

  test.each(rollouts)('examples/rollouts/%s validates', (f) => {
    const doc = readYaml(path.join(ROOT, 'examples/rollouts', f));
    expect(doc.kind).toBe('Rollout');
    expect(errorsOf(validateRollout, doc)).toEqual([]);
    expect(validateRolloutObject(structuredClone(doc), f).ok).toBe(true);
  });

  test('policies/default.yaml validates', () => {
    const doc = readYaml(path.join(ROOT, 'policies/default.yaml'));
    expect(doc.kind).toBe('Policy');
    expect(errorsOf(validatePolicy, doc)).toEqual([]);
  });

  test.each([
    ['bad-sha256.yaml', '/spec/artifact/sha256 must match pattern'],
    ['bad-duration.yaml', 'must match pattern "^([0-9]+(ms|s|m|h|d|w))+$"'],
    ['percent-over-100.yaml', 'must be <= 100'],
    ['selector-and-percent.yaml', '/spec/rings/0 must match exactly one schema in oneOf'],
    ['unknown-field.yaml', '/spec/rings/0 must NOT have additional properties'],
  ])('examples/invalid/%s is rejected', (f, message) => {
    const doc = readYaml(path.join(ROOT, 'examples/invalid', f));
    expect(errorsOf(validateRollout, doc).join('\n')).toContain(message);
    expect(validateRolloutObject(doc, f).ok).toBe(false);
  });

  test.each(['unknown-timezone.yaml', 'custom-metric-without-query.yaml', 'invalid-semver.yaml', 'percent-not-increasing.yaml', 'duplicate-ring-names.yaml'])(
    'examples/invalid/%s is not expressible in a CRD: the schema accepts it, the operator validator rejects it',
    (f) => {
      const doc = readYaml(path.join(ROOT, 'examples/invalid', f));
      expect(errorsOf(doc.kind === 'Policy' ? validatePolicy : validateRollout, doc)).toEqual([]);
      expect((doc.kind === 'Policy' ? validatePolicyObject : validateRolloutObject)(doc, f).ok).toBe(false);
    },
  );

  const base = () => readYaml(path.join(ROOT, 'examples/rollouts/content-update.yaml')) as { spec: Record<string, unknown> & { rings: Array<Record<string, unknown>> } };
  test('edge values: exclusive bounds, multipleOf, ramp both ways, a set of days', () => {
    const ok = (mut: (d: ReturnType<typeof base>) => void) => {
      const d = base();
      mut(d);
      return errorsOf(validateRollout, d);
    };
    const pctRing = (d: ReturnType<typeof base>) => d.spec.rings.find((r) => r.percent !== undefined)!;
    expect(ok((d) => (pctRing(d).percent = 0.07))).toEqual([]);
    expect(ok((d) => (pctRing(d).percent = 0))).not.toEqual([]);
    expect(ok((d) => (pctRing(d).percent = 0.005))).not.toEqual([]);
    expect(ok((d) => (d.spec.rings[0]!.ramp = 'none'))).toEqual([]);
    expect(ok((d) => (d.spec.rings[0]!.ramp = { first: 10, growth: 3 }))).toEqual([]);
    expect(ok((d) => (d.spec.analysis = { metrics: [{ name: 'm', type: 'crash-rate', alpha: 0 }] }))).not.toEqual([]);
    expect(ok((d) => (d.spec.analysis = { metrics: [{ name: 'm', type: 'crash-rate', alpha: 0.5, detectRatio: 1.01 }] }))).toEqual([]);
    expect(ok((d) => (d.spec.analysis = { metrics: [{ name: 'm', type: 'crash-rate', detectRatio: 1 }] }))).not.toEqual([]);
    expect(ok((d) => (d.spec.preflight = [{ name: 'a', schema: { type: 'object', anything: [1] } }]))).toEqual([]);
    expect(ok((d) => (d.spec.preflight = [{ name: 'a', schema: {}, exec: 'x' }]))).not.toEqual([]);

    const policy = readYaml(path.join(ROOT, 'policies/default.yaml')) as { spec: { allow: Array<{ days: string[] }> } };
    policy.spec.allow[0]!.days = ['Mon', 'Mon'];
    expect(errorsOf(validatePolicy, policy).join()).toContain('must NOT have duplicate items');
  });
});

// ------------------------------------------------------------------------------------------ contract.md

describe('names, columns and the status subresource are as contract.md says', () => {
  test('Rollout', () => {
    const c = rolloutCrd();
    expect(c.metadata.name).toBe('rollouts.ringmaster.dev');
    expect(c.spec.group).toBe('ringmaster.dev');
    expect(c.spec.scope).toBe('Namespaced');
    expect(c.spec.names).toMatchObject({ kind: 'Rollout', plural: 'rollouts', singular: 'rollout', shortNames: ['rmro'] });
    expect(c.spec.versions).toHaveLength(1);
    const v = c.spec.versions[0]!;
    expect([v.name, v.served, v.storage]).toEqual(['v1alpha1', true, true]);
    expect(v.subresources).toEqual({ status: {} });
    expect(v.additionalPrinterColumns).toEqual([
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Ring', type: 'string', jsonPath: '.status.ring' },
      { name: 'Version', type: 'string', jsonPath: '.spec.version' },
      { name: 'Verdict', type: 'string', jsonPath: '.status.verdict' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ]);
    const status = (openApi(c).properties as Record<string, Schema>).status!;
    const p = status.properties as Record<string, Schema>;
    const types = Object.fromEntries(Object.entries(p).map(([k, s]) => [k, s.type]));
    expect(types).toEqual({
      observedGeneration: 'integer', phase: 'string', ring: 'string', exposedRing: 'integer', verdict: 'string', message: 'string',
      revision: 'integer', seq: 'integer', specHash: 'string', acceptedSpec: 'object', state: 'string', eventsEmitted: 'integer',
      transitions: 'array', requests: 'array', outbox: 'array', conditions: 'array',
    });
    // state is JSON text: a merge patch replaces a string whole, where it would merge an object's keys
    expect(p.acceptedSpec!['x-kubernetes-preserve-unknown-fields']).toBe(true);
    for (const k of ['transitions', 'requests', 'outbox']) expect((p[k]!.items as Schema)['x-kubernetes-preserve-unknown-fields']).toBe(true);
    expect(p.conditions).toMatchObject({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
    const cond = p.conditions!.items as Schema;
    expect(Object.keys(cond.properties as Schema).sort()).toEqual(['lastTransitionTime', 'message', 'observedGeneration', 'reason', 'status', 'type']);
    expect((cond.properties as Record<string, Schema>).status!.enum).toEqual(['True', 'False', 'Unknown']);

    // a status as the operator writes it validates; the engine's state is kept as written
    const doc = { ...readYaml(path.join(ROOT, 'examples/rollouts/content-update.yaml')) };
    const withStatus = {
      ...doc,
      status: {
        observedGeneration: 2, phase: 'rolled-back', ring: '-', exposedRing: 0, verdict: 'fail', message: 'crash-rate regressed', revision: 7, seq: 1,
        specHash: 'abc', acceptedSpec: { ...doc, any: [1, 'x'] }, state: JSON.stringify({ phase: { kind: 'rolled-back' } }), eventsEmitted: 3,
        transitions: [{ to: 'halted' }], requests: [], outbox: [],
        conditions: [{ type: 'Completed', status: 'True', reason: 'rolled-back', message: '', lastTransitionTime: '2026-12-01T00:00:00Z', observedGeneration: 2 }],
      },
    };
    expect(errorsOf(validateRollout, withStatus)).toEqual([]);
    withStatus.status.conditions[0]!.status = 'Yes';
    expect(errorsOf(validateRollout, withStatus)).not.toEqual([]);
  });

  test('Policy', () => {
    const c = policyCrd();
    expect(c.metadata.name).toBe('policies.ringmaster.dev');
    expect(c.spec.names).toMatchObject({ kind: 'Policy', plural: 'policies', singular: 'policy', shortNames: ['rmpol'] });
    expect(c.spec.scope).toBe('Namespaced');
    const v = c.spec.versions[0]!;
    expect([v.name, v.served, v.storage]).toEqual(['v1alpha1', true, true]);
    expect(v.subresources).toBeUndefined();
    expect((openApi(c).properties as Schema).status).toBeUndefined();
  });

  let models: { CustomResourceDefinition: new (o: unknown) => { validate(): void } } | undefined;
  try {
    require.resolve('kubernetes-models/apiextensions.k8s.io/v1');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    models = require('kubernetes-models/apiextensions.k8s.io/v1') as typeof models;
  } catch {
    models = undefined;
  }
  const withModels = models === undefined ? test.skip : test;
  withModels(`the checked-in files validate against the Kubernetes models${models === undefined ? ' (SKIPPED: kubernetes-models is not installed)' : ''}`, () => {
    for (const f of ['rollouts.ringmaster.dev.yaml', 'policies.ringmaster.dev.yaml']) {
      const obj = readYaml(path.join(DIR, f));
      expect(() => new models!.CustomResourceDefinition(obj).validate()).not.toThrow();
    }
    // and the models do catch a JSON-Schema-2020 bound
    const broken = structuredClone(rolloutCrd()) as unknown as { spec: { versions: Array<{ schema: { openAPIV3Schema: Schema } }> } };
    broken.spec.versions[0]!.schema.openAPIV3Schema.properties = { x: { type: 'number', exclusiveMinimum: 0 } };
    expect(() => new models!.CustomResourceDefinition(broken).validate()).toThrow(/exclusiveMinimum/);
  });
});
