/**
 * A seeded generator of malformed API requests: random bytes, truncated documents, wrong types for every
 * field, huge and deeply nested bodies, unicode, wrong content types, bad headers, path traversal.
 * Every case is built so that it must be refused (4xx); none is filtered by asking the implementation.
 */
import { parseDocument } from 'yaml';

/** mulberry32: small, fast, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzCase {
  /** What the case is about, for failure messages. */
  name: string;
  /** Sent over a raw socket: the whole request (request line, headers, body) as bytes. */
  raw: Buffer;
}

export interface FuzzTargets {
  /** The token of a role allowed to do each call, so that the bad part of the request is what gets tested. */
  tokens: { deployer: string; sre: string; viewer: string; approver: string };
  /** A rollout that exists (verbs and conflicts hit it). */
  existing: string;
  /** Its document, as YAML; a valid variant of it under the same name can only be a 409. */
  existingYaml: string;
  /** A channel with a published manifest. */
  channel: string;
}

const CRLF = '\r\n';

export function request(method: string, path: string, headers: Record<string, string | Buffer>, body?: Buffer | string): Buffer {
  const b = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const head: Buffer[] = [Buffer.from(`${method} ${path} HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}Connection: close${CRLF}`, 'latin1')];
  for (const [k, v] of Object.entries(headers)) head.push(Buffer.concat([Buffer.from(`${k}: `, 'latin1'), typeof v === 'string' ? Buffer.from(v, 'latin1') : v, Buffer.from(CRLF)]));
  if (b !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length' || k.toLowerCase() === 'transfer-encoding')) {
    head.push(Buffer.from(`Content-Length: ${b.length}${CRLF}`));
  }
  head.push(Buffer.from(CRLF));
  if (b !== undefined) head.push(b);
  return Buffer.concat(head);
}

const WRONG_VALUES: unknown[] = [
  null,
  0,
  -1,
  1.5,
  1e308,
  true,
  false,
  '',
  ' ',
  'x',
  'x'.repeat(5000),
  '\u202e\u0000\ud83d\udca5',
  [],
  [1, 2],
  {},
  { a: 1 },
];

/** Every path (to mappings, lists and leaves) of a plain JSON value. */
function paths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function setAt(root: unknown, path: Array<string | number>, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let cur = copy;
  for (const seg of path.slice(0, -1)) cur = cur[seg] as Record<string | number, unknown>;
  cur[path[path.length - 1] as string | number] = value;
  return copy;
}

function randomBytes(r: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

/** Names a rollout cannot have: traversal, encodings, unicode, case, length. */
const BAD_NAMES = [
  '..',
  '..%2F..%2Fetc%2Fpasswd',
  '%2e%2e',
  '%2e%2e%2f%2e%2e%2fetc',
  '..%5c..%5cwindows',
  'UPPER',
  'under_score',
  '-leading',
  'trailing-',
  '%00',
  'a%00b',
  '%C3%A9t%C3%A9',
  '%F0%9F%92%A5',
  '%E2%80%AE',
  'x'.repeat(254),
  '%ZZ',
  '%',
  'a%20b',
  "'%3B%20DROP%20TABLE%20rollouts%3B--",
];

export function generateCases(seed: number, t: FuzzTargets): FuzzCase[] {
  const r = rng(seed);
  const cases: FuzzCase[] = [];
  const add = (name: string, raw: Buffer): void => {
    cases.push({ name, raw });
  };
  const deployer = `Bearer ${t.tokens.deployer}`;
  const sre = `Bearer ${t.tokens.sre}`;
  const viewer = `Bearer ${t.tokens.viewer}`;
  const yamlCt = ['application/yaml', 'text/yaml', 'application/x-yaml', 'application/json'];
  const base = parseDocument(t.existingYaml).toJS() as Record<string, unknown>;

  // 1. random bytes as a rollout (any content type we accept)
  for (let i = 0; i < 300; i++) {
    add(`random bytes rollout #${i}`, request('POST', '/v1/rollouts', { Authorization: deployer, 'Content-Type': pick(r, yamlCt) }, randomBytes(r, 1 + Math.floor(r() * 2000))));
  }
  // 2. truncated YAML and JSON of the existing rollout (cut well before the end)
  const json = JSON.stringify(base);
  for (let i = 0; i < 300; i++) {
    const asJson = i % 2 === 0;
    const text = asJson ? json : t.existingYaml;
    const cut = Math.floor(r() * (text.length - 12));
    add(`truncated ${asJson ? 'json' : 'yaml'} at ${cut}`, request('POST', '/v1/rollouts', { Authorization: deployer, 'Content-Type': asJson ? 'application/json' : 'application/yaml' }, text.slice(0, cut)));
  }
  // 3. wrong types for every field of the rollout: invalid (422) or, if valid, a different spec under an existing name (409)
  for (const p of paths(base)) {
    const isName = p.length === 2 && p[0] === 'metadata' && p[1] === 'name';
    for (const v of WRONG_VALUES) {
      // A different valid name would be a new rollout: the name only gets values that are never names.
      if (isName && typeof v === 'string' && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(v)) continue;
      const doc = setAt(base, p, v);
      if (JSON.stringify(doc) === JSON.stringify(base)) continue;
      add(`rollout ${p.join('.') || '(root)'} = ${JSON.stringify(v)?.slice(0, 30)}`, request('POST', '/v1/rollouts', { Authorization: deployer, 'Content-Type': 'application/json' }, JSON.stringify(doc)));
    }
  }
  // 3b. unknown fields at every mapping level
  for (const p of paths(base)) {
    let target: unknown = base;
    for (const seg of p) target = (target as Record<string | number, unknown>)[seg];
    if (target === null || typeof target !== 'object' || Array.isArray(target)) continue;
    const doc = setAt(base, [...p, 'unexpectedField'], 'x');
    add(`rollout unknown field under ${p.join('.') || '(root)'}`, request('POST', '/v1/rollouts', { Authorization: deployer, 'Content-Type': 'application/yaml' }, JSON.stringify(doc)));
  }
  // 4. kill switch bodies that are wrong in at least one field
  const badEngaged: unknown[] = [undefined, null, 0, 1, 'true', 'yes', [], {}];
  const badMode: unknown[] = [null, 'FREEZE', 'stop', '', 1, true, [], {}];
  const badReason: unknown[] = [undefined, null, '', '   ', 1, true, [], {}, 'r'.repeat(513), '\u{1F4A5}'.repeat(513), 'line1\nline2', 'tab\there', 'nul\u0000'];
  for (let i = 0; i < 240; i++) {
    const which = i % 4;
    const body: Record<string, unknown> = { engaged: r() < 0.5, mode: pick(r, ['freeze', 'rollback']), reason: 'valid reason' };
    if (which === 0) body.engaged = pick(r, badEngaged);
    else if (which === 1) body.mode = pick(r, badMode);
    else if (which === 2) body.reason = pick(r, badReason);
    let text = JSON.stringify(body);
    // Written into the text (not the object) so that keys like __proto__ really are in the body.
    if (which === 3) text = `${text.slice(0, -1)},${JSON.stringify(pick(r, ['extra', 'Engaged', '__proto__', 'constructor', 'actor']))}:"x"}`;
    add(`killswitch bad field #${i} ${text.slice(0, 60)}`, request('POST', '/v1/killswitch', { Authorization: sre, 'Content-Type': 'application/json' }, text));
  }
  // 5. kill switch and verb bodies that are not JSON objects
  const notObjects = ['', 'null', '[]', '"s"', '1', 'true', '{', '{"engaged":', '{"engaged":true,}', "{'engaged':true}", 'engaged=true&reason=x', '\ufeff{}x', '{"a":1}{"b":2}'];
  for (const text of notObjects) {
    add(`killswitch body ${JSON.stringify(text)}`, request('POST', '/v1/killswitch', { Authorization: sre, 'Content-Type': 'application/json' }, text));
    if (text !== '') add(`pause body ${JSON.stringify(text)}`, request('POST', `/v1/rollouts/${t.existing}/pause`, { Authorization: sre, 'Content-Type': 'application/json' }, text));
  }
  for (let i = 0; i < 100; i++) {
    const bytes = randomBytes(r, 1 + Math.floor(r() * 300));
    add(`killswitch random bytes #${i}`, request('POST', '/v1/killswitch', { Authorization: sre, 'Content-Type': 'application/json' }, bytes));
  }
  // 6. verbs with bad reasons or bad fields (never reaching the state machine)
  const verbs = ['pause', 'resume', 'approve', 'abort', 'rollback'] as const;
  for (let i = 0; i < 200; i++) {
    const verb = pick(r, verbs);
    const token = verb === 'approve' ? `Bearer ${t.tokens.approver}` : sre;
    const body = i % 3 === 0 ? { reason: pick(r, badReason.filter((x) => x !== undefined)) } : i % 3 === 1 ? { reason: 'ok', why: 'x' } : { Reason: 'x' };
    add(`${verb} bad body #${i}`, request('POST', `/v1/rollouts/${t.existing}/${verb}`, { Authorization: token, 'Content-Type': 'application/json' }, JSON.stringify(body)));
  }
  // 7. path traversal and impossible names on every rollout route
  for (const name of BAD_NAMES) {
    add(`get rollout ${name}`, request('GET', `/v1/rollouts/${name}`, { Authorization: viewer }));
    for (const verb of verbs) {
      const token = verb === 'approve' ? `Bearer ${t.tokens.approver}` : sre;
      add(`${verb} rollout ${name}`, request('POST', `/v1/rollouts/${name}/${verb}`, { Authorization: token, 'Content-Type': 'application/json' }, '{"reason":"fuzz"}'));
    }
    add(`manifest of ${name}`, request('GET', `/v1/channels/${name}/manifest`, {}));
  }
  for (const p of ['/v1/rollouts/../../etc/passwd', '/v1/rollouts/./x/pause', '/../../etc/passwd', '/v1/channels/../manifest', '/v1/channels//manifest', '/v1/channels/a/b/manifest', '/v1/rollouts/x/unknown-verb', '/v1//rollouts', '/v1/rollouts/x/pause/extra', '/%2e%2e/%2e%2e/etc/passwd', '/v1/audit/../killswitch']) {
    add(`path ${p}`, request('POST', p, { Authorization: sre, 'Content-Type': 'application/json' }, '{"engaged":true,"reason":"traversal"}'));
    add(`path GET ${p}`, request('GET', p, { Authorization: viewer }));
  }
  // 8. wrong content types
  const badTypes = ['text/plain', 'multipart/form-data; boundary=x', 'application/xml', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'application/yaml; charset=utf-16', 'application/json; charset', 'application/json; =x', 'json', '/', 'application/', '*/*', 'application/json\u00e9', 'text/html'];
  for (const ct of badTypes) {
    add(`rollout content type ${ct}`, request('POST', '/v1/rollouts', { Authorization: deployer, 'Content-Type': ct }, t.existingYaml.replace(`name: ${t.existing}`, 'name: never-created')));
    add(`killswitch content type ${ct}`, request('POST', '/v1/killswitch', { Authorization: sre, 'Content-Type': ct }, '{"engaged":true,"reason":"ct"}'));
    add(`pause content type ${ct}`, request('POST', `/v1/rollouts/${t.existing}/pause`, { Authorization: sre, 'Content-Type': ct }, '{"reason":"ct"}'));
  }
  add('rollout without content type', request('POST', '/v1/rollouts', { Authorization: deployer }, t.existingYaml.replace(`name: ${t.existing}`, 'name: never-created')));
  add('killswitch without body', request('POST', '/v1/killswitch', { Authorization: sre }));
  add('killswitch gzip body', request('POST', '/v1/killswitch', { Authorization: sre, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, '{"engaged":true,"reason":"gz"}'));
  // 9. bad Authorization headers on every mutating route (401 or, once this client has failed often, 429)
  const mutating: Array<[string, string, string]> = [
    ['/v1/rollouts', 'application/yaml', t.existingYaml.replace(`name: ${t.existing}`, 'name: never-created')],
    ['/v1/killswitch', 'application/json', '{"engaged":true,"reason":"auth"}'],
    ...verbs.map((v): [string, string, string] => [`/v1/rollouts/${t.existing}/${v}`, 'application/json', '{"reason":"auth"}']),
  ];
  for (let i = 0; i < 200; i++) {
    const [path, ct, body] = pick(r, mutating);
    const kind = i % 8;
    const value: Buffer =
      kind === 0
        ? Buffer.from(randomBytes(r, 1 + Math.floor(r() * 60)).map((b) => (b < 0x20 || b === 0x7f ? 0x41 : b)))
        : kind === 1
          ? Buffer.from(`Bearer ${'A'.repeat(600)}`)
          : kind === 2
            ? Buffer.from(`bearer ${t.tokens.deployer.slice(0, -1)}`)
            : kind === 3
              ? Buffer.from(`Bearer ${t.tokens.deployer} extra`)
              : kind === 4
                ? Buffer.from(`Token ${t.tokens.sre}`)
                : kind === 5
                  ? Buffer.from(`Bearer ${t.tokens.sre}\u00e9`, 'latin1')
                  : kind === 6
                    ? Buffer.from('Bearer ')
                    : Buffer.from(`Bearer ${Buffer.from(t.tokens.sre).toString('hex')}`);
    add(`bad authorization kind ${kind} on ${path}`, request('POST', path, { Authorization: value, 'Content-Type': ct }, body));
  }
  // 10. bad If-None-Match, bad X-Request-Id, broken framing
  const badInm = ['abc', '"unterminated', '"a" "b"', 'W/abc', 'W/', '""x', ',,x', '"a",b', '\u00ff"', ' W / "a"', '"a" ;'];
  for (const inm of badInm) add(`If-None-Match ${inm}`, request('GET', `/v1/channels/${t.channel}/manifest`, { 'If-None-Match': Buffer.from(inm, 'latin1') }));
  for (let i = 0; i < 40; i++) {
    const v = i % 2 === 0 ? Buffer.from(randomBytes(r, 1 + Math.floor(r() * 40)).map((b) => (b < 0x21 || b === 0x7f ? 0x3f : b))) : Buffer.from('x'.repeat(129 + i));
    if (/^[A-Za-z0-9._:-]{1,128}$/.test(v.toString('latin1'))) continue;
    add(`X-Request-Id #${i}`, request('GET', i % 4 === 0 ? `/v1/channels/${t.channel}/manifest` : '/v1/rollouts', { 'X-Request-Id': v, Authorization: viewer }));
  }
  add('two content lengths', request('POST', '/v1/killswitch', { Authorization: sre, 'Content-Type': 'application/json', 'Content-Length': '2', 'content-length': '3' }, '{}'));
  add('negative content length', request('POST', '/v1/killswitch', { Authorization: sre, 'Content-Type': 'application/json', 'Content-Length': '-1' }, '{}'));
  add('bad transfer encoding', request('POST', '/v1/killswitch', { Authorization: sre, 'Content-Type': 'application/json', 'Transfer-Encoding': 'gzip, chunked, x' }, '{}'));
  add('control character in a header', request('GET', '/v1/rollouts', { Authorization: viewer, 'X-Thing': Buffer.from('a\u0001b', 'latin1') }));
  add('oversized headers', request('GET', '/v1/rollouts', { Authorization: viewer, 'X-Big': 'b'.repeat(20_000) }));
  add('no Host header', Buffer.from(`GET /v1/rollouts HTTP/1.1${CRLF}Authorization: ${viewer}${CRLF}Connection: close${CRLF}${CRLF}`));
  add('garbage request line', Buffer.from(`\u0000\u0001GARBAGE${CRLF}${CRLF}`, 'latin1'));
  // 11. bad query parameters of the audit log
  for (const q of ['limit=0', 'limit=1001', 'limit=-1', 'limit=abc', 'limit=1e3', 'limit=1.5', 'after=-1', 'after=x', 'limit=1&limit=2', 'after=99999999999999999999', 'foo=1', 'limit=', 'after[]=1', 'limit=%00']) {
    add(`audit ?${q}`, request('GET', `/v1/audit?${q}`, { Authorization: viewer }));
  }
  // 12. methods a route does not have
  for (const [method, path] of [
    ['PUT', '/v1/rollouts'],
    ['DELETE', `/v1/rollouts/${t.existing}`],
    ['PATCH', '/v1/killswitch'],
    ['DELETE', '/v1/killswitch'],
    ['GET', `/v1/rollouts/${t.existing}/pause`],
    ['PUT', `/v1/rollouts/${t.existing}/abort`],
    ['POST', '/v1/audit'],
    ['POST', '/v1/signing-key'],
    ['POST', '/healthz'],
    ['OPTIONS', '/v1/killswitch'],
    ['TRACE', '/v1/rollouts'],
    ['DELETE', `/v1/channels/${t.channel}/manifest`],
  ] as const) {
    add(`${method} ${path}`, request(method, path, { Authorization: sre, 'Content-Type': 'application/json' }, '{"engaged":true,"reason":"method"}'));
  }
  // 13. deep nesting and unicode
  for (const depth of [1_000, 10_000, 100_000]) {
    add(`killswitch nested ${depth}`, request('POST', '/v1/killswitch', { Authorization: sre, 'Content-Type': 'application/json' }, `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`));
    add(`rollout flow-nested ${depth}`, request('POST', '/v1/rollouts', { Authorization: deployer, 'Content-Type': 'application/yaml' }, `${'['.repeat(depth)}${']'.repeat(depth)}`));
    add(`rollout json-nested ${depth}`, request('POST', '/v1/rollouts', { Authorization: deployer, 'Content-Type': 'application/json' }, `{"spec":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`));
  }
  add('yaml alias bomb', request('POST', '/v1/rollouts', { Authorization: deployer, 'Content-Type': 'application/yaml' }, aliasBomb()));
  for (const s of ['\u202e', '\ud800', '\uffff', '\u0000', 'é', '💥', '\u200b']) {
    add(`rollout name unicode ${JSON.stringify(s)}`, request('POST', '/v1/rollouts', { Authorization: deployer, 'Content-Type': 'application/yaml' }, t.existingYaml.replace(`name: ${t.existing}`, `name: "a${s}b"`)));
  }
  return cases;
}

function aliasBomb(): string {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 12; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

/** Bodies over the 1 MiB limit, with and without Content-Length. */
export function hugeCases(t: FuzzTargets, limit: number): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (const extra of [1, 1024, limit, 2 * limit]) {
    const body = Buffer.alloc(limit + extra, 0x20);
    cases.push({ name: `rollout body of ${limit + extra} bytes`, raw: request('POST', '/v1/rollouts', { Authorization: `Bearer ${t.tokens.deployer}`, 'Content-Type': 'application/yaml' }, body) });
    cases.push({ name: `killswitch body of ${limit + extra} bytes`, raw: request('POST', '/v1/killswitch', { Authorization: `Bearer ${t.tokens.sre}`, 'Content-Type': 'application/json' }, body) });
  }
  // Chunked, no Content-Length: the limit applies while reading.
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const parts: Buffer[] = [];
  for (let sent = 0; sent <= limit + chunk.length; sent += chunk.length) parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
  parts.push(Buffer.from('0\r\n\r\n'));
  cases.push({
    name: 'chunked rollout body over the limit',
    raw: request('POST', '/v1/rollouts', { Authorization: `Bearer ${t.tokens.deployer}`, 'Content-Type': 'application/yaml', 'Transfer-Encoding': 'chunked' }, Buffer.concat(parts)),
  });
  return cases;
}
