/**
 * The one document loader (spec/yaml.ts, spec/document.ts) and defaults defined once, in the schemas
 * (spec/defaults.ts): budgets and the positions of their errors, duplicate keys, the documents that load
 * through it (trusted keys, serve config, scenarios), and that stored specs hash as they did before.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadScenario } from '../../agent-sim/scenario';
import { readServeConfig, SERVE_DEFAULTS, serveConfigSchema } from '../../controller/config/serve';
import { JUDGE_DEFAULTS } from '../../controller/engine/judge';
import { DEFAULTS, loadTrustedKeys } from '../../controller/runtime/config';
import { ANALYSIS_DEFAULTS, METRIC_DEFAULTS, POLICY_DEFAULTS, PREFLIGHT_DEFAULTS, ROLLOUT_DEFAULTS, VALIDATION_SCHEMAS, validationSchema } from '../../controller/spec/defaults';
import { loadDocumentText, type DocumentType } from '../../controller/spec/document';
import { formatSpecError, InputError, MAX_REPORTED_ERRORS } from '../../controller/spec/errors';
import { loadRolloutFile, parseDocuments, parseRolloutText } from '../../controller/spec/load';
import { MATERIALISED_DEFAULTS, metricSchema, policySchema, rolloutSchema } from '../../controller/spec/schema';
import { DOCUMENT_LIMITS, parseYaml, type YamlLimits } from '../../controller/spec/yaml';
import { canonicalJson, sha256Hex } from '../../controller/store/canonical';

const ROOT = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-loader-'));
const write = (name: string, text: string): string => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
};
const yamlErrors = (text: string, limits: Partial<YamlLimits> = {}): string[] => parseYaml(text, 'f.yaml', { ...DOCUMENT_LIMITS, ...limits }).errors.map(formatSpecError);
const linesOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputError) return err.lines;
    throw err;
  }
  throw new Error('expected an InputError');
};

describe('YAML with bounded cost: each budget stops parsing at the line and column where it was exceeded', () => {
  test.each<[string, string, Partial<YamlLimits>, string]>([
    ['keys in one document', 'a: 1\nb: 2\nc: 3\n', { maxKeys: 2 }, 'f.yaml:3:2 (document): the document has more than 2 keys (limit)'],
    ['values in one document (a flow sequence)', 'x: [1, 2, 3, 4, 5]\n', { maxNodes: 4 }, 'f.yaml:1:11 (document): the document has more than 4 values (limit)'],
    ['flow nesting', `${'['.repeat(100)}${']'.repeat(100)}\n`, {}, 'f.yaml:1:69 (document): the document is nested more than 64 levels deep (limit)'],
    ['block nesting', Array.from({ length: 80 }, (_, i) => `${' '.repeat(i)}a${i}:\n`).join(''), {}, 'f.yaml:68:71 (document): the document is nested more than 64 levels deep (limit)'],
    ['documents in one text', '--- 1\n--- 2\n--- 3\n', { maxDocuments: 2 }, 'f.yaml:3:1 (document): the text has more than 2 documents (limit)'],
    ['tokens of the whole text (comments count too)', '# a comment\n'.repeat(50), { maxTokens: 60 }, 'f.yaml:31:1 (document): the text has more than 60 YAML tokens (limit)'],
    ['aliases in one document', 'a: &a 1\nb: [*a, *a, *a]\n', { maxAliases: 2 }, 'f.yaml:2:13 b[2]: document uses too many aliases (more than 2)'],
    ['values once aliases are expanded', 'a: &a [1, 2, 3, 4]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n', { maxExpandedNodes: 50 }, 'f.yaml:3:9 c[1]: the document expands to more than 50 values through aliases (limit)'],
  ])('%s', (_what, text, limits, expected) => {
    expect(yamlErrors(text, limits)).toEqual([expected]);
  });

  test('the default limits: 10,000 keys, 30,000 values, 64 levels, 1,000 documents, 100 aliases, 100,000 expanded values', () => {
    expect(DOCUMENT_LIMITS).toEqual({ maxDocuments: 1_000, maxKeys: 10_000, maxNodes: 30_000, maxExpandedNodes: 100_000, maxAliases: 100, maxDepth: 64, maxTokens: 250_000 });
    const keys = Array.from({ length: 10_001 }, (_, i) => `k${i}: 1\n`).join('');
    expect(yamlErrors(keys)).toEqual(['f.yaml:10001:7 (document): the document has more than 10000 keys (limit)']);
    expect(yamlErrors(Array.from({ length: 10_000 }, (_, i) => `k${i}: 1\n`).join(''))).toEqual([]);
    // The key and value limits are per document: three documents of 6,000 keys each are fine.
    const doc = Array.from({ length: 6_000 }, (_, i) => `k${i}: 1\n`).join('');
    expect(parseYaml(`${doc}---\n${doc}...\n${doc}`, 'f.yaml').docs).toHaveLength(3);
  });

  test('an alias must follow its anchor and must not sit inside it (a cycle)', () => {
    expect(yamlErrors('a: *nope\n')).toEqual(['f.yaml:1:4 a: alias *nope has no anchor &nope before it']);
    expect(yamlErrors('a: &x [1, *x]\n')).toEqual(['f.yaml:1:11 a[1]: alias *x refers to a node that contains it']);
    expect(yamlErrors('a: &x {b: 1}\nc: *x\n')).toEqual([]);
  });

  test('a duplicate key names where the first one is, and only its own document is refused', () => {
    const policy = (name: string, extra = '') => `apiVersion: ringmaster.dev/v1alpha1\nkind: Policy\nmetadata: { name: ${name} }\nspec:\n  timezone: UTC\n${extra}  allow: [{ days: [Mon], hours: "09:00-10:00" }]\n`;
    const r = parseDocuments(`${policy('a')}---\n${policy('b', '  timezone: Europe/Berlin\n')}---\n${policy('c')}`, 'multi.yaml');
    expect(r.errors.map(formatSpecError)).toEqual(['multi.yaml:13:3 spec.timezone: duplicate key "timezone" (already at 12:3)']);
    expect(r.docs.map((d) => d.doc.metadata.name)).toEqual(['a', 'c']);
    // 1 and "1" are one key of the loaded object: a duplicate, not a silent overwrite.
    expect(yamlErrors('1: a\n"1": b\n')).toEqual(['f.yaml:2:1 ["1"]: duplicate key "1" (already at 1:1)']);
  });

  test('a long key is shortened in the path and the message, never echoed whole', () => {
    const key = 'k'.repeat(1000); // YAML's longest implicit key is 1024 characters
    const lines = parseRolloutText(`apiVersion: ringmaster.dev/v1alpha1\nkind: Rollout\nmetadata: {name: a}\nspec: {}\n${key}: 1\n`, 'r.yaml');
    const shown = lines.ok ? [] : lines.errors.map(formatSpecError);
    expect(shown.some((l) => l.startsWith(`r.yaml:5:1 ["${'k'.repeat(57)}..."]: unknown field "${'k'.repeat(57)}..."`))).toBe(true);
    for (const l of shown) expect(l.length).toBeLessThan(400);
  });
});

describe('the document loader', () => {
  const type: DocumentType<{ items: Array<{ name: string; secret?: string }> }> = {
    noun: 'test file',
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['items'],
      properties: {
        items: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            properties: { name: { type: 'string', enum: ['a', 'b'], 'x-messages': { enum: 'must be a or b (got {got})' } }, secret: { type: 'string' } },
          },
        },
      },
    },
  };
  const errors = (text: string): string[] => {
    const r = loadDocumentText(type, text, 't.yaml');
    return r.ok ? [] : r.errors.map(formatSpecError);
  };

  test('x-messages word an error; {got} quotes a short value and never echoes a long one', () => {
    expect(errors('items:\n  - name: c\n')).toEqual(['t.yaml:2:11 items[0].name: must be a or b (got "c")']);
    expect(errors(`items:\n  - name: ${'s3cr3t'.repeat(10)}\n`)).toEqual(['t.yaml:2:11 items[0].name: must be a or b (got a string of 60 characters)']);
  });

  test(`at most ${MAX_REPORTED_ERRORS} errors are listed, then one line counts the rest`, () => {
    const text = `items:\n  - {${Array.from({ length: 150 }, (_, i) => `f${i}: 1`).join(', ')}}\n`;
    const lines = errors(text);
    expect(lines).toHaveLength(MAX_REPORTED_ERRORS + 1);
    expect(lines[MAX_REPORTED_ERRORS]).toMatch(/^t\.yaml:2:\d+ \(document\): 50 more errors not shown$/);
  });

  test('an empty file, a second document and an unreadable file are one line each', () => {
    expect(errors('')).toEqual(['t.yaml:1:1 (document): the test file is empty']);
    expect(errors('items: []\n---\nitems: []\n')).toEqual(['t.yaml:2:1 (document): a test file is one YAML document (found 2)']);
    expect(linesOf(() => loadTrustedKeys(path.join(tmp, 'missing.yaml')))).toEqual([`${path.join(tmp, 'missing.yaml')}:0:0 (document): cannot read trusted keys file (ENOENT)`]);
  });
});

describe('trusted keys, serve config and scenarios load through it', () => {
  test('trusted keys: a bad key, a duplicate name and a wrong shape, each at its line', () => {
    const good = fs.readFileSync(path.join(ROOT, 'examples/trusted-keys.yaml'), 'utf8');
    expect(loadTrustedKeys(write('ok.yaml', good)).map((k) => k.name)).toEqual(['example-publisher', 'example-content-publisher']);
    const f = write('bad-keys.yaml', `${good}  - name: example-publisher\n    publicKey: bm90LWEta2V5\n  - publicKey: 3\n    comment: x\n`);
    // The appended entries start on the line after the file's last, as keys[2] and keys[3].
    const at = (k: number): number => good.split('\n').length - 1 + k;
    expect(linesOf(() => loadTrustedKeys(f))).toEqual([
      `${f}:${at(1)}:11 keys[2].name: duplicate name "example-publisher" (also keys[0])`,
      `${f}:${at(2)}:16 keys[2].publicKey: expected a PEM public key or base64 of 32 raw bytes`,
      `${f}:${at(3)}:5 keys[3]: missing required field "name"`,
      `${f}:${at(3)}:16 keys[3].publicKey: must be a string (PEM or base64) (got 3)`,
      `${f}:${at(4)}:5 keys[3].comment: unknown field (expected name, publicKey)`,
    ]);
    expect(linesOf(() => loadTrustedKeys(write('list.yaml', '- a\n')))).toEqual([`${path.join(tmp, 'list.yaml')}:1:1 (document): the file must be a mapping with a "keys" list of {name, publicKey} (got a list)`]);
  });

  test('serve config: kebab-case keys are read, and named as written in errors', () => {
    const f = write('serve.yaml', 'trusted-keys: keys.yaml\nrollback-drain: 30s\nprometheus-insecure-skip-verify: true\n');
    expect(readServeConfig(f)).toEqual({ trustedKeys: path.join(tmp, 'keys.yaml'), rollbackDrain: '30s', prometheusInsecureSkipVerify: 'true' });
    const bad = write('bad-serve.yaml', 'tick: 1s\ntrusted-keys: [a]\nrollback-drain: 1m\nrollbackDrain: 2m\n');
    expect(linesOf(() => readServeConfig(bad))).toEqual([`${bad}:4:1 rollbackDrain: set twice (also as rollback-drain at 3:1)`]);
    expect(linesOf(() => readServeConfig(write('bad-serve2.yaml', 'trusted-keys: [a]\n')))).toEqual([`${path.join(tmp, 'bad-serve2.yaml')}:1:15 trusted-keys: must be a string (got a list)`]);
    expect(readServeConfig(write('empty.yaml', '# nothing set\n'))).toEqual({});
  });

  test('a scenario gets every default of its schema, nested ones included', () => {
    const f = write('sc.yaml', 'apiVersion: ringmaster.dev/v1alpha1\nkind: Scenario\nmetadata: {name: minimal}\nspec:\n  rollout: r.yaml\n  policy: p.yaml\n  start: "2026-11-30T09:00:00-05:00"\n');
    const sc = loadScenario(f);
    expect(sc.fleet).toEqual({
      hosts: 1_000_000,
      canaryHosts: 2000,
      pollIntervalMs: 60_000,
      pollJitterMs: 0,
      regions: ['us-east', 'us-west', 'eu-west', 'ap-south'],
      oses: ['windows', 'linux', 'macos'],
      tenants: [
        { name: 'hospital-group', share: 0.02 },
        { name: 'retail', share: 0.2 },
      ],
      crashRate: 0.002,
      bsodRate: 0.0005,
      hazardShape: 2,
      diurnalAmplitude: 0.3,
      overdispersionShape: undefined,
    });
    expect({ seed: sc.seed, tickMs: sc.tickMs, maxDurationMs: sc.maxDurationMs, approvals: sc.approvals, approvalDelayMs: sc.approvalDelayMs, candidate: sc.candidate, agent: sc.agent, tamper: sc.tamper, description: sc.description }).toEqual({
      seed: 1,
      tickMs: 30_000,
      maxDurationMs: 5 * 86_400_000,
      approvals: 'auto',
      approvalDelayMs: 900_000,
      candidate: { crashRateMultiplier: 1, crashOnBoot: 0, crashBeforeAgent: 1, updateFailure: 0 },
      agent: { fallback: true, maxFailedStarts: 3, bootCycleMs: 120_000 },
      tamper: { manifestShare: 0, artifact: false },
      description: '',
    });
    const bad = write('bad-sc.yaml', 'apiVersion: ringmaster.dev/v1alpha1\nkind: Scenario\nmetadata: {name: x}\nspec:\n  rollout: r.yaml\n  policy: p.yaml\n  start: "2026-11-30 09:00"\n');
    expect(linesOf(() => loadScenario(bad))).toEqual([`${bad}:7:10 spec.start: must be a date-time with an offset, like 2026-11-30T09:00:00-05:00 (got "2026-11-30 09:00")`]);
  });
});

describe('defaults are defined once, in the schemas', () => {
  /** Every `default` keyword of a schema, by JSON Pointer. */
  const defaultsIn = (schema: unknown, pointer = ''): Record<string, unknown> => {
    if (schema === null || typeof schema !== 'object') return {};
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(schema)) {
      if (k === 'default') out[pointer] = v;
      else if (k !== 'enum' && k !== 'const') Object.assign(out, defaultsIn(v, `${pointer}/${k}`));
    }
    return out;
  };

  test('the constants are the schemas\' default keywords', () => {
    const spec = '/properties/spec/properties';
    expect(defaultsIn(rolloutSchema)).toEqual({
      [`${spec}/rings/items/properties/approval`]: ROLLOUT_DEFAULTS.ringApproval,
      [`${spec}/analysis/properties/interval`]: ANALYSIS_DEFAULTS.interval,
      [`${spec}/analysis/properties/noDataGrace`]: ANALYSIS_DEFAULTS.noDataGrace,
      [`${spec}/analysis/properties/maxConsecutiveErrors`]: ANALYSIS_DEFAULTS.maxConsecutiveErrors,
      ...Object.fromEntries(Object.entries(METRIC_DEFAULTS).map(([k, v]) => [`${spec}/analysis/properties/metrics/items/properties/${k}`, v])),
      [`${spec}/analysis/properties/requireEvidence`]: ROLLOUT_DEFAULTS.requireEvidence,
      [`${spec}/rings/items/properties/ramp/oneOf/1/properties/growth`]: ROLLOUT_DEFAULTS.rampGrowth,
      [`${spec}/holdback/properties/percent`]: ROLLOUT_DEFAULTS.holdbackPercent,
      [`${spec}/policy`]: ROLLOUT_DEFAULTS.policy,
      [`${spec}/rollback/properties/automatic`]: ROLLOUT_DEFAULTS.rollbackAutomatic,
      [`${spec}/preflight/items/properties/timeout`]: PREFLIGHT_DEFAULTS.timeout,
    });
    expect(defaultsIn(policySchema)).toEqual(Object.fromEntries(Object.entries(POLICY_DEFAULTS).map(([k, v]) => [`${spec}/${k}`, v])));
    expect(ANALYSIS_DEFAULTS).toEqual({ interval: '1m', noDataGrace: '10m', maxConsecutiveErrors: 5 });
    expect(POLICY_DEFAULTS).toEqual({ requireBakeWithinWindow: false, maxConcurrentRolloutsPerChannel: 1, requireSignedArtifacts: true });
    expect(DEFAULTS.rollbackDrainMs).toBe(120_000);
    expect(SERVE_DEFAULTS.rollbackDrain).toBe(serveConfigSchema.properties.rollbackDrain.default);
  });

  test('the judge\'s own copy of the metric defaults still equals the schema (until the engine reads METRIC_DEFAULTS)', () => {
    const { minExposureHours, ...rest } = JUDGE_DEFAULTS;
    expect({ ...rest, minExposure: minExposureHours }).toEqual(METRIC_DEFAULTS);
    expect(Object.keys(defaultsIn(metricSchema)).sort()).toEqual(Object.keys(METRIC_DEFAULTS).map((k) => `/properties/${k}`).sort());
  });

  test('ajv writes in only the listed defaults: loading hashes a rollout exactly as before the defaults moved into the schema', () => {
    expect(Object.keys(defaultsIn(VALIDATION_SCHEMAS.Rollout))).toEqual(MATERIALISED_DEFAULTS.Rollout);
    expect(Object.keys(defaultsIn(VALIDATION_SCHEMAS.Policy))).toEqual(MATERIALISED_DEFAULTS.Policy);
    expect(defaultsIn(validationSchema(rolloutSchema))).toEqual({});
    // A rollout that leaves out every default it can, hashed by main before this change (sha256 of canonical JSON).
    const sparse = `apiVersion: ringmaster.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: sparse\nspec:\n  channel: c\n  version: 2.0.0\n  previousVersion: 1.0.0\n  artifact: {url: "https://x/y", sha256: "${'a'.repeat(64)}"}\n  rings:\n    - {name: canary, selector: {matchLabels: {ring: canary}}, bake: 1h}\n    - {name: all, percent: 100, bake: 1h}\n  analysis:\n    metrics:\n      - {name: crashes, type: crash-rate}\n  rollback: {}\n`;
    const r = parseRolloutText(sparse, 'x.yaml');
    if (!r.ok) throw new Error(r.errors.map(formatSpecError).join('\n'));
    expect(r.doc.spec.analysis).toEqual({ metrics: [{ name: 'crashes', type: 'crash-rate' }] });
    expect(r.doc.spec.rollback).toEqual({ automatic: true });
    expect(sha256Hex(canonicalJson(r.doc))).toBe('dbc83d03763826958936022193c5309fd9a9ccf8047db2108a6944fcd3c8a021');
    const hashes = ['content-update', 'agent-update'].map((n) => {
      const f = loadRolloutFile(path.join(ROOT, `examples/rollouts/${n}.yaml`));
      return f.ok ? sha256Hex(canonicalJson(f.doc)) : 'invalid';
    });
    expect(hashes).toEqual(['05f86e943e2fd3191e8dd8d5a8c61284e563b61aadfc62cd8f6b40d2292a2673', 'c3642c61b663bbb7557f62695903341fd762752f44c81d374641bb9e554f243a']);
  });
});
