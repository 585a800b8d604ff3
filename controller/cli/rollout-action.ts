/**
 * The verbs that ask the controller to act on one rollout: pause, resume, approve, abort, rollback, promote, retry.
 * Each has its own file under commands/ and registers itself through this helper, so they all take the same
 * arguments (NAME, --reason, --json, --server, --token) and print the same one-line result.
 */
import type { Command } from 'commander';
import type { RolloutView } from '../runtime/service';
import { Client, enc, out, remoteOptions, runVerb, type RemoteOptions } from './client';
import { phaseLabel } from './render';

export type RolloutVerb = 'pause' | 'resume' | 'approve' | 'abort' | 'rollback' | 'promote' | 'retry';

export interface ActionResponse {
  outcome: string;
  message: string;
  rollout: RolloutView;
}

/** `rollout/NAME pause: progressing -> paused; phase now paused (was progressing)`. */
export function renderActionResult(verb: RolloutVerb, name: string, res: ActionResponse): string {
  return `rollout/${name} ${verb}: ${res.message}; phase now ${phaseLabel(res.rollout.phase)}`;
}

/** A verb's own boolean flags (promote --full), sent as body fields of the same name. */
export interface VerbFlag {
  flags: string;
  field: string;
  description: string;
}

export function registerRolloutAction(program: Command, verb: RolloutVerb, description: string, flags: readonly VerbFlag[] = []): void {
  const cmd = remoteOptions(program.command(verb).description(description).argument('<name>', 'rollout name'))
    .option('--reason <text>', `why (goes to the audit log; default "${verb} via API")`)
    .option('--json', 'print the server response as JSON');
  for (const f of flags) cmd.option(f.flags, f.description);
  cmd.action((name: string, opts: RemoteOptions & { reason?: string; json?: boolean } & Record<string, unknown>) =>
    runVerb(async () => {
      const client = new Client(verb, opts);
      const body: Record<string, unknown> = opts.reason === undefined ? {} : { reason: opts.reason };
      for (const f of flags) if (opts[f.field] === true) body[f.field] = true;
      const res = await client.post<ActionResponse>(`/v1/rollouts/${enc(name)}/${verb}`, body);
      out(opts.json ? JSON.stringify(res) : renderActionResult(verb, name, res));
    }),
  );
}
