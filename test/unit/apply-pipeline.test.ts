/**
 * The pure parts of issue 15's apply pipeline: splitting a file into documents (and placing the server's positions
 * in the file), the field diff of `ringctl diff`, which rollouts may be deleted, which policy sets may replace the
 * one in force, the precedence of API-applied policies over files, and the history and kill-switch texts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { documentLabel, expandPaths, inFileLine, splitDocuments } from '../../controller/cli/documents';
import { diffValues, renderChanges } from '../../controller/cli/spec-diff';
import { renderHistory } from '../../controller/cli/commands/history';
import { renderKillSwitch } from '../../controller/cli/commands/killswitch';
import { archiveDecision } from '../../controller/engine/archive';
import { missingPolicyProblems } from '../../controller/policy/reload';
import { PolicySet, type FilePolicy } from '../../controller/runtime/policies';
import type { Phase } from '../../controller/engine/state';
import type { PolicySpec } from '../../controller/spec/types';
import type { StoredPolicy } from '../../controller/store/types';

const ROLLOUT = (name: string): string => `apiVersion: ringmaster.dev/v1alpha1
kind: Rollout
metadata:
  name: ${name}
spec:
  channel: c
`;

describe('splitting a file into documents', () => {
  test('a file with one document is sent whole, with no line offset', () => {
    const r = splitDocuments(ROLLOUT('a'), 'a.yaml');
    expect(r).toMatchObject({ ok: true, docs: [{ index: 1, of: 1, kind: 'Rollout', name: 'a', lineOffset: 0, text: ROLLOUT('a') }] });
  });

  test('each document of a multi-document file keeps its kind, name and the line it starts on', () => {
    const text = `# two rollouts and a policy\n${ROLLOUT('a')}---\n${ROLLOUT('b')}---\nkind: Policy\nmetadata: {name: p}\n---\n`;
    const r = splitDocuments(text, 'm.yaml');
    if (!r.ok) throw new Error(r.lines.join('\n'));
    expect(r.docs.map((d) => [d.index, d.of, d.kind, d.name])).toEqual([
      [1, 3, 'Rollout', 'a'],
      [2, 3, 'Rollout', 'b'],
      [3, 3, 'Policy', 'p'],
    ]);
    const b = r.docs[1];
    if (!b) throw new Error('no second document');
    // Line 4 of the second document's text ("  name: b") is line 11 of the file.
    expect(b.text.split('\n')[b.text.split('\n').findIndex((l) => l === '  name: b')]).toBe('  name: b');
    const inText = b.text.split('\n').findIndex((l) => l === '  name: b') + 1;
    expect(text.split('\n')[inText + b.lineOffset - 1]).toBe('  name: b');
    expect(inFileLine(`request:${inText}:9 metadata.name: bad`, b)).toBe(`m.yaml:${inText + b.lineOffset}:9 metadata.name: bad`);
    expect(documentLabel(b)).toBe('m.yaml document 2 of 3');
  });

  test('a YAML syntax error refuses the file with its position', () => {
    const r = splitDocuments('kind: Rollout\nmetadata: [\n', 'bad.yaml');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.lines[0]).toMatch(/^bad\.yaml:\d+:\d+ .*YAML syntax/);
  });

  test('a directory gives its *.yaml and *.yml files sorted, subdirectories only with -R', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-docs-'));
    fs.writeFileSync(path.join(dir, 'b.yml'), '');
    fs.writeFileSync(path.join(dir, 'a.yaml'), '');
    fs.writeFileSync(path.join(dir, 'notes.txt'), '');
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'sub', 'c.yaml'), '');
    expect(expandPaths('apply', dir, false).map((f) => path.relative(dir, f))).toEqual(['a.yaml', 'b.yml']);
    expect(expandPaths('apply', dir, true).map((f) => path.relative(dir, f))).toEqual(['a.yaml', 'b.yml', path.join('sub', 'c.yaml')]);
    expect(() => expandPaths('apply', path.join(dir, 'sub', 'none'), false)).toThrow(/cannot read file \(ENOENT\)/);
  });
});

describe('ringctl diff: field by field', () => {
  test('changed, added and removed leaves, with their paths', () => {
    const before = { spec: { version: '1.0.1', rings: [{ name: 'a', bake: '1m' }], rollback: { automatic: true } } };
    const after = { spec: { version: '1.0.2', rings: [{ name: 'a', bake: '2m' }, { name: 'b' }] } };
    expect(renderChanges(diffValues(before, after))).toEqual([
      '  ~ spec.rings[0].bake: "1m" -> "2m"',
      '  + spec.rings[1]: {"name":"b"}',
      '  - spec.rollback: {"automatic":true}',
      '  ~ spec.version: "1.0.1" -> "1.0.2"',
    ]);
  });

  test('the same document has no changes', () => {
    expect(diffValues({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual([]);
  });
});

describe('delete (archive): only finished rollouts', () => {
  const cases: Array<[Phase, boolean]> = [
    [{ kind: 'succeeded' }, true],
    [{ kind: 'rolled-back', reason: 'x' }, true],
    [{ kind: 'aborted', reason: 'x' }, true],
    [{ kind: 'pending', reason: 'waiting for the channel slot' }, false],
    [{ kind: 'progressing', ring: 0, bakeStartedAt: null }, false],
    [{ kind: 'rolling-back', since: '2026-12-02T00:00:00Z', reason: 'x', end: 'rolled-back' }, false],
  ];
  test.each(cases.map(([p, ok]) => [p.kind, ok, p] as const))('%s may be archived: %s', (_k, ok, phase) => {
    expect(archiveDecision(phase, undefined).ok).toBe(ok);
  });

  test('the refusal says what to do, in plain words', () => {
    const d = archiveDecision({ kind: 'rolling-back', since: '2026-12-02T00:00:00Z', reason: 'x', end: 'rolled-back' }, undefined);
    expect(d).toEqual({ ok: false, message: expect.stringMatching(/it is rolling-back, not finished: .*wait for the rollback to finish/) });
    expect(archiveDecision({ kind: 'succeeded' }, '2026-12-02T10:00:00Z')).toEqual({ ok: false, message: 'it was deleted (archived) already, at 2026-12-02T10:00:00Z' });
  });
});

describe('policy reload', () => {
  const spec = (tz: string): PolicySpec => ({ timezone: tz, allow: [{ days: ['Mon'], hours: '09:00-16:00' }] }) as PolicySpec;
  const files = (entries: Array<[string, string]>): Map<string, FilePolicy> => new Map(entries.map(([n, tz]) => [n, { spec: spec(tz), file: `policies/${n}.yaml` }]));
  const stored = (name: string, tz: string): StoredPolicy => ({ name, spec: spec(tz), specHash: tz, actor: 'admin-bot', createdAt: 't', updatedAt: 't' });

  test('a set without a policy that an unfinished rollout uses is refused, naming both', () => {
    expect(missingPolicyProblems(new Set(['default']), [{ name: 'r1', policy: 'default' }])).toEqual([]);
    expect(missingPolicyProblems(new Set(['default']), [{ name: 'r1', policy: 'old' }, { name: 'r2', policy: 'old' }])).toEqual(['policy "old" is still used by unfinished rollouts r1, r2; keep it until they finish']);
  });

  test('an API-applied policy wins over the file of the same name, also after the files are re-read', () => {
    const set = new PolicySet(files([['default', 'UTC'], ['other', 'UTC']]), [stored('default', 'Europe/Berlin')], 'policies');
    const live = set.live;
    expect(live.get('default')?.timezone).toBe('Europe/Berlin');
    set.replaceFiles(files([['default', 'America/New_York']]));
    // The same map object: the fact source and the publisher hold it.
    expect(set.live).toBe(live);
    expect(live.get('default')?.timezone).toBe('Europe/Berlin');
    expect(live.has('other')).toBe(false);
    expect(set.views().map((v) => [v.name, v.source, v.file])).toEqual([['default', 'api', 'policies/default.yaml']]);
    set.removeApi('default');
    expect(live.get('default')?.timezone).toBe('America/New_York');
  });

  test('names a change would leave: removing an API copy keeps the file of that name', () => {
    const set = new PolicySet(files([['default', 'UTC']]), [stored('default', 'UTC'), stored('freeze', 'UTC')], 'policies');
    expect([...set.namesWith({ remove: 'default' })].sort()).toEqual(['default', 'freeze']);
    expect([...set.namesWith({ remove: 'freeze' })].sort()).toEqual(['default']);
    expect([...set.namesWith({ files: new Map() })].sort()).toEqual(['default', 'freeze']);
  });
});

describe('history and killswitch texts', () => {
  test('history marks the stable version and lists unfinished rollouts last', () => {
    const text = renderHistory({
      channel: 'c',
      stable: { version: '1.0.1', artifact: null, rollout: 'r-101', since: '2026-12-02T10:00:00.000Z' },
      history: [
        { version: '1.0.0', event: 'initial', rollout: null, at: '2026-12-01T09:00:00.000Z', reason: 'previousVersion of r-101' },
        { version: '1.0.1', event: 'stable', rollout: 'r-101', at: '2026-12-02T10:00:00.000Z', reason: 'succeeded' },
        { version: '1.0.2', event: 'rolled-back', rollout: 'r-102', at: '2026-12-02T11:00:00.000Z', reason: 'crashes failed' },
      ],
      rollouts: [
        { name: 'r-101', version: '1.0.1', previousVersion: '1.0.0', phase: 'succeeded' },
        { name: 'r-102', version: '1.0.2', previousVersion: '1.0.1', phase: 'rolled-back' },
        { name: 'r-103', version: '1.0.3', previousVersion: '1.0.1', phase: 'progressing' },
      ],
      manifestRevision: 7,
    });
    expect(text.split('\n')).toEqual([
      'channel c: stable 1.0.1 (r-101, since 2026-12-02 10:00:00Z)',
      '   VERSION  ROLLOUT  OUTCOME      WHEN                  REASON',
      '   1.0.0    -        initial      2026-12-01 09:00:00Z  previousVersion of r-101',
      '*  1.0.1    r-101    succeeded    2026-12-02 10:00:00Z  succeeded',
      '   1.0.2    r-102    rolled-back  2026-12-02 11:00:00Z  crashes failed',
      '   1.0.3    r-103    progressing  -                     not finished',
      '* = the stable version agents get outside a rollout',
    ]);
  });

  test('killswitch says engaged, mode, who, since and why; or that it is not engaged', () => {
    expect(renderKillSwitch({ engaged: true, mode: 'freeze', actor: 'sre-bot', since: '2026-12-02T10:00:00.000Z', reason: 'bad content' })).toBe(
      'kill switch ENGAGED (mode freeze: every rollout holds where it is, none starts or advances)\n  by     sre-bot\n  since  2026-12-02T10:00:00.000Z\n  reason bad content\nrelease: ringctl unkill --reason "..." (role sre)',
    );
    expect(renderKillSwitch({ engaged: false, mode: 'freeze', actor: '', since: null, reason: '' })).toBe('kill switch not engaged (it never was on this controller)');
    expect(renderKillSwitch({ engaged: false, mode: 'freeze', actor: 'sre-bot', since: null, reason: 'all clear' })).toBe('kill switch not engaged (released by sre-bot: all clear)');
  });
});

describe('policy reload bookkeeping', () => {
  test('fileSpecs are the files, also where an API copy overrides one', () => {
    const spec = { timezone: 'UTC', allow: [{ days: ['Mon'], hours: '09:00-16:00' }] } as PolicySpec;
    const set = new PolicySet(new Map([['a', { spec, file: 'p/a.yaml' }]]), [{ name: 'a', spec: { ...spec, timezone: 'Europe/Paris' }, specHash: 'x', actor: 'admin-bot', createdAt: 't', updatedAt: 't' }], 'p');
    expect([...set.fileSpecs().keys()]).toEqual(['a']);
    expect(set.fileSpecs().get('a')?.spec.timezone).toBe('UTC');
    expect(set.live.get('a')?.timezone).toBe('Europe/Paris');
  });
});
