/**
 * What `ringctl apply -f` and `ringctl diff -f` read: a file, `-` (stdin) or a directory (its *.yaml and *.yml
 * files, sorted; -R goes into subdirectories), each split into its documents in order. A document keeps its own
 * text and the line it starts on, so that the server's positions in it (`request:3:7`) are shown as positions in
 * the file (`dir/b.yaml:17:7`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap, isScalar } from 'yaml';
import { formatSpecError } from '../spec/errors';
import { decodeUtf8 } from '../spec/text';
import { DOCUMENT_LIMITS, parseYaml } from '../spec/yaml';
import { CliError } from './client';

export interface SourceDocument {
  /** The file as the user named it (`<stdin>` for `-`). */
  file: string;
  /** 1-based position of the document in its file, counting only documents with content. */
  index: number;
  /** How many documents with content the file has. */
  of: number;
  /** `kind:` as written ('' when missing or not a string). */
  kind: string;
  /** `metadata.name` as written ('' when missing). */
  name: string;
  /** The document's own text (the whole file when it is the only document). */
  text: string;
  /** Lines before the document's text in the file: a line L in `text` is line L + lineOffset of the file. */
  lineOffset: number;
}

/** One file's documents, or the lines that say why it cannot be split (unreadable, not UTF-8, YAML syntax). */
export type SourceFile = { file: string; ok: true; docs: SourceDocument[] } | { file: string; ok: false; lines: string[]; usage: boolean };

/** The files that `-f PATH` names: PATH itself, or a directory's *.yaml and *.yml files, sorted (recursive with -R). */
export function expandPaths(verb: string, target: string, recursive: boolean): string[] {
  if (target === '-') return ['-'];
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch (err) {
    throw new CliError(`ringctl ${verb}: ${target}: cannot read file (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 2);
  }
  if (!st.isDirectory()) return [target];
  const out: string[] = [];
  const walk = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      throw new CliError(`ringctl ${verb}: ${dir}: cannot read directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 2);
    }
    const sorted = entries.map((e) => e.name).sort();
    for (const name of sorted) {
      const p = path.join(dir, name);
      const e = entries.find((x) => x.name === name) as fs.Dirent;
      if (e.isDirectory()) {
        if (recursive) walk(p);
      } else if (/\.ya?ml$/.test(name)) out.push(p);
    }
  };
  walk(target);
  if (out.length === 0) throw new CliError(`ringctl ${verb}: ${target}: no *.yaml or *.yml files in this directory${recursive ? '' : ' (-R goes into subdirectories)'}`, 2);
  return out;
}

/** Reads one file (or stdin) and splits it into documents; never throws for bad input. */
export function readSourceFile(file: string): SourceFile {
  const shown = file === '-' ? '<stdin>' : file;
  let text: string;
  try {
    const decoded = decodeUtf8(fs.readFileSync(file === '-' ? 0 : file));
    if (!decoded.ok) return { file: shown, ok: false, lines: [`${shown}: ${decoded.message}`], usage: true };
    text = decoded.text;
  } catch (err) {
    return { file: shown, ok: false, lines: [`${shown}: cannot read file (${(err as NodeJS.ErrnoException).code ?? 'error'})`], usage: true };
  }
  return splitDocuments(text, shown);
}

/** The documents of a text, in order, each with its own text and line offset. Pure. */
export function splitDocuments(text: string, file: string): SourceFile {
  let parsed: ReturnType<typeof parseYaml>;
  try {
    parsed = parseYaml(text, file, DOCUMENT_LIMITS);
  } catch {
    return { file, ok: false, lines: [`${file}:1:1: the document cannot be loaded`], usage: false };
  }
  if (parsed.errors.length > 0) return { file, ok: false, lines: parsed.errors.map(formatSpecError), usage: false };
  const withContent = parsed.docs.filter(({ doc }) => !(doc.contents === null || (isScalar(doc.contents) && (doc.contents.value === null || doc.contents.value === ''))));
  if (withContent.length === 0) return { file, ok: false, lines: [`${file}: no documents in this file`], usage: false };
  const docs = withContent.map(({ doc }, i): SourceDocument => {
    const contents = doc.contents;
    const field = (key: string): unknown => (isMap(contents) ? contents.get(key) : undefined);
    const kind = field('kind');
    const meta = field('metadata');
    const name = isMap(meta) ? meta.get('name') : undefined;
    const one = withContent.length === 1;
    const start = one ? 0 : (doc.range[0] ?? 0);
    const end = one ? text.length : (doc.range[2] ?? text.length);
    return {
      file,
      index: i + 1,
      of: withContent.length,
      kind: typeof kind === 'string' ? kind : '',
      name: typeof name === 'string' ? name : '',
      // From the start of its line: a column in the document is then a column in the file.
      text: one ? text : text.slice(lineStart(text, start), end),
      lineOffset: one ? 0 : parsed.lineCounter.linePos(start).line - 1,
    };
  });
  return { file, ok: true, docs };
}

function lineStart(text: string, offset: number): number {
  const nl = text.lastIndexOf('\n', offset - 1);
  return nl < 0 ? 0 : nl + 1;
}

/** `dir/a.yaml` or `dir/a.yaml document 2 of 3`, for messages about one document. */
export function documentLabel(d: Pick<SourceDocument, 'file' | 'index' | 'of'>): string {
  return d.of > 1 ? `${d.file} document ${d.index} of ${d.of}` : d.file;
}

/** `request:14:16 spec...` (a position in the document sent) as `FILE:L:16 spec...` (the same place in the file). */
export function inFileLine(line: string, d: Pick<SourceDocument, 'file' | 'lineOffset'>): string {
  return line.replace(/^request:(\d+):(\d+)(?= )/, (_m, l: string, c: string) => `${d.file}:${Number(l) + d.lineOffset}:${c}`).replace(/^request(?=: )/, d.file);
}
