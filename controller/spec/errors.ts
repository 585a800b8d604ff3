/**
 * Validation errors of Ringmaster documents, as values.
 *
 * A `Problem` is what a check finds: where in the document (a path of keys and indices) and what is
 * wrong. The loader turns it into a `SpecError` by finding the YAML node of that path, so an
 * operator reads one compiler-like line per mistake:
 *
 *   examples/invalid/x.yaml:14:7 spec.rings[2].percent: must be <= 100 (got 150)
 *
 * `InputError` is the one exception that carries such lines to the edge of the program (exit 2 of a command,
 * a refused start of the server): every expected problem with a file, a flag or a document, one line each.
 */

/** Expected problems with what an operator gave (a file, a flag, a document): one line each, never a stack trace. */
export class InputError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join('\n'));
    this.name = 'InputError';
  }
}
import { printable } from './text';

/** One mistake in one document, with its 1-based source position (0:0 when there is no source text). */
export interface SpecError {
  file: string;
  line: number;
  col: number;
  /** Dotted/indexed path of the offending field, e.g. `spec.rings[2].percent`; empty for the whole file. */
  path: string;
  message: string;
  /** The file itself could not be read (missing, a directory, no permission): a usage error (exit 2), not a bad document. */
  unreadable?: true;
}

/** A step of a path into a document: a mapping key or a list index. */
export type PathSegment = string | number;

/**
 * What a check reports before positions are known.
 * `at: 'key'` points the position at the mapping key of the last segment (unknown fields, duplicate
 * names) rather than at its value.
 */
export interface Problem {
  path: PathSegment[];
  message: string;
  at?: 'key' | 'value';
}

/** `file:line:col path: message`, always exactly one line. */
export function formatSpecError(e: SpecError): string {
  // A document-level error (YAML syntax, a file that cannot be read) has no field path: name the document.
  return `${e.file}:${e.line}:${e.col} ${oneLine(e.path) || '(document)'}: ${oneLine(e.message)}`;
}

/**
 * `['spec', 'rings', 2, 'percent']` -> `spec.rings[2].percent`; odd keys are quoted: `matchLabels["a/b"]`;
 * a key longer than 60 characters is shortened (the line names it, it does not echo it).
 */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]{0,59}$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg.length > 60 ? `${seg.slice(0, 57)}...` : seg)}]`;
  }
  return out;
}

/** How a value reads in a message: `150`, `Fri day`, `"" (empty)`, `a list`; long text is shortened. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    if (value === '') return 'an empty string';
    const short = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    // Plain text reads best unquoted; quote it when whitespace at the ends or control characters would hide.
    // eslint-disable-next-line no-control-regex -- control characters are exactly what must be quoted
    return /^\S(.*\S)?$/.test(short) && !/[\u0000-\u001f]/.test(short) ? short : JSON.stringify(short);
  }
  return String(value);
}

/** At most this many errors of one load are reported; the rest are counted in one last line. */
export const MAX_REPORTED_ERRORS = 100;

/**
 * Sort by position, then drop exact repeats (the same mistake found twice). Beyond MAX_REPORTED_ERRORS, one
 * last error says how many more there are (a document of 10,000 unknown fields is not 10,000 lines).
 */
export function sortAndDedupe(errors: SpecError[]): SpecError[] {
  const seen = new Set<string>();
  const out: SpecError[] = [];
  const sorted = errors
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.line - b.e.line || a.e.col - b.e.col || a.i - b.i)
    .map((x) => x.e);
  for (const e of sorted) {
    const key = formatSpecError(e);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  if (out.length <= MAX_REPORTED_ERRORS) return out;
  const rest = out.length - MAX_REPORTED_ERRORS;
  const last = out[MAX_REPORTED_ERRORS] as SpecError;
  return [...out.slice(0, MAX_REPORTED_ERRORS), { ...last, path: '', message: `${rest} more error${rest === 1 ? '' : 's'} not shown` }];
}

/** One line, and safe to print: control, bidi and lone-surrogate characters the user sent are shown as escapes. */
function oneLine(text: string): string {
  return printable(text.replace(/\s*[\r\n]+\s*/g, ' ').trim());
}
