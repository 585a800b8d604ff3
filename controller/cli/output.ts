/**
 * `-o json|yaml|wide` (and `--json`, kept as `-o json`) for the verbs that show documents: `get`, `status`.
 * json and yaml print the API's document as it came; wide adds columns to the text tables.
 */
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { CliError } from './client';

export type OutputFormat = 'text' | 'json' | 'yaml' | 'wide';
export const OUTPUT_FORMATS = ['json', 'yaml', 'wide'] as const;

export interface OutputOptions {
  output?: (typeof OUTPUT_FORMATS)[number];
  json?: boolean;
}

export function outputOptions(cmd: Command, jsonHelp = 'print JSON (same as -o json)'): Command {
  return cmd.addOption(new Option('-o, --output <format>', 'output format: json, yaml or wide (more columns)').choices(OUTPUT_FORMATS)).option('--json', jsonHelp);
}

export function outputFormat(verb: string, opts: OutputOptions): OutputFormat {
  if (opts.json && opts.output !== undefined && opts.output !== 'json') {
    throw new CliError(`ringctl ${verb}: --json and -o ${opts.output} disagree (--json is -o json); give one of them`, 2);
  }
  if (opts.json) return 'json';
  return opts.output ?? 'text';
}

/** A document as one JSON line or as YAML (one `---` document, so that a stream of them stays valid YAML). */
export function formatDocument(format: 'json' | 'yaml', doc: unknown): string {
  return format === 'json' ? JSON.stringify(doc) : `---\n${stringify(doc, { lineWidth: 0 })}`;
}
