/**
 * Loading Ringmaster documents from YAML (or JSON, which is YAML) with source positions.
 *
 * Every mistake becomes one `SpecError` with the line and column of the YAML node it is about, so that
 * `ringctl validate`, `ringctl plan`, the API and the controller's policy loader all print the same
 * compiler-like lines: `file:line:col path: message`. Bad input is a value here, never an exception.
 * The YAML is parsed with bounded cost (yaml.ts) and files are read by the one document loader (document.ts).
 */
import { isScalar } from 'yaml';
import { API_VERSION } from '../version';
import { locator, readDocumentText } from './document';
import { formatPath, sortAndDedupe, type Problem, type SpecError } from './errors';
import { policyProblems, rolloutProblems } from './semantic';
import type { Policy, Rollout } from './types';
import { schemaProblems, type DocumentKind } from './validate';
import { DOCUMENT_LIMITS, parseYaml, valueOf } from './yaml';

export type { SpecError } from './errors';
export { formatSpecError } from './errors';

export type LoadedDoc =
  | { kind: 'Rollout'; doc: Rollout; file: string; index: number }
  | { kind: 'Policy'; doc: Policy; file: string; index: number };

export interface LoadResult {
  docs: LoadedDoc[];
  errors: SpecError[];
}

const KINDS: readonly DocumentKind[] = ['Rollout', 'Policy'];
/** Texts larger than this are refused before they are parsed. */
const MAX_TEXT_BYTES = 4 * 1024 * 1024;

/** Problems of one already-parsed document object (no positions). */
function problemsOf(kind: DocumentKind, data: unknown): Problem[] {
  return [...schemaProblems(kind, data), ...(kind === 'Rollout' ? rolloutProblems(data) : policyProblems(data))];
}

function kindOf(data: unknown): { kind: DocumentKind } | { problem: Problem } {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { problem: { path: [], message: 'a document must be a mapping with apiVersion, kind, metadata and spec' } };
  }
  const obj = data as Record<string, unknown>;
  if (obj.apiVersion !== API_VERSION) {
    const got = obj.apiVersion === undefined ? 'missing' : `got ${JSON.stringify(obj.apiVersion)}`;
    return { problem: { path: obj.apiVersion === undefined ? [] : ['apiVersion'], message: `apiVersion must be ${API_VERSION} (${got})` } };
  }
  if (typeof obj.kind === 'string' && (KINDS as readonly string[]).includes(obj.kind)) return { kind: obj.kind as DocumentKind };
  const got = obj.kind === undefined ? 'missing' : `got ${JSON.stringify(obj.kind)}`;
  return { problem: { path: obj.kind === undefined ? [] : ['kind'], message: `kind must be Rollout or Policy (${got})` } };
}

/** All documents of a YAML (or JSON) text: valid ones in `docs`, every mistake in `errors`. */
export function parseDocuments(text: string, file: string): LoadResult {
  const docs: LoadedDoc[] = [];
  const errors: SpecError[] = [];
  if (Buffer.byteLength(text) > MAX_TEXT_BYTES) {
    return { docs, errors: [{ file, line: 1, col: 1, path: '', message: `file is larger than ${MAX_TEXT_BYTES} bytes` }] };
  }
  // Syntax errors, and any limit exceeded (keys, values, depth, aliases, documents), are errors here.
  const parsed = parseYaml(text, file, DOCUMENT_LIMITS);
  errors.push(...parsed.errors);
  const names = new Map<string, number>();
  parsed.docs.forEach(({ doc, index }) => {
    // An empty document (e.g. after a trailing ---) is not a mistake.
    if (doc.contents === null || (isScalar(doc.contents) && (doc.contents.value === null || doc.contents.value === ''))) return;
    const v = valueOf(doc, parsed.lineCounter, file);
    if (!v.ok) {
      errors.push(v.error);
      return;
    }
    const data = v.value;
    const toError = locator(doc, parsed.lineCounter, file);
    const k = kindOf(data);
    if ('problem' in k) {
      errors.push(toError(k.problem));
      return;
    }
    const copy = structuredClone(data);
    const problems = problemsOf(k.kind, copy);
    if (problems.length > 0) {
      errors.push(...problems.map(toError));
      return;
    }
    const name = (copy as { metadata: { name: string } }).metadata.name;
    const key = `${k.kind}/${name}`;
    const first = names.get(key);
    if (first !== undefined) {
      errors.push(toError({ path: ['metadata', 'name'], message: `${k.kind} "${name}" is already defined in document ${first + 1} of this file` }));
      return;
    }
    names.set(key, index);
    docs.push(k.kind === 'Rollout' ? { kind: 'Rollout', doc: copy as Rollout, file, index } : { kind: 'Policy', doc: copy as Policy, file, index });
  });
  return { docs, errors: sortAndDedupe(errors) };
}

/** Every document of every file; an unreadable file is one error line, never an exception. */
export function loadFiles(files: string[]): LoadResult {
  const docs: LoadedDoc[] = [];
  const errors: SpecError[] = [];
  for (const file of files) {
    const t = readDocumentText(file);
    if (!t.ok) {
      errors.push(t.error);
      continue;
    }
    const r = parseDocuments(t.text, file);
    docs.push(...r.docs);
    errors.push(...r.errors);
  }
  return { docs, errors };
}

function single(kind: DocumentKind, r: LoadResult, source: string): { ok: true; doc: unknown } | { ok: false; errors: SpecError[] } {
  if (r.errors.length > 0) return { ok: false, errors: r.errors };
  const matching = r.docs.filter((d) => d.kind === kind);
  if (matching.length !== 1 || r.docs.length !== 1) {
    return { ok: false, errors: [{ file: source, line: 1, col: 1, path: '', message: `expected exactly one ${kind} document (found ${r.docs.length} document${r.docs.length === 1 ? '' : 's'}, ${matching.length} of kind ${kind})` }] };
  }
  return { ok: true, doc: (matching[0] as LoadedDoc).doc };
}

export function loadRolloutFile(file: string): { ok: true; doc: Rollout } | { ok: false; errors: SpecError[] } {
  return single('Rollout', loadFiles([file]), file) as { ok: true; doc: Rollout } | { ok: false; errors: SpecError[] };
}

export function loadPolicyFile(file: string): { ok: true; doc: Policy } | { ok: false; errors: SpecError[] } {
  return single('Policy', loadFiles([file]), file) as { ok: true; doc: Policy } | { ok: false; errors: SpecError[] };
}

/** A Rollout from request text (YAML or JSON), with line:col positions into that text. */
export function parseRolloutText(text: string, source: string): { ok: true; doc: Rollout } | { ok: false; errors: SpecError[] } {
  return single('Rollout', parseDocuments(text, source), source) as { ok: true; doc: Rollout } | { ok: false; errors: SpecError[] };
}

/** A Policy from request text (YAML or JSON), with line:col positions into that text. */
export function parsePolicyText(text: string, source: string): { ok: true; doc: Policy } | { ok: false; errors: SpecError[] } {
  return single('Policy', parseDocuments(text, source), source) as { ok: true; doc: Policy } | { ok: false; errors: SpecError[] };
}

/** Validates an already-parsed object (no source text: positions are 0:0). Does not mutate `obj`. */
export function validateRolloutObject(obj: unknown, source: string): { ok: true; doc: Rollout } | { ok: false; errors: SpecError[] } {
  return validateObject('Rollout', obj, source) as { ok: true; doc: Rollout } | { ok: false; errors: SpecError[] };
}

export function validatePolicyObject(obj: unknown, source: string): { ok: true; doc: Policy } | { ok: false; errors: SpecError[] } {
  return validateObject('Policy', obj, source) as { ok: true; doc: Policy } | { ok: false; errors: SpecError[] };
}

function validateObject(kind: DocumentKind, obj: unknown, source: string): { ok: true; doc: unknown } | { ok: false; errors: SpecError[] } {
  const k = kindOf(obj);
  const toError = (p: Problem): SpecError => ({ file: source, line: 0, col: 0, path: formatPath(p.path), message: p.message });
  if ('problem' in k) return { ok: false, errors: [toError(k.problem)] };
  if (k.kind !== kind) return { ok: false, errors: [toError({ path: ['kind'], message: `expected a ${kind} (got ${k.kind})` })] };
  const copy = structuredClone(obj);
  const problems = problemsOf(kind, copy);
  if (problems.length > 0) return { ok: false, errors: sortAndDedupe(problems.map(toError)) };
  return { ok: true, doc: copy };
}
