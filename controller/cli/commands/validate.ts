/**
 * `ringctl validate FILE...`: every mistake of every file, one line each; exit 0 when all are valid, 1 when one is
 * invalid, 2 when a file cannot be read.
 * A valid rollout that declares no metrics gets one line saying that only the built-in signals guard it.
 */
import type { Command } from 'commander';
import { formatSpecError, loadFiles } from '../../spec/load';
import { EXIT } from '../exit-codes';
import { signalsOnlyText } from '../render';

export function validateFiles(files: string[], out: (line: string) => void, err: (line: string) => void): number {
  const { docs, errors } = loadFiles(files);
  for (const e of errors) err(formatSpecError(e));
  // Every output line names a file and a line; the exit code carries the verdict: 2 when a file cannot be read
  // (usage, like apply), 1 when a document is invalid (exit-codes.ts).
  if (errors.some((e) => e.unreadable)) return EXIT.usage;
  if (errors.length > 0) return EXIT.failed;
  out(`ok: ${docs.length} document${docs.length === 1 ? '' : 's'} in ${files.length} file${files.length === 1 ? '' : 's'}`);
  for (const d of docs) {
    const text = d.kind === 'Rollout' ? signalsOnlyText(d.doc.spec) : null;
    if (text !== null) out(`${d.file}: rollout ${d.doc.metadata.name} ${text} (judged when ringmaster serve has a metrics provider; without one: bake time alone)`);
  }
  return 0;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check Rollout and Policy documents; prints every error as file:line:col path: message')
    .argument('<files...>', 'YAML files (multi-document files are fine)')
    .action((files: string[]) => {
      process.exitCode = validateFiles(
        files,
        (l) => process.stdout.write(`${l}\n`),
        (l) => process.stdout.write(`${l}\n`),
      );
    });
}
