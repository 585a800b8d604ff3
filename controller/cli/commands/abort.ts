/** `ringctl abort NAME [--reason R]`: halts and rolls back; the rollout ends `aborted` (role deployer or sre). */
import type { Command } from 'commander';
import { registerRolloutAction } from '../rollout-action';

export function registerAbort(program: Command): void {
  registerRolloutAction(program, 'abort', 'halt and roll back; the rollout ends aborted');
}
