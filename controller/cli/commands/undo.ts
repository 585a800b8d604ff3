/**
 * `ringctl undo CHANNEL --to VERSION [--reason R] [--json]`: rolls the channel back to an earlier stable version, as a
 * rollout: the server builds it from VERSION's recorded artifact and the rings of the current stable version's rollout
 * (POST /v1/channels/CHANNEL/undo, role deployer). It goes through the rings like any rollout.
 */
import type { Command } from 'commander';
import type { RolloutView } from '../../runtime/service';
import { Client, enc, out, remoteOptions, runVerb, type RemoteOptions } from '../client';
import { phaseLabel } from '../render';

export interface UndoResponse {
  status: 'created';
  rollout: RolloutView;
  undo: { channel: string; from: string; to: string; artifactFrom: string; ringsFrom: string };
}

export function renderUndoResult(res: UndoResponse): string {
  const u = res.undo;
  return `rollout/${res.rollout.name} created: channel ${u.channel} goes back from ${u.from} to ${u.to} (artifact as recorded by ${u.artifactFrom}, rings of ${u.ringsFrom}); phase ${phaseLabel(res.rollout.phase)}`;
}

export function registerUndo(program: Command): void {
  remoteOptions(program.command('undo').description('roll a channel back to an earlier stable version, as a new rollout').argument('<channel>', 'channel name'))
    .requiredOption('--to <version>', 'the earlier stable version to go back to')
    .option('--reason <text>', 'why (goes to the audit log)')
    .option('--json', 'print the server response as JSON')
    .action((channel: string, opts: RemoteOptions & { to: string; reason?: string; json?: boolean }) =>
      runVerb(async () => {
        const client = new Client('undo', opts);
        const res = await client.post<UndoResponse>(`/v1/channels/${enc(channel)}/undo`, opts.reason === undefined ? { to: opts.to } : { to: opts.to, reason: opts.reason });
        out(opts.json ? JSON.stringify(res) : renderUndoResult(res));
      }),
    );
}
