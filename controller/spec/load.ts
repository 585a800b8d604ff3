/**
 * Loading Ringmaster documents from YAML (or JSON, which is YAML) with source positions.
 *
 * Every mistake becomes one `SpecError` with the line and column of the YAML node it is about, so that
 * `ringctl validate`, `ringctl plan`, the API and the controller's policy loader all print the same
 * compiler-like lines: `file:line:col path: message`. Bad input is a value here, never an exception.
 */
import * as fs from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import { API_VERSION } from '../version';
import { formatPath, sortAndDedupe, type PathSegment, type Problem, type SpecError } from './errors';
import { policyProblems, rolloutProblems } from './semantic';
import type { Policy, Rollout } from './types';
import { schemaProblems, type DocumentKind } from './validate';

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
/** Bounds that keep hostile input (alias bombs, huge files) from exhausting the process. */
const MAX_ALIAS_COUNT = 100;
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

/** The position of the node a path points at (the deepest existing node; the key when asked). */
function positionOf(doc: Document, lc: LineCounter, path: readonly PathSegment[], at: 'key' | 'value' | undefined): { line: number; col: number } {
  let node: Node | null | undefined = doc.contents as Node | null;
  let offset = node?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const keyNode = pair.key as Node;
      const last = i === path.length - 1;
      if (last && at === 'key') {
        offset = keyNode.range?.[0] ?? offset;
        break;
      }
      node = pair.value as Node | null;
      offset = node?.range?.[0] ?? keyNode.range?.[0] ?? offset;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      node = item;
      offset = item.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  const pos = lc.linePos(offset);
  return { line: pos.line, col: pos.col };
}

/** All documents of a YAML (or JSON) text: valid ones in `docs`, every mistake in `errors`. */
export function parseDocuments(text: string, file: string): LoadResult {
  const docs: LoadedDoc[] = [];
  const errors: SpecError[] = [];
  if (Buffer.byteLength(text) > MAX_TEXT_BYTES) {
    return { docs, errors: [{ file, line: 1, col: 1, path: '', message: `file is larger than ${MAX_TEXT_BYTES} bytes` }] };
  }
  const lc = new LineCounter();
  let parsed: Document[];
  try {
    const all = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
    parsed = Array.isArray(all) ? all : [];
  } catch (err) {
    return { docs, errors: [{ file, line: 1, col: 1, path: '', message: `cannot parse YAML (${err instanceof RangeError ? 'nested too deeply' : 'too complex'})` }] };
  }
  const names = new Map<string, number>();
  parsed.forEach((doc, index) => {
    const syntax = [...doc.errors];
    if (syntax.length > 0) {
      for (const e of syntax) {
        const pos = lc.linePos(e.pos[0]);
        errors.push({ file, line: pos.line, col: pos.col, path: '', message: `YAML syntax: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}` });
      }
      return;
    }
    // An empty document (e.g. after a trailing ---) is not a mistake.
    if (doc.contents === null || (isScalar(doc.contents) && (doc.contents.value === null || doc.contents.value === ''))) return;
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch {
      const pos = lc.linePos(doc.contents.range?.[0] ?? 0);
      errors.push({ file, line: pos.line, col: pos.col, path: '', message: `document uses too many aliases (more than ${MAX_ALIAS_COUNT})` });
      return;
    }
    const toError = (p: Problem): SpecError => ({ file, ...positionOf(doc, lc, p.path, p.at), path: formatPath(p.path), message: p.message });
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

function readText(file: string): { ok: true; text: string } | { ok: false; error: SpecError } {
  try {
    const st = fs.statSync(file);
    if (st.isDirectory()) return { ok: false, error: { file, line: 0, col: 0, path: '', message: 'is a directory, not a file' } };
    if (st.size > MAX_TEXT_BYTES) return { ok: false, error: { file, line: 0, col: 0, path: '', message: `file is larger than ${MAX_TEXT_BYTES} bytes` } };
    return { ok: true, text: fs.readFileSync(file, 'utf8') };
  } catch (err) {
    return { ok: false, error: { file, line: 0, col: 0, path: '', message: `cannot read file (${(err as NodeJS.ErrnoException).code ?? 'error'})` } };
  }
}

/** Every document of every file; an unreadable file is one error line, never an exception. */
export function loadFiles(files: string[]): LoadResult {
  const docs: LoadedDoc[] = [];
  const errors: SpecError[] = [];
  for (const file of files) {
    const t = readText(file);
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
