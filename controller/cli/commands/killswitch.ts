/**
 * `ringctl killswitch [--json]`: shows the global kill switch (GET /v1/killswitch): engaged or not, its mode, who
 * changed it last, since when and why. Exit 0 whatever the state (it is a read; `ringctl kill` and `unkill` change
 * it). Role viewer.
 */
import type { Command } from 'commander';
import type { KillSwitchState } from '../../engine/state';
import { Client, out, remoteOptions, runVerb, type RemoteOptions } from '../client';

export function renderKillSwitch(ks: KillSwitchState): string {
  if (ks.engaged) {
    const what = ks.mode === 'rollback' ? 'every in-flight rollout rolls back, none starts' : 'every rollout holds where it is, none starts or advances';
    return `kill switch ENGAGED (mode ${ks.mode}: ${what})\n  by     ${ks.actor}\n  since  ${ks.since ?? '?'}\n  reason ${ks.reason}\nrelease: ringctl unkill --reason "..." (role sre)`;
  }
  if (ks.actor === '') return 'kill switch not engaged (it never was on this controller)';
  return `kill switch not engaged (released by ${ks.actor}: ${ks.reason})`;
}

export function registerKillswitch(program: Command): void {
  remoteOptions(program.command('killswitch').description('show the global kill switch: engaged, mode, who, since when, why'))
    .option('--json', 'print the kill switch state as JSON')
    .action((opts: RemoteOptions & { json?: boolean }) =>
      runVerb(async () => {
        const ks = await new Client('killswitch', opts).get<KillSwitchState>('/v1/killswitch');
        out(opts.json ? JSON.stringify(ks) : renderKillSwitch(ks));
      }),
    );
}
