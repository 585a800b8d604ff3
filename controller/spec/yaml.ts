/**
 * YAML (and JSON, which is YAML) parsing with a bounded cost, for every document Ringmaster reads: rollouts and
 * policies, request bodies, the tokens file, the serve config, trusted keys, simulator scenarios.
 *
 * The yaml library's own costs grow faster than its input on hostile shapes: its duplicate-key check is
 * quadratic (80,000 keys held the server for minutes), and a 1 MiB flow sequence or `[[[[...` takes seconds to
 * build before anything can look at it. So the text is fed to the lexer, parser and composer one token at a
 * time, with budgets checked as it goes, and parsing stops at the first budget exceeded:
 *   - tokens of the whole text (whitespace and comments included): bounds the work of any shape;
 *   - documents in the text, and nesting depth;
 *   - keys and values in one document, counted as written, then values once aliases are expanded
 *     (an alias bomb is a few hundred bytes);
 * Duplicate keys are found here with one Set per mapping (linear), not by the library.
 *
 * A budget exceeded, like any syntax error, is one SpecError with the line and column where it happened.
 */
import { Composer, CST, isAlias, isMap, isPair, isScalar, isSeq, Lexer, LineCounter, Parser, type Document, type Node, type YAMLMap } from 'yaml';
import { formatPath, type PathSegment, type SpecError } from './errors';

export interface YamlLimits {
  /** Documents in one text. */
  maxDocuments: number;
  /** Mapping keys in one document, as written. */
  maxKeys: number;
  /** Values (scalars, collections, aliases) in one document, as written. */
  maxNodes: number;
  /** Values in one document once every alias is expanded (what the loaded object holds). */
  maxExpandedNodes: number;
  /** Aliases in one document. */
  maxAliases: number;
  /** Nesting depth of collections. */
  maxDepth: number;
  /** Lexical tokens of the whole text, whitespace and comments included. */
  maxTokens: number;
}

/**
 * Limits for any document Ringmaster reads. The largest real documents are far below them: a policy with 1,024
 * tenants and 256 freezes is about 5,000 values, a tokens file of 1,000 tokens about 7,000.
 * Measured on the 2-core reference machine, the worst shapes stop in well under a second (bench/hostile-bodies.ts).
 */
export const DOCUMENT_LIMITS: Readonly<YamlLimits> = {
  maxDocuments: 1_000,
  maxKeys: 10_000,
  maxNodes: 30_000,
  maxExpandedNodes: 100_000,
  maxAliases: 100,
  maxDepth: 64,
  maxTokens: 250_000,
};

export interface ParsedYaml {
  /** Documents that parsed, in order (those with syntax errors are left out, their errors reported). */
  docs: Array<{ doc: Document.Parsed; index: number }>;
  lineCounter: LineCounter;
  errors: SpecError[];
}

class LimitExceeded extends Error {
  constructor(
    readonly offset: number,
    readonly path: PathSegment[],
    message: string,
  ) {
    super(message);
  }
}

/** Every document of `text`, each with its source positions; a syntax error or an exceeded limit is a SpecError. */
export function parseYaml(text: string, file: string, limits: Readonly<YamlLimits> = DOCUMENT_LIMITS): ParsedYaml {
  const lineCounter = new LineCounter();
  const errors: SpecError[] = [];
  const docs: ParsedYaml['docs'] = [];
  const at = (offset: number, message: string, path = ''): SpecError => {
    const pos = lineCounter.linePos(offset);
    return { file, line: pos.line, col: pos.col, path, message };
  };
  const parser = new Parser(lineCounter.addNewLine);
  // uniqueKeys: false: the library's check is quadratic; checkDocument does it with a Set per mapping.
  const composer = new Composer({ uniqueKeys: false });
  let count = 0;
  const accept = (doc: Document.Parsed): void => {
    const index = count++;
    if (count > limits.maxDocuments) throw new LimitExceeded(doc.range[0], [], `the text has more than ${limits.maxDocuments} documents (limit)`);
    for (const e of doc.errors) errors.push(at(e.pos[0], `YAML syntax: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`));
    const duplicates = checkDocument(doc, limits);
    if (doc.errors.length > 0 || duplicates.length > 0) {
      // A duplicate key is a mistake of its document only: the other documents of the text still load.
      for (const d of duplicates) {
        const first = lineCounter.linePos(d.firstOffset);
        errors.push(at(d.offset, `duplicate key ${JSON.stringify(shorten(d.key))} (already at ${first.line}:${first.col})`, formatPath(d.path)));
      }
      return;
    }
    docs.push({ doc, index });
  };
  try {
    lineCounter.addNewLine(0);
    let tokens = 0;
    let keys = 0;
    let nodes = 0;
    // The stack of the CST parser grows by about one entry per level of nesting (plus the document and a scalar).
    const maxStack = limits.maxDepth + 4;
    // The lexer marks a plain scalar with SCALAR, then gives its text as the next lexeme: text, not structure.
    let scalarText = false;
    for (const lexeme of new Lexer().lex(text)) {
      if (++tokens > limits.maxTokens) throw new LimitExceeded(parser.offset, [], `the text has more than ${limits.maxTokens} YAML tokens (limit)`);
      const structure = !scalarText;
      scalarText = lexeme === CST.SCALAR;
      if (structure) switch (lexeme) {
        // A document starts at the beginning of the text, after `...` (the lexer's DOCUMENT mark) or at `---`.
        case CST.DOCUMENT:
        case '---':
          keys = 0;
          nodes = 0;
          break;
        case ':':
          if (++keys > limits.maxKeys) throw new LimitExceeded(parser.offset, [], `the document has more than ${limits.maxKeys} keys (limit)`);
          break;
        case CST.SCALAR:
        case '[':
        case '{':
          if (++nodes > limits.maxNodes) throw new LimitExceeded(parser.offset, [], `the document has more than ${limits.maxNodes} values (limit)`);
          break;
        default: {
          const c = lexeme[0];
          if ((c === '"' || c === "'" || c === '*') && ++nodes > limits.maxNodes) {
            throw new LimitExceeded(parser.offset, [], `the document has more than ${limits.maxNodes} values (limit)`);
          }
        }
      }
      for (const token of parser.next(lexeme)) for (const doc of composer.next(token)) accept(doc);
      if (parser.stack.length > maxStack) throw new LimitExceeded(parser.offset, [], `the document is nested more than ${limits.maxDepth} levels deep (limit)`);
    }
    for (const token of parser.end()) for (const doc of composer.next(token)) accept(doc);
    for (const doc of composer.end(false, text.length)) accept(doc);
  } catch (err) {
    if (err instanceof LimitExceeded) return { docs: [], lineCounter, errors: [at(err.offset, err.message, formatPath(err.path))] };
    // The library's own recursion on a shape the budgets let through: still the input's fault, one line.
    if (err instanceof RangeError) return { docs: [], lineCounter, errors: [at(0, 'the document is nested too deeply')] };
    throw err;
  }
  return { docs, lineCounter, errors };
}

interface DuplicateKey {
  key: string;
  path: PathSegment[];
  offset: number;
  firstOffset: number;
}

/**
 * One pass over a composed document: nesting depth, duplicate keys (a Map per mapping), aliases and the size of
 * the document once they are expanded (each anchored node's size is remembered, so the pass stays linear).
 * An exceeded limit throws; duplicate keys are returned.
 */
function checkDocument(doc: Document.Parsed, limits: Readonly<YamlLimits>): DuplicateKey[] {
  const duplicates: DuplicateKey[] = [];
  const sizes = new Map<Node, number>();
  const anchors = new Map<string, Node>();
  let aliases = 0;
  let expanded = 0;
  const path: PathSegment[] = [];
  const offsetOf = (node: unknown): number => ((node as Node | null)?.range?.[0] ?? 0);

  const visit = (node: unknown, depth: number): number => {
    if (node === null || node === undefined) return 1;
    if (depth > limits.maxDepth) throw new LimitExceeded(offsetOf(node), [...path], `the document is nested more than ${limits.maxDepth} levels deep (limit)`);
    let size = 1;
    // The anchor is defined where its node starts: an alias inside the node already refers to it.
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor !== undefined) anchors.set(anchor, node as Node);
    if (isAlias(node)) {
      if (++aliases > limits.maxAliases) throw new LimitExceeded(offsetOf(node), [...path], `document uses too many aliases (more than ${limits.maxAliases})`);
      const target = anchors.get(node.source);
      if (target === undefined) throw new LimitExceeded(offsetOf(node), [...path], `alias *${shorten(node.source)} has no anchor &${shorten(node.source)} before it`);
      const targetSize = sizes.get(target);
      // An alias inside its own anchor would expand forever (a cycle in the loaded value).
      if (targetSize === undefined) throw new LimitExceeded(offsetOf(node), [...path], `alias *${shorten(node.source)} refers to a node that contains it`);
      size = targetSize;
    } else if (isMap(node)) {
      const seen = new Map<string, number>();
      for (const pair of node.items) {
        const key = pair.key as Node | null;
        if (isScalar(key)) {
          const name = String(key.value);
          const first = seen.get(name);
          if (first !== undefined) duplicates.push({ key: name, path: [...path, name], offset: offsetOf(key), firstOffset: first });
          else seen.set(name, offsetOf(key));
        }
        size += visit(key, depth + 1);
        path.push(isScalar(key) ? String(key.value) : '?');
        size += visit(pair.value, depth + 1);
        path.pop();
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        path.push(i);
        size += visit(item, depth + 1);
        path.pop();
      });
    } else if (isPair(node)) {
      size += visit(node.key, depth + 1) + visit(node.value, depth + 1);
    }
    expanded += isAlias(node) ? size : 1;
    if (expanded > limits.maxExpandedNodes) {
      throw new LimitExceeded(offsetOf(node), [...path], `the document expands to more than ${limits.maxExpandedNodes} values through aliases (limit)`);
    }
    sizes.set(node as Node, size);
    return size;
  };
  visit(doc.contents, 0);
  return duplicates;
}

/** The library's own check of alias use (`maxAliasCount`), kept on top of the expansion budget: it refused these before. */
const MAX_ALIAS_COUNT = 100;

/** The plain value of a parsed document, or the error of a document that uses aliases too heavily. */
export function valueOf(doc: Document.Parsed, lc: LineCounter, file: string): { ok: true; value: unknown } | { ok: false; error: SpecError } {
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown };
  } catch {
    const pos = lc.linePos(doc.contents?.range?.[0] ?? 0);
    return { ok: false, error: { file, line: pos.line, col: pos.col, path: '', message: `document uses too many aliases (more than ${MAX_ALIAS_COUNT})` } };
  }
}

/**
 * The line and column of the node a path points at: the deepest node of the path that exists, or with
 * `at: 'key'` the mapping key of its last segment. Mapping lookups go through a per-mapping index, so that
 * positioning many errors in a wide mapping stays linear.
 */
export function positionOf(
  doc: Document,
  lc: LineCounter,
  path: readonly PathSegment[],
  at: 'key' | 'value' | undefined,
  index: WeakMap<YAMLMap, Map<string, { key: Node; value: Node | null }>> = new WeakMap(),
): { line: number; col: number } {
  let node: Node | null | undefined = doc.contents as Node | null;
  let offset = node?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isMap(node)) {
      let keys = index.get(node);
      if (!keys) {
        keys = new Map();
        for (const p of node.items) {
          const k = p.key as Node | null;
          if (isScalar(k) && !keys.has(String(k.value))) keys.set(String(k.value), { key: k, value: p.value as Node | null });
        }
        index.set(node, keys);
      }
      const pair = keys.get(String(seg));
      if (!pair) break;
      if (i === path.length - 1 && at === 'key') {
        offset = pair.key.range?.[0] ?? offset;
        break;
      }
      node = pair.value;
      offset = node?.range?.[0] ?? pair.key.range?.[0] ?? offset;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      node = item;
      offset = item.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return lc.linePos(offset);
}

function shorten(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
