/**
 * `ringctl retry NAME [--reason R]`: restarts a halted rollout's failed ring with fresh evidence, or brings an aborted
 * rollout (or one rolled back by the kill switch or a human) back to pending, to start again from its first ring when
 * its channel allows it. A version that failed its analysis is never retried (docs/cli.md).
 */
import type { Command } from 'commander';
import { registerRolloutAction } from '../rollout-action';

export function registerRetry(program: Command): void {
  registerRolloutAction(program, 'retry', 'restart a halted rollout from its failed ring, or an aborted one from its first ring');
}
