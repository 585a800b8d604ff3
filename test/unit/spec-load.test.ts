import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateFiles } from '../../controller/cli/commands/validate';
import { formatSpecError, loadFiles, parseDocuments, parseRolloutText, validateRolloutObject } from '../../controller/spec/load';

const ROOT = path.resolve(__dirname, '../..');
const invalidDir = path.join(ROOT, 'examples/invalid');
const rel = (f: string) => path.relative(ROOT, f);

function lines(files: string[]): string[] {
  return loadFiles(files).errors.map((e) => formatSpecError({ ...e, file: rel(e.file) }));
}

describe('loading documents', () => {
  it('the example rollouts and the default policy are valid', () => {
    const files = ['examples/rollouts/content-update.yaml', 'examples/rollouts/agent-update.yaml', 'policies/default.yaml'].map((f) => path.join(ROOT, f));
    const r = loadFiles(files);
    expect(r.errors.map(formatSpecError)).toEqual([]);
    expect(r.docs.map((d) => d.kind)).toEqual(['Rollout', 'Rollout', 'Policy']);
  });

  it('every invalid example gives at least one error, each naming its file, line and field', () => {
    const files = fs.readdirSync(invalidDir).filter((f) => f.endsWith('.yaml')).map((f) => path.join(invalidDir, f));
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const f of files) {
      const out = lines([f]);
      expect(out.length).toBeGreaterThan(0);
      for (const l of out) expect(l).toMatch(new RegExp(`^${rel(f).replace(/[.]/g, '\\.')}:[1-9][0-9]*:[1-9][0-9]* `));
    }
  });

  it.each([
    ['percent-not-increasing.yaml', 'examples/invalid/percent-not-increasing.yaml:17:31 spec.rings[2].percent: percent rings must strictly increase: must be > 10, the percent of ring early before it (got 5)'],
    ['percent-over-100.yaml', 'examples/invalid/percent-over-100.yaml:16:30 spec.rings[1].percent: must be <= 100 (got 150)'],
    ['unknown-field.yaml', 'examples/invalid/unknown-field.yaml:17:7 spec.rings[0].bakee: unknown field "bakee" (did you mean "bake"?)'],
    ['bake-longer-than-maxbake.yaml', 'examples/invalid/bake-longer-than-maxbake.yaml:15:74 spec.rings[0].bake: must be <= maxBake 2h (got 4h)'],
    ['unknown-timezone.yaml', 'examples/invalid/unknown-timezone.yaml:7:13 spec.timezone: unknown time zone America/Gotham (use an IANA name like America/New_York, Europe/Berlin or UTC)'],
    ['version-not-greater.yaml', 'examples/invalid/version-not-greater.yaml:8:12 spec.version: must be greater than previousVersion 7.16.290 (got 7.16.289)'],
  ])('%s reports the exact line', (file, expected) => {
    expect(lines([path.join(invalidDir, file)])).toContain(expected);
  });

  it('multi-document files load every document and number duplicate names', () => {
    const policy = (name: string) => `apiVersion: ringmaster.dev/v1alpha1\nkind: Policy\nmetadata: { name: ${name} }\nspec:\n  timezone: UTC\n  allow: [{ days: [Mon], hours: "09:00-10:00" }]\n`;
    const r = parseDocuments(`${policy('a')}---\n${policy('b')}---\n${policy('a')}---\n`, 'multi.yaml');
    expect(r.docs.map((d) => d.doc.metadata.name)).toEqual(['a', 'b']);
    expect(r.errors.map(formatSpecError)).toEqual(['multi.yaml:17:19 metadata.name: Policy "a" is already defined in document 1 of this file']);
  });

  it('applies schema defaults without mutating the input', () => {
    const text = fs.readFileSync(path.join(ROOT, 'examples/rollouts/content-update.yaml'), 'utf8').replace(/\n {2}rollback:\n {4}automatic: true.*\n/, '\n');
    const r = parseRolloutText(text, 'x.yaml');
    expect(r.ok && r.doc.spec.rollback).toBeUndefined();
    const obj = JSON.parse(JSON.stringify(r.ok ? r.doc : {}));
    obj.spec.rollback = {};
    const v = validateRolloutObject(obj, 'body');
    expect(v.ok && v.doc.spec.rollback?.automatic).toBe(true);
    expect(obj.spec.rollback).toEqual({});
  });

  it('JSON text gets positions too (JSON is YAML)', () => {
    const r = parseRolloutText('{"apiVersion": "ringmaster.dev/v1alpha1",\n "kind": "Rollout",\n "metadata": {"name": "x"},\n "spec": {"channel": "c", "version": "1.0.0", "artifact": {"url": "https://a", "sha256": "' + 'a'.repeat(64) + '"}, "rings": [{"name": "all", "percent": 100, "bake": "1 h"}]}}', 'body');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map(formatSpecError)[0]).toMatch(/^body:4:\d+ spec\.rings\[0\]\.bake: must be a duration/);
  });

  it('unreadable files, wrong kinds and hostile YAML are one-line errors, never exceptions', () => {
    expect(lines([path.join(ROOT, 'does-not-exist.yaml')])).toEqual(['does-not-exist.yaml:0:0 (document): cannot read file (ENOENT)']);
    expect(parseDocuments('apiVersion: ringmaster.dev/v1alpha1\nkind: Deployment\n', 'k.yaml').errors.map(formatSpecError)).toEqual(['k.yaml:2:7 kind: kind must be Rollout or Policy (got "Deployment")']);
    const bomb = 'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n';
    expect(parseDocuments(bomb, 'bomb.yaml').errors[0]?.message).toMatch(/aliases/);
    expect(parseDocuments('['.repeat(50_000), 'deep.yaml').errors.length).toBeGreaterThan(0);
  });
});

describe('ringctl validate', () => {
  it('exits 0 on valid files and 1 on invalid ones, printing every error and no stack trace', () => {
    const out: string[] = [];
    const ok = validateFiles([path.join(ROOT, 'examples/rollouts/content-update.yaml')], (l) => out.push(l), (l) => out.push(l));
    expect(ok).toBe(0);
    expect(out).toEqual(['ok: 1 document in 1 file']);
    const bad: string[] = [];
    const files = fs.readdirSync(invalidDir).map((f) => path.join(invalidDir, f));
    expect(validateFiles(files, (l) => bad.push(l), (l) => bad.push(l))).toBe(1);
    expect(bad.length).toBeGreaterThanOrEqual(files.length);
    for (const l of bad) {
      expect(l).toMatch(/^[^:]+\.yaml:\d+:\d+ /);
      expect(l).not.toMatch(/\n| {4}at /);
    }
  });
});

describe('analysis rules that involve defaults', () => {
  const doc = (analysis: string, previous = '  previousVersion: 1.0.0\n') =>
    `apiVersion: ringmaster.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: a\nspec:\n  channel: c\n  version: 2.0.0\n${previous}  artifact: {url: "https://x/y", sha256: "${'a'.repeat(64)}"}\n  policy: default\n  rings:\n    - {name: all, percent: 100, bake: 1h}\n  analysis:\n${analysis}`;
  const errors = (text: string) => parseDocuments(text, 'r.yaml').errors.map(formatSpecError);

  it('an interval longer than the default noDataGrace, a maxRatio above the default detectRatio, and metrics without a baseline are errors', () => {
    expect(errors(doc('    interval: 20m\n'))).toEqual(['r.yaml:14:15 spec.analysis.interval: must be <= noDataGrace (default 10m); set a longer noDataGrace (got 20m)']);
    expect(errors(doc('    metrics:\n      - {name: crashes, type: crash-rate, maxRatio: 3}\n'))).toEqual(['r.yaml:15:53 spec.analysis.metrics[0].maxRatio: detectRatio (2, default) must be greater than maxRatio (3)']);
    expect(errors(doc('    metrics:\n      - {name: crashes, type: crash-rate}\n', ''))).toEqual(['r.yaml:14:7 spec.analysis.metrics: analysis compares the candidate with the baseline: spec.previousVersion is required when metrics are set']);
    expect(errors(doc('    interval: 20m\n    noDataGrace: 1h\n    metrics:\n      - {name: crashes, type: crash-rate, maxRatio: 1.5, detectRatio: 3}\n'))).toEqual([]);
  });
});

describe('versions', () => {
  const doc = (version: string, previous: string) =>
    `apiVersion: ringmaster.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: a\nspec:\n  channel: c\n  version: "${version}"\n  previousVersion: "${previous}"\n  artifact: {url: "https://x/y", sha256: "${'a'.repeat(64)}"}\n  rings:\n    - {name: all, percent: 100, bake: 1h}\n`;
  const errors = (text: string) => parseDocuments(text, 'r.yaml').errors.map(formatSpecError);

  it('a version must be written exactly as agents report it: no "v" prefix, no spaces', () => {
    expect(errors(doc('v1.0.1', '1.0.0'))).toEqual(['r.yaml:7:12 spec.version: must be written as a bare semantic version: 1.0.1 (got v1.0.1)']);
    expect(errors(doc('1.0.1', ' 1.0.0'))).toEqual(['r.yaml:8:20 spec.previousVersion: must be written as a bare semantic version: 1.0.0 (got " 1.0.0")']);
    expect(errors(doc('1.0.1', '=1.0.0'))).toEqual(['r.yaml:8:20 spec.previousVersion: must be a semantic version like 7.16.291 or 2.0.0-rc.1 (got =1.0.0)']);
    expect(errors(doc('1.0', '0.9.0'))).toEqual(['r.yaml:7:12 spec.version: must be a semantic version like 7.16.291 or 2.0.0-rc.1 (got 1.0)']);
    expect(errors(doc('2.0.0-rc.1', '1.9.9'))).toEqual([]);
    expect(errors(doc('1.0.0', '1.0.0'))).toEqual(['r.yaml:7:12 spec.version: must be greater than previousVersion 1.0.0 (got 1.0.0)']);
  });
});

describe('ramp and holdback', () => {
  const doc = (ring0: string, extra = '', metrics = '') =>
    `apiVersion: ringmaster.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: a\nspec:\n  channel: c\n  version: 2.0.0\n  previousVersion: 1.0.0\n  artifact: {url: "https://x/y", sha256: "${'a'.repeat(64)}"}\n  rings:\n    - {name: canary, selector: {matchLabels: {ring: canary}}, bake: 30m${ring0}}\n    - {name: ten, percent: 99.8, bake: 1h}\n    - {name: all, percent: 100, bake: 1h}\n${extra}${metrics}`;
  const errors = (text: string) => parseDocuments(text, 'r.yaml').errors.map(formatSpecError);

  it('a ramp is none or a mapping; a mistake inside it is named, not "one of the allowed forms"', () => {
    expect(errors(doc(', ramp: none'))).toEqual([]);
    expect(errors(doc(', ramp: {first: 60, growth: 3}'))).toEqual([]);
    expect(errors(doc(', ramp: nope'))).toEqual(['r.yaml:11:80 spec.rings[0].ramp: must be none or a mapping (got nope)']);
    expect(errors(doc(', ramp: {first: 60, growth: 20}'))).toEqual(['r.yaml:11:100 spec.rings[0].ramp.growth: must be <= 10 (got 20)']);
    expect(errors(doc(', ramp: {frist: 60}'))).toEqual(['r.yaml:11:81 spec.rings[0].ramp.frist: unknown field "frist" (known fields: first, growth)']);
  });

  it('the first wave must be able to fail (>= minHosts); the holdback must not reach into the ring before the last', () => {
    const metrics = '  analysis:\n    metrics:\n      - {name: crashes, type: crash-rate, minHosts: 80}\n';
    expect(errors(doc(', ramp: {first: 50}', '', metrics))).toEqual(['r.yaml:11:88 spec.rings[0].ramp.first: must be >= minHosts 80 of metric crashes, or its first wave can never fail (got 50)']);
    expect(errors(doc('', '  holdback: {percent: 0.5}\n'))).toEqual(['r.yaml:14:23 spec.holdback.percent: must be <= 0.2: the holdback comes out of the last ring, and ring ten already has 99.8% (got 0.5)']);
    expect(errors(doc('', '  holdback: {percent: 0.2}\n'))).toEqual([]);
  });
});
