/**
 * `ringctl delete NAME` (archive): which rollouts may leave the lists. Pure: a phase in, a decision out.
 *
 * Only a terminal rollout may be archived. One that is still pending, baking, paused or rolling back holds (or may
 * take) its channel's slot and a place in the manifest; archiving it would hide work that is still going on.
 */
import { TERMINAL_PHASES, type Phase } from './state';

export type ArchiveDecision = { ok: true } | { ok: false; message: string };

export function archiveDecision(phase: Phase, archivedAt: string | undefined): ArchiveDecision {
  if (archivedAt !== undefined) return { ok: false, message: `it was deleted (archived) already, at ${archivedAt}` };
  if (TERMINAL_PHASES.has(phase.kind)) return { ok: true };
  const next =
    phase.kind === 'halted' || phase.kind === 'paused' || phase.kind === 'awaiting-approval' || phase.kind === 'progressing' || phase.kind === 'waiting-for-window'
      ? 'abort or roll it back first (ringctl abort NAME), then delete it'
      : phase.kind === 'rolling-back'
        ? 'wait for the rollback to finish (rolled-back), then delete it'
        : 'abort it first (ringctl abort NAME), then delete it';
  return { ok: false, message: `it is ${phase.kind}, not finished: only succeeded, rolled-back, aborted or preflight-failed rollouts can be deleted; ${next}` };
}
