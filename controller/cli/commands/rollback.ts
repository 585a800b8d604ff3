/** `ringctl rollback NAME [--reason R]`: withdraws the candidate; the rollout ends `rolled-back` (role deployer or sre). */
import type { Command } from 'commander';
import { registerRolloutAction } from '../rollout-action';

export function registerRollback(program: Command): void {
  registerRolloutAction(program, 'rollback', 'withdraw the candidate; the rollout ends rolled-back');
}
