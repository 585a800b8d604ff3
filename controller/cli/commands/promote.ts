/**
 * `ringctl promote NAME [--full] [--reason R]`: ends the current ring's bake early on a passing verdict (role approver),
 * or approves a ring that awaits approval; `--full` goes to the last ring. Never past a failing, inconclusive or missing
 * verdict, never during a ring's ramp, never through a closed policy window or the kill switch (docs/cli.md).
 */
import type { Command } from 'commander';
import { registerRolloutAction } from '../rollout-action';

export function registerPromote(program: Command): void {
  registerRolloutAction(program, 'promote', "end the current ring's bake early (needs a passing verdict); --full: go to the last ring", [
    { flags: '--full', field: 'full', description: 'go to the last ring (skips the rings between, approving their gates; same guards)' },
  ]);
}
