/**
 * The body of POST /v1/rollouts -> a validated Rollout, or the error lines `ringctl validate` would print.
 * YAML and JSON bodies go through the same loader (JSON is YAML), so errors carry line:col of the body.
 */
import { parseAllDocuments } from 'yaml';
import { formatSpecError, sortAndDedupe, type SpecError } from '../spec/errors';
import { rolloutProblems } from '../spec/semantic';
import type { Rollout } from '../spec/types';
import { schemaProblems } from '../spec/validate';

/** The file name shown in error lines: the request body, never a server path. */
export const BODY_SOURCE = 'request';

export type RolloutInput = { ok: true; rollout: Rollout } | { ok: false; lines: string[] };

// TEMPORARY: replaced by controller/spec/load (parseDocuments/validateRolloutObject) once it lands.
export function parseRolloutBody(text: string): RolloutInput {
  try {
    return parse(text);
  } catch (err) {
    // The YAML parser recurses (deep nesting: RangeError) and refuses alias bombs by throwing: the input's fault.
    const why = err instanceof RangeError ? 'the document is nested too deeply' : 'the document cannot be loaded (too many aliases or too complex)';
    return { ok: false, lines: [`${BODY_SOURCE}:1:1 : ${why}`] };
  }
}

function parse(text: string): RolloutInput {
  const docs = parseAllDocuments(text, { prettyErrors: false });
  if (!Array.isArray(docs)) return { ok: false, lines: [`${BODY_SOURCE}:1:1 : empty document`] };
  if (docs.length !== 1) return { ok: false, lines: [`${BODY_SOURCE}:1:1 : expected exactly one Rollout document (got ${docs.length})`] };
  const doc = docs[0];
  if (!doc) return { ok: false, lines: [`${BODY_SOURCE}:1:1 : empty document`] };
  if (doc.errors.length > 0) {
    return { ok: false, lines: doc.errors.map((e) => `${BODY_SOURCE}:${e.linePos?.[0]?.line ?? 0}:${e.linePos?.[0]?.col ?? 0} : ${e.message.split('\n')[0] ?? ''}`) };
  }
  const data = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const problems = [...schemaProblems('Rollout', data), ...rolloutProblems(data)];
  if (problems.length === 0) return { ok: true, rollout: data as Rollout };
  const errors: SpecError[] = problems.map((p) => ({ file: BODY_SOURCE, line: 0, col: 0, path: p.path.join('.'), message: p.message }));
  return { ok: false, lines: sortAndDedupe(errors).map(formatSpecError) };
}
