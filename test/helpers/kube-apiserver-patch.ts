/**
 * The two patch formats the test Kubernetes API server accepts: JSON merge patch (RFC 7386,
 * `application/merge-patch+json`) and JSON patch (RFC 6902, `application/json-patch+json`: add, remove, replace,
 * move, copy, test). A failed JSON patch operation throws a PatchError, which the server answers the way the real
 * apiserver does (422 Invalid for a failed `test` or a missing path, 400 BadRequest for a malformed document).
 */

export class PatchError extends Error {
  constructor(
    message: string,
    readonly code: 400 | 422,
  ) {
    super(message);
  }
}

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7386: objects merge recursively, null deletes, everything else (arrays included) replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** RFC 6901 pointer → unescaped tokens. */
function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`json patch: path "${pointer}" must start with "/"`, 400);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, toks: string[], path: string): { parent: Json; key: string } {
  let cur = doc;
  for (const t of toks.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isObject(cur)) cur = cur[t];
    else cur = undefined;
    if (cur === undefined) throw new PatchError(`json patch: path "${path}" does not exist`, 422);
  }
  return { parent: cur, key: toks[toks.length - 1] as string };
}

function getAt(doc: Json, path: string): Json {
  let cur = doc;
  for (const t of tokens(path)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isObject(cur)) cur = cur[t];
    else cur = undefined;
    if (cur === undefined) throw new PatchError(`json patch: path "${path}" does not exist`, 422);
  }
  return cur;
}

function arrayIndex(arr: Json[], key: string, path: string, forAdd: boolean): number {
  if (forAdd && key === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(key)) throw new PatchError(`json patch: bad array index in "${path}"`, 422);
  const i = Number(key);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new PatchError(`json patch: index out of range in "${path}"`, 422);
  return i;
}

function addAt(doc: Json, path: string, value: Json): Json {
  const toks = tokens(path);
  if (toks.length === 0) return structuredClone(value);
  const { parent, key } = parentOf(doc, toks, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, true), 0, structuredClone(value));
  else if (isObject(parent)) parent[key] = structuredClone(value);
  else throw new PatchError(`json patch: path "${path}" does not exist`, 422);
  return doc;
}

function removeAt(doc: Json, path: string): Json {
  const toks = tokens(path);
  if (toks.length === 0) throw new PatchError('json patch: cannot remove the whole document', 422);
  const { parent, key } = parentOf(doc, toks, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, false), 1);
  else if (isObject(parent) && key in parent) delete parent[key];
  else throw new PatchError(`json patch: path "${path}" does not exist`, 422);
  return doc;
}

function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}

/** RFC 6902, applied to a copy; all or nothing. */
export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new PatchError('json patch: the body must be a JSON array of operations', 400);
  let doc = structuredClone(target);
  for (const op of ops) {
    if (!isObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string') {
      throw new PatchError('json patch: every operation needs "op" and "path" strings', 400);
    }
    const path = op.path;
    switch (op.op) {
      case 'add':
        if (!('value' in op)) throw new PatchError(`json patch: add "${path}" has no value`, 400);
        doc = addAt(doc, path, op.value);
        break;
      case 'remove':
        doc = removeAt(doc, path);
        break;
      case 'replace':
        if (!('value' in op)) throw new PatchError(`json patch: replace "${path}" has no value`, 400);
        getAt(doc, path);
        doc = tokens(path).length === 0 ? structuredClone(op.value) : addAt(removeAt(doc, path), path, op.value);
        break;
      case 'move':
      case 'copy': {
        if (typeof op.from !== 'string') throw new PatchError(`json patch: ${op.op} "${path}" has no "from"`, 400);
        const v = structuredClone(getAt(doc, op.from));
        if (op.op === 'move') doc = removeAt(doc, op.from);
        doc = addAt(doc, path, v);
        break;
      }
      case 'test':
        if (!deepEqual(getAt(doc, path), op.value)) throw new PatchError(`json patch: test of "${path}" failed`, 422);
        break;
      default:
        throw new PatchError(`json patch: unknown operation "${op.op}"`, 400);
    }
  }
  return doc;
}
