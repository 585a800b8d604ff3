/**
 * `ringctl delete NAME [--reason R] [--json]`: archives a finished rollout (DELETE /v1/rollouts/NAME, role deployer).
 * Only succeeded, rolled-back, aborted or preflight-failed rollouts: anything else is a 409 that says what to do.
 * It leaves `ringctl get` (see it with `get --archived`); its record, transitions and audit entries stay, and its
 * name is never reused (apply a new metadata.name).
 *
 * `ringctl delete policy/NAME`: removes a Policy applied through the API (DELETE /v1/policies/NAME, role admin); the
 * file of that name in --policies, if any, is in force again. Both audited.
 */
import type { Command } from 'commander';
import type { PolicyView } from '../../runtime/policies';
import type { RolloutView } from '../../runtime/service';
import { CliError, Client, enc, out, remoteOptions, runVerb, type RemoteOptions } from '../client';
import { phaseLabel } from '../render';

export function registerDelete(program: Command): void {
  remoteOptions(
    program
      .command('delete')
      .description('archive a finished rollout (it leaves `get`; its record and audit stay), or delete policy/NAME applied through the API')
      .argument('<name>', 'rollout name (or rollout/NAME), or policy/NAME'),
  )
    .option('--reason <text>', 'why (goes to the audit log)')
    .option('--json', 'print the server response as JSON')
    .action((target: string, opts: RemoteOptions & { reason?: string; json?: boolean }) =>
      runVerb(async () => {
        const m = /^(?:(rollouts?|policy|policies)\/)?(.+)$/.exec(target);
        const kind = m?.[1]?.startsWith('pol') ? 'policy' : 'rollout';
        const name = m?.[2] ?? '';
        if (name === '' || name.includes('/')) throw new CliError(`ringctl delete: ${JSON.stringify(target)} is not NAME, rollout/NAME or policy/NAME`, 2);
        const client = new Client('delete', opts);
        const body = opts.reason === undefined ? undefined : { reason: opts.reason };
        if (kind === 'policy') {
          const res = await client.delete<{ outcome: 'deleted'; policies: PolicyView[] }>(`/v1/policies/${enc(name)}`, body);
          const now = res.policies.find((p) => p.name === name);
          out(opts.json ? JSON.stringify(res) : `policy/${name} deleted (the API copy is gone; ${now ? `the file ${now.file ?? ''} is in force` : 'no policy of that name is in force now'})`);
          return;
        }
        const res = await client.delete<{ outcome: 'archived'; rollout: RolloutView }>(`/v1/rollouts/${enc(name)}`, body);
        out(opts.json ? JSON.stringify(res) : `rollout/${name} deleted (archived, phase ${phaseLabel(res.rollout.phase)}; see it with ringctl get --archived)`);
      }),
    );
}
