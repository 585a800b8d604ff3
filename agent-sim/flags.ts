/** The command-line plumbing agent-sim and agent-sim serve share: integer flags, and one-line usage errors. */
import { CommanderError, type Command } from 'commander';
import { InputError } from '../controller/spec/errors';

/** A `--hosts`/`--seed` style flag: an integer in [min, max] (underscores allowed), or one InputError line. */
export function intFlag(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min || n > max) throw new InputError([`--${name} must be an integer between ${min} and ${max} (got ${JSON.stringify(v)})`]);
  return n;
}

/**
 * Parses argv with `program` (its action sets the exit code `exit()` returns). A usage error is one line
 * `NAME: reason` on stderr and exit 2; --help and --version exit 0.
 */
export async function runProgram(program: Command, name: string, argv: string[], exit: () => number): Promise<number> {
  program.exitOverride().configureOutput({ outputError: (s, write) => write(`${name}: ${s.replace(/^error: /, '').trim().split('\n')[0] ?? ''}\n`) });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exit();
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
}
