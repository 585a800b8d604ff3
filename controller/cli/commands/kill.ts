/**
 * `ringctl kill --reason R [--mode freeze|rollback] [--json]`: engages the global kill switch
 * (POST /v1/killswitch). freeze holds every rollout where it is; rollback also rolls back every in-flight
 * rollout. It shows in every channel's signed manifest from the next revision. Role sre.
 */
import type { Command } from 'commander';
import type { KillSwitchState } from '../../engine/state';
import { CliError, Client, out, remoteOptions, runVerb, type RemoteOptions } from '../client';

export function registerKill(program: Command): void {
  remoteOptions(program.command('kill').description('engage the global kill switch: no rollout starts or advances'))
    .requiredOption('--reason <text>', 'why (required; goes to the audit log)')
    .option('--mode <mode>', 'freeze (hold everything) or rollback (also roll back every in-flight rollout)', 'freeze')
    .option('--json', 'print the new kill switch state as JSON')
    .action((opts: RemoteOptions & { reason: string; mode: string; json?: boolean }) =>
      runVerb(async () => {
        if (opts.mode !== 'freeze' && opts.mode !== 'rollback') throw new CliError(`ringctl kill: --mode must be freeze or rollback (got ${JSON.stringify(opts.mode)})`, 2);
        const ks = await new Client('kill', opts).post<KillSwitchState>('/v1/killswitch', { engaged: true, mode: opts.mode, reason: opts.reason });
        out(opts.json ? JSON.stringify(ks) : `kill switch ENGAGED (mode ${ks.mode}) by ${ks.actor} at ${ks.since ?? '?'}: ${ks.reason}`);
      }),
    );
}
