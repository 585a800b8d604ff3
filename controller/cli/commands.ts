/** The list of ringctl verbs. Add a verb by writing commands/<verb>.ts and registering it here. */
import type { Command } from 'commander';
import { registerValidate } from './commands/validate';
import { registerPlan } from './commands/plan';
import { registerRemote } from './commands/remote';
import { registerKeys } from './commands/keys';

export function registerCommands(program: Command): void {
  registerValidate(program);
  registerPlan(program);
  registerRemote(program);
  registerKeys(program);
}
