/**
 * The malformed inputs of part 2 of make soak: every case of test/helpers/api-fuzz.ts (generateCases,
 * hugeCases), then seeded cases of the families below until the requested total:
 *   YAML rollouts with wrong types, missing fields, huge numbers, deep nesting, bad UTF-8, lone surrogates,
 *   NUL, duplicate keys, wrong Content-Type, truncated bodies (framed, and shorter than announced);
 *   headers (X-Request-Id, If-None-Match, oversize); paths and query strings; verbs on unknown rollouts;
 *   kill-switch bodies.
 * Every case is built so that it cannot change state whatever the server decides: a rollout body keeps the
 * name of an existing rollout (so even a document that happens to be valid is a 409: rollouts are immutable),
 * a verb either targets an unknown rollout or carries a body the API must refuse, a kill-switch body is
 * invalid in a field checked before the reason. `may2xx` marks the reads for which a 2xx is a correct answer
 * (an If-None-Match that parses, a query string a route ignores); `mayClose` the bodies shorter than their
 * Content-Length, where closing the connection without an answer is correct. Bad credentials go `last`:
 * the failed-auth limiter would otherwise turn later cases into 429s.
 */
import { parse as parseYaml, stringify } from 'yaml';
import { generateCases, hugeCases, request, rng, type FuzzCase, type FuzzTargets } from '../../test/helpers/api-fuzz';

export interface SoakCase extends FuzzCase {
  family: string;
  may2xx?: boolean;
  mayClose?: boolean;
  last?: boolean;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = Array<string | number>;

const YAML_TYPES = ['application/yaml', 'text/yaml', 'application/x-yaml'];
const VERBS = ['pause', 'resume', 'approve', 'abort', 'rollback'] as const;

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

function paths(value: Json, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function setAt(root: Json, path: Path, value: Json | undefined): Json {
  const copy = structuredClone(root);
  if (path.length === 0) return value ?? null;
  let cur = copy as Record<string | number, Json>;
  for (const seg of path.slice(0, -1)) cur = cur[seg] as Record<string | number, Json>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) {
    if (Array.isArray(cur)) cur.splice(Number(last), 1);
    else delete cur[last];
  } else cur[last] = value;
  return copy;
}

const isNamePath = (p: Path): boolean => p.length === 2 && p[0] === 'metadata' && p[1] === 'name';

function insertBytes(text: Buffer, at: number, bytes: Buffer): Buffer {
  return Buffer.concat([text.subarray(0, at), bytes, text.subarray(at)]);
}

const BAD_UTF8: readonly number[][] = [
  [0xff],
  [0xfe],
  [0x80],
  [0xc0, 0xaf], // overlong '/'
  [0xe0, 0x80, 0xaf], // overlong '/'
  [0xed, 0xa0, 0x80], // an encoded surrogate
  [0xed, 0xbf, 0xbf],
  [0xe2, 0x82], // truncated sequence
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0xf8, 0x88, 0x80, 0x80, 0x80], // 5-byte form
  [0xc3], // lead byte at the end of a token
];
const LONE_SURROGATES = ['\\ud800', '\\udfff', '\\ud83d', 'x\\ude00\\ud83dx', '\\udbff\\udbff'];
const HUGE_NUMBERS = ['1e400', '-1e400', '99999999999999999999999999', '1e308', '-0', '9007199254740993', '4294967296', '1e-400', '123456789012345678901234567890.5', '-9223372036854775809'];
const HUGE_YAML_ONLY = ['.inf', '-.inf', '.nan', '0x7fffffffffffffff', '0o777777777777777777777', '1_000_000_000_000_000_000'];
const WRONG_VALUES: Json[] = [null, 0, -1, 2.5, true, '', ' ', '\t', 'x'.repeat(3000), [], [[]], {}, { nested: { deeper: [1, 'two'] } }, ['a', 1, null], '2.0.0', 'true', 'null', '~'];

export function generateSoakCases(seed: number, t: FuzzTargets, total: number, maxBodyBytes: number): SoakCase[] {
  const r = rng(seed ^ 0x50a4);
  const base: SoakCase[] = [
    ...generateCases(seed, t).map((c) => ({ ...c, family: `api-fuzz: ${familyOfBase(c.name)}`, last: c.name.startsWith('bad authorization') })),
    ...hugeCases(t, maxBodyBytes).map((c) => ({ ...c, family: 'api-fuzz: body over the limit' })),
  ];
  if (total < base.length) {
    // A quick run: a seeded sample of the api-fuzz cases, and a share of the families below.
    for (let i = base.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [base[i], base[j]] = [base[j] as SoakCase, base[i] as SoakCase];
    }
    base.length = Math.floor(total / 4);
  }
  const doc = JSON.parse(JSON.stringify(parseYaml(t.existingYaml))) as Json;
  const docPaths = paths(doc).filter((p) => p.length > 0);
  const leafPaths = docPaths.filter((p) => {
    let cur: Json = doc;
    for (const s of p) cur = (cur as Record<string | number, Json>)[s] as Json;
    return cur === null || typeof cur !== 'object';
  });
  const stringLeaves = leafPaths.filter((p) => {
    let cur: Json = doc;
    for (const s of p) cur = (cur as Record<string | number, Json>)[s] as Json;
    return typeof cur === 'string';
  });
  const deployer = `Bearer ${t.tokens.deployer}`;
  const sre = `Bearer ${t.tokens.sre}`;
  const viewer = `Bearer ${t.tokens.viewer}`;
  const approver = `Bearer ${t.tokens.approver}`;
  const tokenFor = (verb: string): string => (verb === 'approve' ? approver : sre);
  const rollout = (body: Buffer | string, ct = pick(r, YAML_TYPES), extra: Record<string, string | Buffer> = {}): Buffer =>
    request('POST', '/v1/rollouts', { Authorization: deployer, 'Content-Type': ct, ...extra }, body);
  const asYaml = (d: Json): string => stringify(d, { lineWidth: 0 });
  const asText = (d: Json, yaml: boolean): string => (yaml ? asYaml(d) : JSON.stringify(d));
  const unknownName = (): string => `nx-${Math.floor(r() * 1e9).toString(36)}${r() < 0.3 ? '.v2' : ''}`;

  const families: Array<[string, number, () => SoakCase]> = [
    [
      'rollout: wrong type (YAML)',
      12,
      () => {
        const p = pick(r, docPaths);
        let v = pick(r, WRONG_VALUES);
        if (isNamePath(p) && typeof v === 'string') v = 42;
        // A value equal to the one there would leave the document as it is (a 200 unchanged): use another.
        if (JSON.stringify(getAt(doc, p)) === JSON.stringify(v)) v = 42;
        return { family: 'rollout: wrong type (YAML)', name: `yaml ${p.join('.')} = ${JSON.stringify(v)?.slice(0, 20)}`, raw: rollout(asYaml(setAt(doc, p, v))) };
      },
    ],
    [
      'rollout: missing field',
      8,
      () => {
        const p = pick(r, docPaths.filter((x) => !isNamePath(x) && !(x.length === 1 && x[0] === 'metadata')));
        const yaml = r() < 0.5;
        return { family: 'rollout: missing field', name: `missing ${p.join('.')}`, raw: rollout(asText(setAt(doc, p, undefined), yaml), yaml ? undefined : 'application/json') };
      },
    ],
    [
      'rollout: huge number',
      8,
      () => {
        const p = pick(r, leafPaths);
        const yaml = r() < 0.5;
        const num = yaml ? pick(r, [...HUGE_NUMBERS, ...HUGE_YAML_ONLY]) : pick(r, HUGE_NUMBERS);
        const text = asText(setAt(doc, p, '__SOAK_NUMBER__'), yaml).replace(yaml ? /__SOAK_NUMBER__/ : /"__SOAK_NUMBER__"/, num);
        return { family: 'rollout: huge number', name: `${p.join('.')} = ${num}`, raw: rollout(text, yaml ? undefined : 'application/json') };
      },
    ],
    [
      'rollout: deep nesting',
      3,
      () => {
        const depth = pick(r, [64, 512, 4096, 20_000, 60_000]);
        const p = pick(r, docPaths);
        const yaml = r() < 0.5;
        const nest = r() < 0.5 ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
        const text = asText(setAt(doc, p, '__SOAK_NEST__'), yaml).replace(yaml ? /__SOAK_NEST__/ : /"__SOAK_NEST__"/, nest);
        return { family: 'rollout: deep nesting', name: `${p.join('.')} nested ${depth}`, raw: rollout(text, yaml ? undefined : 'application/json') };
      },
    ],
    [
      'rollout: bad UTF-8',
      8,
      () => {
        const yaml = r() < 0.6;
        const text = Buffer.from(asText(doc, yaml), 'utf8');
        const bytes = Buffer.from(pick(r, BAD_UTF8));
        const at = Math.floor(r() * text.length);
        return { family: 'rollout: bad UTF-8', name: `bytes ${bytes.toString('hex')} at ${at}`, raw: rollout(insertBytes(text, at, bytes), yaml ? undefined : 'application/json') };
      },
    ],
    [
      'rollout: lone surrogate',
      6,
      () => {
        const p = pick(r, stringLeaves);
        const s = pick(r, LONE_SURROGATES);
        const yaml = r() < 0.4;
        // JSON escapes, or a YAML double-quoted scalar with the same escapes: a string the parser builds with a lone surrogate.
        const text = yaml
          ? asYaml(setAt(doc, p, '__SOAK_S__')).replace(/__SOAK_S__/, `"a${s}b"`)
          : JSON.stringify(setAt(doc, p, '__SOAK_S__')).replace(/__SOAK_S__/, `a${s}b`);
        return { family: 'rollout: lone surrogate', name: `${p.join('.')} = a${s}b`, raw: rollout(text, yaml ? undefined : 'application/json') };
      },
    ],
    [
      'rollout: NUL',
      5,
      () => {
        if (r() < 0.5) {
          const text = Buffer.from(asYaml(doc), 'utf8');
          const at = Math.floor(r() * text.length);
          return { family: 'rollout: NUL', name: `raw NUL at ${at}`, raw: rollout(insertBytes(text, at, Buffer.from([0]))) };
        }
        const p = pick(r, stringLeaves);
        const text = JSON.stringify(setAt(doc, p, '__SOAK_S__')).replace(/__SOAK_S__/, 'a\\u0000b');
        return { family: 'rollout: NUL', name: `${p.join('.')} with \\u0000`, raw: rollout(text, 'application/json') };
      },
    ],
    [
      'rollout: duplicate keys',
      6,
      () => {
        const yaml = r() < 0.5;
        const p = pick(r, leafPaths.filter((x) => typeof x[x.length - 1] === 'string' && !isNamePath(x)));
        const key = String(p[p.length - 1]);
        const value: Json = pick(r, ['9.9.9', 'other-channel', 77, 'x', null]);
        if (yaml) {
          // The same key twice in one mapping: once as it was, once with another value.
          const text = asYaml(setAt(doc, p, '__SOAK_DUP__')).replace(/^([ ]*)(- )?([^\n]*?)__SOAK_DUP__$/m, (_m, indent: string, dash: string | undefined, head: string) => {
            const original = JSON.stringify(getAt(doc, p));
            const pad = dash ? `${indent}  ` : indent;
            return `${indent}${dash ?? ''}${head}${original}\n${pad}${key}: ${JSON.stringify(value)}`;
          });
          return { family: 'rollout: duplicate keys', name: `yaml duplicate ${p.join('.')}`, raw: rollout(text) };
        }
        const text = JSON.stringify(setAt(doc, p, '__SOAK_DUP__')).replace(/"__SOAK_DUP__"/, `${JSON.stringify(getAt(doc, p))},${JSON.stringify(key)}:${JSON.stringify(value)}`);
        return { family: 'rollout: duplicate keys', name: `json duplicate ${p.join('.')}`, raw: rollout(text, 'application/json') };
      },
    ],
    [
      'rollout: wrong Content-Type',
      5,
      () => {
        const ct = pick(r, [
          'text/plain',
          'application/xml',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=soak',
          'application/json; charset=utf-16',
          'application/yaml; charset=latin1',
          'application/yaml; charset=',
          'application/yaml;;',
          'application/yaml; charset="utf-8',
          'yaml',
          'application/octet-stream',
          'APPLICATION/YAML; charset=ISO-8859-1',
          `application/${'y'.repeat(300)}`,
          'text/yaml\u00ff',
        ]);
        const body = asText(setAt(doc, ['spec', 'version'], '9.9.9'), r() < 0.5);
        return { family: 'rollout: wrong Content-Type', name: `content type ${ct.slice(0, 40)}`, raw: rollout(body, ct) };
      },
    ],
    [
      'rollout: truncated',
      6,
      () => {
        const yaml = r() < 0.5;
        const text = Buffer.from(asText(doc, yaml), 'utf8');
        const cut = 1 + Math.floor(r() * (text.length - 20));
        const ct = yaml ? pick(r, YAML_TYPES) : 'application/json';
        const x = r();
        if (x < 0.6) return { family: 'rollout: truncated', name: `cut at ${cut} of ${text.length}`, raw: rollout(text.subarray(0, cut), ct) };
        if (x < 0.85) {
          // Announces more than it sends, then half-closes: a 400 or a closed connection are both right.
          const raw = request('POST', '/v1/rollouts', { Authorization: deployer, 'Content-Type': ct, 'Content-Length': String(text.length) }, text.subarray(0, cut));
          return { family: 'rollout: truncated', name: `announced ${text.length}, sent ${cut}`, raw, mayClose: true };
        }
        const chunk = text.subarray(0, cut);
        const raw = request('POST', '/v1/rollouts', { Authorization: deployer, 'Content-Type': ct, 'Transfer-Encoding': 'chunked' }, Buffer.concat([Buffer.from(`${(chunk.length + 100).toString(16)}\r\n`), chunk]));
        return { family: 'rollout: truncated', name: `chunk of ${chunk.length + 100} announced, ${cut} sent`, raw, mayClose: true };
      },
    ],
    [
      'header: X-Request-Id',
      4,
      () => {
        const x = r();
        const value =
          x < 0.3
            ? Buffer.from(Array.from({ length: 1 + Math.floor(r() * 60) }, () => 0x21 + Math.floor(r() * 0xde)).filter((b) => b !== 0x7f))
            : x < 0.5
              ? Buffer.from('r'.repeat(129 + Math.floor(r() * 4000)))
              : x < 0.7
                ? Buffer.from(pick(r, ['a b', 'a\tb', '', ' ', 'id/../x', 'id;drop', '<script>', '\u00e9t\u00e9', 'id"quote']), 'latin1')
                : Buffer.from(`ok-${Math.floor(r() * 1e6)}`);
        const dup = x >= 0.7; // a well-formed id sent twice: malformed as a whole
        const headers: Record<string, string | Buffer> = { 'X-Request-Id': value, Authorization: viewer };
        if (dup) headers['x-request-id'] = value;
        const target = pick(r, [`/v1/channels/${t.channel}/manifest`, '/v1/rollouts', `/v1/rollouts/${t.existing}`, '/v1/killswitch', '/healthz']);
        const valid = !dup && /^[A-Za-z0-9._:-]{1,128}$/.test(value.toString('latin1'));
        return { family: 'header: X-Request-Id', name: `X-Request-Id ${value.toString('latin1').slice(0, 30)}${dup ? ' (twice)' : ''} on ${target}`, raw: request('GET', target, headers), may2xx: valid };
      },
    ],
    [
      'header: If-None-Match',
      4,
      () => {
        const x = r();
        const value =
          x < 0.3
            ? Array.from({ length: 1 + Math.floor(r() * 40) }, () => String.fromCharCode(0x20 + Math.floor(r() * 0x5f))).join('')
            : x < 0.5
              ? Array.from({ length: 200 + Math.floor(r() * 2000) }, (_, i) => `"r${i}"`).join(', ')
              : x < 0.7
                ? `"${'e'.repeat(5000 + Math.floor(r() * 3000))}"`
                : pick(r, ['"r1', 'r1"', 'W/"r1', '"r1",', ',', '"r1" "r2"', 'W/ "r1"', '"\u0080"', '*, "r1"', '"r1";q=1']);
        return { family: 'header: If-None-Match', name: `If-None-Match ${value.slice(0, 30)}`, raw: request('GET', `/v1/channels/${t.channel}/manifest`, { 'If-None-Match': Buffer.from(value, 'latin1') }), may2xx: true };
      },
    ],
    [
      'header: oversize',
      2,
      () => {
        const x = r();
        const method = r() < 0.5 ? 'GET' : 'POST';
        const headers: Record<string, string | Buffer> = { Authorization: method === 'GET' ? viewer : sre };
        if (x < 0.4) headers['X-Soak-Big'] = 'b'.repeat(17_000 + Math.floor(r() * 100_000));
        else if (x < 0.7) for (let i = 0; i < 300 + Math.floor(r() * 300); i++) headers[`X-Soak-${i}`] = 'v'.repeat(60);
        else headers.Cookie = 'c='.concat('k'.repeat(20_000 + Math.floor(r() * 20_000)));
        const target = method === 'GET' ? pick(r, ['/v1/rollouts', `/v1/channels/${t.channel}/manifest`]) : '/v1/killswitch';
        const body = method === 'POST' ? '{"engaged":"maybe","reason":"oversize"}' : undefined;
        if (body) headers['Content-Type'] = 'application/json';
        return { family: 'header: oversize', name: `oversize headers (${x < 0.4 ? 'one big' : x < 0.7 ? 'many' : 'cookie'}) ${method} ${target}`, raw: request(method, target, headers, body), may2xx: method === 'GET' };
      },
    ],
    [
      'path and query',
      10,
      () => {
        const segs = ['v1', 'rollouts', 'channels', 'manifest', 'killswitch', 'audit', 'verify', 'signing-key', t.existing, t.channel, '..', '.', '%2e%2e', '%2E', '%00', '%ff', '%', '%zz', '%252e%252e', ';', '\\', '*', '~', 'x'.repeat(300), '%F0%9F%92%A5', '%C0%AF', '%ED%A0%80', 'pause', 'approve', ''];
        const n = 1 + Math.floor(r() * 5);
        let p = `/${Array.from({ length: n }, () => pick(r, segs)).join('/')}`;
        if (r() < 0.1) p = pick(r, ['*', 'http://127.0.0.1/v1/rollouts', '//v1/rollouts', `/v1/rollouts/${t.existing}/../..`, '/v1/rollouts#frag', '/v1/channels/%2F/manifest']);
        if (r() < 0.6) {
          const keys = ['limit', 'after', '__proto__', 'constructor', 'a[b]', 'a[]', 'x', '', '%00', 'limit', 'prototype'];
          const vals = ['1', '-1', '1e9', '', 'abc', '%00', '%ff', 'x'.repeat(2000), '[]', '{}', '1&1', 'null'];
          p += `?${Array.from({ length: 1 + Math.floor(r() * 4) }, () => `${pick(r, keys)}=${pick(r, vals)}`).join('&')}`;
        }
        const method = pick(r, ['GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
        const read = method === 'GET' || method === 'HEAD';
        const auth = pick(r, [viewer, sre, deployer]);
        // A body every write route refuses (an unknown field), so that a route reached by a strange path changes nothing.
        const raw = read ? request(method, p, { Authorization: auth }) : request(method, p, { Authorization: auth, 'Content-Type': 'application/json' }, '{"soakUnknownField":1}');
        return { family: 'path and query', name: `${method} ${p.slice(0, 80)}`, raw, may2xx: read };
      },
    ],
    [
      'verb on an unknown rollout',
      8,
      () => {
        const verb = pick(r, VERBS);
        const name = unknownName();
        const x = r();
        const reason =
          x < 0.4 ? '"soak: no such rollout"' : x < 0.6 ? `"${pick(r, LONE_SURROGATES)}"` : x < 0.7 ? '"nul\\u0000"' : x < 0.8 ? '"\\u202eevil"' : x < 0.9 ? `"${'r'.repeat(600)}"` : '1';
        const body = r() < 0.15 ? undefined : `{"reason":${reason}}`;
        const headers: Record<string, string> = { Authorization: tokenFor(verb) };
        if (body !== undefined) headers['Content-Type'] = 'application/json';
        return { family: 'verb on an unknown rollout', name: `${verb} ${name} ${body ?? '(no body)'}`.slice(0, 100), raw: request('POST', `/v1/rollouts/${name}/${verb}`, headers, body) };
      },
    ],
    [
      'verb: bad body',
      5,
      () => {
        const verb = pick(r, VERBS);
        const x = r();
        const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
        const body =
          x < 0.3
            ? insertBytes(enc('{"reason":"bad utf8 here"}'), 12, Buffer.from(pick(r, BAD_UTF8)))
            : x < 0.5
              ? enc('{"reason":"a","reason":"b","soakUnknownField":1}')
              : x < 0.65
                ? enc(`{"reason":${pick(r, HUGE_NUMBERS)}}`)
                : x < 0.8
                  ? enc(`${'{"reason":'.repeat(2000)}"x"${'}'.repeat(2000)}`)
                  : enc(`{"reason":"ok"${pick(r, [',', '', ',,', ' "x"'])}`);
        return { family: 'verb: bad body', name: `${verb} ${t.existing} body ${body.toString('latin1').slice(0, 40)}`, raw: request('POST', `/v1/rollouts/${t.existing}/${verb}`, { Authorization: tokenFor(verb), 'Content-Type': 'application/json' }, body) };
      },
    ],
    [
      'kill switch: bad body',
      6,
      () => {
        const x = r();
        const reason = pick(r, ['"soak"', `"${pick(r, LONE_SURROGATES)}"`, '"nul\\u0000"', '"\\u202e"', '""', `"${'k'.repeat(600)}"`]);
        const engaged = pick(r, ['"true"', '1', '0', 'null', '[]', '{}', '1e400', '"yes"', 'tru', '"\\ud800"']);
        const text =
          x < 0.35
            ? `{"engaged":${engaged},"mode":"freeze","reason":${reason}}`
            : x < 0.5
              ? `{"engaged":true,"engaged":false,"mode":"freeze"}` // duplicate keys, and no reason
              : x < 0.6
                ? `{"engaged":true,"mode":${pick(r, ['"FREEZE"', '"stop"', '1', 'null', '"rollback\\u0000"'])},"reason":"soak"}`
                : x < 0.7
                  ? `{"engaged":true,"mode":"freeze","reason":"soak","soakUnknownField":${pick(r, ['1', '{}', '[]'])}}`
                  : x < 0.8
                    ? `${'['.repeat(1 + Math.floor(r() * 5000))}`
                    : x < 0.9
                      ? `{"engaged":true,"mode":"freeze","reason":"soak"`.slice(0, 5 + Math.floor(r() * 40))
                      : '';
        const bytes = x >= 0.9 ? insertBytes(Buffer.from('{"engaged":"x","reason":"utf8"}'), 14, Buffer.from(pick(r, BAD_UTF8))) : Buffer.from(text, 'utf8');
        const ct = r() < 0.9 ? 'application/json' : pick(r, ['text/plain', 'application/yaml', 'application/json; charset=latin1']);
        return { family: 'kill switch: bad body', name: `killswitch ${bytes.toString('latin1').slice(0, 50)}`, raw: request('POST', '/v1/killswitch', { Authorization: sre, 'Content-Type': ct }, bytes) };
      },
    ],
    [
      'header: bad Authorization',
      2,
      () => {
        const x = r();
        const value =
          x < 0.25
            ? Buffer.from(`Bearer ${Buffer.from(Array.from({ length: 30 }, () => Math.floor(r() * 256))).toString('base64')}`)
            : x < 0.5
              ? Buffer.from(pick(r, ['Basic c29hazpzb2Fr', 'Bearer', 'Bearer  ', 'bearer x', `Bearer ${'t'.repeat(5000)}`, 'Bearer a b', 'Negotiate x', 'Bearer \u00e9', 'Bearer =']), 'latin1')
              : x < 0.75
                ? Buffer.from(`Bearer ${t.tokens.sre.slice(0, Math.floor(r() * t.tokens.sre.length))}`)
                : Buffer.from(`Bearer ${t.tokens.sre}x`);
        const target = pick(r, ['/v1/killswitch', `/v1/rollouts/${t.existing}/pause`, '/v1/rollouts']);
        return {
          family: 'header: bad Authorization',
          name: `Authorization ${value.toString('latin1').slice(0, 20)} on ${target}`,
          raw: request('POST', target, { Authorization: value, 'Content-Type': 'application/json' }, target === '/v1/killswitch' ? '{"engaged":true,"reason":"bad auth"}' : '{"reason":"bad auth"}'),
          last: true,
        };
      },
    ],
  ];
  const weightSum = families.reduce((n, [, w]) => n + w, 0);
  const extra: SoakCase[] = [];
  while (base.length + extra.length < total) {
    let x = r() * weightSum;
    for (const [, w, make] of families) {
      x -= w;
      if (x < 0) {
        extra.push(make());
        break;
      }
    }
  }
  return [...base, ...extra];
}

function getAt(root: Json, p: Path): Json {
  let cur = root;
  for (const s of p) cur = (cur as Record<string | number, Json>)[s] as Json;
  return cur;
}


function familyOfBase(name: string): string {
  const m = /^(random bytes|truncated|rollout [a-z]|killswitch|pause|resume|approve|abort|rollback|get rollout|manifest of|path|If-None-Match|X-Request-Id|audit|bad authorization|[A-Z]+ \/)/.exec(name);
  return m ? (m[1] ?? 'other').replace(/ [a-z]$/, '') : 'other';
}
