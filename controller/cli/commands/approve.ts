/** `ringctl approve NAME [--reason R]`: lets a ring that needs approval start (role approver; refused while the kill switch is engaged). */
import type { Command } from 'commander';
import { registerRolloutAction } from '../rollout-action';

export function registerApprove(program: Command): void {
  registerRolloutAction(program, 'approve', 'let a ring that needs approval start');
}
