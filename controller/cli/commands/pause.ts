/** `ringctl pause NAME [--reason R]`: holds the rollout where it is, exposure unchanged (role deployer or sre). */
import type { Command } from 'commander';
import { registerRolloutAction } from '../rollout-action';

export function registerPause(program: Command): void {
  registerRolloutAction(program, 'pause', 'hold the rollout where it is (exposure unchanged)');
}
