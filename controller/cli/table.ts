/**
 * The one table renderer of the command lines (ringctl get/status/plan, the watch, agent-sim's summary).
 *
 * Pure: rows of cells in, text out. Widths are counted in code points (ring names and reasons are plain text; no
 * escape codes go through here). Two styles:
 * - `plain`: kubectl's look, columns separated by two spaces, no trailing blanks;
 * - `boxed`: `+---+` rules and `|` bars, a rule under the header row (agent-sim's summary).
 * A column may be given a maximum width: longer cells are cut with an ellipsis, never wrapped, so each row stays
 * one line and the columns stay aligned. `fit` cuts every row to a total width (a terminal's columns).
 */

export const ELLIPSIS = '…';

/** Width of a text in terminal columns, counted as code points. */
export function textWidth(text: string): number {
  return [...text].length;
}

/** `text` cut to `width` columns, ending in an ellipsis when something was cut. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return '';
  const chars = [...text];
  if (chars.length <= width) return text;
  return `${chars.slice(0, width - 1).join('')}${ELLIPSIS}`;
}

function pad(text: string, width: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, width - textWidth(text)));
  return align === 'right' ? `${fill}${text}` : `${text}${fill}`;
}

export interface TableOptions {
  style?: 'plain' | 'boxed';
  /** Per column: cut longer cells with an ellipsis. */
  maxWidths?: ReadonlyArray<number | undefined>;
  /** Per column, default left. */
  align?: ReadonlyArray<'left' | 'right' | undefined>;
  /** Cut each finished line to this many columns (with an ellipsis). */
  fit?: number;
  /** boxed: draw a rule under the first row (the header). Default true. */
  headerRule?: boolean;
  /** Text before each line (an indent). Counted in `fit`. */
  indent?: string;
}

export function renderTable(rows: ReadonlyArray<ReadonlyArray<string>>, opts: TableOptions = {}): string {
  const style = opts.style ?? 'plain';
  const cut = rows.map((r) => r.map((c, i) => {
    const max = opts.maxWidths?.[i];
    return max === undefined ? c : truncate(c, max);
  }));
  const widths: number[] = [];
  for (const r of cut) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, textWidth(c))));
  const indent = opts.indent ?? '';
  const cell = (c: string, i: number): string => pad(c, widths[i] ?? 0, opts.align?.[i] ?? 'left');
  let lines: string[];
  if (style === 'plain') {
    lines = cut.map((r) => `${indent}${r.map((c, i) => (i === r.length - 1 && (opts.align?.[i] ?? 'left') === 'left' ? c : cell(c, i))).join('  ')}`.trimEnd());
  } else {
    const rule = `${indent}+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
    const line = (r: readonly string[]): string => `${indent}| ${widths.map((_, i) => cell(r[i] ?? '', i)).join(' | ')} |`;
    lines = [rule];
    cut.forEach((r, i) => {
      lines.push(line(r));
      if (i === 0 && opts.headerRule !== false && cut.length > 1) lines.push(rule);
    });
    lines.push(rule);
  }
  const fit = opts.fit;
  return (fit === undefined ? lines : lines.map((l) => truncate(l, fit))).join('\n');
}
