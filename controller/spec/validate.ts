/**
 * Schema validation (ajv) of Rollout and Policy documents, with ajv's errors translated into one
 * human message per actual mistake.
 *
 * ajv reports a ring with both `selector` and `percent` as four errors (two failed oneOf branches,
 * their `not`s, and the oneOf itself); an operator needs one line: "ring must have exactly one of
 * selector or percent (it has both)". The rules here collapse that noise:
 *   - errors inside a failed oneOf branch are dropped; the oneOf says what is wrong in one message;
 *   - `if` errors are dropped; the then/else error under them says it better;
 *   - at a field with the wrong type, only the type error (or the enum/const error) is kept.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import {
  BASE64_PATTERN,
  DATETIME_PATTERN,
  DURATION_PATTERN,
  HOURS_PATTERN,
  LABEL_KEY_PATTERN,
  NAME_PATTERN,
  SHA256_PATTERN,
  policySchema,
  rolloutSchema,
} from './schema';
import { VALIDATION_SCHEMAS } from './defaults';
import { describeValue, formatPath, type PathSegment, type Problem } from './errors';

export type DocumentKind = 'Rollout' | 'Policy';

let validators: Record<DocumentKind, ValidateFunction> | undefined;
let sharedAjv: Ajv | undefined;

/**
 * Compiles a schema with the one ajv instance every document is validated with. `useDefaults` writes in the
 * defaults the schema still has: pass a copy from defaults.ts `validationSchema` to choose which.
 */
export function compileSchema(schema: object): ValidateFunction {
  if (!sharedAjv) {
    sharedAjv = new Ajv({
      allErrors: true,
      verbose: true,
      useDefaults: true,
      strict: true,
      strictRequired: false,
      // A setting of the serve config may be a string or a number: `type: [string, number]`.
      allowUnionTypes: true,
      // percent has multipleOf 0.01: without a precision, 0.07 / 0.01 = 7.000000000000001 fails.
      multipleOfPrecision: 9,
    });
    // Annotation only: the loader (spec/document.ts) words a field's errors with it.
    sharedAjv.addKeyword({ keyword: 'x-messages', schemaType: 'object' });
  }
  return sharedAjv.compile(schema);
}

function validatorFor(kind: DocumentKind): ValidateFunction {
  validators ??= { Rollout: compileSchema(VALIDATION_SCHEMAS.Rollout), Policy: compileSchema(VALIDATION_SCHEMAS.Policy) };
  return validators[kind];
}

/**
 * Validates `data` against the schema of `kind`, filling in schema defaults on `data` itself
 * (callers pass a copy). Returns one problem per mistake, in no particular order.
 */
export function schemaProblems(kind: DocumentKind, data: unknown): Problem[] {
  return problemsOf(validatorFor(kind), data, kind === 'Rollout' ? rolloutSchema : policySchema);
}

/**
 * Validates `data` with a compiled schema (`root` is the schema it was compiled from) and returns one problem
 * per mistake. `word` may word an error itself (the loader's per-field messages); undefined keeps the usual one.
 */
export function problemsOf(validate: ValidateFunction, data: unknown, root: object, word?: (e: ErrorObject, path: PathSegment[]) => Problem | undefined): Problem[] {
  if (validate(data)) return [];
  const problems: Problem[] = [];
  for (const e of collapse(validate.errors ?? [])) {
    const problem = word?.(e, pointerToPath(e.instancePath, data)) ?? translate(e, data, root);
    if (problem) problems.push(problem);
  }
  return problems;
}

/** Drops the errors that only restate another one (see the module comment). */
function collapse(errors: ErrorObject[]): ErrorObject[] {
  // A oneOf of forms told apart by their type (`ramp: none` or a mapping): when the value took one form and failed
  // inside it (an error deeper than the oneOf's own path), that inner error is the message; the oneOf is noise.
  const inside = (o: ErrorObject, e: ErrorObject): boolean => o !== e && e.schemaPath.startsWith(`${o.schemaPath}/`) && e.instancePath.startsWith(o.instancePath);
  const deeper = new Set(errors.filter((o) => o.keyword === 'oneOf' && errors.some((e) => inside(o, e) && (e.instancePath !== o.instancePath || e.keyword === 'additionalProperties'))));
  const failedOneOfs = errors.filter((e) => e.keyword === 'oneOf' && !deeper.has(e));
  const insideFailedOneOf = (e: ErrorObject): boolean =>
    failedOneOfs.some((o) => o !== e && o.instancePath === e.instancePath && e.schemaPath.startsWith(`${o.schemaPath}/`)) ||
    [...deeper].some((o) => inside(o, e) && e.instancePath === o.instancePath && e.keyword !== 'additionalProperties');
  let kept = errors.filter(
    (e) => e.keyword !== 'if' && !deeper.has(e) && !insideFailedOneOf(e) && !/\/propertyNames\/[^/]+$/.test(e.schemaPath),
  );

  const byPath = new Map<string, ErrorObject[]>();
  for (const e of kept) {
    const here = byPath.get(e.instancePath);
    if (here) here.push(e);
    else byPath.set(e.instancePath, [e]);
  }
  kept = kept.filter((e) => {
    const here = byPath.get(e.instancePath) ?? [];
    if (!here.some((x) => x.keyword === 'type')) return true;
    // Wrong type: "must be one of required, none (got true)" says more than "must be a string".
    const choice = here.some((x) => x.keyword === 'enum' || x.keyword === 'const');
    return choice ? e.keyword === 'enum' || e.keyword === 'const' : e.keyword === 'type';
  });
  return kept;
}

function translate(e: ErrorObject, data: unknown, root: object): Problem | undefined {
  const path = pointerToPath(e.instancePath, data);
  const value: unknown = e.data;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required': {
      const field = String(params.missingProperty);
      let message = `missing required field ${JSON.stringify(field)}`;
      if (e.schemaPath.endsWith('/then/required')) {
        const condition = describeIf(schemaAt(root, e.schemaPath.replace(/\/then\/required$/, '')));
        if (condition) message += ` (required when ${condition})`;
      }
      return { path, message };
    }
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const known = Object.keys(asRecord(asRecord(e.parentSchema).properties));
      const guess = closest(field, known);
      const hint = guess ? ` (did you mean ${JSON.stringify(guess)}?)` : known.length ? ` (known fields: ${known.join(', ')})` : '';
      const shown = field.length > 60 ? `${field.slice(0, 57)}...` : field;
      return { path: [...path, field], at: 'key', message: `unknown field ${JSON.stringify(shown)}${hint}` };
    }
    case 'propertyNames': {
      const key = String(params.propertyName);
      const what = e.schemaPath.includes('matchLabels') ? 'a label key like ring or example.com/ring' : 'a valid key';
      return { path: [...path, key], at: 'key', message: `must be ${what} (got ${describeValue(key)})` };
    }
    case 'type': {
      const expected = String(params.type);
      let got = describeValue(value);
      if (expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')) {
        got = `${typeof value} ${got}; put it in quotes to make it text`;
      }
      return { path, message: `must be ${typeName(expected)} (got ${got})` };
    }
    case 'const': {
      const expected = String(params.allowedValue);
      if (path.length === 1 && path[0] === 'apiVersion') {
        return { path, message: `unsupported apiVersion ${describeValue(value)} (expected ${expected})` };
      }
      return { path, message: `must be ${expected} (got ${describeValue(value)})` };
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String).join(', ');
      return { path, message: `must be one of ${allowed} (got ${describeValue(value)})` };
    }
    case 'pattern':
      return { path, message: patternMessage(String(params.pattern), value) };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, message: `must be ${String(params.comparison)} ${String(params.limit)} (got ${describeValue(value)})` };
    case 'multipleOf':
      return { path, message: `must be a multiple of ${String(params.multipleOf)} (got ${describeValue(value)})` };
    case 'minLength': {
      const limit = Number(params.limit);
      if (limit === 1) return { path, message: 'must not be empty' };
      return { path, message: `must be at least ${limit} characters (got ${String(value).length})` };
    }
    case 'maxLength':
      return { path, message: `must be at most ${String(params.limit)} characters (got ${String(value).length})` };
    case 'minItems': {
      const limit = Number(params.limit);
      const count = Array.isArray(value) ? value.length : 0;
      return { path, message: `must list at least ${plural(limit, 'item')} (got ${count})` };
    }
    case 'maxItems': {
      const count = Array.isArray(value) ? value.length : 0;
      return { path, message: `must list at most ${plural(Number(params.limit), 'item')} (got ${count})` };
    }
    case 'uniqueItems': {
      const later = Math.max(Number(params.i), Number(params.j));
      const earlier = Math.min(Number(params.i), Number(params.j));
      const item: unknown = Array.isArray(value) ? value[later] : undefined;
      return {
        path: [...path, later],
        message: `duplicate ${describeValue(item)} (already listed as ${formatPath([...path, earlier])})`,
      };
    }
    case 'minProperties':
      return { path, message: Number(params.limit) === 1 ? 'must not be empty' : `must have at least ${String(params.limit)} fields` };
    case 'oneOf':
      return { path, message: oneOfMessage(e, path, value) };
    case 'not':
      if (/\/else\/not$/.test(e.schemaPath)) {
        // e.g. metrics: else: { not: { required: ['query'] } }: a field only some variants may have.
        const forbidden = (asRecord(e.schema).required as unknown[] | undefined)?.map(String) ?? [];
        const condition = describeIf(schemaAt(root, e.schemaPath.replace(/\/else\/not$/, '')));
        const present = forbidden.find((f) => Object.prototype.hasOwnProperty.call(asRecord(value), f));
        if (present !== undefined && condition) {
          return { path: [...path, present], at: 'key', message: `field ${JSON.stringify(present)} is only allowed when ${condition}` };
        }
      }
      return { path, message: e.message ?? 'is not allowed here' };
    default:
      return { path, message: e.message ?? `fails the ${e.keyword} rule` };
  }
}

/** "ring must have exactly one of selector or percent (it has both)". */
function oneOfMessage(e: ErrorObject, path: PathSegment[], value: unknown): string {
  const branches = Array.isArray(e.schema) ? (e.schema as unknown[]) : [];
  const fields = branches.flatMap((b) => ((asRecord(b).required as unknown[] | undefined) ?? []).map(String));
  const noun = nounOf(path);
  const subject = noun ? `${noun} ` : '';
  if (fields.length < 2) {
    // Forms told apart by type: "must be none or a mapping (got "nope")".
    const forms = branches.map((b) => ('const' in asRecord(b) ? String(asRecord(b).const) : typeof asRecord(b).type === 'string' ? typeName(String(asRecord(b).type)) : ''));
    if (forms.length > 0 && forms.every((f) => f !== '')) return `${subject}must be ${forms.slice(0, -1).join(', ')} or ${forms[forms.length - 1]} (got ${describeValue(value)})`;
    return `${subject}must match exactly one of the allowed forms`;
  }
  const present = fields.filter((f) => Object.prototype.hasOwnProperty.call(asRecord(value), f));
  const has = present.length === 0 ? 'neither' : present.length === fields.length ? (fields.length === 2 ? 'both' : 'all') : present.join(' and ');
  const choices = `${fields.slice(0, -1).join(', ')} or ${fields[fields.length - 1]}`;
  return `${subject}must have exactly one of ${choices} (it has ${has})`;
}

/** `spec.rings[2]` -> "ring", `spec.tenants[0]` -> "tenant". */
function nounOf(path: PathSegment[]): string {
  const last = path[path.length - 1];
  const list = path[path.length - 2];
  if (typeof last !== 'number' || typeof list !== 'string') return '';
  return list.endsWith('s') ? list.slice(0, -1) : list;
}

/** A readable form of an `if` schema like `{ properties: { type: { const: 'custom' } } }`: "type is custom". */
function describeIf(schema: unknown): string {
  const props = asRecord(asRecord(asRecord(schema).if).properties);
  const parts = Object.entries(props)
    .map(([k, v]) => ('const' in asRecord(v) ? `${k} is ${String(asRecord(v).const)}` : ''))
    .filter((s) => s !== '');
  return parts.join(' and ');
}

function patternMessage(pattern: string, value: unknown): string {
  const got = `(got ${describeValue(value)})`;
  const text = typeof value === 'string' ? value : '';
  switch (pattern) {
    case DURATION_PATTERN:
      return `must be a duration like 30s, 30m, 2h, 1d or 1h30m ${got}`;
    case NAME_PATTERN:
      return `must be a lowercase name of a-z, 0-9, '-' and '.', starting and ending with a letter or digit ${got}`;
    case LABEL_KEY_PATTERN:
      return `must be a label key like ring or example.com/ring ${got}`;
    case SHA256_PATTERN: {
      if (text.length !== 64) return `must be 64 lowercase hex characters (got ${text.length})`;
      const bad = [...text].findIndex((c) => !/[a-f0-9]/.test(c));
      return `must be 64 lowercase hex characters (got ${JSON.stringify(text[bad])} at position ${bad + 1})`;
    }
    case BASE64_PATTERN: {
      const bad = [...text].findIndex((c) => !/[A-Za-z0-9+/=]/.test(c));
      const detail = bad >= 0 ? `got ${JSON.stringify(text[bad])} at position ${bad + 1}` : 'misplaced = padding';
      return `must be base64 (A-Z, a-z, 0-9, + and /, with = padding only at the end) (${detail})`;
    }
    case HOURS_PATTERN:
      return `must be a time range like 09:00-16:00 (HH:MM-HH:MM, 24-hour clock, end may be 24:00) ${got}`;
    case DATETIME_PATTERN:
      return `must be a date-time like 2026-12-19T00:00:00, optionally ending in Z or an offset like +01:00 ${got}`;
    case '^(https?|file)://':
      return `must be an https://, http:// or file:// URL ${got}`;
    default:
      return `must match ${pattern} ${got}`;
  }
}

function typeName(type: string): string {
  switch (type) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'integer':
      return 'an integer';
    case 'boolean':
      return 'true or false';
    default:
      return `a ${type}`;
  }
}

/** `/spec/rings/2/percent` -> `['spec', 'rings', 2, 'percent']` (indices where the data holds a list). */
export function pointerToPath(pointer: string, data: unknown): PathSegment[] {
  if (pointer === '') return [];
  const path: PathSegment[] = [];
  let current: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(current) && /^[0-9]+$/.test(seg)) {
      path.push(Number(seg));
      current = current[Number(seg)];
    } else {
      path.push(seg);
      current = asRecord(current)[seg];
    }
  }
  return path;
}

/** The sub-schema at an ajv schemaPath like `#/properties/spec/properties/rings/items`. */
function schemaAt(root: object, schemaPath: string): unknown {
  let current: unknown = root;
  for (const raw of schemaPath.replace(/^#\/?/, '').split('/')) {
    if (raw === '') continue;
    const seg = decodeURIComponent(raw.replace(/~1/g, '/').replace(/~0/g, '~'));
    current = Array.isArray(current) ? current[Number(seg)] : asRecord(current)[seg];
  }
  return current;
}

/** The known field closest to a misspelt one, when it is close enough to be a typo. */
function closest(field: string, known: string[]): string | undefined {
  // A long key is no typo of a field name (and the edit distance would cost its length times each name's).
  if (field.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === field.toLowerCase() ? 0.5 : editDistance(field, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(field.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, substitution));
    }
    prev = row;
  }
  return prev[b.length] as number;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
