/**
 * `ringctl get [NAME] [--json]`: a table of rollouts (name, channel, version, phase, ring, waiting reason),
 * or one rollout. --json prints the API's document: `{"rollouts":[RolloutView...]}` or `{"rollout":RolloutView}`.
 * Role viewer.
 */
import type { Command } from 'commander';
import type { RolloutView } from '../../runtime/service';
import { Client, enc, out, remoteOptions, runVerb, type RemoteOptions } from '../client';
import { renderList } from '../render';

export function registerGet(program: Command): void {
  remoteOptions(program.command('get').description('list rollouts (or one): name, channel, version, phase, ring, waiting reason').argument('[name]', 'rollout name'))
    .option('--json', 'print JSON')
    .option('-A, --archived', 'also list rollouts deleted with ringctl delete (archived)')
    .action((name: string | undefined, opts: RemoteOptions & { json?: boolean; archived?: boolean }) =>
      runVerb(async () => {
        const client = new Client('get', opts);
        if (name === undefined) {
          const { rollouts } = await client.get<{ rollouts: RolloutView[] }>(opts.archived ? '/v1/rollouts?archived=true' : '/v1/rollouts');
          out(opts.json ? JSON.stringify({ rollouts }) : renderList(rollouts));
        } else {
          const { rollout } = await client.get<{ rollout: RolloutView }>(`/v1/rollouts/${enc(name)}`);
          out(opts.json ? JSON.stringify({ rollout }) : renderList([rollout]));
        }
      }),
    );
}
