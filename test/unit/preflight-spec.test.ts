/**
 * Validation of spec.preflight and spec.previousArtifact: one compiler-like line per mistake, the inline schema
 * compiled as the runner will compile it, and the example rollouts valid and self-contained.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { formatSpecError, parseRolloutText } from '../../controller/spec/load';

const ROOT = path.join(__dirname, '..', '..');
const base = fs.readFileSync(path.join(ROOT, 'examples/rollouts/content-preflight.yaml'), 'utf8');
const preflightAt = base.indexOf('  preflight:\n');
const ringsAt = base.indexOf('  rings:\n');

/** The example rollout with its preflight list replaced by `checks` (YAML lines under `preflight:`). */
function withPreflight(checks: string): string {
  return `${base.slice(0, preflightAt)}  preflight:\n${checks}${base.slice(ringsAt)}`;
}

function errors(text: string): string[] {
  const r = parseRolloutText(text, 'r.yaml');
  return r.ok ? [] : r.errors.map(formatSpecError);
}

describe('spec.preflight', () => {
  test('the example rollouts are valid, and their inline schema is the example content schema', () => {
    for (const f of ['content-preflight.yaml', 'content-malformed.yaml']) {
      const text = fs.readFileSync(path.join(ROOT, 'examples/rollouts', f), 'utf8');
      expect([f, errors(text)]).toEqual([f, []]);
      const inline = (parse(text) as { spec: { preflight: Array<{ schema: unknown }> } }).spec.preflight[0]?.schema;
      expect(inline).toEqual(JSON.parse(fs.readFileSync(path.join(ROOT, 'examples/content/sensor-content.schema.json'), 'utf8')));
    }
  });

  test('a check names exactly one of schema, exec or webhook', () => {
    const e = errors(withPreflight('    - name: a\n      exec: lint\n      webhook: gate\n    - name: b\n'));
    expect(e).toEqual([
      expect.stringMatching(/^r\.yaml:\d+:7 spec\.preflight\[0\]: preflight must have exactly one of schema, exec or webhook \(it has exec and webhook\)$/),
      expect.stringMatching(/^r\.yaml:\d+:7 spec\.preflight\[1\]: preflight must have exactly one of schema, exec or webhook \(it has neither\)$/),
    ]);
  });

  test('an inline schema that does not compile is one line naming the field', () => {
    const e = errors(withPreflight('    - name: shape\n      schema:\n        type: object\n        properties:\n          fields: { type: array, maxItems: twenty }\n'));
    expect(e).toHaveLength(1);
    expect(e[0]).toMatch(/^r\.yaml:\d+:9 spec\.preflight\[0\]\.schema: not a valid JSON Schema: schema is invalid: data\/properties\/fields\/maxItems must be integer$/);
  });

  test('names are unique; a timeout is for exec and webhook checks, at most 10m; exec names are names, not commands', () => {
    const e = errors(withPreflight('    - name: a\n      schema: { type: object }\n      timeout: 5s\n    - name: a\n      exec: lint\n      timeout: 11m\n    - name: c\n      exec: /bin/rm -rf /\n'));
    expect(e).toEqual([
      expect.stringMatching(/spec\.preflight\[0\]\.timeout: a schema check has no timeout \(timeout applies to exec and webhook checks\)$/),
      expect.stringMatching(/spec\.preflight\[1\]\.name: duplicate pre-flight check name a \(already used by spec\.preflight\[0\]\)$/),
      expect.stringMatching(/spec\.preflight\[1\]\.timeout: must be > 0 and at most 10m \(got 11m\)$/),
      expect.stringMatching(/spec\.preflight\[2\]\.exec: must be a lowercase name of a-z, 0-9, '-' and '\.'/),
    ]);
  });
});

describe('spec.previousArtifact', () => {
  test('it is the artifact of previousVersion: required with it, and shaped like spec.artifact', () => {
    const noPrevious = base.replace(/^ {2}previousVersion: .*\n/m, '').replace(/^ {2}analysis:[\s\S]*?(?=^ {2}rollback:)/m, '');
    expect(errors(noPrevious)).toEqual([expect.stringMatching(/^r\.yaml:\d+:3 spec\.previousArtifact: is the artifact of previousVersion: spec\.previousVersion is required with it$/)]);
    const badSha = base.replace('sha256: fd9b627a7a5765f6f8924c5efcaadf16524344cc7069c03e99ea7ec31dd58752', 'sha256: nope');
    expect(errors(badSha)).toEqual([expect.stringMatching(/spec\.previousArtifact\.sha256: must be 64 lowercase hex characters \(got 4\)$/)]);
  });
});
