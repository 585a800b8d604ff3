/**
 * ringctl: the Ringmaster command line. Each verb lives in its own module under commands/ and
 * registers itself on the program; this file only wires them together.
 */
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands';

export function buildProgram(): Command {
  const program = new Command('ringctl')
    .description('Ringmaster: staged rollouts of agent and config updates to fleets of hosts')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  registerCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    // Expected failures are printed by the commands themselves; anything here is a bug, shown in one line.
    process.stderr.write(`ringctl: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
