/**
 * The verbs that ask the controller to act on one rollout: pause, resume, approve, abort, rollback.
 * Each has its own file under commands/ and registers itself through this helper, so they all take the same
 * arguments (NAME, --reason, --json, --server, --token) and print the same one-line result.
 */
import type { Command } from 'commander';
import type { RolloutView } from '../runtime/service';
import { Client, enc, out, remoteOptions, runVerb, type RemoteOptions } from './client';
import { phaseLabel } from './render';

export type RolloutVerb = 'pause' | 'resume' | 'approve' | 'abort' | 'rollback';

export interface ActionResponse {
  outcome: string;
  message: string;
  rollout: RolloutView;
}

/** `rollout/NAME pause: progressing -> paused; phase now paused (was progressing)`. */
export function renderActionResult(verb: RolloutVerb, name: string, res: ActionResponse): string {
  return `rollout/${name} ${verb}: ${res.message}; phase now ${phaseLabel(res.rollout.phase)}`;
}

export function registerRolloutAction(program: Command, verb: RolloutVerb, description: string): void {
  remoteOptions(program.command(verb).description(description).argument('<name>', 'rollout name'))
    .option('--reason <text>', `why (goes to the audit log; default "${verb} via API")`)
    .option('--json', 'print the server response as JSON')
    .action((name: string, opts: RemoteOptions & { reason?: string; json?: boolean }) =>
      runVerb(async () => {
        const client = new Client(verb, opts);
        const res = await client.post<ActionResponse>(`/v1/rollouts/${enc(name)}/${verb}`, opts.reason === undefined ? {} : { reason: opts.reason });
        out(opts.json ? JSON.stringify(res) : renderActionResult(verb, name, res));
      }),
    );
}
