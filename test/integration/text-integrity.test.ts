/**
 * Text integrity over real HTTP against the real Controller (SQLite in a temp dir): every free-text field that
 * reaches storage refuses lone surrogates, NUL and other controls, and bidi overrides, and every body refuses
 * bytes that are not UTF-8 (overlong forms, encoded surrogates, truncated sequences). After all of it nothing was
 * stored and the audit chain still verifies, checked by the server and independently over the entries.
 * The shared check (spec/text.ts) is also exercised directly: the loader's policy lines and the store's guard.
 */
import { parseDocuments } from '../../controller/spec/load';
import { formatSpecError } from '../../controller/spec/errors';
import { assertWellFormed, assertWellFormedDeep, decodeUtf8, printable, textFlaw, TextIntegrityError } from '../../controller/spec/text';
import { AuditChainVerifier, type AuditChainEntry } from '../../controller/store/canonical';
import { expectCleanError, startApi, type Api } from '../helpers/api-harness';
import { rolloutYaml, snapshot } from '../helpers/api-fixtures';
import { openController, type RealController } from '../helpers/api-controller';

const NOT_ONE_LINE = 'must be one line without control characters';
const NOT_TEXT = 'must not contain control characters other than tab and line breaks';
const BIDI = 'must not contain bidirectional control characters, which make text display differently from what it is ("Trojan Source":';
/**
 * Each bad text, as it is placed in the middle of a value (`ab` + it + `cd`), and the exact reason the server must
 * give where one line is expected and where several lines are (null: allowed there).
 */
const BAD: Array<{ what: string; text: string; line: string; multiline: string | null }> = [
  { what: 'lone high surrogate', text: '\ud800', line: 'not well-formed Unicode (lone surrogate U+D800 at character 3)', multiline: 'not well-formed Unicode (lone surrogate U+D800 at character 3)' },
  { what: 'lone low surrogate', text: '\udfff', line: 'not well-formed Unicode (lone surrogate U+DFFF at character 3)', multiline: 'not well-formed Unicode (lone surrogate U+DFFF at character 3)' },
  { what: 'NUL', text: '\u0000', line: `${NOT_ONE_LINE} (U+0000 NUL at character 3)`, multiline: `${NOT_TEXT} (U+0000 NUL at character 3)` },
  { what: 'ESC (terminal escape)', text: '\u001b[31m', line: `${NOT_ONE_LINE} (U+001B ESCAPE at character 3)`, multiline: `${NOT_TEXT} (U+001B ESCAPE at character 3)` },
  { what: 'C1 NEXT LINE', text: '\u0085', line: `${NOT_ONE_LINE} (U+0085 NEXT LINE at character 3)`, multiline: `${NOT_TEXT} (U+0085 NEXT LINE at character 3)` },
  { what: 'line feed', text: '\n', line: `${NOT_ONE_LINE} (U+000A LINE FEED at character 3)`, multiline: null },
  { what: 'RIGHT-TO-LEFT OVERRIDE', text: '\u202e', line: `${BIDI} U+202E RIGHT-TO-LEFT OVERRIDE at character 3)`, multiline: `${BIDI} U+202E RIGHT-TO-LEFT OVERRIDE at character 3)` },
  { what: 'FIRST STRONG ISOLATE', text: '\u2068', line: `${BIDI} U+2068 FIRST STRONG ISOLATE at character 3)`, multiline: `${BIDI} U+2068 FIRST STRONG ISOLATE at character 3)` },
];

/** Bodies that are not UTF-8, each spliced into an otherwise valid body. */
const NOT_UTF8: Array<{ what: string; bytes: number[] }> = [
  { what: 'overlong "/" (C0 AF)', bytes: [0xc0, 0xaf] },
  { what: 'overlong 3-byte NUL (E0 80 80)', bytes: [0xe0, 0x80, 0x80] },
  { what: 'UTF-8-encoded surrogate (ED A0 80)', bytes: [0xed, 0xa0, 0x80] },
  { what: 'truncated euro sign (E2 82)', bytes: [0xe2, 0x82] },
  { what: 'stray continuation byte (80)', bytes: [0x80] },
  { what: 'beyond U+10FFFF (F4 90 80 80)', bytes: [0xf4, 0x90, 0x80, 0x80] },
];

/** A rollout document that the real controller accepts (policy "open" of the test policies). */
function baseDoc(name: string): Record<string, unknown> {
  return {
    apiVersion: 'ringmaster.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name, labels: { team: 'sensor' }, annotations: { note: 'first line' } },
    spec: {
      channel: `c-${name}`, // a channel each: lineage rules between rollouts are not what this file tests
      version: '7.16.291',
      previousVersion: '7.16.290',
      artifact: { url: 'https://updates.example.internal/ti/7.16.291.bin', sha256: 'ab'.repeat(32) },
      policy: 'open',
      rings: [
        { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '30m' },
        { name: 'full', percent: 100, bake: '1h' },
      ],
      analysis: {
        metrics: [{ name: 'crashes', type: 'custom', query: { candidate: 'sum(crashes{version="{{version}}"})', baseline: 'sum(crashes{version="{{baselineVersion}}"})' } }],
      },
    },
  };
}

type Seg = string | number;
/** Every free-text value of a rollout (and the mapping keys users choose), with whether it may span lines. */
const VALUE_FIELDS: Array<{ path: Seg[]; shown: string; multiline: boolean }> = [
  { path: ['metadata', 'name'], shown: 'metadata.name', multiline: false },
  { path: ['metadata', 'labels', 'team'], shown: 'metadata.labels.team', multiline: false },
  { path: ['metadata', 'annotations', 'note'], shown: 'metadata.annotations.note', multiline: true },
  { path: ['spec', 'channel'], shown: 'spec.channel', multiline: false },
  { path: ['spec', 'version'], shown: 'spec.version', multiline: false },
  { path: ['spec', 'previousVersion'], shown: 'spec.previousVersion', multiline: false },
  { path: ['spec', 'artifact', 'url'], shown: 'spec.artifact.url', multiline: false },
  { path: ['spec', 'policy'], shown: 'spec.policy', multiline: false },
  { path: ['spec', 'rings', 0, 'name'], shown: 'spec.rings[0].name', multiline: false },
  { path: ['spec', 'rings', 0, 'selector', 'matchLabels', 'ring'], shown: 'spec.rings[0].selector.matchLabels.ring', multiline: false },
  { path: ['spec', 'rings', 1, 'bake'], shown: 'spec.rings[1].bake', multiline: false },
  { path: ['spec', 'analysis', 'metrics', 0, 'name'], shown: 'spec.analysis.metrics[0].name', multiline: false },
  { path: ['spec', 'analysis', 'metrics', 0, 'query', 'candidate'], shown: 'spec.analysis.metrics[0].query.candidate', multiline: true },
  { path: ['spec', 'analysis', 'metrics', 0, 'query', 'baseline'], shown: 'spec.analysis.metrics[0].query.baseline', multiline: true },
];
/** Mappings whose keys are free text: the key `team`/`note`/`ring` is replaced. */
const KEY_FIELDS: Array<{ parent: Seg[]; key: string; shown: string }> = [
  { parent: ['metadata', 'labels'], key: 'team', shown: 'metadata.labels' },
  { parent: ['metadata', 'annotations'], key: 'note', shown: 'metadata.annotations' },
  { parent: ['spec', 'rings', 0, 'selector', 'matchLabels'], key: 'ring', shown: 'spec.rings[0].selector.matchLabels' },
];

function at(doc: Record<string, unknown>, path: Seg[]): Record<string | number, unknown> {
  let node = doc as Record<string | number, unknown>;
  for (const seg of path) node = node[seg] as Record<string | number, unknown>;
  return node;
}

function withValue(name: string, path: Seg[], value: string): Record<string, unknown> {
  const doc = baseDoc(name);
  if (path.join('.') !== 'metadata.name') at(doc, path.slice(0, -1))[path[path.length - 1] as Seg] = value;
  else (doc.metadata as Record<string, unknown>).name = value;
  return doc;
}

function withKey(name: string, parent: Seg[], key: string, newKey: string): Record<string, unknown> {
  const doc = baseDoc(name);
  const map = at(doc, parent);
  map[newKey] = map[key];
  delete map[key];
  return doc;
}

/** Where a string sits in the pretty JSON text: its first occurrence (line and column of the opening quote). */
function positionIn(text: string, needle: string): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in the document`);
  return `${i + 1}:${(lines[i] as string).indexOf(needle) + 1}`;
}

/** A control or bidi character as it was sent: a response must never carry one raw (lone surrogates arrive escaped by JSON). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must not appear
const UNSAFE_RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('text integrity over HTTP (real controller, real SQLite)', () => {
  let rc: RealController;
  let api: Api;
  const existing = 'ti-existing';
  let before = '';

  const post = (path: string, body: string | Buffer, contentType: string, token: string): Promise<Response> =>
    fetch(`${api.url}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': contentType }, body });

  beforeAll(async () => {
    rc = await openController();
    api = await startApi(rc.controller, { server: { failedAuthLimit: { perMinute: 1000, burst: 1000, maxClients: 10 } } });
    const created = await post('/v1/rollouts', rolloutYaml(existing, 'ti-existing-ch', { approvalFirst: true }), 'application/yaml', api.tokens.deployer as string);
    expect(created.status).toBe(201);
    // A few well-formed changes in the log first, so that "still verifies" is about a real chain.
    const paused = await post(`/v1/rollouts/${existing}/pause`, JSON.stringify({ reason: 'pausing: sensor team 💥 ok' }), 'application/json', api.tokens.sre as string);
    expect(paused.status).toBe(200);
    before = snapshot(rc.controller, ['ti-existing-ch']);
  });
  afterAll(async () => {
    await api.close();
    await rc.close();
  });

  test.each(['pause', 'resume', 'approve', 'abort', 'rollback'])('%s: every bad reason is a 400 naming the field, the character and its position', async (verb) => {
    const token = (verb === 'approve' ? api.tokens.approver : api.tokens.sre) as string;
    for (const bad of BAD) {
      const res = await post(`/v1/rollouts/${existing}/${verb}`, JSON.stringify({ reason: `ab${bad.text}cd` }), 'application/json', token);
      const text = await res.text();
      expect([bad.what, res.status]).toEqual([bad.what, 400]);
      const e = expectCleanError(text, 400);
      expect(e.code).toBe('invalid_request');
      expect(e.message).toBe(`reason: ${bad.line}`);
      expect(UNSAFE_RAW.test(text)).toBe(false);
    }
  });

  test('the kill switch: every bad reason is a 400, and the switch stays where it was', async () => {
    for (const bad of BAD) {
      const res = await post('/v1/killswitch', JSON.stringify({ engaged: true, mode: 'freeze', reason: `ab${bad.text}cd` }), 'application/json', api.tokens.sre as string);
      const e = expectCleanError(await res.text(), res.status);
      expect([bad.what, res.status, e.code]).toEqual([bad.what, 400, 'invalid_request']);
      expect(e.message).toBe(`reason: ${bad.line}`);
    }
    expect(rc.controller.getKillSwitch().engaged).toBe(false);
  });

  test('the case measured on main: pause with "\\ud800" in the reason is a 400; the rollout runs on, the chain verifies', async () => {
    // On main this was a 200, and from then on the audit chain reported "content does not match its hash".
    const created = await post('/v1/rollouts', rolloutYaml('ti-measured', 'ti-measured-ch'), 'application/yaml', api.tokens.deployer as string);
    expect(created.status).toBe(201);
    const phase = rc.controller.getRollout('ti-measured')?.phase.kind;
    const entries = rc.controller.listAudit({ limit: 1000 }).length;
    const body = '{"reason":"ab\\ud800"}'; // the JSON escape, exactly as a client sends it
    const res = await post('/v1/rollouts/ti-measured/pause', body, 'application/json', api.tokens.sre as string);
    expect(res.status).toBe(400);
    expect(expectCleanError(await res.text(), 400).message).toBe('reason: not well-formed Unicode (lone surrogate U+D800 at character 3)');
    expect(rc.controller.getRollout('ti-measured')?.phase.kind).toBe(phase);
    expect(rc.controller.listAudit({ limit: 1000 })).toHaveLength(entries);
    expect(rc.controller.verifyAudit()).toMatchObject({ ok: true });
  });

  test('bodies that are not UTF-8 are a 400 before parsing, on every route with a body', async () => {
    const routes: Array<{ path: string; contentType: string; token: string; head: string; tail: string }> = [
      { path: `/v1/rollouts/${existing}/pause`, contentType: 'application/json', token: api.tokens.sre as string, head: '{"reason":"ab', tail: 'cd"}' },
      { path: '/v1/killswitch', contentType: 'application/json', token: api.tokens.sre as string, head: '{"engaged":true,"reason":"ab', tail: 'cd"}' },
      { path: '/v1/rollouts', contentType: 'application/yaml', token: api.tokens.deployer as string, head: rolloutYaml('ti-bytes', 'ti-bytes-ch').replace('name: ti-bytes', 'name: ti-bytes\n  labels:\n    team: ab'), tail: 'cd\n' },
      { path: '/v1/rollouts', contentType: 'application/json', token: api.tokens.deployer as string, head: JSON.stringify(baseDoc('ti-bytes-json')).replace('"sensor"', '"ab'), tail: 'cd"}' },
    ];
    for (const r of routes) {
      for (const bad of NOT_UTF8) {
        const head = Buffer.from(r.head, 'utf8');
        const body = Buffer.concat([head, Buffer.from(bad.bytes), Buffer.from(r.tail, 'utf8')]);
        const res = await post(r.path, body, r.contentType, r.token);
        const e = expectCleanError(await res.text(), res.status);
        expect([r.path, bad.what, res.status, e.code]).toEqual([r.path, bad.what, 400, 'malformed_body']);
        expect(e.message).toMatch(/^the body is not valid UTF-8 \(byte 0x[0-9A-F]{2} at offset \d+ does not start or continue a well-formed sequence\)$/);
        // The offset points into the spliced bytes: the lead byte, or the continuation that breaks the sequence.
        const offset = Number(/at offset (\d+)/.exec(e.message)?.[1]);
        expect(offset).toBeGreaterThanOrEqual(head.length);
        expect(offset).toBeLessThan(head.length + bad.bytes.length + 1);
      }
    }
  });

  test('every free-text value of a rollout: a 422 whose lines are the loader\'s request:LINE:COL path: reason', async () => {
    let n = 0;
    for (const field of VALUE_FIELDS) {
      for (const bad of BAD) {
        const name = `ti-value-${++n}`;
        const value = `ab${bad.text}cd`;
        const text = JSON.stringify(withValue(name, field.path, value), null, 2);
        for (const contentType of ['application/json', 'application/yaml']) {
          const res = await post('/v1/rollouts', text, contentType, api.tokens.deployer as string);
          const body = await res.text();
          if (field.multiline && bad.multiline === null) {
            // A line break where several lines are expected is fine: accepted and stored as sent.
            expect([field.shown, bad.what, res.status]).toEqual([field.shown, bad.what, contentType === 'application/json' ? 201 : 200]);
            continue;
          }
          expect([field.shown, bad.what, contentType, res.status]).toEqual([field.shown, bad.what, contentType, 422]);
          const e = expectCleanError(body, 422);
          expect(e.code).toBe('invalid_rollout');
          const details = (JSON.parse(body) as { error: { details: string[] } }).error.details;
          const reason = field.multiline ? bad.multiline : bad.line;
          const expected = `request:${positionIn(text, JSON.stringify(value))} ${field.shown}: ${reason as string}`;
          expect([field.shown, bad.what, details.includes(expected) ? 'found' : details]).toEqual([field.shown, bad.what, 'found']);
          expect(UNSAFE_RAW.test(body)).toBe(false);
        }
      }
    }
  });

  test('every free-text mapping key of a rollout (labels, annotations, selector labels) is checked too', async () => {
    let n = 0;
    for (const field of KEY_FIELDS) {
      for (const bad of BAD) {
        const key = `ab${bad.text}cd`;
        const text = JSON.stringify(withKey(`ti-key-${++n}`, field.parent, field.key, key), null, 2);
        const res = await post('/v1/rollouts', text, 'application/json', api.tokens.deployer as string);
        const body = await res.text();
        expect([field.shown, bad.what, res.status]).toEqual([field.shown, bad.what, 422]);
        const details = (JSON.parse(body) as { error: { details: string[] } }).error.details;
        const prefix = `request:${positionIn(text, JSON.stringify(key))} ${field.shown}[`;
        const line = details.find((d) => d.startsWith(prefix) && d.includes(': key '));
        expect([field.shown, bad.what, line === undefined ? details : 'found']).toEqual([field.shown, bad.what, 'found']);
        expect(line?.endsWith(`: key ${bad.line}`)).toBe(true);
        // The key is quoted in the path with its bad character escaped, never echoed raw.
        expect(UNSAFE_RAW.test(body)).toBe(false);
      }
    }
  });

  test('YAML escapes reach the same check: "\\ud800", "\\x00", "\\e" and a raw U+202E, at their line and column', async () => {
    const cases: Array<{ value: string; reason: string }> = [
      { value: '"ab\\ud800cd"', reason: 'not well-formed Unicode (lone surrogate U+D800 at character 3)' },
      { value: '"ab\\x00cd"', reason: `${NOT_ONE_LINE} (U+0000 NUL at character 3)` },
      { value: '"ab\\e[31mcd"', reason: `${NOT_ONE_LINE} (U+001B ESCAPE at character 3)` },
      { value: 'ab\u202ecd', reason: `${BIDI} U+202E RIGHT-TO-LEFT OVERRIDE at character 3)` },
    ];
    for (const [i, c] of cases.entries()) {
      const yaml = rolloutYaml(`ti-yaml-${i}`, 'ti-yaml-ch').replace(/^( {2}name: .*)$/m, `$1\n  labels:\n    team: ${c.value}`);
      const res = await post('/v1/rollouts', yaml, 'application/yaml', api.tokens.deployer as string);
      const body = await res.text();
      expect(res.status).toBe(422);
      const details = (JSON.parse(body) as { error: { details: string[] } }).error.details;
      // Line 6 (after apiVersion, kind, metadata, name, labels), column 11 (after "    team: ").
      expect(details).toEqual([`request:6:11 metadata.labels.team: ${c.reason}`]);
    }
  });

  test('rollout names in the URL: NUL, bidi and encoded surrogates are a 400, never a lookup', async () => {
    for (const name of ['a%00b', 'a%E2%80%AEb', 'a%ED%A0%80b', 'a%C0%AFb', '%F0%9F%92%A5']) {
      for (const verb of ['pause', 'abort']) {
        const res = await post(`/v1/rollouts/${name}/${verb}`, '{}', 'application/json', api.tokens.sre as string);
        expect([name, verb, res.status]).toEqual([name, verb, 400]);
        expectCleanError(await res.text(), 400);
      }
      const get = await fetch(`${api.url}/v1/rollouts/${name}`, { headers: { Authorization: `Bearer ${api.tokens.viewer as string}` } });
      expect([name, get.status]).toEqual([name, 400]);
    }
  });

  test('after all of it: nothing was stored, and the audit chain verifies (server and independent check)', async () => {
    // Drop the rollouts that the multi-line cases created on purpose (accepted with a line break), then compare.
    const after = JSON.parse(snapshot(rc.controller, ['ti-existing-ch'])) as { rollouts: Array<{ name: string }>; audit: Array<{ target: string }>; killSwitch: unknown; manifests: unknown[] };
    const accepted = new Set(after.rollouts.map((r) => r.name).filter((n) => n.startsWith('ti-value-')));
    const measured = new Set(['ti-measured', 'ti-measured-ch']);
    const wanted = JSON.parse(before) as typeof after;
    expect(accepted.size).toBe(VALUE_FIELDS.filter((f) => f.multiline).length); // one per multi-line field: its line-feed case
    const kept = {
      ...after,
      rollouts: after.rollouts.filter((r) => !accepted.has(r.name) && !measured.has(r.name)),
      audit: after.audit.filter((e) => !accepted.has(e.target.replace(/^channel\/c-/, '')) && !measured.has(e.target.replace(/^channel\//, ''))),
    };
    expect(kept).toEqual(wanted);

    const verify = await fetch(`${api.url}/v1/audit/verify`, { headers: { Authorization: `Bearer ${api.tokens.viewer as string}` } });
    const v = (await verify.json()) as { ok: boolean; entries: number };
    expect(v).toMatchObject({ ok: true });
    const list = await fetch(`${api.url}/v1/audit?limit=1000`, { headers: { Authorization: `Bearer ${api.tokens.viewer as string}` } });
    const entries = ((await list.json()) as { entries: AuditChainEntry[] }).entries;
    const chain = new AuditChainVerifier();
    for (const e of entries) chain.add(e);
    expect(chain.result()).toMatchObject({ ok: true, entries: v.entries });
    // The well-formed non-ASCII reason round-trips exactly.
    expect(entries.some((e) => e.reason === 'pausing: sensor team 💥 ok')).toBe(true);
  });

  test('well-formed text is stored exactly: emoji, accents, CJK, and a multi-line annotation', async () => {
    const doc = baseDoc('ti-well-formed');
    (doc.metadata as { labels: Record<string, string>; annotations: Record<string, string> }).labels.team = 'capteurs-équipe-传感器-💥';
    (doc.metadata as { annotations: Record<string, string> }).annotations.note = 'line one\nline two\n\tindented';
    const res = await post('/v1/rollouts', JSON.stringify(doc), 'application/json', api.tokens.deployer as string);
    expect(res.status).toBe(201);
    const got = rc.controller.getRollout('ti-well-formed');
    expect(got?.spec.metadata).toEqual(doc.metadata);
    expect(rc.controller.verifyAudit()).toMatchObject({ ok: true });
  });
});

describe('the shared check (spec/text.ts)', () => {
  test('the loader gives policy documents the same lines (freeze reasons, tenant names)', () => {
    const policy = [
      'apiVersion: ringmaster.dev/v1alpha1',
      'kind: Policy',
      'metadata:',
      '  name: p',
      'spec:',
      '  timezone: UTC',
      '  allow:',
      '    - days: [Mon]',
      '      hours: "09:00-16:00"',
      '  freezes:',
      '    - from: 2026-12-19T00:00:00',
      '      to: 2027-01-04T09:00:00',
      '      reason: "year-end \\u202efreeze"',
      '  tenants:',
      '    - name: "hospital\\0"',
      '      defer: last-ring',
      '',
    ].join('\n');
    const r = parseDocuments(policy, 'policies/p.yaml');
    expect(r.docs).toEqual([]);
    expect(r.errors.map(formatSpecError)).toEqual([
      'policies/p.yaml:13:15 spec.freezes[0].reason: must not contain bidirectional control characters, which make text display differently from what it is ("Trojan Source": U+202E RIGHT-TO-LEFT OVERRIDE at character 10)',
      'policies/p.yaml:15:13 spec.tenants[0].name: must be one line without control characters (U+0000 NUL at character 9)',
    ]);
  });

  test('assertWellFormed (for the audit append path) refuses lone surrogates only, naming the field', () => {
    expect(() => assertWellFormed('pause \ud83d\udca5 ok', 'reason')).not.toThrow();
    expect(() => assertWellFormed('halted\nmetric crashes: 3 > 1\t(x)', 'reason')).not.toThrow();
    expect(() => assertWellFormed('ab\ud800', 'reason')).toThrow(new TextIntegrityError('reason', 'not well-formed Unicode (lone surrogate U+D800 at character 3)'));
    let caught: unknown;
    try {
      assertWellFormedDeep({ channel: 'c', nested: [{ ok: 'x' }, { bad: '\udc00' }] }, 'payload');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TextIntegrityError);
    expect((caught as TextIntegrityError).message).toBe('payload.nested[1].bad: not well-formed Unicode (lone surrogate U+DC00 at character 1)');
    expect(() => assertWellFormedDeep({ ['k\ud800']: 1 }, 'payload')).toThrow(/payload\.k\\u\{D800\} \(a key\): not well-formed/);
  });

  test('textFlaw: positions count characters, a surrogate pair is one character', () => {
    expect(textFlaw('💥💥\u202e')).toMatch(/at character 3\)$/);
    expect(textFlaw('💥\ud83d')).toBe('not well-formed Unicode (lone surrogate U+D83D at character 2)');
    expect(textFlaw('tab\there', 'multiline')).toBeUndefined();
    expect(textFlaw('tab\there')).toBe('must be one line without control characters (U+0009 TAB at character 4)');
    expect(textFlaw('a\u2028b')).toMatch(/U\+2028 LINE SEPARATOR at character 2/);
    expect(textFlaw('plain ascii, accents é, CJK 传感器')).toBeUndefined();
  });

  test('decodeUtf8 names the first bad byte; printable escapes what would rearrange a terminal line', () => {
    expect(decodeUtf8(Buffer.from('héllo 💥'))).toEqual({ ok: true, text: 'héllo 💥' });
    expect(decodeUtf8(Buffer.from([0x61, 0xc0, 0xaf]))).toMatchObject({ ok: false, offset: 1 });
    expect(decodeUtf8(Buffer.from([0x61, 0xed, 0xa0, 0x80]))).toMatchObject({ ok: false, offset: 2 });
    expect(decodeUtf8(Buffer.from([0x61, 0x62, 0xe2, 0x82]))).toMatchObject({ ok: false, offset: 4, message: 'not valid UTF-8 (end of data at offset 4 does not start or continue a well-formed sequence)' });
    expect(printable('a\u202eb\u0000c\ud800d💥')).toBe('a\\u{202E}b\\u{0000}c\\u{D800}d💥');
  });
});
