/** `ringctl resume NAME [--reason R]`: continues a paused rollout or restarts the bake of a halted ring (role deployer or sre; refused while the kill switch is engaged). */
import type { Command } from 'commander';
import { registerRolloutAction } from '../rollout-action';

export function registerResume(program: Command): void {
  registerRolloutAction(program, 'resume', 'continue a paused rollout, or restart the bake of a halted ring');
}
