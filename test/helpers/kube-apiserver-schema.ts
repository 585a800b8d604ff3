/**
 * Structural-schema handling for custom resources, as the real apiserver does it on every write: defaulting
 * (`default` of absent properties), pruning of fields the schema does not declare (kept under
 * `x-kubernetes-preserve-unknown-fields`), and the list of pruned paths (an error under fieldValidation=Strict,
 * a Warning header otherwise). Value validation (types, enum, required, ...) is done by ajv on the result.
 */
import Ajv, { type ValidateFunction } from 'ajv';

type Obj = Record<string, unknown>;
type Schema = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Applies defaults and prunes unknown fields in place; returns the pruned paths (".spec.foo"). */
export function pruneAndDefault(value: unknown, schema: Schema | undefined, path = '', unknown: string[] = []): string[] {
  if (!schema) return unknown;
  if (Array.isArray(value)) {
    const items = schema.items as Schema | undefined;
    value.forEach((v, i) => pruneAndDefault(v, items, `${path}[${i}]`, unknown));
    return unknown;
  }
  if (!isObject(value)) return unknown;
  const props = schema.properties as Record<string, Schema> | undefined;
  const additional = schema.additionalProperties;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (props) {
    for (const [k, s] of Object.entries(props)) {
      if (!(k in value) && s.default !== undefined) value[k] = structuredClone(s.default);
    }
  }
  for (const k of Object.keys(value)) {
    const p = `${path}.${k}`;
    if (path === '' && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
    if (props && k in props) pruneAndDefault(value[k], props[k], p, unknown);
    else if (isObject(additional)) pruneAndDefault(value[k], additional, p, unknown);
    else if (additional === true || preserve) continue;
    else {
      unknown.push(p);
      delete value[k];
    }
  }
  return unknown;
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });

/**
 * OpenAPI 3.0 (what CRDs use) to the JSON Schema draft ajv reads: a boolean `exclusiveMinimum`/`exclusiveMaximum`
 * qualifies `minimum`/`maximum`; in draft 7 the number itself is the exclusive bound.
 */
function toDraft7(node: unknown): void {
  if (Array.isArray(node)) {
    for (const n of node) toDraft7(n);
    return;
  }
  if (!isObject(node)) return;
  const o = node as Obj;
  for (const [flag, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (typeof o[flag] === 'boolean') {
      if (o[flag] === true && typeof o[bound] === 'number') {
        o[flag] = o[bound];
        delete o[bound];
      } else delete o[flag];
    }
  }
  for (const v of Object.values(o)) toDraft7(v);
}
const compiled = new WeakMap<Schema, ValidateFunction>();

/** Validates against the openAPIV3Schema (metadata excluded); returns "path: message" strings, empty when valid. */
export function validateSchema(obj: Obj, schema: Schema | undefined): string[] {
  if (!schema) return [];
  let fn = compiled.get(schema);
  if (!fn) {
    const root = structuredClone(schema);
    const props = (root.properties ?? {}) as Obj;
    delete props.metadata;
    delete props.apiVersion;
    delete props.kind;
    toDraft7(root);
    fn = ajv.compile(root);
    compiled.set(schema, fn);
  }
  const { metadata: _m, apiVersion: _a, kind: _k, ...rest } = obj;
  if (fn(rest)) return [];
  return (fn.errors ?? []).map((e) => `${e.instancePath.replace(/\//g, '.') || '<root>'}: ${e.message ?? 'invalid'}`);
}
