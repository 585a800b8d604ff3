/** The list of ringctl verbs. Add a verb by writing commands/<verb>.ts and registering it here. */
import type { Command } from 'commander';

export function registerCommands(_program: Command): void {
  // verbs are registered by their modules
}
