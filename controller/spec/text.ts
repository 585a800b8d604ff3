/**
 * Text integrity: the one check of every free-text string that Ringmaster stores, shared by the API (verb and
 * kill-switch reasons, request bodies) and the document loader (every key and string of a Rollout or Policy).
 *
 * A stored string must be well-formed Unicode (no lone UTF-16 surrogate: SQLite would read back U+FFFD, and a
 * hash computed over the original would no longer match), and must display as what it is:
 *   - no C0/C1 control characters, NUL included (tab and line breaks only where multi-line text is expected);
 *   - no U+2028/U+2029 (they break lines in some viewers and not in others);
 *   - no bidirectional embedding, override or isolate characters (U+202A-U+202E, U+2066-U+2069), which can make
 *     text read differently from what it is ("Trojan Source", CVE-2021-42574).
 * Such input is refused, never normalised: what a user sees in the audit log is exactly what was sent.
 *
 * Request bodies are checked as bytes first (`decodeUtf8`): overlong forms, UTF-8-encoded surrogates and
 * truncated sequences are refused before parsing.
 */
import type { PathSegment, Problem } from './errors';

/** `line`: one line of text (names, labels, reasons). `multiline`: tab, LF and CR are allowed too (annotations, queries). */
export type TextKind = 'line' | 'multiline';

/** Any code unit that needs a closer look; text without one (the common case) is accepted by one regex test. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
const SUSPECT = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]/;

const NAMES: Record<number, string> = {
  0x00: 'NUL',
  0x07: 'BELL',
  0x08: 'BACKSPACE',
  0x09: 'TAB',
  0x0a: 'LINE FEED',
  0x0b: 'VERTICAL TAB',
  0x0c: 'FORM FEED',
  0x0d: 'CARRIAGE RETURN',
  0x1b: 'ESCAPE',
  0x7f: 'DELETE',
  0x85: 'NEXT LINE',
  0x9b: 'CONTROL SEQUENCE INTRODUCER',
  0x2028: 'LINE SEPARATOR',
  0x2029: 'PARAGRAPH SEPARATOR',
  0x202a: 'LEFT-TO-RIGHT EMBEDDING',
  0x202b: 'RIGHT-TO-LEFT EMBEDDING',
  0x202c: 'POP DIRECTIONAL FORMATTING',
  0x202d: 'LEFT-TO-RIGHT OVERRIDE',
  0x202e: 'RIGHT-TO-LEFT OVERRIDE',
  0x2066: 'LEFT-TO-RIGHT ISOLATE',
  0x2067: 'RIGHT-TO-LEFT ISOLATE',
  0x2068: 'FIRST STRONG ISOLATE',
  0x2069: 'POP DIRECTIONAL ISOLATE',
};

/** `U+202E RIGHT-TO-LEFT OVERRIDE`, `U+0001`. */
export function codePointLabel(cp: number): string {
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  const name = NAMES[cp];
  return name === undefined ? hex : `${hex} ${name}`;
}

function isBidiControl(cp: number): boolean {
  return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

function isControl(cp: number): boolean {
  return cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029;
}

/**
 * Why `text` may not be stored, or undefined when it may. One reason, about the first offending character;
 * positions count characters (code points) from 1, as an editor does. Linear in the length of the text.
 */
export function textFlaw(text: string, kind: TextKind = 'line'): string | undefined {
  return scan(text, kind, false);
}

/** True when `text` has no lone surrogate: it can be stored (UTF-8 in SQLite) and read back identically. */
export function isWellFormed(text: string): boolean {
  return scan(text, 'multiline', true) === undefined;
}

function scan(text: string, kind: TextKind, surrogatesOnly: boolean): string | undefined {
  if (!SUSPECT.test(text)) return undefined;
  let character = 0;
  for (let i = 0; i < text.length; i++) {
    character++;
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++; // a proper pair: one character outside the BMP, never a control
        continue;
      }
      return `not well-formed Unicode (lone surrogate ${codePointLabel(unit)} at character ${character})`;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) return `not well-formed Unicode (lone surrogate ${codePointLabel(unit)} at character ${character})`;
    if (surrogatesOnly) continue;
    if (isControl(unit)) {
      if (kind === 'multiline' && (unit === 0x09 || unit === 0x0a || unit === 0x0d)) continue;
      const what = kind === 'line' ? 'must be one line without control characters' : 'must not contain control characters other than tab and line breaks';
      return `${what} (${codePointLabel(unit)} at character ${character})`;
    }
    if (isBidiControl(unit)) {
      return `must not contain bidirectional control characters, which make text display differently from what it is ("Trojan Source": ${codePointLabel(unit)} at character ${character})`;
    }
  }
  return undefined;
}

/** A string that must not be stored (or hashed): a bug upstream, since every input boundary checks text first. */
export class TextIntegrityError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'TextIntegrityError';
  }
}

/**
 * Throws a TextIntegrityError when `text` is not well-formed Unicode (a lone surrogate). For the store's own
 * defence in depth (the audit append path): it checks only what storage cannot keep faithfully, so that text the
 * engine writes (multi-line messages, for example) is never refused there. Input boundaries use `textFlaw`.
 */
export function assertWellFormed(text: string, field: string): void {
  const flaw = scan(text, 'multiline', true);
  if (flaw !== undefined) throw new TextIntegrityError(field, flaw);
}

/** `assertWellFormed` over every key and string of a JSON-like value (an audit payload, for example). */
export function assertWellFormedDeep(value: unknown, field: string): void {
  walkStrings(value, (text, at, isKey) => {
    const flaw = scan(text, 'multiline', true);
    if (flaw !== undefined) throw new TextIntegrityError(`${field}${pathSuffix(at())}${isKey ? ' (a key)' : ''}`, flaw);
  });
}

/**
 * Text problems of a loaded document, as loader problems (so each becomes `file:line:col path: message`).
 * Every mapping key and every string value is checked; `multiline(path)` says which values may span lines.
 */
export function documentTextProblems(doc: unknown, multiline: (path: readonly PathSegment[]) => boolean): Problem[] {
  const problems: Problem[] = [];
  walkStrings(doc, (text, at, isKey) => {
    if (!SUSPECT.test(text)) return;
    const path = at();
    const flaw = textFlaw(text, !isKey && multiline(path) ? 'multiline' : 'line');
    if (flaw !== undefined) problems.push(isKey ? { path, at: 'key', message: `key ${flaw}` } : { path, message: flaw });
  });
  return problems;
}

/** Rollout fields that may hold several lines: annotation values and the PromQL of custom metrics. */
export function rolloutMultiline(path: readonly PathSegment[]): boolean {
  const [a, b, c, , e, f] = path;
  if (path.length === 3 && a === 'metadata' && b === 'annotations') return true;
  return path.length === 6 && a === 'spec' && b === 'analysis' && c === 'metrics' && e === 'query' && (f === 'candidate' || f === 'baseline');
}

export function rolloutTextProblems(doc: unknown): Problem[] {
  return documentTextProblems(doc, rolloutMultiline);
}

/** Policies hold one-line text only (freeze reasons, tenant names, the time zone). */
export function policyTextProblems(doc: unknown): Problem[] {
  return documentTextProblems(doc, () => false);
}

/**
 * Text that is safe to print on one terminal line: control, bidi and lone-surrogate code units become `\u{...}`
 * escapes. For error messages that must quote what the user sent without letting it rearrange the line.
 */
export function printable(text: string): string {
  if (!SUSPECT.test(text)) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += text.slice(i, i + 2);
        i++;
        continue;
      }
    }
    const bad = (unit >= 0xd800 && unit <= 0xdfff) || isControl(unit) || isBidiControl(unit);
    out += bad ? `\\u{${unit.toString(16).toUpperCase().padStart(4, '0')}}` : text[i];
  }
  return out;
}

/** The decoder keeps a leading BOM out of the text, as every UTF-8 reader does. */
const FATAL_DECODER = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes UTF-8 bytes, refusing what is not UTF-8 (overlong forms such as C0 AF, surrogates encoded as ED A0 80,
 * truncated sequences, bytes that never occur in UTF-8). The failure names the first bad byte and its offset.
 */
export function decodeUtf8(bytes: Uint8Array): { ok: true; text: string } | { ok: false; offset: number; message: string } {
  try {
    return { ok: true, text: FATAL_DECODER.decode(bytes) };
  } catch {
    const offset = firstInvalidUtf8(bytes);
    const shown = bytes[offset] === undefined ? 'end of data' : `byte 0x${(bytes[offset] as number).toString(16).toUpperCase().padStart(2, '0')}`;
    return { ok: false, offset, message: `not valid UTF-8 (${shown} at offset ${offset} does not start or continue a well-formed sequence)` };
  }
}

/** Offset of the first byte that does not belong to a well-formed UTF-8 sequence (Unicode 15, table 3-7). */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0; // overlong
      if (c === 0xed) hi = 0x9f; // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90; // overlong
      if (c === 0xf4) hi = 0x8f; // beyond U+10FFFF
    } else return i; // 80-C1 (continuation or overlong lead), F5-FF
    for (let k = 1; k <= need; k++) {
      const n = b[i + k];
      if (n === undefined) return i + k; // truncated: the end of the data is where it breaks
      if (n < (k === 1 ? lo : 0x80) || n > (k === 1 ? hi : 0xbf)) return i + k;
    }
    i += need + 1;
  }
  return b.length;
}

// ------------------------------------------------------------------------------------------ walking

/** A step of the path to the value being visited; the parent chain is turned into a path only when needed. */
interface Step {
  segment: PathSegment;
  parent: Step | undefined;
}

function pathOf(step: Step | undefined): PathSegment[] {
  const out: PathSegment[] = [];
  for (let s = step; s; s = s.parent) out.push(s.segment);
  return out.reverse();
}

/**
 * Visits every mapping key and string value. Iterative, and a path is only built when a visitor asks for it,
 * so a hostile, deeply nested document costs time linear in its size and never overflows the stack.
 */
function walkStrings(root: unknown, visit: (text: string, at: () => PathSegment[], isKey: boolean) => void): void {
  const stack: Array<{ value: unknown; step: Step | undefined }> = [{ value: root, step: undefined }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const { value, step } = top;
    if (typeof value === 'string') {
      visit(value, () => pathOf(step), false);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], step: { segment: i, parent: step } });
      continue;
    }
    const entries = Object.entries(value as Record<string, unknown>);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i] as [string, unknown];
      const here: Step = { segment: key, parent: step };
      visit(key, () => pathOf(here), true);
      stack.push({ value: item, step: here });
    }
  }
}

function pathSuffix(path: readonly PathSegment[]): string {
  return path.map((s) => (typeof s === 'number' ? `[${s}]` : `.${printable(s)}`)).join('');
}
