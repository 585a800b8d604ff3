/**
 * The exit codes of ringctl, ringmaster and agent-sim: one table, documented in docs/cli.md#exit-codes.
 *
 * 0, 1 and 2 mean the same for the three programs (done; failed; bad usage or unreadable input). 3 to 7 are
 * `ringctl status`'s, so that CI can gate on a rollout the way it gates on `kubectl argo rollouts status`.
 */
import type { PhaseKind } from '../engine/state';

export const EXIT = {
  /** Done. `ringctl status`: the rollout succeeded (or, without --watch, is still on its way). */
  ok: 0,
  /** The controller refused or failed, it is unreachable, a document is invalid, a check failed; a crash. */
  failed: 1,
  /** Bad usage: unknown verb or flag, bad flag value, a file that cannot be read. */
  usage: 2,
  rolledBack: 3,
  aborted: 4,
  /** Halted: exposure frozen, a human decides (ringctl resume or ringctl rollback). */
  halted: 5,
  /** `status --watch --timeout D`: D passed before the rollout finished. */
  timedOut: 6,
  preflightFailed: 7,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * `ringctl status`'s exit code for a phase, and whether `status --watch` stops there. The watch waits through
 * every phase a rollout leaves on its own or after an approval (like `kubectl argo rollouts status`, which waits
 * through a paused rollout), and stops where only the end or a human's repair verb follows: the terminal phases
 * and halted. A rollback in progress has a known end: without --watch it exits with that end's code.
 */
export function statusExit(phase: { kind: PhaseKind; end?: 'rolled-back' | 'aborted' }): { code: ExitCode; final: boolean } {
  switch (phase.kind) {
    case 'succeeded':
      return { code: EXIT.ok, final: true };
    case 'rolled-back':
      return { code: EXIT.rolledBack, final: true };
    case 'aborted':
      return { code: EXIT.aborted, final: true };
    case 'preflight-failed':
      return { code: EXIT.preflightFailed, final: true };
    case 'halted':
      return { code: EXIT.halted, final: true };
    case 'rolling-back':
      return { code: phase.end === 'aborted' ? EXIT.aborted : EXIT.rolledBack, final: false };
    case 'pending':
    case 'blocked':
    case 'held':
    case 'preflight':
    case 'waiting-for-window':
    case 'progressing':
    case 'awaiting-approval':
    case 'paused':
      return { code: EXIT.ok, final: false };
    default: {
      const never: never = phase.kind;
      return never;
    }
  }
}
