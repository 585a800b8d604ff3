/**
 * JSON Schemas of artifact content (an operator's own schema of a content file, `spec.preflight[].schema`, or an
 * agent's local validator): compiling one, parsing content as JSON or YAML, and the one-line message of a mismatch.
 * No I/O here: spec/semantic.ts compiles a rollout's inline schemas at validation time with it.
 *
 * Content schemas are not Ringmaster's documents: they may use any keyword (strict mode off), formats are not
 * checked, and each schema gets an ajv instance of its own (two schemas with the same `$id` must not collide). Only
 * the first mismatch is reported (`allErrors: false`): its path and reason, `templates[0].fields: must NOT have
 * more than 20 items (got 21)`. Remote `$ref`s are never fetched. The dialect follows `$schema`: draft 2020-12,
 * 2019-09, or draft-07 (also when `$schema` is absent).
 */
import * as crypto from 'node:crypto';
import Ajv, { type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import Ajv2019 from 'ajv/dist/2019';
import Ajv2020 from 'ajv/dist/2020';
import { formatPath } from '../spec/errors';
import { decodeUtf8, printable } from '../spec/text';
import { pointerToPath } from '../spec/validate';
import { DOCUMENT_LIMITS, parseYaml, valueOf } from '../spec/yaml';

/** Compiled schemas by the hash of their JSON; the oldest is dropped beyond this many. */
const MAX_COMPILED = 64;
const compiled = new Map<string, ValidateFunction>();
/** Content larger than this is read as JSON only (YAML's parser costs far more per byte). */
const MAX_YAML_BYTES = 16 * 1024 * 1024;
const MAX_MESSAGE_CHARS = 300;

export type CompiledSchema = { ok: true; validate: ValidateFunction } | { ok: false; message: string };

/** Compiles a content schema; an invalid one is a one-line reason, `not a valid JSON Schema: ...`. */
export function compileContentSchema(schema: unknown): CompiledSchema {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return { ok: false, message: 'not a valid JSON Schema: must be a mapping' };
  let key: string;
  try {
    key = crypto.createHash('sha256').update(JSON.stringify(schema)).digest('hex');
  } catch {
    return { ok: false, message: 'not a valid JSON Schema: not JSON data' };
  }
  const hit = compiled.get(key);
  if (hit) return { ok: true, validate: hit };
  try {
    const ajv = ajvFor((schema as { $schema?: unknown }).$schema);
    if (typeof ajv === 'string') return { ok: false, message: ajv };
    const validate = ajv.compile(schema);
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value as string);
    compiled.set(key, validate);
    return { ok: true, validate };
  } catch (err) {
    return { ok: false, message: bounded(`not a valid JSON Schema: ${err instanceof Error ? err.message : String(err)}`) };
  }
}

const OPTIONS: Options = { allErrors: false, strict: false, validateFormats: false, verbose: true };

/** An ajv instance of the schema's dialect, or why the dialect is not supported. */
function ajvFor(dialect: unknown): Ajv | string {
  if (dialect === undefined) return new Ajv(OPTIONS);
  const d = typeof dialect === 'string' ? dialect.replace(/^https?:\/\//, '').replace(/#$/, '') : '';
  if (d === 'json-schema.org/draft/2020-12/schema') return new Ajv2020(OPTIONS);
  if (d === 'json-schema.org/draft/2019-09/schema') return new Ajv2019(OPTIONS);
  if (d === 'json-schema.org/draft-07/schema') return new Ajv(OPTIONS);
  return `not a supported JSON Schema dialect: $schema must be draft 2020-12, 2019-09 or draft-07 (got ${typeof dialect === 'string' ? JSON.stringify(dialect.slice(0, 80)) : typeof dialect})`;
}

/** The content as data: JSON, or YAML (one document, bounded parse) when it does not parse as JSON. */
export function parseContent(content: Buffer): { ok: true; value: unknown } | { ok: false; message: string } {
  const decoded = decodeUtf8(content);
  if (!decoded.ok) return { ok: false, message: `content is ${decoded.message}` };
  let jsonError: string;
  try {
    return { ok: true, value: JSON.parse(decoded.text) as unknown };
  } catch (err) {
    jsonError = bounded(err instanceof Error ? err.message : String(err), 120);
  }
  if (content.length > MAX_YAML_BYTES) return { ok: false, message: `content is not JSON (${jsonError})` };
  const parsed = parseYaml(decoded.text, 'content', DOCUMENT_LIMITS);
  const first = parsed.errors[0];
  if (first) return { ok: false, message: `content is neither JSON (${jsonError}) nor YAML (${first.line}:${first.col} ${first.message})` };
  if (parsed.docs.length !== 1) return { ok: false, message: `content is neither JSON (${jsonError}) nor one YAML document (found ${parsed.docs.length})` };
  const v = valueOf((parsed.docs[0] as (typeof parsed.docs)[number]).doc, parsed.lineCounter, 'content');
  if (!v.ok) return { ok: false, message: `content: ${v.error.message}` };
  return { ok: true, value: v.value };
}

/** undefined when `data` matches; otherwise the first mismatch, `path: reason`. */
export function schemaFailure(validate: ValidateFunction, data: unknown): string | undefined {
  if (validate(data)) return undefined;
  const e = validate.errors?.[0];
  return e ? describeSchemaError(e, data) : 'does not match the schema';
}

/** `templates[0].fields: must NOT have more than 20 items (got 21)`. */
function describeSchemaError(e: ErrorObject, data: unknown): string {
  const where = formatPath(pointerToPath(e.instancePath, data)) || '(document)';
  const params = e.params as Record<string, unknown>;
  let detail = '';
  if (e.keyword === 'additionalProperties') detail = ` (${JSON.stringify(String(params.additionalProperty))})`;
  else if (e.keyword === 'enum' && Array.isArray(params.allowedValues)) detail = `: ${params.allowedValues.map((x) => JSON.stringify(x)).join(', ')}`;
  else if (e.keyword === 'const') detail = ` ${JSON.stringify(params.allowedValue)}`;
  const count = (e.keyword === 'maxItems' || e.keyword === 'minItems') && Array.isArray(e.data) ? ` (got ${e.data.length})` : '';
  return bounded(`${where}: ${e.message ?? `fails ${e.keyword}`}${detail}${count}`);
}

function bounded(text: string, max = MAX_MESSAGE_CHARS): string {
  const line = printable(text.replace(/\s*[\r\n]+\s*/g, ' ').trim());
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}
