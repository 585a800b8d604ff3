/**
 * The one document loader: every YAML (or JSON) file Ringmaster reads other than rollouts and policies (the
 * tokens file, the serve config, trusted keys, simulator scenarios) is loaded here, and rollouts and policies
 * (load.ts) share its parts. One document type is a JSON Schema, the single source of its shape, plus the checks
 * a schema cannot express.
 *
 * Loading is: read the file (bounded size) -> parse YAML with bounded cost (yaml.ts) -> validate with ajv
 * (validate.ts words the errors) -> the type's own rules. Every mistake is a SpecError with the line and column
 * of the node it is about, printed `file:line:col path: message` exactly like `ringctl validate`; the
 * `...OrThrow` forms throw them as one InputError.
 *
 * A schema property may word its own errors with the annotation `'x-messages': { <ajv keyword>: template }`;
 * in a template `{got}` is the value (quoted, and never echoed when longer than 40 characters: it may be a
 * secret pasted in the wrong field), `{field}` the missing or unknown field, `{known}` the fields allowed.
 */
import { decodeUtf8 } from './text';
import * as fs from 'node:fs';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { isMap, isScalar, type Document, type LineCounter, type Node, type YAMLMap } from 'yaml';
import { validationSchema } from './defaults';
import { describeValue, formatPath, formatSpecError, InputError, sortAndDedupe, type PathSegment, type Problem, type SpecError } from './errors';
import { compileSchema, problemsOf } from './validate';
import { DOCUMENT_LIMITS, parseYaml, positionOf, valueOf } from './yaml';

/** Files larger than this are refused before they are read. */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;

export interface DocumentType<T> {
  /** What the document is, in messages: "tokens file". */
  noun: string;
  /** Its JSON Schema: the one source of its shape. */
  schema: object;
  /**
   * The defaults ajv writes into the loaded value: JSON Pointers into `schema`, or 'all'; by default none (a
   * default not written in is read where it is used, from the schema: see spec/defaults.ts).
   */
  materialise?: readonly string[] | 'all';
  /**
   * Checks the schema cannot express; each problem names its path. They run even when the schema found mistakes,
   * so that every mistake of a file shows at once: read the data defensively and skip what the schema rejects.
   */
  rules?: (data: unknown) => Problem[];
  /** Another spelling of a top-level key (kebab-case, say) -> the schema's; errors still name the key as written. */
  rootKeyAlias?: (key: string) => string;
  /** What an empty file means; without it, an empty file is an error. */
  empty?: () => T;
}

export type Loaded<T> = { ok: true; value: T } | { ok: false; errors: SpecError[] };

const compiled = new WeakMap<object, ValidateFunction>();

function validatorOf(type: DocumentType<unknown>): ValidateFunction {
  let v = compiled.get(type);
  if (!v) {
    v = compileSchema(type.materialise === 'all' ? type.schema : validationSchema(type.schema, type.materialise ?? []));
    compiled.set(type, v);
  }
  return v;
}

/** The text of a file, or the one error that says why it cannot be had (no file, a directory, too large). */
export function readDocumentText(file: string, noun = 'file'): { ok: true; text: string } | { ok: false; error: SpecError } {
  const fail = (message: string, unreadable = false) => ({ ok: false as const, error: { file, line: 0, col: 0, path: '', message, ...(unreadable ? { unreadable: true as const } : {}) } });
  try {
    const st = fs.statSync(file);
    if (st.isDirectory()) return fail('is a directory, not a file', true);
    if (st.size > MAX_FILE_BYTES) return fail(`file is larger than ${MAX_FILE_BYTES} bytes`);
    const decoded = decodeUtf8(fs.readFileSync(file));
    if (!decoded.ok) return fail(decoded.message);
    return { ok: true, text: decoded.text };
  } catch (err) {
    return fail(`cannot read ${noun} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, true);
  }
}

/** One document of `type` from `text` (`file` names it in errors). */
export function loadDocumentText<T>(type: DocumentType<T>, text: string, file: string): Loaded<T> {
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: `file is larger than ${MAX_FILE_BYTES} bytes` }] };
  const parsed = parseYaml(text, file, DOCUMENT_LIMITS);
  if (parsed.errors.length > 0) return { ok: false, errors: sortAndDedupe(parsed.errors) };
  const docs = parsed.docs.filter((d) => !isEmpty(d.doc));
  if (docs.length === 0) {
    if (type.empty) return { ok: true, value: type.empty() };
    return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: `the ${type.noun} is empty` }] };
  }
  const [first, second] = docs;
  if (second) {
    const pos = parsed.lineCounter.linePos(second.doc.range[0]);
    return { ok: false, errors: [{ file, ...pos, path: '', message: `a ${type.noun} is one YAML document (found ${docs.length})` }] };
  }
  const doc = (first as (typeof docs)[number]).doc;
  const written = new Map<string, string>();
  const twice = type.rootKeyAlias ? renameRootKeys(doc, type.rootKeyAlias, written) : undefined;
  if (twice) {
    const [at, first] = [parsed.lineCounter.linePos(twice.offset), parsed.lineCounter.linePos(twice.firstOffset)];
    return { ok: false, errors: [{ file, ...at, path: formatPath([twice.key]), message: `set twice (also as ${twice.firstKey} at ${first.line}:${first.col})` }] };
  }
  const locate = locator(doc, parsed.lineCounter, file, written);
  const v = valueOf(doc, parsed.lineCounter, file);
  if (!v.ok) return { ok: false, errors: [v.error] };
  const data = v.value;
  const problems = problemsOf(validatorOf(type as DocumentType<unknown>), data, type.schema, wordFromSchema);
  if (type.rules) problems.push(...type.rules(data));
  if (problems.length > 0) return { ok: false, errors: sortAndDedupe(problems.map(locate)) };
  return { ok: true, value: data as T };
}

/** One document of `type` from a file. */
export function loadDocumentFile<T>(type: DocumentType<T>, file: string): Loaded<T> {
  const t = readDocumentText(file, type.noun);
  if (!t.ok) return { ok: false, errors: [t.error] };
  return loadDocumentText(type, t.text, file);
}

/** The value, or an InputError of every mistake, one `file:line:col path: message` line each. */
export function loadDocumentFileOrThrow<T>(type: DocumentType<T>, file: string): T {
  return orThrow(loadDocumentFile(type, file));
}

export function loadDocumentTextOrThrow<T>(type: DocumentType<T>, text: string, file: string): T {
  return orThrow(loadDocumentText(type, text, file));
}

function orThrow<T>(r: Loaded<T>): T {
  if (!r.ok) throw new InputError(r.errors.map(formatSpecError));
  return r.value;
}

/** A problem -> a SpecError at the node its path points at, the path written with the keys as the file has them. */
export function locator(doc: Document, lc: LineCounter, file: string, written: ReadonlyMap<string, string> = new Map()): (p: Problem) => SpecError {
  const index = new WeakMap<YAMLMap, Map<string, { key: Node; value: Node | null }>>();
  return (p) => {
    const shown = p.path.length > 0 && typeof p.path[0] === 'string' && written.has(p.path[0]) ? [written.get(p.path[0]) as string, ...p.path.slice(1)] : p.path;
    return { file, ...positionOf(doc, lc, p.path, p.at, index), path: formatPath(shown), message: p.message };
  };
}

function isEmpty(doc: Document): boolean {
  const c = doc.contents;
  return c === null || (isScalar(c) && (c.value === null || c.value === ''));
}

/**
 * Renames top-level keys to the schema's spelling (in the parsed document, so positions stay), remembering the
 * written one; two spellings of one key are a mistake, returned.
 */
function renameRootKeys(doc: Document, alias: (key: string) => string, written: Map<string, string>): { key: string; offset: number; firstKey: string; firstOffset: number } | undefined {
  const root = doc.contents;
  if (!isMap(root)) return undefined;
  const seen = new Map<string, { raw: string; offset: number }>();
  for (const pair of root.items) {
    if (!isScalar(pair.key)) continue;
    const raw = String(pair.key.value);
    const canonical = alias(raw);
    const first = seen.get(canonical);
    if (first) return { key: raw, offset: pair.key.range?.[0] ?? 0, firstKey: first.raw, firstOffset: first.offset };
    seen.set(canonical, { raw, offset: pair.key.range?.[0] ?? 0 });
    if (canonical !== raw) {
      written.set(canonical, raw);
      pair.key.value = canonical;
    }
  }
  return undefined;
}

/** The `x-messages` wording of an error, when the schema at the error gives one for its keyword. */
function wordFromSchema(e: ErrorObject, path: PathSegment[]): Problem | undefined {
  const parent = record(e.parentSchema);
  const template = record(parent['x-messages'])[e.keyword];
  if (typeof template !== 'string') return undefined;
  const params = e.params as Record<string, unknown>;
  const field = String(params.additionalProperty ?? params.missingProperty ?? '');
  const message = template
    .replace(/\{got\}/g, () => describeSafely(e.data))
    .replace(/\{field\}/g, () => field)
    .replace(/\{known\}/g, () => Object.keys(record(parent.properties)).join(', '));
  if (e.keyword === 'additionalProperties') return { path: [...path, field], at: 'key', message };
  return { path, message };
}

/** A value as it reads in a message, never echoing long text (it might be a secret pasted in the wrong field). */
export function describeSafely(value: unknown): string {
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  return describeValue(value);
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
