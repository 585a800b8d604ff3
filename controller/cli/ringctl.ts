/**
 * ringctl: the Ringmaster command line. Each verb lives in its own module under commands/ and
 * registers itself on the program; this file only wires them together.
 *
 * Exit codes (exit-codes.ts, docs/cli.md#exit-codes): 0 done; 1 the controller refused or failed, or a check failed;
 * 2 bad usage; 3-7 how a rollout stands (`status`). Every error is one line on stderr that starts with `ringctl <verb>:` (or `ringctl:` when no verb is involved), never a stack
 * trace and never the token.
 */
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands';
import { flagNames, suggest, unknownFlag, verbNames } from './suggest';

const QUIET_CODES = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

export function buildProgram(): Command {
  const program = new Command('ringctl')
    .description('Ringmaster: staged rollouts of agent and config updates to fleets of hosts')
    .version('0.1.0')
    // Usage errors are printed by main() as one line that names the verb; settings here are inherited by every verb.
    .configureOutput({ outputError: () => undefined })
    .exitOverride();
  registerCommands(program);
  return program;
}

/**
 * A usage error as one line that names the verb: `ringctl get: unknown option '--bogus' (see ringctl get --help)`.
 * A mistyped verb or flag gets the closest known one (`did you mean 'get'?`). An unknown flag is named even when
 * commander first complained about a required option that is missing (`apply --fiel x`: the typo is the cause).
 */
export function usageLine(program: Command, argv: string[], message: string, code?: string): string {
  const names = new Set(verbNames(program));
  const at = argv.findIndex((a) => names.has(a));
  const verb = at < 0 ? undefined : (argv[at] as string);
  const cmd = verb === undefined ? undefined : program.commands.find((c) => c.name() === verb || c.aliases().includes(verb));
  let what = message.replace(/^error: /, '').split('\n')[0] ?? message;
  if (cmd !== undefined && (code === 'commander.unknownOption' || code === 'commander.missingMandatoryOptionValue' || code === 'commander.optionMissingArgument' || code === 'commander.excessArguments')) {
    const flag = unknownFlag(cmd, argv.slice(at + 1));
    if (flag !== null) {
      const guess = suggest(flag, flagNames(cmd).filter((f) => f.startsWith('--') === flag.startsWith('--')));
      what = `unknown option '${flag}'${guess === null ? '' : `; did you mean '${guess}'?`}`;
    }
  }
  if (verb === undefined && code === 'commander.unknownCommand') {
    const typed = argv.find((a) => !a.startsWith('-'));
    const guess = typed === undefined ? null : suggest(typed, verbNames(program));
    if (typed !== undefined) what = `unknown command '${typed}'${guess === null ? '' : `; did you mean '${guess}'?`}`;
  }
  if (verb === undefined && code === 'commander.unknownOption') {
    const flag = argv.find((a) => a.startsWith('-'));
    const guess = flag === undefined ? null : suggest(flag.split('=')[0] as string, ['--help', '--version', '-h', '-V']);
    if (guess !== null) what = `${what}; did you mean '${guess}'?`;
  }
  return verb === undefined ? `ringctl: ${what} (see ringctl --help)` : `ringctl ${verb}: ${what} (see ringctl ${verb} --help)`;
}

/** `ringctl status --watch | head`: the reader went away. Stop quietly instead of dying with a stack trace. */
function onStdoutError(err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  process.stderr.write(`ringctl: cannot write output: ${err.code ?? err.message}\n`);
  process.exit(1);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  process.exitCode = undefined;
  if (!process.stdout.listeners('error').includes(onStdoutError)) process.stdout.on('error', onStdoutError);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0;
      if (!QUIET_CODES.has(err.code)) process.stderr.write(`${usageLine(program, argv, err.message, err.code)}\n`);
      return 2;
    }
    // Expected failures are printed by the commands themselves; anything here is a bug, shown in one line.
    process.stderr.write(`ringctl: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
