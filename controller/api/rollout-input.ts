/**
 * The body of POST /v1/rollouts -> a validated Rollout, or the error lines `ringctl validate` would print.
 * YAML and JSON bodies go through the same loader as `ringctl validate` (JSON is YAML), so errors carry the
 * line:col of the request body and the same field paths and messages.
 */
import { formatSpecError, parseRolloutText } from '../spec/load';
import type { Rollout } from '../spec/types';

/** The file name shown in error lines: the request body, never a server path. */
export const BODY_SOURCE = 'request';

export type RolloutInput = { ok: true; rollout: Rollout } | { ok: false; lines: string[] };

export function parseRolloutBody(text: string): RolloutInput {
  let r: ReturnType<typeof parseRolloutText>;
  try {
    r = parseRolloutText(text, BODY_SOURCE);
  } catch (err) {
    // The loader turns bad input into values; a pathological body that still throws (deep nesting
    // overflowing the stack while cloning or validating) is the input's fault, not a 500.
    const why = err instanceof RangeError ? 'the document is nested too deeply' : 'the document cannot be loaded';
    return { ok: false, lines: [`${BODY_SOURCE}:1:1 : ${why}`] };
  }
  return r.ok ? { ok: true, rollout: r.doc } : { ok: false, lines: r.errors.map(formatSpecError) };
}
