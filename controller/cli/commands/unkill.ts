/**
 * `ringctl unkill --reason R [--json]`: releases the global kill switch (POST /v1/killswitch with
 * engaged false). Rollouts it halted stay halted until someone resumes or rolls them back. Role sre.
 */
import type { Command } from 'commander';
import type { KillSwitchState } from '../../engine/state';
import { Client, out, remoteOptions, runVerb, type RemoteOptions } from '../client';

export function registerUnkill(program: Command): void {
  remoteOptions(program.command('unkill').description('release the global kill switch'))
    .requiredOption('--reason <text>', 'why (required; goes to the audit log)')
    .option('--json', 'print the new kill switch state as JSON')
    .action((opts: RemoteOptions & { reason: string; json?: boolean }) =>
      runVerb(async () => {
        const ks = await new Client('unkill', opts).post<KillSwitchState>('/v1/killswitch', { engaged: false, reason: opts.reason });
        out(opts.json ? JSON.stringify(ks) : `kill switch released by ${ks.actor}: ${ks.reason}`);
      }),
    );
}
