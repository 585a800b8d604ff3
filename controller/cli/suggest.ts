/**
 * "Did you mean": the closest known verb or flag to a mistyped one, for ringctl's usage errors. Pure.
 */
import type { Command } from 'commander';

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions: `gte` -> `get` is 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** The closest candidate within a small distance (a third of the word, at least 1, at most 3), or null. */
export function suggest(word: string, candidates: readonly string[]): string | null {
  const w = word.toLowerCase();
  const limit = Math.min(3, Math.max(1, Math.floor(w.replace(/^-+/, '').length / 3)));
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const dist = editDistance(w, c.toLowerCase());
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return bestDistance <= limit ? best : null;
}

/** The verbs of a program, with their aliases. */
export function verbNames(program: Command): string[] {
  return program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
}

/** The flags a verb takes (long and short), --help included. */
export function flagNames(cmd: Command): string[] {
  const names = cmd.options.flatMap((o) => [o.long, o.short].filter((n): n is string => n !== undefined));
  return [...names, '--help', '-h'];
}

/**
 * The first argument of `args` (a verb's own arguments) that looks like a flag the verb does not take, or null.
 * `--flag=value` counts by its name; everything after `--` is an operand. Values of flags that take one are skipped.
 */
export function unknownFlag(cmd: Command, args: readonly string[]): string | null {
  const known = new Set(flagNames(cmd));
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') return null;
    if (!a.startsWith('-') || a === '-') continue;
    const name = a.startsWith('--') ? (a.split('=')[0] as string) : a.slice(0, 2);
    if (!known.has(name)) return name;
    const opt = cmd.options.find((o) => o.long === name || o.short === name);
    if (opt && (opt.required || opt.optional) && !a.includes('=') && !(a.startsWith('-') && !a.startsWith('--') && a.length > 2)) i++;
  }
  return null;
}
